"""Memory per request: 8 simultaneous uploads of a 16-bit 6300 x 6300 PNG (91 KB), before and after.

    python benchmarks/upload_memory.py [--baseline COMMIT] [--out benchmarks/results/upload_memory.json]

Starts two uvicorn servers on 127.0.0.1 over the same small run: the baseline (the library at
COMMIT, checked out into a temporary git worktree) and the candidate (this tree), one after the
other, and for each sends: 8 concurrent POST /search of the PNG, then measures the server's RSS
(sampled every 10 ms from /proc) against its idle RSS, and again 10 s later; then one /search/batch
of 32 such files; then 24 and 50 megapixel camera-like JPEGs, which must still be accepted (200).
Loopback only; every loop is bounded.
"""
import argparse, json, os, socket, subprocess, sys, tempfile, threading, time
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path
import numpy as np

HERE = Path(__file__).resolve().parent.parent

def rss_mb(pid:int)->float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith('VmRSS:'): return int(line.split()[1]) / 1024
    return 0.

def deep_png()->bytes:
    "A 16-bit grayscale 6300 x 6300 PNG that compresses to about 91 KB."
    from PIL import Image
    pixels = np.zeros((6300, 6300), np.uint16); pixels[::7, ::5] = 60000
    buffer = BytesIO(); Image.fromarray(pixels).save(buffer, 'PNG'); return buffer.getvalue()

def camera_jpeg(megapixels:int)->bytes:
    "A smooth camera-like JPEG of about `megapixels` (4:3)."
    from PIL import Image
    width = int((megapixels * 1e6 * 4 / 3) ** 0.5); height = int(width * 3 / 4)
    gradient = np.linspace(0, 255, width, dtype=np.float32)[None, :, None] * np.ones((height, 1, 3), np.float32)
    buffer = BytesIO(); Image.fromarray(gradient.astype(np.uint8)).save(buffer, 'JPEG', quality=85); return buffer.getvalue()

def make_run(folder:Path)->Path:
    if (folder/'manifest.json').exists(): return folder
    sys.path.insert(0, str(HERE))
    from imgsim.data import sample_collection
    from imgsim.pipeline import build_run
    from imgsim.train import TrainConfig
    return build_run(sample_collection().iloc[:200], folder, 'efficientnet_lite0', TrainConfig(epochs=1), progress=False).folder

def free_port()->int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def measure(code:Path, run:Path, png:bytes, jpegs:dict)->dict:
    "Start a server from the library in `code`, send the bursts, return its memory figures."
    import httpx
    port = free_port(); url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith('IMGSIM_')} | {'IMGSIM_RUN': str(run), 'PYTHONPATH': str(code)}
    server = subprocess.Popen([sys.executable, '-m', 'uvicorn', 'imgsim.api:app', '--host', '127.0.0.1', '--port', str(port),
                               '--log-level', 'warning'], env=env, cwd=code)
    try:
        for _ in range(600):
            try:
                if httpx.get(url + '/health', timeout=1).status_code == 200: break
            except httpx.HTTPError: time.sleep(0.2)
        time.sleep(1); idle = rss_mb(server.pid); peak = [idle]; stop = threading.Event()
        def sample():
            while not stop.is_set(): peak.append(rss_mb(server.pid)); time.sleep(0.01)
        sampler = threading.Thread(target=sample); sampler.start()
        start = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda i: httpx.post(url + '/search', files={'file': (f'deep{i}.png', png)}, timeout=300).status_code, range(8)))
        burst_s = time.perf_counter() - start
        stop.set(); sampler.join()
        burst_peak = max(peak)
        time.sleep(10); after = rss_mb(server.pid)
        start = time.perf_counter()
        batch = httpx.post(url + '/search/batch', files=[('files', (f'd{i}.png', png)) for i in range(32)], timeout=600)
        batch_s = time.perf_counter() - start
        cameras = {name: httpx.post(url + '/search', files={'file': (f'{name}.jpg', data)}, timeout=300).status_code for name, data in jpegs.items()}
        return dict(idle_mb=round(idle), peak_above_idle_mb=round(burst_peak - idle), after_10s_above_idle_mb=round(after - idle),
                    burst_statuses=statuses, burst_seconds=round(burst_s, 2), batch32_status=batch.status_code,
                    batch32_seconds=round(batch_s, 2), camera_statuses=cameras)
    finally:
        server.terminate(); server.wait(30)

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--baseline', default='7e50714', help="commit whose library is the baseline")
    parser.add_argument('--out', type=Path, default=HERE/'benchmarks'/'results'/'upload_memory.json')
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    run = make_run(work/'run')
    baseline = work/'baseline'
    subprocess.run(['git', '-C', str(HERE), 'worktree', 'add', '--detach', '-q', str(baseline), args.baseline], check=True)
    try:
        png, jpegs = deep_png(), {'24MP': camera_jpeg(24), '50MP': camera_jpeg(50)}
        results = {'command': ' '.join(['python', 'benchmarks/upload_memory.py'] + sys.argv[1:]), 'date': time.strftime('%Y-%m-%d %H:%M'),
                   'cpu': next((l.split(':', 1)[1].strip() for l in Path('/proc/cpuinfo').read_text().splitlines() if l.startswith('model name')), '?'),
                   'png_bytes': len(png), 'jpeg_bytes': {k: len(v) for k, v in jpegs.items()},
                   'baseline': {'commit': args.baseline, **measure(baseline, run, png, jpegs)},
                   'candidate': {'commit': 'working tree', **measure(HERE, run, png, jpegs)}}
    finally:
        subprocess.run(['git', '-C', str(HERE), 'worktree', 'remove', '--force', str(baseline)])
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))

if __name__ == '__main__': main()
