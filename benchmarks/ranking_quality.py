"""What α-query expansion and database-side augmentation (chapter 04) buy, measured without a leak.

    python benchmarks/ranking_quality.py [--seeds 0 1 2] [--train 10000] [--test 2000]
                                         [--skip-fashion]

Frozen EfficientNet-Lite0 (ImageNet weights), average-pooled features (`extract_features`, cached),
L2-normalised; Top-1 and MAP@R from chapter 05's `retrieval_metrics`.

1. **Unseen instances**: the collection `benchmarks/instances.py` writes (152 instances of Debian
   wallpaper photos, 10 hard views each). Per seed, `view_protocol` holds half the instances out of
   training (the train half is unused here: no head is trained) and, within each held-out instance,
   3 views out as queries; the other 7 are the gallery. DBA is computed on that gallery alone and
   αQE expands the held-out queries against it, so no query is ever inside a gallery-side step.
   For contrast, the leak: leave-one-out over all the held-out views, DBA computed on them all.
2. **Fashion-MNIST** (class-level): a stratified seeded subset of the training split (`--train`) is
   the gallery, of the test split (`--test`) the queries; 28 px pictures written as PNG files and
   resized by the backbone's transform (224 px), as `imgsim` does for any image.

Each variant is scored on the same features in the same process. Writes
results/ranking_quality.json.
"""
import argparse, json, subprocess, sys, time, warnings
from pathlib import Path
import numpy as np
warnings.simplefilter('ignore')
from imgsim.data import (load_fashion_mnist, write_image_folder, cache_dir, load_manifest,
                         view_protocol, FASHION_MNIST_CLASSES, FASHION_MNIST_DIR)
from imgsim.model import load_backbone
from imgsim.extraction import extract_features
from imgsim.search import query_expansion, database_augmentation
from imgsim.evaluation import retrieval_metrics

QE = [(1, 3.0), (2, 3.0), (3, 3.0), (5, 3.0), (2, 1.0), (3, 1.0)]  # (k, alpha)
DBA = [(1, 3.0), (2, 3.0), (3, 3.0), (5, 3.0)]
BOTH = [((1, 3.0), (1, 3.0)), ((1, 3.0), (2, 3.0)), ((2, 3.0), (2, 3.0)), ((2, 3.0), (3, 3.0)),
        ((3, 3.0), (3, 3.0))]  # (DBA, then αQE)

def variants(queries, gallery):
    "Name -> (query vectors, gallery vectors) for plain cosine and each re-ranking."
    found = {'plain': (queries, gallery)}
    for k, alpha in QE:
        found[f'aqe k={k} a={alpha:g}'] = (query_expansion(queries, gallery, k, alpha), gallery)
    augmented = {(k, a): database_augmentation(gallery, k, a) for k, a in DBA}
    for (k, alpha), g in augmented.items(): found[f'dba k={k} a={alpha:g}'] = (queries, g)
    for (dk, da), (qk, qa) in BOTH:
        g = augmented[dk, da]
        found[f'dba k={dk} + aqe k={qk} (a={qa:g})'] = (query_expansion(queries, g, qk, qa), g)
    return found

def scores(queries, query_labels, gallery, gallery_labels)->dict:
    "Top-1 and MAP@R of every variant."
    return {name: {m: round(retrieval_metrics(q, query_labels, g, gallery_labels)[m], 4)
                   for m in ('top1', 'map_at_r')}
            for name, (q, g) in variants(queries, gallery).items()}

def leave_one_out(vectors, labels)->dict:
    "The leak, for contrast: every test view a query against all others, DBA over them all."
    def two(m): return {k: round(m[k], 4) for k in ('top1', 'map_at_r')}
    return {'plain': two(retrieval_metrics(vectors, labels)),
            'dba k=2 a=3 (leaks)': two(retrieval_metrics(database_augmentation(vectors, 2, 3.0),
                                                         labels))}

def unit(x): return x / np.linalg.norm(x, axis=1, keepdims=True)

def instances(backbone, seeds, collection:Path)->dict:
    if not collection.exists():
        subprocess.run([sys.executable, str(Path(__file__).parent/'instances.py')], check=True)
    table = load_manifest(collection)
    features, table = extract_features(table, backbone, progress=False)
    features, result = unit(features), {}
    for seed in seeds:
        side = view_protocol(table, seed=seed).side.to_numpy()
        g, q = side == 'gallery', side == 'query'
        result[seed] = dict(gallery=int(g.sum()), queries=int(q.sum()),
                            scores=scores(features[q], table.label[q].to_numpy(),
                                          features[g], table.label[g].to_numpy()))
        test = g | q
        result[seed]['leave_one_out'] = leave_one_out(features[test], table.label[test].to_numpy())
        print('instances, seed', seed, json.dumps(result[seed]), flush=True)
    return result

def subset(split, n, root, seed=0):
    "A stratified, seeded subset of a Fashion-MNIST split, as an image folder in the cache."
    images, labels = load_fashion_mnist(split, root)
    rng = np.random.default_rng(seed)
    idx = np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), n // 10, replace=False)
                                  for c in range(10)]))
    names = [FASHION_MNIST_CLASSES[l] for l in labels[idx]]
    dest = cache_dir()/f"fashion-mnist-{split}-{n}-seed{seed}"
    return write_image_folder(images[idx], names, dest)

def fashion(backbone, n_train, n_test, root)->dict:
    gallery_table, query_table = subset('train', n_train, root), subset('test', n_test, root)
    gallery, gallery_table = extract_features(gallery_table, backbone, progress=False)
    queries, query_table = extract_features(query_table, backbone, progress=False)
    result = dict(gallery=len(gallery), queries=len(queries),
                  scores=scores(unit(queries), query_table.label.to_numpy(),
                                unit(gallery), gallery_table.label.to_numpy()))
    print('fashion-mnist', json.dumps(result['scores']), flush=True)
    return result

def mean_over_seeds(per_seed:dict)->dict:
    names = next(iter(per_seed.values()))['scores']
    return {name: {m: round(float(np.mean([s['scores'][name][m] for s in per_seed.values()])), 4)
                   for m in ('top1', 'map_at_r')} for name in names}

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--train', type=int, default=10000)
    p.add_argument('--test', type=int, default=2000)
    p.add_argument('--root', default=FASHION_MNIST_DIR)
    p.add_argument('--skip-fashion', action='store_true')
    p.add_argument('--collection', default='~/.cache/imgsim/wallpapers/views-v1/collection.csv')
    a = p.parse_args()
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True)
    backbone = load_backbone('efficientnet_lite0')
    started = time.time()
    per_seed = instances(backbone, a.seeds, Path(a.collection).expanduser())
    result = dict(command='python benchmarks/ranking_quality.py ' + ' '.join(sys.argv[1:]),
                  date=time.strftime('%Y-%m-%d %H:%M'), cpu=cpu.stdout.split(':', 1)[-1].strip(),
                  backbone='efficientnet_lite0 (frozen, average pooling)',
                  instances=dict(per_seed=per_seed, mean=mean_over_seeds(per_seed)))
    if not a.skip_fashion: result['fashion_mnist'] = fashion(backbone, a.train, a.test, a.root)
    result['seconds'] = round(time.time() - started)
    out = Path(__file__).parent/'results'/'ranking_quality.json'
    out.write_text(json.dumps(result, indent=2) + '\n')
    print(json.dumps(result['instances']['mean'], indent=1))

if __name__ == '__main__': main()
