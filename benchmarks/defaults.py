"""What the defaults give: frozen features vs the trained head, each with and without re-ranking (issues 32, 33).

    python benchmarks/defaults.py [--views ~/.cache/imgsim/wallpapers/views-v1] [--seeds 0 1 2]
                                  [--out defaults.json] [--also AQE DBA ALPHA ...] [--stages]

The unseen-instance benchmark (chapter 16; build it once with `benchmarks/instances.py`). Per seed,
`view_protocol` splits the instances into training instances and unseen test instances, whose views
are split into a gallery and held-out queries: no query is ever in a gallery that DBA was computed
on. Frozen EfficientNet-Lite0 features (average pooling) and the default head (`TrainConfig()`,
trained on the training instances' views) are each scored plain, with αQE, with DBA, and with both:
chapter 04's `reranked` (DBA, then αQE), α = 3. Top-1 and MAP@R of the test
queries against the test gallery (chapter 05's `retrieval_metrics`).
"""
import argparse, json, subprocess, sys, time, warnings
from pathlib import Path
import numpy as np, pandas as pd, torch, torch.nn.functional as F
warnings.simplefilter('ignore')
from imgsim.data import split_by_image
from imgsim.views import view_protocol
from imgsim.model import load_backbone, embed_features, Descriptor
from imgsim.extraction import extract_features
from imgsim.train import train_head, TrainConfig
from imgsim.search import Reranking, reranked
from imgsim.evaluation import retrieval_metrics

RERANKINGS = {'plain': (0, 0), 'aqe 2': (2, 0), 'dba 2': (0, 2), 'dba 2 + aqe 2': (2, 2),
              'dba 3 + aqe 3': (3, 3), 'dba 1 + aqe 2': (2, 1)}

def cpu()->str:
    lines = subprocess.run(['lscpu'], capture_output=True, text=True).stdout.splitlines()
    return next((l.split(':', 1)[1].strip() for l in lines if l.startswith('Model name')), '?')

def view_features(views_dir:str, descriptor:Descriptor|None=None)->tuple[np.ndarray, pd.DataFrame]:
    "Frozen EfficientNet-Lite0 features of the benchmark's views (cached), and the views' table."
    views = pd.read_csv(Path(views_dir)/'collection.csv')
    views['path'] = [str(Path(views_dir)/p) for p in views.path]
    return extract_features(views, load_backbone('efficientnet_lite0'), progress=False, descriptor=descriptor)

def seed_split(features:np.ndarray, views:pd.DataFrame, seed:int, plain:np.ndarray|None=None)->tuple:
    "One seed's views (training, gallery, queries) and vectors: frozen (`plain` if given) and the head's."
    protocol = view_protocol(views, seed=seed)
    train = protocol[protocol.side == 'train']
    gallery, queries = protocol[protocol.side == 'gallery'], protocol[protocol.side == 'query']
    fit, validation = split_by_image(train, 0.2, seed=seed)
    head = train_head(features[fit.index], fit.label, features[validation.index],
                      validation.label, TrainConfig(seed=seed), progress=False).head
    unit = lambda x: F.normalize(torch.from_numpy(x), dim=1).numpy()
    embeddings = {'frozen': unit(features if plain is None else plain)}
    if plain is not None: embeddings['frozen stages'] = unit(features)
    embeddings['head'] = embed_features(head, features)
    return train, gallery, queries, embeddings

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--views', default=str(Path.home()/'.cache/imgsim/wallpapers/views-v1'))
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--out', default='defaults.json')
    p.add_argument('--stages', action='store_true', help="the head on Descriptor(stages=True) (the recipe's "
                   "default since 2026-12-07); 'frozen' stays one average-pooled view, 'frozen stages' is added")
    p.add_argument('--also', nargs=3, type=float, action='append', default=[], metavar=('AQE', 'DBA', 'ALPHA'),
                   help='also score this re-ranking (αQE k, DBA k, α)')
    a = p.parse_args()
    rerankings = RERANKINGS | {f'dba {d:g} + aqe {e:g}, α {alpha:g}': (int(e), int(d), alpha) for e, d, alpha in a.also}
    torch.set_num_threads(2)
    start = time.time()
    features, views = view_features(a.views)
    plain, features = (features, view_features(a.views, Descriptor(stages=True))[0]) if a.stages else (None, features)
    result = {}
    for seed in a.seeds:
        train, gallery, queries, embeddings = seed_split(features, views, seed, plain)
        for model, vectors in embeddings.items():
            for name, (expansion, augmentation, *alpha) in rerankings.items():
                q, g = reranked(vectors[queries.index], vectors[gallery.index], Reranking(expansion, augmentation, *alpha))
                m = retrieval_metrics(q, queries.label.values, g, gallery.label.values)
                result.setdefault(f'{model}, {name}', {})[seed] = {
                    'top1': round(m['top1'], 4), 'map_at_r': round(m['map_at_r'], 4)}
        print(seed, json.dumps({k: v[seed] for k, v in result.items()}), flush=True)
    base = np.mean([s['map_at_r'] for s in result['frozen, plain'].values()])
    for name, seeds in result.items():
        mean = {m: round(float(np.mean([s[m] for s in seeds.values()])), 4) for m in ('top1', 'map_at_r')}
        seeds['mean'] = mean | {'map_at_r_gain_points': round(100 * (mean['map_at_r'] - base), 1)}
    out = {'command': 'python benchmarks/defaults.py ' + ' '.join(sys.argv[1:]),
           'date': time.strftime('%Y-%m-%d %H:%M'), 'cpu': cpu(), 'seconds': round(time.time() - start),
           'views': len(views), 'instances': int(views.label.nunique()), 'results': result}
    path = Path(__file__).parent/'results'/a.out
    path.write_text(json.dumps(out, indent=1))
    for name, seeds in result.items(): print(f"{name:24s} {seeds['mean']}")

if __name__ == '__main__': main()
