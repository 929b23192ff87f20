"The package as users get it: the wheel, the README, the module layering, the console script."
import os, ast, configparser, json, re, subprocess, sys, zipfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

def notebook_order() -> list[str]:
    "The exported modules in the order of their notebooks (nbs/, by file name): the order in which they may import."
    out = []
    for nb in sorted((ROOT / 'nbs').glob('*.ipynb')):
        first = ''.join(json.loads(nb.read_text())['cells'][0]['source'])
        m = re.match(r'#\|\s*default_exp\s+(\w+)', first)
        if m: out.append(m[1])
    return out

ORDER = notebook_order()

def _cfg():
    c = configparser.ConfigParser(delimiters=['=']); c.read(ROOT / 'settings.ini'); return c['DEFAULT']

def test_readme_is_generated_from_index():
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'make_readme.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

def test_readme_lists_every_chapter():
    "The README's chapter table names every exported module with its notebook."
    text = (ROOT / 'README.md').read_text()
    for nb in sorted((ROOT / 'nbs').glob('[0-9]*.ipynb')):
        m = re.match(r'#\|\s*default_exp\s+(\w+)', ''.join(json.loads(nb.read_text())['cells'][0]['source']))
        if m: assert f'| `{nb.stem}` | `sagan_nb.{m[1]}` |' in text, nb.stem

def _error_rows() -> dict[str, tuple[list[str], list[str]]]:
    "{class: (the names in its brackets, the modules of its 'raised in' cell)} from the README's error table."
    text = (ROOT / 'README.md').read_text()
    rows = re.findall(r'^\| `(\w+)`(?: \(([^)]*)\))? \| ([^|]*) \|', text[text.index('| error | raised in | when |'):], re.M)
    return {n: (re.findall(r'`(\w+)`', kind), re.findall(r'`(\w+)`', mods)) for n, kind, mods in rows}

def test_readme_error_table_matches_the_errors_module():
    """Every exception and warning of `sagan_nb.errors` has one row, with the builtins it derives from; every module it
    names exists and raises the class (`Name(` in its source), and every module that raises it (`raise Name(`) is named."""
    import inspect, sagan_nb.errors as E
    classes = {n: c for n, c in vars(E).items() if inspect.isclass(c) and c.__module__ == 'sagan_nb.errors'}
    rows = _error_rows()
    assert set(rows) == set(classes), f'missing rows: {sorted(set(classes) - set(rows))}; not in errors: {sorted(set(rows) - set(classes))}'
    src = {m: (ROOT / 'sagan_nb' / f'{m}.py').read_text() for m in ORDER if m != 'errors'}
    for n, (kind, mods) in rows.items():
        import builtins
        for b in kind: assert issubclass(classes[n], getattr(builtins, b, None) or classes.get(b)), (n, b)
        for m in mods: assert m in src and re.search(rf'\b{n}\(|, {n}\b', src[m]), f'{n}: the README says {m} raises it'
        raisers = {m for m, s in src.items() if re.search(rf'raise {n}\(', s)}
        assert raisers <= set(mods), f'{n} is raised in {sorted(raisers - set(mods))} too: python tools/make_readme.py'

def test_readme_gives_the_two_commands():
    text = (ROOT / 'README.md').read_text()
    assert 'make demo' in text and 'make test' in text
    assert 'make test' in (ROOT / '.ci' / 'run').read_text()

def imported(f: Path) -> set[str]:
    "The sagan_nb modules that the module file `f` imports (`from .x import`, `from sagan_nb.x import`, `import sagan_nb.x`)."
    mods = set()
    for node in ast.walk(ast.parse(f.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            mods |= {node.module.split('.')[0]} if node.module else {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith('sagan_nb.'):
            mods.add(node.module.split('.')[1])
        elif isinstance(node, ast.ImportFrom) and node.module == 'sagan_nb': mods |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            mods |= {a.name.split('.')[1] for a in node.names if a.name.startswith('sagan_nb.')}
    return mods

def test_modules_import_in_one_direction():
    "The notebook order is the import order (faces → celeba → … → cli): no module imports one exported later."
    files = {f.stem: f for f in (ROOT / 'sagan_nb').glob('*.py') if not f.stem.startswith('_')}
    assert ORDER[:4] == ['errors', 'faces', 'celeba', 'lfw'] and ORDER[-1] == 'cli', ORDER
    assert set(files) == set(ORDER), f'modules without a notebook: {sorted(set(files) - set(ORDER))}; gone: {sorted(set(ORDER) - set(files))}'
    for stem, f in files.items():
        for m in imported(f) & set(ORDER):
            assert ORDER.index(m) < ORDER.index(stem), f'{stem} imports {m}, which comes after it'

def test_methods_live_in_their_own_modules():
    "The trainer holds no method: SaGAN registers in `sagan` (before `train` in the import order), the baselines in `baselines`."
    src = {m: (ROOT / 'sagan_nb' / f'{m}.py').read_text() for m in ORDER}
    assert {m for m, s in src.items() if re.search(r'\bregister_method\(Method\(', s)} == {'sagan', 'baselines'}
    assert ORDER.index('config') < ORDER.index('sagan') < ORDER.index('train') < ORDER.index('baselines'), ORDER
    assert 'train' not in imported(ROOT / 'sagan_nb' / 'sagan.py')

def test_every_method_is_registered_by_the_package_import():
    "A StarGAN checkpoint loads without the caller importing sagan_nb.baselines first (main: 'unknown method')."
    code = "from sagan_nb.config import METHODS; print(' '.join(sorted(METHODS)))"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.split() == ['cyclegan', 'resgan', 'sagan', 'stargan'], r.stdout + r.stderr

def test_version_matches_settings():
    import sagan_nb
    assert sagan_nb.__version__ == _cfg()['version']

@pytest.mark.slow                      # builds and installs a wheel with pip, then runs it in a fresh process
def test_wheel_contains_the_library(tmp_path):
    r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w',
                        str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    whl, = tmp_path.glob('sagan_nb-*.whl')
    names = zipfile.ZipFile(whl).namelist()
    for m in ['__init__', '_modidx'] + ORDER:
        assert f'sagan_nb/{m}.py' in names, m
    from sagan_nb.pretrained import shipped, MODELS_FILE
    for a, rec in shipped().items():                        # every shipped model travels with its record, byte for byte
        assert f"sagan_nb/weights/{rec['file']}" in names and f'sagan_nb/weights/{MODELS_FILE}' in names, a
        import hashlib
        assert hashlib.sha256(zipfile.ZipFile(whl).read(f"sagan_nb/weights/{rec['file']}")).hexdigest() == rec['sha256']
        assert rec['bytes'] < 16 * 2**20
    assert sum(r['bytes'] for r in shipped().values()) < 40 * 2**20
    meta = zipfile.ZipFile(whl).read(next(n for n in names if n.endswith('entry_points.txt'))).decode()
    assert 'sagan_nb = sagan_nb.cli:main' in meta
    assert not any(n.endswith(('.jpg', '.ipynb')) for n in names)
    # installed from the wheel alone (not this checkout), `sagan_nb edit` works without --checkpoint: the shipped model
    site = tmp_path / 'site'
    r = subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-index', '-q', '--target', str(site), str(whl)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    from PIL import Image
    Image.new('RGB', (80, 80), (150, 110, 90)).save(tmp_path / 'face.png')
    env = {**os.environ, 'PYTHONPATH': str(site), 'OMP_NUM_THREADS': '1'}
    code = ("import sys, sagan_nb, sagan_nb.cli; print(sagan_nb.__file__); "
            "sys.exit(sagan_nb.cli.main(['edit', 'face.png', 'out.png', '--attribute', 'Smiling']))")
    r = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    assert r.stdout.startswith(str(site)), r.stdout                 # the wheel's copy ran, not the checkout's
    assert Image.open(tmp_path / 'out.png').size == (80, 80)

# what a GPU machine without a package registry has beside its own torch (issue 27): `pip install --no-deps -e .`
OPTIONAL = ('fastcore', 'tqdm', 'matplotlib', 'papermill', 'nbformat', 'IPython', 'ipywidgets', 'ipykernel', 'dlib',
            'face_recognition_models', 'selenium', 'pytest')

def test_runs_with_torch_torchvision_numpy_and_pillow_alone(tmp_path):
    "Every module imports, `sagan_nb train` trains and `sagan_nb edit` edits with none of the optional packages."
    code = f"""
import sys
for m in {OPTIONAL!r}: sys.modules[m] = None                     # `import m` now raises ImportError
import importlib, pkgutil, sagan_nb
for m in pkgutil.iter_modules(sagan_nb.__path__): importlib.import_module('sagan_nb.' + m.name)
from sagan_nb.cli import main
from sagan_nb.faces import to_pil
from sagan_nb.synth import synth_tensors
to_pil(synth_tensors(1, size=40, seed=5).images[0]).save(r'{tmp_path}/face.png')
assert main(['train', '--attribute', 'Smiling', '--image-size', '32', '--conv-dim', '8', '--n-res', '1',
             '--d-conv-dim', '8', '--batch-size', '8', '--device', 'cpu', '--n-synth', '16', '--steps', '2',
             '--out', r'{tmp_path}/run']) == 0
assert main(['edit', '--checkpoint', r'{tmp_path}/run', r'{tmp_path}/face.png', r'{tmp_path}/out.png']) == 0
assert main(['edit', '--attribute', 'Smiling', r'{tmp_path}/face.png', r'{tmp_path}/shipped.png']) == 0
assert not any(m in sys.modules and sys.modules[m] is not None for m in {OPTIONAL!r})
print('ok')
"""
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0 and r.stdout.strip().endswith('ok'), r.stderr[-3000:]
    assert (tmp_path / 'out.png').exists() and (tmp_path / 'shipped.png').exists()
