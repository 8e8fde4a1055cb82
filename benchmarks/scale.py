"""Scaling out (chapters 14 and 15): Ray's overhead, Milvus Lite's approximate index vs FLAT vs our exact
search, and a sizing table for 10^8 and 10^9 images from the measured figures.

    nice -n 10 python benchmarks/scale.py ray --images 2000        # Ray vs single process
    nice -n 15 python benchmarks/scale.py milvus --rows 1000000    # HNSW, IVF_FLAT vs FLAT vs imgsim.search
    python benchmarks/scale.py sizing                              # the table, from measured figures

Each part writes benchmarks/results/scale_<part>.json. The Milvus figures are Milvus Lite's (the
embedded engine, in this process, on this machine), not a Milvus server's.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, pandas as pd, torch
warnings.simplefilter('ignore')
sys.path.insert(0, str(Path(__file__).resolve().parent))
from extract_speed import make_jpegs
from imgsim.model import EmbeddingHead, load_backbone, embed_features, Runner
from imgsim.extraction import extract_features
from imgsim.train import TrainConfig, TrainResult
from imgsim.run import save_run, Run
from imgsim.search import search
from imgsim.milvus import milvus_client, MILVUS_INDEXES
from imgsim.distributed import embed_with_ray, read_shard

RESULTS = Path(__file__).resolve().parent/'results'

def cpu_name()->str:
    out = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
    return next((l.split(':', 1)[1].strip() for l in out.splitlines() if l.startswith('Model name')), '?')

def save(part:str, record:dict, tag:str=''):
    record = {'command': ' '.join(['python'] + sys.argv), 'date': time.strftime('%Y-%m-%d'),
              'cpu': cpu_name(), 'cores': os.cpu_count()} | record
    RESULTS.mkdir(exist_ok=True)
    (RESULTS/f'scale_{part}{tag and "_" + tag}.json').write_text(json.dumps(record, indent=2))
    print(json.dumps(record, indent=2))

# ---- Ray overhead ------------------------------------------------------------------------------
def resnet_run(folder:Path)->Path:
    "A run with a random-init ResNet-50 and an untrained (seeded) head: speed needs no training."
    torch.manual_seed(0)
    backbone, head = load_backbone('resnet50', weights=None), EmbeddingHead(2048, 512).eval()
    result = TrainResult(head, pd.DataFrame({'loss': [0.0]}), TrainConfig(epochs=1), 1, 0.0)
    save_run(folder, result, backbone, np.zeros((1, 512), np.float32), pd.DataFrame({'path': ['x'], 'label': ['x']}))
    return folder

def bench_ray(n:int, shard_rows:int):
    import ray
    work = Path(tempfile.mkdtemp(prefix='imgsim-scale-'))
    try:
        table = make_jpegs(work/'jpegs', n); run = Run(resnet_run(work/'run'))
        single_runner = run.runner
        extract_features(table[:64], single_runner, cache=False, progress=False)  # warm-up
        start = time.perf_counter()
        features, _ = extract_features(table, single_runner, cache=False, progress=False)
        single_s = time.perf_counter() - start
        single = embed_features(run.head, features)
        t0 = time.perf_counter(); ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        init_s, done = time.perf_counter() - t0, []
        try:
            t1 = time.perf_counter()
            shards = embed_with_ray(run.folder, table, work/'shards', shard_rows=shard_rows,
                                    on_shard=lambda s: done.append(time.perf_counter()))
            total_s = time.perf_counter() - t1
        finally: ray.shutdown()
        ray_emb = np.concatenate([read_shard(s)[0] for s in shards])
        cosine = (ray_emb * single).sum(1) / np.linalg.norm(ray_emb, axis=1) / np.linalg.norm(single, axis=1)
        actors = os.cpu_count()
        # steady state: from the first round of shards finishing (one per actor) to the last one
        steady_rows, steady_s = n - actors * shard_rows, done[-1] - done[actors - 1]
        ray_ips, single_ips = steady_rows / steady_s, n / single_s
        save('ray', {'images': n, 'jpeg': '500x375 q90', 'backbone': 'resnet50 (random init)',
                     'runner': repr(single_runner), 'shard_rows': shard_rows, 'actors': actors,
                     'single_process_img_s': round(single_ips, 2), 'ray_steady_img_s': round(ray_ips, 2),
                     'steady_ratio': round(ray_ips / single_ips, 3),
                     'ray_init_s': round(init_s, 2), 'ray_first_round_s': round(done[actors - 1] - t1, 2),
                     'ray_total_s': round(total_s, 2), 'ray_end_to_end_img_s': round(n / (init_s + total_s), 2),
                     'min_cosine_vs_single': float(cosine.min()), 'same_rows': len(ray_emb) == len(single)})
    finally: shutil.rmtree(work, ignore_errors=True)

# ---- Milvus Lite: HNSW vs FLAT vs imgsim.search ----------------------------------------------
def clustered(n:int, dim:int, centres:int, seed:int)->np.ndarray:
    "Unit vectors around `centres` random directions (cosine to their centre ~0.7), like embeddings."
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim)).astype(np.float32); c /= np.linalg.norm(c, axis=1, keepdims=True)
    out = np.empty((n, dim), np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s); x = c[rng.integers(0, centres, m)] + rng.standard_normal((m, dim), np.float32) * 0.045
        out[s:s + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def proc_gb(key:str)->float:
    "VmRSS (now) or VmHWM (peak since the last reset_peak) of this process, in GiB."
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith(key + ':'): return int(line.split()[1]) / 2**20
    return float('nan')

def reset_peak():
    "Start VmHWM afresh (Linux: 5 > clear_refs), so each index type gets its own peak."
    try: Path('/proc/self/clear_refs').write_text('5')
    except OSError: pass

def qps(f, queries, rounds=2):
    best = min(_timed(f, queries) for _ in range(rounds))
    return len(queries) / best

def _timed(f, queries):
    t = time.perf_counter(); f(queries); return time.perf_counter() - t

def in_batches(f, batch:int):
    "f applied to `batch` queries at a time (one request each), results concatenated."
    return lambda queries: np.concatenate([f(queries[s:s + batch]) for s in range(0, len(queries), batch)])

def milvus_search(client, name, kind, queries, k=10):
    "One search request with all of `queries`: the (Q, k) ids."
    params = {'metric_type': 'IP', 'params': MILVUS_INDEXES[kind][1]}
    hits = client.search(name, data=queries, limit=k, search_params=params, anns_field='embedding')
    return np.array([[h['id'] for h in hs] for hs in hits])

def recall(found, truth)->float:
    return float(np.mean([len(set(a) & set(b)) / truth.shape[1] for a, b in zip(found, truth)]))

def lite_collection(client, name:str):
    "Milvus Lite's own Collection object behind `name` (it runs in this process), or None."
    try:
        from milvus_lite.server_manager import server_manager_instance as servers
        return next(iter(servers._servers.values()))[1].get_collection(name)
    except Exception: return None

def built(index)->str:
    "The index Milvus Lite really built for a segment: its class and FAISS parameters."
    f = getattr(index, '_index', None)
    if hasattr(f, 'hnsw'): extra = f' M={f.hnsw.nb_neighbors(1)} efConstruction={f.hnsw.efConstruction}'
    elif hasattr(f, 'nlist'): extra = f' nlist={f.nlist}'
    else: extra = ''
    return type(index).__name__ + extra

def segments(col)->list:
    "(rows, index built) of each segment."
    if col is None: return []
    return [(s.num_rows, built(s.indexes.get('embedding'))) for s in col._segment_cache.values()]

def fill(client, kind:str, gallery:np.ndarray, insert_batch:int)->dict:
    "A collection `kind` indexed with `kind`, holding `gallery`, loaded; its timings and segments."
    from pymilvus import DataType
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field('id', DataType.INT64, is_primary=True)
    schema.add_field('embedding', DataType.FLOAT_VECTOR, dim=gallery.shape[1])
    p = client.prepare_index_params()
    # Milvus Lite 3.2.2 reads build parameters only from a JSON 'params' entry; pymilvus 3 sends
    # add_index(params={'M': 16}) as flat pairs, which it silently drops (the index gets its defaults)
    p.add_index('embedding', index_type=kind, metric_type='IP', params={'params': MILVUS_INDEXES[kind][0]})
    t = time.perf_counter()
    client.create_collection(kind, schema=schema, index_params=p, consistency_level='Strong')
    for s in range(0, len(gallery), insert_batch):
        client.insert(kind, [{'id': i, 'embedding': v} for i, v in enumerate(gallery[s:s + insert_batch], s)])
    insert_s = time.perf_counter() - t
    client.flush(kind); client.load_collection(kind)
    col = lite_collection(client, kind)
    if col is not None: col._wait_for_bg()  # compaction and index builds left in the background
    build_s = time.perf_counter() - t - insert_s
    segs = segments(col)
    return {'insert_s': round(insert_s, 1), 'flush_load_wait_s': round(build_s, 1),
            'insert_and_build_s': round(insert_s + build_s, 1),
            'describe_index': {k: v for k, v in client.describe_index(kind, 'embedding').items()
                               if k in ('index_type', 'total_rows', 'indexed_rows', 'state')},
            'build_params_recorded': dict(col._index_specs['embedding'].build_params) if col else None,
            'segments': len(segs), 'segment_rows': sorted({r for r, _ in segs}),
            'segment_indexes_built': sorted({c for _, c in segs})}

def bench_milvus(n:int, dim:int, q:int, kinds:list, batch:int, single:int, insert_batch:int, tag:str=''):
    gallery = clustered(n, dim, 10_000, 0)
    queries = gallery[np.random.default_rng(1).choice(n, q, replace=False)]  # near gallery points
    queries += np.random.default_rng(2).standard_normal(queries.shape).astype(np.float32) * 0.02
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    _, truth = search(queries, gallery, 10, shortlist='off')  # fp32 exact: the ground truth
    exact = lambda x: search(x, gallery, 10)[1]
    record = {'rows': n, 'dim': dim, 'queries': q, 'queries_per_request': batch,
              'one_per_request_queries': single, 'insert_batch': insert_batch,
              'data': 'clustered: 10,000 centres, cosine to centre ~0.7',
              'engine': 'Milvus Lite (embedded, this process), not a Milvus server',
              'versions': {'milvus-lite': _version('milvus-lite'), 'pymilvus': _version('pymilvus')},
              'imgsim_exact': {'qps': round(qps(in_batches(exact, batch), queries), 1),
                               'qps_one_per_call': round(qps(in_batches(exact, 1), queries[:single]), 1),
                               'recall_at_10': round(recall(exact(queries), truth), 4),
                               'memory_gb': round(gallery.nbytes / 2**30, 2)},
              'process_rss_gb_before_milvus': round(proc_gb('VmRSS'), 2)}
    print('imgsim', record['imgsim_exact'], flush=True)
    work = Path(tempfile.mkdtemp(prefix='imgsim-milvus-'))
    try:
        client = milvus_client(str(work/'bench.db'))
        for kind in kinds:  # one collection per index type, built with it (no index switching)
            reset_peak(); before = proc_gb('VmRSS')
            r = fill(client, kind, gallery, insert_batch)
            r['rss_after_load_gb'], r['rss_added_gb'] = round(proc_gb('VmRSS'), 2), round(proc_gb('VmRSS') - before, 2)
            one = lambda x: milvus_search(client, kind, kind, x)
            found = in_batches(one, batch)(queries)
            r |= {'params': MILVUS_INDEXES[kind], 'recall_at_10': round(recall(found, truth), 4),
                  'qps': round(qps(in_batches(one, batch), queries), 1),
                  'qps_one_per_request': round(qps(in_batches(one, 1), queries[:single], rounds=1), 2),
                  'peak_rss_gb': round(proc_gb('VmHWM'), 2)}
            record[f'milvus_{kind}'] = r
            print(kind, r, flush=True)
            client.drop_collection(kind)
        client.close()
    finally: shutil.rmtree(work, ignore_errors=True)
    if 'milvus_FLAT' in record:
        for kind in kinds:
            for key in ('qps', 'qps_one_per_request'):
                record[f'milvus_{kind}'][f'{key}_vs_flat'] = round(record[f'milvus_{kind}'][key] / record['milvus_FLAT'][key], 2)
    save('milvus', record, tag)

def _version(package:str)->str:
    from importlib.metadata import version
    try: return version(package)
    except Exception: return '?'

# ---- sizing ------------------------------------------------------------------------------------
QUERY_NODE_GB, FILL = 256, 0.7  # a query node's memory, and the share the Milvus sizing tool fills
SEGMENT_ROWS = 1_000_000  # the measured gallery: its cost per query grows with the rows searched

def chosen(ann:dict, kind:str)->dict:
    "The search setting of `kind` that imgsim uses (MILVUS_INDEXES) in the ANN benchmark."
    return next(r for r in ann['indexes'][kind]['search'] if r['params'] == MILVUS_INDEXES[kind][1])

def sizing():
    "Per-node figures measured (extraction on an H200, a Milvus server at 10^6 rows) scaled up."
    ray_fig = json.loads((RESULTS/'scale_ray.json').read_text())
    ann = json.loads((RESULTS/'ann.json').read_text())
    gpu = json.loads((RESULTS/'gpu'/'gpu_extract_h200_run9.json').read_text())
    cpu = json.loads((RESULTS/'extract_speed.json').read_text())
    gpu_img_s = gpu['images_per_second']['device_nvimgcodec']  # ResNet-50 fp16, decoded on the GPU
    cpu_img_s = cpu['images_per_second']['default']  # ResNet-50 OpenVINO bf16, 2 cores
    ratio = min(1.0, ray_fig['steady_ratio'])  # Ray's steady state measured above 1: not a gain
    rows, empty = ann['rows'], ann['server_rss_gb_empty']
    per_node = {}
    for kind in ('HNSW', 'IVF_FLAT'):  # FLAT's memory was read with the insert buffers held
        entry, setting = ann['indexes'][kind], chosen(ann, kind)
        bytes_per_row = (entry['loaded_rss_gb'] - empty) * 2**30 / rows
        per_node[kind] = {'search': setting['params'], 'recall_at_10': setting['recall_at_10'],
                          'bytes_per_row': round(bytes_per_row), 'rows_per_gb': round(1e9 / bytes_per_row),
                          'qps_8_clients_2_cores': setting['qps_8_clients'],
                          'core_s_per_query_per_1e6_rows': round(ann['cores'] / setting['qps_8_clients'], 4)}
    plan = []
    for n in (10**8, 10**9):
        gpu_h = n / (gpu_img_s * ratio) / 3600
        row = {'images': n, 'extraction_h200_gpu_hours': round(gpu_h, 1),
               'extraction_wall_hours_on_8_h200': round(gpu_h / 8, 1),
               'extraction_cpu_node_hours_2_cores': round(n / cpu_img_s / 3600)}
        for kind, f in per_node.items():
            tb = n * f['bytes_per_row'] / 1e12
            row[kind] = {'memory_tb': round(tb, 2),
                         'query_nodes_256gb': int(np.ceil(tb * 1e12 / (QUERY_NODE_GB * 1e9 * FILL))),
                         'cores_per_100_qps': int(np.ceil(100 * f['core_s_per_query_per_1e6_rows'] * n / SEGMENT_ROWS))}
        plan.append(row)
    save('sizing', {'measured': {'h200_img_s': gpu_img_s, 'cpu_img_s_2_cores': cpu_img_s,
                                 'ray_steady_ratio': ray_fig['steady_ratio'], 'ann_rows': rows,
                                 'ann_date': ann['date'], 'server': ann.get('server'),
                                 'per_node': per_node},
                    'assumptions': {'query_node': f'{QUERY_NODE_GB} GB RAM, filled to {FILL:.0%}',
                                    'search_cost': 'linear in rows searched, as measured at 10^6 rows '
                                                   '(default segments, one query per request, 8 clients)'},
                    'plan': plan})

if __name__ == '__main__':
    p = argparse.ArgumentParser()
    p.add_argument('part', choices=['ray', 'milvus', 'sizing'])
    p.add_argument('--images', type=int, default=2000); p.add_argument('--shard-rows', type=int, default=125)
    p.add_argument('--rows', type=int, default=1_000_000); p.add_argument('--dim', type=int, default=512)
    p.add_argument('--queries', type=int, default=1000)
    p.add_argument('--indexes', default='FLAT,HNSW,IVF_FLAT')
    p.add_argument('--batch', type=int, default=100, help='queries per search request')
    p.add_argument('--single', type=int, default=20, help='queries also timed one per request')
    p.add_argument('--insert-batch', type=int, default=20_000, help='rows per insert request')
    p.add_argument('--tag', default='', help='write results/scale_milvus_<tag>.json instead')
    a = p.parse_args()
    if a.part == 'ray': bench_ray(a.images, a.shard_rows)
    elif a.part == 'milvus': bench_milvus(a.rows, a.dim, a.queries, a.indexes.split(','), a.batch, a.single, a.insert_batch, a.tag)
    else: sizing()
