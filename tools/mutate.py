"""Apply eight plausible wrong SaGANs, one at a time, to a copy of the package and check that the fast tests catch each.

    python tools/mutate.py            # all eight; exit 1 if any survives
    python tools/mutate.py M3 M7      # some
    make mutate

Each mutation is an exact text replacement in `sagan_nb/*.py` (the exported code the tests import). The copy lives in a
temporary folder with the repository's tests; `pytest -x -m "not slow"` runs there on `tests/test_paper.py` first (the
paper's constants and hand-worked losses), then on the other fast tests, and stops at the first failure: a mutation is
*caught* when some test fails within the time limit. A mutation whose text no longer matches the code is an error
(the code moved on: update the mutation), not a pass. The unmutated copy must pass `tests/test_paper.py` first.
"""
import argparse, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MUTATIONS = {   # name: (what goes wrong, file, correct text, wrong text)
    'M1': ('swap b and 1 − b in the blend (Eq. 7)', 'models.py',
           'return GenOutput(a * b + x * (1 - b), b, a)', 'return GenOutput(a * (1 - b) + x * b, b, a)'),
    'M2': ('drop the gradient penalty', 'losses.py',
           'loss=adv + lambda_gp * gp + cls_loss', 'loss=adv + cls_loss'),
    'M3': ("G's attribute loss against c_g instead of the target", 'losses.py',
           'cls_loss = attribute_bce(cls, c_target)', 'cls_loss = attribute_bce(cls, c_real)'),
    'M4': ('λ2 100 → 1', 'config.py',
           'lambda_id: float = 100.0', 'lambda_id: float = 1.0'),
    'M5': ('the SAN given the attribute channel', 'models.py',
           'b = self.san(x)', 'b = self.san(with_attribute(x[:, :2], c))'),
    'M6': ('identity reconstruction removed', 'losses.py',
           'lambda_rec * rec + lambda_id * idt', 'lambda_rec * rec'),
    'M7': ('dual reconstruction back to c_target instead of c_g', 'losses.py',
           'G(edit.edited, c_real)', 'G(edit.edited, c_target)'),
    'M8': ("D's attribute loss on real faces against 1 − c_g", 'losses.py',
           'cls_loss = attribute_bce(cls[:b], c_real)', 'cls_loss = attribute_bce(cls[:b], 1 - c_real)'),
}

def copy_repo(dst: Path) -> Path:
    "The package, its tests and notebooks (some tests read them) in `dst`."
    for d in ('sagan_nb', 'tests', 'nbs', 'paper_figures', 'benchmarks'):
        if (ROOT / d).exists():
            shutil.copytree(ROOT / d, dst / d, ignore=shutil.ignore_patterns('__pycache__', 'out', '_proc', '*.pt'))
    for f in ('settings.ini', 'setup.py', 'README.md'):
        if (ROOT / f).exists(): shutil.copy2(ROOT / f, dst / f)
    return dst

def fast_tests(repo: Path) -> list[str]:
    rest = sorted(str(p.relative_to(repo)) for p in (repo / 'tests').glob('test_*.py') if p.name != 'test_paper.py')
    return ['tests/test_paper.py', *rest]

def pytest(repo: Path, files: list[str], timeout: float) -> tuple[str, float, str]:
    "('pass' | 'fail' | 'timeout', seconds, the last lines of the output)."
    env = {**os.environ, 'PYTHONPATH': str(repo), 'OMP_NUM_THREADS': '1', 'PYTHONDONTWRITEBYTECODE': '1'}
    cmd = [sys.executable, '-m', 'pytest', '-x', '-q', '-m', 'not slow', '-p', 'no:cacheprovider', *files]
    t0 = time.time()
    try: r = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired: return 'timeout', time.time() - t0, ''
    tail = '\n'.join((r.stdout + r.stderr).strip().splitlines()[-3:])
    return ('pass' if r.returncode == 0 else 'fail'), time.time() - t0, tail

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('names', nargs='*', help=f"mutations to apply [default: all: {' '.join(MUTATIONS)}]")
    ap.add_argument('--timeout', type=float, default=180, help='seconds per mutation [default: %(default)s]')
    a = ap.parse_args(argv)
    names = a.names or list(MUTATIONS)
    bad = [n for n in names if n not in MUTATIONS]
    if bad: ap.error(f"unknown mutation(s) {', '.join(bad)}; known: {', '.join(MUTATIONS)}")
    with tempfile.TemporaryDirectory(prefix='sagan_mutate_') as tmp:
        repo = copy_repo(Path(tmp))
        status, secs, tail = pytest(repo, ['tests/test_paper.py'], a.timeout)
        if status != 'pass': print(f'the unmutated copy fails tests/test_paper.py ({status}):\n{tail}'); return 2
        survived = []
        for n in names:
            what, fname, good, wrong = MUTATIONS[n]
            path = repo / 'sagan_nb' / fname
            src = path.read_text()
            if src.count(good) != 1:
                print(f'{n}: ERROR: {fname} has {src.count(good)} copies of {good!r} (update the mutation)'); survived.append(n); continue
            path.write_text(src.replace(good, wrong))
            try: status, secs, tail = pytest(repo, fast_tests(repo), a.timeout)
            finally: path.write_text(src)
            verdict = 'caught' if status == 'fail' else 'SURVIVED' if status == 'pass' else f'not caught in {a.timeout:.0f} s'
            first = next((l for l in tail.splitlines() if l.startswith('FAILED')), '')
            print(f'{n} {what}: {verdict} ({secs:.0f} s) {first}', flush=True)
            if status != 'fail': survived.append(n)
        print(f'{len(names) - len(survived)}/{len(names)} caught')
        return 1 if survived else 0

if __name__ == '__main__': sys.exit(main())
