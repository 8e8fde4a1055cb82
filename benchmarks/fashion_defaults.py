"""Fashion-MNIST with the defaults: frozen vs trained head, plain vs re-ranked (issues 32 and 33).

    python benchmarks/fashion_defaults.py [--train 60000] [--test 10000] [--seeds 0 1 2] [--threads 2]
                                          [--out fashion_defaults.json] [--also AQE DBA [ALPHA] ...] [--stages]

Class-level retrieval, EfficientNet-Lite0 (ImageNet weights), features cached by `extract_features`.
The training split (or a stratified subset, `--train`) trains the head (`TrainConfig()`, 90%; the
other 10% picks the epoch) and is the gallery; the test split (`--test`) gives the queries. Scores:
- test queries against the training gallery, plain cosine and with `RERANKING_DEFAULT` (DBA on the
  gallery, then αQE: chapter 04's `reranked`), frozen features and the trained head;
- the test images leave-one-out among themselves (issue 33's protocol), plain: with DBA that
  protocol would leak, so it is reported plain only.
Writes results/fashion_defaults.json.
"""
import argparse, json, subprocess, sys, time, warnings
from pathlib import Path
import numpy as np, torch, torch.nn.functional as F
warnings.simplefilter('ignore')
sys.path.insert(0, str(Path(__file__).parent))
from train_quality import subset
from imgsim.data import split_by_image, FASHION_MNIST_DIR
from imgsim.model import load_backbone, embed_features, Descriptor
from imgsim.extraction import extract_features
from imgsim.train import train_head, TrainConfig
from imgsim.search import RERANKING_DEFAULT, Reranking, reranked
from imgsim.evaluation import retrieval_metrics

def cpu()->str:
    lines = subprocess.run(['lscpu'], capture_output=True, text=True).stdout.splitlines()
    return next((l.split(':', 1)[1].strip() for l in lines if l.startswith('Model name')), '?')

def scores(m:dict)->dict: return {k: round(m[k], 4) for k in ('top1', 'top5', 'map_at_r')}

def both(gallery, gallery_labels, queries, query_labels, also=())->dict:
    "Plain and re-ranked scores (the default, and each of `also`) of queries against the gallery."
    q, g = reranked(queries, gallery, RERANKING_DEFAULT)
    found = {'plain': scores(retrieval_metrics(queries, query_labels, gallery, gallery_labels)),
             'reranked': scores(retrieval_metrics(q, query_labels, g, gallery_labels))}
    for setting in also:
        q, g = reranked(queries, gallery, setting)
        name = f'dba {setting.database_augmentation} + aqe {setting.query_expansion}'
        if setting.alpha != RERANKING_DEFAULT.alpha: name += f', α {setting.alpha:g}'
        found[name] = scores(retrieval_metrics(q, query_labels, g, gallery_labels))
    return found

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--train', type=int, default=60000); p.add_argument('--test', type=int, default=10000)
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2]); p.add_argument('--root', default=FASHION_MNIST_DIR)
    p.add_argument('--extract-only', action='store_true')
    p.add_argument('--out', default='fashion_defaults.json')
    p.add_argument('--also', nargs='+', type=float, action='append', default=[], metavar='AQE DBA [ALPHA]',
                   help="also score this re-ranking (αQE k, DBA k and α, by default the default's)")
    p.add_argument('--stages', action='store_true', help="Descriptor(stages=True), the recipe's default since 2026-12-07")
    p.add_argument('--threads', type=int, default=2, help='torch threads (1 is steadier on a shared machine)')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if any(len(v) not in (2, 3) for v in a.also): p.error('--also takes AQE DBA [ALPHA]: two or three numbers')
    also = [Reranking(int(v[0]), int(v[1]), v[2] if len(v) == 3 else RERANKING_DEFAULT.alpha) for v in a.also]
    backbone, start = load_backbone('efficientnet_lite0'), time.time()
    train, test = subset('train', a.train, a.root), subset('test', a.test, a.root)
    descriptor = Descriptor(stages=a.stages)
    train_f, train = extract_features(train, backbone, descriptor=descriptor)
    test_f, test = extract_features(test, backbone, descriptor=descriptor)
    print('features', train_f.shape, test_f.shape, round(time.time() - start), 's', flush=True)
    if a.extract_only: return
    unit = lambda x: F.normalize(torch.from_numpy(x), dim=1).numpy()
    ty, gy = test.label.to_numpy(), train.label.to_numpy()
    result = {'frozen': both(unit(train_f), gy, unit(test_f), ty, also) |
                        {'test_leave_one_out': scores(retrieval_metrics(unit(test_f), ty))}}
    print('frozen', json.dumps(result['frozen']), flush=True)
    for seed in a.seeds:
        fit, val = split_by_image(train, 0.1, seed=seed)
        t0 = time.time()
        head = train_head(train_f[fit.index], fit.label, train_f[val.index], val.label,
                          TrainConfig(seed=seed), progress=False).head
        seconds = time.time() - t0
        gallery, queries = embed_features(head, train_f), embed_features(head, test_f)
        result[f'head seed {seed}'] = both(gallery, gy, queries, ty, also) | {
            'test_leave_one_out': scores(retrieval_metrics(queries, ty)),
            'training_seconds': round(seconds, 1), 'training_images': len(fit)}
        print(seed, json.dumps(result[f'head seed {seed}']), flush=True)
    out = {'command': 'python benchmarks/fashion_defaults.py ' + ' '.join(sys.argv[1:]),
           'date': time.strftime('%Y-%m-%d %H:%M'), 'cpu': cpu(), 'seconds': round(time.time() - start),
           'train': len(train), 'test': len(test), 'descriptor': descriptor.__dict__, 'resize': backbone.spec.resize, 'reranking': RERANKING_DEFAULT.__dict__, 'results': result}
    (Path(__file__).parent/'results'/a.out).write_text(json.dumps(out, indent=1))

if __name__ == '__main__': main()
