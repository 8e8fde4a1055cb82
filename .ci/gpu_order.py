"""Library code that a notebook's `#| gpu` cell runs must be defined before that cell.

    python .ci/gpu_order.py nbs/*.ipynb      # lists each problem; exit status 1 if there is one
    python .ci/gpu_order.py --self-test

CI has no GPU, so it never runs `#| gpu` cells, and a notebook's exported code runs in the notebook
as its cells define it. Exported code may name a global, or call a method patched onto a class
(`@patch`), that a later exported cell defines: harmless where only CPU cells between run that code
(CI would see the failure), fatal to a `#| gpu` cell between the two, which then stops with a
NameError or AttributeError on the one machine where it runs. (Twice on an H200 in one session:
`CUDA_GRAPHS` and `Runner._replayed`, each used on CUDA only and defined a few cells too late.)

For each `#| gpu` cell, this reports every name or `self.<method>` used by an exported cell above
it that only an exported cell below it defines (names bound in the using cell itself do not count).
"""
import ast, json, sys

def _source(cell): return ''.join(cell['source'])

def _flags(source):
    return {line[3:].split()[0] for line in source.splitlines() if line.startswith('#| ') and len(line) > 3}

def _tree(source):
    code = '\n'.join(l for l in source.splitlines() if not l.lstrip().startswith(('%', '!')))
    try: return ast.parse(code)
    except SyntaxError: return None

def _bound(tree)->set:
    "Every name a cell binds anywhere (assignments, parameters, definitions, imports, loop targets)."
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)): names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): names.add(node.name)
        elif isinstance(node, ast.arg): names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split('.')[0] for a in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name: names.add(node.name)
    return names

def _used(tree)->tuple[set, set]:
    "Names a cell reads, and the attributes it reads from `self`."
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    methods = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
               and isinstance(n.value, ast.Name) and n.value.id == 'self'}
    return names, methods

def _defined(tree)->tuple[set, set]:
    "Top-level names a cell defines, and the methods it patches onto classes (`@patch`)."
    names, patched = set(), set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            is_patch = any(isinstance(d, ast.Name) and d.id == 'patch' or isinstance(d, ast.Call)
                           and getattr(d.func, 'id', '') == 'patch' for d in node.decorator_list)
            (patched if is_patch else names).add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names, patched

def problems(cells:list)->list[str]:
    "What each `#| gpu` cell would meet undefined, as 'cell N (gpu): ...' lines."
    parsed = [(i, _flags(_source(c)), _tree(_source(c))) for i, c in enumerate(cells)
              if c['cell_type'] == 'code']
    parsed = [(i, flags, tree) for i, flags, tree in parsed if tree is not None]
    found = []
    for g, flags, _ in parsed:
        if 'gpu' not in flags: continue
        before = set().union(*[_bound(t) for i, _, t in parsed if i < g])
        later_names, later_methods = set(), set()
        for i, f, t in parsed:
            if i > g and 'export' in f:
                names, patched = _defined(t); later_names |= names; later_methods |= patched
        earlier_methods = set().union(*[_defined(t)[1] | _bound(t) for i, _, t in parsed if i < g])
        for e, f, t in parsed:
            if e >= g or 'export' not in f: continue
            names, methods = _used(t)
            own = _bound(t)
            for name in sorted((names - own - before) & later_names):
                found.append(f"cell {g} (gpu) runs after cell {e}, which uses {name}, defined later")
            for name in sorted((methods & later_methods) - earlier_methods):
                found.append(f"cell {g} (gpu) runs after cell {e}, which calls self.{name}, "
                             "patched on later")
    return found

def _cell(source, kind='code'): return {'cell_type': kind, 'source': source}

def self_test():
    ok = [_cell('#| export\nLIMIT = 3\ndef f(): return LIMIT'), _cell('#| gpu\nf()')]
    late_name = [_cell('#| export\ndef f(): return LIMIT'), _cell('#| gpu\nf()'),
                 _cell('#| export\nLIMIT = 3')]
    late_method = [_cell('#| export\nclass A:\n    def run(self): return self._fast()'),
                   _cell('#| gpu\nA().run()'),
                   _cell('#| export\n@patch\ndef _fast(self:A): return 1')]
    on_cpu_only = [_cell('#| export\ndef f(): return LIMIT'), _cell('f()'),
                   _cell('#| export\nLIMIT = 3')]
    local = [_cell('#| export\ndef f(limit=1):\n    LIMIT = limit\n    return LIMIT'),
             _cell('#| gpu\nf()'), _cell('#| export\nLIMIT = 3')]
    assert problems(ok) == [] and problems(on_cpu_only) == [] and problems(local) == []
    assert problems(late_name) == ['cell 1 (gpu) runs after cell 0, which uses LIMIT, defined later']
    assert problems(late_method) == [
        'cell 1 (gpu) runs after cell 0, which calls self._fast, patched on later']
    print('gpu_order self-test: ok')

if __name__ == '__main__':
    if sys.argv[1:] == ['--self-test']: self_test(); sys.exit()
    failed = False
    for path in sys.argv[1:]:
        for line in problems(json.load(open(path))['cells']):
            print(f"{path}: {line}"); failed = True
    print(f"gpu cell order: {'problems above' if failed else 'ok'} in {len(sys.argv) - 1} notebooks")
    sys.exit(1 if failed else 0)
