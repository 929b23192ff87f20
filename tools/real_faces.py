"""The real-face research runs of issue 12 (not part of the package or of `make test`): SaGAN on the CelebA faces of
the paper's training people under DATA_ROOT (../shared/data here), 64 px, one thread per run, resumable.

    python tools/real_faces.py train NAME ATTRIBUTE ITERATIONS '{"hparams": {...}}'   # RUNS/NAME, curve every 25 its
    python tools/real_faces.py judge NAME [NAME ...]       # flip rate etc. of each 100-iteration snapshot (RUNS/NAME)
    python tools/real_faces.py rough NAME [NAME ...]       # the speckle of each snapshot's masks (mask_roughness)
    python tools/real_faces.py collect OUT.json NAME ...   # the curves and judged rows, for nbs/measured/
    python tools/real_faces.py evaluate OUT.json CHECKPOINT ...   # the full table of final models (see `evaluate`)
    python tools/real_faces.py measure OUT.json CHECKPOINT ...    # its measures against dots only (no identity, realism)
    python tools/real_faces.py ship NAME[@STEP] ...        # RUNS/NAME's last checkpoint (or snapshot) -> sagan_nb/weights/
    python tools/real_faces.py colour NAME [NAME ...]      # add the colour share to snapshots judged before it existed
    python tools/real_faces.py colour_eval EVAL.json ...   # the same for evaluate/measure files made before it
    python tools/real_faces.py best NAME [MINUTES]         # the best judged snapshot (within MINUTES of training)
    python tools/real_faces.py pick ATTRIBUTE [METHOD [MINUTES]]  # the best of every run's judged snapshots: what ships
    python tools/real_faces.py record EVAL.json ...        # evaluate's rows -> nbs/measured table + the models' records
    python tools/real_faces.py zoom OUT_DIR CHECKPOINT ... # 4x zoomed edits of paper-test faces (and mask+residual only)

`train` logs, every 25 iterations, the attention mask on 256 paper-test faces (its mean, and its mean inside and
outside the attribute's landmark box at CelebA's mean landmarks) and the change of the edit inside and outside that
box, plus the training terms; every 100 iterations it keeps the generator (float16) for `judge`. `judge` trains the
attribute judge once (all train faces at 64 px, `train_attribute_classifier`, 15 epochs) and scores every snapshot on
the first 1,000 paper-test faces with `edit_metrics` (`evaluate` uses all 4,995). Environment: DATA_ROOT (default ../shared/data), RUNS (~/sagan_runs)."""
import os, sys, json, time
os.environ.setdefault('OMP_NUM_THREADS', '1')
import torch
torch.set_num_threads(1)
from pathlib import Path

ROOT = Path(os.environ.get('DATA_ROOT', Path(__file__).resolve().parents[1].parent / 'shared' / 'data'))
RUNS = Path(os.environ.get('RUNS', Path.home() / 'sagan_runs'))
SIZE, CHUNK, KEEP, JUDGE_N = 64, 25, 100, 1000

def jsonl(path) -> list[dict]:
    "The rows of a .jsonl file (a run's curve.jsonl, judged.jsonl, rough.jsonl)."
    return [json.loads(l) for l in open(path)]

def faces(split):
    from sagan_nb.celeba import load_celeba
    return load_celeba(ROOT, split, size=SIZE, cache_dir=RUNS / 'cache', progress=False)

def train(name, attr, total, over='{}'):
    from sagan_nb.config import TrainConfig, CKPT_FORMAT
    from sagan_nb.train import Run, Trainer
    from sagan_nb.faces import to_float, save_atomic
    from sagan_nb.celeba import attribute_region
    over = json.loads(over)
    run = Run(RUNS / name); out = run.path; out.mkdir(parents=True, exist_ok=True)
    cfg = TrainConfig(**{**dict(attribute=attr, image_size=SIZE, conv_dim=16, d_conv_dim=16, amp='off', device='cpu',
                                log_every=5, sample_every=KEEP, ckpt_every=CHUNK, steps=int(total)), **over})
    tr, te = faces('train'), faces('test')
    xt, ct = to_float(te.images[:256]), te.attrs[:256, te.attr_index(attr)].float()
    region = attribute_region(attr, SIZE)
    curve = out / 'curve.jsonl'
    ck = run.open(resume='auto', data=dict(data_root=str(ROOT), split='train', size=SIZE))   # a run that is there continues
    t = Trainer(cfg, tr, out_dir=run, resume=ck, progress=False); del ck
    rows = [json.loads(l) for l in curve.read_text().splitlines() if l.strip()] if curve.exists() else []
    rows = [r for r in rows if r['step'] <= t.step]                   # a resumed run drops rows past its checkpoint
    curve.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    wall = rows[-1]['minutes'] * 60 if rows else 0.0
    print(f'{name}: from iteration {t.step}, {len(tr)} train faces', flush=True)
    while t.step < int(total):
        t0 = time.time(); t.fit(min(int(total), t.step + CHUNK)); wall += time.time() - t0
        t.G.eval()
        with torch.no_grad(): o = t.G(xt, 1 - ct)
        t.G.train()
        d, h = (o.edited - xt).abs().mean(1), t.history
        last = {k: sum(h[k][-CHUNK:]) / len(h[k][-CHUNK:]) for k in ('g_cls', 'd_acc', 'g_id', 'g_rec', 'd_adv', 'mask_mean') if h.get(k)}
        m = o.mask[:, 0] if o.mask is not None else None              # StarGAN and the other baselines have no mask
        masks = dict(mask=m.mean().item(), mask_in=m[:, region].mean().item(), mask_out=m[:, ~region].mean().item()) if m is not None else {}
        row = dict(step=t.step, minutes=round(wall / 60, 2), **masks, change_in=d[:, region].mean().item(),
                   change_out=d[:, ~region].mean().item(), **{f'train_{k}': v for k, v in last.items()}, events=len(t.events))
        with open(curve, 'a') as f: f.write(json.dumps(row) + '\n')
        if t.step % KEEP == 0:
            save_atomic({'format': CKPT_FORMAT + '-generator', 'config': t.state()['config'], 'step': t.step,
                         'G': {k: v.half() for k, v in t.G.state_dict().items()}}, out / f'G_{t.step:05d}.pt')
        print(json.dumps(row), flush=True)

def judge_model():
    """The one judge of every table (issue 23): trained on all train faces with half of them low-passed, so that it
    judges edits and their low-passed copies alike; its accuracy on the paper-test faces, sharp and low-passed."""
    from sagan_nb.metrics import (train_attribute_classifier, save_classifier, load_classifier, classifier_accuracy,
                                  lowpass)
    from sagan_nb.faces import FaceTensors, to_uint8
    jp = RUNS / f'judge{SIZE}lp.pt'
    if not jp.exists():
        clf = train_attribute_classifier(faces('train'), epochs=15, device='cpu', lowpass_p=0.5)
        te = faces('test')
        from dataclasses import replace
        te_lp = replace(te, images=to_uint8(lowpass(to_float_all(te.images))))
        acc = classifier_accuracy(clf, te)
        acc.update({f'{k}_lowpassed': v for k, v in classifier_accuracy(clf, te_lp).items()})
        (RUNS / f'judge{SIZE}lp.json').write_text(json.dumps(acc))
        save_classifier(clf, jp)
    return load_classifier(jp), json.loads((RUNS / f'judge{SIZE}lp.json').read_text())

def to_float_all(u8):
    from sagan_nb.faces import to_float
    return torch.cat([to_float(u8[i:i + 1000]) for i in range(0, len(u8), 1000)])

def geo_judge():
    "The geometric judge (`sagan_nb.geometry.MouthJudge`), calibrated on the first 2,000 train faces; cached in RUNS."
    import numpy as np
    from sagan_nb.geometry import MouthJudge
    p = RUNS / f'geo{SIZE}.json'
    if not p.exists():
        j = MouthJudge.fit(faces('train'), n=2000)
        p.write_text(json.dumps(dict(mean=j.mean.tolist(), std=j.std.tolist(), weights={a: w.tolist() for a, w in j.weights.items()},
                                     accuracy=j.accuracy(faces('test')))))
    d = json.loads(p.read_text())
    return MouthJudge(np.array(d['mean']), np.array(d['std']), {a: np.array(w) for a, w in d['weights'].items()}), d['accuracy']

def speckle_reference():
    """The speckle and colour share of real attribute differences: for each attribute, pairs of photos of one
    paper-test person that differ in it (`attribute_pairs`), `speckle` and `colour_share` of (with − without), whole and
    in the attribute's window; cached in RUNS."""
    from sagan_nb.metrics import speckle, colour_share, attribute_pairs, soft_window
    from sagan_nb.celeba import attribute_region
    p = RUNS / f'speckle_ref{SIZE}.json'
    out = json.loads(p.read_text()) if p.exists() else {}
    if not out or any('colour_win' not in v for v in out.values()):
        te = faces('test')
        for a in ('Eyeglasses', 'Mouth_Slightly_Open', 'Smiling', 'No_Beard'):
            off, on = attribute_pairs(te, a)
            d, w = to_float_all(te.images[on]) - to_float_all(te.images[off]), soft_window(attribute_region(a, SIZE))
            out[a] = dict(speckle=speckle(d), speckle_win=speckle(d, window=w), colour=colour_share(d),
                          colour_win=colour_share(d, window=w), pairs=len(on))
        p.write_text(json.dumps(out))
    return out

def colour_eval(*paths):
    """Add `colour_win` (and `colour_win_real`) to the rows of `evaluate`/`measure` files made before the measure
    existed: the same model's edits of all paper-test faces, in the attribute's window."""
    from sagan_nb.metrics import colour_share, soft_window
    from sagan_nb.celeba import attribute_region
    from sagan_nb.config import load_generator
    te, ref = faces('test'), speckle_reference(); x = to_float_all(te.images)
    for path in paths:
        rows = json.loads(Path(path).read_text())
        for r in rows:
            if 'colour_win' in r: continue
            G, cfg = load_generator(r['checkpoint'])
            t = 1 - te.attrs[:, te.attr_index(cfg.attribute)].float()
            with torch.no_grad(): y = torch.cat([G(x[i:i + 250], t[i:i + 250]).edited for i in range(0, len(x), 250)])
            r['colour_win'] = colour_share(y - x, window=soft_window(attribute_region(cfg.attribute, SIZE)))
            r['colour_win_real'] = ref[cfg.attribute]['colour_win']
            print(path, cfg.attribute, round(r['colour_win'], 3), flush=True)
        Path(path).write_text(json.dumps(rows, indent=1))

def colour(*names):
    """Add `colour_win` (the residual's share off the grey axis in the attribute's window) to each judged snapshot row
    of RUNS/NAME/judged_lp.jsonl that lacks it (rows judged before the measure existed), on the same 1,000 faces."""
    from sagan_nb.metrics import colour_share, soft_window
    from sagan_nb.celeba import attribute_region
    te = faces('test'); n = min(JUDGE_N, len(te)); x = to_float_all(te.images[:n])
    for name in names:
        path = RUNS / name / 'judged_lp.jsonl'; rows = jsonl(path)
        for r in rows:
            if 'colour_win' in r: continue
            G, cfg = snapshot(RUNS / name / f"G_{r['step']:05d}.pt")
            t = 1 - te.attrs[:n, te.attr_index(cfg.attribute)].float()
            with torch.no_grad(): y = torch.cat([G(x[i:i + 250], t[i:i + 250]).edited for i in range(0, n, 250)])
            r['colour_win'] = colour_share(y - x, window=soft_window(attribute_region(cfg.attribute, SIZE)))
            print(name, r['step'], round(r['colour_win'], 3), flush=True)
        path.write_text(''.join(json.dumps(r) + '\n' for r in rows))

GEO = ('Smiling', 'Mouth_Slightly_Open')

def snapshot(f):
    from sagan_nb.config import TrainConfig, build_generator
    ck = torch.load(f, weights_only=True)
    G = build_generator(TrainConfig(**ck['config']))
    G.load_state_dict({k: v.float() for k, v in ck['G'].items()})
    return G.eval(), TrainConfig(**ck['config'])

def judge(*names):
    """Every 100-iteration snapshot on the first 1,000 paper-test faces: judged flip sharp and low-passed, speckle, and
    (Smiling, Mouth_Slightly_Open) the geometric judge on the first 300 -> RUNS/NAME/judged_lp.jsonl."""
    from sagan_nb.metrics import edit_metrics
    clf, acc = judge_model()
    geo, geo_acc = geo_judge()
    print('judge accuracy on the paper-test faces', acc, 'geometric', geo_acc, flush=True)
    te = faces('test')
    te = te.subset(torch.arange(min(JUDGE_N, len(te))))              # the curves: the first 1,000 test faces
    for name in names:
        run = RUNS / name
        curve = {r['step']: r for r in jsonl(run / 'curve.jsonl')}
        out = run / 'judged_lp.jsonl'
        done = {r['step'] for r in jsonl(out)} if out.exists() else set()
        for f in sorted(run.glob('G_*.pt')):
            step = int(f.stem[2:])
            if step in done: continue
            G, cfg = snapshot(f)
            with torch.no_grad(): m = edit_metrics(lambda x, t: G(x, t), te, cfg.attribute, clf, bs=250,
                                                   geometric=geo if cfg.attribute in GEO else None, geometric_n=300)
            row = dict(step=step, minutes=curve.get(step, {}).get('minutes'),
                       **{k: v for k, v in m.items() if isinstance(v, (int, float))})
            with open(out, 'a') as fh: fh.write(json.dumps(row) + '\n')
            print(name, json.dumps(row), flush=True)

def rough(*names):
    "The speckle of each 100-iteration snapshot's masks (`mask_roughness`) on the 256 curve faces -> RUNS/NAME/rough.jsonl."
    from sagan_nb.metrics import mask_roughness
    from sagan_nb.faces import to_float
    te = faces('test'); x = to_float(te.images[:256])
    for name in names:
        run = RUNS / name; out = run / 'rough.jsonl'
        done = {r['step'] for r in jsonl(out)} if out.exists() else set()
        for f in sorted(run.glob('G_*.pt')):
            step = int(f.stem[2:])
            if step in done: continue
            G, cfg = snapshot(f)
            c = te.attrs[:256, te.attr_index(cfg.attribute)].float()
            with torch.no_grad(): m = G(x, 1 - c).mask
            row = dict(step=step, roughness=mask_roughness(m), mask=m.mean().item())
            with open(out, 'a') as fh: fh.write(json.dumps(row) + '\n')
            print(name, json.dumps(row), flush=True)

def collect(out, *names):
    read = lambda p: jsonl(p) if p.exists() else []
    data = {n: dict(curve=read(RUNS / n / 'curve.jsonl'), judged=read(RUNS / n / 'judged.jsonl'), rough=read(RUNS / n / 'rough.jsonl'),
                    judged_lp=read(RUNS / n / 'judged_lp.jsonl'),
                    config=torch.load(RUNS / n / 'checkpoint.pt', weights_only=True)['config']) for n in names}
    jj = RUNS / f'judge{SIZE}lp.json'
    extra = dict(geometric=geo_judge()[1], speckle_real=speckle_reference()) if jj.exists() else {}
    Path(out).write_text(json.dumps(dict(runs=data, judge=json.loads(jj.read_text()) if jj.exists() else None, **extra), indent=0))

def evaluate(out, *checkpoints, n_id=400, n_real=2000):
    """Each model on the paper-test people: `edit_metrics` on all 4,995 faces (flip rate both ways, change inside and
    outside the landmark box), dlib's identity distance on `n_id` of them, and a realism two-sample test: edits of the
    people in one half of the test identities against real faces of the other half (`n_real` each)."""
    import numpy as np
    from sagan_nb.metrics import edit_metrics, realism_test
    from sagan_nb.identity import DlibFaceEmbedder, identity_distance
    from sagan_nb.config import load_generator
    from sagan_nb.faces import to_float
    from sagan_nb.faces import to_uint8
    clf, acc = judge_model()
    geo, geo_acc = geo_judge()
    ref = speckle_reference()
    te = faces('test')
    ids = np.asarray(te.identities); people = np.unique(ids)
    half_a = np.isin(ids, people[::2]); a_idx, b_idx = np.flatnonzero(half_a), np.flatnonzero(~half_a)
    emb, rows = DlibFaceEmbedder(), []
    for ck in checkpoints:
        G, cfg = load_generator(ck)
        col = te.attr_index(cfg.attribute)
        target = 1 - te.attrs[:, col].float()
        with torch.no_grad():
            m = edit_metrics(lambda x, t: G(x, t), te, cfg.attribute, clf, bs=250,
                             geometric=geo if cfg.attribute in GEO else None, geometric_n=len(te))
            x = to_float(te.images)
            y = torch.cat([G(x[i:i + 250], target[i:i + 250]).edited for i in range(0, len(x), 250)])
        d = identity_distance(emb, x[:n_id], y[:n_id])
        y8 = to_float(to_uint8(y))                                    # the edits as 8-bit images, as a user saves them
        r = realism_test(to_float(te.images[b_idx[:n_real]]), y8[a_idx[:n_real]])
        row = dict(checkpoint=str(ck), method=cfg.method, attribute=cfg.attribute, judge_acc=acc[cfg.attribute],
                   judge_acc_lowpassed=acc[cfg.attribute + '_lowpassed'], speckle_real=ref[cfg.attribute]['speckle'],
                   speckle_win_real=ref[cfg.attribute]['speckle_win'], colour_win_real=ref[cfg.attribute]['colour_win'],
                   geo_judge_acc=geo_acc.get(cfg.attribute),
                   **{k: v for k, v in m.items() if isinstance(v, (int, float))},
                   id_dist=d.mean().item(), same_person=(d < emb.threshold).float().mean().item(), n_id=n_id, **r)
        rows.append(row); print(json.dumps(row), flush=True)
    Path(out).write_text(json.dumps(rows, indent=1))

def measure(out, *checkpoints):
    """The measures dots cannot fool on the 4,995 paper-test faces (edit_metrics: flip sharp and low-passed, speckle,
    change inside/outside the box; the geometric judge for the mouth attributes) without `evaluate`'s identity and
    realism tests: for models whose other columns are already in nbs/measured (the models shipped before issue 23)."""
    from sagan_nb.metrics import edit_metrics
    from sagan_nb.config import load_generator
    clf, acc = judge_model(); geo, geo_acc = geo_judge(); ref = speckle_reference()
    te, rows = faces('test'), []
    for ck in checkpoints:
        G, cfg = load_generator(ck)
        with torch.no_grad():
            m = edit_metrics(lambda x, t: G(x, t), te, cfg.attribute, clf, bs=250,
                             geometric=geo if cfg.attribute in GEO else None, geometric_n=len(te))
        row = dict(checkpoint=str(ck), method=cfg.method, attribute=cfg.attribute, judge_acc=acc[cfg.attribute],
                   judge_acc_lowpassed=acc[cfg.attribute + '_lowpassed'], speckle_real=ref[cfg.attribute]['speckle'],
                   speckle_win_real=ref[cfg.attribute]['speckle_win'], colour_win_real=ref[cfg.attribute]['colour_win'],
                   geo_judge_acc=geo_acc.get(cfg.attribute),
                   **{k: v for k, v in m.items() if isinstance(v, (int, float))})
        rows.append(row); print(json.dumps(row), flush=True)
    Path(out).write_text(json.dumps(rows, indent=1))

def ship(*names):
    """Ship each run's generator into sagan_nb/weights/ (fp16 generator + provenance record): NAME ships the last
    checkpoint, NAME@STEP the snapshot kept at iteration STEP (chosen by the judged curve on the first 1,000 test faces)."""
    import platform, tempfile
    from sagan_nb.pretrained import ship_generator
    from sagan_nb.config import CKPT_FORMAT
    from sagan_nb.faces import save_atomic
    for spec in names:
        name, _, at = spec.partition('@')
        run = RUNS / name
        rows = jsonl(run / 'curve.jsonl')
        last = torch.load(run / 'checkpoint.pt', weights_only=True)
        src = run / f'G_{int(at):05d}.pt' if at else run / 'checkpoint.pt'
        ck = torch.load(src, weights_only=True)
        if 'format' not in ck:                                          # snapshots kept before the field was added
            src = Path(tempfile.mkdtemp()) / src.name
            save_atomic({'format': CKPT_FORMAT + '-generator', **ck}, src)
        step = int(ck['step'])
        out = ship_generator(src,
            data=f"CelebA img_align_celeba, the {len(last['perm']):,} faces of the paper-training people present in ../shared/data "
                 "(the 2,400 of the 8,177 training identities of the paper's split that the shared copy holds)",
            recipe=f"celeba-cpu (64 px, widths 16, the paper's losses, lr, betas and batch; {ck['config']['n_critic']} critic "
                   f"step(s); hparams " + json.dumps(ck['config']['hparams']) + ")",
            command=f"python tools/real_faces.py train {name} {ck['config']['attribute']} {step} '" +
                    json.dumps({k: ck['config'][k] for k in ('amp', 'n_critic', 'hparams')}) + "'",
            iterations=step, minutes=next(r['minutes'] for r in rows if r['step'] == step),
            selected=(f"iteration {step} of a run continued to {int(last['step'])}: the best metrics.snapshot_score (the "
                      "low-passed judged flip, both ways, less penalties for speckle and for colour share beyond 1.5x real "
                      "differences') of the 100-iteration snapshots of every run on this attribute, judged on the first "
                      "1,000 paper-test faces (tools/real_faces.py pick)" if at else "the run's last checkpoint"),
            machine=f"{platform.machine()} CPU, 2 cores shared by 2-6 processes (one thread each), "
                    f"{'bf16 autocast' if ck['config']['amp'] == 'bf16' else 'fp32'}, torch {torch.__version__}")
        print(out, out.stat().st_size)

def best(name, max_minutes=None):
    "Print RUNS/NAME's snapshot with the best `metrics.snapshot_score` (of those within `max_minutes` of training, if given)."
    rows = jsonl(RUNS / name / 'judged_lp.jsonl')
    ok = [r for r in rows if max_minutes is None or (r['minutes'] or 1e9) <= float(max_minutes)]
    attr = torch.load(RUNS / name / 'checkpoint.pt', weights_only=True)['config']['attribute']
    ref = speckle_reference()[attr]
    from sagan_nb.metrics import snapshot_score
    col = ref['colour_win'] if all('colour_win' in r for r in ok) else None       # `colour NAME` adds it to old rows
    r = max(ok, key=lambda r: snapshot_score(r, ref['speckle_win'], colour_ref=col))
    print(RUNS / name / f"G_{r['step']:05d}.pt", json.dumps({k: r.get(k) for k in ('acc', 'acc_lp', 'acc_lp_add', 'acc_lp_remove',
          'speckle_win', 'colour_win', 'geo_acc')}), 'score', round(snapshot_score(r, ref['speckle_win'], colour_ref=col), 3))

def pick(attr, method='sagan', max_minutes=None):
    """The snapshot to ship (or, for StarGAN, to compare): of every judged snapshot of every run of `method` on `attr`
    in RUNS (within `max_minutes` of training, if given), the best `metrics.snapshot_score` with the colour penalty."""
    from sagan_nb.metrics import snapshot_score
    ref, cands = speckle_reference()[attr], []
    for j in sorted(RUNS.glob('*/judged_lp.jsonl')):
        first = next(iter(sorted(j.parent.glob('G_*.pt'))), None)
        if first is None: continue
        cfg = torch.load(first, weights_only=True)['config']
        if cfg['attribute'] != attr or cfg['method'] != method: continue
        for r in jsonl(j):
            if 'colour_win' not in r or (max_minutes is not None and (r['minutes'] or 1e9) > float(max_minutes)): continue
            cands.append((snapshot_score(r, ref['speckle_win'], colour_ref=ref['colour_win']), j.parent.name, r))
    if not cands: raise SystemExit(f'no judged snapshot of {method} on {attr} in {RUNS}')
    for s, n, r in sorted(cands, key=lambda c: -c[0])[:5]:
        print(f"{s:7.3f} {n}@{r['step']} ({r['minutes']} min): low-passed flip {r['acc_lp_add']:.2f} / {r['acc_lp_remove']:.2f}, "
              f"speckle {r['speckle_win'] / ref['speckle_win']:.1f}x, colour {r['colour_win'] / ref['colour_win']:.1f}x real")
    s, n, r = max(cands, key=lambda c: c[0])
    print(RUNS / n / f"G_{r['step']:05d}.pt")
    return RUNS / n / f"G_{r['step']:05d}.pt"

def misses(r: dict, star: dict | None = None) -> list[str]:
    """The bars of issue 23 that an `evaluate` row misses (empty: it meets them all). `star`, StarGAN's row for the same
    attribute (nbs/measured/real_faces_stargan.json), is the yardstick of locality where it is known: SaGAN's change
    outside the box at most a third of StarGAN's."""
    lp = (r['acc_lp_add'] + r['acc_lp_remove']) / 2
    need = 0.8 if r['attribute'] in GEO else 0.7
    out = []
    if r['acc_lp'] < 0.9 * r['acc']: out.append(f"low-passed flip {r['acc_lp']:.2f} < 0.9 x {r['acc']:.2f}")
    if lp < need: out.append(f"low-passed flip both ways {lp:.2f} < {need}")
    if r['attribute'] in GEO and r.get('geo_acc', 0) < 0.7: out.append(f"geometric flip {r.get('geo_acc', 0):.2f} < 0.7")
    if r['speckle_win'] > 1.5 * r['speckle_win_real']:
        out.append(f"speckle {r['speckle_win'] / r['speckle_win_real']:.2f}x real differences' (bar 1.5x)")
    if r.get('colour_win_real') and r['colour_win'] > 1.5 * r['colour_win_real']:
        out.append(f"colour code: colour share {r['colour_win'] / r['colour_win_real']:.2f}x real differences' (1.5x)")
    if r.get('realism_acc', 1) > 0.9: out.append(f"realism test {r.get('realism_acc', float('nan')):.2f} > 0.9")
    if r.get('same_person', 0) < 0.9: out.append(f"same person {r.get('same_person', float('nan')):.2f} < 0.9")
    if r['mae_out'] > r['mae_in'] / 5: out.append(f"change outside {r['mae_out']:.4f} > 1/5 inside")
    if star and r['mae_out'] > star['mae_out'] / 3: out.append(f"change outside {r['mae_out']:.4f} > 1/3 of StarGAN's")
    return out

def record(*evaluations):
    """Each `evaluate` output (OUT.json) into nbs/measured/real_faces_table.json (one row per attribute, replaced) and
    into its shipped model's record in sagan_nb/weights/MODELS.json (`evaluation`, rounded); rows of another method
    (StarGAN snapshots RUNS/NAME/G_STEP.pt) go to nbs/measured/real_faces_stargan.json with their iterations and minutes."""
    repo = Path(__file__).resolve().parents[1]
    table_p, models_p = repo / 'nbs' / 'measured' / 'real_faces_table.json', repo / 'sagan_nb' / 'weights' / 'MODELS.json'
    table = {r['attribute']: r for r in json.loads(table_p.read_text())} if table_p.exists() else {}
    models = json.loads(models_p.read_text())
    other_p = repo / 'nbs' / 'measured' / 'real_faces_stargan.json'       # the baseline, trained at the same size
    other = {r['attribute']: r for r in json.loads(other_p.read_text())} if other_p.exists() else {}
    for ev in evaluations:
        for r in json.loads(Path(ev).read_text()):
            if r['method'] != 'sagan':                              # a snapshot RUNS/NAME/G_STEP.pt: its minutes
                ck = Path(r['checkpoint']); step = int(ck.stem[2:])
                curve = jsonl(ck.parent / 'curve.jsonl')
                other[r['attribute']] = {**r, 'run': ck.parent.name, 'iterations': step,
                                         'minutes': next(c['minutes'] for c in curve if c['step'] == step)}
                continue
            table[r['attribute']] = r
            rec = models['models'][r['attribute']]
            rec['evaluation'] = {'on': 'the 4,995 faces of the 999 paper-test people in ../shared/data (tools/real_faces.py evaluate; nbs/10_experiments)',
                                 **{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()
                                    if k in ('n', 'acc', 'acc_add', 'acc_remove', 'acc_inputs', 'acc_lp', 'acc_lp_add',
                                             'acc_lp_remove', 'acc_lp_inputs', 'speckle_win', 'speckle_win_real',
                                             'colour_win', 'colour_win_real', 'geo_acc',
                                             'geo_acc_inputs', 'mae_out', 'mae_in', 'id_dist', 'same_person', 'n_id',
                                             'realism_acc', 'realism_n', 'judge_acc', 'judge_acc_lowpassed')}}
            miss = misses(r, other.get(r['attribute']))
            rec['status'] = 'experimental: ' + '; '.join(miss) if miss else 'meets the bar of issue 23'
            r['status'] = rec['status']
    order = ['Eyeglasses', 'Mouth_Slightly_Open', 'Smiling', 'No_Beard']
    table_p.write_text(json.dumps([table[a] for a in order if a in table], indent=1))
    if other: other_p.write_text(json.dumps([other[a] for a in order if a in other], indent=1))
    models_p.write_text(json.dumps(models, indent=1) + '\n')

def zoom(out_dir, *checkpoints, n=6, first=0):
    """Zoomed pictures (`metrics.zoom_grid`, 4x nearest-neighbour) of each model's edits of `n` paper-test faces from
    `first` on, both ways: the first n/2 without the attribute (edited to have it), then n/2 with it (edited to lose it).
    OUT_DIR/NAME.png shows input | edit | mask | 3x residual (CelebA faces: keep them outside the repository);
    OUT_DIR/NAME-residual.png shows the mask and residual only (no face pixels), for the README, and OUT_DIR/residuals.png
    those of all the models side by side."""
    from PIL import Image
    from sagan_nb.metrics import zoom_grid
    from sagan_nb.config import load_generator
    out = Path(out_dir); out.mkdir(parents=True, exist_ok=True)
    te = faces('test'); panels = []
    for ck in checkpoints:
        ck = Path(ck)
        G, cfg = load_generator(ck) if ck.parent.name == 'weights' else snapshot(ck)
        a = te.attrs[:, te.attr_index(cfg.attribute)]                 # both directions: half the faces without the
        idx = torch.cat([torch.nonzero(a[first:] == v)[:k, 0] + first for v, k in ((0, n - n // 2), (1, n // 2))])
        x, c = to_float_all(te.images[idx]), a[idx].float()            # attribute (top rows), half with it
        with torch.no_grad(): o = G(x, 1 - c)
        name = ck.stem if ck.parent.name == 'weights' else f'{ck.parent.name}-{ck.stem}'
        m = o.mask if o.mask is not None else torch.zeros_like(x[:, :1])
        Image.fromarray(zoom_grid(x, o.edited, m)).save(out / f'{name}.png')
        g = zoom_grid(x, o.edited, m)                                  # drop the two face columns: mask | residual
        w = (g.shape[1] - 3 * 2) // 4
        Image.fromarray(g[:, 2 * (w + 2):]).save(out / f'{name}-residual.png')
        panels.append((f'{cfg.attribute}\n{name}', g[:, 2 * (w + 2):]))
        print(out / f'{name}.png', cfg.attribute, 'faces with it', c.tolist())
    if len(panels) > 1:                                                # one picture of every model's masks and residuals
        import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
        fig, axs = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 2.2 * n / 2 + 0.5))
        for ax, (title, im) in zip(axs, panels):
            ax.imshow(im, interpolation='nearest'); ax.set_title(title, fontsize=7); ax.axis('off')
        fig.tight_layout(); fig.savefig(out / 'residuals.png', dpi=110); print(out / 'residuals.png')

if __name__ == '__main__':
    cmd, *args = sys.argv[1:]
    dict(train=train, judge=judge, rough=rough, collect=collect, evaluate=evaluate, ship=ship, best=best, record=record,
         zoom=zoom, measure=measure, colour=colour, colour_eval=colour_eval, pick=pick)[cmd](*args)
