"""Heavier checks of `sagan_nb.synth`: nothing global gives the attributes away, and they are drawn independently.
(That a CNN learns them at 32×32 is `08_metrics`' check of the package's judge.)

    python -m pytest tests/test_synth.py -s      # -s prints the accuracies and timings
"""
import time
import pytest
import torch
import torch.nn.functional as F
from sagan_nb.synth import load_faces

N_TRAIN, N_TEST, SIZE = 2000, 500, 32

@pytest.fixture(scope='module')
def faces():
    "2000 training and 500 held-out faces (disjoint index ranges) at 32×32."
    t0 = time.perf_counter()
    tr, te = load_faces(split='train', size=SIZE, n=N_TRAIN), load_faces(split='test', size=SIZE, n=N_TEST)
    print(f"\ndrew {N_TRAIN + N_TEST} faces at {SIZE}x{SIZE} in {time.perf_counter() - t0:.1f} s")
    assert not set(tr.identities.tolist()) & set(te.identities.tolist())
    return tr, te

def _stats(images: torch.Tensor) -> dict[str, torch.Tensor]:
    "Global statistics of each image: mean colour, mean brightness, contrast (std), all as features [N,k]."
    f = images.float() / 255
    mean = f.mean((2, 3))
    return {'mean colour': mean, 'mean brightness': mean.mean(1, keepdim=True),
            'colour std': f.std((2, 3)), 'mean colour + std': torch.cat([mean, f.std((2, 3))], 1)}

def _logreg_accuracy(f: torch.Tensor, y: torch.Tensor, ft: torch.Tensor, yt: torch.Tensor) -> float:
    "Held-out accuracy of a logistic regression (L-BFGS) on standardised features."
    mu, sd = f.mean(0), f.std(0) + 1e-6
    f, ft = (f - mu) / sd, (ft - mu) / sd
    w = torch.zeros(f.shape[1], requires_grad=True); b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200)
    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(f @ w + b, y) + 1e-4 * (w * w).sum()
        loss.backward(); return loss
    opt.step(closure)
    with torch.no_grad(): return (((ft @ w + b) > 0).float() == yt).float().mean().item()

def _threshold_accuracy(f: torch.Tensor, y: torch.Tensor, ft: torch.Tensor, yt: torch.Tensor) -> float:
    "Held-out accuracy of the best single threshold (either direction) on a scalar feature, chosen on training data."
    f, ft = f.flatten(), ft.flatten()
    cands = torch.quantile(f, torch.linspace(0.01, 0.99, 99))
    acc = torch.stack([((f > c).float() == y).float().mean() for c in cands])
    best = acc.argmax() if acc.max() >= 1 - acc.min() else (1 - acc).argmax()
    pred = (ft > cands[best]).float() if acc.max() >= 1 - acc.min() else (ft <= cands[best]).float()
    return (pred == yt).float().mean().item()

def test_no_global_statistic_predicts_an_attribute(faces):
    "Mean colour, brightness or contrast of the whole image predict no attribute much above chance (< 0.65)."
    tr, te = faces
    s, st = _stats(tr.images), _stats(te.images)
    worst = 0.0
    for k, a in enumerate(tr.attr_names):
        y, yt = tr.attrs[:, k], te.attrs[:, k]
        chance = max(yt.mean().item(), 1 - yt.mean().item())
        accs = {name: _logreg_accuracy(s[name], y, st[name], yt) for name in s}
        accs['brightness threshold'] = _threshold_accuracy(s['mean brightness'], y, st['mean brightness'], yt)
        print(f"{a:20s} chance {chance:.3f}  " + '  '.join(f"{n} {v:.3f}" for n, v in accs.items()))
        worst = max(worst, *accs.values())
        assert max(accs.values()) < 0.65, (a, accs)
    print(f"best global-statistic accuracy: {worst:.3f}")

def test_the_probe_finds_a_leak(faces):
    "The probe is not blind: make the image brightness depend a little on an attribute (±15%) and it finds it."
    tr, te = faces
    leak = lambda ft, k: (ft.images.float() * (0.85 + 0.3 * ft.attrs[:, k]).view(-1, 1, 1, 1)).clamp(0, 255)
    for k, a in enumerate(tr.attr_names):
        s, st = _stats(leak(tr, k)), _stats(leak(te, k))
        acc = _logreg_accuracy(s['mean colour'], tr.attrs[:, k], st['mean colour'], te.attrs[:, k])
        print(f"{a}: with a ±15% brightness leak the mean colour predicts it with accuracy {acc:.3f}")
        assert acc >= 0.65, (a, acc)

def test_attributes_independent(faces):
    "Attributes are drawn independently: no pair is correlated (|r| < 0.1 over 2000 faces)."
    tr, _ = faces
    r = torch.corrcoef(tr.attrs.T)
    off = r[~torch.eye(len(tr.attr_names), dtype=torch.bool)]
    assert off.abs().max() < 0.1, r
