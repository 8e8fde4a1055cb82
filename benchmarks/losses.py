"""Losses from pytorch-metric-learning beside the default triplet loss (issue 33, item 3).

    python benchmarks/losses.py [--train 10000] [--test 2000] [--seeds 0 1 2] [--fashion-seeds 0 1 2]
                                [--only NAME ...] [--threads 1] [--out losses.json]

The head (`TrainConfig()` defaults: 15 epochs, P x K = 16 x 4 batches, AdamW 3e-4, standardised
features) is trained with each loss on cached EfficientNet-Lite0 features, only the criterion
changing (swapped into chapter 03's training loop for the run; proxies, where a loss has them, are
learned at 100 x the head's rate, as the library's examples do):
- triplet: chapter 03's `TripletLoss` (batch-hard, margin 0.3 on cosine), the default;
- multi-similarity: `MultiSimilarityLoss(2, 50, 0.5)` with `MultiSimilarityMiner(0.1)`;
- circle: `CircleLoss(m=0.25, gamma=80)`;
- proxy-anchor: `ProxyAnchorLoss(classes, 512, margin=0.1, alpha=32)`;
- triplet + cross-batch memory: the default triplet loss over `CrossBatchMemory` (1,024 embeddings).
Two benchmarks: Fashion-MNIST (a stratified subset of `--train` training images, 90% to train and
10% to pick the epoch, the gallery; `--test` test images the queries; also the test images
leave-one-out among themselves, issue 33's protocol) and the unseen-instance benchmark (chapter 16;
`benchmarks/instances.py` builds it), held-out queries of unseen instances. The P x K sampler is
already pytorch-metric-learning's `MPerClassSampler` in kind (P labels, K images each), so it is
not a variant. Writes results/losses.json.
"""
import argparse, json, sys, time, warnings
from pathlib import Path
import numpy as np, torch
warnings.simplefilter('ignore')
sys.path.insert(0, str(Path(__file__).parent))
from train_quality import subset
from defaults import view_features, cpu
from imgsim.data import split_by_image, FASHION_MNIST_DIR
from imgsim.views import view_protocol
from imgsim.model import load_backbone, embed_features
from imgsim.extraction import extract_features
from imgsim.evaluation import retrieval_metrics
import imgsim.train as training
from pytorch_metric_learning import losses, miners

TRIPLET, OPTIMIZER, PROXIES = training.TripletLoss, training._optimizer, []

class Criterion:
    "A pytorch-metric-learning loss in chapter 03's criterion shape: (loss, share of active pairs)."
    def __init__(self, loss, miner=None): self.loss, self.miner = loss, miner
    def __call__(self, embeddings, labels):
        pairs = self.miner(embeddings, labels) if self.miner else None
        return self.loss(embeddings, labels, pairs), 1.0

def variant(name:str, classes:int):
    "A criterion factory with `TripletLoss`'s signature (margin, mining)."
    def make(margin, mining):
        if name == 'triplet': return TRIPLET(margin, mining)
        if name == 'multi-similarity':
            return Criterion(losses.MultiSimilarityLoss(2, 50, 0.5), miners.MultiSimilarityMiner(0.1))
        if name == 'circle': return Criterion(losses.CircleLoss(m=0.25, gamma=80))
        if name == 'proxy-anchor':
            loss = losses.ProxyAnchorLoss(classes, 512, margin=0.1, alpha=32); PROXIES[:] = [loss]
            return Criterion(loss)
        if name == 'triplet + cross-batch memory':
            inner = TRIPLET(margin, mining)
            memory = losses.CrossBatchMemory(inner.loss, 512, memory_size=1024, miner=inner.miner)
            return Criterion(memory)
        raise ValueError(name)
    return make

def optimizer_with_proxies(model, head, config):
    "Chapter 03's AdamW, plus the proxies of a proxy loss (at 100 x the head's rate)."
    optimizer = OPTIMIZER(model, head, config)
    for loss in PROXIES: optimizer.add_param_group({'params': loss.parameters(), 'lr': config.lr * 100})
    PROXIES.clear()
    return optimizer

VARIANTS = ['triplet', 'multi-similarity', 'circle', 'proxy-anchor', 'triplet + cross-batch memory']

def train(name, features, rows, seed):
    "The head trained with loss `name` on `rows` (90% train, 10% pick the epoch), and its seconds."
    fit, val = split_by_image(rows, 0.1, seed=seed)
    training.TripletLoss = variant(name, rows.label.nunique())
    start = time.time()
    head = training.train_head(features[fit.index], fit.label, features[val.index], val.label,
                               training.TrainConfig(seed=seed), progress=False).head
    return head, round(time.time() - start, 1)

def scores(m): return {k: round(m[k], 4) for k in ('top1', 'map_at_r')}

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--train', type=int, default=10000); p.add_argument('--test', type=int, default=2000)
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--fashion-seeds', type=int, nargs='+', default=None, help='default: --seeds')
    p.add_argument('--only', nargs='+', default=VARIANTS)
    p.add_argument('--out', default='losses.json')
    p.add_argument('--threads', type=int, default=1, help='torch threads (1: steady on a shared machine)')
    p.add_argument('--views', default=str(Path.home()/'.cache/imgsim/wallpapers/views-v1'))
    a = p.parse_args()
    torch.set_num_threads(a.threads); training._optimizer = optimizer_with_proxies
    start, backbone = time.time(), load_backbone('efficientnet_lite0')
    train_rows, test_rows = subset('train', a.train, FASHION_MNIST_DIR), subset('test', a.test, FASHION_MNIST_DIR)
    train_f, train_rows = extract_features(train_rows, backbone, progress=False)
    test_f, test_rows = extract_features(test_rows, backbone, progress=False)
    view_f, views = view_features(a.views)
    gy, ty = train_rows.label.to_numpy(), test_rows.label.to_numpy()
    result = {}
    for name in a.only:
        for seed in a.seeds:
            fashion = None
            if seed in (a.seeds if a.fashion_seeds is None else a.fashion_seeds):
                head, seconds = train(name, train_f, train_rows, seed)
                g, q = embed_features(head, train_f), embed_features(head, test_f)
                fashion = {'vs_gallery': scores(retrieval_metrics(q, ty, g, gy)),
                           'leave_one_out': scores(retrieval_metrics(q, ty)), 'seconds': seconds}
            protocol = view_protocol(views, seed=seed)
            known = protocol[protocol.side == 'train']
            gallery, queries = protocol[protocol.side == 'gallery'], protocol[protocol.side == 'query']
            head, _ = train(name, view_f, known, seed)
            v = embed_features(head, view_f)
            instances = scores(retrieval_metrics(v[queries.index], queries.label.values,
                                                 v[gallery.index], gallery.label.values))
            result.setdefault(name, {})[seed] = {'fashion_mnist': fashion, 'instances': instances}
            print(name, seed, json.dumps(result[name][seed]), flush=True)
    for name, seeds in result.items():
        runs = [seeds[s] for s in a.seeds]
        fashion = [r['fashion_mnist'] for r in runs if r['fashion_mnist']]
        mean = lambda values: round(float(np.mean(values)), 4)
        seeds['mean'] = {
            'fashion_vs_gallery_top1': mean([f['vs_gallery']['top1'] for f in fashion]),
            'fashion_leave_one_out_top1': mean([f['leave_one_out']['top1'] for f in fashion]),
            'fashion_vs_gallery_map_at_r': mean([f['vs_gallery']['map_at_r'] for f in fashion]),
            'instances_top1': round(float(np.mean([r['instances']['top1'] for r in runs])), 4),
            'instances_map_at_r': round(float(np.mean([r['instances']['map_at_r'] for r in runs])), 4)}
        print(f"{name:30s}", seeds['mean'])
    out = {'command': 'python benchmarks/losses.py ' + ' '.join(sys.argv[1:]),
           'date': time.strftime('%Y-%m-%d %H:%M'), 'cpu': cpu(), 'seconds': round(time.time() - start),
           'train': len(train_rows), 'test': len(test_rows), 'results': result}
    (Path(__file__).parent/'results'/a.out).write_text(json.dumps(out, indent=1))

if __name__ == '__main__': main()
