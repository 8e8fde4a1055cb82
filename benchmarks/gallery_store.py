"""The SQLite gallery store against the file store, at 10^5 and 10^6 gallery rows (512-d random unit vectors).

    PYTHONPATH=$PWD nice -n 10 python benchmarks/gallery_store.py [--sizes 100000 1000000] [--adds 20]

For each size, in one process (the data live in a temporary folder under /tmp, deleted afterwards):
1. load: `FileGallery` (today's files: .npy + .parquet) and `SqliteGallery` (one database), each
   with the run's checks (`verify`: the files' SHA-256 / SQLite's quick_check + finite embeddings)
   and without; best of 3, and the ratio SQLite / files.
2. add: one row, end to end in the serving process (the store's `add`, embedding excluded), for
   both stores (the file store once: it rewrites everything), median and max of `--adds`.
3. visibility: a second process holds the gallery loaded and reads `len()` in a loop; the time from
   the start of an `add` here until that process counts the new row (median and max of 5).
4. search: one query, top-10, both stores (the SQLite store searches chunk by chunk), best of 15,
   measured alternately so both see the same machine load.
Writes benchmarks/results/gallery_store.json.
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd

from search_speed import unit_vectors  # the same blockwise generator (benchmarks/ is on sys.path)

def table(n, first=0):
    ids = np.arange(first, first + n)
    return pd.DataFrame({'id': ids, 'path': [f"images/{i}.jpg" for i in ids], 'label': [f"c{i % 1000}" for i in ids],
                         'sha256': [f"{i:064x}" for i in ids]})

def build(root, n):
    "A files run and a SQLite run of the same n rows (a stand-in model file: only the gallery is measured)."
    from imgsim.checkpoint import _commit, _database_name, _database_entry
    from imgsim.gallery import _npy_bytes, _parquet_bytes
    from imgsim.sqlite import create_gallery_database
    embeddings, rows = unit_vectors(n, 512, 0), table(n)
    files, sqlite = root/'files', root/'sqlite'; files.mkdir(); sqlite.mkdir()
    start = time.perf_counter()
    _commit(files, {'model': b'stand-in', 'embeddings': _npy_bytes(embeddings), 'gallery': _parquet_bytes(rows)},
            {'gallery_store': 'files', 'embedding_dim': 512, 'count': n, 'next_id': n, 'gallery_version': 1})
    built = {'files_save_s': round(time.perf_counter() - start, 2)}
    start, name = time.perf_counter(), _database_name()
    create_gallery_database(sqlite/name, embeddings, rows, n, 1)
    _commit(sqlite, {'model': b'stand-in'}, {'gallery_store': 'sqlite', 'embedding_dim': 512}, {'gallery': _database_entry(name)})
    built['sqlite_save_s'] = round(time.perf_counter() - start, 2)
    built['sqlite_mb'] = round((sqlite/name).stat().st_size / 2**20); built['files_mb'] = round(sum(p.stat().st_size for p in files.iterdir()) / 2**20)
    return files, sqlite, built

def load(folder, verify):
    from imgsim.checkpoint import read_manifest
    from imgsim.gallery import FileGallery
    from imgsim.sqlite import open_gallery
    manifest = read_manifest(folder, verify)
    return FileGallery(folder, manifest) if manifest['gallery_store'] == 'files' else open_gallery(folder, manifest, verify)

def best_load(folder, verify, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter(); gallery = load(folder, verify); times.append(time.perf_counter() - start); del gallery
    return round(min(times), 3)

def add_times(gallery, n, count, seed):
    new, times = unit_vectors(count, 512, seed), []
    for i in range(count):
        row = table(1, 10 * n + seed * 1000 + i).drop(columns='id')
        start = time.perf_counter(); gallery.add(new[i:i + 1], row); times.append(time.perf_counter() - start)
    return times

WATCHER = """
import sys, time
from imgsim.sqlite import SqliteGallery
g = SqliteGallery(sys.argv[1], verify=False); seen = len(g)
print('ready', flush=True)
while seen < int(sys.argv[2]):
    now = len(g)
    if now != seen: print(time.time(), flush=True); seen = now
    time.sleep(0.002)
"""

def visibility(folder, gallery, rounds=5):
    target = len(gallery) + rounds
    watcher = subprocess.Popen([sys.executable, '-c', WATCHER, str(folder), str(target)], stdout=subprocess.PIPE, text=True)
    assert watcher.stdout.readline().strip() == 'ready'
    delays, new = [], unit_vectors(rounds, 512, 7)
    for i in range(rounds):
        time.sleep(0.5); start = time.time()
        gallery.add(new[i:i + 1], table(1, 20 * len(gallery) + i).drop(columns='id'))
        delays.append(float(watcher.stdout.readline()) - start)
    watcher.wait(timeout=60)
    return delays

def search_time(gallery, repeats=5):
    query, times = unit_vectors(1, 512, 3), []
    for _ in range(repeats):
        start = time.perf_counter(); gallery.search(query, k=10); times.append(time.perf_counter() - start)
    return round(min(times) * 1000, 1)

def stats(times): return {'median_ms': round(statistics.median(times) * 1000, 1), 'max_ms': round(max(times) * 1000, 1)}

def run(n, adds):
    root = Path(tempfile.mkdtemp(prefix=f'gallery-store-{n}-', dir='/tmp'))
    try:
        files, sqlite, result = build(root, n)
        result = {'rows': n, 'build': result, 'load_s': {}}
        for verify in (True, False):
            f, s = best_load(files, verify), best_load(sqlite, verify)
            result['load_s']['verified' if verify else 'unverified'] = {'files': f, 'sqlite': s, 'sqlite_over_files': round(s / f, 2)}
        gallery, file_gallery = load(sqlite, False), load(files, False)
        times = [(search_time(gallery), search_time(file_gallery)) for _ in range(3)]  # alternating: same machine load
        result['search_ms'] = {'sqlite': min(s for s, _ in times), 'files': min(f for _, f in times)}
        result['add_one_row'] = {'sqlite': stats(add_times(gallery, n, adds, 1))}
        result['visible_in_other_process'] = stats(visibility(sqlite, gallery))
        del gallery
        result['add_one_row']['files'] = stats(add_times(file_gallery, n, 1 if n > 200_000 else 3, 2))
        return result
    finally: shutil.rmtree(root, ignore_errors=True)

if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    parser.add_argument('--sizes', type=int, nargs='+', default=[100_000, 1_000_000])
    parser.add_argument('--adds', type=int, default=20)
    parser.add_argument('--out', type=Path, default=Path(__file__).parent/'results'/'gallery_store.json')
    args = parser.parse_args()
    cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), 'unknown')
    results = {'command': 'PYTHONPATH=$PWD nice -n 10 python benchmarks/gallery_store.py ' + ' '.join(sys.argv[1:]),
               'date': time.strftime('%Y-%m-%d'), 'cpu': cpu, 'cores': os.cpu_count(), 'sizes': []}
    for n in args.sizes:
        results['sizes'].append(run(n, args.adds)); print(json.dumps(results['sizes'][-1]), flush=True)
    args.out.write_text(json.dumps(results, indent=2) + '\n')
