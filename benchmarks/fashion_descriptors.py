"""Which input scale suits Fashion-MNIST's 28-px pictures? Descriptors for the head (issue 33).

    python benchmarks/fashion_descriptors.py [--train 10000] [--test 5000] [--seeds 0 1]
                                             [--scales 1 0.5 0.7071 1.4142 multi] [--threads 1]
                                             [--out fashion_descriptors.json]

EfficientNet-Lite0 (ImageNet) features of stratified, seeded Fashion-MNIST subsets, each with
`Descriptor(scales=...)` (chapter 01): one scale (a multiple of the backbone's 224 px), or `multi`
(`MULTI_SCALE`: 1/√2, 1, √2, summed). Per seed, the default head (`TrainConfig(seed=seed)`) trains
on 90% of the training subset (10% picks the epoch); the test subset is scored leave-one-out among
itself (issue 33's protocol) and against the training subset; frozen features leave-one-out too.
"""
import argparse, json, subprocess, sys, time, warnings
from pathlib import Path
import numpy as np, torch, torch.nn.functional as F
warnings.simplefilter('ignore')
sys.path.insert(0, str(Path(__file__).parent))
from train_quality import subset
from imgsim.data import split_by_image, FASHION_MNIST_DIR
from imgsim.model import load_backbone, embed_features, Descriptor, MULTI_SCALE
from imgsim.extraction import extract_features
from imgsim.train import train_head, TrainConfig
from imgsim.evaluation import retrieval_metrics

def cpu()->str:
    lines = subprocess.run(['lscpu'], capture_output=True, text=True).stdout.splitlines()
    return next((l.split(':', 1)[1].strip() for l in lines if l.startswith('Model name')), '?')

def scores(m): return {k: round(m[k], 4) for k in ('top1', 'map_at_r')}

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--train', type=int, default=10000); p.add_argument('--test', type=int, default=5000)
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1]); p.add_argument('--threads', type=int, default=1)
    p.add_argument('--scales', nargs='+', default=['1', '0.5', '0.7071', '1.4142', 'multi'])
    p.add_argument('--out', default='fashion_descriptors.json')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    start, backbone = time.time(), load_backbone('efficientnet_lite0')
    train, test = subset('train', a.train, FASHION_MNIST_DIR), subset('test', a.test, FASHION_MNIST_DIR)
    result = {}
    for name in a.scales:
        descriptor = Descriptor(scales=MULTI_SCALE if name == 'multi' else (float(name),))
        t0 = time.time()
        train_f, tr = extract_features(train, backbone, descriptor=descriptor, progress=False)
        test_f, te = extract_features(test, backbone, descriptor=descriptor, progress=False)
        found = {'extraction_seconds': round(time.time() - t0),
                 'frozen_leave_one_out': scores(retrieval_metrics(F.normalize(torch.from_numpy(test_f), dim=1).numpy(), te.label))}
        for seed in a.seeds:
            fit, val = split_by_image(tr, 0.1, seed=seed)
            head = train_head(train_f[fit.index], fit.label, train_f[val.index], val.label, TrainConfig(seed=seed), progress=False).head
            q, g = embed_features(head, test_f), embed_features(head, train_f)
            found[f'head seed {seed}'] = {'leave_one_out': scores(retrieval_metrics(q, te.label)),
                                          'vs_train_gallery': scores(retrieval_metrics(q, te.label, g, tr.label))}
        found['head mean leave_one_out top1'] = round(float(np.mean([found[f'head seed {s}']['leave_one_out']['top1'] for s in a.seeds])), 4)
        result[name] = found
        print(name, json.dumps(found), flush=True)
    out = {'command': 'python benchmarks/fashion_descriptors.py ' + ' '.join(sys.argv[1:]), 'date': time.strftime('%Y-%m-%d %H:%M'),
           'cpu': cpu(), 'seconds': round(time.time() - start), 'train': len(train), 'test': len(test), 'results': result}
    (Path(__file__).parent/'results'/a.out).write_text(json.dumps(out, indent=1))

if __name__ == '__main__': main()
