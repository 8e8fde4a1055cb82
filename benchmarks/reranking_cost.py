"""What re-ranking costs: αQE against plain search, DBA against a self-search, an add with DBA (issue 32).

    python benchmarks/reranking_cost.py [--rows 100000] [--dba-rows 20000] [--queries 200] [--rounds 3]
                                        [--dba-k 1] [--out reranking_cost.json]

Synthetic L2-normalised 512-d vectors in 1,000 seeded clusters (neighbours matter, as in a real
gallery). Baseline and candidate run in the same process, alternating, and the ratio of their
medians is the figure (this machine is shared):
1. search: `search(queries, gallery, k=10)` against `query_expansion(..., k=2, alpha=3)` then the
   same search, at `--rows` (issue target: αQE ≤ 2× plain at 10⁵); also the expansion alone (its
   own search for k = 2 neighbours and the mixing), so that what αQE costs beyond two scans shows.
2. indexing: `database_augmentation(gallery, k)` and `AugmentedGallery(k).add(all)` (k: `--dba-k`, the
   default's unless given; k = 2 until 2026-12-07) against one
   search of the gallery against itself (`search(gallery, gallery, k=3)`), at `--dba-rows` (both grow
   as N²; target: DBA ≤ one self-search). Since 2026-12-07 (third session) DBA runs `self_search`,
   which scores each pair once; its own time (k = 3) is reported beside the plain self-search.
3. changes at `--rows`: `AugmentedGallery.add` of one row, `sync` to a store's ids after it added
   one row (what a search does after an API add), and `remove` of one row (target: add ≤ 100 ms).
Writes results/reranking_cost.json (or `--out`).
"""
import argparse, json, subprocess, sys, time
from pathlib import Path
import numpy as np, torch
from imgsim.search import search, self_search, query_expansion, database_augmentation, AugmentedGallery, RERANKING_DEFAULT

def cpu()->str:
    lines = subprocess.run(['lscpu'], capture_output=True, text=True).stdout.splitlines()
    return next((l.split(':', 1)[1].strip() for l in lines if l.startswith('Model name')), '?')

def clustered(n:int, rng, dims:int=512, clusters:int=1000)->np.ndarray:
    centres = rng.standard_normal((clusters, dims)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] + 0.8 * rng.standard_normal((n, dims)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)

def timed(f)->float:
    start = time.perf_counter(); f(); return time.perf_counter() - start

def medians(rounds:int, **jobs)->dict:
    "Median seconds of each job, run alternately `rounds` times."
    times = {name: [] for name in jobs}
    for _ in range(rounds):
        for name, job in jobs.items(): times[name].append(timed(job))
    return {name: float(np.median(t)) for name, t in times.items()}

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--rows', type=int, default=100_000); p.add_argument('--dba-rows', type=int, default=20_000)
    p.add_argument('--queries', type=int, default=200); p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--dba-k', type=int, default=RERANKING_DEFAULT.database_augmentation)
    p.add_argument('--out', default='reranking_cost.json')
    a = p.parse_args()
    torch.set_num_threads(2); rng = np.random.default_rng(0); start = time.time()
    load = {'before': Path('/proc/loadavg').read_text().split()[:3]}
    gallery, queries = clustered(a.rows, rng), clustered(a.queries, rng)
    search_s = medians(a.rounds, plain=lambda: search(queries, gallery, 10),
                       aqe=lambda: search(query_expansion(queries, gallery, 2, 3.0), gallery, 10),
                       expansion=lambda: query_expansion(queries, gallery, 2, 3.0))
    print('search', search_s, flush=True)
    small = gallery[:a.dba_rows]
    index_s = medians(a.rounds, self_search=lambda: search(small, small, 3, exclude=np.arange(len(small))),
                      self_search_function=lambda: self_search(small, 3),
                      dba=lambda: database_augmentation(small, a.dba_k, 3.0),
                      augmented_gallery=lambda: AugmentedGallery(a.dba_k).add(np.arange(len(small)), small))
    print('indexing', index_s, flush=True)
    built = time.perf_counter(); dba = AugmentedGallery(a.dba_k); dba.add(np.arange(a.rows), gallery)
    build_s = time.perf_counter() - built
    extra = clustered(40, rng); adds, syncs, removes = [], [], []
    for i in range(20):
        adds.append(timed(lambda: dba.add([a.rows + i], extra[i:i + 1])))
    for i in range(20, 40):  # a store that added one row: its ids, then the run's search syncs
        ids = np.concatenate([dba.ids, [a.rows + i]])
        syncs.append(timed(lambda: dba.sync(ids, lambda new: extra[new - a.rows])))
    for i in range(5): removes.append(timed(lambda: dba.remove([i])))
    changes = {'build_seconds': round(build_s, 1), 'add_one_ms': round(1000 * np.median(adds), 1),
               'sync_after_one_add_ms': round(1000 * np.median(syncs), 1),
               'remove_one_ms': round(1000 * np.median(removes), 1)}
    print('changes', changes, flush=True)
    load['after'] = Path('/proc/loadavg').read_text().split()[:3]
    out = {'command': 'python benchmarks/reranking_cost.py ' + ' '.join(sys.argv[1:]),
           'date': time.strftime('%Y-%m-%d %H:%M'), 'cpu': cpu(), 'load_average': load,
           'seconds': round(time.time() - start), 'rows': a.rows, 'dba_rows': a.dba_rows, 'dba_k': a.dba_k, 'queries': a.queries,
           'search_seconds': search_s, 'aqe_over_plain': round(search_s['aqe'] / search_s['plain'], 2),
           'expansion_over_plain': round(search_s['expansion'] / search_s['plain'], 2),
           'indexing_seconds': index_s,
           'dba_over_self_search': round(index_s['dba'] / index_s['self_search'], 2),
           'augmented_gallery_over_self_search': round(index_s['augmented_gallery'] / index_s['self_search'], 2),
           'self_search_function_over_self_search': round(index_s['self_search_function'] / index_s['self_search'], 2),
           'changes_at_rows': changes}
    (Path(__file__).parent/'results'/a.out).write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))

if __name__ == '__main__': main()
