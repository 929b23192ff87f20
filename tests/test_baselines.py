"""The baselines (StarGAN, CycleGAN, ResGAN) on SaGAN's harness: checkpoints and the editor by method name, and tiny
runs that really learn the attribute; ResGAN's edits are sparser than StarGAN's on the same inputs."""
import time
from dataclasses import replace
import pytest, torch
from sagan_nb.data import to_float
from sagan_nb.synth import synth_tensors
import sagan_nb.baselines                                     # registers the three methods
from sagan_nb.train import (ConfigMismatchError, Trainer, TrainConfig, export_generator, get_method, load_generator,
                            method_config)
from sagan_nb.edit import Editor

BASELINES = ('stargan', 'cyclegan', 'resgan')
SMOKE = dict(attribute='Smiling', image_size=32, conv_dim=8, n_res=1, d_conv_dim=8, batch_size=8, device='cpu',
             n_critic=1, steps=2, log_every=1)

@pytest.mark.parametrize('m', BASELINES)
def test_checkpoint_export_and_editor_by_name(m, tmp_path):
    "Train 2 iterations, export in half precision, and apply both through `Editor`: the same edits as the generator."
    torch.set_num_threads(1)
    cfg = method_config(m, **SMOKE)
    t = Trainer(cfg, synth_tensors(16, size=32, seed=1), out_dir=tmp_path / 'run', progress=False)
    t.fit()
    x = to_float(synth_tensors(3, size=32, seed=4).images)
    G, saved = load_generator(tmp_path / 'run' / 'checkpoint.pt')
    assert saved.method == m and type(G) is type(t.G)
    with torch.no_grad(): want = G(x, torch.ones(3)).edited
    r = Editor(tmp_path / 'run', device='cpu').edit(x, 'Smiling', 'add')
    assert r.mask is None
    torch.testing.assert_close(r.edited, want, rtol=0, atol=1e-5)
    export_generator(tmp_path / 'run' / 'checkpoint.pt', tmp_path / 'G16.pt')
    r16 = Editor(tmp_path / 'G16.pt', device='cpu').edit(x, 'Smiling', 'add')
    assert (r16.edited - want).abs().max() < 0.05
    # another method's config is refused by name, before any weight is read
    other = 'sagan' if m != 'sagan' else 'stargan'
    with pytest.raises(ConfigMismatchError, match=f"is a '{m}' model, but the config asks for method '{other}'"):
        load_generator(tmp_path / 'run' / 'checkpoint.pt', replace(cfg, method=other))

def test_unregistered_method_names_the_fix():
    with pytest.raises(ValueError, match="unknown method 'pix2pix'; registered: sagan, stargan, cyclegan, resgan"):
        get_method('pix2pix')

# ---- they learn ---------------------------------------------------------------------------------------------------
# Tiny versions (32×32 synthetic faces, narrow nets) of each method, 300 iterations each on the CPU. Every loss term and
# weight is the method's paper's (`method_config`); the sizes, the learning rate (2e-3, as in the SaGAN learning test
# of test_train.py: the papers' 1e-4/2e-4 need far more iterations than a CPU test affords), the batch (16; CycleGAN's
# paper uses 1) and n_critic (1; StarGAN's paper uses 5) are the test's. As for SaGAN, adding a beard (No_Beard → 0) is
# learned long before removing one, so the adding direction is asserted and both are printed.
# A judge can be fooled by a wrecked face (a repainted face looks 'bearded' to it), so a learned edit must also
# follow the target in both directions (mean of the adding and removing accuracies > 0.58, where pushing every face
# one way gives 0.5) and must not repaint the whole face (mean |edit − input| outside the region < 0.35 on the [-1, 1]
# scale; CycleGAN, a whole-image method, is at ~0.29 here, a wrecked face at 0.4-0.5).
ATT = 'No_Beard'
TINY = dict(attribute=ATT, image_size=32, conv_dim=8, n_res=1, d_conv_dim=16, batch_size=16, lr=2e-3, n_critic=1,
            steps=300, device='cpu', log_every=50, ckpt_every=10**9, sample_every=10**9, seed=0)

@pytest.fixture(scope='module')
def learned():
    "A judge trained on the (synthetic) faces, and each baseline trained once; their edit reports on held-out faces."
    from learning import train_judge, edit_report, judge_accuracy
    torch.set_num_threads(1)
    train, test = synth_tensors(2000, size=32, seed=0), synth_tensors(256, size=32, seed=99)
    judge = train_judge(train, ATT)
    col = test.attr_index(ATT)
    judge_acc = judge_accuracy(judge, to_float(test.images), test.attrs[:, col])
    assert judge_acc > 0.9, f'the judge itself is unreliable ({judge_acc:.3f})'
    bearded, clean = test.subset(test.attrs[:, col] == 0), test.subset(test.attrs[:, col] == 1)
    out = {}
    for m in BASELINES:
        t0 = time.time()
        t = Trainer(method_config(m, **TINY), train, progress=False)
        t.fit()
        G = t.G.eval()
        edit = lambda x, c: G(x, c).edited
        rep = edit_report(edit, judge, test, ATT)
        rep['add'] = edit_report(edit, judge, clean, ATT)['acc']           # beard added (No_Beard 1 → 0)
        rep['remove'] = edit_report(edit, judge, bearded, ATT)['acc']      # beard removed (0 → 1)
        x = to_float(test.images)
        with torch.no_grad(): y = G(x, 1 - test.attrs[:, col]).edited
        rep['l1'] = (y - x).abs().mean().item()                               # mean |edit − input| over the face
        rep['l0'] = ((y - x).abs().amax(1) > 4 / 127.5).float().mean().item()  # fraction of pixels moved > 2 levels
        rep['seconds'] = time.time() - t0
        print(f"{m}: {TINY['steps']} iterations in {rep['seconds']:.0f} s; judged target {rep['acc']:.3f} (inputs "
              f"{rep['acc_unedited']:.3f}; adding {rep['add']:.3f}, removing {rep['remove']:.3f}); change inside the "
              f"true region {rep['inside']:.4f}, outside {rep['outside']:.4f}; L1 {rep['l1']:.4f}, L0 {rep['l0']:.3f}")
        out[m] = rep
    return out

def _assert_learned(r: dict) -> None:
    assert r['acc_unedited'] < 0.15, r
    assert r['add'] > 0.7 and r['acc'] > r['acc_unedited'] + 0.5, r
    assert (r['add'] + r['remove']) / 2 > 0.58, r                               # follows the target, not one way
    assert r['outside'] < 0.35, r                                               # the face is kept, not repainted

@pytest.mark.slow
@pytest.mark.parametrize('m', ['cyclegan', 'resgan'])
def test_baseline_learns_the_attribute(learned, m):
    "A separately trained judge labels the edits with the target value far above chance and the inputs; the face stays."
    _assert_learned(learned[m])

@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="at CPU-test size (300 iterations, lr 2e-3, n_critic 1) StarGAN's WGAN-GP critic "
                   "has not yet learned the attribute (d_cls ~ 0.69) and its generator repaints the whole face; "
                   "a longer run is needed -- if this passes, make it a plain test")
def test_stargan_learns_the_attribute(learned):
    _assert_learned(learned['stargan'])

@pytest.mark.slow
def test_resgan_residual_is_sparser_than_stargan(learned):
    "After the same tiny training, ResGAN's residual (L1 sparsity) moves far fewer and smaller pixels than StarGAN's edit."
    res, star = learned['resgan'], learned['stargan']
    assert res['outside'] < 0.5 * star['outside'], (res, star)
    assert res['l1'] < 0.5 * star['l1'] and res['l0'] < star['l0'], (res, star)
