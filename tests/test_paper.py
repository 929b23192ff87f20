"""SaGAN as the paper states it, checked against the exported package: its constants as literals, its losses on cases
worked by hand with asymmetric labels, the gradient penalty where WGAN-GP takes it, the weights the trainer hands to each
term (SaGAN's and the three baselines'), who sees the attribute, and Eq. 7 at a photo's resolution. Each test here is
the one that catches a plausible wrong implementation (`tools/mutate.py` applies them; every one must fail this file)."""
import math
import numpy as np
import pytest, torch
from torch import nn
from sagan_nb.faces import ATTRIBUTES, FaceTensors
from sagan_nb.models import Generator, Discriminator, GenOutput, ResidualBlock, init_weights
from sagan_nb.losses import d_loss, g_loss
from sagan_nb.config import TrainConfig, method_config, get_method
from sagan_nb.sagan import SAGAN
from sagan_nb.train import Trainer
from sagan_nb.baselines import stargan_d_step
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
    _check(full, paper, f'full budget, {method}')          # its length too: StarGAN's 40,000 (it had 200,000, issue 27)
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
    assert [m.negative_slope for m in D.main if isinstance(m, nn.LeakyReLU)] == [0.01] * 6   # Table 2: Leaky ReLU 0.01
    src, cls = D(torch.zeros(1, 3, 128, 128))
    assert src.shape == (1, 1, 2, 2) and cls.shape == (1,)

def test_residual_block_adds_its_body_to_its_input():
    "x + body(x): with the body's convolutions zeroed (IN of zeros is its bias, 0) the block is the identity."
    torch.manual_seed(0)
    blk = ResidualBlock(4)
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(blk(x), x + blk.body(x))
        for m in blk.body:
            if isinstance(m, nn.Conv2d): m.weight.zero_()
        assert torch.equal(blk(x), x)                            # without the skip: all zeros

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

# ---- the gradient penalty where WGAN-GP takes it --------------------------------------------------------------------
class QuadD(nn.Module):
    """Critic map constant at ‖x‖² / (2√n) over a face's n values: its gradient is x / √n, so at a constant face v the
    gradient's norm is |v| (and it depends on where the critic is asked). Attribute logit 2·(mean pixel)."""
    def forward(self, x):
        q = x.flatten(1).pow(2).sum(1) / (2 * math.sqrt(x[0].numel()))
        return q.reshape(-1, 1, 1, 1).expand(-1, 1, 2, 2), 2 * x.flatten(1).mean(1)

class FixedG(nn.Module):
    "A generator whose edit is always `fake` (for the critics' steps, which make their fakes themselves)."
    def __init__(self, fake): super().__init__(); self.fake = fake
    def forward(self, x, c): return GenOutput(self.fake, torch.full_like(x[:, :1], 0.5), self.fake)

GP_REAL, GP_FAKE, GP_ALPHA = (0.8, -0.6), (-0.4, 0.2), (0.25, 0.9)
# interpolates α·I + (1 − α)·Î, one α per face: 0.25·0.8 − 0.75·0.4 = −0.1 and −0.9·0.6 + 0.1·0.2 = −0.52
GP_INTERP = (-0.1, -0.52)

@pytest.mark.parametrize('autocast', [False, True])
def test_gradient_penalty_is_taken_per_face_at_its_interpolate(autocast):
    """GP = mean over faces of (‖∇D(x̂)‖₂ − 1)², x̂ = α·I + (1 − α)·Î with each face's own α: ((0.1 − 1)² + (0.52 − 1)²) / 2.
    At the real faces it would be 0.1, at the fakes 0.5, with one α for the batch 0.4381, with the norms averaged over the
    batch before the penalty 0.4761, with the squared norm 0.6337. (Both branches: the CPU bf16 one asks D separately.)"""
    real, fake, c = _face(*GP_REAL), _face(*GP_FAKE), torch.tensor([0., 1.])
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
        out = d_loss(QuadD(), real, fake, c, alpha=torch.tensor(GP_ALPHA), lambda_gp=10.0)
    gp = ((0.1 - 1) ** 2 + (0.52 - 1) ** 2) / 2
    assert out['d_gp'].item() == pytest.approx(gp, rel=1e-6)
    # the adversarial term with this critic: E[D(Î)] − E[D(I)], D(v) = √n·v²/2 for a constant face v
    sq = lambda vs: sum(math.sqrt(n) * v * v / 2 for v in vs) / len(vs)
    assert out['d_adv'].item() == pytest.approx(sq(GP_FAKE) - sq(GP_REAL), rel=1e-6)
    assert out['loss'].item() == pytest.approx(out['d_adv'].item() + 10 * gp + out['d_cls'].item(), rel=1e-6)

def test_stargan_penalty_is_on_the_sum_of_the_patch_map_per_face():
    "StarGAN's GP differentiates the sum of each face's 2×2 map (4× SaGAN's mean): norms 4·|x̂| = 0.4 and 2.08."
    real, fake, c = _face(*GP_REAL), _face(*GP_FAKE), torch.tensor([0., 1.])
    cfg = method_config('stargan', lambda_gp=7.0)
    out = stargan_d_step(FixedG(fake), QuadD(), real, c, torch.tensor(GP_ALPHA), cfg)
    gp = ((0.4 - 1) ** 2 + (2.08 - 1) ** 2) / 2
    assert out['d_gp'].item() == pytest.approx(gp, rel=1e-6)
    assert out['loss'].item() == pytest.approx(out['d_adv'].item() + 7 * gp + out['d_cls'].item(), rel=1e-6)

# ---- the weights the trainer hands to each term ---------------------------------------------------------------------
class ParamG(StubG):
    "StubG plus w·I, w a weight at 0: the same values, and a gradient for the trainer to backpropagate into w."
    def __init__(self): super().__init__(); self.w = nn.Parameter(torch.zeros(()))
    def forward(self, x, c):
        o = super().forward(x, c)
        return GenOutput(o.edited + self.w * x, o.mask, o.amn + self.w * x)

def _trainer(method: str, G=None, D=None, batch=None, size: int = 8, **over) -> Trainer:
    """A `Trainer` of `method` on 8 blank faces; `G`, `D` replace its networks and `batch` (x, c, α) its data when given
    (each batch drawn is counted in `t.draws`)."""
    kw = dict(attribute='Smiling', image_size=size, conv_dim=4, n_res=1, d_conv_dim=4, batch_size=2, device='cpu',
              amp='fp32', log_every=1, seed=0)
    g = torch.Generator().manual_seed(5)
    data = FaceTensors(torch.randint(0, 256, (8, 3, size, size), dtype=torch.uint8, generator=g),
                       torch.tensor([[0., 0., i % 2, 0.] for i in range(8)]), ATTRIBUTES)
    t = Trainer(method_config(method, **{**kw, **over}), data, progress=False)
    if G is not None: t.G = t.G_run = G
    if D is not None: t.D = t.D_run = D
    if batch is not None:
        t.draws = 0
        def next_batch():
            t.draws += 1; return batch
        t.next_batch = next_batch
    return t

# the hand case of test_generator_loss_by_hand, faces (0.75, −0.5) with labels (1, 0), through the trainer
HAND = dict(x=_face(0.75, -0.5), c=torch.tensor([1., 0.]), alpha=torch.tensor([0.3, 0.9]))
G_ADV, G_CLS = -(0.25 - 0.125) / 2, (sp(0.5) + sp(0.25)) / 2         # the edits (0.25, −0.125) to (0, 1)
G_REC, G_ID = (0.5 + 0.3125) / 2, (0.25 + 0.125) / 2                 # 0.40625, 0.1875
D_ADV, D_CLS = (0.25 - 0.125) / 2 - (0.75 - 0.5) / 2, (sp(-1.5) + sp(-1.0)) / 2

def test_trainer_hands_sagan_each_weight_to_its_own_term():
    """`Trainer.train_step` with λ_gp 5, λ₁ 3, λ₂ 7 (not the paper's, and all different): 𝓛_D = adv + 5·GP + cls after
    n_critic = 2 critic batches, 𝓛_G = adv + cls + 3·rec + 7·id; the generator edits to 1 − c_g (its labels as drawn)."""
    G = ParamG()
    t = _trainer('sagan', G, StubD(), tuple(HAND.values()), lambda_gp=5.0, lambda_rec=3.0, lambda_id=7.0, n_critic=2)
    terms = t.train_step()
    assert t.draws == 2
    gp = (1 / math.sqrt(n) - 1) ** 2
    assert terms['d_adv'].item() == pytest.approx(D_ADV) and terms['d_gp'].item() == pytest.approx(gp)
    assert terms['d_cls'].item() == pytest.approx(D_CLS)
    assert terms['d_loss'].item() == pytest.approx(D_ADV + 5 * gp + D_CLS)
    for k, v in dict(g_adv=G_ADV, g_cls=G_CLS, g_rec=G_REC, g_id=G_ID).items(): assert terms[k].item() == pytest.approx(v), k
    assert terms['g_loss'].item() == pytest.approx(G_ADV + G_CLS + 3 * G_REC + 7 * G_ID)   # swapped: 0.875 more
    # and the generator's weight got the gradient of that whole sum (each term moves w here: d rec/dw = −0.5)
    ref, _ = g_loss(G2 := ParamG(), StubD(), HAND['x'], HAND['c'], 1 - HAND['c'], lambda_rec=3.0, lambda_id=7.0)
    want, = torch.autograd.grad(ref['g_adv'] + ref['g_cls'] + 3 * ref['g_rec'] + 7 * ref['g_id'], G2.w)
    torch.testing.assert_close(G.w.grad, want)

def test_trainer_hands_stargan_its_weights():
    "StarGAN through `Trainer.train_step`, λ_gp 7 and λ_rec 3 (both 10 in its paper): 𝓛_D = adv + 7·GP + cls, 𝓛_G = adv + 1·cls + 3·rec."
    t = _trainer('stargan', ParamG(), StubD(), tuple(HAND.values()), lambda_gp=7.0, lambda_rec=3.0, n_critic=1)
    terms = t.train_step()
    gp = (4 / math.sqrt(n) - 1) ** 2                                   # the sum of the 2×2 map: gradient 4/n per value
    assert terms['d_gp'].item() == pytest.approx(gp)
    assert terms['d_loss'].item() == pytest.approx(D_ADV + 7 * gp + D_CLS)
    for k, v in dict(g_adv=G_ADV, g_cls=G_CLS, g_rec=G_REC).items(): assert terms[k].item() == pytest.approx(v), k
    assert terms['g_loss'].item() == pytest.approx(G_ADV + G_CLS + 3 * G_REC)

class StubCritics(nn.Module):
    "CycleGAN's two critics as stubs: D₀'s 2×2 map constant at the face's mean pixel m (+ a zero weight), D₁'s at 2m."
    def __init__(self): super().__init__(); self.w = nn.Parameter(torch.zeros(()))
    def forward(self, x):
        m = x.flatten(1).mean(1).reshape(-1, 1, 1, 1).expand(-1, 1, 2, 2) + self.w
        return torch.stack([m, 2 * m])

def test_trainer_hands_cyclegan_its_weights():
    """CycleGAN through `Trainer.train_step` with λ_cyc 3 and λ_id 0.7 (10 and 5 in its paper), on the hand case: each
    edit judged by its target's critic, D₀(0.25) = 0.25 and D₁(−0.125) = −0.25, so adv = ((0.25 − 1)² + (−0.25 − 1)²) / 2;
    𝓛_G = adv + 3·cyc + 0.7·id. Each critic on its own domain's real faces and the fakes made for it: D₀ on −0.5 and
    0.25, D₁ on 1.5 (0.75 doubled) and −0.25: 𝓛_D = ½((−0.5 − 1)² + 0.25² + (1.5 − 1)² + (−0.25)²)."""
    t = _trainer('cyclegan', ParamG(), StubCritics(), tuple(HAND.values()), lambda_rec=3.0, lambda_id=0.7)
    terms = t.train_step()
    assert terms['d_real'].item() == pytest.approx((2.25 + 0.25) / 2) and terms['d_fake'].item() == pytest.approx(0.0625)
    assert terms['d_loss'].item() == pytest.approx(0.5 * (2.25 + 0.0625 + 0.25 + 0.0625))
    adv = ((0.25 - 1) ** 2 + (-0.25 - 1) ** 2) / 2
    for k, v in dict(g_adv=adv, g_rec=G_REC, g_id=G_ID).items(): assert terms[k].item() == pytest.approx(v), k
    assert terms['g_loss'].item() == pytest.approx(adv + 3 * G_REC + 0.7 * G_ID)            # swapped: 0.5 less

def test_trainer_hands_resgan_its_weights():
    """ResGAN (its own nets, 32²) through `Trainer.train_step` with α 1e-2, β 3e-4: 𝓛_G = GAN + dual + α·ℓ_pix + β·ℓ_per,
    ℓ_pix the per-image sum of |residual| (3·32·32 × the logged mean), ℓ_per the per-image sum of |φ(x̃) − φ(x)|."""
    t = _trainer('resgan', size=32, hparams=dict(alpha=1e-2, beta=3e-4), batch_size=4)
    r = {k: v.item() for k, v in t.train_step().items()}
    pix = r['g_res'] * 3 * 32 * 32
    assert abs((1e-2 - 3e-4) * (pix - r['g_per'])) > 1e-3 * abs(r['g_loss']), r   # α and β swapped would show
    assert r['g_loss'] == pytest.approx(r['g_cls'] + r['g_dual'] + 1e-2 * pix + 3e-4 * r['g_per'], rel=1e-5)

# ---- Eq. 7 at the photo's resolution ---------------------------------------------------------------------------------
def test_paste_blends_the_edit_into_the_photo_at_full_resolution():
    """`photos.paste` with a face whose model frame is the photo's pixels shifted by (5, 3): where the face is, the photo
    becomes F_m·b + photo·(1 − b) exactly (Eq. 7), everywhere else it is unchanged bit for bit; the mask comes back in place."""
    from sagan_nb.photos import Face, celeba_to_model, invert, paste
    s, ox, oy, H, W = 4, 5, 3, 9, 11
    Ci = invert(celeba_to_model(s))                                    # model pixel → CelebA pixel
    face = Face((ox, oy, ox + s, oy + s), np.zeros((5, 2)), np.hstack([Ci[:, :2], (Ci[:, :2] @ [-ox, -oy] + Ci[:, 2])[:, None]]))
    np.testing.assert_allclose(face.to_model(s), [[1, 0, -ox], [0, 1, -oy]], atol=1e-12)
    g = torch.Generator().manual_seed(0)
    photo = torch.rand(1, 3, H, W, generator=g) * 2 - 1
    amn = torch.rand(1, 3, s, s, generator=g) * 2 - 1
    mask = torch.linspace(0.05, 0.95, s * s).reshape(1, 1, s, s)
    out, m = paste(photo, face, amn, mask)
    want = photo.clone(); want[..., oy:oy + s, ox:ox + s] = amn * mask + photo[..., oy:oy + s, ox:ox + s] * (1 - mask)
    torch.testing.assert_close(out, want, rtol=0, atol=1e-6)
    outside = torch.ones(1, 1, H, W, dtype=torch.bool); outside[..., oy:oy + s, ox:ox + s] = False
    assert torch.equal(out[outside.expand_as(out)], photo[outside.expand_as(photo)])
    want_m = torch.zeros(1, 1, H, W); want_m[..., oy:oy + s, ox:ox + s] = mask
    torch.testing.assert_close(m, want_m, rtol=0, atol=1e-6)
