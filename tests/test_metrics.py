"Metrics beyond the notebook's checks: hand-built cases with known answers, the landmark file, and a judge that learns."
import math, time
import numpy as np
import pytest, torch
from torch import nn
from sagan_nb.faces import AnnotationError, MissingDataError, UnknownAttributeError, to_float
from sagan_nb.synth import synth_tensors, counterfactual
from sagan_nb.celeba import LANDMARK_HEADER, LANDMARK_NAMES, read_landmarks
from sagan_nb.celeba import CELEBA_MEAN_LANDMARKS, REGION_ATTRIBUTES, attribute_region, landmarks_to_pixels
from sagan_nb.metrics import (AttributeClassifier, classifier_accuracy, edit_accuracy, edit_metrics,
                              identity_similarity, load_classifier, mask_iou, metrics_table, plot_metrics,
                              predict_attributes, psnr, region_change, save_classifier, train_attribute_classifier)

# ---- change outside the region --------------------------------------------------------------------------------------
@pytest.fixture
def images():
    return torch.rand(5, 3, 12, 10, generator=torch.Generator().manual_seed(0)) * 1.4 - 0.7

@pytest.fixture
def square():
    sq = torch.zeros(12, 10, dtype=torch.bool); sq[3:8, 2:6] = True             # 20 of 120 pixels
    return sq

def test_change_only_inside_the_region(images, square):
    "+0.5 inside a known square, 0 outside: mae_out 0, psnr_out inf, mae_in 0.5."
    r = region_change(images, torch.where(square, images + 0.5, images), square)
    assert r['mae_out'] == 0 and r['psnr_out'] == math.inf
    assert r['mae_in'] == pytest.approx(0.5, abs=1e-6)

def test_uniform_change_is_20_db(images, square):
    "A uniform 0.2 change: PSNR = 10·log10(2² / 0.2²) = 20 dB inside, outside and over the whole image."
    y = images - 0.2
    r = region_change(images, y, square)
    assert r['psnr_out'] == pytest.approx(20.0, abs=1e-4)
    assert r['mae_out'] == pytest.approx(0.2, abs=1e-6) and r['mae_in'] == pytest.approx(0.2, abs=1e-6)
    assert psnr(images, y) == pytest.approx(20.0, abs=1e-4)
    assert psnr(images, y, mask=square) == pytest.approx(20.0, abs=1e-4)
    assert psnr(images, images) == math.inf

def test_region_change_pools_pixels_over_the_set(images, square):
    "Outside MAE is pooled over pixels, per-image [N,H,W] regions work, and the PSNR is of the pooled MSE."
    region = square.expand(5, 12, 10).clone(); region[0] = False                # image 0: everything outside
    y = images.clone(); y[0] += 0.3                                              # 120 changed pixels of 520 outside
    r = region_change(images, y, region)
    assert r['mae_out'] == pytest.approx(0.3 * 120 / (120 + 4 * 100), abs=1e-6)
    assert r['mae_in'] == 0
    assert r['psnr_out'] == pytest.approx(10 * math.log10(4 / (0.09 * 120 / 520)), abs=1e-4)

def test_region_change_errors(images, square):
    with pytest.raises(TypeError, match='bool'): region_change(images, images, square.float())
    with pytest.raises(ValueError, match='does not fit'): region_change(images, images, square[:, :5])
    with pytest.raises(ValueError, match='differ in shape'): region_change(images, images[:3], square)
    with pytest.raises(ValueError, match=r'\[N,3,H,W\]'): psnr(images[:, :2], images[:, :2])
    r = region_change(images, images + 0.1, torch.zeros(12, 10, dtype=torch.bool))     # an empty region
    assert math.isnan(r['mae_in']) and r['mae_out'] == pytest.approx(0.1, abs=1e-6)

# ---- mask IoU -------------------------------------------------------------------------------------------------------
def test_mask_iou_of_two_squares():
    "A 4×4 and a 6×6 square overlapping in 3×4 pixels: IoU = 12 / (16 + 36 − 12)."
    pred = torch.full((1, 1, 10, 10), 0.2); pred[0, 0, 0:4, 0:4] = 0.8
    gt = torch.zeros(1, 10, 10, dtype=torch.bool); gt[0, 1:7, 0:6] = True
    assert mask_iou(pred, gt) == pytest.approx(12 / 40)
    assert mask_iou(pred, gt, threshold=0.1) == pytest.approx(36 / 100)                # pred everywhere
    assert mask_iou(pred, gt, threshold=0.9) == 0.0                                    # pred nowhere
    assert mask_iou(pred[:, 0], gt) == pytest.approx(12 / 40)                          # [N,H,W] too

def test_mask_iou_per_image_and_empty():
    "Per image: [IoU, 1 for empty ∪ empty, 0 for disjoint]; over the set: pooled counts."
    pred = torch.zeros(3, 6, 6); gt = torch.zeros(3, 6, 6, dtype=torch.bool)
    pred[0, :2, :2] = 1; gt[0, :2, :4] = True                                          # 4 / 8
    pred[2, :1, :1] = 1; gt[2, 5:, 5:] = True                                          # 0 / 2
    torch.testing.assert_close(mask_iou(pred, gt, per_image=True), torch.tensor([0.5, 1.0, 0.0]))
    assert mask_iou(pred, gt) == pytest.approx(4 / 10)
    assert mask_iou(torch.zeros(2, 4, 4), torch.zeros(2, 4, 4, dtype=torch.bool)) == 1.0
    with pytest.raises(TypeError, match='bool'): mask_iou(pred, gt.float())
    with pytest.raises(ValueError, match='differ in shape'): mask_iou(pred[:, :3], gt)

# ---- identity -------------------------------------------------------------------------------------------------------
def test_identity_similarity_with_identity_embed():
    x = torch.randn(9, 3, 5, 5, generator=torch.Generator().manual_seed(1))
    ident = lambda t: t.flatten(1)
    torch.testing.assert_close(identity_similarity(ident, x, x, bs=4), torch.ones(9))
    torch.testing.assert_close(identity_similarity(ident, x, -x, bs=4), -torch.ones(9))
    y = torch.randn(9, 3, 5, 5)
    expect = (x.flatten(1) * y.flatten(1)).sum(1) / (x.flatten(1).norm(dim=1) * y.flatten(1).norm(dim=1))
    torch.testing.assert_close(identity_similarity(ident, x, y, bs=2), expect)
    with pytest.raises(ValueError, match='embeddings for'): identity_similarity(lambda t: t[:1].flatten(1), x, x)

# ---- edit accuracy --------------------------------------------------------------------------------------------------
class Stub(nn.Module):
    "A judge that calls a face 'smiling' when its red channel is bright, and 'eyeglasses' never."
    attr_names = ('Eyeglasses', 'Smiling')
    def forward(self, x): return torch.stack([torch.full((len(x),), -5.), x[:, 0].mean((1, 2)) * 10], 1)

def test_edit_accuracy_with_a_stub_classifier():
    x = torch.full((5, 3, 4, 4), -0.5); x[:2, 0] = 0.5                                  # faces 0, 1 'smile'
    assert edit_accuracy(Stub(), x, 'Smiling', 1) == pytest.approx(0.4)
    assert edit_accuracy(Stub(), x, 'Smiling', 0) == pytest.approx(0.6)
    assert edit_accuracy(Stub(), x, 'Smiling', [1, 1, 0, 0, 0]) == 1.0
    assert edit_accuracy(Stub(), x, 'Eyeglasses', torch.zeros(5)) == 1.0
    assert edit_accuracy(Stub(), (x * 127.5 + 127.5).round().to(torch.uint8), 'Smiling', 1) == pytest.approx(0.4)
    assert math.isnan(edit_accuracy(Stub(), x[:0], 'Smiling', 1))
    with pytest.raises(UnknownAttributeError, match='No_Beard.*predicts Eyeglasses, Smiling'):
        edit_accuracy(Stub(), x, 'No_Beard', 1)
    with pytest.raises(ValueError, match='3 targets for 5'): edit_accuracy(Stub(), x, 'Smiling', [1, 0, 1])

# ---- CelebA regions from landmarks ----------------------------------------------------------------------------------
def _inside(region, point) -> bool:
    u, v = (int(round(c)) for c in point)
    return bool(region[v, u])

@pytest.mark.parametrize('size', [32, 128])
def test_regions_sit_on_the_mapped_landmarks(size):
    "After the loader's crop (rows 20..197 of the 178×218 photo) the boxes hold the right landmarks and not the others."
    P = {n: landmarks_to_pixels(CELEBA_MEAN_LANDMARKS[n], size) for n in LANDMARK_NAMES}
    np.testing.assert_allclose(P['nose'], [(88.5) * size / 178 - 0.5, (135.5 - 20) * size / 178 - 0.5])
    R = {a: attribute_region(a, size) for a in REGION_ATTRIBUTES}
    glasses, mouth, beard = R['Eyeglasses'], R['Mouth_Slightly_Open'], R['No_Beard']
    assert glasses.shape == (size, size) and glasses.dtype == torch.bool
    assert _inside(glasses, P['lefteye']) and _inside(glasses, P['righteye'])
    assert not any(_inside(glasses, P[n]) for n in ('nose', 'leftmouth', 'rightmouth'))
    assert torch.equal(R['Smiling'], mouth)
    assert _inside(mouth, P['leftmouth']) and _inside(mouth, P['rightmouth']) and not _inside(mouth, P['nose'])
    assert not (mouth & glasses).any() and not (beard & glasses).any()
    rows = mouth.any(1).nonzero().flatten()
    lower = mouth.clone(); lower[: int(rows[len(rows) // 2])] = False                # the mouth box's lower half
    assert lower.any() and not (lower & ~beard).any()
    assert not _inside(beard, P['nose']) and _inside(beard, (P['leftmouth'] + P['rightmouth']) / 2)
    assert beard.any(1).nonzero().max() < size - 1                                     # the chin is inside the crop

def test_regions_follow_per_image_landmarks_and_the_crop():
    base = np.array([CELEBA_MEAN_LANDMARKS[n] for n in LANDMARK_NAMES], np.float64)
    moved = base + [10, 30]
    regions = attribute_region('Smiling', 128, landmarks=torch.tensor(np.stack([base, moved])))
    assert regions.shape == (2, 128, 128)
    assert torch.equal(regions[0], attribute_region('Smiling', 128))
    top = lambda m: int(m.any(1).nonzero()[0]); left = lambda m: int(m.any(0).nonzero()[0])
    assert abs(top(regions[1]) - top(regions[0]) - 30 * 128 / 178) <= 1
    assert abs(left(regions[1]) - left(regions[0]) - 10 * 128 / 178) <= 1
    up = attribute_region('Smiling', 128, shift_y=-15)                                 # the crop moved up: face moves down
    assert abs(top(up) - top(regions[0]) - 15 * 128 / 178) <= 1

def test_region_errors():
    with pytest.raises(UnknownAttributeError, match="'Bald'.*valid names: Eyeglasses, Mouth_Slightly_Open, Smiling, No_Beard"):
        attribute_region('Bald')
    with pytest.raises(ValueError, match=r'\[5,2\] or \[N,5,2\]'): attribute_region('Smiling', landmarks=np.zeros((5, 3)))
    with pytest.raises(ValueError, match='lack nose'):
        attribute_region('Smiling', landmarks={k: v for k, v in CELEBA_MEAN_LANDMARKS.items() if k != 'nose'})

# ---- the landmark file ----------------------------------------------------------------------------------------------
ROWS = ['000001.jpg 69 109 106 113 77 142 73 152 108 154',
        '000002.jpg 69 110 107 112 81 135 70 151 108 153',
        '000003.jpg 76 112 104 111 108 128 74 157 98 158']

def _write(path, rows, count=None, header=' '.join(LANDMARK_HEADER)):
    path.write_text(f"{len(rows) if count is None else count}\n{header}\n" + '\n'.join(rows) + '\n')
    return path

def test_read_landmarks(tmp_path):
    files, pts = read_landmarks(_write(tmp_path / 'lm.txt', ROWS))
    assert files == ['000001.jpg', '000002.jpg', '000003.jpg']
    assert pts.shape == (3, 5, 2)
    assert pts[0].tolist() == [[69, 109], [106, 113], [77, 142], [73, 152], [108, 154]]
    assert pts[2, 2].tolist() == [108, 128]
    r = attribute_region('Eyeglasses', 64, landmarks=pts)                             # straight into the regions
    assert r.shape == (3, 64, 64)

def test_read_landmarks_names_the_bad_line(tmp_path):
    p = tmp_path / 'lm.txt'
    with pytest.raises(AnnotationError, match=r'lm\.txt:4: expected 10 values, got 9'):
        read_landmarks(_write(p, [ROWS[0], ROWS[1].rsplit(' ', 1)[0], ROWS[2]]))
    with pytest.raises(AnnotationError, match=r"lm\.txt:5: expected integer values, got '1o8'"):
        read_landmarks(_write(p, [ROWS[0], ROWS[1], ROWS[2].replace('108 128', '1o8 128')]))
    with pytest.raises(AnnotationError, match=r'lm\.txt:2: expected the header'):
        read_landmarks(_write(p, ROWS, header='lefteye_x lefteye_y'))
    with pytest.raises(AnnotationError, match=r'lm\.txt:1: the count line says 5 images but the file has 3 rows'):
        read_landmarks(_write(p, ROWS, count=5))
    with pytest.raises(AnnotationError, match=r'lm\.txt:1: expected the number of images'):
        read_landmarks(_write(p, ROWS, count='many'))
    with pytest.raises(MissingDataError, match='list_landmarks_align_celeba'): read_landmarks(tmp_path / 'absent.txt')

# ---- tables ---------------------------------------------------------------------------------------------------------
def test_metrics_table_formats():
    rows = [dict(method='SaGAN', attribute='Smiling', acc=0.91234, acc_inputs=0.1, mae_out=0.00456, psnr_out=math.inf,
                 id_sim=0.98765),
            dict(method='StarGAN', attribute='Smiling', acc=0.8, acc_inputs=0.1, mae_out=0.1, psnr_out=21.04)]
    assert metrics_table(rows).splitlines() == [
        '| method | attribute | acc | acc_inputs | mae_out | psnr_out | id_sim |',
        '| :--- | :--- | ---: | ---: | ---: | ---: | ---: |',
        '| SaGAN | Smiling | 0.912 | 0.100 | 0.0046 | ∞ | 0.988 |',
        '| StarGAN | Smiling | 0.800 | 0.100 | 0.1000 | 21.0 | – |']
    rows.append(dict(method='SaGAN', attribute='Eyeglasses', acc=float('nan')))
    assert metrics_table(rows, metric='acc').splitlines()[2:] == ['| SaGAN | 0.912 | – |', '| StarGAN | 0.800 | – |']
    with pytest.raises(ValueError, match="no row has the metric 'fid'"): metrics_table(rows, metric='fid')

def test_plot_metrics_draws_one_bar_per_method_and_attribute():
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = [dict(method=m, attribute=a, acc=0.5) for m in ('a', 'b', 'c') for a in ('Smiling', 'No_Beard')]
    fig = plot_metrics(rows)
    assert len(fig.axes[0].patches) == 6
    plt.close(fig)
    with pytest.raises(ValueError, match="no row has the metric 'psnr_out'"): plot_metrics(rows, 'psnr_out')

# ---- a judge that learns, and the whole table on synthetic faces ---------------------------------------------------
@pytest.fixture(scope='module')
def judged():
    "The judge trained on 800 synthetic 32 px faces (seed 0), and 300 faces of another seed to test it on."
    torch.set_num_threads(1)
    train, test = synth_tensors(800, size=32, seed=0), synth_tensors(300, size=32, seed=1)
    t0 = time.time()
    clf = train_attribute_classifier(train, seed=0)
    return clf, test, time.time() - t0

def test_classifier_learns_every_attribute(judged):
    "Held-out accuracy > 0.85 on each attribute, on faces of another seed; trained in well under a minute."
    clf, test, seconds = judged
    acc = classifier_accuracy(clf, test)
    print(f"judge trained in {seconds:.1f} s; held-out accuracy {acc}")
    assert set(acc) == set(test.attr_names) and clf.attr_names == test.attr_names
    assert all(v > 0.85 for v in acc.values()), acc
    assert not clf.training
    p = predict_attributes(clf, test.images[:10], bs=3)
    assert p.shape == (10, 4) and ((p >= 0) & (p <= 1)).all()

def test_classifier_training_is_seeded_and_leaves_the_global_rng(tmp_path):
    faces = synth_tensors(48, size=32, seed=3)
    state = torch.get_rng_state()
    a = train_attribute_classifier(faces, epochs=1, bs=16, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    b = train_attribute_classifier(faces, epochs=1, bs=16, seed=5)
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()): assert torch.equal(pa, pb)
    c = load_classifier(save_classifier(a, tmp_path / 'judge.pt'))
    assert c.attr_names == a.attr_names and not c.training
    torch.testing.assert_close(predict_attributes(c, faces.images), predict_attributes(a, faces.images))
    with pytest.raises(ValueError, match='not an attribute classifier'):
        torch.save({'x': 1}, tmp_path / 'other.pt'); load_classifier(tmp_path / 'other.pt')

def test_classifier_shape():
    clf = AttributeClassifier(3, width=8, n_down=5, attr_names=('a', 'b', 'c'))
    assert clf(torch.zeros(2, 3, 128, 128)).shape == (2, 3)
    with pytest.raises(ValueError, match='2 attribute names for 3 outputs'): AttributeClassifier(3, attr_names=('a', 'b'))

def test_edit_metrics_on_known_editors(judged):
    "Doing nothing scores the floor and changes nothing; the oracle changes only the true region and is judged right."
    clf, test, _ = judged
    att = 'No_Beard'; col = test.attr_index(att)
    ident = lambda x: x.flatten(1)
    none = edit_metrics(lambda x, c: x, test, att, clf, embed=ident, bs=64)
    assert none['acc'] == none['acc_inputs'] and none['mae_out'] == 0 and none['mae_in'] == 0
    assert none['psnr_out'] == math.inf and none['id_sim'] == pytest.approx(1.0) and none['region'] == 'masks'
    assert none['acc_inputs'] == pytest.approx(1 - classifier_accuracy(clf, test)[att])
    oracle = edit_metrics(lambda x, c: to_float(counterfactual(test, att, c)), test, att, clf, bs=len(test),
                          masks_fn=lambda x, c: test.masks[:, col, None].float())
    assert oracle['mae_out'] == 0 and oracle['mae_in'] > 0.05 and oracle['mask_iou'] == 1.0
    assert oracle['acc'] > 0.85 and oracle['acc_add'] > 0.8 and oracle['acc_remove'] > 0.8
    boxed = edit_metrics(lambda x, c: x + 0.1, test.subset(slice(0, 20)), att, clf,
                         regions=torch.ones(32, 32, dtype=torch.bool))
    assert boxed['region'] == 'given' and math.isnan(boxed['mae_out']) and boxed['mae_in'] == pytest.approx(0.1, abs=1e-5)
    no_masks = test.subset(slice(0, 20)); no_masks.masks = None
    assert edit_metrics(lambda x, c: x, no_masks, att, clf)['region'] == 'landmark box'
    with pytest.raises(ValueError, match='same shape'): edit_metrics(lambda x, c: x[:, :1], test, att, clf)
    with pytest.raises(UnknownAttributeError): edit_metrics(lambda x, c: x, test, 'Bald', clf)
