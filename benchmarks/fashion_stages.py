"""Issue 33's Fashion-MNIST lever: does the head gain from earlier stages of the frozen backbone?

    python benchmarks/fashion_stages.py [--train 60000] [--seeds 0 1 2] [--threads 2]
                                        [--views DIR] [--out fashion_stages.json] [--pooling gem]
                                        [--ends 2 4 7 10 14 15] [--only stages] [--regions 2]
                                        [--resize 224]

EfficientNet-Lite0's final 1280-d average-pooled features are what the head sees by default. With
`Descriptor(stages=True)` (chapter 02) the same frozen network also gives the ends of its stages from
stride 8 on (blocks 4, 7, 10, 14, 15: 40 + 80 + 112 + 192 + 320 numbers) before the final 1280.
One extraction gives both: `final` is the last 1280 columns (the plain descriptor), `stages` all
2,024. `--pooling gem` pools every map by GeM (p = 3) instead of averaging; `--ends` pools other
blocks' outputs (`stage_ends`, which the feature cache key holds); `--only` trains one of the views.
`--regions N` also average-pools each map over an N × N grid (regional pooling: where in the picture
a pattern is), appended after the 2,024 global numbers; its views add the regions of the final map,
of the five stage ends, or of all six maps. `--resize S` resizes each picture's short side to S before
the 224-px centre crop (the backbone's default: 224 since 2026-12-07, which keeps the whole of a square
picture; `--resize 256`, the default before, crops an eighth of each side).
Heads (default `TrainConfig`, 90% fit / 10% picks the epoch) train on each, and are scored as issue
33 asks: the Fashion-MNIST test split leave-one-out among itself, and against the training
gallery. Also, on the unseen-instance benchmark (chapter 16; `benchmarks/instances.py` builds it),
the held-out queries' MAP@R and Top-1 against the unseen gallery, frozen and with the head, so the
option must not cost instances.

Until 2026-12-07 07:30 this script wrapped the backbone itself with `--blocks`; those results
(`fashion_stages_b10_15.json`, `fashion_stages_b4_7_10_14_15.json`, 20k training images, seed 0)
chose the blocks that `stages` now uses.
"""
import argparse, json, sys, time, warnings
from pathlib import Path
import numpy as np, torch, torch.nn.functional as F
warnings.simplefilter('ignore')
sys.path.insert(0, str(Path(__file__).parent))
from train_quality import subset, seeded_splits
from defaults import view_features, cpu
from imgsim.data import FASHION_MNIST_DIR
from imgsim.model import load_backbone, embed_features, Descriptor
from imgsim.extraction import extract_features, _EfficientNetFeatures
from imgsim.train import train_head, TrainConfig
from imgsim.evaluation import retrieval_metrics

VIEWS = {'final': lambda x: x[:, -1280:], 'stages': lambda x: x}
STAGE_WIDTHS = (40, 80, 112, 192, 320, 1280)  # the maps' channels, in `stage_maps`'s order

def regional_views(n:int)->dict:
    "Column views of [2,024 global | each map's n × n regions]: the stages alone, and with some maps' regions."
    ends = np.cumsum((2024,) + tuple(c * n * n for c in STAGE_WIDTHS))
    cols = lambda maps: np.r_[0:2024, *[slice(ends[i], ends[i + 1]) for i in maps]]
    return {'final': lambda x: x[:, 2024 - 1280:2024], 'stages': lambda x: x[:, :2024],
            'regions final': lambda x: x[:, cols([5])], 'regions ends': lambda x: x[:, cols(range(5))],
            'regions all': lambda x: x}

def pool_regions(n:int):
    "Make `_StagesBackbone` also pool each map over an n × n grid (a benchmark-only patch; its repr says so)."
    from imgsim.extraction import _StagesBackbone
    forward, extra_repr = _StagesBackbone.forward, _StagesBackbone.extra_repr
    def regional(self, x):
        maps = self.backbone.stage_maps(x)
        return torch.cat([torch.cat([m.float().mean((2, 3)) for m in maps], 1)]
                         + [F.adaptive_avg_pool2d(m.float(), n).flatten(1) for m in maps], 1)
    _StagesBackbone.forward = regional
    _StagesBackbone.extra_repr = lambda self: extra_repr(self) + f', regions={n}'
def rounded(m): return {k: round(m[k], 4) for k in ('top1', 'map_at_r')}

def head(x, fit, val, seed):
    return train_head(x[fit.index], fit.label, x[val.index], val.label, TrainConfig(seed=seed), progress=False).head

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--train', type=int, default=60000); p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--threads', type=int, default=2); p.add_argument('--out', default='fashion_stages.json')
    p.add_argument('--pooling', default='avg', choices=['avg', 'gem'], help="each map's pooling (GeM: p = 3)")
    p.add_argument('--ends', type=int, nargs='+', help="the blocks whose outputs are pooled (default: LITE0_STAGE_ENDS)")
    p.add_argument('--only', nargs='+', help="train on these views only")
    p.add_argument('--resize', type=int, help="short side before the centre crop (default: the backbone's, 224)")
    p.add_argument('--regions', type=int, default=0, help="also pool each map over an N x N grid (average pooling only)")
    p.add_argument('--views', default=str(Path.home()/'.cache/imgsim/wallpapers/views-v1'))
    a = p.parse_args()
    torch.set_num_threads(a.threads); start = time.time()
    if a.ends: _EfficientNetFeatures.stage_ends = tuple(a.ends)
    views_of = VIEWS
    if a.regions and (a.pooling != 'avg' or a.ends): p.error('--regions takes average pooling and the default ends')
    if a.regions: pool_regions(a.regions); views_of = regional_views(a.regions)
    backbone, staged = load_backbone('efficientnet_lite0'), Descriptor(a.pooling, stages=True)
    if a.resize: backbone.spec.resize = a.resize  # the registered spec: `view_features`' backbone too
    train, test = subset('train', a.train, FASHION_MNIST_DIR), subset('test', 10000, FASHION_MNIST_DIR)
    train_f, train = extract_features(train, backbone, descriptor=staged, progress=False)
    test_f, test = extract_features(test, backbone, descriptor=staged, progress=False)
    view_f, views = view_features(a.views, staged)
    print('extracted', train_f.shape, test_f.shape, view_f.shape, round(time.time() - start), 's', flush=True)
    result = {}
    for seed in a.seeds:
        fit, val, vfit, vval, gallery, queries = seeded_splits(train, views, seed)
        for name, view in views_of.items():
            if a.only and name not in a.only: continue
            x, t, v = view(train_f), view(test_f), view(view_f)
            t0 = time.time(); h = head(x, fit, val, seed); seconds = time.time() - t0
            q, g = embed_features(h, t), embed_features(h, x)
            loo, vs = retrieval_metrics(q, test.label), retrieval_metrics(q, test.label, g, train.label)
            frozen = F.normalize(torch.from_numpy(v), dim=1).numpy(); e = embed_features(head(v, vfit, vval, seed), v)
            inst = {kind: rounded(retrieval_metrics(w[queries.index], queries.label, w[gallery.index], gallery.label))
                    for kind, w in (('frozen', frozen), ('head', e))}
            result.setdefault(name, {})[seed] = {'fashion_leave_one_out': rounded(loo), 'fashion_vs_train_gallery': rounded(vs),
                                                 'instances': inst, 'training_seconds': round(seconds, 1)}
            print(seed, name, json.dumps(result[name][seed]), flush=True)
    for seeds in result.values():
        runs = list(seeds.values())
        seeds['mean'] = {part: {m: round(float(np.mean([s[part][m] for s in runs])), 4) for m in ('top1', 'map_at_r')}
                         for part in ('fashion_leave_one_out', 'fashion_vs_train_gallery')}
        seeds['mean']['instances'] = {kind: {m: round(float(np.mean([s['instances'][kind][m] for s in runs])), 4)
                                             for m in ('top1', 'map_at_r')} for kind in ('frozen', 'head')}
    out = {'command': 'python benchmarks/fashion_stages.py ' + ' '.join(sys.argv[1:]), 'date': time.strftime('%Y-%m-%d %H:%M'),
           'cpu': cpu(), 'seconds': round(time.time() - start), 'train': len(train), 'test': len(test), 'results': result}
    (Path(__file__).parent/'results'/a.out).write_text(json.dumps(out, indent=1))
    for name, seeds in result.items(): print(f"{name:8s} {json.dumps(seeds['mean'])}")

if __name__ == '__main__': main()
