"""benchmarks/bench.py: the smoke run writes a complete JSON report, and the FLOP counts are the model's."""
import importlib.util, json, math, subprocess, sys, time
from pathlib import Path
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / 'benchmarks' / 'bench.py'

@pytest.fixture(scope='module')
def bench():
    spec = importlib.util.spec_from_file_location('sagan_bench', BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod          # dataclasses look their module up here
    spec.loader.exec_module(mod)
    return mod

def _positive(v) -> bool: return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0

def test_quick_run_writes_complete_json(tmp_path):
    out = tmp_path / 'bench.json'
    t0 = time.time()
    p = subprocess.run([sys.executable, str(BENCH), '--quick', '--json', str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    assert time.time() - t0 < 60, f'--quick took {time.time() - t0:.0f} s'
    assert 'latency b1' in p.stdout and 'goal' in p.stdout      # the table was printed
    r = json.loads(out.read_text())
    assert {'meta', 'matmul', 'flops', 'edit', 'train', 'data', 'goals'} <= r.keys()
    for where in ('alone', 'edit_rounds', 'train_rounds'):        # the matmul rate, alone and within each section
        for k in ('fp32', 'bf16'): assert _positive(r['matmul'][where][k]['flops_per_s']), (where, k)
    for k in ('generator_forward', 'discriminator_forward', 'train_iteration'): assert _positive(r['flops'][k])
    assert r['flops']['size'] == 32
    assert 'eager_fp32' in r['edit'] and 'eager_fp32' in r['train']
    # the default editing path (sagan_nb.edit.Editor() as it comes) is measured, at the precision its 'auto' picks here
    from sagan_nb.edit import resolve_precision
    assert r['edit']['editor_default']['dtype'] == resolve_precision('auto', 'cpu')
    assert 'editor_default (' in p.stdout and 'Editor() default' in p.stdout
    for name, e in r['edit'].items():
        assert 'error' not in e, (name, e.get('error'))
        for k in ('latency_ms_b1', 'images_per_s_b1', 'images_per_s_batch', 'flops_per_s_b1', 'frac_matmul'):
            assert _positive(e[k]), (name, k, e[k])
        assert math.isfinite(e['max_abs_err_vs_fp32']) and e['max_abs_err_vs_fp32'] < 0.1, (name, e['max_abs_err_vs_fp32'])
        assert e['peak_mem_mb'] >= 0
    for name, t in r['train'].items():
        assert 'error' not in t, (name, t.get('error'))
        for k in ('iter_ms', 'iters_per_s', 'images_per_s', 'flops_per_s', 'frac_matmul', 'x_floor', 'floor_ms'):
            assert _positive(t[k]), (name, k, t[k])
        assert t['losses_finite']
        assert t['iters_per_s'] == pytest.approx(1000 / t['iter_ms'])
        assert t['runner'] in ('sagan_nb.train.Trainer.train_step', 'benchmarks TrainLoop')
    assert _positive(r['data']['batch_ms']) and _positive(r['data']['fraction_of_fastest_iteration'])
    # the goals are listed but not judged at the smoke run's toy shape
    assert r['goals'] and all(g['met'] is None for g in r['goals'])

def test_editor_default_config(bench, capsys):
    "`editor_default` is an editing config in the default lists; asking to train it is refused by name."
    assert bench.CONFIGS['editor_default'].editor
    assert 'editor_default' in bench.DEFAULTS['cpu'][0] and 'editor_default' not in bench.DEFAULTS['cpu'][1]
    with pytest.raises(SystemExit): bench.main(['--quick', '--train-configs', 'editor_default', '--edit-configs', 'none'])
    assert "'editor_default' is an editing config" in capsys.readouterr().err

def test_paper_flops_from_the_model(bench):
    f = bench.model_flops(128, 32, 32)      # meta tensors: no arithmetic, well under a second
    assert f['generator'] == pytest.approx(8.6e9, rel=0.03)
    assert f['discriminator'] == pytest.approx(0.348e9, rel=0.03)
    # and they grow with the image area: a 64² image is a quarter of the work
    assert bench.model_flops(64, 32, 32)['generator'] == pytest.approx(f['generator'] / 4, rel=0.01)

def test_train_flops_meta_equals_a_real_iteration(bench):
    "The meta-tensor count equals FlopCounterMode over a real CPU iteration (incl. the GP's double backward)."
    from torch.utils.flop_counter import FlopCounterMode
    meta = bench.train_flops(size=32, batch=2, conv_dim=4, d_conv_dim=4)['total']
    G, D = bench.build(32, 4, 4)
    loop = bench.TrainLoop(G, D, bench.fake_faces(8, 32), 2, torch.device('cpu'), bench.EAGER)
    with FlopCounterMode(display=False) as fc: loop.step()
    assert fc.get_total_flops() == meta

def test_train_flops_count_the_trainers_iteration(bench):
    "The counted iteration is the one `sagan_nb.train.Trainer.train_step` runs (same FLOPs at a small shape)."
    train = pytest.importorskip('sagan_nb.train')
    cfg = train.TrainConfig(attribute=bench.ATTR, image_size=32, conv_dim=4, d_conv_dim=4, batch_size=2,
                            device='cpu', amp='off', channels_last='off')
    tr = train.Trainer(cfg, bench.fake_faces(8, 32), progress=False)
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as fc: tr.train_step()
    assert fc.get_total_flops() == bench.train_flops(size=32, batch=2, conv_dim=4, d_conv_dim=4)['total']

def test_train_flops_bracket(bench):
    "One iteration at the paper's shape: more than its forwards alone, less than 4× them (1 fwd + ≤3 for backward)."
    g, d = 8.618e9, 0.348e9
    b = 16
    fwd = 3 * (b * g + 3 * b * d) + (3 * b * g + b * d)   # D steps: G(real) + D(real,fake,interp); G step: G on 2b, then b
    t = bench.train_flops(128, b, 32, 32)
    assert fwd < t['total'] < 4 * fwd
    assert 'aten.convolution_backward' in t['by_op']

@pytest.mark.gpu
def test_cuda_fast_paths_run(tmp_path):
    "On a GPU: the compiled, CUDA-graph editing and the whole-iteration CUDA graph training run and give finite losses."
    out = tmp_path / 'bench_cuda.json'
    p = subprocess.run([sys.executable, str(BENCH), '--quick', '--device', 'cuda', '--json', str(out),
                        '--edit-configs', 'eager_fp32,fast_cuda_edit',
                        '--train-configs', 'eager_fp32,fast_cuda_train,graph_cuda_train'],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r['matmul']['reference'] == 'bf16'
    for sec in ('edit', 'train'):
        for name, v in r[sec].items(): assert 'error' not in v, (sec, name, v.get('error'))
    for name, t in r['train'].items(): assert t['losses_finite'] and _positive(t['iter_ms']), name
    assert r['train']['graph_cuda_train']['runner'] == 'benchmarks TrainLoop'
    assert r['edit']['fast_cuda_edit']['max_abs_err_vs_fp32'] < 0.1
