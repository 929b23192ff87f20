"""The data chapter on the shared real data (skipped without it) and on larger generated files than the notebook's.

The shared copy (../shared/data beside the repository, or $SAGAN_NB_DATA) holds the FULL official CelebA annotation
files, 16,995 of the 202,599 aligned images (5 of each of 3,399 people), and the 7,701 LFW photos of View 2.
"""
import time, warnings
from pathlib import Path
import numpy as np
import pytest, torch
from sagan_nb.faces import ATTRIBUTES, CELEBA_ATTRIBUTES, AnnotationError, CorruptImageWarning, FaceTensors, load_image
from sagan_nb.celeba import (ATTR_FILE, IDENTITY_FILE, IMAGE_DIR, PARTITION_FILE, load_celeba, paper_identity_split,
                             rank_identities, read_attr_file, read_celeba, read_identity_file)
from sagan_nb.lfw import load_lfw_pairs, read_lfw_pairs

N_LISTED, N_PRESENT = 202_599, 16_995


# ---------------------------------------------------------------- CelebA annotations and the paper's identity split
def test_paper_split_over_the_full_identity_file(data_root):
    files, ids = read_identity_file(data_root / 'celeba' / IDENTITY_FILE)
    assert len(files) == N_LISTED and len(np.unique(ids)) == 10_177
    train = paper_identity_split(ids)
    assert (int(train.sum()), int((~train).sum())) == (191_649, 10_950)
    assert (len(np.unique(ids[train])), len(np.unique(ids[~train]))) == (8_177, 2_000)
    # the cut-off falls inside the 202 people with exactly 10 images; the smaller ids among them train
    ranked, counts = rank_identities(ids)
    assert counts[8_176] == counts[8_177] == 10 and (counts == 10).sum() == 202
    tied = ranked[counts == 10]
    assert set(tied[tied <= ranked[8_176]]) <= set(ids[train]) and set(tied[tied > ranked[8_176]]).isdisjoint(ids[train])


def test_present_subset_counts(data_root):
    ix = read_celeba(data_root / 'celeba')
    assert (len(ix), ix.n_listed, ix.n_skipped) == (N_PRESENT, N_LISTED, N_LISTED - N_PRESENT)
    assert ix.n_identities == 3_399 and ix.attr_names == CELEBA_ATTRIBUTES
    train, test = ix.split('train'), ix.split('test')
    assert (len(train), train.n_identities) == (12_000, 2_400)
    assert (len(test), test.n_identities) == (4_995, 999)
    assert len(train) + len(test) == N_PRESENT and set(train.identities).isdisjoint(test.identities)
    assert sorted(train.files + test.files) == sorted(ix.files)
    # the official partition is there too, and covers the same images
    assert sum(len(ix.split(s)) for s in ('celeba_train', 'celeba_val', 'celeba_test')) == N_PRESENT


def test_attr_file_parses_right(data_root):
    "The 202,599-row attribute file, parsed (its time printed: speed lives in benchmarks/, not in a timed test)."
    path = data_root / 'celeba' / ATTR_FILE
    read_attr_file(path)                                   # warm the page cache
    t0 = time.perf_counter(); files, names, attrs = read_attr_file(path); dt = time.perf_counter() - t0
    print(f"\n{ATTR_FILE}: {len(files):,} rows parsed in {dt:.2f} s")
    # the same values as the obvious line-by-line parse
    lines = path.read_text().splitlines()
    assert int(lines[0]) == N_LISTED and tuple(lines[1].split()) == names == CELEBA_ATTRIBUTES
    rows = [l.split() for l in lines[2:] if l.strip()]
    assert files == [r[0] for r in rows]
    np.testing.assert_array_equal(attrs, (np.array([r[1:] for r in rows], dtype=np.int8) > 0).astype(np.int8))


# ---------------------------------------------------------------- decoding the paper's training split
@pytest.mark.slow                      # decodes the 12,000 training photos at 128 px
def test_decode_train_split_and_cache(data_root, tmp_path):
    t0 = time.perf_counter()
    ft = load_celeba(data_root / 'celeba', 'train', cache_dir=tmp_path, progress=False)
    dt = time.perf_counter() - t0
    print(f"\ndecoded {len(ft):,} CelebA train images in {dt:.1f} s")
    assert ft.images.shape == (12_000, 3, 128, 128) and ft.images.dtype == torch.uint8
    assert ft.attr_names == ATTRIBUTES and ft.attrs.shape == (12_000, 4)
    assert set(ft.attrs.unique().tolist()) == {0.0, 1.0}
    assert ft.identities.dtype == torch.int64 and len(ft.identities.unique()) == 2_400 and ft.corrupt == []
    ix = read_celeba(data_root / 'celeba').split('train')
    assert ft.names == ix.files
    np.testing.assert_array_equal(ft.attrs.numpy(), ix.attr_matrix(ATTRIBUTES))
    for i in (0, 5_999, 11_999):                           # the same pixels as decoding the one file
        assert torch.equal(ft.images[i], load_image(ix.image_dir / ft.names[i]))
    assert 60 < ft.images.float().mean() < 200             # real faces, not an empty buffer

    (cache,) = list(tmp_path.iterdir())
    t0 = time.perf_counter()
    again = load_celeba(data_root / 'celeba', 'train', cache_dir=tmp_path, progress=False)
    print(f"read back from the cache in {time.perf_counter() - t0:.1f} s")
    assert torch.equal(again.images, ft.images) and again.names == ft.names
    assert torch.equal(again.identities, ft.identities) and list(tmp_path.iterdir()) == [cache]


# ---------------------------------------------------------------- LFW
def test_lfw_view2_pairs(data_root):
    if not (data_root / 'lfw').is_dir(): pytest.skip(f'no LFW under {data_root}')
    pairs = read_lfw_pairs(data_root / 'lfw' / 'pairs.txt')
    assert (len(pairs), pairs.n_folds, int(pairs.same.sum()), len(pairs.files)) == (6_000, 10, 3_000, 7_701)
    assert all(len(f) == 600 and pairs.same[f].sum() == 300 for f in pairs.folds())
    t0 = time.perf_counter()
    lfw = load_lfw_pairs(data_root / 'lfw', progress=False)
    print(f"\ndecoded {len(lfw.faces):,} LFW photos in {time.perf_counter() - t0:.1f} s")
    assert lfw.faces.images.shape == (7_701, 3, 128, 128) and lfw.faces.attrs.shape == (7_701, 0)
    assert [lfw.faces.names[i] for i in lfw.left.tolist()] == pairs.left
    assert [lfw.faces.names[i] for i in lfw.right.tolist()] == pairs.right
    ids = lfw.faces.identities
    assert torch.equal(ids[lfw.left] == ids[lfw.right], lfw.same)   # same person exactly on the matched pairs


# ---------------------------------------------------------------- without the shared data
def _write_attr_rows(path: Path, n: int, bad_row: int | None = None):
    rng = np.random.default_rng(0)
    vals = np.where(rng.random((n, 40)) < 0.5, ' 1', '-1')
    lines = [f"{i + 1:06d}.jpg " + ' '.join(v) for i, v in enumerate(vals)]
    if bad_row is not None: lines[bad_row] = lines[bad_row][:-3]          # drop the last value
    path.write_text(f"{n}\r\n{' '.join(CELEBA_ATTRIBUTES)}\r\n" + '\r\n'.join(lines) + '\r\n', newline='')
    return vals


def test_attr_file_error_deep_in_a_large_file(tmp_path):
    "The fast path parses in pieces; an error far into the file still names its exact line."
    vals = _write_attr_rows(tmp_path / ATTR_FILE, 60_000)
    files, _, attrs = read_attr_file(tmp_path / ATTR_FILE)
    assert files[-1] == '060000.jpg'
    np.testing.assert_array_equal(attrs, (vals == ' 1').astype(np.int8))
    _write_attr_rows(tmp_path / ATTR_FILE, 60_000, bad_row=54_321)
    with pytest.raises(AnnotationError, match=f"{ATTR_FILE}:{54_321 + 3}: expected 40 values, got 39"):
        read_attr_file(tmp_path / ATTR_FILE)


def test_corrupt_images_skipped_with_threads(tmp_path):
    "A tiny CelebA with damaged JPEGs: decoded by 2 threads, the damaged ones named in one warning and on the result."
    from PIL import Image
    root = tmp_path / 'celeba'; (root / IMAGE_DIR).mkdir(parents=True)
    _write_attr_rows(root / ATTR_FILE, 300)
    (root / IDENTITY_FILE).write_text(''.join(f"{i + 1:06d}.jpg {i % 40}\n" for i in range(300)))
    (root / PARTITION_FILE).write_text(''.join(f"{i + 1:06d}.jpg 0\n" for i in range(300)))
    for i in range(250):
        Image.fromarray(np.full((218, 178, 3), i, np.uint8)).save(root / IMAGE_DIR / f"{i + 1:06d}.jpg")
    for i in (10, 99, 200): (root / IMAGE_DIR / f"{i:06d}.jpg").write_bytes(b'\xff\xd8\xff\xe0 truncated')
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        ft = load_celeba(root, 'all', None, size=32, workers=2, progress=False)
    assert len(ft) == 247 and ft.corrupt == ['000010.jpg', '000099.jpg', '000200.jpg']
    assert ft.attrs.shape == (247, 40) and '000099.jpg' not in ft.names
    msgs = [str(x.message) for x in w if issubclass(x.category, CorruptImageWarning)]
    assert len(msgs) == 1 and 'skipped 3 corrupt image(s)' in msgs[0]
    assert all(f in msgs[0] for f in ft.corrupt)
    # pixel order survives the thread pool: image k is the flat grey k-1
    grey = ft.images.float().mean((1, 2, 3))
    expect = torch.tensor([int(n[:6]) - 1 for n in ft.names], dtype=torch.float32)
    assert (grey - expect).abs().max() < 2
    assert isinstance(FaceTensors.load(ft.save(tmp_path / 'ft.pt')), FaceTensors)
