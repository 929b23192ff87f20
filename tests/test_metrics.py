"Metrics beyond the notebook's checks: hand-built cases with known answers, CelebA's landmark regions and file, the judge's seeding."
import math
import numpy as np
import pytest, torch
from torch import nn
from sagan_nb.faces import AnnotationError, MissingDataError, UnknownAttributeError
from sagan_nb.synth import synth_tensors
from sagan_nb.celeba import LANDMARK_HEADER, LANDMARK_NAMES, read_landmarks
from sagan_nb.celeba import CELEBA_MEAN_LANDMARKS, REGION_ATTRIBUTES, attribute_region, landmarks_to_pixels
from sagan_nb.metrics import (AttributeClassifier, edit_accuracy, edit_metrics, identity_similarity, load_classifier,
                              mask_iou, metrics_table, plot_metrics, psnr, region_change, save_classifier,
                              train_attribute_classifier)

# ---- change outside the region --------------------------------------------------------------------------------------
@pytest.fixture
def images():
    return torch.rand(5, 3, 12, 10, generator=torch.Generator().manual_seed(0)) * 1.4 - 0.7

@pytest.fixture
def square():
    sq = torch.zeros(12, 10, dtype=torch.bool); sq[3:8, 2:6] = True             # 20 of 120 pixels
    return sq

def test_region_change_pools_pixels_over_the_set(images, square):
    "Outside MAE is pooled over pixels, per-image [N,H,W] regions work, and the PSNR is of the pooled MSE."
    region = square.expand(5, 12, 10).clone(); region[0] = False                # image 0: everything outside
    y = images.clone(); y[0] += 0.3                                              # 120 changed pixels of 520 outside
    r = region_change(images, y, region)
    assert r['mae_out'] == pytest.approx(0.3 * 120 / (120 + 4 * 100), abs=1e-6)
    assert r['mae_in'] == 0
    assert r['psnr_out'] == pytest.approx(10 * math.log10(4 / (0.09 * 120 / 520)), abs=1e-4)

def test_region_change_of_an_empty_region_and_psnr_of_other_shapes(images, square):
    with pytest.raises(ValueError, match=r'\[N,3,H,W\]'): psnr(images[:, :2], images[:, :2])
    r = region_change(images, images + 0.1, torch.zeros(12, 10, dtype=torch.bool))     # an empty region
    assert math.isnan(r['mae_in']) and r['mae_out'] == pytest.approx(0.1, abs=1e-6)

# ---- mask IoU -------------------------------------------------------------------------------------------------------
def test_mask_iou_thresholds_and_disjoint_masks():
    "A threshold above every value: no mask; float [N,H,W] predictions; disjoint masks: IoU 0 per image."
    pred = torch.full((1, 10, 10), 0.2); pred[0, 0:4, 0:4] = 0.8
    gt = torch.zeros(1, 10, 10, dtype=torch.bool); gt[0, 1:7, 0:6] = True
    assert mask_iou(pred, gt) == pytest.approx(12 / 40) and mask_iou(pred, gt, threshold=0.9) == 0.0
    far = torch.zeros(1, 10, 10, dtype=torch.bool); far[0, 8:, 8:] = True
    assert mask_iou(pred, far, per_image=True).tolist() == [0.0]

# ---- identity -------------------------------------------------------------------------------------------------------
def test_identity_similarity_with_identity_embed():
    x = torch.randn(9, 3, 5, 5, generator=torch.Generator().manual_seed(1))
    ident = lambda t: t.flatten(1)
    y = torch.randn(9, 3, 5, 5)
    expect = (x.flatten(1) * y.flatten(1)).sum(1) / (x.flatten(1).norm(dim=1) * y.flatten(1).norm(dim=1))
    torch.testing.assert_close(identity_similarity(ident, x, y, bs=2), expect)
    with pytest.raises(ValueError, match='embeddings for'): identity_similarity(lambda t: t[:1].flatten(1), x, x)

# ---- edit accuracy --------------------------------------------------------------------------------------------------
class Stub(nn.Module):
    "A judge that calls a face 'smiling' when its red channel is bright, and 'eyeglasses' never."
    attr_names = ('Eyeglasses', 'Smiling')
    def forward(self, x): return torch.stack([torch.full((len(x),), -5.), x[:, 0].mean((1, 2)) * 10], 1)

def test_edit_accuracy_of_no_images_is_nan():
    assert math.isnan(edit_accuracy(Stub(), torch.zeros(0, 3, 4, 4), 'Smiling', 1))

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

def test_region_of_landmarks_that_lack_a_point():
    with pytest.raises(ValueError, match='lack nose'):
        attribute_region('Smiling', landmarks={k: v for k, v in CELEBA_MEAN_LANDMARKS.items() if k != 'nose'})

# ---- the landmark file ----------------------------------------------------------------------------------------------
ROWS = ['000001.jpg 69 109 106 113 77 142 73 152 108 154',
        '000002.jpg 69 110 107 112 81 135 70 151 108 153',
        '000003.jpg 76 112 104 111 108 128 74 157 98 158']

def _write(path, rows, count=None, header=' '.join(LANDMARK_HEADER)):
    path.write_text(f"{len(rows) if count is None else count}\n{header}\n" + '\n'.join(rows) + '\n')
    return path

def test_read_landmarks_names_a_bad_count_line_and_a_missing_file(tmp_path):
    p = tmp_path / 'lm.txt'
    with pytest.raises(AnnotationError, match=r'lm\.txt:1: expected the number of images'):
        read_landmarks(_write(p, ROWS, count='many'))
    with pytest.raises(MissingDataError, match='list_landmarks_align_celeba'): read_landmarks(tmp_path / 'absent.txt')

# ---- tables ---------------------------------------------------------------------------------------------------------
def test_metrics_table_nan_identity_and_unknown_metric():
    rows = [dict(method='SaGAN', attribute='Smiling', acc=0.91234, id_sim=0.98765),
            dict(method='StarGAN', attribute='Smiling', acc=0.8)]
    assert metrics_table(rows, columns=['id_sim']).splitlines()[2:] == ['| SaGAN | Smiling | 0.988 |', '| StarGAN | Smiling | – |']
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

# ---- the judge: seeded, its shape; edit_metrics' regions and refusals (a stub judge) --------------------------------
def test_classifier_training_is_seeded_and_leaves_the_global_rng(tmp_path):
    faces = synth_tensors(48, size=32, seed=3)
    state = torch.get_rng_state()
    a = train_attribute_classifier(faces, epochs=1, bs=16, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    b = train_attribute_classifier(faces, epochs=1, bs=16, seed=5)
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()): assert torch.equal(pa, pb)
    assert not load_classifier(save_classifier(a, tmp_path / 'judge.pt')).training
    with pytest.raises(ValueError, match='not an attribute classifier'):
        torch.save({'x': 1}, tmp_path / 'other.pt'); load_classifier(tmp_path / 'other.pt')

def test_classifier_shape():
    clf = AttributeClassifier(3, width=8, n_down=5, attr_names=('a', 'b', 'c'))
    assert clf(torch.zeros(2, 3, 128, 128)).shape == (2, 3)
    with pytest.raises(ValueError, match='2 attribute names for 3 outputs'): AttributeClassifier(3, attr_names=('a', 'b'))

def test_edit_metrics_regions_and_refusals():
    "Given regions are used as given, faces without masks fall back to the landmark box, and bad editors are refused."
    test, clf, att = synth_tensors(20, size=32, seed=1), Stub(), 'Smiling'
    boxed = edit_metrics(lambda x, c: x + 0.1, test, att, clf, regions=torch.ones(32, 32, dtype=torch.bool))
    assert boxed['region'] == 'given' and math.isnan(boxed['mae_out']) and boxed['mae_in'] == pytest.approx(0.1, abs=1e-5)
    no_masks = test.subset(slice(0, 20)); no_masks.masks = None
    assert edit_metrics(lambda x, c: x, no_masks, att, clf)['region'] == 'landmark box'
    with pytest.raises(ValueError, match='same shape'): edit_metrics(lambda x, c: x[:, :1], test, att, clf)
    with pytest.raises(UnknownAttributeError): edit_metrics(lambda x, c: x, test, 'Bald', clf)
