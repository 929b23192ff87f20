"""benchmarks/bench.py: the smoke run writes a complete JSON report that report.py renders, and the FLOP counts are
the model's (the training iteration's: n_critic critic steps and one generator step, each counted on its own)."""
import importlib.util, json, math, subprocess, sys, time
from dataclasses import asdict
from pathlib import Path
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from sagan_nb.budgets import NODOTS

ROOT = Path(__file__).resolve().parents[1]
BENCH, REPORT = ROOT / 'benchmarks' / 'bench.py', ROOT / 'benchmarks' / 'report.py'

@pytest.fixture(scope='module')
def bench():
    spec = importlib.util.spec_from_file_location('sagan_bench', BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod          # dataclasses look their module up here
    spec.loader.exec_module(mod)
    return mod

@pytest.fixture(scope='module')
def quick(tmp_path_factory):
    "The smoke run: (its process, its JSON report's path, seconds it took)."
    out = tmp_path_factory.mktemp('bench') / 'bench.json'
    t0 = time.time()
    p = subprocess.run([sys.executable, str(BENCH), '--quick', '--json', str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=180)
    return p, out, time.time() - t0

def _positive(v) -> bool: return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0

def _check_iteration(name, t):
    "A timed training iteration's numbers, in the train section or a recipe."
    assert 'error' not in t, (name, t.get('error'))
    for k in ('iter_ms', 'iters_per_s', 'images_per_s', 'flops_per_s', 'frac_matmul', 'x_floor', 'floor_ms'):
        assert _positive(t[k]), (name, k, t[k])
    assert t['losses_finite']
    assert t['iters_per_s'] == pytest.approx(1000 / t['iter_ms'])
    assert t['runner'] == 'sagan_nb.train.Trainer.train_step'

def test_quick_run_writes_complete_json(quick):
    p, out, took = quick
    assert p.returncode == 0, p.stderr[-3000:]
    assert 'latency b1' in p.stdout and 'goal' in p.stdout and 'x FLOP floor' in p.stdout   # the table was printed
    r = json.loads(out.read_text())
    assert {'meta', 'matmul', 'flops', 'edit', 'train', 'recipe', 'data', 'goals'} <= r.keys()
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
    for name, t in r['train'].items(): _check_iteration(name, t)
    assert _positive(r['data']['batch_ms']) and _positive(r['data']['fraction_of_fastest_iteration'])
    # the goals are listed but not judged at the smoke run's toy shape
    assert r['goals'] and all(g['met'] is None for g in r['goals'])

def test_quick_run_times_the_cpu_recipe(quick):
    "The celeba-cpu recipe's row (shrunk to the smoke shape): one thread, fp32, against its own FLOP floor."
    r = json.loads(quick[1].read_text())['recipe']['celeba-cpu']
    _check_iteration('celeba-cpu', r)
    assert r['shrunk'] and r['threads'] == 1 and r['dtype'] == 'fp32'
    assert (r['method'], r['attribute'], r['train_config']['n_critic']) == ('sagan', 'Smiling', 1)
    assert r['train_config']['hparams'] == NODOTS                       # the knobs against dots (budgets.NODOTS)
    # the floor is its FLOPs at its own one-thread fp32 matmul rate, timed in the same rounds
    assert r['floor_ms'] == pytest.approx(r['flops'] / r['matmul']['flops_per_s'] * 1e3)
    assert r['x_floor'] == pytest.approx(r['iter_ms'] / r['floor_ms'])
    # shrunk to the smoke run's shape, it is not the paper's iteration (one R1 critic step, resize-convolutions, the
    # attribute head on blurred faces): its FLOPs are counted around its own train_step
    paper = json.loads(quick[1].read_text())['flops']['train_iteration']
    assert r['flops'] > 0 and r['flops'] != paper, (r['flops'], paper)
    assert 'celeba-cpu (sagan Smiling)' in quick[0].stdout

def test_report_renders_the_json(quick):
    "report.py alone prints the table bench.py printed; it also reads the stored results of earlier runs."
    p = subprocess.run([sys.executable, str(REPORT), str(quick[1])], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.strip() == quick[0].stdout.strip()
    old = ROOT / 'benchmarks' / 'results' / 'cpu_epyc_2core_2026-11-26.json'
    p = subprocess.run([sys.executable, str(REPORT), str(old)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and 'x FLOP floor' in p.stdout, p.stderr[-3000:]

def test_report_judges_goals(bench):
    "Goals recomputed from a stored report equal the ones that run judged (report.goals needs only the JSON)."
    r = json.loads((ROOT / 'benchmarks' / 'results' / 'cpu_epyc_2core_2026-11-26.json').read_text())
    import report
    assert report.goals(r) == r['goals']
    assert any(g['met'] is True for g in r['goals'])

def test_editor_default_config(bench, capsys):
    "`editor_default` is an editing config in the default lists; asking to train it is refused by name."
    assert bench.CONFIGS['editor_default'].editor
    assert 'editor_default' in bench.DEFAULTS['cpu'][0] and 'editor_default' not in bench.DEFAULTS['cpu'][1]
    with pytest.raises(SystemExit): bench.main(['--quick', '--train-configs', 'editor_default', '--edit-configs', 'none'])
    assert "'editor_default' is an editing config" in capsys.readouterr().err

def test_recipe_is_the_celeba_cpu_budget(bench):
    "The recipe row trains what `get_budget('celeba-cpu')` trains, with only its 'auto' fields fixed to their CPU value."
    from sagan_nb.budgets import get_budget
    tc = bench.recipe_config('celeba-cpu')
    assert (tc.image_size, tc.conv_dim, tc.d_conv_dim, tc.batch_size, tc.n_critic) == (64, 16, 16, 16, 1)
    budget = asdict(get_budget('celeba-cpu').config('sagan', 'Smiling'))
    changed = {k: v for k, v in asdict(tc).items() if budget[k] != v}
    assert changed == dict(device='cpu', amp='fp32', channels_last='off')

def test_cuda_settings_are_the_trainers(bench, quick):
    """The benchmark takes CUDA's library settings and the memory layouts from where the trainer takes them
    (`devices.cuda_settings`, `devices.memory_format`; before, it set `cudnn.benchmark` itself and the trainer did not),
    records them, and times on a GPU the trainer's default path (bf16, NCHW) beside channels_last."""
    from sagan_nb import devices, train
    assert bench.cuda_settings is devices.cuda_settings is train.cuda_settings
    assert bench.memory_format is devices.memory_format is train.memory_format
    p, out, _ = quick
    assert p.returncode == 0, p.stderr[-3000:]
    assert json.loads(out.read_text())['meta']['cuda_settings'] == {}          # a CPU run: nothing set
    assert {'bf16', 'bf16_cl'} <= set(bench.DEFAULTS['cuda'][1])
    assert 'cudnn.benchmark = True' not in BENCH.read_text()

def test_paper_flops_from_the_model(bench):
    f = bench.model_flops(128, 32, 32)      # meta tensors: no arithmetic, well under a second
    assert f['generator'] == pytest.approx(8.6e9, rel=0.03)
    assert f['discriminator'] == pytest.approx(0.348e9, rel=0.03)
    # and they grow with the image area: a 64² image is a quarter of the work
    assert bench.model_flops(64, 32, 32)['generator'] == pytest.approx(f['generator'] / 4, rel=0.01)

TINY = dict(image_size=32, conv_dim=4, d_conv_dim=4, batch_size=2)

def _count(fn) -> int:
    with FlopCounterMode(display=False) as fc: fn()
    return fc.get_total_flops()

@pytest.mark.parametrize('n_critic', [3, 1])
def test_train_flops_are_critic_steps_and_a_generator_step(bench, n_critic):
    """The count around `Trainer.train_step` = n_critic × one critic step + one generator step, each counted on its
    own from the losses (critic: 𝓛_D with the gradient penalty, fakes made without gradients; generator: 𝓛_G against
    a fixed critic), forward and backward."""
    from sagan_nb.train import TrainConfig
    from sagan_nb.sagan import SAGAN
    from sagan_nb.losses import d_loss, g_loss
    tc = TrainConfig(attribute=bench.ATTR, device='cpu', amp='fp32', channels_last='off', n_critic=n_critic, **TINY)
    G, D = SAGAN.build_G(tc), SAGAN.build_D(tc)
    g = torch.Generator().manual_seed(0)
    x, c, alpha = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1, torch.tensor([0., 1.]), torch.rand(2, generator=g)
    def critic_step():
        with torch.no_grad(): fake = G(x, 1 - c).edited
        d_loss(D, x, fake, c, alpha, tc.lambda_gp)['loss'].backward()
    d = _count(critic_step)
    D.requires_grad_(False)
    gen = _count(lambda: g_loss(G, D, x, c, 1 - c, tc.lambda_rec, tc.lambda_id)[0]['loss'].backward())
    assert bench.train_flops(tc)['total'] == n_critic * d + gen

def test_train_flops_bracket(bench):
    "One iteration: more than its forwards alone, less than 4× them (1 forward + at most 3 for the backwards)."
    g, d = (bench.model_flops(32, 4, 4)[k] for k in ('generator', 'discriminator'))
    b = TINY['batch_size']
    fwd = 3 * (b * g + 3 * b * d) + (3 * b * g + b * d)   # D steps: G(real) + D(real,fake,interp); G step: G on 2b, then b
    from sagan_nb.train import TrainConfig
    t = bench.train_flops(TrainConfig(attribute=bench.ATTR, **TINY))
    assert fwd < t['total'] < 4 * fwd
    assert 'aten.convolution_backward' in t['by_op']

@pytest.mark.gpu
def test_cuda_fast_paths_run(tmp_path):
    "On a GPU: the compiled and CUDA-graph editing and the compiled, fused-Adam training run and give finite losses."
    out = tmp_path / 'bench_cuda.json'
    p = subprocess.run([sys.executable, str(BENCH), '--quick', '--device', 'cuda', '--json', str(out),
                        '--edit-configs', 'eager_fp32,fast_cuda_edit', '--train-configs', 'eager_fp32,fast_cuda_train'],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r['matmul']['reference'] == 'bf16' and r['recipe'] == {}
    for sec in ('edit', 'train'):
        for name, v in r[sec].items(): assert 'error' not in v, (sec, name, v.get('error'))
    for name, t in r['train'].items(): assert t['losses_finite'] and _positive(t['iter_ms']), name
    assert r['edit']['fast_cuda_edit']['max_abs_err_vs_fp32'] < 0.1
