"""Search with bf16 scores kept until each chunk's top-k, against converting every score block to fp32 first.

    python benchmarks/scan_dtype.py [--rows 100000] [--queries 200] [--rounds 7]

Until 2026-12-07 `_scan` converted each (queries × chunk) bf16 score block to fp32 before its top-k.
The baseline here is that scan, rebuilt from the old code through a copy of the gallery module's
`_scan` with the conversion put back; the candidate is `imgsim.search.search` as it is. Both run
alternately in one process; the figure is the ratio of their medians, for a batch of queries against
`--rows` (as an API batch or `imgsim eval`), one query, and a self-search of 5,000 rows in 2 × 10⁴.
Results are identical (checked). Writes results/scan_dtype.json.
"""
import argparse, json, sys, time
from pathlib import Path
import numpy as np, torch
import imgsim.search as current
sys.path.insert(0, str(Path(__file__).parent))
from reranking_cost import clustered, medians, cpu

def converting_scan(q, gallery, k, exclude, chunk, device, dtype=torch.float32):
    "The scan as it was: each score block converted to fp32 before its top-k."
    best_s = torch.full((len(q), 0), -torch.inf, device=device)
    best_i = torch.zeros((len(q), 0), dtype=torch.long, device=device)
    rows, q = torch.arange(len(q), device=device), q.to(dtype)
    for g0 in range(0, len(gallery), chunk):
        sims = (q @ torch.as_tensor(gallery[g0:g0 + chunk], device=device).to(dtype).T).float()
        if exclude is not None:
            inside = (exclude >= g0) & (exclude < g0 + sims.shape[1])
            sims[rows[inside], exclude[inside] - g0] = -torch.inf
        s, i = sims.topk(min(k, sims.shape[1]), dim=1)
        best_s, order = torch.cat([best_s, s], 1).topk(min(k, best_s.shape[1] + s.shape[1]), dim=1)
        best_i = torch.cat([best_i, i + g0], 1).gather(1, order)
    return best_s, best_i

def old(*args, **kwargs):
    kept = current._scan; current._scan = converting_scan
    try: return current.search(*args, **kwargs)
    finally: current._scan = kept

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--rows', type=int, default=100_000); p.add_argument('--queries', type=int, default=200)
    p.add_argument('--rounds', type=int, default=7); a = p.parse_args()
    torch.set_num_threads(2); rng = np.random.default_rng(0)
    gallery, queries = clustered(a.rows, rng), clustered(a.queries, rng)
    small, own = gallery[:20000], np.arange(5000)
    for f in (lambda s: s(queries, gallery, 10), lambda s: s(small[:5000], small, 10, exclude=own)):
        (s0, i0), (s1, i1) = f(old), f(current.search)
        assert (i0 == i1).all() and (s0 == s1).all(), 'results differ'
    times = medians(a.rounds, batch_old=lambda: old(queries, gallery, 10), batch_new=lambda: current.search(queries, gallery, 10),
                    one_old=lambda: old(queries[:1], gallery, 10), one_new=lambda: current.search(queries[:1], gallery, 10),
                    self_old=lambda: old(small[:5000], small, 10, exclude=own),
                    self_new=lambda: current.search(small[:5000], small, 10, exclude=own))
    out = {'command': 'python benchmarks/scan_dtype.py ' + ' '.join(sys.argv[1:]), 'date': time.strftime('%Y-%m-%d %H:%M'),
           'cpu': cpu(), 'load_average': Path('/proc/loadavg').read_text().split()[:3], 'rows': a.rows, 'queries': a.queries,
           'seconds': times, 'new_over_old': {w: round(times[f'{w}_new'] / times[f'{w}_old'], 2) for w in ('batch', 'one', 'self')}}
    (Path(__file__).parent/'results'/'scan_dtype.json').write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))

if __name__ == '__main__': main()
