"""Descriptors (chapter 01's `Descriptor`): extraction speed per option on the CPU, and retrieval
quality on unseen instances; average pooling at one scale is the baseline of both.

    python benchmarks/descriptors.py [--images 128] [--rounds 3] [--seeds 0 1 2]
                                     [--skip-speed] [--skip-quality] [--out descriptors.json]

**Speed.**
EfficientNet-Lite0 (ImageNet weights), the default runner on this machine (OpenVINO fp32 where it
is installed), end to end from the bundled sample's files (decode, resize, crop, network, pooling),
batch 32, no cache. Every descriptor runs once to warm up (OpenVINO converts and compiles a network
for each input size), then each round runs them all, one after the other in a rotated order, in
this one process; the figure is each descriptor's median rate over the rounds and its ratio to the
baseline's median. The machine is shared: the JSON records the load average before and after.

**Quality.** Frozen EfficientNet-Lite0 on the unseen-instance benchmark that
`benchmarks/instances.py` writes (chapter 16: 152 instances of Debian wallpaper photos, 10 hard
views each): per seed, `view_protocol` holds half the instances out (the train half is unused: no
head is trained), and within each held-out instance 3 views are queries, never in the gallery (the
other 7). Each descriptor's features (`extract_features`, cached) are L2-normalised and ranked by
cosine; Top-1 and MAP@R from chapter 05's `retrieval_metrics`, per seed and their mean.

A part that is skipped keeps its previous figures in the JSON; each part records its own command,
date and machine.
"""
import argparse, dataclasses, json, os, platform, subprocess, sys, time, warnings
from pathlib import Path
import numpy as np, torch
warnings.simplefilter('ignore')
from imgsim.data import sample_collection, load_manifest
from imgsim.views import view_protocol
from imgsim.model import load_backbone, Runner, Descriptor, MULTI_SCALE
from imgsim.extraction import extract_features
from imgsim.evaluation import retrieval_metrics

DESCRIPTORS = {  # name: descriptor; the first is the baseline
    'average, one scale (baseline)': Descriptor(),
    'GeM p=3, one scale': Descriptor('gem'),
    'average, multi-scale': Descriptor(scales=MULTI_SCALE),
    'GeM p=3, multi-scale': Descriptor('gem', scales=MULTI_SCALE),
    'GeM p=3, flip': Descriptor('gem', flip=True),
    'average, multi-scale + flip': Descriptor(scales=MULTI_SCALE, flip=True),
    'GeM p=3, multi-scale + flip': Descriptor('gem', scales=MULTI_SCALE, flip=True),
}
QUALITY = ['average, one scale (baseline)', 'GeM p=3, one scale', 'average, multi-scale',
           'GeM p=3, multi-scale', 'average, multi-scale + flip', 'GeM p=3, multi-scale + flip']
VIEWS = Path('~/.cache/imgsim/wallpapers/views-v1/collection.csv').expanduser()

def cpu_name()->str:
    out = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
    return next((l.split(':', 1)[1].strip() for l in out.splitlines() if l.startswith('Model name')), '')

def rate(table, runner, descriptor)->float:
    start = time.perf_counter()
    extract_features(table, runner, descriptor=descriptor, cache=False, progress=False)
    return len(table) / (time.perf_counter() - start)

def machine(args)->dict:
    return dict(command='python benchmarks/descriptors.py ' + ' '.join(sys.argv[1:]),
                date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), cpu=cpu_name(),
                cores=os.cpu_count(), torch=torch.__version__, python=platform.python_version())

def speed(args, runner)->dict:
    "Each descriptor's extraction rate, alternating, and its ratio to the baseline's."
    table = sample_collection().iloc[:args.images].reset_index(drop=True)
    load_before = os.getloadavg()
    for descriptor in DESCRIPTORS.values(): rate(table.iloc[:32], runner, descriptor)  # warm-up
    names, rates = list(DESCRIPTORS), {name: [] for name in DESCRIPTORS}
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            rates[name].append(rate(table, runner, DESCRIPTORS[name]))
            print(f"round {r}: {name}: {rates[name][-1]:.1f} img/s", flush=True)
    baseline = float(np.median(rates[names[0]]))
    results = {name: dict(descriptor=dataclasses.asdict(DESCRIPTORS[name]),
                          images_per_s=[round(x, 2) for x in rates[name]],
                          median_images_per_s=round(float(np.median(rates[name])), 2),
                          ratio_to_baseline=round(float(np.median(rates[name])) / baseline, 3))
               for name in names}
    for name in names:
        print(f"{name:32s} {results[name]['median_images_per_s']:7.1f} img/s "
              f"{results[name]['ratio_to_baseline']:.3f}x")
    return machine(args) | dict(load_average_before=[round(x, 1) for x in load_before],
                                load_average_after=[round(x, 1) for x in os.getloadavg()],
                                backbone='efficientnet_lite0', runner=repr(runner),
                                images=len(table), batch_size=32, rounds=args.rounds,
                                results=results)

def unit(x): return x / np.linalg.norm(x, axis=1, keepdims=True)

def quality(args, runner)->dict:
    "Top-1 and MAP@R of held-out queries against the gallery of unseen instances, per seed."
    if not VIEWS.exists():
        raise SystemExit(f"{VIEWS} is missing: run python benchmarks/instances.py first")
    views, results = load_manifest(VIEWS), {}
    for name in QUALITY:
        features, table = extract_features(views, runner, descriptor=DESCRIPTORS[name],
                                           progress=False)
        features, per_seed = unit(features), {}
        for seed in args.seeds:
            side = view_protocol(table, seed=seed).side.to_numpy()
            gallery, queries = side == 'gallery', side == 'query'
            metrics = retrieval_metrics(features[queries], table.label[queries].to_numpy(),
                                        features[gallery], table.label[gallery].to_numpy())
            per_seed[seed] = dict(gallery=int(gallery.sum()), queries=int(queries.sum()),
                                  top1=round(metrics['top1'], 4),
                                  map_at_r=round(metrics['map_at_r'], 4))
        mean = {m: round(float(np.mean([s[m] for s in per_seed.values()])), 4)
                for m in ('top1', 'map_at_r')}
        results[name] = dict(descriptor=dataclasses.asdict(DESCRIPTORS[name]), seeds=per_seed,
                             mean=mean)
        print(f"{name:32s} Top-1 {mean['top1']:.4f} MAP@R {mean['map_at_r']:.4f} "
              + json.dumps(per_seed), flush=True)
    return machine(args) | dict(backbone='efficientnet_lite0 (ImageNet, frozen)',
                                runner=repr(runner), collection=str(VIEWS).replace(
                                    str(Path.home()), '~'), views=len(views),
                                instances=int(views.label.nunique()), seeds=args.seeds,
                                protocol='view_protocol: test_fraction 0.5, query_views 3',
                                results=results)

def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=128)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--skip-speed', action='store_true')
    parser.add_argument('--skip-quality', action='store_true')
    parser.add_argument('--out', default='descriptors.json')
    args = parser.parse_args()
    out, parts = Path(__file__).parent/'results'/args.out, {}
    runner = Runner(load_backbone('efficientnet_lite0'), 'cpu')
    if not args.skip_speed: parts['speed'] = speed(args, runner)
    if not args.skip_quality: parts['quality'] = quality(args, runner)
    record = json.loads(out.read_text()) if out.exists() else {}  # read last: another run's parts
    out.write_text(json.dumps(record | parts, indent=1) + '\n')
    print('wrote', out)

if __name__ == '__main__': main()
