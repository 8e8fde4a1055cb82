#!/usr/bin/env python3
"""Check the docs: every exported public name is documented, and every chapter shows its results.

    python .ci/docs_check.py [--outputs]    # after nbdev_proc_nbs has written _proc/

1. For each module `imgsim/X.py`, every name in its `__all__` must appear in the processed page of
   the notebook it is exported from (`_proc/NN_x.ipynb`): a function or class as nbdev's `show_doc`
   entry for it, anything else (a constant, a registry) in the source of a cell of that page.
2. `nbs/sidebar.yml` lists every notebook of `nbs/` (index first), so the site shows every chapter.
3. With `--outputs`: every chapter notebook `nbs/NN_*.ipynb` must keep outputs (at least one code
   cell with an output), so the docs show tables, numbers and pictures.
Exit 1, naming each missing entry, if a check fails.
"""
import ast, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def exported_names(module:Path)->tuple[str, dict]:
    "The notebook a module is exported from, and {name: 'doc' for functions/classes, 'text' for others}."
    source = module.read_text()
    notebook = re.search(r'File to edit: \.\./nbs/(\S+\.ipynb)', source).group(1)
    tree = ast.parse(source)
    names = next((ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                  and any(getattr(t, 'id', None) == '__all__' for t in n.targets)), [])
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return notebook, {name: 'doc' if name in defined else 'text' for name in names}

def missing_docs(proc:Path)->list[str]:
    problems = []
    for module in sorted((ROOT/'imgsim').glob('*.py')):
        if module.name.startswith('_') or 'File to edit' not in module.read_text(): continue
        notebook, names = exported_names(module)
        page = proc/notebook
        if not page.exists(): problems.append(f"{notebook}: no processed page in {proc.name}/ (run nbdev_proc_nbs)"); continue
        sources = [''.join(c['source']) for c in json.loads(page.read_text())['cells']]
        documented = {m for s in sources for m in re.findall(r'show_doc\((\w+)', s)}
        text = '\n'.join(sources)
        for name, kind in names.items():
            if kind == 'doc' and name not in documented: problems.append(f"{notebook}: no show_doc entry for {module.stem}.{name}")
            if kind == 'text' and not re.search(rf'\b{re.escape(name)}\b', text): problems.append(f"{notebook}: {module.stem}.{name} never appears")
    return problems

def missing_from_sidebar()->list[str]:
    listed = re.findall(r'-\s*(\S+\.ipynb)', (ROOT/'nbs'/'sidebar.yml').read_text())
    present = sorted(p.name for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
    problems = [f"sidebar.yml: {name} is not listed" for name in present if name not in listed]
    problems += [f"sidebar.yml: lists {name}, which is not in nbs/" for name in listed if name not in present]
    return problems + ([] if listed[:1] == ['index.ipynb'] else ["sidebar.yml: index.ipynb should come first"])

def missing_outputs()->list[str]:
    problems = []
    for notebook in sorted((ROOT/'nbs').glob('[0-9][0-9]_*.ipynb')):
        cells = json.loads(notebook.read_text())['cells']
        if not any(c.get('outputs') for c in cells if c['cell_type'] == 'code'):
            problems.append(f"{notebook.name}: no outputs kept (run python .ci/refresh_outputs.py and commit the notebooks)")
    return problems

if __name__ == '__main__':
    problems = missing_docs(ROOT/'_proc') + missing_from_sidebar() + (missing_outputs() if '--outputs' in sys.argv else [])
    for p in problems: print(f"docs check: {p}")
    print(f"docs check: {len(problems)} problem(s)")
    sys.exit(1 if problems else 0)
