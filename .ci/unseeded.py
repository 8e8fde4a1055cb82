#!/usr/bin/env python3
"""Fail when a notebook's test cell draws random numbers before any seed is set in that notebook.

    python .ci/unseeded.py nbs/*.ipynb     # exit 1, naming notebook and cell, on an unseeded draw
    python .ci/unseeded.py --self-test     # check the checker on small examples

A test cell is any code cell that is not exported (`#| export`, `exporti`, `exports`): `#| hide`,
`#| slow` and `#| gpu` cells are tests too. A draw is a call of torch's or NumPy's global random
generators (`torch.randn(`, `np.random.rand(`, `x.normal_(`, `nn.init.…(`, stdlib `random.…(`) or an
unseeded `np.random.default_rng()`. A seed is `torch.manual_seed(`, `np.random.seed(` or
`random.seed(` in a test cell at or before the draw (a seed inside an exported function runs only
when that function is called, so it does not count). Seeded generators (`np.random.default_rng(0)`,
`torch.Generator().manual_seed(0)`, `generator=`) are not draws from global state and pass.
"""
import json, re, sys

DRAW = re.compile(
    r'\btorch\.(rand|randn|randint|randperm|rand_like|randn_like|randint_like|normal|bernoulli|multinomial|poisson)\('
    r'|\.(uniform_|normal_|random_|bernoulli_|exponential_|cauchy_|log_normal_|geometric_)\((?![^)]*generator=)'
    r'|\bnn\.init\.\w+\('
    r'|\bnp\.random\.(?!default_rng\(|seed\(|Generator\(|RandomState\(|SeedSequence\(|PCG64\()\w+\('
    r'|\bnp\.random\.default_rng\(\s*\)'
    r'|(?<![\w.])random\.(random|randint|randrange|choice|choices|shuffle|sample|uniform|gauss)\(')
SEED = re.compile(r'\b(torch|torch\.random|torch\.cuda)\.manual_seed(_all)?\(|\bnp\.random\.seed\(|(?<![\w.])random\.seed\(')
EXPORTED = re.compile(r'^\s*#\|\s*export[is]?\b', re.M)

def _code(source:str)->str:
    "Source without comments (whole-line and trailing `  # ...`), so words in comments are not calls."
    return '\n'.join(re.sub(r'\s+#\s.*$', '', line) for line in source.splitlines() if not line.lstrip().startswith('#'))

def unseeded_draws(notebook:dict)->list[tuple[int, str, str]]:
    "(cell index, cell id, the draw) for each test cell that draws before any seed is set."
    seeded, found = False, []
    for i, cell in enumerate(notebook['cells']):
        source = ''.join(cell['source'])
        if cell['cell_type'] != 'code' or EXPORTED.search(source): continue
        code = _code(source)
        for line in code.splitlines():
            if SEED.search(line): seeded = True
            draw = DRAW.search(line)
            if draw and not seeded: found.append((i, cell.get('id', '?'), draw.group(0))); break
    return found

def main(paths:list[str])->int:
    problems = 0
    for path in paths:
        for i, cell_id, draw in unseeded_draws(json.load(open(path))):
            problems += 1
            print(f"{path}: cell {i} (id {cell_id}) calls `{draw}` with no seed set before it in this notebook; "
                  "seed it (torch.manual_seed(0) / np.random.default_rng(0)) or a test may fail one run in ten")
    print(f"unseeded random draws: {problems} in {len(paths)} notebooks")
    return 1 if problems else 0

def self_test():
    def nb(*sources): return {'cells': [{'cell_type': 'code', 'id': f"c{i}", 'source': [s]} for i, s in enumerate(sources)]}
    assert unseeded_draws(nb('x = torch.randn(3)')) == [(0, 'c0', 'torch.randn(')]
    assert unseeded_draws(nb('torch.manual_seed(0)', 'x = torch.randn(3)')) == []
    assert unseeded_draws(nb('torch.manual_seed(0); x = torch.randn(3)')) == []
    assert unseeded_draws(nb('x = torch.randn(3)\ntorch.manual_seed(0)'))  # seeded after the draw
    assert unseeded_draws(nb('#| export\ndef f(): torch.manual_seed(0)', 'np.random.rand(2)'))
    assert unseeded_draws(nb('rng = np.random.default_rng()'))
    assert not unseeded_draws(nb('rng = np.random.default_rng(0); rng.normal(size=3)'))
    assert unseeded_draws(nb('w.normal_(0, 1)')) and not unseeded_draws(nb('w.normal_(0, 1, generator=g)'))
    assert unseeded_draws(nb('random.shuffle(items)')) and not unseeded_draws(nb('rng.random.shuffle(items)'))
    assert not unseeded_draws(nb('# torch.randn(3) in a comment', 'y = 1  # np.random.rand( in a comment'))
    assert not unseeded_draws(nb('#| export\ndef f(): return torch.randn(3)'))
    assert unseeded_draws(nb('#| hide\nnn.init.normal_(w)'))
    print("unseeded.py self-test: ok")

if __name__ == '__main__':
    if sys.argv[1:] == ['--self-test']: self_test()
    else: sys.exit(main(sys.argv[1:]))
