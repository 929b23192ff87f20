"Training beyond the notebook's quick checks: DDP on CPU (gloo, 2 processes) for every method, and a tiny run that really learns."
import os, socket, subprocess, sys
from dataclasses import replace
import pytest, torch
from sagan_nb.synth import synth_tensors
from sagan_nb.faces import to_float
from sagan_nb.config import TrainConfig
from sagan_nb.train import Trainer
from sagan_nb.metrics import classifier_accuracy, edit_metrics, train_attribute_classifier

TINY = TrainConfig(attribute='Smiling', image_size=32, conv_dim=8, n_res=1, d_conv_dim=8, batch_size=8,
                   steps=3, device='cpu', log_every=1, ckpt_every=3, sample_every=1000, seed=3)

DDP_SCRIPT = """
import sys, torch
from dataclasses import replace
from sagan_nb.synth import synth_tensors
from sagan_nb.faces import to_float
from sagan_nb.config import TrainConfig
from sagan_nb.train import Trainer
import sagan_nb.baselines                          # registers the baselines
torch.set_num_threads(1)
cfg = TrainConfig(**eval(sys.argv[1]))
t = Trainer(cfg, synth_tensors(48, size=32, seed=2), out_dir=sys.argv[2], progress=False)
t.fit()
# Leave the group before exiting: a process that exits with gloo's threads still running can abort ("terminate called
# without an active exception", SIGABRT) and fail the run after its work is done (seen once, in a CI dry run).
torch.distributed.barrier(); torch.distributed.destroy_process_group()
"""

def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.mark.slow                      # four torchrun launches of 2 processes each: a minute or more
@pytest.mark.parametrize('method', ['sagan', 'stargan', 'cyclegan', 'resgan'])
def test_ddp_two_processes_match_one(tmp_path, method):
    "torchrun with 2 gloo processes, each on half of every batch, trains the same weights as one process."
    from dataclasses import asdict
    cfg = replace(TINY, method=method)
    script = tmp_path / 'ddp.py'; script.write_text(DDP_SCRIPT)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr', '127.0.0.1',
           '--master_port', str(_free_port()), str(script), repr(asdict(cfg)), str(tmp_path / 'ddp')]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    ddp = torch.load(tmp_path / 'ddp' / 'checkpoint.pt', weights_only=True)
    torch.set_num_threads(1)
    one = Trainer(cfg, synth_tensors(48, size=32, seed=2), progress=False)
    init = {k: v.clone() for k, v in one.G.state_dict().items()}
    one.fit()
    assert ddp['step'] == one.step == 3
    # Measured once over seeds 0-4 for all four methods (tools: this test with `seed` replaced), and once with the bug
    # this test exists for (DDP's gradient averaging switched off, sagan and resgan, seed 0):
    #   losses, worst |Δ| / (1e-6 + 1e-4·|value|): 0.21 (SaGAN's g_adv, a difference of critic scores near 0) vs 138-685
    #   weights, ‖W_ddp − W_one‖ / ‖W_one − W_init‖: 0.003-0.056 (CycleGAN highest) vs 0.93-0.94
    # The two processes sum their halves of each batch in another order: ~1e-7 relative rounding in every gradient.
    # Adam divides a gradient by its own running size, so where a gradient is near 0 that rounding can flip the sign
    # of a whole step (±lr): a few weights differ by up to the Adam bound, 2·lr per step, while the bulk agree. So:
    # losses to rtol 1e-3 / atol 1e-6 (1e-4 until a CPU with AVX512-BF16 put ResGAN's g_dual at step 3 1.25e-4 apart,
    # with the code of before and after alike: rounding, not a bug; the bug above is still 14-69x outside); weights each
    # within the Adam bound and together within 0.2 of the distance they travelled. Thresholded terms (accuracies, the mask's area) are not compared: one logit or one pixel crossing
    # its threshold moves them by a whole 1/B, whatever the rounding.
    thresholded = {'d_acc', 'd_fake_acc', 'mask_area'}
    for k in one.history:
        if k in thresholded: continue
        torch.testing.assert_close(torch.tensor(ddp['history'][k]), torch.tensor(one.history[k]), rtol=1e-3, atol=1e-6,
                                   msg=lambda m: f'{k}: {m}')
    num = den = 0.
    for k, v in one.G.state_dict().items():
        d = (ddp['G'][k] - v).abs()
        assert d.max() <= 2 * TINY.lr * TINY.steps + 1e-6, (k, d.max())
        num += d.pow(2).sum().item(); den += (init[k] - v).pow(2).sum().item()
    assert (num / den) ** 0.5 < 0.2, (num / den) ** 0.5
    # and the weights did move: the comparison is not between two untrained nets
    assert any((init[k] - v).abs().max() > 1e-4 for k, v in one.G.state_dict().items())

def test_batch_must_split_evenly_over_processes(monkeypatch):
    t = Trainer(TINY, synth_tensors(16, size=32, seed=0), progress=False)
    assert t.world == 1
    with pytest.raises(ValueError, match='is not divisible by 3 processes'):
        monkeypatch.setattr('sagan_nb.train.setup_distributed', lambda: (0, 3))
        Trainer(TINY, synth_tensors(16, size=32, seed=0), progress=False)


# ---- it learns ---------------------------------------------------------------------------------------------------
# A tiny SaGAN (32×32 synthetic faces, narrow nets) trained on one CPU thread for about five minutes. Everything is the
# paper's except the sizes and the learning rate: at 2e-4 the attention mask leaves its early all-0 phase (the identity
# loss, λ2 = 100, closes it first) only after thousands of iterations; at 2e-3 within a few hundred.
# What holds at this budget, measured every 100 iterations from 700 to 1400 (seed 0): the mask and the change sit in
# the true beard region (outside/inside change 0.03–0.05), and a judge calls 28–72 % of the clean faces bearded
# after the edit against 4 % before (a single-attribute judge the tests had then). The judge is now the package's
# (`train_attribute_classifier`, 0.99 on No_Beard here): at 1000 iterations it calls 59 % of the clean faces bearded
# against 1 % before, 38 % of all edits right against 1 % of the inputs (the old judge: 44 % vs 7 %, 32 % vs 7 %).
# The judged rate oscillates (the GAN is far from converged) and removing a beard (repainting the noisy stubble with
# skin) lags adding one, so the thresholds are on "learned", not on "converged".
LEARN = TrainConfig(attribute='No_Beard', image_size=32, conv_dim=8, n_res=1, d_conv_dim=16, batch_size=16,
                    lr=2e-3, steps=1000, device='cpu', log_every=50, ckpt_every=10**9, sample_every=10**9, seed=0)

@pytest.mark.slow
def test_tiny_sagan_learns_to_edit_inside_the_region():
    "The package's judge (`sagan_nb.metrics`, trained apart from any GAN) sees the attribute appear in the edits, and the change stays in the true region."
    train, test = synth_tensors(2000, size=32, seed=0), synth_tensors(256, size=32, seed=99)
    col = test.attr_index(LEARN.attribute)
    judge = train_attribute_classifier(train, seed=0, device='cpu')
    judge_acc = classifier_accuracy(judge, test)[LEARN.attribute]
    assert judge_acc > 0.9, f'the judge itself is unreliable ({judge_acc:.3f})'
    t = Trainer(LEARN, train, progress=False)
    t.fit()
    G = t.G.eval()
    edit = lambda x, c: G(x, c).edited
    clean = test.subset(test.attrs[:, col] == 1)                     # No_Beard = 1: the edit adds a beard
    add, both = edit_metrics(edit, clean, LEARN.attribute, judge), edit_metrics(edit, test, LEARN.attribute, judge)
    with torch.no_grad(): mask = G.san(to_float(test.images))[:, 0]
    gt = test.masks[:, col]
    print(f"judge accuracy {judge_acc:.3f}; beard added: judged bearded {add['acc']:.3f} (inputs {add['acc_inputs']:.3f}); "
          f"both directions {both['acc']:.3f} (inputs {both['acc_inputs']:.3f}); mean change inside the true region "
          f"{both['mae_in']:.4f}, outside {both['mae_out']:.4f}; mask inside {mask[gt].mean():.3f}, outside "
          f"{mask[~gt].mean():.4f}; events {t.events}")
    assert add['acc_inputs'] < 0.1 and add['acc'] > add['acc_inputs'] + 0.2, add
    assert both['acc'] > both['acc_inputs'] + 0.15, both
    assert both['mae_out'] < 0.1 * both['mae_in'], both
    assert mask[gt].mean() > 5 * mask[~gt].mean()


@pytest.mark.slow                      # about two minutes of inductor compilation on CPU
def test_compiled_training_step_runs():
    "compile=True compiles the generator only: the gradient penalty's double backward cannot go through a compiled D."
    t = Trainer(replace(TINY, compile=True, steps=1), synth_tensors(16, size=32, seed=0), progress=False)
    t.fit()
    assert t.step == 1 and all(torch.isfinite(torch.tensor(v)).all() for v in t.history['g_loss'])
