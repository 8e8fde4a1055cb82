"""Feature extraction speed and accuracy: naive fp32 PyTorch vs imgsim's default fast path.

    python benchmarks/extract_speed.py [--images 192] [--rounds 2]

ResNet-50 at 224 px, end to end from JPEG files on disk (decode, resize, crop, normalise, network),
batch 32. Baseline and candidate run alternately in one process and are reported as a ratio, since
the machine is shared and noisy. ResNet-50 uses random weights here (speed does not depend on them;
ImageNet weights cannot be downloaded on this machine). Accuracy of the fast path against exact fp32
is checked on the bundled sample: per-image cosine and top-10 neighbour overlap, for ResNet-50 and for
EfficientNet-Lite0 with its real ImageNet weights. Also times a cached re-extraction.
"""
import argparse, json, os, platform, sys, tempfile, time, warnings
from multiprocessing import Pool
from pathlib import Path
import numpy as np, torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
warnings.simplefilter('ignore')
from imgsim.data import sample_collection, load_folder, cache_dir
from imgsim.model import load_backbone, Runner, cpu_has_bf16
from imgsim.extraction import extract_features
from imgsim.search import search

def _one_jpeg(job):
    i, source, path = job
    img = Image.open(source).convert('RGB').resize((500, 375), Image.BICUBIC)
    noise = np.random.default_rng(i).integers(0, 24, (375, 500, 3), dtype=np.uint8)
    Image.fromarray(np.clip(np.asarray(img).astype(np.int16) + noise, 0, 255).astype(np.uint8)).save(path, quality=90)

def make_jpegs(folder: Path, n: int):
    "n photo-sized JPEGs (500x375, quality 90) made from upscaled sample images, on every core."
    sample, jobs = sample_collection(), []
    for i in range(n):
        label = sample.label[i % len(sample)]
        (folder/label).mkdir(parents=True, exist_ok=True)
        jobs.append((i, sample.path[(i * 37) % len(sample)], folder/label/f"{i:05d}.jpg"))
    with Pool(os.cpu_count()) as pool: pool.map(_one_jpeg, jobs, chunksize=32)
    return load_folder(folder)

class NaiveDataset(Dataset):
    "The seed's way: PIL open, RGB, torchvision transforms."
    def __init__(self, paths, transform): self.paths, self.transform = paths, transform
    def __len__(self): return len(self.paths)
    def __getitem__(self, i): return self.transform(Image.open(self.paths[i]).convert('RGB'))

@torch.inference_mode()
def naive(table, model):
    from torchvision import transforms as T
    transform = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    device = next(model.parameters()).device
    return np.concatenate([model(x.to(device)).cpu().numpy() for x in DataLoader(NaiveDataset(table.path.tolist(), transform), batch_size=32)])

def timed(f):
    start = time.perf_counter(); out = f(); return out, time.perf_counter() - start

def agreement(a, b):
    "Min and mean cosine between two feature sets of the same images, and their top-10 neighbour overlap."
    a, b = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
    cos, n = (a * b).sum(1), np.arange(len(a))
    (_, ia), (_, ib) = search(a, a, 10, exclude=n), search(b, b, 10, exclude=n)
    overlap = np.mean([len(set(p) & set(q)) / 10 for p, q in zip(ia, ib)])
    return dict(min_cosine=round(float(cos.min()), 5), mean_cosine=round(float(cos.mean()), 6), top10_overlap=round(float(overlap), 4))

def fast_path_agreement(backbone, table):
    "The default path's features against exact fp32 (`agreement`)."
    exact, _ = extract_features(table, Runner(backbone, precision='fp32', engine='torch'), cache=False, progress=False)
    runner = Runner(backbone)
    fast, _ = extract_features(table, runner, cache=False, progress=False)
    return dict(path=repr(runner)) | agreement(exact, fast)

def main():
    parser = argparse.ArgumentParser(); parser.add_argument('--images', type=int, default=192); parser.add_argument('--rounds', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    tmp = Path(tempfile.mkdtemp())
    table = make_jpegs(tmp/'jpegs', args.images)
    resnet = load_backbone('resnet50', weights='random')
    fast_runner = Runner(resnet)
    extract_features(table.iloc[:32], fast_runner, cache=False, progress=False)  # warm up (OpenVINO compiles once)
    resnet_fp32 = load_backbone('resnet50', weights='random').to(fast_runner.device)  # the naive baseline's own copy
    naive(table.iloc[:32], resnet_fp32)
    rates = {'naive_fp32': [], 'default': []}
    for _ in range(args.rounds):
        _, t = timed(lambda: naive(table, resnet_fp32)); rates['naive_fp32'].append(len(table) / t)
        _, t = timed(lambda: extract_features(table, fast_runner, cache=False, progress=False)); rates['default'].append(len(table) / t)
    best = {k: max(v) for k, v in rates.items()}
    # cached re-extraction
    os.environ['IMGSIM_CACHE'] = str(tmp/'cache')
    _, first = timed(lambda: extract_features(table, fast_runner, progress=False))
    _, again = timed(lambda: extract_features(table, fast_runner, progress=False))
    sample = sample_collection()
    result = dict(
        command='python benchmarks/extract_speed.py ' + ' '.join(sys.argv[1:]), date=time.strftime('%Y-%m-%d %H:%M'),
        machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, bf16 units: {cpu_has_bf16()}",
        torch=torch.__version__, images=len(table), image_size='500x375 JPEG', fast_path=repr(fast_runner),
        images_per_second={k: round(v, 1) for k, v in best.items()}, all_rounds={k: [round(x, 1) for x in v] for k, v in rates.items()},
        speedup=round(best['default'] / best['naive_fp32'], 2),
        cached_over_first=round(again / first, 5), cached_seconds=round(again, 4), first_seconds=round(first, 2),
        accuracy={'resnet50 (random weights)': fast_path_agreement(resnet, sample), 'efficientnet_lite0 (ImageNet weights)': fast_path_agreement(load_backbone('efficientnet_lite0'), sample)})
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent/'results'; out.mkdir(exist_ok=True)
    (out/'extract_speed.json').write_text(json.dumps(result, indent=2))

if __name__ == '__main__': main()
