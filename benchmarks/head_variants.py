"""Levers on the light head for issue 33's Fashion-MNIST target: training variants on cached features.

    python benchmarks/head_variants.py [--variants base sqrt ...] [--seeds 0 1 2] [--threads 1]
                                       [--train 60000] [--out head_variants.json] [--stages]

EfficientNet-Lite0 features (cached by `extract_features`) of the Fashion-MNIST training split (or a
stratified subset) train the head (90%; 10% picks the epoch), and the test split is scored
leave-one-out among itself (issue 33's protocol) and against the training gallery. Each variant
changes one thing of `TrainConfig()`, or the features the head sees (`sqrt`: each feature's square
root, sign kept, the "power normalisation" of the retrieval literature, for training and embedding
alike). `--stages`: the features are `Descriptor(stages=True)`'s, the recipe's since 2026-12-07.
Also, on the unseen-instance benchmark (chapter 16; `benchmarks/instances.py` builds it), the
held-out queries' MAP@R against the unseen gallery, so a variant must not cost instances.
"""
import argparse, json, subprocess, sys, time, warnings
from pathlib import Path
import numpy as np, torch
warnings.simplefilter('ignore')
sys.path.insert(0, str(Path(__file__).parent))
from train_quality import subset, seeded_splits
from defaults import view_features
from imgsim.data import FASHION_MNIST_DIR
from imgsim.model import load_backbone, embed_features, Descriptor
from imgsim.extraction import extract_features
from imgsim.train import train_head, TrainConfig
from imgsim.evaluation import retrieval_metrics

VARIANTS = {'base': {}, 'select top1': {'select_by': 'top1'}, 'margin 0.2': {'margin': 0.2},
            'margin 0.5': {'margin': 0.5}, 'semi-hard': {'mining': 'semi_hard'}, 'sqrt': {},
            'epochs 25': {'epochs': 25}, 'k 8': {'k': 8}, 'lr 1e-3': {'lr': 1e-3}}

def cpu()->str:
    lines = subprocess.run(['lscpu'], capture_output=True, text=True).stdout.splitlines()
    return next((l.split(':', 1)[1].strip() for l in lines if l.startswith('Model name')), '?')

def head(name, x, fit, val, seed):
    "The head of one variant, trained on the rows `fit`, the epoch picked on `val`."
    return train_head(x[fit.index], fit.label, x[val.index], val.label,
                      TrainConfig(seed=seed, **VARIANTS[name]), progress=False).head

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--variants', nargs='+', default=['base', 'sqrt'], choices=list(VARIANTS))
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2]); p.add_argument('--train', type=int, default=60000)
    p.add_argument('--threads', type=int, default=1); p.add_argument('--out', default='head_variants.json')
    p.add_argument('--stages', action='store_true', help="Descriptor(stages=True)'s features")
    p.add_argument('--views', default=str(Path.home()/'.cache/imgsim/wallpapers/views-v1'))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    start, backbone = time.time(), load_backbone('efficientnet_lite0')
    train, test = subset('train', a.train, FASHION_MNIST_DIR), subset('test', 10000, FASHION_MNIST_DIR)
    descriptor = Descriptor(stages=a.stages)
    train_f, train = extract_features(train, backbone, progress=False, descriptor=descriptor)
    test_f, test = extract_features(test, backbone, progress=False, descriptor=descriptor)
    view_f, views = view_features(a.views, descriptor)
    result = {}
    for seed in a.seeds:
        fit, val, vfit, vval, gallery, queries = seeded_splits(train, views, seed)
        for name in a.variants:
            f = (lambda x: np.sign(x) * np.sqrt(np.abs(x))) if name == 'sqrt' else (lambda x: x)
            t0 = time.time(); h = head(name, f(train_f), fit, val, seed); seconds = time.time() - t0
            q, g = embed_features(h, f(test_f)), embed_features(h, f(train_f))
            loo, vs = retrieval_metrics(q, test.label), retrieval_metrics(q, test.label, g, train.label)
            hv = head(name, f(view_f), vfit, vval, seed); e = embed_features(hv, f(view_f))
            inst = retrieval_metrics(e[queries.index], queries.label, e[gallery.index], gallery.label)
            result.setdefault(name, {})[seed] = {
                'fashion_leave_one_out': {k: round(loo[k], 4) for k in ('top1', 'map_at_r')},
                'fashion_vs_train_gallery': {k: round(vs[k], 4) for k in ('top1', 'map_at_r')},
                'instances': {k: round(inst[k], 4) for k in ('top1', 'map_at_r')}, 'training_seconds': round(seconds, 1)}
            print(seed, name, json.dumps(result[name][seed]), flush=True)
    for seeds in result.values():
        seeds['mean'] = {part: {m: round(float(np.mean([s[part][m] for s in seeds.values()])), 4) for m in ('top1', 'map_at_r')}
                         for part in ('fashion_leave_one_out', 'fashion_vs_train_gallery', 'instances')}
    out = {'command': 'python benchmarks/head_variants.py ' + ' '.join(sys.argv[1:]), 'date': time.strftime('%Y-%m-%d %H:%M'),
           'cpu': cpu(), 'seconds': round(time.time() - start), 'train': len(train), 'test': len(test), 'results': result}
    (Path(__file__).parent/'results'/a.out).write_text(json.dumps(out, indent=1))
    for name, seeds in result.items(): print(f"{name:12s} {seeds['mean']}")

if __name__ == '__main__': main()
