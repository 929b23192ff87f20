"""benchmarks/gpu_rehearsal.sh (issue 27): the script parses, its CPU dry run (`--device cpu --tiny`) writes a report
with every section and the numbers a CPU must give, a time limit skips steps and still reports, and on a GPU the real
rehearsal passes (`@pytest.mark.gpu`, skipped without CUDA)."""
import json, os, subprocess, sys, time
from pathlib import Path
import pytest, torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / 'benchmarks' / 'gpu_rehearsal.sh'
STEPS = ('environment', 'install', 'import_check', 'throughput', 'train', 'resume', 'edit', 'ddp_gloo', 'ddp_nccl_1',
         'ddp_nccl_2', 'knobs')
HEADINGS = ('# GPU rehearsal report', '## Summary', '## Environment', '## Install', '## Import check',
            "## Training at the paper's size", '## Training through `sagan_nb train`', '## Resume from the checkpoint',
            '## Edit: device vs CPU', '## DDP: two processes on one device (gloo)', '## DDP: NCCL, one process',
            '## DDP: NCCL, two GPUs', '## Precision, channels_last, cudnn.benchmark', '## What to copy back')


def _run(out: Path, *args, timeout: int):
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    t0 = time.perf_counter()
    r = subprocess.run(['bash', str(SCRIPT), '--python', sys.executable, '--out', str(out), *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=timeout, env=env)
    return r, time.perf_counter() - t0


def _report(out: Path):
    md = (out / 'report.md').read_text()
    return json.loads((out / 'report.json').read_text()), md


def test_script_parses():
    r = subprocess.run(['bash', '-n', str(SCRIPT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_time_limit_skips_the_steps_and_still_reports(tmp_path):
    "A limit already spent: every step is skipped, named as such, and the report is still written (exit 0)."
    r, _ = _run(tmp_path / 'out', '--device', 'cpu', '--tiny', '--time-limit', '0', timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    rep, md = _report(tmp_path / 'out')
    assert set(rep['steps']) == set(STEPS)
    for name, s in rep['steps'].items():
        assert s['status'] == 'skipped' and 'time limit' in s['note'], (name, s)
    assert all(h in md for h in HEADINGS), [h for h in HEADINGS if h not in md]


@pytest.mark.slow                      # about a minute on 2 busy cores: a dozen processes importing torch
def test_cpu_dry_run_completes_with_every_section(tmp_path):
    out = tmp_path / 'out'
    r, wall = _run(out, '--device', 'cpu', '--tiny', '--time-limit', '170', timeout=240)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert wall < 180, wall
    rep, md = _report(out)
    print(f"\ndry run: {wall:.0f} s\n" + md)
    assert all(h in md for h in HEADINGS), [h for h in HEADINGS if h not in md]
    assert set(rep['steps']) == set(STEPS) and rep['failed'] == [] and rep['device'] == 'cpu' and rep['tiny']
    st = {n: s['status'] for n, s in rep['steps'].items()}
    assert st == {**dict.fromkeys(STEPS, 'ok'), 'ddp_nccl_1': 'skipped', 'ddp_nccl_2': 'skipped'}, st
    res = {n: s.get('result', {}) for n, s in rep['steps'].items()}
    assert res['environment']['torch'] == torch.__version__
    assert res['import_check']['from_this_checkout'] and 'fastcore' not in res['import_check']['third_party_loaded']
    assert 'Would install sagan_nb' in '\n'.join(rep['steps']['install']['log_tail'])      # --install dry on a CPU
    t = res['throughput']
    assert t['it_s'] > 0 and t['iters'] == 3 and t['finite_losses'] and t['config']['size'] == 32 and t['peak_rss_mib'] > 0
    assert res['train']['iterations'] == 2
    rs = res['resume']          # resumed 2 + 2 against 4 straight: on a CPU the same weights, bit for bit
    assert rs['steps'] == [4, 4] and rs['history_steps_continuous'] and rs['exact'], rs
    e = res['edit']             # the dry run edits on the CPU twice: identical
    assert e['cli_edit_max_levels'] == e['cli_mask_max_levels'] == 0 and e['fp32_edited_max_abs'] == 0, e
    d = res['ddp_gloo']
    assert (d['backend'], d['world'], d['wrapped']) == ('gloo', 2, 'DistributedDataParallel'), d
    assert d['max_weight_diff_across_ranks'] == 0 and d['finite_losses']
    assert 'NCCL needs CUDA' in rep['steps']['ddp_nccl_1']['note']
    k = res['knobs']['rows']
    assert [(x['precision'], x['channels_last']) for x in k] == [('fp32', 'off'), ('fp32', 'on'), ('bf16', 'off'), ('bf16', 'on')]
    assert all(x['it_s'] > 0 and x['finite_losses'] for x in k)
    assert [x['in_force']['amp_bf16'] for x in k] == [False, False, True, True]          # what the trainer ran
    assert [x['in_force']['memory_format'] for x in k] == ['contiguous_format', 'channels_last'] * 2
    assert not list(out.glob('work/**/*.pt'))               # checkpoints removed: the folder is small enough to copy back


@pytest.mark.gpu
def test_gpu_rehearsal(tmp_path):
    "The real thing: the paper's size on the GPU, within 8 minutes, every step passing (NCCL on 2 GPUs where there are 2)."
    out = Path(os.environ.get('SAGAN_NB_REHEARSAL_OUT', tmp_path / 'out'))
    r, wall = _run(out, '--device', 'cuda', timeout=600)
    rep, md = _report(out)
    print(f"\nrehearsal: {wall:.0f} s, report {out / 'report.md'}\n" + md)
    assert r.returncode == 0 and rep['failed'] == [], rep['failed']
    assert wall < 8 * 60, wall
    st = {n: s['status'] for n, s in rep['steps'].items()}
    two = torch.cuda.device_count() >= 2
    assert st == {**dict.fromkeys(STEPS, 'ok'), 'ddp_nccl_2': 'ok' if two else 'skipped'}, st
    res = {n: s.get('result', {}) for n, s in rep['steps'].items()}
    t = res['throughput']
    assert t['config']['size'] == 128 and t['config']['conv_dim'] == 32 and t['peak_mem_mib'] > 0 and t['it_s'] > 0
    assert res['ddp_gloo']['backend'] == 'gloo' and res['ddp_gloo']['rank_devices'] == ['cuda:0', 'cuda:0']
    assert res['ddp_nccl_1']['backend'] == 'nccl' and res['ddp_nccl_1']['wrapped'] == 'DistributedDataParallel'
    assert res['edit']['fp32_tf32_off_edited_max_abs'] < 1e-3, res['edit']     # fp32 without TF32: CPU and GPU agree
