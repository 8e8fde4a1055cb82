"""Whitening learned on a separate set: what it gives frozen features and the trained head (issue 32, item 4).

    python benchmarks/whitening.py [--views ~/.cache/imgsim/wallpapers/views-v1] [--seeds 0 1 2] [--out whitening.json]

The unseen-instance benchmark (chapter 16; build it once with `benchmarks/instances.py`), held-out
queries as in `benchmarks/defaults.py`. Per seed, `view_protocol` splits the instances into
training instances and unseen test instances (gallery views and held-out query views). Whitening
(chapter 04's `learn_whitening`) is learned on the training instances' views (760 vectors), never on
the test gallery, except in the rows marked "learned on the gallery", which show the trap. Frozen
EfficientNet-Lite0 features (average pooling) and the default head (`TrainConfig()`, trained on the
same training views), each plain cosine and with `RERANKING_DEFAULT`. Writes results/whitening.json.
"""
import argparse, json, sys, time, warnings
from pathlib import Path
import numpy as np, torch
warnings.simplefilter('ignore')
sys.path.insert(0, str(Path(__file__).parent))
from defaults import view_features, seed_split, cpu
from imgsim.search import Reranking, reranked, learn_whitening, RERANKING_DEFAULT
from imgsim.evaluation import retrieval_metrics

# name: (learned on 'train' or 'gallery', shrinkage, dim); None: no whitening
SETTINGS = {'none': None, 's 0.1': ('train', 0.1, None), 's 0.3': ('train', 0.3, None),
            's 0.5': ('train', 0.5, None), 's 0.3, 256-d': ('train', 0.3, 256),
            's 0.3, 128-d': ('train', 0.3, 128),
            'learned on the gallery, s 0, 500-d': ('gallery', 0.0, 500),
            'learned on the gallery, s 0.3': ('gallery', 0.3, None)}

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--views', default=str(Path.home()/'.cache/imgsim/wallpapers/views-v1'))
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--out', default='whitening.json')
    a = p.parse_args()
    torch.set_num_threads(2)
    start = time.time()
    features, views = view_features(a.views)
    result = {}
    for seed in a.seeds:
        train, gallery, queries, embeddings = seed_split(features, views, seed)
        for model, vectors in embeddings.items():
            for name, setting in SETTINGS.items():
                if setting is None: x = vectors
                else:
                    on, shrinkage, dim = setting
                    rows = (train if on == 'train' else gallery).index
                    dim = min(dim or vectors.shape[1], vectors.shape[1])
                    x = learn_whitening(vectors[rows], shrinkage, dim)(vectors)
                for ranking, reranking in (('plain', Reranking()), ('re-ranked', RERANKING_DEFAULT)):
                    q, g = reranked(x[queries.index], x[gallery.index], reranking)
                    m = retrieval_metrics(q, queries.label.values, g, gallery.label.values)
                    result.setdefault(f'{model}, {name}, {ranking}', {})[seed] = {
                        'top1': round(m['top1'], 4), 'map_at_r': round(m['map_at_r'], 4)}
        print(seed, round(time.time() - start), 's', flush=True)
    for name, seeds in result.items():
        seeds['mean'] = {m: round(float(np.mean([s[m] for s in seeds.values()])), 4)
                         for m in ('top1', 'map_at_r')}
        print(f"{name:52s} {seeds['mean']}  MAP@R per seed",
              [seeds[s]['map_at_r'] for s in a.seeds])
    out = {'command': 'python benchmarks/whitening.py ' + ' '.join(sys.argv[1:]),
           'date': time.strftime('%Y-%m-%d %H:%M'), 'cpu': cpu(), 'seconds': round(time.time() - start),
           'views': len(views), 'instances': int(views.label.nunique()), 'results': result}
    (Path(__file__).parent/'results'/a.out).write_text(json.dumps(out, indent=1))

if __name__ == '__main__': main()
