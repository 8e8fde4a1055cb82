"""Latency and throughput of the imgsim web service (imgsim.api) over loopback.

    python benchmarks/api_load.py                                  # EfficientNet-Lite0, batching off and on
    python benchmarks/api_load.py --backbone resnet50 --max-batch 1

For each backbone: builds (once, under --work) a run whose gallery is 10,000 rows (random unit-vector
embeddings, table rows pointing at the bundled sample images: the search cost is what matters), then
for each --max-batch starts `uvicorn imgsim.api:app` in a subprocess on 127.0.0.1 and measures:

- latency: --requests sequential POST /search (one 224-px JPEG, k=10) from one client: p50, p99;
- throughput: N concurrent clients (--clients) for --seconds each, counting 5xx and dropped
  connections (transport errors).

The load generator (httpx, asyncio) runs on the same machine as the server and takes some of its CPU.
Results are merged into benchmarks/api_results.json (keyed by backbone and max_batch).
"""
import argparse, asyncio, json, os, platform, socket, subprocess, sys, time
from io import BytesIO
from pathlib import Path
import httpx, numpy as np

HOST = '127.0.0.1'  # loopback only


def make_run(folder:Path, backbone_name:str, n:int=10_000):
    "A run with a briefly trained head and an n-row gallery of random unit vectors over the sample images."
    if (folder/'manifest.json').exists(): return folder
    import torch
    from imgsim.data import sample_collection, split_by_image
    from imgsim.model import load_backbone
    from imgsim.extraction import extract_features
    from imgsim.run import save_run
    from imgsim.train import train_head, TrainConfig
    sample = sample_collection()
    backbone = load_backbone(backbone_name, weights='imagenet' if backbone_name == 'efficientnet_lite0' else None)
    features, table = extract_features(sample.iloc[:200], backbone, progress=False)
    train, val = split_by_image(table, 0.2, seed=0)
    result = train_head(features[train.index], train.label, features[val.index], val.label, TrainConfig(epochs=1), progress=False)
    rng = np.random.default_rng(0)
    embeddings = rng.standard_normal((n, 512)).astype(np.float32); embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    rows = np.arange(n) % len(sample)
    gallery = sample.iloc[rows].reset_index(drop=True)  # the store allocates ids 0..n-1
    save_run(folder, result, backbone, embeddings, gallery)
    return folder


def query_jpeg()->bytes:
    "A 224 x 224 JPEG made from a sample image."
    from PIL import Image
    from imgsim.data import sample_collection
    buf = BytesIO(); Image.open(sample_collection().path[0]).convert('RGB').resize((224, 224)).save(buf, 'JPEG', quality=90)
    return buf.getvalue()


def free_port()->int:
    with socket.socket() as s: s.bind((HOST, 0)); return s.getsockname()[1]


def start_server(run:Path, max_batch:int):
    port = free_port()
    env = os.environ | {'IMGSIM_RUN': str(run), 'IMGSIM_MAX_BATCH': str(max_batch)}
    env.pop('IMGSIM_API_KEY', None); env.pop('IMGSIM_SEARCH_REQUIRES_KEY', None)
    proc = subprocess.Popen([sys.executable, '-m', 'uvicorn', 'imgsim.api:app', '--host', HOST, '--port', str(port), '--log-level', 'warning'], env=env)
    url = f"http://{HOST}:{port}"
    for _ in range(600):
        if proc.poll() is not None: raise RuntimeError(f"the server exited with status {proc.returncode}")
        try:
            if httpx.get(url + '/health', timeout=2).status_code == 200: return proc, url
        except httpx.TransportError: pass
        time.sleep(0.2)
    proc.kill(); raise RuntimeError("the server did not start in 120 s")


async def client_loop(client, url, image, until, limit, stats):
    while time.perf_counter() < until and stats['sent'] < limit:
        stats['sent'] += 1; start = time.perf_counter()
        try:
            r = await client.post(url + '/search', params={'k': 10}, files={'file': ('query.jpg', image, 'image/jpeg')})
            stats['latencies'].append(time.perf_counter() - start)
            stats['status'][r.status_code] = stats['status'].get(r.status_code, 0) + 1
        except httpx.TransportError as e:
            stats['dropped'] += 1; stats['errors'].append(type(e).__name__)


async def load(url:str, image:bytes, clients:int, seconds:float, limit:int=10**9)->dict:
    "`clients` concurrent clients, each posting one search after another, for `seconds` (or `limit` requests in all)."
    assert url.startswith(f"http://{HOST}:"), "loopback only"
    stats = {'sent': 0, 'latencies': [], 'status': {}, 'dropped': 0, 'errors': []}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        start = time.perf_counter()
        await asyncio.gather(*(client_loop(client, url, image, start + seconds, limit, stats) for _ in range(clients)))
        elapsed = time.perf_counter() - start
    ms = np.array(stats['latencies']) * 1000
    ok = stats['status'].get(200, 0)
    return {'clients': clients, 'seconds': round(elapsed, 1), 'requests': stats['sent'], 'ok': ok,
            'status': {str(k): v for k, v in sorted(stats['status'].items())}, 'server_errors_5xx': sum(v for k, v in stats['status'].items() if k >= 500),
            'dropped_connections': stats['dropped'], 'throughput_rps': round(ok / elapsed, 2),
            'p50_ms': round(float(np.percentile(ms, 50)), 1), 'p90_ms': round(float(np.percentile(ms, 90)), 1),
            'p99_ms': round(float(np.percentile(ms, 99)), 1), 'max_ms': round(float(ms.max()), 1)}


def bench(backbone:str, max_batch:int, args, image:bytes)->dict:
    run = make_run(Path(args.work)/f"{backbone}-{args.gallery}", backbone, args.gallery)
    proc, url = start_server(run, max_batch)
    try:
        health = httpx.get(url + '/health').json()
        asyncio.run(load(url, image, 1, 60, limit=args.warmup))  # warm up
        latency = asyncio.run(load(url, image, 1, 600, limit=args.requests))
        print(f"{backbone} max_batch={max_batch} latency: {latency}", flush=True)
        runs = []
        for clients in args.clients:
            runs.append(asyncio.run(load(url, image, clients, args.seconds if clients > 1 else args.single_seconds)))
            print(f"{backbone} max_batch={max_batch} {clients} clients: {runs[-1]}", flush=True)
    finally:
        proc.terminate(); proc.wait(30)
    return {'backbone': backbone, 'max_batch': max_batch, 'gallery_size': health['gallery_size'], 'engine': health['engine'],
            'device': health['device'], 'latency': latency, 'load': runs}


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--backbone', nargs='+', default=['efficientnet_lite0'])
    p.add_argument('--max-batch', nargs='+', type=int, default=[1, 8])
    p.add_argument('--clients', nargs='+', type=int, default=[1, 8])
    p.add_argument('--seconds', type=float, default=60, help="duration of each multi-client load")
    p.add_argument('--single-seconds', type=float, default=30, help="duration of the single-client load")
    p.add_argument('--requests', type=int, default=300, help="sequential requests for the latency figures")
    p.add_argument('--warmup', type=int, default=20)
    p.add_argument('--gallery', type=int, default=10_000)
    p.add_argument('--work', default='/tmp/imgsim-bench')
    p.add_argument('--out', default=str(Path(__file__).parent/'api_results.json'))
    args = p.parse_args()
    image = query_jpeg()
    out = Path(args.out); results = json.loads(out.read_text()) if out.exists() else {}
    written = set()
    for backbone in args.backbone:
        for max_batch in args.max_batch:  # repeat a value (--max-batch 1 8 1 8) for an interleaved A/B comparison
            result = bench(backbone, max_batch, args, image)
            result['machine'] = {'cpus': os.cpu_count(), 'processor': platform.processor() or platform.machine(), 'python': platform.python_version()}
            result['command'] = ' '.join(['python'] + sys.argv)
            key = f"{backbone}/max_batch={max_batch}"
            key = next(f"{key}#{i}" if i > 1 else key for i in range(1, 100) if (f"{key}#{i}" if i > 1 else key) not in written)
            results[key] = result; written.add(key)
            out.write_text(json.dumps(results, indent=1))


if __name__ == '__main__': main()
