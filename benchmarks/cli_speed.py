"""How fast `imgsim` answers `--help` and argument errors: before (a git commit) vs now.

    python benchmarks/cli_speed.py [--baseline ca36c01] [--rounds 5]

Each command runs as a fresh Python process, as the `imgsim` console script does
(`from imgsim.cli import main; sys.exit(main())`), once with the baseline commit's `imgsim/`
package (extracted with `git archive` into a temporary folder) and once with this checkout's,
alternating, `--rounds` times each; the figure is the minimum wall time (and the peak resident
memory of that process). Results go to benchmarks/results/cli_speed.json.
"""
import argparse, datetime, json, os, platform, subprocess, sys, tarfile, tempfile, time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {'imgsim --help': ['--help'], 'imgsim train --help': ['train', '--help'],
            'imgsim train --data photos (error: --out missing)': ['train', '--data', 'photos']}
SCRIPT = "import sys; from imgsim.cli import main; sys.argv[0] = 'imgsim'; sys.exit(main())"

def extract(commit:str, dest:Path)->Path:
    "The `imgsim/` package as it was at `commit`, under `dest`."
    archive = subprocess.run(['git', 'archive', commit, 'imgsim'], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar: tar.extractall(dest, filter='data')
    return dest

def run_once(tree:Path, argv:list)->tuple[float, float, int]:
    "Seconds, peak resident MB and exit status of one `imgsim` process using the package in `tree`."
    env = os.environ | {'PYTHONPATH': str(tree)}
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, '-c', SCRIPT, *argv], env=env, cwd=tempfile.gettempdir(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss / 1024, child.returncode

def cpu()->str:
    try: return next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
    except (OSError, StopIteration): return platform.processor()

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--baseline', default='ca36c01')
    parser.add_argument('--rounds', type=int, default=5)
    args = parser.parse_args()
    trees = {'baseline': extract(args.baseline, Path(tempfile.mkdtemp())), 'candidate': ROOT}
    results = {}
    for name, argv in COMMANDS.items():
        runs = {k: [] for k in trees}
        for _ in range(args.rounds):
            for which, tree in trees.items(): runs[which].append(run_once(tree, argv))
        best = {k: min(v) for k, v in runs.items()}
        results[name] = {k: {'seconds': round(s, 3), 'peak_mb': round(mb), 'exit_status': rc} for k, (s, mb, rc) in best.items()}
        results[name]['speedup'] = round(best['baseline'][0] / best['candidate'][0], 1)
        print(f"{name:<52} {best['baseline'][0]:6.2f} s {best['baseline'][1]:5.0f} MB  ->"
              f"  {best['candidate'][0]:5.2f} s {best['candidate'][1]:4.0f} MB  ({results[name]['speedup']}x)")
    record = {'command': f"python benchmarks/cli_speed.py --baseline {args.baseline} --rounds {args.rounds}",
              'date': datetime.datetime.now().isoformat(timespec='minutes'), 'cpu': cpu(),
              'python': platform.python_version(), 'baseline': args.baseline,
              'candidate': subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True,
                                          text=True).stdout.strip() + ' (+ working tree)',
              'statistic': f"min of {args.rounds} runs, each a fresh process", 'results': results}
    out = ROOT/'benchmarks'/'results'/'cli_speed.json'
    out.write_text(json.dumps(record, indent=2) + '\n')
    print(f"wrote {out.relative_to(ROOT)}")

if __name__ == '__main__': main()
