"""Where GPU extraction's time goes (issue 14), and what decoding on a CUDA stream of its own gains.

    python benchmarks/gpu_pipeline.py [--images 4096] [--rounds 2] [--out gpu_pipeline.json]

On the speed files of gpu_extract.py (500x375 JPEG files with added noise, 48 KB each), in one
process on one GPU, with ResNet-50 (random weights) at fp16, channels-last, batch 256:

- each stage alone: the DataLoader (8 workers reading the files' bytes and checking their headers,
  worker start included), decoding (`decode_jpegs` on batches already in memory), the evaluation
  transform (on decoded batches already on the GPU), the two together (`decode_batch`), and the
  network (on preprocessed batches already on the GPU);
- end to end (`extract_features(cache=False)`), alternately, for each JPEG library: decoding on a
  stream of its own (`DECODE_STREAM = True`, the default) and on the network's (before); the two
  must give the same features. Each also runs on the files three times over (3 x --images rows):
  the extra rows' rate (the difference of the two times) is the steady state, without the start of
  the workers, the filling of the pipeline and its draining, which a 4,096-file run pays once.

And how much of Python's lock each stage leaves to the other threads: while a stage runs in a
background thread, the main thread counts in a pure-Python loop; its count over the same count with
nothing beside it is the share of the lock the stage left free (1: it released it while it worked;
near 0: it held it). The stages run in one process, so a stage that holds the lock makes the others
wait for it. (Meaningful where the stage's work runs on the GPU or on cores the counter does not
need: on a 2-core CPU, the stage's own threads also take the counter's core.)

Then stages two at a time, each in a thread, with their data in memory (the network, `decode_batch`
on a stream of its own, the DataLoader): how far they overlap, 0 (one after the other) to 1 (fully).
Stages that serialise here with the CUDA graph below are held up by the GPU, not by Python's lock.

Last, an experiment: the network replayed from one CUDA graph for full batches (one launch instead
of a few hundred, so the main thread runs little Python), its features against the eager ones, and
its end-to-end and steady-state rates.

It also prints, for chapter 01's `#| gpu` cell, how far each GPU decoder's pixels are from Pillow's
on the small smooth picture that cell decodes.
"""
import argparse, json, os, sys, time, warnings
from io import BytesIO
from pathlib import Path
import numpy as np, pandas as pd, torch
from PIL import Image
from torch.utils.data import DataLoader
warnings.simplefilter('ignore')
sys.path.insert(0, str(Path(__file__).resolve().parent))
from extract_speed import make_jpegs
from gpu_extract import sync, rate, network_only, use, decode_only, in_batches
from imgsim import model
from imgsim.model import (load_backbone, extract_features, Runner, decode_jpegs, decode_batch,
                          EncodedImageDataset, device_decodable)

def loader_alone(table, transform, workers=8, batch=256):
    loader = DataLoader(EncodedImageDataset(table, transform, 256), batch_size=batch,
                        num_workers=workers, collate_fn=list)
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
    return out

def graphed(runner, batch=256):
    "An experiment: the runner's network on full batches replayed from one CUDA graph (little Python)."
    network, size, device = runner._compiled, runner.backbone.spec.image_size, runner.device
    static = torch.zeros(batch, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    def fp16(): return torch.autocast('cuda', dtype=torch.float16, cache_enabled=False)
    side = torch.cuda.Stream(device); side.wait_stream(torch.cuda.current_stream(device))
    with torch.inference_mode(), torch.cuda.stream(side), fp16():
        for _ in range(3): network(static)  # warm-up beside the main stream, as capture needs
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.inference_mode(), fp16(), torch.cuda.graph(graph): out = network(static)
    eager = runner._run_torch
    def run(images):
        if images.shape[0] != batch or images.dtype == torch.uint8: return eager(images)
        static.copy_(images); graph.replay(); return out.float().cpu().numpy()
    return run

def cuda_graph_experiment(runner, table, seconds, thrice, probe, rounds=2):
    "The network through a CUDA graph: its features, alone, end to end, steady state, `probe()`."
    images = torch.randn(256, 3, 224, 224, device=runner.device)
    eager_features = runner(images)
    runner._run_torch = graphed(runner)
    try:
        result = dict(max_feature_difference=float(np.abs(runner(images) - eager_features).max()),
                      network_alone=round(network_only(runner), 1), end_to_end=[], steady_state=[],
                      library=model.jpeg_library('cuda'))
        try: result['overlap_two_at_once'] = probe()
        except Exception as e: result['overlap_two_at_once'] = f"FAILED: {e!r}"
        for _ in range(rounds):
            once, three_times = seconds(table), seconds(thrice)
            result['end_to_end'].append(round(len(table) / once, 1))
            result['steady_state'].append(round((len(thrice) - len(table)) / (three_times - once), 1))
        return result
    finally: del runner._run_torch

def pixel_differences():
    "Chapter 01's gpu cell: each library's mean and largest |difference| from Pillow, per file."
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8))
    def jpeg(image, **kw):
        buffer = BytesIO(); image.save(buffer, 'JPEG', **kw); return buffer.getvalue()
    smooth = photo.resize((160, 120), Image.BICUBIC)
    files = [jpeg(smooth, quality=90), jpeg(smooth.convert('L'))]
    pil = [torch.from_numpy(np.asarray(Image.open(BytesIO(f)).convert('RGB'))).permute(2, 0, 1).int()
           for f in files]
    out = {}
    for library in ('torchvision', 'nvimgcodec'):
        if library == 'nvimgcodec' and not model._nvimgcodec(): continue
        images = decode_jpegs(files, 'cuda', library)
        out[library] = [(round((x.cpu().int() - y).abs().float().mean().item(), 3),
                         int((x.cpu().int() - y).abs().max())) for x, y in zip(images, pil)]
    return out

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--images', type=int, default=4096); p.add_argument('--rounds', type=int, default=2)
    p.add_argument('--out', default='gpu_pipeline.json')
    p.add_argument('--device', default='cuda', help="cpu: a quick check of the script itself")
    a = p.parse_args(); cuda = a.device == 'cuda'
    result = dict(command='python benchmarks/gpu_pipeline.py ' + ' '.join(sys.argv[1:]),
                  date=time.strftime('%Y-%m-%d %H:%M'), gpu=torch.cuda.get_device_name() if cuda else 'none',
                  cpu_cores=os.cpu_count(), torch=torch.__version__)
    def save():
        out = Path(__file__).parent/'results'; out.mkdir(exist_ok=True)
        (out/a.out).write_text(json.dumps(result, indent=2))
    if cuda: result['pixel_differences_from_pillow'] = pixel_differences(); print(result, flush=True); save()
    table = make_jpegs(Path(os.environ.get('TMPDIR', '/tmp'))/'imgsim-gpu-extract'/'jpegs', a.images)
    files = [Path(p).read_bytes() for p in table.path]
    runner = Runner(load_backbone('resnet50', weights=None), device=a.device)
    transform, device = runner.backbone.spec.transform(), runner.device
    libraries = ['torchvision'] + (['nvimgcodec'] if cuda and model._nvimgcodec() else [])
    stages = {'loader_8_workers': loader_alone(table, transform),
              'network': network_only(runner)}
    for library in libraries:
        use(library)
        stages[f'decode_{library}'] = decode_only(files, device)['images_per_second']
        stages[f'transform_{library}'] = transform_alone(files, transform, device)
        stages[f'decode_batch_{library}'] = decode_batch_alone(files, transform, device)
    result['stages_images_per_second'] = {k: round(v, 1) for k, v in stages.items()}
    print(result['stages_images_per_second'], flush=True); save()
    batch, images = files[:256], torch.randn(256, 3, 224, 224, device=device)
    lock = {'network': lock_left_free(lambda: (runner(images), sync())),
            'loader_8_workers': lock_left_free(lambda: loader_alone(table[:1024], transform))}
    for library in libraries:
        use(library)
        decoded = torch.stack(decode_jpegs(batch, device))
        lock[f'decode_{library}'] = lock_left_free(lambda: (decode_jpegs(batch, device), sync()))
        lock[f'transform_{library}'] = lock_left_free(lambda: (transform(decoded), sync()))
    result['lock_left_free'] = lock; print(lock, flush=True); save()
    def probe(): return overlaps(runner, table, files, transform, libraries)
    try: result['overlap_two_at_once'] = probe()
    except Exception as e: result['overlap_two_at_once'] = f"FAILED: {e!r}"
    print(result['overlap_two_at_once'], flush=True); save()
    variants = [(library, stream) for library in libraries for stream in (True, False)]
    rates, features = {f'{l}_{"own_stream" if s else "network_stream"}': [] for l, s in variants}, {}
    steady, thrice = {name: [] for name in rates}, pd.concat([table] * 3, ignore_index=True)
    def seconds(rows):
        start = time.perf_counter(); extract_features(rows, runner, cache=False, progress=False)
        return time.perf_counter() - start
    for library, stream in variants:  # warm-up, and the features to compare
        use(library); model.DECODE_STREAM = stream
        features[library, stream] = extract_features(table[:1024], runner, cache=False, progress=False)[0]
    for _ in range(a.rounds):
        for (library, stream), name in zip(variants, rates):
            use(library); model.DECODE_STREAM = stream
            once, three_times = seconds(table), seconds(thrice)
            rates[name].append(round(len(table) / once, 1))
            steady[name].append(round((len(thrice) - len(table)) / (three_times - once), 1))
        print(rates, steady, flush=True)
    model.DECODE_STREAM = True
    result['end_to_end_images_per_second'] = {k: max(v) for k, v in rates.items()}
    result['end_to_end_all_rounds'] = rates
    result['steady_state_images_per_second'] = {k: max(v) for k, v in steady.items()}
    result['steady_state_all_rounds'] = steady
    result['own_stream_over_network_stream'] = {
        l: round(max(rates[f'{l}_own_stream']) / max(rates[f'{l}_network_stream']), 3) for l in libraries}
    result['same_features_either_stream'] = {
        l: float(np.abs(features[l, True] - features[l, False]).max()) for l in libraries}
    if cuda:  # an experiment for the next step: less Python in the main thread
        try: result['cuda_graph_network'] = cuda_graph_experiment(runner, table, seconds, thrice, probe)
        except Exception as e: result['cuda_graph_network'] = f"FAILED: {e!r}"
    print(json.dumps(result, indent=2)); save()

if __name__ == '__main__': main()
