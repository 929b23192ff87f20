"The `sagan_nb` command line, called in-process through `main` (and once as the installed console script)."
import json, shutil, subprocess, sys
from pathlib import Path
import numpy as np
import pytest, torch
from PIL import Image
from sagan_nb.cli import main
from sagan_nb.faces import to_pil
from sagan_nb.synth import synth_tensors

from conftest import TINY, run

def fails(*argv, says: str):
    code, out, err = run(*argv)
    assert code == 2, (code, out, err)
    assert says in err, err
    assert len(err.strip().splitlines()) == 1 and 'Traceback' not in err, err

@pytest.fixture(scope='module')
def run_dir(tiny_run):
    "A tiny Smiling run trained by the CLI for 2 iterations (conftest's)."
    return tiny_run

@pytest.fixture(scope='module')
def face_png(tmp_path_factory):
    p = tmp_path_factory.mktemp('faces') / 'face.png'
    to_pil(synth_tensors(1, size=40, seed=5).images[0]).save(p)
    return p

def test_train_then_resume(run_dir, tmp_path):
    ck = torch.load(run_dir / 'checkpoint.pt', weights_only=True)
    assert ck['step'] == 2 and ck['config']['conv_dim'] == 8 and ck['config']['attribute'] == 'Smiling'
    assert json.loads((run_dir / 'data.json').read_text())['n_synth'] == 16
    assert len(json.loads((run_dir / 'log.json').read_text())['history']['step']) == 2
    # resume a copy (the module's run stays at 2 for the other tests): only --out and --steps are needed
    d = tmp_path / 'resumed'; shutil.copytree(run_dir, d)
    code, out, err = run('train', '--resume', '--steps', '3', '--out', d, '--quiet')
    assert code == 0, err
    assert 'iterations 2 -> 3' in out
    ck3 = torch.load(d / 'checkpoint.pt', weights_only=True)
    assert ck3['step'] == 3 and ck3['config']['conv_dim'] == 8
    assert any((ck3['G'][k] != ck['G'][k]).any() for k in ck['G'])                    # it trained on
    code, out, err = run('train', '--resume', '--out', d, '--quiet')
    assert code == 0 and 'nothing to do' in out

def test_train_touches_no_run_it_was_not_asked_to_continue_or_replace(run_dir, tmp_path):
    """A folder holding a run: a new run is refused (`RunExistsError`), and so are `--resume --force` together (before:
    the run was deleted, then resuming it failed) and resuming on other faces (before: `--data-seed 3` trained on
    them); every file of the run stays as it was."""
    d = tmp_path / 'run'; shutil.copytree(run_dir, d)
    files = lambda: {p.relative_to(d): p.read_bytes() for p in d.rglob('*') if p.is_file()}
    before = files()
    fails('train', *TINY, '--steps', 3, '--out', d, says='exists: resume to continue that run (--resume)')
    fails('train', '--resume', '--force', '--steps', 3, '--out', d, says='resume and force exclude each other')
    fails('train', '--resume', '--data-seed', 3, '--steps', 3, '--out', d, '--quiet',
          says='was trained on other data (data_seed 0, not 3)')
    assert files() == before

def test_train_force_starts_afresh(run_dir, tmp_path):
    "--force over a run: a new run from iteration 0 on the data now given (log and data record new too)."
    d = tmp_path / 'run'; shutil.copytree(run_dir, d)
    code, out, err = run('train', *TINY, '--n-synth', 24, '--steps', 1, '--force', '--out', d)
    assert code == 0 and 'iterations 0 -> 1' in out, (out, err)
    ck = torch.load(d / 'checkpoint.pt', weights_only=True)
    assert ck['step'] == 1 and ck['history']['step'] == [1] and len(ck['perm']) == 24
    assert json.loads((d / 'log.json').read_text())['history']['step'] == [1]
    assert json.loads((d / 'data.json').read_text())['n_synth'] == 24

def test_resume_reads_the_checkpoint_once_and_the_trainer_leaves_its_process_group(run_dir, tmp_path, monkeypatch):
    """Under torchrun (one process, gloo, in-process here): `--resume` reads the checkpoint once (before: twice, for
    its configuration and again in the trainer), and the group is left by the trainer that joined it, not by the CLI."""
    import socket, torch.distributed as dist
    d = tmp_path / 'run'; shutil.copytree(run_dir, d)
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    for k, v in dict(WORLD_SIZE='1', RANK='0', LOCAL_RANK='0', LOCAL_WORLD_SIZE='1', MASTER_ADDR='127.0.0.1',
                     MASTER_PORT=str(port)).items(): monkeypatch.setenv(k, v)
    loads, load = [], torch.load
    monkeypatch.setattr(torch, 'load', lambda f, *a, **k: loads.append(Path(f)) or load(f, *a, **k))
    left, destroy = [], dist.destroy_process_group
    monkeypatch.setattr(dist, 'destroy_process_group',
                        lambda *a, **k: left.append(sys._getframe(1).f_globals['__name__']) or destroy(*a, **k))
    try: code, out, err = run('train', '--resume', '--steps', 3, '--out', d, '--quiet')
    finally:
        if dist.is_initialized(): destroy()
    assert code == 0 and 'iterations 2 -> 3' in out, (out, err)
    assert loads.count(d / 'checkpoint.pt') == 1, loads
    assert left == ['sagan_nb.train'], left

def test_edit(run_dir, face_png, tmp_path):
    out_png, mask_png, res_png = tmp_path / 'o' / 'out.png', tmp_path / 'mask.png', tmp_path / 'res.png'
    code, out, err = run('edit', '--checkpoint', run_dir, '--attribute', 'Smiling', face_png, out_png,
                         '--mask', mask_png, '--residual', res_png)
    assert code == 0, err
    assert '+Smiling' in out and str(out_png) in out
    e, m, r = Image.open(out_png), Image.open(mask_png), Image.open(res_png)
    assert e.size == m.size == r.size == (40, 40) and m.mode == 'L' and e.mode == 'RGB'
    p = np.asarray(Image.open(face_png)).astype(int)
    assert (np.asarray(r).astype(int) == np.abs(np.asarray(e).astype(int) - p)).all()
    # --remove is --value 0, and differs from adding
    code, out, err = run('edit', '--checkpoint', run_dir / 'checkpoint.pt', '--remove', face_png, tmp_path / 'rm.png')
    assert code == 0 and '-Smiling' in out
    code, out, err = run('edit', '--checkpoint', run_dir, '--value', 'remove', face_png, tmp_path / 'rm2.png')
    assert (np.asarray(Image.open(tmp_path / 'rm.png')) == np.asarray(Image.open(tmp_path / 'rm2.png'))).all()
    assert (np.asarray(Image.open(tmp_path / 'rm.png')) != np.asarray(e)).any()

def test_edit_errors(run_dir, face_png, tmp_path):
    "The notebook's refusals (missing files, the wrong model, bad values) aside: an undecodable picture, an output format, argparse."
    (tmp_path / 'bad.jpg').write_bytes(b'not an image')
    fails('edit', '--checkpoint', run_dir, tmp_path / 'bad.jpg', tmp_path / 'o.png', says='bad.jpg')
    fails('edit', '--checkpoint', run_dir, face_png, tmp_path / 'o.unknownext', says='error:')
    code, out, err = run('edit', '--checkpoint', run_dir, '--remove', '--value', '1', face_png, tmp_path / 'o.png')
    assert code == 2 and 'not allowed with' in err                                                # argparse's own check

@pytest.fixture(scope='module')
def glasses_dir(run_dir, tmp_path_factory):
    "The tiny run's weights saved as an Eyeglasses run."
    ck = torch.load(run_dir / 'checkpoint.pt', weights_only=True)
    d = tmp_path_factory.mktemp('glasses')
    torch.save({**ck, 'config': {**ck['config'], 'attribute': 'Eyeglasses'}}, d / 'checkpoint.pt')
    return d

def test_edit_several_attributes_at_a_strength(run_dir, glasses_dir, face_png, tmp_path):
    "--attribute NAME=VALUE repeated and --strength: the same pictures as `Editor.edit` with the dict, whatever the options' order."
    from sagan_nb.edit import Editor
    ed = Editor([run_dir, glasses_dir], device='cpu')
    want = ed.edit(face_png, {'Smiling': 1, 'Eyeglasses': 0}, strength=1.5)
    for k, opts in enumerate((['--attribute', 'Smiling=1', '--attribute', 'Eyeglasses=0'],
                              ['--attribute', 'Eyeglasses=remove', '--attribute', 'Smiling'],
                              ['--remove', '--attribute', 'Smiling=add', '--attribute', 'Eyeglasses'])):
        o, m = tmp_path / f'o{k}.png', tmp_path / f'm{k}.png'
        code, out, err = run('edit', '--checkpoint', glasses_dir, '--checkpoint', run_dir, *opts, '--strength', 1.5,
                             face_png, o, '--mask', m, '--device', 'cpu')
        assert code == 0, err
        assert '-Eyeglasses +Smiling (strength 1.5): ' in out, out
        assert np.array_equal(np.asarray(Image.open(o)), np.asarray(want.edited))
        assert np.array_equal(np.asarray(Image.open(m)), np.asarray(want.mask))            # the union of the two masks
    # strength 0: the photo itself; one attribute of two given checkpoints: that one's model only
    code, out, err = run('edit', '--checkpoint', run_dir, '--checkpoint', glasses_dir, '--attribute', 'Eyeglasses=1',
                         '--attribute', 'Smiling=1', '--strength', 0, face_png, tmp_path / 'z.png')
    assert code == 0 and np.array_equal(np.asarray(Image.open(tmp_path / 'z.png')), np.asarray(Image.open(face_png)))
    code, out, err = run('edit', '--checkpoint', run_dir, '--attribute', 'Smiling', face_png, tmp_path / 's.png')
    assert code == 0 and out.startswith('+Smiling: ')

def test_export_then_edit(run_dir, face_png, tmp_path):
    code, out, err = run('export', run_dir, tmp_path / 'G.pt')
    assert code == 0 and 'MiB' in out
    assert (tmp_path / 'G.pt').stat().st_size < (run_dir / 'checkpoint.pt').stat().st_size / 2
    assert run('edit', '--checkpoint', tmp_path / 'G.pt', face_png, tmp_path / 'o.png')[0] == 0

@pytest.mark.slow                      # a minute and a half: the demo's figures at the smoke budget
def test_demo(tmp_path):
    "The README's main job (at the smoke budget): the synthetic grid, then every figure notebook through papermill."
    code, out, err = run('demo', '--out', tmp_path / 'demo', '--budget', 'smoke')
    assert code == 0, err
    pngs = list((tmp_path / 'demo').glob('*.png'))
    assert pngs and all(str(p) in out for p in pngs)
    assert Image.open(tmp_path / 'demo' / 'synthetic_faces.png').size[0] > 64
    names = {p.name for p in pngs}
    for want in ('fig01_whole_vs_local.png', 'fig03_attention_Eyeglasses.png', 'fig04_Eyeglasses.png',
                 'fig06_No_Beard.png', 'fig08_augmentation.png', 'fig09_lfw_Smiling.png', 'fig10_roc_celeba.png',
                 'fig11_roc_lfw.png'):
        assert want in names, want
    nbs = sorted((tmp_path / 'demo' / 'notebooks').glob('*.ipynb'))
    from sagan_nb.experiments import FIGURES
    assert len(nbs) == len(FIGURES)

@pytest.mark.slow                      # two fresh processes of the installed script, each importing torch
def test_console_script():
    exe = Path(sys.executable).with_name('sagan_nb')
    if not exe.exists(): exe = shutil.which('sagan_nb')
    assert exe, 'the sagan_nb console script is not installed (pip install -e .)'
    r = subprocess.run([str(exe), '--help'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for cmd in ('train', 'edit', 'export', 'demo'): assert cmd in r.stdout
    r = subprocess.run([str(exe), 'edit', '--checkpoint', 'no/such.pt', 'no.png', 'out.png'], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and 'checkpoint not found' in r.stderr, r.stderr

def test_real_celeba_train_and_edit(data_root, tmp_path):
    "Shared CelebA: one iteration on 16 real faces, then an aligned 178×218 photo edited at full size."
    code, out, err = run('train', *TINY[:-3], '--data-root', data_root, '--limit', '16', '--steps', '1',
                         '--out', tmp_path / 'real', '--quiet')
    assert code == 0, err
    assert '16 faces 32x32' in out
    photo = sorted((data_root / 'celeba' / 'img_align_celeba').glob('*.jpg'))[0]
    code, out, err = run('edit', '--checkpoint', tmp_path / 'real', photo, tmp_path / 'e.png', '--mask', tmp_path / 'm.png')
    assert code == 0, err
    e, p = np.asarray(Image.open(tmp_path / 'e.png')), np.asarray(Image.open(photo).convert('RGB'))
    assert e.shape == p.shape == (218, 178, 3)
    assert (e[:20] == p[:20]).all() and (e[198:] == p[198:]).all()        # outside the central 178×178: untouched
    m = np.asarray(Image.open(tmp_path / 'm.png'))
    assert m[:20].max() == 0 and m[20:198].min() > 0

def test_edit_with_faces_decodes_the_photo_once_and_only_writes_the_result(run_dir, tmp_path, monkeypatch):
    """--faces: `edit_photo` makes the one result (edit, mask, residual, boxes) and the command writes it; the photo is
    decoded once (main decoded it again to draw the boxes and the residual). A face placed by hand stands in for dlib."""
    import PIL.Image
    import sagan_nb.photos as photos
    pic = tmp_path / 'photo.png'
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (120, 100, 3), dtype=np.uint8)).save(pic)
    C = photos.celeba_to_model(32); Ci = np.linalg.inv(C[:, :2])
    to_model = photos.invert(np.hstack([1.5 * np.eye(2), [[20.], [30.]]]))             # photo pixels → the 32 px frame
    face = photos.Face((20, 30, 68, 78), np.zeros((5, 2)), np.hstack([Ci @ to_model[:, :2], (Ci @ (to_model[:, 2] - C[:, 2]))[:, None]]))
    monkeypatch.setattr(photos, 'find_faces', lambda *a, **k: [face])
    opened, real_open = [], PIL.Image.open
    def counting_open(fp, *a, **k):
        if Path(str(fp)) == pic: opened.append(fp)
        return real_open(fp, *a, **k)
    monkeypatch.setattr(PIL.Image, 'open', counting_open)
    o = {k: tmp_path / f'{k}.png' for k in ('out', 'mask', 'res', 'boxes')}
    code, out, err = run('edit', '--checkpoint', run_dir, pic, o['out'], '--faces', '--mask', o['mask'], '--residual', o['res'],
                         '--boxes', o['boxes'], '--device', 'cpu')
    monkeypatch.undo()
    assert code == 0, err
    assert '1 face(s)' in out and len(opened) == 1, opened
    p, e, r, m, b = (np.asarray(Image.open(x)).astype(int) for x in (pic, o['out'], o['res'], o['mask'], o['boxes']))
    assert e.shape == r.shape == b.shape == p.shape and m.shape == p.shape[:2]
    assert (r == np.abs(e - p)).all() and (e[m == 0] == p[m == 0]).all() and (m > 0).any()
    assert (b[30, 20:69] == (255, 40, 40)).all() and (b[90:] == e[90:]).all()              # the box drawn on the edit
