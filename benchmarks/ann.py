"""FLAT vs IVF_FLAT vs HNSW on a Milvus server (issue 30 item 4; chapter 14's index choice).

    nice -n 10 python benchmarks/ann.py --rows 100000 --out ann_1e5   # dry run, ~5 minutes
    nice -n 10 python benchmarks/ann.py --rows 1000000                 # ~1 hour on 2 shared cores

Starts its own `milvus-server --data DIR` (the server-tests extra; nice -n 5, in a process group of
its own, stopped by that group's id at exit), so nothing else may hold port 19530. Data: real
image features replicated with noise, not uniform random vectors (they make ANN look worse than it
is): the 10,000 Fashion-MNIST training images' EfficientNet-Lite0 features (the feature cache;
extracted if missing), reduced to 512-d by PCA and normalised, each repeated rows/10,000 times
with Gaussian noise whose norm is the median distance from a real image to its nearest other
image; queries are fresh noisy copies of random images (not in the gallery). Exact top-10 by a
float32 scan (faiss IndexFlatIP).

One collection, filled once; for each index type in turn: drop the index, build it (timed until
every row is indexed), load, then per search setting: recall@10 against the exact top-10, queries/s
with 1 and with 8 concurrent clients (one query per request, Bounded consistency: the engine's
cost), and 1 client with Strong (what imgsim's collections ask, ~0.2 s a read on a default server).
Server memory: the resident memory of every process in the server's group, loaded, and its peak
(sampled every 0.5 s) while building. Writes results/<out>.json.
"""
import argparse, json, os, signal, subprocess, sys, tempfile, threading, time, urllib.request, warnings
from pathlib import Path
import numpy as np
warnings.simplefilter('ignore')
os.environ.setdefault('GRPC_VERBOSITY', 'ERROR')
sys.path.insert(0, str(Path(__file__).resolve().parent))
RESULTS = Path(__file__).resolve().parent/'results'
URI, HEALTH = 'http://127.0.0.1:19530', 'http://127.0.0.1:9091/healthz'
NAME = 'imgsim_ann_bench'

def cpu_name()->str:
    out = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
    return next((l.split(':', 1)[1].strip() for l in out.splitlines() if l.startswith('Model name')), '?')

# ---- data ------------------------------------------------------------------------------------
def real_features()->np.ndarray:
    "The 10,000 Fashion-MNIST training images' EfficientNet-Lite0 features (1280-d)."
    import torch
    torch.set_num_threads(2)
    from train_quality import subset
    from imgsim.data import FASHION_MNIST_DIR
    from imgsim.model import load_backbone
    from imgsim.extraction import extract_features
    features, _ = extract_features(subset('train', 10_000, FASHION_MNIST_DIR),
                                   load_backbone('efficientnet_lite0'), progress=False)
    return features.astype(np.float32)

def unit(x): return x / np.linalg.norm(x, axis=1, keepdims=True)

def make_data(rows:int, queries:int, dim:int=512, seed:int=0):
    "(gallery, queries, facts): noisy copies of real features reduced to `dim` by PCA."
    import faiss
    base = real_features()
    centred = base - base.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    base = unit(centred @ vt[:dim].T).astype(np.float32)
    index = faiss.IndexFlatIP(dim); index.add(base)
    sims, _ = index.search(base, 2)
    nn = float(np.median(np.sqrt(np.maximum(0, 2 - 2 * sims[:, 1]))))  # nearest other image
    sigma = nn / np.sqrt(dim)
    rng = np.random.default_rng(seed)
    gallery = np.empty((rows, dim), np.float32)
    for s in range(0, rows, 100_000):
        m = min(100_000, rows - s)
        gallery[s:s + m] = unit(base[np.arange(s, s + m) % len(base)]
                                + rng.standard_normal((m, dim), np.float32) * sigma)
    q = unit(base[rng.integers(0, len(base), queries)] + rng.standard_normal((queries, dim), np.float32) * sigma)
    return gallery, q.astype(np.float32), {'real_images': len(base), 'copies_each': rows / len(base),
                                           'median_nn_distance': round(nn, 4), 'noise_sigma': round(float(sigma), 5)}

def exact(gallery, queries, k=10):
    import faiss
    faiss.omp_set_num_threads(2)
    index = faiss.IndexFlatIP(gallery.shape[1]); index.add(gallery)
    return index.search(queries, k)[1]

def recall(found, truth)->float:
    return float(np.mean([len(set(a) & set(b)) / truth.shape[1] for a, b in zip(found, truth)]))

# ---- the server --------------------------------------------------------------------------------
class Server:
    "milvus-server in a process group of its own; `rss_gb` of the group; `stop` by the group's id."
    def __init__(self, data:Path):
        if self._healthy(): raise SystemExit("a Milvus server already answers on 9091/19530: stop it first")
        self.log = open(data/'server.log', 'w')
        self.proc = subprocess.Popen(['nice', '-n', '5', 'milvus-server', '--data', str(data/'milvus')],
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.pgid = self.proc.pid
        deadline = time.time() + 300
        while not self._healthy():
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop(); raise SystemExit(f"milvus-server did not become healthy (log: {data/'server.log'})")
            time.sleep(2)

    @staticmethod
    def _healthy()->bool:
        try: urllib.request.urlopen(HEALTH, timeout=2); return True
        except OSError: return False

    def rss_gb(self)->float:
        total = 0
        for pid in os.listdir('/proc'):
            if not pid.isdigit(): continue
            try:
                stat = Path(f'/proc/{pid}/stat').read_text()
                if int(stat.rsplit(')', 1)[1].split()[2]) != self.pgid: continue  # field 5: pgrp
                total += next(int(l.split()[1]) for l in Path(f'/proc/{pid}/status').read_text().splitlines()
                              if l.startswith('VmRSS:'))
            except (OSError, StopIteration, ValueError): pass
        return total / 2**20

    def stop(self):
        if self.proc.poll() is not None and not self.rss_gb(): return
        try: os.killpg(self.pgid, signal.SIGTERM)
        except ProcessLookupError: return
        for _ in range(60):
            if self.proc.poll() is not None and not self.rss_gb(): return
            time.sleep(0.5)
        try: os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError: pass
        self.proc.wait()

class Peak:
    "The peak of f() sampled every 0.5 s in a thread, while in the `with` block."
    def __init__(self, f): self.f, self.peak, self.done = f, 0.0, threading.Event()
    def __enter__(self):
        self.thread = threading.Thread(target=self._run, daemon=True); self.thread.start(); return self
    def _run(self):
        while not self.done.is_set(): self.peak = max(self.peak, self.f()); self.done.wait(0.5)
    def __exit__(self, *_): self.done.set(); self.thread.join()

# ---- Milvus --------------------------------------------------------------------------------------
def client():
    from pymilvus import MilvusClient
    return MilvusClient(URI, dedicated=True)

def fill(c, gallery, batch=10_000)->float:
    "The collection, created afresh and filled with `gallery` (ids 0..n-1), flushed: seconds."
    from pymilvus import DataType
    if c.has_collection(NAME): c.drop_collection(NAME)
    schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field('id', DataType.INT64, is_primary=True)
    schema.add_field('embedding', DataType.FLOAT_VECTOR, dim=gallery.shape[1])
    c.create_collection(NAME, schema=schema, consistency_level='Strong')
    t = time.perf_counter()
    for s in range(0, len(gallery), batch):
        c.insert(NAME, [{'id': i, 'embedding': v} for i, v in enumerate(gallery[s:s + batch], s)])
    c.flush(NAME)
    return time.perf_counter() - t

def build(c, kind:str, params:dict, rows:int)->tuple[float, dict]:
    "Index `kind` built with `params` (nested, as imgsim passes them) on every row: (seconds, as described)."
    c.release_collection(NAME)
    for existing in c.list_indexes(NAME): c.drop_index(NAME, existing)
    p = c.prepare_index_params()
    p.add_index('embedding', index_type=kind, metric_type='IP', params={'params': params})
    t = time.perf_counter()
    c.create_index(NAME, p)
    while True:
        d = c.describe_index(NAME, 'embedding')
        if d.get('indexed_rows', 0) >= rows and not d.get('pending_index_rows', 0): break
        if str(d.get('state', '')).lower() == 'failed': raise SystemExit(f"index build failed: {d}")
        time.sleep(1)
    seconds = time.perf_counter() - t
    c.load_collection(NAME)
    return seconds, {k: str(v) for k, v in d.items()}

def ids(hits): return np.array([[h['id'] for h in hs] for hs in hits])

def search_fn(c, search:dict, level:str):
    return lambda q: c.search(NAME, data=q, limit=10, anns_field='embedding', consistency_level=level,
                              search_params={'metric_type': 'IP', 'params': search})

def qps(clients:list, search:dict, queries, level='Bounded')->float:
    "Queries/s with len(clients) concurrent clients, one query per request, `queries` split among them."
    parts = np.array_split(np.arange(len(queries)), len(clients))
    def work(c, part):
        f = search_fn(c, search, level)
        for i in part: f(queries[i:i + 1])
    threads = [threading.Thread(target=work, args=(c, p)) for c, p in zip(clients, parts)]
    t = time.perf_counter()
    for th in threads: th.start()
    for th in threads: th.join()
    return len(queries) / (time.perf_counter() - t)

def main():
    from imgsim.milvus import MILVUS_INDEXES
    p = argparse.ArgumentParser()
    p.add_argument('--rows', type=int, default=1_000_000)
    p.add_argument('--queries', type=int, default=200)
    p.add_argument('--strong-queries', type=int, default=40)
    p.add_argument('--out', default='ann')
    p.add_argument('--data', default=None, help='the server data folder (default: a fresh temporary one, removed)')
    a = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit('stopped (SIGTERM)'))  # so the server is stopped
    t0 = time.time()
    gallery, queries, facts = make_data(a.rows, a.queries)
    truth = exact(gallery, queries)
    print(f"data {gallery.shape}, truth in {time.time() - t0:.0f} s: {facts}", flush=True)
    settings = {'FLAT': [{}],
                'IVF_FLAT': [MILVUS_INDEXES['IVF_FLAT'][1], {'nprobe': 16}, {'nprobe': 128}],
                'HNSW': [MILVUS_INDEXES['HNSW'][1], {'ef': 64}, {'ef': 256}]}
    data = Path(a.data) if a.data else Path(tempfile.mkdtemp(prefix='imgsim-ann-', dir='/tmp'))
    data.mkdir(parents=True, exist_ok=True)
    server = Server(data)
    record = {'command': ' '.join(['python'] + sys.argv), 'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
              'cpu': cpu_name(), 'cores': os.cpu_count(), 'rows': a.rows, 'dim': gallery.shape[1],
              'queries': a.queries, 'data': 'Fashion-MNIST train (10,000 images) EfficientNet-Lite0 features, '
              'PCA to 512-d, normalised, each repeated with Gaussian noise (norm = median nearest-image distance)',
              'data_facts': facts, 'indexes': {}}
    try:
        c = client()
        record['server'] = f"milvus {c.get_server_version()}"
        record['server_rss_gb_empty'] = round(server.rss_gb(), 2)
        with Peak(server.rss_gb) as peak: record['insert_s'] = round(fill(c, gallery), 1)
        record['insert_peak_rss_gb'] = round(peak.peak, 2)
        del gallery
        clients = [client() for _ in range(8)]
        for kind in ['FLAT', 'IVF_FLAT', 'HNSW']:
            build_params = MILVUS_INDEXES[kind][0]
            with Peak(server.rss_gb) as peak: seconds, described = build(c, kind, build_params, a.rows)
            time.sleep(5)
            entry = {'build': build_params, 'build_s': round(seconds, 1), 'described': described,
                     'build_peak_rss_gb': round(peak.peak, 2), 'loaded_rss_gb': round(server.rss_gb(), 2),
                     'search': []}
            print(kind, {k: v for k, v in entry.items() if k != 'search'}, flush=True)
            for search in settings[kind]:
                f = search_fn(c, search, 'Bounded')
                found = np.concatenate([ids(f(queries[s:s + 50])) for s in range(0, len(queries), 50)])
                qps(clients[:1], search, queries[:20])  # warm-up
                row = {'params': search, 'recall_at_10': round(recall(found, truth), 4),
                       'qps_1_client': round(qps(clients[:1], search, queries), 1),
                       'qps_8_clients': round(qps(clients, search, queries), 1),
                       'qps_1_client_strong': round(qps(clients[:1], search, queries[:a.strong_queries], 'Strong'), 2)}
                entry['search'].append(row); print(' ', row, flush=True)
            entry['loaded_rss_gb_after_search'] = round(server.rss_gb(), 2)
            record['indexes'][kind] = entry
        flat = record['indexes']['FLAT']['search'][0]
        for kind in ('IVF_FLAT', 'HNSW'):
            for row in record['indexes'][kind]['search']:
                row['x_flat_1_client'] = round(row['qps_1_client'] / flat['qps_1_client'], 2)
                row['x_flat_8_clients'] = round(row['qps_8_clients'] / flat['qps_8_clients'], 2)
                row['target_met'] = row['recall_at_10'] >= 0.95 and min(row['x_flat_1_client'], row['x_flat_8_clients']) >= 2
        c.drop_collection(NAME)
        for x in clients + [c]: x.close()
    finally:
        server.stop()
        if not a.data: subprocess.run(['rm', '-rf', str(data)])
    record['total_s'] = round(time.time() - t0)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS/f'{a.out}.json').write_text(json.dumps(record, indent=2) + '\n')
    print(json.dumps(record, indent=2))

if __name__ == '__main__': main()
