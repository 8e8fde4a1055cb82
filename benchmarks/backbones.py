"""Backbones from timm and open_clip (chapter 17) beside ResNet-50: extraction speed on this CPU,
input size, feature size, parameters.

    python benchmarks/backbones.py [--images 16] [--rounds 3] [--out backbones.json]

Every backbone is built with random weights (`weights='random'`: none can be downloaded here; speed
does not depend on the values) and runs through chapter 01's `Runner` on the CPU, OpenVINO fp32
(the engine imgsim picks where OpenVINO is installed; fp32 is the plug-ins' default precision), on a
batch of `--images` uint8 images at the backbone's own input size, already decoded and cropped: the
network's rate, which decoding (the same for all) does not blur. ResNet-50 also runs at its default
precision on this CPU (bf16). Each backbone runs once to warm up (OpenVINO converts and compiles
it), then each round runs them all, in a rotated order, in this one process; the figure is each
backbone's median rate over the rounds and its ratio to ResNet-50's (fp32). The machine is shared:
the JSON records the load average before and after.
"""
import argparse, json, os, platform, subprocess, sys, time, warnings
from pathlib import Path
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import numpy as np, torch
warnings.simplefilter('ignore')
from imgsim.model import load_backbone, Runner

BACKBONES = [  # (name, precision); the first is the baseline
    ('resnet50', 'fp32'), ('resnet50', 'bf16'),
    ('timm:resnet50.a1_in1k', 'fp32'),
    ('timm:convnext_tiny.fb_in22k', 'fp32'),
    ('timm:vit_small_patch14_dinov2.lvd142m', 'fp32'),
    ('timm:vit_small_patch16_224.augreg_in21k_ft_in1k', 'fp32'),
    ('open_clip:ViT-B-32/laion2b_s34b_b79k', 'fp32'),
    ('timm:resnet18.a1_in1k', 'fp32'),
]

def cpu_name()->str:
    out = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
    return next((l.split(':', 1)[1].strip() for l in out.splitlines() if l.startswith('Model name')), '')

def timed(runner, batch)->float:
    start = time.perf_counter(); runner(batch)
    return len(batch) / (time.perf_counter() - start)

def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--images', type=int, default=16)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--out', default='backbones.json')
    args = parser.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    load_before, runs = os.getloadavg(), {}
    for name, precision in BACKBONES:
        backbone = load_backbone(name, weights='random'); spec = backbone.spec
        batch = torch.randint(0, 256, (args.images, 3, spec.image_size, spec.image_size),
                              dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
        runner = Runner(backbone, 'cpu', precision)
        runner(batch[:2])  # warm up: OpenVINO converts and compiles
        runs[name, precision] = dict(runner=runner, batch=batch, rates=[], spec=spec,
                                     params=sum(p.numel() for p in backbone.parameters()))
        print(f"ready: {name} {precision} ({runner.engine})", flush=True)
    keys = list(runs)
    for r in range(args.rounds):
        for key in keys[r % len(keys):] + keys[:r % len(keys)]:
            runs[key]['rates'].append(timed(runs[key]['runner'], runs[key]['batch']))
        print(f"round {r + 1}: " + ', '.join(f"{k[0]} {k[1]} {runs[k]['rates'][-1]:.1f}"
                                            for k in keys), flush=True)
    base = float(np.median(runs[keys[0]]['rates']))
    rows = []
    for (name, precision), run in runs.items():
        median, spec = float(np.median(run['rates'])), run['spec']
        rows.append(dict(backbone=name, precision=precision, engine=run['runner'].engine,
                         input_size=spec.image_size, resize=spec.resize,
                         interpolation=getattr(spec, 'interpolation', 'bilinear'),
                         feature_dim=spec.feature_dim, params_m=round(run['params'] / 1e6, 1),
                         img_per_s=round(median, 1), ratio=round(median / base, 2),
                         rates=[round(x, 1) for x in run['rates']]))
    record = dict(command='python benchmarks/backbones.py ' + ' '.join(sys.argv[1:]),
                  date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), cpu=cpu_name(),
                  cores=os.cpu_count(), torch=torch.__version__, python=platform.python_version(),
                  images=args.images, rounds=args.rounds,
                  load_before=[round(x, 2) for x in load_before],
                  load_after=[round(x, 2) for x in os.getloadavg()], rows=rows)
    out = Path(__file__).parent/'results'/args.out
    out.write_text(json.dumps(record, indent=1) + '\n')
    lines = ['| backbone | precision | input (resize, filter) | feature size | parameters (M) | img/s | vs ResNet-50 fp32 |',
             '|---|---|---|---|---|---|---|']
    lines += [f"| `{r['backbone']}` | {r['engine']} {r['precision']} | {r['input_size']} "
              f"({r['resize']}, {r['interpolation']}) | {r['feature_dim']} | {r['params_m']} | "
              f"{r['img_per_s']} | {r['ratio']}× |" for r in rows]
    print('\n'.join(lines))  # the table of results/backbones.md

if __name__ == '__main__': main()
