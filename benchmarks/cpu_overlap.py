"""CPU overlap: end-to-end extraction from JPEG files against the network alone, in one process.

    python benchmarks/cpu_overlap.py [--images 256] [--rounds 3]

ResNet-50 (random weights: speed does not depend on them) at 224 px, the CPU Runner's default
(OpenVINO bf16 where the CPU has bf16 units), batch 32, 500x375 JPEG files (quality 90, as
extract_speed.py makes them). Each round measures, one after another: the network alone on a
preprocessed batch (the ceiling), then `extract_features(cache=False)` from the files with each
decoding configuration. By default (DEFAULT): Pillow in 2 or 1 threads of this process, between the
network's batches (`CPU_DECODING = 'threads'`, the default since 2026-11-28), each thread kept to a
core of its own (`PIN_DECODING_THREADS`) or, for 2, not; in 2 niced DataLoader
worker processes that take turns with the network (`CPU_DECODING = 'processes'`,
`DECODE_BETWEEN_BATCHES`); and in 2 worker processes that decode beside it, as before 2026-11-28.
--configs names others, kept to rerun earlier tables: processes beside the network, 1 or 2, niced
(`WORKER_NICENESS`) or not; decoding in the main process, in `prefetched`'s background thread; the
float32 resize, rounded, of 2026-11-27; normalised float32 batches, as before the runner
normalised uint8 ones itself. With --steady, each configuration also runs on the first half of the
files, and the second half's rate (the difference of the two times) is reported as '..., steady'.
Reported: images/s per configuration and its ratio to the network-alone rate of the same round
(issue 14's target: >= 0.85). Writes benchmarks/results/cpu_overlap.json (--out: another name).
"""
import argparse, json, os, subprocess, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, torch
warnings.simplefilter('ignore')
sys.path.insert(0, str(Path(__file__).resolve().parent))
from extract_speed import make_jpegs
import imgsim.model, imgsim.extraction as extraction_module
from imgsim.model import load_backbone, Runner
from imgsim.extraction import extract_features
NICENESS = extraction_module.WORKER_NICENESS

BESIDE = dict(decoding='processes', between=False)  # DataLoader workers as before 2026-11-28
CONFIGS = {'Pillow, 2 threads (the default)': dict(num_workers=2), 'Pillow, 1 thread': dict(num_workers=1),
           'Pillow, 2 threads, not pinned': dict(num_workers=2, pinned=False),
           'Pillow, 2 processes taking turns': dict(num_workers=2, decoding='processes'),
           'Pillow, 2 processes beside the network (before 2026-11-28)': dict(num_workers=2, **BESIDE),
           'Pillow, 2 processes beside, not niced': dict(num_workers=2, niceness=0, **BESIDE),
           'Pillow, 1 process beside': dict(num_workers=1, **BESIDE),
           'Pillow, 1 process beside, not niced': dict(num_workers=1, niceness=0, **BESIDE),
           'device (main process), 1 reader': dict(decoder='device', num_workers=1, **BESIDE),
           'Pillow, 2 processes beside, float32 resize (2026-11-27)': dict(num_workers=2, resize='float32', **BESIDE),
           'Pillow, 2 processes beside, normalised float batches (before 2026-11-28 01:40)':
               dict(num_workers=2, batches='float32', **BESIDE)}
DEFAULT = list(CONFIGS)[:5]

def float32_resize_transform(spec, normalize:bool=True):
    "The evaluation transform as it was on 2026-11-27: resized in float32 (contiguous first), rounded."
    import torchvision.transforms.v2 as T
    finish = [T.ToDtype(torch.float32, scale=True), T.Normalize(spec.mean, spec.std)] if normalize else []
    resize = [T.Lambda(torch.Tensor.contiguous), T.ToDtype(torch.float32), T.Resize(spec.resize, antialias=True),
              T.Lambda(torch.round), T.ToDtype(torch.uint8)]
    return T.Compose([T.ToImage(), *resize, T.CenterCrop(spec.image_size), *finish])

def cpu_name():
    out = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
    return next((l.split(':', 1)[1].strip() for l in out.splitlines() if l.startswith('Model name')), '?')

def network_alone(runner, n):
    batch = torch.randn(32, 3, 224, 224)
    start = time.perf_counter()
    for _ in range(n // 32): runner(batch)
    return n // 32 * 32 / (time.perf_counter() - start)

def main():
    p = argparse.ArgumentParser(); p.add_argument('--images', type=int, default=256); p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--configs', default=';'.join(DEFAULT), help=f'names separated by ; (all: {list(CONFIGS)})')
    p.add_argument('--out', default='cpu_overlap.json', help='file name in benchmarks/results')
    p.add_argument('--steady', action='store_true', help="also time the first half of the files: the rate of the second "
                   "half alone (steady state, without starting the workers and filling the pipeline)"); a = p.parse_args()
    torch.set_num_threads(os.cpu_count())
    table = make_jpegs(Path(tempfile.mkdtemp())/'jpegs', a.images)
    runner = Runner(load_backbone('resnet50', weights='random'))
    extract_features(table[:32], runner, cache=False, progress=False); network_alone(runner, 64)  # warm-up
    chosen = a.configs.split(';')
    rounds = []
    for r in range(a.rounds):
        row = {'network alone': network_alone(runner, a.images)}
        for name in chosen:
            config = dict(CONFIGS[name]); extraction_module.WORKER_NICENESS = config.pop('niceness', NICENESS)
            extraction_module.DECODE_BETWEEN_BATCHES = config.pop('between', True)
            extraction_module.CPU_DECODING = config.pop('decoding', 'threads'); config.setdefault('decoder', 'pil')
            extraction_module.PIN_DECODING_THREADS = config.pop('pinned', True)
            exact = imgsim.model.BackboneSpec.transform
            if config.pop('resize', 'exact') == 'float32': imgsim.model.BackboneSpec.transform = float32_resize_transform
            if config.pop('batches', 'uint8') == 'float32':  # the workers normalise, as before
                imgsim.model.BackboneSpec.transform = lambda spec, normalize=True: exact(spec, normalize=True)
            try:
                start = time.perf_counter(); extract_features(table, runner, cache=False, progress=False, **config)
                whole = time.perf_counter() - start; row[name] = len(table) / whole
                if a.steady:
                    half = len(table) // 2
                    start = time.perf_counter(); extract_features(table[:half], runner, cache=False, progress=False, **config)
                    row[f'{name}, steady'] = (len(table) - half) / (whole - (time.perf_counter() - start))
            finally:
                imgsim.model.BackboneSpec.transform, extraction_module.DECODE_BETWEEN_BATCHES = exact, True
                extraction_module.CPU_DECODING, extraction_module.PIN_DECODING_THREADS = 'threads', True
        rounds.append(row); print({k: round(v, 1) for k, v in row.items()}, flush=True)
    ratios = {name: [round(row[name] / row['network alone'], 3) for row in rounds] for name in rounds[0] if name != 'network alone'}
    result = dict(command='python benchmarks/cpu_overlap.py ' + ' '.join(sys.argv[1:]), date=time.strftime('%Y-%m-%d %H:%M'),
                  cpu=cpu_name(), cores=os.cpu_count(), runner=repr(runner), images=len(table), image_size='500x375 JPEG, quality 90',
                  images_per_second=[{k: round(v, 1) for k, v in row.items()} for row in rounds],
                  ratio_to_network_alone=ratios, median_ratio={k: float(np.median(v)) for k, v in ratios.items()})
    print(json.dumps(result, indent=2))
    (Path(__file__).parent/'results'/a.out).write_text(json.dumps(result, indent=2))

if __name__ == '__main__': main()
