"""Soak: many processes writing one run, with crashes; then check that no acknowledged write was lost.

    PYTHONPATH=$PWD nice -n 10 python benchmarks/soak.py [--appends 3] [--images 20] [--adds 60] [--kills 3]

Everything happens under a fresh folder in /tmp (deleted at the end unless --keep):
1. a small run is built from the bundled sample (efficientnet_lite0, one epoch);
2. `uvicorn imgsim.api:app --workers 2` serves it on 127.0.0.1 (IMGSIM_RUN, IMGSIM_API_KEY set;
   writes send `X-API-Key`);
3. at the same time: `--appends` runs of `imgsim index --run R --images DIR --append` (each DIR holds
   `--images` new, distinct PNGs), one after another; an HTTP client making `--adds` adds
   (`POST /gallery`), deleting every fourth image it added (`DELETE /gallery/{id}`); and `--kills`
   rounds of `kill -9` on the whole server (master and workers), each followed by a restart;
4. the server is stopped, and the run is loaded with every check (`Run(R)`, quick_check included).
Passes when every acknowledged add is in the gallery exactly once, every acknowledged delete is gone,
every image of every CLI append that reported success is there exactly once, and ids are unique.
All loops are bounded; the script stops itself. Writes benchmarks/results/soak.json.
"""
import argparse, io, json, os, shutil, signal, socket, subprocess, sys, tempfile, threading, time
from pathlib import Path
import numpy as np

KEY = 'soak-key'

def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def png(rng):
    "A small, unique noise PNG."
    from PIL import Image
    buffer = io.BytesIO(); Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(buffer, 'PNG')
    return buffer.getvalue()

def append_folders(root, count, images, rng):
    "`count` collections (folder/<label>/<image>.png) of `images` new images each."
    folders = []
    for a in range(count):
        folder = root/f'append-{a}'
        for i in range(images):
            path = folder/f'label{i % 3}'/f'a{a}-{i}.png'; path.parent.mkdir(parents=True, exist_ok=True); path.write_bytes(png(rng))
        folders.append(folder)
    return folders

class Server:
    "uvicorn with two workers, in its own process group so that `kill -9` takes all of it."
    def __init__(self, run, port, log):
        self.env = os.environ | {'IMGSIM_RUN': str(run), 'IMGSIM_API_KEY': KEY, 'IMGSIM_DEVICE': 'cpu'}
        self.port, self.log, self.process = port, log, None
    def start(self):
        self.process = subprocess.Popen([sys.executable, '-m', 'uvicorn', 'imgsim.api:app', '--workers', '2', '--host', '127.0.0.1',
                                         '--port', str(self.port)], env=self.env, stdout=self.log, stderr=self.log, start_new_session=True)
    def kill(self):
        os.killpg(self.process.pid, signal.SIGKILL); self.process.wait()
    def stop(self):
        os.killpg(self.process.pid, signal.SIGTERM)
        try: self.process.wait(timeout=30)
        except subprocess.TimeoutExpired: self.kill()

def http_writer(base, adds, rng, record, stop):
    "Add `adds` images (deleting every fourth one added), recording only what the server acknowledged."
    import httpx
    headers, mine, done = {'X-API-Key': KEY}, [], 0
    deadline = time.monotonic() + 60 * 30
    while done < adds and time.monotonic() < deadline and not stop.is_set():
        try:
            data = png(rng)
            r = httpx.post(f'{base}/gallery', files={'file': ('soak.png', data, 'image/png')}, data={'label': 'http'}, headers=headers, timeout=60)
            if r.status_code == 201:
                record['added'].append(r.json()['added'][0]['id']); mine.append(record['added'][-1]); done += 1
            else: record['refused'].append(r.status_code)
            if done % 4 == 0 and mine:
                victim = mine.pop(0)
                r = httpx.delete(f'{base}/gallery/{victim}', headers=headers, timeout=60)
                if r.status_code == 200: record['deleted'].append(victim)
                else: record['refused'].append(r.status_code); mine.insert(0, victim) if r.status_code != 404 else None
        except httpx.HTTPError: record['connection_errors'] += 1; time.sleep(0.5)

def cli_appends(run, folders, record):
    "Run `imgsim index --append` on each folder in turn; record which reported success."
    code = 'import sys; from imgsim.cli import main; sys.exit(main(sys.argv[1:]))'  # = the `imgsim` console script
    for folder in folders:
        done = subprocess.run([sys.executable, '-c', code, 'index', '--run', str(run), '--images', str(folder), '--append'],
                              capture_output=True, text=True, timeout=1800)
        record['appends'].append({'folder': folder.name, 'returncode': done.returncode, 'stderr': done.stderr[-300:] if done.returncode else ''})

def wait_healthy(base, timeout=600):
    import httpx
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f'{base}/health', timeout=5).status_code == 200: return True
        except httpx.HTTPError: pass
        time.sleep(0.5)
    return False

def check(run, record, folders):
    "Every acknowledged write on disk exactly once; the run loads with all its checks."
    from imgsim.run import Run
    loaded = Run(run)  # verify=True: quick_check, finite embeddings, counts
    _, rows = loaded.gallery.load_all()
    ids = rows.id.tolist(); counts = rows.id.value_counts()
    added, deleted = set(record['added']), set(record['deleted'])
    names = rows.path.map(lambda p: Path(p).name).value_counts()
    appended = [f'a{f.name.split("-")[1]}-{i}.png' for f, a in zip(folders, record['appends']) if a['returncode'] == 0
                for i in range(len(list(f.rglob('*.png'))))]
    return {'gallery_rows': len(rows), 'ids_unique': bool(rows.id.is_unique),
            'acknowledged_adds': len(added), 'adds_missing': sorted(added - deleted - set(ids)),
            'adds_duplicated': sorted(i for i in added if counts.get(i, 0) > 1),
            'acknowledged_deletes': len(deleted), 'deletes_still_present': sorted(deleted & set(ids)),
            'cli_appends_succeeded': sum(a['returncode'] == 0 for a in record['appends']), 'cli_images_acknowledged': len(appended),
            'cli_images_not_exactly_once': sorted(n for n in appended if names.get(n, 0) != 1)}

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--appends', type=int, default=3); parser.add_argument('--images', type=int, default=20)
    parser.add_argument('--adds', type=int, default=60); parser.add_argument('--kills', type=int, default=3)
    parser.add_argument('--keep', action='store_true'); parser.add_argument('--out', type=Path, default=Path(__file__).parent/'results'/'soak.json')
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix='imgsim-soak-', dir='/tmp')); start = time.time()
    os.environ.setdefault('IMGSIM_CACHE', str(root/'cache'))
    try:
        from imgsim.data import sample_collection
        from imgsim.pipeline import build_run
        from imgsim.train import TrainConfig
        run = build_run(sample_collection(), root/'run', 'efficientnet_lite0', TrainConfig(epochs=1), progress=False).folder
        rng = np.random.default_rng(0)
        folders = append_folders(root, args.appends, args.images, rng)
        record = {'added': [], 'deleted': [], 'refused': [], 'connection_errors': 0, 'appends': [], 'kills': 0}
        server = Server(run, free_port(), open(root/'server.log', 'wb')); server.start()
        base = f'http://127.0.0.1:{server.port}'
        if not wait_healthy(base): raise SystemExit(f"the server did not start; see {root/'server.log'}")
        stop = threading.Event()
        writers = [threading.Thread(target=http_writer, args=(base, args.adds, np.random.default_rng(1), record, stop)),
                   threading.Thread(target=cli_appends, args=(run, folders, record))]
        for w in writers: w.start()
        for _ in range(args.kills):
            time.sleep(20)
            server.kill(); record['kills'] += 1; time.sleep(1); server.start()
            if not wait_healthy(base): stop.set(); raise SystemExit(f"the server did not restart; see {root/'server.log'}")
        for w in writers: w.join()
        server.stop()
        result = {'command': 'PYTHONPATH=$PWD nice -n 10 python benchmarks/soak.py ' + ' '.join(sys.argv[1:]),
                  'date': time.strftime('%Y-%m-%d'), 'seconds': round(time.time() - start),
                  'kills': record['kills'], 'refused_status_codes': sorted(set(record['refused'])),
                  'connection_errors': record['connection_errors'], 'appends': record['appends']} | check(run, record, folders)
        result['passed'] = (result['ids_unique'] and not result['adds_missing'] and not result['adds_duplicated']
                            and not result['deletes_still_present'] and not result['cli_images_not_exactly_once'])
        args.out.write_text(json.dumps(result, indent=2) + '\n'); print(json.dumps(result, indent=2))
        return 0 if result['passed'] else 1
    finally:
        if not args.keep: shutil.rmtree(root, ignore_errors=True)

if __name__ == '__main__': sys.exit(main())
