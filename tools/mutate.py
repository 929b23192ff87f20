"""Apply plausible wrong SaGANs (and baselines), one at a time, to a copy of the repository and check that a fast test
catches each: a test that passed on the unmutated copy and fails on the mutated one.

    python tools/mutate.py                 # all of them; exit 0 only if every one is caught
    python tools/mutate.py M3 M11          # some
    python tools/mutate.py --list          # what each one breaks
    make mutate

1. The copy: every file `git ls-files` lists (the tracked files, as they are in the working tree; `--untracked` adds
   the untracked files git does not ignore, e.g. a test file not yet added) in a temporary folder; `sagan_nb` is
   imported from there (PYTHONPATH), and the shared data is the one this checkout sees (SAGAN_NB_DATA).
2. The proof that a failure means something: the unmutated copy must pass the whole fast suite (`pytest tests -m "not
   slow"`), then the tests each mutation runs against (`--tests`, default tests/test_paper.py). Any failure there is an
   error (exit 2), reported with the failing tests.
3. Each mutation is an exact text replacement in `sagan_nb/*.py` of the copy, undone after its run. A target text that
   is not in its file exactly once, or a replacement that is not valid Python, is an error (the code moved on: update
   the mutation), never a pass. The mutation is *caught* when some test that passed unmutated fails; the catching tests
   are named. Tests of the package's shape (tests/test_package.py: README, wheel, layering) never count as a catch.

Exit status: 0 all caught, 1 some survived, 2 an error (the unmutated copy fails, or a mutation cannot be applied).
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MUTATIONS = {   # name: (what goes wrong, file in sagan_nb/, correct text, wrong text)
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
    'M9': ('the gradient norms averaged over the batch before the penalty (not per face)', 'losses.py',
           '(grad.float().flatten(1).norm(2, dim=1) - 1).pow(2).mean()',
           '(grad.float().flatten(1).norm(2, dim=1).mean() - 1).pow(2)'),
    'M10': ('one interpolation weight α for the whole batch', 'losses.py',
            'a = alpha.reshape(-1, 1, 1, 1).to(real.dtype)', 'a = alpha.mean().reshape(1, 1, 1, 1).to(real.dtype)'),
    'M11': ("SaGAN's step hands λ1 to the identity term and λ2 to the dual one", 'sagan.py',
            '1 - c, cfg.lambda_rec, cfg.lambda_id,', '1 - c, cfg.lambda_id, cfg.lambda_rec,'),
    'M12': ("SaGAN's step leaves λ_gp out (d_loss's default 10, whatever the config says)", 'sagan.py',
            'd_loss(D, x, fake, c, alpha, cfg.lambda_gp)', 'd_loss(D, x, fake, c, alpha)'),
    'M13': ('Trainer.train_step gives the generator step the flipped labels', 'train.py',
            'gl = m.g_step(self.G_run, self.D, x, c, cfg)', 'gl = m.g_step(self.G_run, self.D, x, 1 - c, cfg)'),
    'M14': ('residual blocks without their skip connection', 'models.py',
            'def forward(self, x: torch.Tensor) -> torch.Tensor: return x + self.body(x)',
            'def forward(self, x: torch.Tensor) -> torch.Tensor: return self.body(x)'),
    'M15': ("the discriminator's LeakyReLU slope 0.2 (CycleGAN's) instead of 0.01", 'models.py',
            'layers += [nn.Conv2d(cin, d, 4, 2, 1), nn.LeakyReLU(0.01)]',
            'layers += [nn.Conv2d(cin, d, 4, 2, 1), nn.LeakyReLU(0.2)]'),
    'M16': ("the editor's blend swapped at the photo's resolution (photos.paste)", 'photos.py',
            '(a * mk + region * (1 - mk))', '(region * mk + a * (1 - mk))'),
    'M17': ("StarGAN's cycle term weighted by λ_gp (10 as λ_rec in its paper)", 'baselines.py',
            'loss=adv + cls_loss + cfg.lambda_rec * rec', 'loss=adv + cls_loss + cfg.lambda_gp * rec'),
    'M18': ("CycleGAN's λ_cyc and λ_id swapped", 'baselines.py',
            'cfg.lambda_rec * cyc + cfg.lambda_id * ide', 'cfg.lambda_id * cyc + cfg.lambda_rec * ide'),
    'M19': ("ResGAN's α (pixel) and β (perceptual) swapped", 'baselines.py',
            "hp['alpha'] * pix + hp['beta'] * per", "hp['beta'] * pix + hp['alpha'] * per"),
    'M20': ("StarGAN's step asks for SaGAN's penalty (the mean of the critic's patch map) instead of its sum", 'baselines.py',
            "d_loss(D, x, fake, c, alpha, cfg.lambda_gp, gp_on='sum')", "d_loss(D, x, fake, c, alpha, cfg.lambda_gp)"),
    'M21': ("d_loss's penalty on the patch map's sum (StarGAN's) differentiates its mean", 'losses.py',
            'src_int.float().flatten(1).sum(1)', 'src_int.float().flatten(1).mean(1)'),
}

NOT_A_CATCH = ('tests/test_package.py',)     # the package's shape (README, wheel, layering), not its behaviour

class MutateError(Exception): "The check cannot be made: the copy fails unmutated, or a mutation cannot be applied."

# A pytest plugin (written next to the copy, loaded with -p) that records every test's outcome as JSON.
PLUGIN = '''
import json, os
_out = {}
def pytest_collectreport(report):
    if report.failed: _out[report.nodeid or '<collection>'] = 'error'
def pytest_runtest_logreport(report):
    if report.failed: _out[report.nodeid] = 'failed'
    elif report.skipped: _out.setdefault(report.nodeid, 'skipped')
    elif report.when == 'call': _out.setdefault(report.nodeid, 'passed')
def pytest_sessionfinish(session, exitstatus):
    with open(os.environ['MUTATE_OUTCOMES'], 'w') as f: json.dump(_out, f)
'''

def listed_files(root: Path = ROOT, untracked: bool = False) -> list[str]:
    "What `git ls-files` lists (deleted files left out); with `untracked`, also the untracked files git does not ignore."
    def ls(*extra):
        r = subprocess.run(['git', 'ls-files', '-z', *extra], cwd=root, capture_output=True, text=True)
        if r.returncode: raise MutateError(f'git ls-files failed in {root}: {r.stderr.strip()}')
        return [f for f in r.stdout.split('\0') if f]
    files = sorted(set(ls()) | (set(ls('--others', '--exclude-standard')) if untracked else set()))
    return [f for f in files if (root / f).is_file() or (root / f).is_symlink()]

def copy_repo(dst: Path, root: Path = ROOT, untracked: bool = False) -> int:
    "Copy what `git ls-files` lists from the working tree of `root` into `dst`; returns the number of files."
    files = listed_files(root, untracked)
    for f in files:
        (dst / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / f, dst / f, follow_symlinks=False)
    return len(files)

def _env(repo: Path, plugin_dir: Path, outcomes: Path) -> dict:
    data = os.environ.get('SAGAN_NB_DATA') or str(ROOT.parent / 'shared' / 'data')   # what tests/conftest.py sees here
    return {**os.environ, 'PYTHONPATH': os.pathsep.join([str(repo), str(plugin_dir)]), 'OMP_NUM_THREADS': '1',
            'PYTHONDONTWRITEBYTECODE': '1', 'SAGAN_NB_DATA': data, 'MUTATE_OUTCOMES': str(outcomes), 'MPLBACKEND': 'Agg'}

def run_tests(repo: Path, tests: list[str], timeout: float) -> tuple[str, dict, float, str]:
    "pytest (not slow) on `tests` in `repo`: ('done' | 'timeout', {nodeid: outcome}, seconds, the output's tail)."
    plugin_dir, outcomes = repo.parent / 'plugin', repo.parent / 'outcomes.json'
    plugin_dir.mkdir(exist_ok=True); (plugin_dir / 'mutate_outcomes.py').write_text(PLUGIN)
    outcomes.unlink(missing_ok=True)
    cmd = [sys.executable, '-m', 'pytest', '-q', '-m', 'not slow', '-p', 'no:cacheprovider', '-p', 'mutate_outcomes',
           *tests]
    t0 = time.time()
    try: r = subprocess.run(cmd, cwd=repo, env=_env(repo, plugin_dir, outcomes), capture_output=True, text=True,
                            timeout=timeout)
    except subprocess.TimeoutExpired: return 'timeout', {}, time.time() - t0, ''
    tail = '\n'.join((r.stdout + r.stderr).strip().splitlines()[-15:])
    if not outcomes.exists(): raise MutateError(f'pytest wrote no outcomes (exit {r.returncode}):\n{tail}')
    res = json.loads(outcomes.read_text())
    if r.returncode not in (0, 1): res.setdefault('<pytest>', f'error (exit {r.returncode})')
    return 'done', res, time.time() - t0, tail

def check_unmutated(repo: Path, tests: list[str], timeout: float, what: str) -> set[str]:
    "Run `tests` on the unmutated copy; every one must pass or be skipped. Returns the passed node ids."
    status, res, secs, tail = run_tests(repo, tests, timeout)
    if status != 'done': raise MutateError(f'the unmutated copy: {what} did not finish in {timeout:.0f} s')
    bad = sorted(k for k, v in res.items() if v not in ('passed', 'skipped'))
    passed = {k for k, v in res.items() if v == 'passed'}
    if bad or not passed:
        raise MutateError(f'the unmutated copy fails {what}: ' + (', '.join(bad[:10]) or 'no test passed') + f'\n{tail}')
    n_skip = sum(v == 'skipped' for v in res.values())
    print(f'unmutated copy: {what} passes ({len(passed)} passed, {n_skip} skipped, {secs:.0f} s)', flush=True)
    return passed

def mutate_text(name: str, src: str) -> str:
    "The source of `MUTATIONS[name]`'s file with the mutation applied; MutateError if it cannot be applied exactly once."
    what, fname, good, wrong = MUTATIONS[name]
    if good == wrong: raise MutateError(f'{name}: the wrong text is the correct one')
    k = src.count(good)
    if k != 1: raise MutateError(f'{name}: sagan_nb/{fname} has {k} copies of {good!r}, not 1 (the code moved on: '
                                 'update the mutation in tools/mutate.py)')
    out = src.replace(good, wrong)
    try: compile(out, fname, 'exec')
    except SyntaxError as e: raise MutateError(f'{name}: the mutated sagan_nb/{fname} is not valid Python ({e})') from None
    return out

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('names', nargs='*', help=f"mutations to apply [default: all: {' '.join(MUTATIONS)}]")
    ap.add_argument('--tests', nargs='+', default=['tests/test_paper.py'],
                    help='the fast tests each mutation runs [default: %(default)s]')
    ap.add_argument('--timeout', type=float, default=600, help='seconds per pytest run [default: %(default)s]')
    ap.add_argument('--untracked', action='store_true', help='copy the untracked files git does not ignore too')
    ap.add_argument('--list', action='store_true', help='list the mutations and exit')
    a = ap.parse_args(argv)
    if a.list:
        for n, (what, fname, *_) in MUTATIONS.items(): print(f'{n:4} {fname:13} {what}')
        return 0
    names = a.names or list(MUTATIONS)
    bad = [n for n in names if n not in MUTATIONS]
    if bad: ap.error(f"unknown mutation(s) {', '.join(bad)}; known: {', '.join(MUTATIONS)}")
    t_start = time.time()
    with tempfile.TemporaryDirectory(prefix='sagan_mutate_') as tmp:
        repo = Path(tmp) / 'repo'; repo.mkdir()
        try:
            n_files = copy_repo(repo, untracked=a.untracked)
            for n in names: mutate_text(n, (repo / 'sagan_nb' / MUTATIONS[n][1]).read_text())   # all apply, before any runs
            r = subprocess.run([sys.executable, '-c', 'import sagan_nb; print(sagan_nb.__file__)'], cwd=repo,
                               env=_env(repo, repo.parent, repo.parent / 'x'), capture_output=True, text=True)
            if not r.stdout.strip().startswith(str(repo)):
                raise MutateError(f'the copy imports sagan_nb from {r.stdout.strip() or r.stderr.strip()!r}, not from itself')
            print(f'copied the {n_files} files git lists' + (' (and the untracked ones)' if a.untracked else '') +
                  f' into {repo}', flush=True)
            check_unmutated(repo, ['tests'], a.timeout, 'the whole fast suite (pytest tests -m "not slow")')
            passed = check_unmutated(repo, a.tests, a.timeout, ' '.join(a.tests))
        except MutateError as e:
            print(f'ERROR: {e}'); return 2
        t_mut, survived, errors = time.time(), [], []
        for n in names:
            what, fname, good, wrong = MUTATIONS[n]
            path = repo / 'sagan_nb' / fname
            src = path.read_text()
            try: path.write_text(mutate_text(n, src))
            except MutateError as e: print(f'{n} {what}: ERROR: {e}', flush=True); errors.append(n); continue
            try: status, res, secs, tail = run_tests(repo, a.tests, a.timeout)
            except MutateError as e: status, res, secs, tail = 'error', {}, 0.0, str(e)
            finally: path.write_text(src)
            caught = sorted(k for k, v in res.items() if v == 'failed' and k in passed and not k.startswith(NOT_A_CATCH))
            if caught:
                first_file = caught[0].split('::')[0]
                rest = ''.join(', ' + (k[len(first_file):] if k.startswith(first_file + '::') else k) for k in caught[1:])
                print(f'{n} {what}: caught by {caught[0]}{rest} ({secs:.0f} s)', flush=True)
            else:
                why = (f'not caught in {a.timeout:.0f} s' if status == 'timeout' else
                       f'ERROR: {tail}' if status == 'error' else 'SURVIVED')
                other = sorted(k for k, v in res.items() if v not in ('passed', 'skipped'))
                print(f'{n} {what}: {why} ({secs:.0f} s)' + (f'; failures that do not count: {", ".join(other)}'
                                                             if other else ''), flush=True)
                (errors if status == 'error' else survived).append(n)
        k = len(names) - len(survived) - len(errors)
        print(f'{k}/{len(names)} caught ({time.time() - t_mut:.0f} s for the mutations, {time.time() - t_start:.0f} s '
              f'in all)' + (f'; survived: {" ".join(survived)}' if survived else '') +
              (f'; errors: {" ".join(errors)}' if errors else ''))
        return 2 if errors else 1 if survived else 0

if __name__ == '__main__': sys.exit(main())
