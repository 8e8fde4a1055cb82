"""Start-up: `imgsim search` and the service, cold and warm, beside `import torch, torchvision`.

    python benchmarks/startup.py [--baseline 06cebc5] [--rounds 3]

Makes a demo run (`imgsim demo --epochs 3`, EfficientNet-Lite0 offline) in a temporary folder with
`IMGSIM_CACHE` pointing to a temporary cache, then, `--rounds` times, alternating:
- `python -c "import torch, torchvision"` (the floor: what any imgsim process pays first);
- `imgsim search --run RUN query.png` with this checkout, cold (imgsim's OpenVINO cache folder
  emptied first, so the network is converted, saved and compiled) and warm (the cache as the
  previous call left it);
- the same search with the `--baseline` commit's package (extracted with `git archive`), which
  converts and compiles on every call;
- `uvicorn imgsim.api:app` with `IMGSIM_RUN=RUN`, warm, from the start of the process to the
  first answer of `GET /health`, and the same with the baseline package (cold: first round only).
Each is a fresh process, started in the cache folder (a process started here would import this
checkout's `imgsim/` whatever PYTHONPATH says); the OS's file cache stays warm: "cold" means
imgsim's cache is empty.
Figures are medians over the rounds, in wall-clock seconds and in CPU seconds (user + system of
that process, up to the first answer for the service: on a shared machine CPU time is the steadier
measure); peak resident memory of the search process too.
Targets: warm search <= import + 1.5 s; warm service start <= 2 x import.
Results go to benchmarks/results/startup.json.
"""
import argparse, datetime, json, os, platform, shutil, socket, statistics, subprocess, sys
import tarfile, tempfile, time, urllib.request
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = "import sys; from imgsim.cli import main; sys.argv[0] = 'imgsim'; sys.exit(main())"


def extract(commit:str, dest:Path)->Path:
    "The `imgsim/` package as it was at `commit`, under `dest`."
    archive = subprocess.run(['git', 'archive', commit, 'imgsim'], cwd=ROOT, capture_output=True,
                             check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar: tar.extractall(dest, filter='data')
    return dest


def timed(argv:list, env:dict)->tuple[float, float, float]:
    "Wall seconds, CPU seconds and peak resident MB of one process; fails loudly if it fails."
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        child = subprocess.Popen(argv, env=env, cwd=env['IMGSIM_CACHE'],  # not this checkout
                                 stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0); raise SystemExit(f"{argv} failed:\n{err.read().decode()[-3000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def cpu_seconds(pid:int)->float:
    "CPU time (user + system) a running process has used so far."
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def free_port()->int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def service_start(env:dict, limit:float=600)->tuple[float, float]:
    "Wall and CPU seconds from starting uvicorn to the first answer of /health."
    port = free_port()
    start = time.perf_counter()
    uvicorn = [sys.executable, '-m', 'uvicorn', 'imgsim.api:app', '--port', str(port)]
    child = subprocess.Popen(uvicorn, env=env, cwd=env['IMGSIM_CACHE'], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < limit:
            if child.poll() is not None: raise SystemExit("the service stopped while starting")
            try:
                with urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=1) as r:
                    if r.status == 200: return time.perf_counter() - start, cpu_seconds(child.pid)
            except OSError: time.sleep(0.05)
        raise SystemExit(f"the service was not healthy after {limit} s")
    finally:
        child.terminate(); child.wait(30)


def cpu()->str:
    try: return next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo')
                     if l.startswith('model name'))
    except (OSError, StopIteration): return platform.processor()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--baseline', default='06cebc5',
                        help="a commit whose package converts the network on every start")
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix='imgsim-startup-'))
    cache, run = work/'cache', work/'demo'
    cache.mkdir()
    trees = {'candidate': ROOT, 'baseline': extract(args.baseline, work/'baseline')}
    env = {k: v for k, v in os.environ.items() if k not in ('IMGSIM_RUN', 'IMGSIM_PROGRESS')}
    env |= {'IMGSIM_CACHE': str(cache), 'IMGSIM_OFFLINE': '1', 'IMGSIM_PROGRESS': '0'}
    envs = {k: env | {'PYTHONPATH': str(tree)} for k, tree in trees.items()}
    demo = timed([sys.executable, '-c', CLI, 'demo', '--out', str(run), '--epochs', '3'],
                 envs['candidate'])
    query = work/'query.png'
    shutil.copy(next((cache/'fashion-mnist-sample-v1'/'bag').glob('*.png')), query)
    search = [sys.executable, '-c', CLI, 'search', '--run', str(run), str(query), '-k', '5']
    served = {k: e | {'IMGSIM_RUN': str(run)} for k, e in envs.items()}
    names = ('import torch, torchvision', 'search cold', 'search warm', 'search baseline',
             'service cold', 'service warm', 'service baseline')
    wall, cpu_time, memory = ({k: [] for k in names} for _ in range(3))
    def record(name, seconds, cpu_seconds, mb=None):
        wall[name].append(round(seconds, 3)); cpu_time[name].append(round(cpu_seconds, 3))
        if mb is not None: memory[name].append(round(mb))
        print(f"{name:<28} {seconds:6.2f} s wall {cpu_seconds:6.2f} s CPU"
              + (f" {mb:6.0f} MB" if mb else ''), flush=True)
    for round_ in range(args.rounds):
        record('import torch, torchvision',
               *timed([sys.executable, '-c', 'import torch, torchvision'], env))
        shutil.rmtree(cache/'openvino', ignore_errors=True)
        record('search cold', *timed(search, envs['candidate']))
        record('search warm', *timed(search, envs['candidate']))
        record('search baseline', *timed(search, envs['baseline']))
        if round_ == 0:  # once: it is the cold search's work, plus the service's
            shutil.rmtree(cache/'openvino', ignore_errors=True)
            record('service cold', *service_start(served['candidate']))
        record('service warm', *service_start(served['candidate']))
        record('service baseline', *service_start(served['baseline']))
    def medians(samples): return {k: round(statistics.median(v), 2) for k, v in samples.items()}
    def against_import(m:dict)->dict:
        floor = m['import torch, torchvision']
        return {'above_import_seconds': {k: round(v - floor, 2) for k, v in m.items()},
                'over_import': {k: round(v / floor, 2) for k, v in m.items()},
                'targets_met': {
                    'warm search <= import + 1.5 s': m['search warm'] <= floor + 1.5,
                    'warm service start <= 2 x import': m['service warm'] <= 2 * floor}}
    result = {
        'command': (f"python benchmarks/startup.py --baseline {args.baseline} "
                    f"--rounds {args.rounds}"),
        'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='minutes'),
        'cpu_model': cpu(), 'cores': os.cpu_count(), 'python': platform.python_version(),
        'baseline': args.baseline,
        'candidate': subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT,
                                    capture_output=True, text=True).stdout.strip()
                     + ' (+ working tree)',
        'load_average_at_end': [round(x, 1) for x in os.getloadavg()],
        'demo_wall_seconds': round(demo[0], 1),
        'statistic': f"median of {args.rounds} rounds, each a fresh process",
        'wall': {'median_seconds': medians(wall)} | against_import(medians(wall)),
        'cpu_time': {'median_seconds': medians(cpu_time)} | against_import(medians(cpu_time)),
        'peak_mb_median': {k: statistics.median(v) for k, v in memory.items() if v},
        'samples': {'wall_seconds': wall, 'cpu_seconds': cpu_time, 'peak_mb': memory}}
    out = ROOT/'benchmarks'/'results'/'startup.json'
    out.write_text(json.dumps(result, indent=2) + '\n')
    print(json.dumps({k: result[k] for k in ('wall', 'cpu_time')}, indent=1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__': main()
