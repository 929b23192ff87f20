"""SaGAN as the paper states it, checked against the exported package: its constants as literals, its losses on cases
worked by hand with asymmetric labels, and who sees the attribute. Each test here is the one that catches a plausible
wrong implementation (`tools/mutate.py` applies eight of them; every one must fail this file or another fast test)."""
import math
import pytest, torch
from torch import nn
from sagan_nb.faces import ATTRIBUTES
from sagan_nb.models import Generator, Discriminator, GenOutput, init_weights
from sagan_nb.losses import d_loss, g_loss
from sagan_nb.config import TrainConfig, method_config, get_method
from sagan_nb.train import SAGAN
from sagan_nb.budgets import BUDGETS

# ---- the papers' numbers, written out ----------------------------------------------------------------------------
# SaGAN (Zhang et al., ECCV 2018), Sec. 3 (implementation) and Sec. 4 (CelebA at 128×128, the four attributes).
SAGAN_PAPER = dict(lambda_gp=10.0, lambda_rec=20.0, lambda_id=100.0, lr=2e-4, beta1=0.5, beta2=0.999, batch_size=16,
                   n_critic=3, init_std=0.02, image_size=128, conv_dim=32, n_res=4, d_conv_dim=32)
# StarGAN (Choi et al., CVPR 2018), Sec. 4 and App. (λ_cls 1, λ_rec 10, λ_gp 10; Adam 1e-4, 0.5, 0.999; batch 16;
# 5 critic steps; 64-wide nets with 6 residual blocks at 128 px; 200,000 iterations of D = 40,000 of G).
STARGAN_PAPER = dict(lambda_gp=10.0, lambda_rec=10.0, lambda_id=0.0, lr=1e-4, beta1=0.5, beta2=0.999, batch_size=16,
                     n_critic=5, conv_dim=64, n_res=6, d_conv_dim=64, steps=40_000)
# CycleGAN (Zhu et al., ICCV 2017), Sec. 4 and 5.2 (λ_cyc 10, identity 0.5·λ_cyc; Adam 2e-4; batch 1; least squares,
# no gradient penalty; 6 residual blocks at 128 px; 70×70 PatchGAN = 3 layers).
CYCLEGAN_PAPER = dict(lambda_gp=0.0, lambda_rec=10.0, lambda_id=5.0, lr=2e-4, beta1=0.5, beta2=0.999, batch_size=1,
                      n_critic=1, conv_dim=64, n_res=6, d_conv_dim=64, hparams=dict(d_layers=3))
# ResGAN (Shen & Liu, CVPR 2017), Sec. 3: α = 5e-5 (pixel), β = 5e-6 (perceptual), one D step per G step.
RESGAN_PAPER = dict(lambda_gp=0.0, lr=2e-4, n_critic=1, conv_dim=64, d_conv_dim=64, hparams=dict(alpha=5e-5, beta=5e-6))

def _check(cfg: TrainConfig, paper: dict, where: str):
    for k, v in paper.items():
        got = getattr(cfg, k) if k != 'hparams' else get_method(cfg.method).hp(cfg)
        assert got == v, f'{where}: {k} is {got!r}, the paper says {v!r}'

def test_sagan_constants_are_the_papers():
    assert ATTRIBUTES == ('Eyeglasses', 'Mouth_Slightly_Open', 'Smiling', 'No_Beard')
    _check(TrainConfig(), SAGAN_PAPER, 'TrainConfig()')
    _check(method_config('sagan'), SAGAN_PAPER, "method_config('sagan')")
    for a in ATTRIBUTES: _check(BUDGETS['full'].config('sagan', a), SAGAN_PAPER, f"full budget, {a}")
    # the loss functions' own defaults are the paper's too (a caller that leaves them out gets Eq. 10 and 12)
    import inspect
    assert inspect.signature(g_loss).parameters['lambda_rec'].default == 20.0
    assert inspect.signature(g_loss).parameters['lambda_id'].default == 100.0
    assert inspect.signature(d_loss).parameters['lambda_gp'].default == 10.0

@pytest.mark.parametrize('method,paper', [('stargan', STARGAN_PAPER), ('cyclegan', CYCLEGAN_PAPER), ('resgan', RESGAN_PAPER)])
def test_baseline_constants_are_their_papers(method, paper):
    _check(method_config(method), paper, f'method_config({method!r})')
    full = BUDGETS['full'].config(method, 'Smiling')
    _check(full, {k: v for k, v in paper.items() if k != 'steps'}, f'full budget, {method}')
    assert full.image_size == 128

def test_networks_have_the_papers_widths():
    "Paper Table 1-2: conv7 32 → 64, 128, 256 → 4 res blocks → 128, 64, 32 → conv7; D: six conv4/2 32…1024, conv3 and conv2 heads."
    G = Generator()
    for net, cin, cout in ((G.amn, 4, 3), (G.san, 3, 1)):
        convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        assert (convs[0].in_channels, convs[0].out_channels, convs[0].kernel_size) == (cin, 32, (7, 7))
        assert [c.out_channels for c in convs[1:4]] == [64, 128, 256] and all(c.stride == (2, 2) for c in convs[1:4])
        assert len(convs) == 1 + 3 + 4 * 2 + 3 + 1
        assert [c.out_channels for c in convs[-4:-1]] == [128, 64, 32]
        assert (convs[-1].out_channels, convs[-1].kernel_size) == (cout, (7, 7))
    assert isinstance(G.amn[-1], nn.Tanh) and isinstance(G.san[-1], nn.Sigmoid)
    D = Discriminator(128, 32)
    assert [m.out_channels for m in D.main if isinstance(m, nn.Conv2d)] == [32, 64, 128, 256, 512, 1024]
    assert D.src.kernel_size == (3, 3) and D.cls.kernel_size == (2, 2)
    src, cls = D(torch.zeros(1, 3, 128, 128))
    assert src.shape == (1, 1, 2, 2) and cls.shape == (1,)

# ---- who sees the attribute ---------------------------------------------------------------------------------------
def test_the_san_never_sees_the_attribute_and_the_amn_does():
    torch.manual_seed(0)
    G = init_weights(Generator(conv_dim=8, n_res=1), std=0.2).eval()
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    o0, o1 = G(x, torch.zeros(3)), G(x, torch.ones(3))
    assert torch.equal(o0.mask, o1.mask)                      # b = F_A(I): the same mask whatever the target
    assert (o0.amn - o1.amn).abs().max() > 1e-3               # F_m(I, c) depends on c
    torch.testing.assert_close(o1.edited, o1.amn * o1.mask + x * (1 - o1.mask))   # Eq. 7

class RecordingG(nn.Module):
    "A generator that records the (first-pixel, c) of every call and returns its input: shows who asked for what."
    def __init__(self): super().__init__(); self.calls = []; self.w = nn.Parameter(torch.zeros(()))
    def forward(self, x, c):
        self.calls.append((x[:, 0, 0, 0].tolist(), c.reshape(-1).tolist()))
        b = torch.full_like(x[:, :1], 0.5)
        return GenOutput(x + self.w, b, x + self.w)

def test_generator_step_edits_to_the_flipped_label_and_reconstructs_to_the_real_one():
    "G(I, 1 − c_g) is the edit the critic and classifier judge; G(I, c_g) and G(Î, c_g) are pulled back to I."
    G, x, c = RecordingG(), torch.tensor([0.1, 0.2, 0.3]).reshape(3, 1, 1, 1).expand(3, 3, 4, 4), torch.tensor([1., 0., 1.])
    SAGAN.g_step(G, StubD(), x, c, TrainConfig())
    (xs1, cs1), (xs2, cs2) = G.calls
    assert cs1 == [0., 1., 0., 1., 0., 1.]                    # one batched call: the edits to 1 − c_g, then G(I, c_g)
    assert xs2 == pytest.approx([0.1, 0.2, 0.3]) and cs2 == [1., 0., 1.]     # the dual: back to c_g

# ---- the losses on cases worked by hand -----------------------------------------------------------------------------
class StubD(nn.Module):
    "Critic map constant at the face's mean pixel m (a linear critic: gradient 1/n per pixel), attribute logit 2m."
    def forward(self, x):
        m = x.flatten(1).mean(1)
        return m.reshape(-1, 1, 1, 1).expand(-1, 1, 2, 2), 2 * m

class StubG(nn.Module):
    "F_m(I, c) = 0.5c − 0.25 everywhere (so c matters), b = ½ everywhere: Î = ½·F_m + ½·I."
    def forward(self, x, c):
        a = (0.5 * c.reshape(-1, 1, 1, 1) - 0.25).expand_as(x)
        b = torch.full_like(x[:, :1], 0.5)
        return GenOutput(a * b + x * (1 - b), b, a)

def _face(*values):
    return torch.stack([torch.full((3, 4, 4), v) for v in values])

sp = lambda z: math.log1p(math.exp(z))                        # softplus: BCE(logit z, 1) = sp(−z), BCE(z, 0) = sp(z)
n = 3 * 4 * 4

def test_discriminator_loss_by_hand():
    real, fake, c_real = _face(0.5, -0.2), _face(-0.25, 0.1), torch.tensor([1., 0.])
    out = d_loss(StubD(), real, fake, c_real, alpha=torch.tensor([0.3, 0.9]))
    adv = (-0.25 + 0.1) / 2 - (0.5 - 0.2) / 2                 # E[D(Î)] − E[D(I)] = −0.075 − 0.15
    gp = (1 / math.sqrt(n) - 1) ** 2                          # the mean of a 2×2 map: gradient 1/n per pixel
    cls = (sp(-1.0) + sp(-0.4)) / 2                           # logits 2m = 1.0 (c_g 1), −0.4 (c_g 0)
    assert out['d_adv'].item() == pytest.approx(adv) and out['d_wdist'].item() == pytest.approx(-adv)
    assert out['d_gp'].item() == pytest.approx(gp)
    assert out['d_cls'].item() == pytest.approx(cls)          # against 1 − c_g it would be (sp(1) + sp(0.4)) / 2
    assert out['d_acc'].item() == 1.0
    assert out['loss'].item() == pytest.approx(adv + 10 * gp + cls)

def test_generator_loss_by_hand():
    real, c_real = _face(0.75, -0.5), torch.tensor([1., 0.])
    terms, edit = g_loss(StubG(), StubD(), real, c_real, 1 - c_real)
    # edits to c = (0, 1): F_m = (−0.25, 0.25) → Î = (0.25, −0.125)
    torch.testing.assert_close(edit.edited, _face(0.25, -0.125))
    adv = -(0.25 - 0.125) / 2
    cls = (sp(0.5) + sp(0.25)) / 2                            # logits (0.5, −0.25) against the targets (0, 1)
    rec = (abs(0.75 - 0.25) + abs(-0.5 + 0.1875)) / 2          # G(Î, c_g): (0.25, −0.1875)
    idt = (abs(0.75 - 0.5) + abs(-0.5 + 0.375)) / 2            # G(I, c_g): (0.5, −0.375)
    assert terms['g_adv'].item() == pytest.approx(adv)
    assert terms['g_cls'].item() == pytest.approx(cls)        # against c_g it would be (sp(−0.5) + sp(−0.25)) / 2
    assert terms['g_rec'].item() == pytest.approx(rec)        # back to the target instead: 0.65625
    assert terms['g_id'].item() == pytest.approx(idt)
    assert terms['loss'].item() == pytest.approx(adv + cls + 20 * rec + 100 * idt)
    assert terms['mask_mean'].item() == 0.5 and terms['mask_area'].item() == 0.0    # ½ is not above ½

# ---- numerics the paper leaves open ----------------------------------------------------------------------------------
def test_resgan_output_is_clamped_to_the_image_range():
    G = get_method('resgan').build_G(method_config('resgan', conv_dim=8, image_size=32))
    with torch.no_grad():
        for p in G.parameters(): p.add_(0.5)                    # residuals far outside [−1, 1]
        o = G(torch.rand(2, 3, 32, 32) * 2 - 1, torch.tensor([0., 1.]))
    assert o.edited.min() >= -1 and o.edited.max() <= 1 and o.amn.abs().max() > 1
