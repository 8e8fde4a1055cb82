"""Full fine-tuning against light mode (the head on cached features) on Fashion-MNIST, per seed.

    nice -n 10 python benchmarks/full_finetune.py [--seeds 0 1 2] [--epochs 2] [--size 112] [--per-label 600]

EfficientNet-Lite0 (ImageNet weights) at a reduced input size (112 px: Fashion-MNIST's pictures are
28 px, and the CPU is slow). Training images: `--per-label` per label from Fashion-MNIST's training
split (a seeded, stratified subset, written as a PNG folder); per seed, 10 % of them (stratified by
`split_by_image` with that seed) are the validation slice that picks the best epoch. Light mode is
`train_head` with `TrainConfig`'s defaults on the frozen backbone's features; full mode is
`train_full` started from that very head (the linear probe) with P x K = 10 x 6 and otherwise its
defaults. Both are evaluated leave-one-out on all 10,000 test images (each test image queries the
other 9,999): Top-1 and MAP@R. Results are written after every seed to
benchmarks/results/full_finetune.json.
"""
import argparse, json, os, platform, sys, time, warnings
from dataclasses import asdict, replace
from pathlib import Path
import numpy as np, torch
warnings.simplefilter('ignore')
from imgsim.data import load_fashion_mnist, write_image_folder, cache_dir, split_by_image, FASHION_MNIST_CLASSES, FASHION_MNIST_DIR
from imgsim.model import load_backbone, embed_features, Runner
from imgsim.extraction import extract_features
from imgsim.train import train_head, train_full, TrainConfig
from imgsim.evaluation import retrieval_metrics

def folder(split, per_label, root, seed=0):
    "A stratified, seeded subset of a Fashion-MNIST split (per_label=None: all of it) as an image folder."
    images, labels = load_fashion_mnist(split, root)
    idx = np.arange(len(labels)) if per_label is None else np.sort(np.concatenate(
        [np.random.default_rng(seed).choice(np.flatnonzero(labels == c), per_label, replace=False) for c in range(10)]))
    name = f"fashion-mnist-{split}-{'all' if per_label is None else f'{per_label}-per-label'}-seed{seed}"
    return write_image_folder(images[idx], [FASHION_MNIST_CLASSES[l] for l in labels[idx]], cache_dir()/name)

def scores(embeddings, labels):
    m = retrieval_metrics(embeddings, labels)
    return {'top1': round(float(m['top1']), 4), 'map_at_r': round(float(m['map_at_r']), 4)}

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--seeds', type=int, nargs='+', default=[0]); p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--size', type=int, default=112); p.add_argument('--per-label', type=int, default=600)
    p.add_argument('--workers', type=int, default=2); p.add_argument('--root', default=FASHION_MNIST_DIR)
    p.add_argument('--augment', default=TrainConfig.augment, help="full mode's augmentation strength")
    p.add_argument('--out', default='full_finetune.json', help="results file name in benchmarks/results")
    a = p.parse_args()
    torch.set_num_threads(os.cpu_count())
    backbone = load_backbone('efficientnet_lite0')
    backbone.spec = replace(backbone.spec, image_size=a.size, resize=round(a.size * 8 / 7))
    train, test = folder('train', a.per_label, a.root), folder('test', None, a.root)
    start = time.perf_counter()
    train_x, train = extract_features(train, backbone); test_x, test = extract_features(test, backbone)
    out = dict(command='nice -n 10 python benchmarks/full_finetune.py ' + ' '.join(sys.argv[1:]), date=time.strftime('%Y-%m-%d %H:%M'),
               machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores", torch=torch.__version__,
               backbone=f"efficientnet_lite0 (ImageNet) at {a.size} px", train_images=len(train), test_images=len(test),
               frozen_features_seconds=round(time.perf_counter() - start, 1), frozen=scores(torch.nn.functional.normalize(torch.from_numpy(test_x), dim=1).numpy(), test.label),
               full_config=asdict(TrainConfig(mode='full', epochs=a.epochs, p=10, k=6, augment=a.augment)),
               light_config=asdict(TrainConfig()), seeds={})
    for seed in a.seeds:
        fit, val = split_by_image(train, 0.1, seed=seed)
        light = train_head(train_x[fit.index], fit.label, train_x[val.index], val.label, TrainConfig(seed=seed), progress=False)
        kept = {f'val_{k}': round(float(light.metrics[f'val_{k}']), 4) for k in ('top1', 'map_at_r')}
        row = {'light': scores(embed_features(light.head, test_x), test.label) | kept}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            full = train_full(fit, val, backbone, TrainConfig(mode='full', epochs=a.epochs, p=10, k=6, seed=seed, augment=a.augment),
                              head=light.head, num_workers=a.workers, progress=False)
        tuned_x = test_x if full.backbone is None else extract_features(test, Runner(full.backbone), cache=False, progress=False)[0]  # on the GPU where there is one
        row['full'] = scores(embed_features(full.head, tuned_x), test.label) | dict(
            kept='probe' if full.backbone is None else f"epoch {full.best_epoch}", train_seconds=round(full.seconds, 1),
            history=full.history.round(4).to_dict('list'), warnings=[str(w.message) for w in caught if 'probe' in str(w.message)])
        row['gain_points'] = {k: round(100 * (row['full'][k] - row['light'][k]), 2) for k in ('top1', 'map_at_r')}
        out['seeds'][seed] = row
        print(json.dumps({seed: row}, indent=1), flush=True)
        res = Path(__file__).parent/'results'; res.mkdir(exist_ok=True)
        (res/a.out).write_text(json.dumps(out, indent=2))

if __name__ == '__main__': main()
