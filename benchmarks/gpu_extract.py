"""GPU extraction: JPEG files decoded on the GPU (nvImageCodec or torchvision's nvJPEG) vs by Pillow in
DataLoader workers, against the network alone; and the agreement of GPU-decoded features with CPU ones.

    python benchmarks/gpu_extract.py [--images 4096] [--rounds 2] [--workers 8] [--out gpu_extract.json]

Speed: ResNet-50 (random weights: speed does not depend on them) at 224 px, batch 256, the Runner's
default precision on CUDA (fp16, channels-last), end to end from 500x375 JPEG files on disk (in the
page cache: the files were just written), through `extract_features(cache=False)`. The same process
measures, alternately, `decoder='device'` with torchvision and with nvImageCodec (where it loads),
with chapter 02's defaults (since 2026-11-28 run 9, 4 workers; 8 before), `decoder='pil'` with
`--workers`, and the network alone on preprocessed batches already on the GPU
(the ceiling). It also times each JPEG library setting (`VARIANTS`: those two, and nvImageCodec with
the hardware engines' share adaptive and with fancy chroma upsampling) decoding alone
(`decode_jpegs` on batches of 256 files already in memory, with the CPU time it took) and asks nvJPEG
whether the GPU's hardware JPEG engines can be used. Targets (issue 14): device decoding >= 5,000 img/s
(goal 9,000).

Agreement (issue 14: top-10 neighbour overlap >= 0.98 on JPEG files): EfficientNet-Lite0 with its
ImageNet weights, against fp32 features (TF32 off) of Pillow-decoded images: the default GPU path
(GPU decoding, fp16) and each library setting's GPU decoding alone (fp32), on two sets: the first 1,024
speed files (with strong added per-pixel colour noise, which is where decoders differ most: nvJPEG's
chroma upsampling and inverse DCT are not libjpeg-turbo's) and the 1,000 sample pictures as clean
224 px JPEG files.
"""
import argparse, json, os, sys, time, warnings
from multiprocessing import Pool
from pathlib import Path
import numpy as np, torch
from PIL import Image
warnings.simplefilter('ignore')
from imgsim.data import sample_collection, load_folder
sys.path.insert(0, str(Path(__file__).resolve().parent))
from extract_speed import make_jpegs, agreement
from imgsim import model, extraction
from imgsim.model import load_backbone, Runner
from imgsim.extraction import extract_features, decode_jpegs

VARIANTS = {  # name: (library, nvImageCodec options, hardware engines' share)
    'torchvision': ('torchvision', '', None), 'nvimgcodec': ('nvimgcodec', '', None),
    'nvimgcodec_adaptive': ('nvimgcodec', '', 0.5),
    'nvimgcodec_fancy': ('nvimgcodec', ':fancy_upsampling=1', None)}

def use(variant:str):
    "Set imgsim's JPEG library settings to `variant`'s."
    extraction.GPU_JPEG_LIBRARY, extraction.NVIMGCODEC_OPTIONS, extraction.NVIMGCODEC_HARDWARE_SHARE = VARIANTS[variant]

def in_batches(items:list, batch=256): return [items[i:i + batch] for i in range(0, len(items), batch)]

def decode_only(data:list, device, batch=256):
    "Decoding alone, batches of files in memory: images/s, and the CPU cores it kept busy."
    batches = in_batches(data, batch)
    def go():
        for b in batches: decode_jpegs(b, device)
    go(); sync(); wall, cpu, thread = time.perf_counter(), time.process_time(), time.thread_time()
    go(); sync(); wall = time.perf_counter() - wall
    return dict(images_per_second=round(len(data) / wall, 1),
                cpu_cores_busy=round((time.process_time() - cpu) / wall, 2),
                calling_thread_busy=round((time.thread_time() - thread) / wall, 2))

def nvjpeg_hardware_status()->dict:
    "nvjpegCreateEx's status with the hardware backend (0: the JPEG engines can be used; 7: none)."
    import ctypes, glob
    found = {p for d in sys.path for p in glob.glob(f'{d}/nvidia/cu1*/lib/libnvjpeg.so.*')
             + glob.glob(f'{d}/torchvision.libs/libnvjpeg*.so*')}
    status = {}
    for path in sorted(found):
        try:
            handle = ctypes.c_void_p()
            status[path] = ctypes.CDLL(path).nvjpegCreateEx(3, None, None, 0, ctypes.byref(handle))
        except OSError as e: status[path] = str(e)
    return status

def make_clean_jpegs(folder:Path):
    "The 1,000 sample pictures as 224x224 JPEG files (quality 90), without added noise."
    sample = sample_collection(); jobs = []
    for i, (path, label) in enumerate(zip(sample.path, sample.label)):
        (folder/label).mkdir(parents=True, exist_ok=True); jobs.append((path, folder/label/f"{i:05d}.jpg"))
    with Pool(os.cpu_count()) as pool: pool.map(_clean_jpeg, jobs, chunksize=32)
    return load_folder(folder)

def _clean_jpeg(job):
    Image.open(job[0]).convert('RGB').resize((224, 224), Image.BICUBIC).save(job[1], quality=90)

def sync():
    if torch.cuda.is_available(): torch.cuda.synchronize()

def rate(f, n):
    sync(); start = time.perf_counter(); f(); sync()
    return n / (time.perf_counter() - start)

def network_only(runner, batches=16, batch=256):
    images = torch.randn(batch, 3, 224, 224, device=runner.device)
    if runner.device.type == 'cpu': batches, images = 1, images[:32]
    def go():
        for _ in range(batches): runner(images)
    go(); return rate(go, batches * len(images))

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--images', type=int, default=4096); p.add_argument('--rounds', type=int, default=2)
    p.add_argument('--workers', type=int, default=8, help="Pillow's"); p.add_argument('--out', default='gpu_extract.json')
    p.add_argument('--device', default='cuda', help="cpu: a quick check of the script itself")
    a = p.parse_args()
    tmp = Path(os.environ.get('TMPDIR', '/tmp'))/'imgsim-gpu-extract'
    t = time.perf_counter(); table = make_jpegs(tmp/'jpegs', a.images); made_s = time.perf_counter() - t
    runner = Runner(load_backbone('resnet50', weights=None), device=a.device)
    variants = [v for v in VARIANTS if VARIANTS[v][0] == 'torchvision' or extraction._nvimgcodec()]
    if a.device != 'cuda': variants = ['torchvision']
    # end to end: the two libraries as they come (the other settings are timed decoding alone)
    paths = {**{f'device_{v}': dict(decoder='device') for v in variants  # chapter 02's workers
                if v in ('torchvision', 'nvimgcodec')},
             f'pil_{a.workers}_workers': dict(decoder='pil', num_workers=a.workers)}
    for v in variants:  # warm-up (cuDNN, each decoder)
        use(v); extract_features(table[:512], runner, cache=False, progress=False, decoder='device')
    rates, errors = {k: [] for k in [*paths, 'network_only']}, {}
    for _ in range(a.rounds):
        for name, kw in paths.items():
            if name.startswith('device_'): use(name[len('device_'):])
            try: rates[name].append(rate(lambda: extract_features(table, runner, cache=False, progress=False, **kw), len(table)))
            except Exception as e: rates[name].append(float('nan')); errors[name] = repr(e)
        rates['network_only'].append(network_only(runner))
        print({k: round(v[-1], 1) for k, v in rates.items()}, flush=True)
    best = {k: round(max(v), 1) for k, v in rates.items()}
    save(a.out, dict(partial='speed only', images_per_second=best, errors=errors))
    files = [Path(p).read_bytes() for p in table.path]
    decoding = {}
    for v in variants:
        use(v)
        try: decoding[v] = decode_only(files, a.device)
        except Exception as e: errors[f'decoding alone {v}'] = repr(e)
    print('decoding alone', decoding, flush=True)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False  # fp32 references are fp32
    effnet, agree = load_backbone('efficientnet_lite0'), {}
    clean = make_clean_jpegs(tmp/'clean')
    for name, part in (('noisy 500x375 files (the first 1,024)', table[:1024 if a.device == 'cuda' else 64]),
                       ('clean 224x224 files (1,000 sample pictures, no added noise)', clean[:1000 if a.device == 'cuda' else 64])):
        exact = Runner(effnet, device=a.device, precision='fp32', engine='torch')
        reference, kept_ref = extract_features(part, exact, cache=False, progress=False, decoder='pil')
        extraction.GPU_JPEG_LIBRARY, extraction.NVIMGCODEC_OPTIONS, extraction.NVIMGCODEC_HARDWARE_SHARE = 'auto', '', None
        fast, kept = extract_features(part, effnet, device=a.device, cache=False, progress=False, decoder='device')
        agree[name] = {'same_rows': kept.path.tolist() == kept_ref.path.tolist(),
                       'default_gpu_path_vs_pil_fp32': agreement(fast, reference)}
        for v in variants:
            use(v)
            try: decoded32, _ = extract_features(part, exact, cache=False, progress=False, decoder='device')
            except Exception as e: errors[f'agreement {v}'] = repr(e); continue
            agree[name][f'gpu_decoding_alone_fp32_{v}'] = agreement(decoded32, reference)
        print(name, agree[name], flush=True)
    result = dict(command='python benchmarks/gpu_extract.py ' + ' '.join(sys.argv[1:]), date=time.strftime('%Y-%m-%d %H:%M'),
                  gpu=torch.cuda.get_device_name() if a.device == 'cuda' else 'none (CPU check)', cpu_cores=os.cpu_count(), torch=torch.__version__,
                  images=len(table), image_size='500x375 JPEG, quality 90', runner=repr(runner), batch=256,
                  making_files_s=round(made_s, 1), images_per_second=best, all_rounds={k: [round(x, 1) for x in v] for k, v in rates.items()},
                  default_jpeg_library=extraction.jpeg_library(a.device), nvjpeg_hardware_status=nvjpeg_hardware_status(),
                  device_over_pil={k[7:]: round(v / best[f'pil_{a.workers}_workers'], 2) for k, v in best.items() if k.startswith('device_')},
                  device_over_network={k[7:]: round(v / best['network_only'], 3) for k, v in best.items() if k.startswith('device_')},
                  decoding_alone=decoding, errors=errors,
                  agreement=agree)
    print(json.dumps(result, indent=2)); save(a.out, result)

def save(name, result):
    out = Path(__file__).parent/'results'; out.mkdir(exist_ok=True)
    (out/name).write_text(json.dumps(result, indent=2))

if __name__ == '__main__': main()
