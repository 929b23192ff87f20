import os
from pathlib import Path
import pytest, torch

ROOT = Path(__file__).resolve().parents[1]

# The tests' training runs are tiny: one thread each. A second OpenMP thread gains little on them and, whenever the
# other core is busy, makes them up to ten times slower (measured here: 0.28 s vs 3.2 s per 32×32 SaGAN iteration).
torch.set_num_threads(1)

def pytest_configure(config):
    config.addinivalue_line('markers', 'gpu: needs CUDA; skipped on CPU-only machines')
    config.addinivalue_line('markers', 'slow: minutes of CPU; runs in CI')

def pytest_collection_modifyitems(config, items):
    gpu = pytest.mark.skip(reason='needs a CUDA GPU')
    for it in items:
        if 'gpu' in it.keywords and not torch.cuda.is_available(): it.add_marker(gpu)

@pytest.fixture(scope='session')
def data_root():
    "The shared real data (SAGAN_NB_DATA or ../shared/data beside the repo); skips when absent."
    root = Path(os.environ.get('SAGAN_NB_DATA', ROOT.parent / 'shared' / 'data'))
    if not (root / 'celeba').exists(): pytest.skip(f'no shared data at {root}')
    return root

@pytest.fixture(scope='session')
def data_root_or_none():
    "The shared real data when it is there, else None (for tests that also run without it)."
    root = Path(os.environ.get('SAGAN_NB_DATA', ROOT.parent / 'shared' / 'data'))
    return root if (root / 'celeba').exists() else None

# ---- the command line, in-process (tests/test_cli.py, tests/test_errors.py) ----------------------------------------
TINY = ['--attribute', 'Smiling', '--image-size', '32', '--conv-dim', '8', '--n-res', '1', '--d-conv-dim', '8',
        '--batch-size', '8', '--device', 'cpu', '--n-synth', '16', '--quiet']     # `sagan_nb train`'s tiny run

def run(*argv):
    "(exit status, stdout, stderr) of `sagan_nb argv...`, in-process."
    import contextlib, io
    from sagan_nb.cli import main
    o, e = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        try: code = main([str(a) for a in argv])
        except SystemExit as x: code = x.code
    return code, o.getvalue(), e.getvalue()

@pytest.fixture(scope='session')
def tiny_run(tmp_path_factory) -> Path:
    "The folder of a tiny Smiling run trained by the CLI for 2 iterations (shared: copy it before changing it)."
    d = tmp_path_factory.mktemp('tiny') / 'run'
    code, out, err = run('train', *TINY, '--steps', 2, '--out', d)
    assert code == 0, err
    return d
