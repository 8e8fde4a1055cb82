"""Generate README.md from nbs/index.ipynb (Quarto, and so `nbdev_readme`, is not available here).

    python .ci/readme.py           # write README.md
    python .ci/readme.py --check   # exit 1 if README.md differs from what would be written

Markdown cells are copied verbatim; raw cells are skipped. Code cells become ```python blocks
with their `#|` directive lines removed; a cell whose directives include `#| hide` (or
`#| include: false`) is skipped, `#| echo: false` shows only the outputs and `#| output: false`
only the code. Outputs (stream text, text/markdown as-is, else text/plain) follow the code in
plain fenced blocks; images, HTML-only outputs and errors are left out.
"""
import difflib, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK, README = ROOT/'nbs'/'index.ipynb', ROOT/'README.md'
HEADER = '<!-- generated from nbs/index.ipynb by .ci/readme.py: do not edit -->'
DIRECTIVE = re.compile(r'^\s*#\s*\|\s*(.*?)\s*$')


def text(src):
    "Notebook JSON stores text as a string or a list of lines."
    return ''.join(src) if isinstance(src, list) else src


def directives(code):
    "The cell's leading `#|` directives, as {'hide': '', 'echo': 'false', ...}."
    res = {}
    for line in code.splitlines():
        m = DIRECTIVE.match(line)
        if not m:
            if line.strip(): break
            continue
        name, _, value = m.group(1).replace(':', ' ', 1).partition(' ')
        res[name.strip().lower()] = value.strip().lower()
    return res


def fence(body, lang=''):
    body = body.strip('\n')
    ticks = '````' if '```' in body else '```'
    return f'{ticks}{lang}\n{body}\n{ticks}'


def render_output(out):
    "Markdown for one output, or None to leave it out."
    data = out.get('data', {})
    if out.get('output_type') == 'stream': body = text(out.get('text', ''))
    elif 'text/markdown' in data: return text(data['text/markdown']).strip('\n') or None
    elif 'text/plain' in data: body = text(data['text/plain'])
    else: return None
    return fence(body) if body.strip() else None


def merged(outputs):
    "Outputs with consecutive stream outputs joined, as a notebook front end shows them."
    res = []
    for out in outputs:
        if res and out.get('output_type') == 'stream' == res[-1].get('output_type'):
            res[-1] = {**res[-1], 'text': text(res[-1].get('text', '')) + text(out.get('text', ''))}
        else: res.append(out)
    return res


def render_cell(cell):
    "Markdown blocks for one cell (possibly none)."
    src = text(cell.get('source', ''))
    if cell['cell_type'] == 'markdown': return [src.strip('\n')] if src.strip() else []
    if cell['cell_type'] != 'code': return []
    d = directives(src)
    if 'hide' in d or d.get('include') == 'false': return []
    blocks = []
    code = '\n'.join(l for l in src.splitlines() if not DIRECTIVE.match(l)).strip('\n')
    if code and d.get('echo') != 'false': blocks.append(fence(code, 'python'))
    if d.get('output') != 'false':
        blocks += [b for b in map(render_output, merged(cell.get('outputs', []))) if b]
    return blocks


def generate(nb_path=NOTEBOOK):
    nb = json.loads(Path(nb_path).read_text(encoding='utf-8'))
    blocks = [HEADER] + [b for cell in nb.get('cells', []) for b in render_cell(cell)]
    return '\n\n'.join(blocks) + '\n'


def main(args):
    if args not in ([], ['--check']): sys.exit('usage: python .ci/readme.py [--check]')
    new = generate()
    if not args:
        README.write_text(new, encoding='utf-8', newline='\n')
        return print(f'wrote {README.relative_to(ROOT)}')
    old = README.read_text(encoding='utf-8') if README.exists() else ''
    if old == new: return print('README.md is up to date with nbs/index.ipynb')
    diff = list(difflib.unified_diff(old.splitlines(), new.splitlines(), 'README.md (current)',
                                     'README.md (from nbs/index.ipynb)', lineterm=''))
    print('\n'.join(diff[:60] + (['...'] if len(diff) > 60 else [])))
    print('README.md is out of date with nbs/index.ipynb: run `python .ci/readme.py` and commit README.md')
    sys.exit(1)


if __name__ == '__main__': main(sys.argv[1:])
