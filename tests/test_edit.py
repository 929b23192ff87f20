"Editing beyond the notebook's checks: paste-back exactness, framing, several attributes, errors, the widget, precision, GPU."
import contextlib, io
from pathlib import Path
import numpy as np
import pytest, torch
from PIL import Image
from sagan_nb.faces import UnknownAttributeError, to_float, to_pil
from sagan_nb.models import GenOutput
from sagan_nb.synth import synth_tensors
from sagan_nb.config import ConfigMismatchError, TrainConfig, export_generator, load_generator
from sagan_nb.train import Trainer
import sagan_nb.devices as devices
from sagan_nb.edit import Editor, EditResult, edit
from sagan_nb.widgets import editor_widget
from sagan_nb.devices import resolve_precision
from sagan_nb.faces import to_uint8

TINY = TrainConfig(attribute='Smiling', image_size=32, conv_dim=8, n_res=1, d_conv_dim=8, batch_size=8, steps=2,
                   device='cpu')

@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    "A tiny Smiling checkpoint (2 iterations at 32×32), made once for the module."
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp('smiling')
    Trainer(TINY, synth_tensors(16, size=32), out_dir=out, progress=False).fit()
    return out / 'checkpoint.pt'

@pytest.fixture(scope='module')
def ckpt_eyeglasses(ckpt, tmp_path_factory):
    "The same weights, stored as a checkpoint for another attribute."
    ck = torch.load(ckpt, weights_only=True)
    ck['config'] = {**ck['config'], 'attribute': 'Eyeglasses'}
    p = tmp_path_factory.mktemp('eyeglasses') / 'checkpoint.pt'
    torch.save(ck, p)
    return p

@pytest.fixture(scope='module')
def photo():
    "A synthetic face drawn at 48×48 inside a 48×60 'photo' (CelebA's proportions) with a noisy border."
    g = torch.Generator().manual_seed(7)
    face = synth_tensors(1, size=48, seed=2).images[0]
    img = torch.randint(0, 256, (3, 60, 48), generator=g, dtype=torch.uint8)
    img[:, 6:54] = face
    return to_pil(img)

class HalfMask(torch.nn.Module):
    "A generator whose mask is the given one's on the right half of the face and exactly 0 on the left half."
    def __init__(self, G): super().__init__(); self.G = G
    def forward(self, x, c):
        o = self.G(x, c)
        keep = torch.zeros_like(o.mask); keep[..., x.shape[-1] // 2:] = 1
        b = torch.ones_like(o.mask) * keep                       # mask 1 on the right, 0 on the left
        return GenOutput(o.amn * b + x * (1 - b), b, o.amn)

def test_tensor_results_are_usable_outside_inference_mode(ckpt):
    "The notebook checks that a tensor batch is edited as the generator does; its results must also leave inference mode."
    x = to_float(synth_tensors(5, size=32, seed=1).images)
    r = Editor(ckpt, device='cpu', batch_size=2, precision='fp32').edit(x, 'Smiling', 'remove')
    assert isinstance(r, EditResult) and not any(t.is_inference() for t in r[:3]) and not r.steps[0].mask.is_inference()

def test_an_editor_is_callable(ckpt):
    "`Editor(...)(img, 'Smiling')` is `Editor(...).edit(img, 'Smiling')` (main: `__call__ = edit` bound nothing; not callable)."
    x = to_float(synth_tensors(2, size=32, seed=1).images)
    ed = Editor(ckpt, device='cpu', precision='fp32')
    assert torch.equal(ed(x, 'Smiling').edited, ed.edit(x, 'Smiling').edited)
    assert torch.equal(ed(x, 'Smiling', 0, strength=0.5).edited, ed.edit(x, 'Smiling', 0, strength=0.5).edited)
    assert not hasattr(Editor, 'sizes') and not hasattr(Editor, 'configs')     # unused views: one record per attribute, `loaded`

@pytest.mark.parametrize('precision', ['fp32', 'bf16'])
def test_zero_mask_leaves_pixels_exactly(ckpt, photo, precision):
    G, _ = load_generator(ckpt)
    ed = Editor(device='cpu', precision=precision).add('Smiling', HalfMask(G), 32)
    e, p = np.asarray(ed.edit(photo, 'Smiling', 1).edited), np.asarray(photo)
    # model pixels 0..15 have mask 0; a full-size column j (crop 48 → 32) reads model columns near j·32/48, so
    # columns 0..21 only see mask-0 pixels through the bilinear upsampling
    assert (e[:, :22] == p[:, :22]).all()
    assert (e[6:54, 26:] != p[6:54, 26:]).mean() > 0.5           # mask 1: replaced by the AMN's output
    assert (e[:6] == p[:6]).all() and (e[54:] == p[54:]).all()
    # float tensors at the model's size: where the mask is exactly 0 the output is the input, bit for bit
    x = to_float(synth_tensors(3, size=32, seed=5).images)
    r = ed.edit(x, 'Smiling', 1)
    assert r.edited.dtype == torch.float32 and (r.mask[..., :16] == 0).all()
    assert torch.equal(r.edited[..., :16], x[..., :16]) and (r.residual[..., :16] == 0).all()

def test_crop_parameters_frame_the_edit(ckpt, photo):
    G, _ = load_generator(ckpt)
    with torch.no_grad(): G.san[-2].bias.fill_(30.)                # mask ≈ 1: every pixel of the crop changes
    ed = Editor(device='cpu', crop=24, shift_y=-5).add('Smiling', G, 32)
    e, p = np.asarray(ed.edit(photo, 'Smiling', 1).edited), np.asarray(photo)
    l, t = 12, 18 - 5                                              # center_crop_box(48, 60, 24, -5)
    changed = (e != p).any(-1)
    assert changed[t:t + 24, l:l + 24].mean() > 0.9
    changed[t:t + 24, l:l + 24] = False
    assert not changed.any()
    with pytest.raises(Exception, match='does not fit'):
        Editor(device='cpu', crop=100).add('Smiling', G, 32).edit(photo, 'Smiling', 1)

def test_tensor_other_size_is_pasted_back(ckpt, photo):
    ed = Editor(ckpt, device='cpu')
    x = to_float(torch.from_numpy(np.array(photo)).permute(2, 0, 1))
    r = ed.edit(torch.stack([x, x.flip(-1)]), 'Smiling', 1)
    assert r.edited.shape == (2, 3, 60, 48) and r.mask.shape == (2, 1, 60, 48)
    assert (r.edited[..., :6, :] == torch.stack([x, x.flip(-1)])[..., :6, :]).all()
    assert r.mask[..., :6, :].max() == 0
    # the same photo as PIL gives the same edit up to resampling (PIL and torch resize differently by < 1 level)
    rp = np.asarray(ed.edit(photo, 'Smiling', 1).edited).astype(float)
    te = (r.edited[0].permute(1, 2, 0).numpy() + 1) * 127.5
    assert np.abs(rp - te).mean() < 3

def test_lists_keep_pil_images_and_uint8_faces(ckpt, photo):
    "The notebook edits a list of an array, a path and a float batch; a PIL image and a uint8 face keep their kinds too."
    ed = Editor(ckpt, device='cpu', batch_size=2)
    face = synth_tensors(1, size=32, seed=3).images[0]
    rs = ed.edit([photo, face], 'Smiling', True)
    assert isinstance(rs[0].edited, Image.Image) and rs[0].edited.size == photo.size
    assert isinstance(rs[1].edited, torch.Tensor) and rs[1].edited.shape == (3, 32, 32)

def test_two_attributes_and_checks(ckpt, ckpt_eyeglasses, tmp_path):
    ed = Editor({'Smiling': ckpt, 'Eyeglasses': ckpt_eyeglasses}, device='cpu')
    assert ed.attributes == ('Smiling', 'Eyeglasses')
    assert Editor([ckpt, ckpt_eyeglasses.parent], device='cpu').attributes == ('Smiling', 'Eyeglasses')
    with pytest.raises(ConfigMismatchError, match="is a model for 'Eyeglasses', not for 'Smiling'"):
        Editor({'Smiling': ckpt_eyeglasses})
    x = to_float(synth_tensors(2, size=32, seed=1).images)
    with pytest.raises(UnknownAttributeError, match="no model loaded for 'No_Beard'; loaded: Smiling, Eyeglasses"):
        ed.edit(x, 'No_Beard', 1)
    with pytest.raises(UnknownAttributeError, match="unknown attribute 'Glasses'.*loaded: Smiling, Eyeglasses"):
        ed.edit(x, 'Glasses', 1)
    with pytest.raises(UnknownAttributeError, match='valid names: 5_o_Clock_Shadow'):
        Editor({'Beard': ckpt})
    for bad in (2, 0.5, 'yes', None):
        with pytest.raises(ValueError, match=r'value must be 1 \(add the attribute\) or 0'): ed.edit(x, 'Smiling', bad)

def test_exported_half_precision_generator(ckpt, tmp_path):
    p = export_generator(ckpt, tmp_path / 'G.pt')
    x = to_float(synth_tensors(3, size=32, seed=1).images)
    a = Editor(ckpt, device='cpu', precision='fp32').edit(x, 'Smiling', 1).edited     # the export's rounding alone
    b = Editor(p, device='cpu', precision='fp32').edit(x, 'Smiling', 1).edited
    torch.testing.assert_close(a, b, rtol=0, atol=0.02)

def test_widget_builds_and_rerenders(ckpt, ckpt_eyeglasses, photo):
    import ipywidgets as W
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    ed = Editor({'Smiling': ckpt, 'Eyeglasses': ckpt_eyeglasses}, device='cpu')
    with contextlib.redirect_stdout(io.StringIO()):
        w = editor_widget(ed, [photo] + list(synth_tensors(2, size=32, seed=1).images))
        assert isinstance(w, W.Widget) and w.renders == 1 and w.result.edited.size == (48, 60)
        w.controls['image'].value = 2
        w.controls['attributes']['Smiling'].value = 'off'
        w.controls['attributes']['Eyeglasses'].value = 'remove'
        assert w.renders == 3 and w.result.edited.shape == (3, 32, 32)                  # 'off' alone: nothing to draw
        w2 = editor_widget(ed, synth_tensors(3, size=32, seed=1))          # a FaceTensors
        assert len(w2.controls['image'].options) == 3
    plt.close('all')

# ---- precision and compile ---------------------------------------------------------------------------------------
def _cpu_flags() -> set:
    try: text = Path('/proc/cpuinfo').read_text()
    except OSError: pytest.skip('no /proc/cpuinfo')
    line = next((l for l in text.splitlines() if l.startswith('flags')), '')
    return set(line.split(':', 1)[-1].split())

def test_cpu_bf16_detection_matches_the_cpu_flags():
    "The detection agrees with what the kernel reports: AVX512-BF16 dot products or AMX tiles."
    flags = _cpu_flags()
    assert devices.cpu_has_bf16() == bool({'avx512_bf16', 'amx_tile'} & flags), sorted(f for f in flags if 'bf16' in f or 'amx' in f)

@pytest.mark.parametrize('has_bf16', [True, False])
def test_auto_precision_is_bf16_exactly_where_the_cpu_has_it(ckpt, monkeypatch, has_bf16):
    monkeypatch.setattr(devices, 'cpu_has_bf16', lambda: has_bf16)
    want = 'bf16' if has_bf16 else 'fp32'
    ed = Editor(ckpt, device='cpu')                                          # the default: precision='auto'
    assert ed.precision_asked == 'auto' and ed.precision == want and resolve_precision('auto', 'cpu') == want
    assert f'precision=auto->{want}' in repr(ed)
    assert Editor(ckpt, device='cpu', precision='fp32').precision == 'fp32'  # explicit values are not overridden
    assert Editor(ckpt, device='cpu', precision='bf16').precision == 'bf16'
    # and the default path really runs at that precision, also through edit() and the widget
    G, _ = load_generator(ckpt)
    x = to_float(synth_tensors(3, size=32, seed=1).images)
    with torch.no_grad(): want_fp32 = G(x, torch.ones(3)).edited
    for r in (ed.edit(x, 'Smiling', 1), edit(x, 'Smiling', 1, checkpoint=ckpt, device='cpu'),
              edit(x, 'Smiling', 1, model=G, image_size=32)):
        assert r.edited.dtype == torch.float32
        assert torch.equal(r.edited, want_fp32) != has_bf16                     # bf16 rounds somewhere, fp32 does not
        torch.testing.assert_close(r.edited, want_fp32, rtol=0, atol=0.05)
    import ipywidgets  # noqa: F401  (the widget needs it)
    with contextlib.redirect_stdout(io.StringIO()):
        assert editor_widget(ckpt, [x[0]]).editor.precision == want
        assert editor_widget(ckpt, [x[0]], precision='fp32').editor.precision == 'fp32'
    import matplotlib.pyplot as plt; plt.close('all')

def test_bf16_edits_agree_with_fp32(ckpt, photo):
    "Same faces, both precisions: float32 results on the CPU, a fraction of a grey level apart on average."
    e32, e16 = Editor(ckpt, device='cpu', precision='fp32'), Editor(ckpt, device='cpu', precision='bf16')
    x = to_float(synth_tensors(16, size=32, seed=3).images)
    a, b = e32.edit(x, 'Smiling', 1), e16.edit(x, 'Smiling', 1)
    for t in b[:3]: assert t.dtype == torch.float32 and t.device.type == 'cpu' and not t.is_inference()
    levels = (to_uint8(a.edited).int() - to_uint8(b.edited).int()).abs().float()
    assert 0 < levels.mean() < 1 and levels.max() <= 8, (levels.mean(), levels.max())
    assert (a.mask - b.mask).abs().max() < 0.02
    pa, pb = np.asarray(e32.edit(photo, 'Smiling', 1).edited).astype(int), np.asarray(e16.edit(photo, 'Smiling', 1).edited).astype(int)
    assert np.abs(pa - pb).mean() < 1 and (pa[:6] == pb[:6]).all()              # outside the crop: both untouched
    # edit() with an Editor keeps its precision (the notebook's check) unless told otherwise
    torch.testing.assert_close(edit(x, 'Smiling', 1, model=e16, precision='fp32').edited, a.edited, rtol=0, atol=1e-6)

def test_bad_precision_is_refused_by_name_everywhere(ckpt, photo):
    "The notebook refuses bad values in `resolve_precision` and `Editor`; the other ways in refuse them too."
    with pytest.raises(ValueError, match="precision must be one of 'fp32', 'bf16', 'auto'; got 'half'"):
        edit(photo, 'Smiling', 1, checkpoint=ckpt, device='cpu', precision='half')
    ed = Editor(ckpt, device='cpu')
    with pytest.raises(ValueError, match="precision must be one of"): ed.using(precision='fp64')
    with pytest.raises(ValueError, match="precision must be one of"): edit(photo, 'Smiling', 1, model=ed, precision='x')
    with pytest.raises(ValueError, match="precision must be one of"): editor_widget(ed, [photo], precision='bf32')

@pytest.mark.slow
def test_compiled_editor_matches_eager(ckpt):
    "compile=True: torch.compile at the first edit (one shape; seconds with a warm inductor cache, ~1 min cold), the same results (fp32)."
    torch._dynamo.reset()
    ec = Editor(ckpt, device='cpu', precision='fp32', compile=True, batch_size=4)
    assert 'compile=True' in repr(ec) and not ec._compiled                      # lazily: nothing compiled yet
    x = to_float(synth_tensors(4, size=32, seed=1).images)
    a = ec.edit(x, 'Smiling', 1)
    assert 'Smiling' in ec._compiled
    b = Editor(ckpt, device='cpu', precision='fp32').edit(x, 'Smiling', 1)
    torch.testing.assert_close(a.edited, b.edited, rtol=0, atol=1e-4)
    torch.testing.assert_close(a.mask, b.mask, rtol=0, atol=1e-4)
    torch._dynamo.reset()

@pytest.mark.gpu
def test_cuda_matches_cpu(ckpt):
    x = to_float(synth_tensors(4, size=32, seed=1).images)
    a = Editor(ckpt, device='cpu', precision='fp32').edit(x, 'Smiling', 1)
    b = Editor(ckpt, device='cuda', precision='fp32').edit(x, 'Smiling', 1)
    assert b.edited.device.type == 'cpu'
    torch.testing.assert_close(a.edited, b.edited, rtol=0, atol=2e-3)
    # the default on a GPU with bf16 tensor cores (compute capability 8.0+) is bf16: close to fp32, float32 results
    d = Editor(ckpt, device='cuda')
    assert d.precision == ('bf16' if torch.cuda.get_device_capability() >= (8, 0) else 'fp32')
    c = d.edit(x, 'Smiling', 1)
    assert c.edited.dtype == torch.float32 and c.edited.device.type == 'cpu'
    torch.testing.assert_close(a.edited, c.edited, rtol=0, atol=0.1)

# ---- several attributes in one edit, and the strength (issue 25) -------------------------------------------------
from sagan_nb.edit import CombinedEdit, edit_plan

class Speckle(torch.nn.Module):
    """A stand-in generator with a sparse mask: a fixed random pattern (seeded), exactly 0 on most pixels and in (0, 1]
    on the others, and an AMN halfway between its input and a fixed random picture (its negative to remove), so that
    what a step draws depends on what it sees. Two of them overlap at random."""
    def __init__(self, seed: int, size: int, share: float = 0.3):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer('b', torch.rand(1, 1, size, size, generator=g) * (torch.rand(1, 1, size, size, generator=g) < share))
        self.register_buffer('a', torch.rand(1, 3, size, size, generator=g) * 2 - 1)
    def forward(self, x, c):
        a = 0.5 * x + 0.5 * self.a * (2 * c.view(-1, 1, 1, 1) - 1); b = self.b.expand(len(x), 1, *x.shape[-2:])
        return GenOutput(a * b + x * (1 - b), b, a)

class Tone(torch.nn.Module):
    "A stand-in whose mask is 1 on the middle third of the columns (all overlap there): it paints its own tone, so the last step shows."
    def __init__(self, tone: float): super().__init__(); self.tone = tone
    def forward(self, x, c):
        b = torch.zeros_like(x[:, :1]); w = x.shape[-1]; b[..., w // 3:2 * w // 3] = 1
        a = torch.full_like(x, self.tone)
        return GenOutput(a * b + x * (1 - b), b, a)

def speckle_editor(size: int = 32, precision: str = 'fp32') -> Editor:
    ed = Editor(device='cpu', precision=precision, pretrained=False)
    for k, a in enumerate(('Eyeglasses', 'Mouth_Slightly_Open', 'Smiling', 'No_Beard')): ed.add(a, Speckle(k, size), size)
    return ed

def by_hand(x, plan, ed):
    "The composition worked by hand: each model in turn, each on the one before's result, inside its own mask."
    y, keep = x, torch.ones_like(x[:, :1])
    for a, v in plan:
        o = ed.models[a](y, torch.full((len(x),), float(v)))
        y, keep = o.amn * o.mask + y * (1 - o.mask), keep * (1 - o.mask)
    return y, 1 - keep

@pytest.mark.parametrize('precision', ['fp32', 'bf16'])
def test_combined_edit_leaves_everything_outside_the_union_bit_for_bit(photo, precision):
    "Tensors at the model's size, a PIL photo pasted back at its own size and an array: outside the union of the masks, the input itself."
    ed = speckle_editor(precision=precision)
    ask = {'Smiling': 1, 'Eyeglasses': 0, 'No_Beard': 1}
    x = to_float(synth_tensors(3, size=32, seed=4).images)
    r = ed.edit(x, ask)
    assert isinstance(r, CombinedEdit) and [s.attribute for s in r.steps] == ['Eyeglasses', 'No_Beard', 'Smiling']
    assert [s.value for s in r.steps] == [0, 1, 1]
    out = r.mask == 0
    assert out.float().mean() > 0.2 and (~out).float().mean() > 0.2                      # both kinds of pixel are there
    assert torch.equal(r.edited[out.expand_as(x)], x[out.expand_as(x)])
    assert (r.edited[(~out).expand_as(x)] != x[(~out).expand_as(x)]).float().mean() > 0.9
    want, union = by_hand(x, edit_plan(ask), ed)
    torch.testing.assert_close(r.mask, union, rtol=0, atol=1e-6)                             # 1 − ∏(1 − b_k)
    assert torch.equal(r.mask == 0, union == 0)
    for s in r.steps: assert torch.equal(s.mask, ed.models[s.attribute].b.expand(3, 1, 32, 32))
    if precision == 'fp32': torch.testing.assert_close(r.edited, want, rtol=0, atol=1e-6)
    assert ((r.edited - x).abs() <= 2 * r.mask + 1e-5).all()                               # |edit − input| ≤ 2·union
    # a photo of another size: the steps at the model's size, pasted back once; 8-bit mask 0: the photo's own pixels
    for item in (photo, np.asarray(photo)):
        rp = ed.edit(item, ask)
        e, m = np.asarray(rp.edited), np.asarray(rp.mask)
        assert e.shape[:2] == m.shape == (60, 48) and len(rp.steps) == 3
        assert (m == 0).mean() > 0.2 and (e[m == 0] == np.asarray(photo)[m == 0]).all()
        assert (e[m > 0] != np.asarray(photo)[m > 0]).any(-1).mean() > 0.5
        steps = np.stack([np.asarray(s.mask) for s in rp.steps]).astype(int)
        assert ((m > 0) == (steps > 0).any(0)).all()                                      # the union covers the steps, no more

def documented_order() -> list[str]:
    "The order the README says a combined edit applies its models in."
    import re
    text = (Path(__file__).resolve().parents[1] / 'README.md').read_text()
    m = re.search(r"the steps go in CelebA's\s+attribute\s+order:\s+((?:`\w+`(?:,\s+)?)+)", text)
    assert m, "the README does not say the order of a combined edit"
    return re.findall(r'`(\w+)`', m[1])

def test_combined_edit_applies_the_models_in_the_documented_order():
    "Every order of the dict gives the same edit, made in the README's order: the last model has the last word where all overlap."
    import itertools
    order = documented_order()
    assert sorted(order) == sorted(('Eyeglasses', 'Mouth_Slightly_Open', 'No_Beard', 'Smiling'))
    tones = dict(zip(order, (-0.6, -0.2, 0.2, 0.6)))
    ed = Editor(device='cpu', precision='fp32', pretrained=False)
    for a, t in tones.items(): ed.add(a, Tone(t), 32)
    x = to_float(synth_tensors(2, size=32, seed=6).images)
    results = [ed.edit(x, dict(p)) for p in itertools.permutations([(a, 1) for a in order])]
    for r in results:
        assert [s.attribute for s in r.steps] == order
        assert torch.equal(r.edited, results[0].edited)
    assert (results[0].edited[..., 11:21] == tones[order[-1]]).all()                     # the overlap: the last model's tone
    # two at a time: still in that order
    for a, b in itertools.combinations(order, 2):
        assert [s.attribute for s in ed.edit(x, {b: 1, a: 1}).steps] == [a, b]
        assert (ed.edit(x, {b: 1, a: 1}).edited[..., 11:21] == tones[b]).all()

def test_strength_zero_is_the_input_and_the_change_grows_with_it():
    "A drawn face through the shipped models (one attribute and two): strength 0 is the input bit for bit, 1 the plain edit, and the change grows with s."
    from sagan_nb.pretrained import shipped
    from sagan_nb.synth import face_attrs
    from sagan_nb.render import face_params, render_face
    if not {'Eyeglasses', 'Smiling'} <= set(shipped()): pytest.skip('the shipped models are not in this install')
    ed = Editor(device='cpu', precision='fp32')
    a0 = face_attrs(0, 2); a0[:] = 0
    face = Image.fromarray(render_face(face_params(0, 2), a0, 64)[0])
    x = to_float(torch.from_numpy(np.array(face)).permute(2, 0, 1)[None])
    for ask in ('Smiling', {'Eyeglasses': 1, 'Smiling': 1}):
        one = lambda s: ed.edit(x, ask, strength=s)
        assert torch.equal(one(0).edited, x) and (one(0).mask == 0).all()
        assert np.array_equal(np.asarray(ed.edit(face, ask, strength=0).edited), np.asarray(face))
        assert torch.equal(one(1).edited, ed.edit(x, ask).edited)                          # 1: the models' own edit
        sizes, prev = [], torch.zeros_like(x)
        for s in (0.25, 0.5, 1.0, 1.5, 2.0):
            r = one(s)
            masks = [r.mask] if isinstance(ask, str) else [st.mask for st in r.steps]
            plain = [ed.edit(x, ask).mask] if isinstance(ask, str) else [st.mask for st in ed.edit(x, ask).steps]
            torch.testing.assert_close(masks[0], (s * plain[0]).clamp(0, 1), rtol=0, atol=1e-6)   # (later steps see s's edit)
            assert all(0 <= m.min() and m.max() <= 1 for m in masks)
            d = r.residual.abs()
            if isinstance(ask, str): assert (d >= prev - 1e-6).all(), s                 # one step: at every pixel
            sizes.append(d.mean().item()); prev = d
        assert all(b > a for a, b in zip(sizes, sizes[1:])), sizes                         # on average, also for two

def test_edit_photo_combines_attributes_outside_the_union_untouched(monkeypatch):
    "`edit_photo` with a dict, on a face placed by hand (no dlib): each step put back in turn; outside the union, the photo's own pixels."
    import sagan_nb.photos as photos
    rng = np.random.default_rng(0)
    pic = Image.fromarray(rng.integers(0, 256, (300, 260, 3), dtype=np.uint8))
    th = np.deg2rad(20); A = 2.5 * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    to_model = photos.invert(np.hstack([A, [[90.], [70.]]]))                            # photo → model pixels (64 px)
    C = photos.celeba_to_model(64); Ci = np.linalg.inv(C[:, :2])
    face = photos.Face((60, 60, 200, 200), np.zeros((5, 2)), np.hstack([Ci @ to_model[:, :2], (Ci @ (to_model[:, 2] - C[:, 2]))[:, None]]))
    monkeypatch.setattr(photos, 'find_faces', lambda *a, **k: [face])
    ed = speckle_editor(64)
    r = photos.edit_photo(pic, {'Smiling': 1, 'Eyeglasses': 1}, editor=ed)
    assert [s.attribute for s in r.steps] == ['Eyeglasses', 'Smiling']
    m, e, p = np.asarray(r.mask), np.asarray(r.edited), np.asarray(pic)
    assert (m == 0).mean() > 0.5 and (e[m == 0] == p[m == 0]).all()
    assert (e[m > 128] != p[m > 128]).any(-1).mean() > 0.9
    m1, m2 = (np.asarray(s.mask) / 255 for s in r.steps)
    assert np.abs(m / 255 - (1 - (1 - m1) * (1 - m2))).max() <= 1.5 / 255
    assert np.array_equal(np.asarray(photos.edit_photo(pic, {'Smiling': 1, 'Eyeglasses': 1}, editor=ed, strength=0).edited), p)
    one = photos.edit_photo(pic, 'Smiling', editor=ed)                                # one attribute: as before, one step
    assert len(one.steps) == 1 and np.array_equal(np.asarray(one.mask), np.asarray(one.steps[0].mask))

def test_widget_edits_two_attributes_at_a_strength(ckpt, ckpt_eyeglasses, photo):
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    ed = Editor({'Smiling': ckpt, 'Eyeglasses': ckpt_eyeglasses}, device='cpu', precision='fp32')
    with contextlib.redirect_stdout(io.StringIO()):
        w = editor_widget(ed, [photo])
        assert set(w.controls) == {'image', 'attributes', 'strength'} and w.renders == 1
        assert [s.attribute for s in w.result.steps] == ['Smiling']                     # the first attribute, added
        w.controls['attributes']['Eyeglasses'].value = 'remove'
        assert w.renders == 2 and [(s.attribute, s.value) for s in w.result.steps] == [('Eyeglasses', 0), ('Smiling', 1)]
        assert w.note.value == '-Eyeglasses +Smiling, strength 1.00'
        assert np.array_equal(np.asarray(w.result.edited), np.asarray(ed.edit(photo, {'Smiling': 1, 'Eyeglasses': 0}).edited))
        w.controls['strength'].value = 0.5
        assert w.renders == 3 and np.array_equal(np.asarray(w.result.edited),
                                                 np.asarray(ed.edit(photo, {'Smiling': 1, 'Eyeglasses': 0}, strength=0.5).edited))
    plt.close('all')
