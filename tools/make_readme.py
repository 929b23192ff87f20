"""Write README.md from nbs/index.ipynb: markdown cells as they are, code cells as ```python blocks, the error
table (at the line `ERRORS_MARK` in the notebook) made from `sagan_nb/errors.py`, and the table of the shipped models
beside StarGAN (at `MODELS_MARK`) made from nbs/measured/real_faces_table.json, real_faces_stargan.json and
sagan_nb/weights/MODELS.json (`python tools/real_faces.py evaluate` and `record` write them).

    python tools/make_readme.py          # write README.md
    python tools/make_readme.py --check  # exit 1 if README.md is out of date
"""
import ast, json, re, sys
from pathlib import Path
import nbformat

ROOT = Path(__file__).resolve().parents[1]
ERRORS_MARK = '<!-- the error table: tools/make_readme.py writes it here from sagan_nb/errors.py -->'
MODELS_MARK = '<!-- the models table: tools/make_readme.py writes it here from nbs/measured/real_faces_table.json, real_faces_stargan.json -->'
ATTRS = ('Eyeglasses', 'Mouth_Slightly_Open', 'Smiling', 'No_Beard')

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

def _model_row(r: dict, name: str, iterations, minutes) -> str:
    "One model's line: its evaluation on the paper-test faces (`tools/real_faces.py evaluate`), '–' where not measured."
    f = lambda k, fmt='.2f': format(r[k], fmt) if k in r else '–'
    x = lambda k: f"{r[k]:{'.3f' if k == 'speckle_win' else '.2f'}} ({r[k] / r[k + '_real']:.1f}x)" if k in r and r.get(k + '_real') else '–'
    geo = f"{r['geo_acc']:.2f} ({r['geo_acc_inputs']:.2f})" if 'geo_acc' in r else '–'
    return (f"| {name} | {iterations} ({minutes:.0f}) | {f('acc')} ({f('acc_add')} / {f('acc_remove')}) | "
            f"{f('acc_lp')} ({f('acc_lp_add')} / {f('acc_lp_remove')}) | {f('acc_inputs')} | {geo} | {x('speckle_win')} | "
            f"{x('colour_win')} | {f('mae_out', '.4f')} / {f('mae_in', '.4f')} | {f('same_person')} | {f('realism_acc')} |")

def models_table(root: Path = ROOT) -> str:
    """The README's table of the shipped SaGAN models beside StarGAN trained at the same size for at most the same CPU
    minutes, every column measured on the same faces by the same judges, then each shipped model's status (its misses)."""
    m = root / 'nbs' / 'measured'
    sag = {r['attribute']: r for r in json.loads((m / 'real_faces_table.json').read_text())}
    star = {r['attribute']: r for r in json.loads((m / 'real_faces_stargan.json').read_text())} if (m / 'real_faces_stargan.json').exists() else {}
    rec = json.loads((root / 'sagan_nb' / 'weights' / 'MODELS.json').read_text())['models']
    rows = ['| model | iterations (CPU minutes) | judged flip (add / remove) | low-passed flip (add / remove) | inputs already there '
            '| geometric flip (inputs) | speckle around the attribute (x real) | colour share (x real) | change outside / inside the box '
            '| same person (dlib) | realism test |', '|' + '---|' * 11]
    for a in ATTRS:
        if a in sag: rows.append(_model_row(sag[a], f'SaGAN {a}', rec[a]['iterations'], rec[a]['minutes']))
        if a in star: rows.append(_model_row(star[a], f'StarGAN {a}', star[a]['iterations'], star[a]['minutes']))
    rows += ['', '| shipped model | run | status: the bars it misses |', '|---|---|---|']
    rows += [f"| SaGAN {a} | `{rec[a]['command'].split()[3]}` at {rec[a]['iterations']} | {rec[a].get('status', 'not evaluated')} |" for a in ATTRS if a in rec]
    return '\n'.join(rows)

def render(nb_path: Path = ROOT / 'nbs' / 'index.ipynb') -> str:
    nb = nbformat.read(nb_path, as_version=4)
    parts = ['<!-- generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file -->']
    for c in nb.cells:
        src = c.source.strip()
        if not src: continue
        if c.cell_type == 'markdown' and ERRORS_MARK in src: src = src.replace(ERRORS_MARK, error_table())
        if c.cell_type == 'markdown' and MODELS_MARK in src: src = src.replace(MODELS_MARK, models_table())
        parts.append(src if c.cell_type == 'markdown' else f'```python\n{src}\n```')
    return '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    text, readme = render(), ROOT / 'README.md'
    if '--check' in sys.argv:
        if readme.read_text() != text: sys.exit('README.md is out of date: run python tools/make_readme.py')
    else: readme.write_text(text)
