"""CUDA checks for the chapters that have no `#| gpu` cells of their own (search, run, service), and
the full fine-tuning speed on the GPU. Run by benchmarks/gpu_check.sh; prints and writes JSON.

    python benchmarks/gpu_smoke.py OUT.json [--checks search,runs,speed] [--device cpu]   # cpu: a check of the script

1. `search(device='cuda')` returns exactly the CPU's exact (fp32) top-k, with and without `exclude`.
2. A run built on CUDA (light, then full mode through `build_run`), embedded through `Run(device=...)`
   and the service (`Service.prepare` + `Service.embed`) on CUDA and on the CPU: cosine >= 0.999.
3. Full fine-tuning of efficientnet_lite0 at 224 px: training images/s (the time of 40 batches minus
   the time of 10, so probe, validation and start-up costs cancel), with the loaders' uint8 batches
   normalised on the GPU (the default) and with float32 batches (as before), in one process; then
   its two halves apart, to say which one limits it: the loader alone (12 workers decoding and
   augmenting, batches pinned) and the GPU step alone (forward, triplet loss, backward and AdamW on
   one uint8 batch already on the GPU). Target: >= 2,000 images/s.
"""
import json, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, torch
from PIL import Image
warnings.simplefilter('ignore')
from imgsim.data import sample_collection, split_by_image
from imgsim.model import load_backbone
from imgsim.train import TrainConfig, train_head, train_full
from imgsim.search import search
from imgsim.pipeline import build_run
from imgsim.run import Run
from imgsim.service import Service, ServiceConfig
DEVICE = 'cpu' if '--device' in sys.argv and sys.argv[sys.argv.index('--device') + 1] == 'cpu' else 'cuda'

def check_search():
    rng = np.random.default_rng(0)
    unit = lambda n: (lambda x: x / np.linalg.norm(x, axis=1, keepdims=True))(rng.standard_normal((n, 256)).astype(np.float32))
    gallery, queries = unit(20_000), unit(500)
    out = {}
    for name, exclude in (('plain', None), ('exclude', np.arange(500))):
        s_gpu, i_gpu = search(queries, gallery, 10, exclude=exclude, device=DEVICE)
        s_cpu, i_cpu = search(queries, gallery, 10, exclude=exclude, device='cpu', shortlist='off')
        out[name] = dict(same_positions=float((i_gpu == i_cpu).mean()), max_score_error=float(np.abs(s_gpu - s_cpu).max()))
    return out

def cosine(a, b): return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())

def check_runs(tmp):
    out, paths = {}, sample_collection().path[:16]
    pictures = [Image.open(p).convert('RGB') for p in paths]
    for mode in ('light', 'full'):
        config = TrainConfig(mode=mode, epochs=2, device=DEVICE, probe_epochs=5, batches_per_epoch=None if DEVICE == 'cuda' else 2)
        build_run(sample_collection(), tmp/mode, 'efficientnet_lite0', config, progress=False)
        on_cpu, on_gpu = Run(tmp/mode, device='cpu'), Run(tmp/mode, device=DEVICE)
        service = Service(ServiceConfig(run_dir=tmp/mode, device=DEVICE))
        via_service = service.embed([service.prepare(Path(p).read_bytes(), p) for p in paths]); service.close()
        exact = on_cpu.embed_images(pictures)
        out[mode] = dict(run_min_cosine=cosine(on_gpu.embed_images(pictures), exact), service_min_cosine=cosine(via_service, exact),
                         finetuned_backbone_kept=on_gpu._backbone_state is not None, metrics=on_gpu.meta.get('metrics'))
    return out

def full_speed():
    "Training images/s of the default (uint8 batches, normalised on the GPU) and of float32 batches (before)."
    import imgsim.train as train_module
    from imgsim.data import train_transform
    table = sample_collection()
    train, val = split_by_image(table, 0.2, seed=0)
    float_batches = lambda *a, **k: train_transform(*a, **(k | {'normalize': True}))
    result = {}
    for variant, transform in (('uint8', train_transform), ('float32', float_batches)):
        train_module.train_transform, times = transform, {}
        for name, batches in (('warm-up', 3), (10, 10), (40, 40)):  # the warm-up fills the feature cache, cuDNN's choices
            config = TrainConfig(mode='full', epochs=1, p=10, k=26, batches_per_epoch=batches, device=DEVICE, probe_epochs=1)
            start = time.perf_counter(); train_full(train, val, 'efficientnet_lite0', config, num_workers=12, progress=False)
            times[name] = time.perf_counter() - start
        result[variant] = dict(seconds=times, train_images_per_second=round(30 * 260 / (times[40] - times[10]), 1))
    train_module.train_transform = train_transform
    result['parts'] = parts_of_training(train)
    return dict(images_per_batch=260, **result, uint8_vs_float32=round(result['uint8']['train_images_per_second'] / result['float32']['train_images_per_second'], 3))

def parts_of_training(train, batches=30, workers=12):
    "Images/s of full fine-tuning's loader alone and of its GPU step alone (batches of 10 x 26)."
    from imgsim.data import train_transform, PKSampler
    from imgsim.model import EmbeddingHead
    from imgsim.train import _image_loader, _forward_images, _finetunable, _optimizer, TripletLoss
    device, config = torch.device(DEVICE), TrainConfig(mode='full', p=10, k=26, device=DEVICE)
    codes = __import__('pandas').factorize(train.label)[0]
    sampler = PKSampler(codes, config.p, config.k, batches + 1, seed=0)
    loader = iter(_image_loader(train, train_transform(224, strength=config.augment, normalize=False),
                                device, workers, batch_sampler=sampler))
    first = next(loader)  # the workers have started
    start = time.perf_counter(); n = sum(len(images) for images, *_ in loader)
    loader_rate = n / (time.perf_counter() - start)
    backbone = load_backbone('efficientnet_lite0')
    net = _finetunable(backbone, EmbeddingHead(backbone.spec.feature_dim), config, device)
    forward, criterion, optimizer = _forward_images(net, device), TripletLoss(), _optimizer(net, net.head, config)
    images, labels = first[0].to(device), torch.as_tensor(codes[first[1]], device=device)
    def step():
        loss, _ = criterion(forward(images), labels)
        optimizer.zero_grad(set_to_none=True); loss.backward(); optimizer.step(); loss.item()
    for _ in range(3): step()
    if DEVICE == 'cuda': torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(batches if DEVICE == 'cuda' else 2): step()
    step_rate = (batches if DEVICE == 'cuda' else 2) * len(images) / (time.perf_counter() - start)
    return dict(loader_alone_images_per_second=round(loader_rate, 1), gpu_step_alone_images_per_second=round(step_rate, 1),
                batch_dtype=str(first[0].dtype), batch_shape=list(first[0].shape))

def main():
    assert DEVICE == 'cpu' or torch.cuda.is_available(), "no CUDA GPU"
    tmp = Path(tempfile.mkdtemp())
    result = dict(gpu=torch.cuda.get_device_name() if DEVICE == 'cuda' else 'none (CPU check)', torch=torch.__version__, date=time.strftime('%Y-%m-%d %H:%M'))
    checks = {'search': check_search, 'runs': lambda: check_runs(tmp), 'speed': full_speed}
    chosen = sys.argv[sys.argv.index('--checks') + 1].split(',') if '--checks' in sys.argv else ['search', 'runs', 'speed'][:2 if DEVICE == 'cpu' else 3]
    for name, check in ((n, checks[n]) for n in chosen):
        try: result[name] = check()
        except Exception as e: result[name] = f"FAILED: {type(e).__name__}: {e}"
        print(name, json.dumps(result[name], default=str), flush=True)
    Path(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith('--') else 'gpu_smoke.json').write_text(json.dumps(result, indent=2, default=str))

if __name__ == '__main__': main()
