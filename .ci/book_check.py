#!/usr/bin/env python3
"""Measure the book: outputs kept, long lines, module size, and the docs site's configuration.

    python .ci/book_check.py            # print the table; exit 1 if a target is missed
    python .ci/book_check.py --report   # print the table; always exit 0

Reads the committed files only (no notebook is executed), so it takes well under a second.
Targets (issue 29): at least 33 % of the code cells of the numbered chapters keep an output, and
every chapter at least 20 %; at most 5 % of notebook code lines over 100 characters; no module of
`imgsim/` (except the generated `_modidx.py`) over 600 lines; `nbs/sidebar.yml` lists
`index.ipynb` and every numbered chapter, and `nbs/_quarto.yml` and `nbs/nbdev.yml` exist (what
`nbdev_docs` needs besides Quarto itself).
"""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUTS_OVERALL, OUTPUTS_CHAPTER = 0.33, 0.20  # share of code cells that keep an output
LONG_LINE, LONG_LINES_MAX = 100, 0.05           # characters; share of code lines over that
MODULE_LINES_MAX = 600

def chapters()->list[Path]:
    "The numbered notebooks, in order."
    return sorted((ROOT/'nbs').glob('[0-9][0-9]_*.ipynb'))

def code_cells(notebook:Path)->list[dict]:
    "The code cells of a notebook, as stored."
    return [c for c in json.loads(notebook.read_text())['cells'] if c['cell_type'] == 'code']

def code_lines(cell:dict)->list[str]:
    "The lines of a code cell's source."
    source = cell['source']
    return ''.join(source).splitlines() if isinstance(source, list) else source.splitlines()

def chapter_rows()->list[dict]:
    "Per chapter: code cells, cells with an output, code lines, lines over LONG_LINE characters."
    rows = []
    for notebook in chapters():
        cells = code_cells(notebook)
        lines = [line for cell in cells for line in code_lines(cell)]
        rows.append(dict(chapter=notebook.stem, cells=len(cells),
                         with_output=sum(bool(c.get('outputs')) for c in cells),
                         lines=len(lines), long=sum(len(line) > LONG_LINE for line in lines)))
    return rows

def largest_module()->tuple[str, int]:
    "The longest module of imgsim/ (the generated _modidx.py aside), and its line count."
    sizes = {p.name: len(p.read_text().splitlines()) for p in (ROOT/'imgsim').glob('*.py')
             if p.name != '_modidx.py'}
    name = max(sizes, key=sizes.get)
    return name, sizes[name]

def site_problems()->list[str]:
    "What `nbdev_docs` would miss: a chapter absent from the sidebar, a missing Quarto config."
    problems = [f"nbs/{name} is missing" for name in ('_quarto.yml', 'nbdev.yml', 'sidebar.yml')
                if not (ROOT/'nbs'/name).exists()]
    if (ROOT/'nbs'/'sidebar.yml').exists():
        listed = set(re.findall(r'-\s*(\S+\.ipynb)', (ROOT/'nbs'/'sidebar.yml').read_text()))
        wanted = ['index.ipynb'] + [p.name for p in chapters()]
        problems += [f"sidebar.yml does not list {name}" for name in wanted if name not in listed]
    return problems

def percent(part:int, whole:int)->float: return 100 * part / whole if whole else 0.0

def report()->list[str]:
    "Print the table; return the targets missed."
    rows, failures = chapter_rows(), []
    print(f"{'chapter':<16} {'code cells':>10} {'with output':>11} {'share':>7} {'long lines':>10}")
    for r in rows:
        share = percent(r['with_output'], r['cells'])
        mark = '' if share >= 100 * OUTPUTS_CHAPTER else '  < 20 %'
        print(f"{r['chapter']:<16} {r['cells']:>10} {r['with_output']:>11} {share:>6.1f}%"
              f" {r['long']:>10}{mark}")
        if mark: failures.append(f"{r['chapter']}: outputs in {share:.1f} % of code cells")
    cells, kept = sum(r['cells'] for r in rows), sum(r['with_output'] for r in rows)
    lines, long = sum(r['lines'] for r in rows), sum(r['long'] for r in rows)
    module, size = largest_module()
    site = site_problems()
    measures = [
        ('outputs, all chapters', f"{kept}/{cells} = {percent(kept, cells):.1f} %",
         f">= {100 * OUTPUTS_OVERALL:.0f} %", percent(kept, cells) >= 100 * OUTPUTS_OVERALL),
        ('chapters under 20 %', str(sum(f.endswith('code cells') for f in failures)), '0',
         not failures),
        (f'code lines > {LONG_LINE} chars', f"{long}/{lines} = {percent(long, lines):.1f} %",
         f"<= {100 * LONG_LINES_MAX:.0f} %", percent(long, lines) <= 100 * LONG_LINES_MAX),
        ('largest module', f"{module}: {size} lines", f"<= {MODULE_LINES_MAX}",
         size <= MODULE_LINES_MAX),
        ('docs site config', 'complete' if not site else '; '.join(site), 'complete', not site)]
    print()
    print(f"{'measure':<24} {'value':<28} {'target':<10} ok")
    for name, value, target, ok in measures:
        print(f"{name:<24} {value:<28} {target:<10} {'yes' if ok else 'NO'}")
        if not ok and name != 'chapters under 20 %': failures.append(f"{name}: {value}")
    return failures

if __name__ == '__main__':
    failures = report()
    if failures and '--report' not in sys.argv:
        print(f"book check: {len(failures)} target(s) missed", file=sys.stderr)
        sys.exit(1)
