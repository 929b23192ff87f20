"""Write README.md from nbs/index.ipynb: markdown cells as they are, code cells as ```python blocks, and the error
table (at the line `ERRORS_MARK` in the notebook) made from `sagan_nb/errors.py`.

    python tools/make_readme.py          # write README.md
    python tools/make_readme.py --check  # exit 1 if README.md is out of date
"""
import ast, json, re, sys
from pathlib import Path
import nbformat

ROOT = Path(__file__).resolve().parents[1]
ERRORS_MARK = '<!-- the error table: tools/make_readme.py writes it here from sagan_nb/errors.py -->'

def _modules(root: Path = ROOT) -> list[str]:
    "The exported modules in notebook order (nbs/*.ipynb by name, each first cell's `default_exp`)."
    out = []
    for nb in sorted((root / 'nbs').glob('*.ipynb')):
        m = re.match(r'#\|\s*default_exp\s+(\w+)', ''.join(json.loads(nb.read_text())['cells'][0]['source']))
        if m: out.append(m[1])
    return out

def raised_in(names, root: Path = ROOT) -> dict[str, list[str]]:
    "{class name: the modules (notebook order) whose code makes one: `Name(...)`, or passes it to `warn`}."
    out = {n: [] for n in names}
    for mod in _modules(root):
        if mod == 'errors' or not (root / 'sagan_nb' / f'{mod}.py').exists(): continue
        made = set()
        for node in ast.walk(ast.parse((root / 'sagan_nb' / f'{mod}.py').read_text())):
            if not isinstance(node, ast.Call): continue
            f = node.func
            if isinstance(f, ast.Name) and f.id in out: made.add(f.id)
            if (isinstance(f, ast.Attribute) and f.attr == 'warn') or (isinstance(f, ast.Name) and f.id == 'warn'):
                made |= {a.id for a in [*node.args, *(k.value for k in node.keywords)] if isinstance(a, ast.Name) and a.id in out}
        for n in made: out[n].append(mod)
    return out

def error_table(root: Path = ROOT) -> str:
    "The README's error table: each class of `sagan_nb/errors.py`, the builtins it derives from, the modules that raise it, its docstring."
    classes = [n for n in ast.parse((root / 'sagan_nb' / 'errors.py').read_text()).body if isinstance(n, ast.ClassDef)]
    bases = {c.name: [b.id for b in c.bases if isinstance(b, ast.Name)] for c in classes}
    def builtins(n):
        return [x for b in bases[n] for x in (builtins(b) if b in bases else [b])]
    where = raised_in(bases, root)
    rows = ['| error | raised in | when |', '|---|---|---|']
    for c in classes:
        b = [x for x in dict.fromkeys(builtins(c.name)) if x != 'Exception']
        pkg = [x for x in bases[c.name] if x in bases and x != 'DataError']
        kind = ' (' + ', '.join(f'`{x}`' for x in pkg + b) + ')' if pkg or b else ''
        mods = ', '.join(f'`{m}`' for m in where[c.name]) or 'its subclasses'
        doc = ' '.join((ast.get_docstring(c) or '').split())
        rows.append(f'| `{c.name}`{kind} | {mods} | {doc} |')
    return '\n'.join(rows)

def render(nb_path: Path = ROOT / 'nbs' / 'index.ipynb') -> str:
    nb = nbformat.read(nb_path, as_version=4)
    parts = ['<!-- generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file -->']
    for c in nb.cells:
        src = c.source.strip()
        if not src: continue
        if c.cell_type == 'markdown' and ERRORS_MARK in src: src = src.replace(ERRORS_MARK, error_table())
        parts.append(src if c.cell_type == 'markdown' else f'```python\n{src}\n```')
    return '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    text, readme = render(), ROOT / 'README.md'
    if '--check' in sys.argv:
        if readme.read_text() != text: sys.exit('README.md is out of date: run python tools/make_readme.py')
    else: readme.write_text(text)
