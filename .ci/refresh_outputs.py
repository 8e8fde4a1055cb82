#!/usr/bin/env python3
"""Re-execute the notebooks and keep their outputs, so the notebooks and the docs show results.

    python .ci/refresh_outputs.py [nbs/04_search.ipynb ...]   # default: every notebook in nbs/
    python .ci/refresh_outputs.py --check                       # only check the kept outputs

Cells flagged `#| slow`, `#| gpu` or `#| milvus_server` (or `#| eval: false`) are not run and keep
no output. Outputs on stderr (warnings, progress bars) are dropped. Kept outputs must be byte-stable
from run to run, so the check fails on an output that holds a temporary path, an object address, a
timing or a progress bar, and on a notebook over 500 KB. Run `nbdev_clean` afterwards (the script does).
"""
import os, re, subprocess, sys, tempfile, time
from pathlib import Path
from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell
from fastcore.xtras import working_directory

ROOT = Path(__file__).resolve().parent.parent
SKIP = re.compile(r'^\s*#\|\s*(slow|gpu|milvus_server|eval:\s*false)\b', re.M)
UNSTABLE = {'a temporary path': re.compile(r'/tmp/|/var/folders/|imgsim-test-cache|\.cache/imgsim'), 'an object address': re.compile(r' at 0x[0-9a-f]{6,}'),
            'a timing': re.compile(r'took_ms|\d+(\.\d+)? ?(ms|s)\b elapsed|it/s\]'), 'a progress bar': re.compile(r'\d+%\|')}
MAX_BYTES = 500_000

def refresh(path:Path):
    "Execute a notebook in its folder and write it back with its (stdout and display) outputs."
    nb = read_nb(path)
    shell = CaptureShell(path, mpl_format='png')  # not retina: a quarter of the bytes
    def skip(cell): return cell.cell_type != 'code' or bool(SKIP.search(cell.source))
    start = time.time()
    with working_directory(path.parent): shell.run_all(nb, exc_stop=True, preproc=skip)
    for cell in nb.cells:
        if cell.cell_type == 'code':
            cell.outputs = [o for o in cell.get('outputs', []) if not (o.get('output_type') == 'stream' and o.get('name') == 'stderr')]
    write_nb(nb, path)
    print(f"refreshed {path.name} ({time.time() - start:.0f} s)")

def problems(path:Path)->list[str]:
    "What makes a notebook's kept outputs unstable or too large."
    found = []
    if path.stat().st_size > MAX_BYTES: found.append(f"{path.name}: {path.stat().st_size:,} bytes, over {MAX_BYTES:,}")
    for i, cell in enumerate(read_nb(path).cells):
        for output in cell.get('outputs', []) if cell.cell_type == 'code' else []:
            text = ''.join(output.get('text', '')) + ''.join(output.get('data', {}).get('text/plain', ''))
            found += [f"{path.name}: cell {i} shows {what}" for what, pattern in UNSTABLE.items() if pattern.search(text)]
    return found

if __name__ == '__main__':
    os.environ.setdefault('IMGSIM_CACHE', tempfile.mkdtemp(prefix='imgsim-refresh-'))  # as .ci/test: a fresh cache
    args = [a for a in sys.argv[1:] if a != '--check']
    paths = [Path(a).resolve() for a in args] or sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
    if '--check' not in sys.argv:
        for path in paths: refresh(path)
        subprocess.run(['nbdev_clean'], cwd=ROOT, check=True)
    issues = [p for path in paths for p in problems(path)]
    for issue in issues: print(f"outputs: {issue}")
    sys.exit(1 if issues else 0)
