"""Light fine-tuning speed and retrieval quality on Fashion-MNIST with the efficientnet_lite0 backbone.

    python benchmarks/train_quality.py [--train 60000] [--test 10000] [--seeds 0 1 2] [--ablation]

Protocol (image-held-out, the classes are the same in training and test): Fashion-MNIST's training
set (or a stratified subset) trains the head (90%, the other 10% is the validation slice that picks the
best epoch) and is the gallery; its test set (or a stratified subset), never seen in training, gives
the queries. The target's protocol is "Top-1 on the test split": leave-one-out within the test images. Metrics are reported for test queries against the
training gallery and leave-one-out within the test images, for the frozen backbone's own (L2-normalised)
features and for the trained head, averaged over seeds. Speed: 10 epochs of light fine-tuning over the
cached training features of 10,000 training images, timed (per-epoch validation included).
The head trains with `TrainConfig`'s defaults (only the seed varies). `--ablation` also trains, on the
same seeds, with each of the defaults that differ from a plain setup turned back one at a time
(constant learning rate, no feature standardisation, weight decay 1e-4, margin 0.2) and all of them
together.
Needs Debian's dataset-fashion-mnist (or --root).
"""
import argparse, json, sys, time, warnings
from dataclasses import asdict
from pathlib import Path
import numpy as np, torch, torch.nn.functional as F
warnings.simplefilter('ignore')
from imgsim.data import load_fashion_mnist, write_image_folder, cache_dir, split_by_image, FASHION_MNIST_CLASSES, FASHION_MNIST_DIR
from imgsim.model import load_backbone
from imgsim.extraction import extract_features
from imgsim.train import train_head, TrainConfig
from imgsim.evaluation import retrieval_metrics

def subset(split, n, root, seed=0):
    "A stratified, seeded subset of a Fashion-MNIST split, as an image folder in the cache."
    images, labels = load_fashion_mnist(split, root)
    rng = np.random.default_rng(seed)
    idx = np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), n // 10, replace=False) for c in range(10)]))
    return write_image_folder(images[idx], [FASHION_MNIST_CLASSES[l] for l in labels[idx]], cache_dir()/f"fashion-mnist-{split}-{n}-seed{seed}")

def seeded_splits(train, views, seed):
    "Issue 33's splits for one seed: Fashion-MNIST fit/val (10 %), and the unseen-instance protocol's fit/val (20 %), gallery, queries."
    from imgsim.views import view_protocol
    fit, val = split_by_image(train, 0.1, seed=seed)
    protocol = view_protocol(views, seed=seed)
    view_fit, view_val = split_by_image(protocol[protocol.side == 'train'], 0.2, seed=seed)
    return fit, val, view_fit, view_val, protocol[protocol.side == 'gallery'], protocol[protocol.side == 'query']

def metrics(train_x, train_y, test_x, test_y):
    return {'test_vs_train_gallery': retrieval_metrics(test_x, test_y, train_x, train_y),
            'test_leave_one_out': retrieval_metrics(test_x, test_y)}

def main():
    p = argparse.ArgumentParser(); p.add_argument('--train', type=int, default=60000); p.add_argument('--test', type=int, default=10000); p.add_argument('--ablation', action='store_true')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2]); p.add_argument('--root', default=FASHION_MNIST_DIR)
    a = p.parse_args()
    backbone = load_backbone('efficientnet_lite0')
    train, test = subset('train', a.train, a.root), subset('test', a.test, a.root)
    start = time.perf_counter()
    train_f, train = extract_features(train, backbone); test_f, test = extract_features(test, backbone)
    extraction = time.perf_counter() - start
    # speed: 10 epochs over the features of 10,000 training images
    start = time.perf_counter()
    ten_k, _ = split_by_image(train, 1 - 10_000 / len(train), seed=0) if len(train) > 10_000 else (train, None)
    speed = train_head(train_f[ten_k.index], ten_k.label, test_f, test.label, TrainConfig(epochs=10), progress=False)
    train_seconds = time.perf_counter() - start
    frozen = metrics(F.normalize(torch.from_numpy(train_f), dim=1).numpy(), train.label, F.normalize(torch.from_numpy(test_f), dim=1).numpy(), test.label)
    def trained(changes):
        runs = []
        for seed in a.seeds:
            fit, val = split_by_image(train, 0.1, seed=seed)
            result = train_head(train_f[fit.index], fit.label, train_f[val.index], val.label, TrainConfig(seed=seed, **changes), progress=False)
            embed = lambda x: result.head(torch.from_numpy(x)).detach().numpy()
            runs.append(metrics(embed(train_f), train.label, embed(test_f), test.label) | {'best_epoch': result.best_epoch, 'seconds': round(result.seconds, 1)})
        mean = {proto: {k: float(np.mean([r[proto][k] for r in runs])) for k in ('top1', 'top5', 'top10', 'map_at_r', 'r_precision')} for proto in frozen}
        return runs, mean, {proto: round(100 * (mean[proto]['top1'] - frozen[proto]['top1']), 2) for proto in frozen}
    runs, mean, gain = trained({})
    ablation = {}
    if a.ablation:
        plain = dict(schedule='constant', standardize=False, weight_decay=1e-4, margin=0.2)
        for name, changes in [*[(f"{k}={v}", {k: v}) for k, v in plain.items()], ('all four', plain)]:
            ablation[name] = dict(zip(('per_seed', 'mean', 'top1_gain_points'), trained(changes)))
    out = dict(command='python benchmarks/train_quality.py ' + ' '.join(sys.argv[1:]), date=time.strftime('%Y-%m-%d %H:%M'),
               backbone='efficientnet_lite0 (ImageNet)', config=asdict(TrainConfig()), train_images=len(train), speed_images=len(ten_k), test_images=len(test), extraction_seconds=round(extraction, 1),
               ten_epochs_seconds=round(train_seconds, 2), ten_epochs_history=speed.history.round(4).to_dict('list'),
               frozen_backbone=frozen, trained_head_mean=mean, trained_head_per_seed=runs, top1_gain_points=gain,
               ablation={name: {'top1_gain_points': v['top1_gain_points'], 'mean': v['mean']} for name, v in ablation.items()})
    print(json.dumps(out, indent=2, default=float))
    res = Path(__file__).parent/'results'; res.mkdir(exist_ok=True)
    (res/'train_quality.json').write_text(json.dumps(out, indent=2, default=float))

if __name__ == '__main__': main()
