"""What training the head buys and costs at each K (chapter 10's note on Top-5/10), on a small set.

    python benchmarks/head_tradeoff.py [--per-label 100] [--size 64] [--seeds 0 1]

1,000 Fashion-MNIST training images (the first 100 of each label, from the Debian package), upscaled
to 64 px RGB PNG files, EfficientNet-Lite0 features, `imgsim.pipeline`'s split (held-out test
queries against the rest as gallery), and the head trained with the default settings and a few
variants, each scored as `imgsim train` scores a run: Top-1/5/10 and MAP@R of the frozen backbone's
features and of the trained head. Writes results/head_tradeoff.json.
"""
import argparse, json, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, torch, torch.nn.functional as F
from PIL import Image
warnings.simplefilter('ignore')
from imgsim.data import load_fashion_mnist, write_image_folder, FASHION_MNIST_CLASSES
from imgsim.model import load_backbone, embed_features
from imgsim.extraction import extract_features
from imgsim.train import TrainConfig
from imgsim.pipeline import split_for_training, _train, _test_vs_gallery

VARIANTS = {'default': {}, 'semi_hard': dict(mining='semi_hard'), 'margin_0.1': dict(margin=0.1),
            'lr_1e-4': dict(lr=1e-4), 'select_by_top1': dict(select_by='top1')}
KEYS = ('top1', 'top5', 'top10', 'map_at_r')

def small_folder(per_label:int, size:int):
    "The first `per_label` training images of each label, `size` px RGB, as an image folder."
    images, labels = load_fashion_mnist('train')
    keep = np.concatenate([np.flatnonzero(labels == l)[:per_label] for l in range(10)])
    big = np.stack([np.asarray(Image.fromarray(images[i]).resize((size, size)).convert('RGB'))
                    for i in keep])
    dest = Path(tempfile.mkdtemp())/'photos'
    return write_image_folder(big, [FASHION_MNIST_CLASSES[labels[i]] for i in keep], dest)

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--per-label', type=int, default=100); p.add_argument('--size', type=int, default=64)
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    a = p.parse_args()
    table = small_folder(a.per_label, a.size)
    backbone = load_backbone('efficientnet_lite0')
    features, table = extract_features(table, backbone, progress=False)
    result = dict(command='python benchmarks/head_tradeoff.py ' + ' '.join(sys.argv[1:]),
                  date=time.strftime('%Y-%m-%d %H:%M'), images=len(table), seeds={})
    for seed in a.seeds:
        rest, test, train, val = split_for_training(table, seed)
        frozen = F.normalize(torch.from_numpy(features), dim=1).numpy()
        found = {'frozen_backbone': _test_vs_gallery(frozen, test, rest)}
        for name, settings in VARIANTS.items():
            trained, tuned = _train(features, table, train, val, backbone,
                                    TrainConfig(seed=seed, **settings), False)
            found[name] = _test_vs_gallery(embed_features(trained.head, tuned), test, rest)
        result['seeds'][seed] = {k: {m: round(v[m], 3) for m in KEYS} for k, v in found.items()}
        for name, scores in result['seeds'][seed].items(): print(seed, f"{name:16s}", scores, flush=True)
    out = Path(__file__).parent/'results'/'head_tradeoff.json'
    out.write_text(json.dumps(result, indent=2))

if __name__ == '__main__': main()
