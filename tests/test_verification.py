"Face verification (paper Sec. 4.4) beyond the notebook's checks: scores against brute force, protocols, augmentation, learning."
import dataclasses, time
from types import SimpleNamespace
import numpy as np
import pytest, torch
from sagan_nb.faces import ATTRIBUTES, FaceTensors, to_float, to_uint8
from sagan_nb.celeba import load_celeba
from sagan_nb.lfw import load_lfw_pairs
from sagan_nb.render import face_params
from sagan_nb.verification import (IDENTITY_FIELDS, PHOTO_FIELDS, FaceNet, augment, auc, best_threshold_accuracy,
                                   celeba_protocol, editors_from, embed_faces, face_net, kfold_accuracy, lfw_scores,
                                   make_pairs, oracle_editors, parse_person_name, person_params, plot_augmentation,
                                   plot_roc, report_table, roc, synth_people, train_face_net,
                                   verification_experiment, verification_report)

# ---- scores ------------------------------------------------------------------------------------------------------

def test_roc_matches_brute_force_with_ties():
    rng = np.random.default_rng(3)
    s = rng.integers(0, 12, 400) / 4.0                      # many ties
    y = rng.random(400) < 0.3 + 0.04 * s
    fpr, tpr, thr = roc(s, y)
    for f, t, th in zip(fpr, tpr, thr):                     # each point is exactly "accept when score >= threshold"
        assert f == ((s >= th) & ~y).sum() / (~y).sum() and t == ((s >= th) & y).sum() / y.sum()
    assert len(thr) == len(np.unique(s)) + 1 and (np.diff(thr) < 0).all()
    pos, neg = s[y], s[~y]                                  # AUC = P(genuine > impostor) + P(tie) / 2
    want = (pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean()
    assert abs(auc(fpr, tpr) - want) < 1e-12

def test_roc_errors():
    with pytest.raises(ValueError, match='3 scores for 2 labels'): roc([0.1, 0.2, 0.3], [True, False])
    with pytest.raises(ValueError, match='non-decreasing'): auc([0, 1, 0.5], [0, 1, 1])

def test_best_threshold_and_kfold_accuracy():
    assert best_threshold_accuracy([0.2, 0.9], [True, False]) == (0.5, np.inf)   # reversed scores: reject all
    # the threshold comes from the other folds: fold 1 says 0.4 (fold 0: all rejected), fold 0 says 0.25 (fold 1: right)
    s = np.array([0.3, 0.2, 0.3, 0.2, 0.6, 0.2, 0.6, 0.2])
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0], bool)
    f = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    assert kfold_accuracy(s, y, f) == (0.75, 0.25)           # fold 0 at t = 0.4: 50 %; fold 1 at t = 0.25: 100 %
    with pytest.raises(ValueError, match='at least 2 folds'): kfold_accuracy(s, y, np.zeros(8))

def test_verification_report_and_table():
    s = np.array([0.9, 0.8, 0.7, 0.6]); y = np.array([1, 0, 1, 0], bool)
    rows = verification_report({'a': (s, y), 'b': (np.r_[s, s], np.r_[y, y], np.repeat([0, 1], 4))})
    assert [r['name'] for r in rows] == ['a', 'b']
    a, b = rows
    assert (a['genuine'], a['impostor'], a['auc'], a['acc'], a['acc_protocol'], a['chance']) == (2, 2, 0.75, 0.75, 'best threshold', 0.5)
    assert np.isnan(a['acc_std']) and a['tar@0.001'] == a['tar@0.01'] == a['tar@0.1'] == 0.5
    assert b['acc_protocol'] == '2-fold' and b['acc'] == 0.75 and b['acc_std'] == 0.0
    table = report_table(rows)
    assert table.count('\n') == 3 and '0.7500 ± 0.0000 (2-fold)' in table and 'TAR@FAR=0.001' in table
    with pytest.raises(ValueError, match='expected'): verification_report({'c': (s,)})

# ---- protocols ---------------------------------------------------------------------------------------------------

def test_celeba_protocol_counts_and_scores():
    k = {3: 4, 5: 1, 1: 2, 8: 3}                            # person -> images; person 5 has a target only
    ids = torch.tensor(sum([[p] * n for p, n in k.items()], []))[torch.randperm(10, generator=torch.Generator().manual_seed(0))]
    emb = torch.randn(10, 8, generator=torch.Generator().manual_seed(1))
    scores, same = celeba_protocol(emb, ids)
    n_q = sum(n - 1 for n in k.values())
    assert len(scores) == n_q * len(k) and int(same.sum()) == n_q and same.dtype == torch.bool
    first = {}
    for i, v in enumerate(ids.tolist()): first.setdefault(v, i)
    t = sorted(first.values()); q = [i for i in range(10) if i not in t]
    e = torch.nn.functional.normalize(emb, dim=1)           # cosine scores, query-major
    for n, (i, j) in enumerate((i, j) for i in q for j in t):
        assert abs(scores[n] - e[i] @ e[j]) < 1e-6 and bool(same[n]) == bool(ids[i] == ids[j])
    with pytest.raises(ValueError, match='embeddings for'): celeba_protocol(emb[:3], ids)

def test_make_pairs_is_view2_like():
    "The notebook checks the folds, the labels and one fold per person; here: no pair twice or with itself, names, seeds."
    ppl = synth_people(20, 4, size=16)
    lp = make_pairs(ppl, n_folds=5, per_fold=10, seed=2)
    assert len(lp) == 100 and lp.pairs.n_folds == 5
    assert (lp.left != lp.right).all()
    keys = {tuple(sorted(t)) for t in zip(lp.left.tolist(), lp.right.tolist())}
    assert len(keys) == 100                                  # no pair twice
    assert lp.pairs.left[0] == ppl.names[int(lp.left[0])]
    assert make_pairs(ppl, 5, 10, seed=3).pairs.right != lp.pairs.right
    with pytest.raises(ValueError, match='folds'): make_pairs(ppl, n_folds=11)
    with pytest.raises(ValueError, match='identities'): make_pairs(FaceTensors(ppl.images, ppl.attrs, ATTRIBUTES))

# ---- synthetic people --------------------------------------------------------------------------------------------

def test_synth_people_seed_names_and_attribute_rates():
    "The notebook checks the layout, determinism and the split by `start`; here: the seed, the names' attributes, p."
    a = synth_people(5, 3, size=32, seed=4, start=100)
    c = synth_people(5, 3, size=32, seed=4, start=105)
    assert not any(torch.equal(x, y) for x in a.images for y in c.images)                     # other people: other photos
    assert not torch.equal(synth_people(5, 3, size=32, seed=5, start=100).images, a.images)   # the seed matters
    assert (parse_person_name(a.names[7])[3] == a.attrs[7].numpy()).all() and a.attr_names == ATTRIBUTES
    assert synth_people(4, 2, size=16, p=0).attrs.sum() == 0 and synth_people(4, 2, size=16, p=1).attrs.min() == 1
    assert len(synth_people(0, 2, size=16)) == 0

def test_shots_share_the_person_not_the_photo():
    assert set(IDENTITY_FIELDS) | set(PHOTO_FIELDS) | {'seed', 'index'} == {f.name for f in dataclasses.fields(face_params(0, 0))}
    shots = [person_params(0, 7, j) for j in range(4)]
    for f in IDENTITY_FIELDS: assert len({getattr(p, f) for p in shots}) == 1, f
    for f in PHOTO_FIELDS: assert len({getattr(p, f) for p in shots}) == 4, f
    other = person_params(0, 8, 0)
    assert sum(getattr(other, f) != getattr(shots[0], f) for f in IDENTITY_FIELDS) > len(IDENTITY_FIELDS) // 2
    ids = face_params(0, 7)
    assert all(getattr(shots[0], f) == getattr(ids, f) for f in IDENTITY_FIELDS)
    with pytest.raises(ValueError, match='per_person'): synth_people(2, 1001)
    with pytest.raises(ValueError, match='shot'): person_params(0, 0, 1000)

# ---- augmentation ------------------------------------------------------------------------------------------------

def test_augment_sizes_attrs_names():
    ppl = synth_people(3, 2, size=16, seed=1)
    calls = []
    def rec(a):
        def fn(x, c): calls.append((a, c.tolist())); return x
        return fn
    editors = {a: rec(a) for a in ATTRIBUTES}
    aug = augment(ppl, editors, bs=4)
    n, A = len(ppl), len(ATTRIBUTES)
    assert len(aug) == n * (1 + 2 * A) and aug.masks is None and aug.attr_names == ppl.attr_names
    assert torch.equal(aug.images, ppl.images.repeat(1 + 2 * A, 1, 1, 1))           # identity editors: exact
    assert torch.equal(aug.identities, ppl.identities.repeat(1 + 2 * A))
    for k, a in enumerate(ATTRIBUTES):
        for v, blk in ((1, 1 + 2 * k), (0, 2 + 2 * k)):
            part = aug.attrs[blk * n:(blk + 1) * n]
            assert (part[:, k] == v).all()
            others = [j for j in range(A) if j != k]
            assert torch.equal(part[:, others], ppl.attrs[:, others])
            assert aug.names[blk * n:(blk + 1) * n] == [f"{m}{'+' if v else '-'}{a}" for m in ppl.names]
    assert torch.equal(aug.attrs[:n], ppl.attrs) and aug.names[:n] == ppl.names
    assert calls[:3] == [('Eyeglasses', [1.0] * 4), ('Eyeglasses', [1.0] * 2), ('Eyeglasses', [0.0] * 4)]   # batches of 4
    assert len(augment(ppl, {'Smiling': rec('Smiling')})) == 3 * n

def test_augment_refuses_an_editor_that_returns_no_tensor():
    ppl = synth_people(2, 2, size=16)
    with pytest.raises(ValueError, match='Smiling editor must return'): augment(ppl, {'Smiling': lambda x, c: x.numpy()})

def test_oracle_editors_change_only_the_attribute():
    ppl = synth_people(4, 3, size=32, seed=2)
    ed = oracle_editors(ppl)
    x = to_float(ppl.images)
    for k, a in enumerate(ATTRIBUTES):
        flip = 1 - ppl.attrs[:, k]
        out = to_uint8(ed[a](x, flip))
        changed = (out != ppl.images).any(1)                 # [N,S,S]
        assert changed.any(dim=(1, 2)).float().mean() > 0.5, a
        assert not (changed & ~ppl.masks[:, k]).any(), a     # nothing outside the attribute's region
        assert torch.equal(to_uint8(ed[a](x, ppl.attrs[:, k])), ppl.images)
    with pytest.raises(KeyError, match='knows only'): ed['Smiling'](x.flip(-1), torch.ones(len(x)))

def test_editors_from_an_editor():
    def run(x, a, v): return SimpleNamespace(edited=x + (0.5 if v else -0.5) * (a == 'Smiling'))
    editor = SimpleNamespace(attributes=('Smiling', 'Eyeglasses'), run=run)
    eds = editors_from(editor)
    assert list(eds) == ['Smiling', 'Eyeglasses']
    x = torch.zeros(4, 3, 8, 8)
    out = eds['Smiling'](x, torch.tensor([1., 0., 0., 1.]))
    assert out[:, 0, 0, 0].tolist() == [0.5, -0.5, -0.5, 0.5]
    assert torch.equal(eds['Eyeglasses'](x, torch.ones(4)), x)
    assert list(editors_from(editor, ['Eyeglasses'])) == ['Eyeglasses']

def test_plots():
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    ppl = synth_people(2, 2, size=16)
    fig = plot_augmentation(ppl, {'Smiling': lambda x, c: x, 'Eyeglasses': lambda x, c: x}, n=3)
    assert len([ax for ax in fig.axes if ax.images]) == 3 * 5
    s = np.array([0.9, 0.8, 0.7, 0.6]); y = np.array([1, 0, 1, 0], bool)
    fig2 = plot_roc({'a': (s, y), 'b': (s[::-1], y)}, 'x')
    ax = fig2.axes[0]
    assert ax.get_xscale() == 'log' and len(ax.get_legend().get_texts()) == 2 and 'AUC 0.750' in ax.get_legend().get_texts()[0].get_text()
    plt.close('all')

# ---- the model ---------------------------------------------------------------------------------------------------

def test_face_net_shapes_and_errors():
    net = face_net(7, embed_dim=32)
    assert isinstance(net, FaceNet) and net.body.fc.out_features == 32 and net.classifier.out_features == 7
    assert sum(p.numel() for p in net.body.parameters()) == 11_176_512 + 512 * 32 + 32   # resnet18 body + embedding
    for size in (32, 64):
        x = torch.rand(2, 3, size, size) * 2 - 1
        assert net(x).shape == (2, 7)
        e = embed_faces(net, x)
        assert e.shape == (2, 32) and torch.allclose(e.norm(dim=1), torch.ones(2))
    with pytest.raises(ValueError, match='n_ids'): face_net(1)
    ppl = synth_people(3, 2, size=16)
    with pytest.raises(ValueError, match='identities'): train_face_net(FaceTensors(ppl.images, ppl.attrs, ATTRIBUTES))
    with pytest.raises(TypeError, match='embed'): embed_faces(torch.nn.Linear(2, 2), ppl.images)

def test_train_steps_and_determinism():
    ppl = synth_people(4, 3, size=16, start=30)
    a = embed_faces(train_face_net(ppl, epochs=2, bs=4, seed=3), ppl.images)
    b = embed_faces(train_face_net(ppl, steps=6, bs=4, seed=3), ppl.images)       # 2 epochs = 6 steps
    c = embed_faces(train_face_net(ppl, steps=5, bs=4, seed=3), ppl.images)
    d = embed_faces(train_face_net(ppl, epochs=2, bs=4, seed=4), ppl.images)
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, d)
    e = embed_faces(train_face_net(ppl, epochs=2, bs=4, seed=3, flip=False), ppl.images)
    assert not torch.equal(a, e)                                                    # the flips are used
    m = train_face_net(ppl, epochs=1, bs=4)
    assert train_face_net(ppl, steps=7, bs=4).train_steps == 7
    fresh = face_net(4)
    fresh.load_state_dict(m.state_dict())                                           # the identities travel too
    assert fresh.identities.tolist() == [30, 31, 32, 33]
    state = torch.random.get_rng_state()
    train_face_net(ppl, epochs=1, bs=4)
    assert torch.equal(state, torch.random.get_rng_state())                       # the global RNG is left alone

def test_precision_speaks_the_trainers_words():
    """`precision` as the trainer's (`devices.resolve_precision`, training): 'auto' on a CPU is fp32 bit for bit (the
    recognizer's numbers do not change with the CPU), 'bf16' is autocast, and other words are refused by name."""
    from sagan_nb.errors import BadInputError
    ppl = synth_people(4, 3, size=16, start=30)
    runs = {p: embed_faces(train_face_net(ppl, epochs=1, bs=4, seed=3, precision=p), ppl.images) for p in ('auto', 'fp32', 'bf16')}
    assert torch.equal(runs['auto'], runs['fp32']) and not torch.equal(runs['bf16'], runs['fp32'])
    with pytest.raises(BadInputError, match="precision must be one of 'fp32', 'bf16', 'auto'"):
        train_face_net(ppl, epochs=1, bs=4, precision='off')

@pytest.mark.slow                      # 8 epochs of a ResNet-18 on 240 faces: a learning run
def test_recognizer_learns_unseen_people():
    "Trained on 40 synthetic people × 6 photos at 32 px, the embedding separates 20 other people (AUC well above 0.5)."
    tr, te = synth_people(40, 6, size=32), synth_people(20, 4, size=32, start=10_000)
    t0, c0 = time.perf_counter(), time.process_time()
    model = train_face_net(tr, epochs=8)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    fpr, tpr, _ = roc(*celeba_protocol(embed_faces(model, te.images), te.identities))
    a = auc(fpr, tpr)
    lp = make_pairs(te, n_folds=4, per_fold=20)
    acc, std = kfold_accuracy(*lfw_scores(model, lp))
    print(f"train {wall:.1f} s wall, {cpu:.1f} s CPU; CelebA-protocol AUC {a:.3f}; pairs 4-fold accuracy {acc:.3f} ± {std:.3f}")
    assert a > 0.75, a
    assert acc > 0.65, acc
    untrained = face_net(40); untrained.image_size = 32
    fpr0, tpr0, _ = roc(*celeba_protocol(embed_faces(untrained, te.images), te.identities))
    assert auc(fpr0, tpr0) < a - 0.1                        # the training, not the architecture, separates people

def test_verification_experiment_fair_steps():
    tr, te = synth_people(6, 3, size=16), synth_people(4, 3, size=16, start=50)
    eds = {'Smiling': lambda x, c: x, 'Eyeglasses': lambda x, c: x.flip(-1)}
    res = verification_experiment(tr, te, eds, lfw=make_pairs(te, n_folds=2, per_fold=3), epochs=2, match='steps')
    assert res['n_train'] == {'baseline': 18, 'SaGAN-augmented': 90}
    assert res['steps'] == {'baseline': 2, 'SaGAN-augmented': 2}
    assert set(res['models']) == set(res['celeba']) == set(res['lfw']) == {'baseline', 'SaGAN-augmented'}
    assert [r['name'] for r in res['report']] == ['CelebA baseline', 'CelebA SaGAN-augmented', 'LFW baseline', 'LFW SaGAN-augmented']
    assert len(res['celeba']['baseline'][0]) == 4 * 2 * 4 and res['report'][2]['acc_protocol'] == '2-fold'
    res = verification_experiment(tr, te, eds, epochs=2, match='epochs')
    assert res['steps'] == {'baseline': 2, 'SaGAN-augmented': 4} and res['lfw'] == {}   # 90 faces: 2 batches of 64
    res = verification_experiment(tr, te, epochs=1)
    assert list(res['models']) == ['baseline'] and len(res['report']) == 1
    with pytest.raises(ValueError, match='match'): verification_experiment(tr, te, match='time')

# ---- real data (skipped without ../shared/data) ------------------------------------------------------------------

def test_real_lfw_and_celeba_protocols(data_root):
    lfw = load_lfw_pairs(data_root / 'lfw', size=32, folds=[0, 1], progress=False)
    model = train_face_net(synth_people(4, 2, size=32), epochs=1, bs=4)
    scores, same, fold = lfw_scores(model, lfw)
    assert len(scores) == 1200 and int(same.sum()) == 600 and set(fold.tolist()) == {0, 1}
    assert (scores.abs() <= 1 + 1e-5).all()
    mean, std = kfold_accuracy(scores, same, fold)
    assert 0 <= mean <= 1
    test = load_celeba(data_root, 'test', size=32, limit=50, progress=False)
    s, y = celeba_protocol(embed_faces(model, test.images), test.identities)
    k = torch.unique(test.identities, return_counts=True)[1]
    assert len(s) == int((k - 1).sum()) * len(k) and int(y.sum()) == int((k - 1).sum())
