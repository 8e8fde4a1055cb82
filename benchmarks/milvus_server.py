"""What Strong consistency costs on a Milvus server, and what the weaker levels miss (chapter 14).

    milvus-server --data /tmp/milvus &                       # pip install "imgsim[server-tests]"
    nice -n 5 python benchmarks/milvus_server.py --uri http://127.0.0.1:19530

A gallery collection of `--rows` unit vectors (512-d, seeded) on the server, FLAT, as imgsim makes
it. Two clients, as on two machines: a writer upserts one new row, and at once a reader searches
for it with one consistency level; the levels take turns, round after round. Reported per level:
the search's latency (median, p90) and how often the row just acknowledged was found. Writes
JSON to benchmarks/results/milvus_server.json.
"""
import argparse, json, os, subprocess, sys, time
from pathlib import Path
import numpy as np

LEVELS = ['Strong', 'Session', 'Bounded', 'Eventually']
RESULTS = Path(__file__).resolve().parent/'results'

def cpu_name()->str:
    out = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
    return next((l.split(':', 1)[1].strip() for l in out.splitlines() if l.startswith('Model name')), '?')

def unit(rng, n, dim=512):
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--uri', default='http://127.0.0.1:19530')
    parser.add_argument('--rows', type=int, default=10_000)
    parser.add_argument('--rounds', type=int, default=40)
    parser.add_argument('--out', default='milvus_server.json')
    a = parser.parse_args()
    os.environ.setdefault('GRPC_VERBOSITY', 'ERROR')
    from pymilvus import MilvusClient, DataType
    writer, reader = MilvusClient(a.uri), MilvusClient(a.uri)
    version = writer.get_server_version()
    name = 'imgsim_bench_consistency'
    if writer.has_collection(name): writer.drop_collection(name)
    schema = writer.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field('id', DataType.INT64, is_primary=True)
    schema.add_field('embedding', DataType.FLOAT_VECTOR, dim=512)
    params = writer.prepare_index_params()
    params.add_index('embedding', index_type='FLAT', metric_type='IP')
    writer.create_collection(name, schema=schema, index_params=params, consistency_level='Strong')
    rng = np.random.default_rng(0)
    gallery = unit(rng, a.rows)
    for start in range(0, a.rows, 5000):
        writer.insert(name, [{'id': i, 'embedding': v} for i, v in
                             enumerate(gallery[start:start + 5000], start)])
    writer.flush(name)
    reader.load_collection(name)
    times = {l: [] for l in LEVELS}; found = {l: 0 for l in LEVELS}; upserts = []
    next_id = a.rows
    try:
        for round_ in range(a.rounds):
            for level in LEVELS[round_ % 4:] + LEVELS[:round_ % 4]:  # each level in each slot
                vector = unit(rng, 1)[0]
                t0 = time.perf_counter()
                writer.upsert(name, [{'id': next_id, 'embedding': vector}])
                t1 = time.perf_counter()
                hits = reader.search(name, data=[vector], limit=1, consistency_level=level,
                                     search_params={'metric_type': 'IP', 'params': {}})
                t2 = time.perf_counter()
                upserts.append(t1 - t0); times[level].append(t2 - t1)
                found[level] += bool(hits[0]) and hits[0][0]['id'] == next_id
                next_id += 1
    finally: writer.drop_collection(name)
    ms = lambda xs, q: round(float(np.percentile(xs, q)) * 1000, 1)
    record = {'command': ' '.join(['python'] + sys.argv), 'date': time.strftime('%Y-%m-%d %H:%M'),
              'cpu': cpu_name(), 'cores': os.cpu_count(), 'server': f"milvus {version}",
              'rows': a.rows, 'rounds': a.rounds,
              'upsert_ms': {'median': ms(upserts, 50), 'p90': ms(upserts, 90)},
              'levels': {l: {'search_ms_median': ms(times[l], 50), 'search_ms_p90': ms(times[l], 90),
                             'found_just_written': f"{found[l]}/{a.rounds}"} for l in LEVELS}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS/a.out).write_text(json.dumps(record, indent=2) + '\n')
    print(json.dumps(record, indent=2))

if __name__ == '__main__': main()
