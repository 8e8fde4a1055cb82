"""Does a horizontal flip help the head on Fashion-MNIST? (issue 33; prints, writes nothing)

    python benchmarks/fashion_flip.py [TRAIN=10000] [--extract-only]

EfficientNet-Lite0 features of a stratified training subset (90% trains the head, 10% picks the
epoch) and of the 10,000 test images, each image also with `Descriptor(flip=True)` (the average of
the image's and its mirror's unit descriptors; the mirror's own descriptor is recovered from the two
exactly). Per seed (0, 1), the test images leave-one-out among themselves (issue 33's protocol):
the head as today; trained on images and mirrors (2x the rows); the flip-averaged descriptor for
training and test; and the embeddings of an image and its mirror averaged at test time.
"""
import sys, json, time, warnings; warnings.simplefilter('ignore')
sys.path.insert(0, str(__import__('pathlib').Path(__file__).parent))
import numpy as np, torch
from train_quality import subset
from imgsim.data import split_by_image, FASHION_MNIST_DIR
from imgsim.model import load_backbone, embed_features, Descriptor
from imgsim.extraction import extract_features
from imgsim.train import train_head, TrainConfig
from imgsim.evaluation import retrieval_metrics
torch.set_num_threads(1)
bb = load_backbone('efficientnet_lite0')
numbers = [int(a) for a in sys.argv[1:] if not a.startswith('--')]
ntrain = numbers[0] if numbers else 10000
train, test = subset('train', ntrain, FASHION_MNIST_DIR), subset('test', 10000, FASHION_MNIST_DIR)
t0 = time.time()
out = {}
for name, table in (('train', train), ('test', test)):
    f0, t = extract_features(table, bb, progress=False)
    fa, t2 = extract_features(table, bb, descriptor=Descriptor(flip=True), progress=False)
    assert (t.path.values == t2.path.values).all()
    n0 = np.linalg.norm(f0, axis=1, keepdims=True); u0 = f0 / n0
    ua = fa / np.linalg.norm(fa, axis=1, keepdims=True)
    u1 = 2 * (ua * u0).sum(1, keepdims=True) * ua - u0
    out[name] = (f0, u1 * n0, ua * n0, t)
    print(name, 'extracted', round(time.time() - t0), 's', flush=True)
if '--extract-only' in sys.argv: sys.exit()
(tr0, tr1, tra, trt), (te0, te1, tea, tet) = out['train'], out['test']
ty = tet.label.to_numpy()
for seed in (0, 1):
    fit, val = split_by_image(trt, 0.1, seed=seed)
    def go(x, y, vx, vy):
        return train_head(x, y, vx, vy, TrainConfig(seed=seed), progress=False).head
    base = go(tr0[fit.index], fit.label, tr0[val.index], val.label)
    aug = go(np.concatenate([tr0[fit.index], tr1[fit.index]]), np.concatenate([fit.label, fit.label]), tr0[val.index], val.label)
    avg = go(tra[fit.index], fit.label, tra[val.index], val.label)
    r = {'base': retrieval_metrics(embed_features(base, te0), ty),
         'aug train, orig test': retrieval_metrics(embed_features(aug, te0), ty),
         'aug train, flip-avg embeddings': retrieval_metrics(
             torch.nn.functional.normalize(torch.from_numpy(embed_features(aug, te0) + embed_features(aug, te1)), dim=1).numpy(), ty),
         'flip-avg descriptor': retrieval_metrics(embed_features(avg, tea), ty),
         'base, flip-avg embeddings': retrieval_metrics(
             torch.nn.functional.normalize(torch.from_numpy(embed_features(base, te0) + embed_features(base, te1)), dim=1).numpy(), ty)}
    print(seed, {k: (round(v['top1'], 4), round(v['map_at_r'], 4)) for k, v in r.items()}, flush=True)
