"""How fast `imgsim` reports a user's mistake (target ≤ 0.5 s): before (a git commit) vs now.

    python benchmarks/cli_errors.py [--baseline b576528] [--rounds 5]

Each mistake (a wrong subcommand, a bad option value, a missing or damaged run directory, a
missing image or folder) runs as a fresh Python process, as the `imgsim` console script does,
once with the baseline commit's `imgsim/` package (extracted with `git archive` into a temporary
folder) and once with this checkout's, alternating, `--rounds` times each; the figure is the
minimum wall time. The one line each prints is recorded too. A real run (the bundled sample,
EfficientNet-Lite0, one epoch) is built first, for the missing-image case.
Results go to benchmarks/results/cli_errors.json.
"""
import argparse, datetime, json, os, platform, subprocess, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from startup import extract  # the baseline commit's package, by git archive

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = "import sys; from imgsim.cli import main; sys.argv[0] = 'imgsim'; sys.exit(main())"
TARGET_SECONDS = 0.5

def mistakes(run:Path, damaged:Path)->dict:
    "{what: argv} for each kind of mistake."
    return {'wrong subcommand': ['fly'],
            'bad choice (--augment heavy)': ['train', '--data', 'd', '--out', 'o', '--augment', 'heavy'],
            'bad number (-k 0)': ['search', 'x.jpg', '-k', '0'],
            'bad number (--patience 0)': ['train', '--data', '.', '--out', 'o', '--patience', '0'],
            'missing run directory': ['eval', '--run', 'nowhere'],
            'damaged run (manifest not JSON)': ['eval', '--run', str(damaged)],
            'missing image': ['search', '--run', str(run), 'missing.jpg'],
            'missing image folder': ['train', '--data', 'photos', '--out', 'o']}

def run_once(tree:Path, argv:list, cwd:Path)->tuple[float, int, str]:
    "Seconds, exit status and last stderr line of one `imgsim` process using the package in `tree`."
    env = os.environ | {'PYTHONPATH': str(tree), 'IMGSIM_OFFLINE': '1'}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, '-c', SCRIPT, *argv], env=env, cwd=cwd,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    lines = done.stderr.strip().splitlines() or ['']
    return seconds, done.returncode, lines[-1].replace(str(cwd), '.')

def build_demo_run(folder:Path)->Path:
    "A real run of the bundled sample (EfficientNet-Lite0, one epoch), with this checkout's code."
    code = ("import sys; from imgsim.data import sample_collection; from imgsim.train import TrainConfig\n"
            "from imgsim.pipeline import build_run\n"
            "build_run(sample_collection(), sys.argv[1], 'efficientnet_lite0', TrainConfig(epochs=1),"
            " progress=False)")
    env = os.environ | {'PYTHONPATH': str(ROOT), 'IMGSIM_OFFLINE': '1'}
    subprocess.run([sys.executable, '-c', code, str(folder)], env=env, check=True)
    return folder

def cpu()->str:
    try:
        lines = subprocess.run(['lscpu'], capture_output=True, text=True).stdout.splitlines()
        return next(l.split(':', 1)[1].strip() for l in lines if l.startswith('Model name'))
    except (OSError, StopIteration): return platform.processor()

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--baseline', default='b576528')
    parser.add_argument('--rounds', type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault('IMGSIM_CACHE', tempfile.mkdtemp(prefix='imgsim-bench-cache-'))
    work = Path(tempfile.mkdtemp(prefix='imgsim-cli-errors-'))
    build_demo_run(work/'run')  # the run that mistakes() names, relative to work
    (work/'damaged').mkdir(); (work/'damaged'/'manifest.json').write_text('{"files": ')
    trees = {'baseline': extract(args.baseline, Path(tempfile.mkdtemp())), 'candidate': ROOT}
    results = {}
    for what, argv in mistakes(Path('run'), Path('damaged')).items():
        runs = {k: [] for k in trees}
        for _ in range(args.rounds):
            for which, tree in trees.items(): runs[which].append(run_once(tree, argv, work))
        best = {k: min(v) for k, v in runs.items()}
        results[what] = {'argv': argv} | {
            k: {'seconds': round(s, 3), 'exit_status': rc, 'error': line}
            for k, (s, rc, line) in best.items()}
        results[what]['met'] = best['candidate'][0] <= TARGET_SECONDS
        print(f"{what:<34} {best['baseline'][0]:6.2f} s -> {best['candidate'][0]:5.2f} s"
              f"  {best['candidate'][2][:70]}", flush=True)
    head = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    record = {'command': f"python benchmarks/cli_errors.py --baseline {args.baseline} "
                         f"--rounds {args.rounds}",
              'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='minutes'),
              'cpu': cpu(), 'cores': os.cpu_count(), 'python': platform.python_version(),
              'baseline': args.baseline, 'candidate': head, 'figure': f'min of {args.rounds}',
              'target_seconds': TARGET_SECONDS, 'results': results}
    out = ROOT/'benchmarks'/'results'/'cli_errors.json'
    out.write_text(json.dumps(record, indent=2) + '\n')
    print(f"wrote {out.relative_to(ROOT)}")

if __name__ == '__main__': main()
