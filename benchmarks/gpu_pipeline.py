"""Where GPU extraction's time goes (issue 14), and what chapter 02's extraction settings gain.

    python benchmarks/gpu_pipeline.py [--images 4096] [--rounds 2] [--out gpu_pipeline.json]
        [--parts pixels,stages,lock,overlap,loader,timeline,end_to_end] [--settings NAME,...]

On the speed files of gpu_extract.py (500x375 JPEG files with added noise, 48 KB each), in one
process on one GPU, with ResNet-50 (random weights) at fp16, channels-last, batch 256:

- stages: each alone: the DataLoader (8 workers reading the files' bytes and checking their
  headers, worker start included), decoding (`decode_jpegs` on batches already in memory), the
  evaluation transform (on decoded batches already on the GPU) and the two together
  (`decode_batch`), each with the resize's taps gathered one by one (before) and as one matrix
  product (chapter 00), and the network (on preprocessed batches already on the GPU), eagerly and
  replayed from a CUDA graph (`CUDA_GRAPHS`);
- lock: how much of Python's lock each stage leaves to the other threads: while a stage runs in a
  background thread, the main thread counts in a pure-Python loop; its count over the same count
  with nothing beside it is the share of the lock the stage left free (1: it released it while it
  worked; near 0: it held it);
- overlap: stages two at a time (the last library), each in a thread, with their data in memory
  (the network, `decode_batch` on a stream of its own, decoding alone without the transform, the
  DataLoader): how far they overlap, 0 (one after the other) to 1 (fully); with the eager network,
  then with the graph's: stages that serialise with the graph as well are held up by the GPU, not
  by Python's lock;
- loader: the DataLoader alone (workers reading the files and checking their headers, worker start
  included), handing the bytes over one by one (pickled through a pipe) or each batch's files in one
  shared-memory buffer (chapter 02's `ONE_BUFFER_PER_BATCH`), with 8 and 12 workers, best of two;
- timeline: for each of `--settings`, two 4,096-file calls of `extract_features(cache=False)` with
  chapter 02's DataLoader, `decode_batch` and `Runner.__call__` wrapped to note when each began and
  ended (ms from the call's start): the workers' start, when the first and last batch had been
  received, decoded and through the network, each stage's busy time, and how long the network
  stood idle: what the whole call pays beyond the steady state;
- end_to_end: `extract_features(cache=False)` with the last library (nvImageCodec where it loads)
  and chapter 02's settings in turn (`SETTINGS`; `--settings` picks some, 'before' always runs),
  best of `--rounds`, with their features compared with before's. Each also runs on the files
  three times over (a 12,288-file call, its rate recorded too): the extra rows' rate (the difference
  of the two times) is the steady state,
  without the start of the workers, the filling of the pipeline and its draining, which a
  4,096-file run pays once;
- pixels: for chapter 02's `#| gpu` cell, how far each GPU decoder's pixels are from Pillow's on
  the small smooth picture that cell decodes.
"""
import argparse, contextlib, json, os, sys, time, warnings
from io import BytesIO
from pathlib import Path
import numpy as np, pandas as pd, torch
from PIL import Image
from torch.utils.data import DataLoader
warnings.simplefilter('ignore')
sys.path.insert(0, str(Path(__file__).resolve().parent))
from extract_speed import make_jpegs
from gpu_extract import sync, rate, network_only, use, decode_only, in_batches
from imgsim import data, model, extraction
from imgsim.model import load_backbone, Runner
from imgsim.extraction import (extract_features, decode_jpegs, decode_batch, EncodedImageDataset,
    device_decodable)

def gathered_pass(levels, dim, n_out):
    "The fixed-point pass as it was before 2026-11-28: each tap gathered and added in turn."
    n_in = levels.shape[dim]
    if n_in == n_out: return levels
    first, weights, precision = data._fixed_point_weights(n_in, n_out)
    dtype, device = torch.float32 if precision <= 15 else torch.float64, levels.device
    rows = levels.to(dtype).movedim(dim, -1)
    taps = torch.as_tensor(first[:, None] + np.arange(weights.shape[1]), device=device)
    taps, weights = taps.clamp(max=n_in - 1), torch.as_tensor(weights, dtype=dtype, device=device)
    half = 2.0 ** (precision - 1)
    total = torch.full((*rows.shape[:-1], n_out), half, dtype=dtype, device=device)
    for k in range(weights.shape[1]): total += rows[..., taps[:, k]] * weights[:, k]
    return torch.floor(total / 2 ** precision).clamp(0, 255).movedim(-1, dim)

BEFORE = dict(CUDA_GRAPHS=False, RECEIVE_IN_THREAD=False, DECODE_PRIORITY=0,
              ONE_BUFFER_PER_BATCH=False, DECODE_THREADS=1, workers=8, resize='gather')
RECEIVE_MATRIX = BEFORE | dict(RECEIVE_IN_THREAD=True, resize='matrix')  # the defaults till run 7
# end-to-end variants: chapter 02's settings, the resize's pass, and workers (None: the default)
SETTINGS = {
    'before': BEFORE,
    'defaults': {},  # chapter 02's, as they are
    'cuda_graphs': BEFORE | dict(CUDA_GRAPHS=True),
    'receive_thread': BEFORE | dict(RECEIVE_IN_THREAD=True),
    'graphs_and_receive_thread': BEFORE | dict(CUDA_GRAPHS=True, RECEIVE_IN_THREAD=True),
    'graphs_receive_12_workers': BEFORE | dict(CUDA_GRAPHS=True, RECEIVE_IN_THREAD=True, workers=12),
    'receive_priority': BEFORE | dict(RECEIVE_IN_THREAD=True, DECODE_PRIORITY=-1),
    'receive_matrix': BEFORE | dict(RECEIVE_IN_THREAD=True, resize='matrix'),
    'receive_matrix_priority': BEFORE | dict(RECEIVE_IN_THREAD=True, resize='matrix',
                                             DECODE_PRIORITY=-1),
    'receive_matrix_priority_graphs': BEFORE | dict(RECEIVE_IN_THREAD=True, resize='matrix',
                                                    DECODE_PRIORITY=-1, CUDA_GRAPHS=True),
    'one_buffer': RECEIVE_MATRIX | dict(ONE_BUFFER_PER_BATCH=True),
    'two_threads': RECEIVE_MATRIX | dict(DECODE_THREADS=2),
    'one_buffer_two_threads': RECEIVE_MATRIX | dict(ONE_BUFFER_PER_BATCH=True, DECODE_THREADS=2),
    'one_buffer_three_threads': RECEIVE_MATRIX | dict(ONE_BUFFER_PER_BATCH=True, DECODE_THREADS=3),
    'one_buffer_two_threads_priority': RECEIVE_MATRIX | dict(ONE_BUFFER_PER_BATCH=True,
                                                             DECODE_THREADS=2, DECODE_PRIORITY=-1),
    'one_buffer_4_workers': RECEIVE_MATRIX | dict(ONE_BUFFER_PER_BATCH=True, workers=4),
    'one_buffer_two_threads_4_workers': RECEIVE_MATRIX | dict(ONE_BUFFER_PER_BATCH=True,
                                                              DECODE_THREADS=2, workers=4),
    'one_buffer_two_threads_graphs': RECEIVE_MATRIX | dict(ONE_BUFFER_PER_BATCH=True,
                                                           DECODE_THREADS=2, CUDA_GRAPHS=True),
    'one_buffer_two_threads_2_workers': RECEIVE_MATRIX | dict(ONE_BUFFER_PER_BATCH=True,
                                                              DECODE_THREADS=2, workers=2),
    'one_buffer_two_threads_6_workers': RECEIVE_MATRIX | dict(ONE_BUFFER_PER_BATCH=True,
                                                              DECODE_THREADS=2, workers=6)}

@contextlib.contextmanager
def settings_of(settings:dict):
    "Chapters 01 and 02's settings as given inside the block (yields the workers), then as before."
    settings = dict(settings); workers = settings.pop('workers', None)
    resize, kept_pass = settings.pop('resize', 'matrix'), data._fixed_point_pass
    home = {k: model if hasattr(model, k) and not hasattr(extraction, k) else extraction
            for k in settings}  # chapter 01 (the runner) or 02 (extraction)
    before = {k: getattr(home[k], k) for k in settings}
    for k, v in settings.items(): setattr(home[k], k, v)
    if resize == 'gather': data._fixed_point_pass = gathered_pass
    try: yield workers
    finally:
        for k, v in before.items(): setattr(home[k], k, v)
        data._fixed_point_pass = kept_pass

def loader_alone(table, transform, workers=8, batch=256, one_buffer=False):
    loader = DataLoader(EncodedImageDataset(table, transform, 256), batch_size=batch,
                        num_workers=workers, collate_fn=extraction.packed_batch if one_buffer else list)
    return rate(lambda: [len(b) for b in loader], len(table))

def transform_alone(files, transform, device):
    decoded = [torch.stack(decode_jpegs(b, device)) for b in in_batches(files)[:4]]
    def go():
        for _ in range(4):
            for images in decoded: transform(images)
    go(); return rate(go, 4 * sum(len(d) for d in decoded))

def decode_batch_alone(files, transform, device):
    items = [[(f, i, '', device_decodable(f)) for i, f in enumerate(b)] for b in in_batches(files)]
    def go():
        for b in items: decode_batch(b, transform, device)
    go(); return rate(go, len(files))

def lock_left_free(work, seconds=1.0):
    "Share of Python's lock that `work()`, repeated in a background thread for `seconds`, leaves free."
    import threading
    def count(stop):
        n = 0
        while not stop.is_set(): n += 1
        return n
    def timed_count(duration):
        stop = threading.Event(); threading.Timer(duration, stop.set).start(); return count(stop)
    alone = timed_count(seconds)
    done = threading.Event()
    def background():
        while not done.is_set(): work()
        sync()
    thread = threading.Thread(target=background); thread.start()
    beside = timed_count(seconds); done.set(); thread.join()
    return round(beside / alone, 3)

def overlap(first, second):
    "How far two works overlap run at once, each in a thread: 0, one after the other; 1, fully."
    import threading
    def seconds(*works):
        threads = [threading.Thread(target=work) for work in works]
        start = time.perf_counter()
        for thread in threads: thread.start()
        for thread in threads: thread.join()
        sync(); return time.perf_counter() - start
    seconds(first, second)  # warm-up
    a, b, both = seconds(first), seconds(second), seconds(first, second)
    return dict(alone=[round(a, 3), round(b, 3)], together=round(both, 3),
                overlap=round((a + b - both) / min(a, b), 3))

def on_stream_of_its_own(work, device):
    "`work` on a CUDA stream of its own, as extraction decodes (None on the CPU: as it is)."
    if device.type != 'cuda': return work
    side = torch.cuda.Stream(device)
    def run():
        with torch.cuda.stream(side): work()
        side.synchronize()
    return run

def overlaps(runner, table, files, transform, libraries):
    "Stages run two at once, data in memory: what serialises them (Python's lock, or the GPU)."
    device, images = runner.device, torch.randn(256, 3, 224, 224, device=runner.device)
    items = [[(f, i, '', device_decodable(f)) for i, f in enumerate(b)] for b in in_batches(files)]
    def network(): [runner(images) for _ in range(len(files) // 256)]
    def loader(): loader_alone(table, transform)
    out = {'loader_and_network': overlap(loader, network)}
    for library in libraries:
        use(library)
        def decoding(): [decode_batch(b, transform, device) for b in items]
        decoding = on_stream_of_its_own(decoding, device)
        out[f'decode_batch_{library}_and_network'] = overlap(decoding, network)
        out[f'loader_and_decode_batch_{library}'] = overlap(loader, decoding)
        def decoding_alone(): [decode_jpegs(b, device) for b in in_batches(files)]  # no transform
        decoding_alone = on_stream_of_its_own(decoding_alone, device)
        out[f'decode_{library}_and_network'] = overlap(decoding_alone, network)
    return out

class _Timeline:
    "Times (ms from the call's start) of a call's stages, from chapter 02's functions wrapped."
    def __init__(self): self.events, self.start = [], None
    def now(self): return round((time.perf_counter() - self.start) * 1000, 1)
    def timed(self, name, f):
        def wrapped(*args, **kwargs):
            begin = self.now()
            try: return f(*args, **kwargs)
            finally: self.events.append((name, begin, self.now()))
        return wrapped
    @contextlib.contextmanager
    def patched(self):
        "Chapter 02's DataLoader (its workers' start, each batch received), decoding and network."
        timeline, kept = self, (extraction.DataLoader, extraction.decode_batch, Runner.__call__)
        class TimedLoader(DataLoader):
            def __iter__(self):
                begin = timeline.now(); it = super().__iter__()
                timeline.events.append(('workers_started', begin, timeline.now()))
                while True:
                    begin = timeline.now()
                    try: batch = next(it)
                    except StopIteration: return
                    timeline.events.append(('received', begin, timeline.now())); yield batch
        extraction.DataLoader = TimedLoader
        extraction.decode_batch = self.timed('decoded', extraction.decode_batch)
        Runner.__call__ = self.timed('network', Runner.__call__)
        try: yield
        finally: extraction.DataLoader, extraction.decode_batch, Runner.__call__ = kept

def timeline(runner, table, workers=None)->dict:
    "When each stage of one `extract_features(cache=False)` call began and ended (ms)."
    times = _Timeline()
    with times.patched():
        times.start = time.perf_counter()
        extract_features(table, runner, num_workers=workers, decoder='device', cache=False,
                         progress=False)  # device decoding, the default on a GPU
        returned = times.now()
    def of(name): return sorted((e, b) for n, b, e in times.events if n == name)  # by their end
    found = dict(returned=returned, workers_started=of('workers_started')[0][0])
    for name in ('received', 'decoded', 'network'):
        spans = of(name)
        found |= {f'first_{name}_done': spans[0][0], f'last_{name}_done': spans[-1][0],
                  f'{name}_busy_ms': round(sum(e - b for e, b in spans), 1),
                  f'{name}_calls': len(spans)}
    found['network_idle_ms'] = round(returned - found['network_busy_ms'], 1)
    return found

def pixel_differences():
    "Chapter 02's gpu cell: each library's mean and largest |difference| from Pillow, per file."
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8))
    def jpeg(image, **kw):
        buffer = BytesIO(); image.save(buffer, 'JPEG', **kw); return buffer.getvalue()
    smooth = photo.resize((160, 120), Image.BICUBIC)
    files = [jpeg(smooth, quality=90), jpeg(smooth.convert('L'))]
    pil = [torch.from_numpy(np.asarray(Image.open(BytesIO(f)).convert('RGB'))).permute(2, 0, 1).int()
           for f in files]
    out = {}
    for library in ('torchvision', 'nvimgcodec'):
        if library == 'nvimgcodec' and not extraction._nvimgcodec(): continue
        images = decode_jpegs(files, 'cuda', library)
        out[library] = [(round((x.cpu().int() - y).abs().float().mean().item(), 3),
                         int((x.cpu().int() - y).abs().max())) for x, y in zip(images, pil)]
    return out

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--images', type=int, default=4096); p.add_argument('--rounds', type=int, default=2)
    p.add_argument('--out', default='gpu_pipeline.json')
    p.add_argument('--device', default='cuda', help="cpu: a quick check of the script itself")
    p.add_argument('--parts', default='pixels,stages,lock,overlap,loader,timeline,end_to_end')
    p.add_argument('--settings', default=','.join(SETTINGS), help="end-to-end variants, by name")
    a = p.parse_args(); cuda, parts = a.device == 'cuda', a.parts.split(',')
    settings_tried = {name: SETTINGS[name] for name in ['before'] + a.settings.split(',')}
    result = dict(command='python benchmarks/gpu_pipeline.py ' + ' '.join(sys.argv[1:]),
                  date=time.strftime('%Y-%m-%d %H:%M'), gpu=torch.cuda.get_device_name() if cuda else 'none',
                  cpu_cores=os.cpu_count(), torch=torch.__version__)
    def save():
        out = Path(__file__).parent/'results'; out.mkdir(exist_ok=True)
        (out/a.out).write_text(json.dumps(result, indent=2))
    if cuda and 'pixels' in parts:
        result['pixel_differences_from_pillow'] = pixel_differences()
        print(result, flush=True); save()
    table = make_jpegs(Path(os.environ.get('TMPDIR', '/tmp'))/'imgsim-gpu-extract'/'jpegs', a.images)
    files = [Path(p).read_bytes() for p in table.path]
    runner = Runner(load_backbone('resnet50', weights=None), device=a.device)
    transform, device = runner.backbone.spec.transform(), runner.device
    libraries = ['torchvision'] + (['nvimgcodec'] if cuda and extraction._nvimgcodec() else [])
    if 'loader' in parts:  # the workers' hand-over alone: bytes one by one, or one buffer a batch
        result['loader_images_per_second'] = {f'{how}_{workers}_workers': max(
            loader_alone(table, transform, workers, one_buffer=how == 'one_buffer') for _ in range(2))
            for how in ('one_by_one', 'one_buffer') for workers in (8, 12)}
        print(result['loader_images_per_second'], flush=True); save()
    if 'stages' in parts:
        with settings_of(SETTINGS['before']): eager = network_only(runner)
        with settings_of(SETTINGS['cuda_graphs']): graph = network_only(runner)
        stages = {'loader_8_workers': loader_alone(table, transform), 'network_eager': eager,
                  'network_cuda_graph': graph}
        for library in libraries:
            use(library)
            stages[f'decode_{library}'] = decode_only(files, device)['images_per_second']
            for resize in ('gather', 'matrix'):
                with settings_of(BEFORE | dict(resize=resize)):
                    stages[f'transform_{resize}_{library}'] = transform_alone(
                        files, transform, device)
                    stages[f'decode_batch_{resize}_{library}'] = decode_batch_alone(
                        files, transform, device)
        result['stages_images_per_second'] = {k: round(v, 1) for k, v in stages.items()}
        print(result['stages_images_per_second'], flush=True); save()
    if 'lock' in parts:
        batch, images = files[:256], torch.randn(256, 3, 224, 224, device=device)
        with settings_of(SETTINGS['before']):
            eager = lock_left_free(lambda: (runner(images), sync()))
        with settings_of(SETTINGS['cuda_graphs']):
            graph = lock_left_free(lambda: (runner(images), sync()))
        lock = {'network_eager': eager, 'network_cuda_graph': graph,
                'loader_8_workers': lock_left_free(lambda: loader_alone(table[:1024], transform))}
        for library in libraries:
            use(library)
            decoded = torch.stack(decode_jpegs(batch, device))
            lock[f'decode_{library}'] = lock_left_free(lambda: (decode_jpegs(batch, device), sync()))
            lock[f'transform_{library}'] = lock_left_free(lambda: (transform(decoded), sync()))
        result['lock_left_free'] = lock; print(lock, flush=True); save()
    if 'overlap' in parts:
        result['overlap_two_at_once'] = {}
        for name in ('before', 'cuda_graphs'):  # the eager network, then the graph's
            with settings_of(SETTINGS[name]):
                try: found = overlaps(runner, table, files, transform, libraries[-1:])
                except Exception as e: found = f"FAILED: {e!r}"
            result['overlap_two_at_once'][name] = found; print(name, found, flush=True); save()
    if 'timeline' in parts:  # where a 4,096-file call's time goes, after a warm-up call
        use(libraries[-1]); result['timeline_ms'] = {}
        for name in a.settings.split(','):
            with settings_of(SETTINGS[name]) as workers:
                extract_features(table[:1024], runner, num_workers=workers, decoder='device',
                                 cache=False, progress=False)
                result['timeline_ms'][name] = [timeline(runner, table, workers) for _ in range(2)]
        print(json.dumps(result['timeline_ms'], indent=1), flush=True); save()
    if 'end_to_end' not in parts: return
    def seconds(rows, workers=None):
        start = time.perf_counter()
        extract_features(rows, runner, num_workers=workers, cache=False, progress=False)
        return time.perf_counter() - start
    library, thrice = libraries[-1], pd.concat([table] * 3, ignore_index=True)
    use(library); result['end_to_end_library'] = library
    rates, steady, features = {n: [] for n in settings_tried}, {n: [] for n in settings_tried}, {}
    thrice_rates = {n: [] for n in settings_tried}  # the whole call on 3 x the files
    for name, settings in settings_tried.items():  # warm-up, and the features to compare
        with settings_of(settings) as workers:
            features[name] = extract_features(table[:1024], runner, num_workers=workers,
                                              cache=False, progress=False)[0]
    for _ in range(a.rounds):
        for name, settings in settings_tried.items():
            with settings_of(settings) as workers:
                once, three_times = seconds(table, workers), seconds(thrice, workers)
            rates[name].append(round(len(table) / once, 1))
            thrice_rates[name].append(round(len(thrice) / three_times, 1))
            steady[name].append(round((len(thrice) - len(table)) / (three_times - once), 1))
        print(rates, steady, flush=True)
    result['end_to_end_images_per_second'] = {k: max(v) for k, v in rates.items()}
    result['end_to_end_all_rounds'] = rates
    result[f'end_to_end_{len(thrice)}_files_all_rounds'] = thrice_rates
    result['steady_state_images_per_second'] = {k: max(v) for k, v in steady.items()}
    result['steady_state_all_rounds'] = steady
    result['over_before'] = {k: round(max(v) / max(rates['before']), 3) for k, v in rates.items()}
    result['max_feature_difference_from_before'] = {
        k: float(np.abs(f - features['before']).max()) for k, f in features.items()}
    print(json.dumps(result, indent=2)); save()

if __name__ == '__main__': main()
