"The figure study: budgets against the papers, models trained once and reused, given checkpoints, the figure notebooks."
import json
from dataclasses import replace
from pathlib import Path
import pytest, torch
from sagan_nb.faces import to_float, ATTRIBUTES
from sagan_nb.config import method_config, load_checkpoint, ConfigMismatchError, ARCH_KEYS
from sagan_nb.budgets import BUDGETS
from sagan_nb.synth import shifted_faces
from sagan_nb.experiments import (FIGURES, Study, train_models, with_judged_attributes, comparison_table,
                                  figures_dir)

ROOT = Path(__file__).resolve().parents[1]

@pytest.mark.parametrize('method', ['sagan', 'stargan', 'cyclegan', 'resgan'])
def test_full_budget_is_each_papers_configuration(method):
    "Under `full` every method trains at 128 px with its own paper's settings (only logging cadence differs)."
    got, paper = BUDGETS['full'].config(method, 'Smiling'), method_config(method, attribute='Smiling', image_size=128)
    for k in ARCH_KEYS + ('lr', 'n_critic', 'batch_size', 'lambda_gp', 'lambda_rec', 'lambda_id', 'beta1', 'hparams'):
        assert getattr(got, k) == getattr(paper, k), k

def test_every_figure_has_a_parameterised_notebook():
    for name in FIGURES:
        nb = json.loads((figures_dir() / f'{name}.ipynb').read_text())
        tagged = [c for c in nb['cells'] if 'parameters' in c.get('metadata', {}).get('tags', [])]
        assert len(tagged) == 1, name
        src = ''.join(tagged[0]['source'])
        for p in ('data_root', 'budget', 'out_dir', 'work_dir', 'device', 'checkpoints'): assert f'{p} =' in src, (name, p)
        assert not any(c.get('outputs') for c in nb['cells'] if c['cell_type'] == 'code'), f'{name} is committed with outputs'

NOT_FIGURES = ()      # notebooks of paper_figures/ that `run_figures` is not meant to run (none now); name each here

def test_every_figure_notebook_is_run():
    "A notebook added to paper_figures/ is in `FIGURES` (so `sagan_nb figures` and the demo run it) or named in `NOT_FIGURES`."
    found = {p.stem for p in figures_dir().glob('*.ipynb')}
    assert found - set(NOT_FIGURES) == set(FIGURES), f'not run: {sorted(found - set(NOT_FIGURES) - set(FIGURES))}'
    assert len(FIGURES) == len(set(FIGURES)) and not set(FIGURES) & set(NOT_FIGURES)

def test_the_demos_time_is_stated_once():
    """How long the demo takes (the `cpu` budget) is typed in one place, the README (from nbs/index.ipynb); the figure
    notebooks' parameters and the command line's help refer to it."""
    import re
    said = re.compile(r'\b\d+\s*[-–]\s*\d+\s*min')
    where = [*figures_dir().glob('*.ipynb'), ROOT / 'nbs' / '11_cli.ipynb', ROOT / 'nbs' / '10_experiments.ipynb',
             ROOT / 'nbs' / 'index.ipynb', *(ROOT / 'sagan_nb').glob('*.py')]
    typed = {p.relative_to(ROOT).as_posix(): len(said.findall(p.read_text())) for p in where}
    assert {k: v for k, v in typed.items() if v} == {'nbs/index.ipynb': 1}, typed

@pytest.fixture(scope='module')
def study(tmp_path_factory):
    s = Study(budget='smoke', work_dir=tmp_path_factory.mktemp('work'), progress=False)
    s.train(['sagan', 'stargan'], ['Smiling'])
    return s

def test_models_are_trained_once_and_resumed_for_more_steps(study):
    ck = study.run_dir('sagan', 'Smiling') / 'checkpoint.pt'
    before = ck.stat().st_mtime_ns
    assert study.train(['sagan', 'stargan'], ['Smiling']) == {}                  # done: nothing retrained
    assert ck.stat().st_mtime_ns == before
    more = {'sagan-Smiling': replace(study.config('sagan', 'Smiling'), steps=4)}
    assert list(train_models(more, study.faces('train'), study.work_dir, workers=1, progress=False)) == ['sagan-Smiling']
    h = load_checkpoint(ck)
    assert h['step'] == 4 and h['history']['step'][:2] == [1, 2]                # resumed from step 2, not restarted

def test_a_training_job_resumes_forces_and_refuses_through_its_run_folder(study, tmp_path, monkeypatch):
    """A study's training job opens its folder with `Run.open`: by default ('auto') it continues a shorter run (its
    checkpoint read once), `force=True` starts afresh, and a new run over an old one is refused with the old one whole."""
    from sagan_nb.experiments import _train_job
    from sagan_nb.errors import RunExistsError
    cfg, d = study.config('sagan', 'Smiling'), tmp_path / 'run'
    data = str(study.faces('train').save(tmp_path / 'faces.pt'))
    _train_job(replace(cfg, steps=1), data, str(d), threads=0)
    loads, load = [], torch.load
    monkeypatch.setattr(torch, 'load', lambda f, *a, **k: loads.append(Path(f)) or load(f, *a, **k))
    _train_job(replace(cfg, steps=2), data, str(d), threads=0)
    monkeypatch.undo()
    assert loads.count(d / 'checkpoint.pt') == 1
    ck = load_checkpoint(d / 'checkpoint.pt')
    assert ck['step'] == 2 and ck['history']['step'] == [1, 2]                  # resumed
    before = (d / 'checkpoint.pt').read_bytes()
    with pytest.raises(RunExistsError): _train_job(replace(cfg, steps=1), data, str(d), threads=0, resume=False)
    assert (d / 'checkpoint.pt').read_bytes() == before
    _train_job(replace(cfg, steps=1), data, str(d), threads=0, force=True)
    ck = load_checkpoint(d / 'checkpoint.pt')
    assert ck['step'] == 1 and ck['history']['step'] == [1]                     # afresh

def test_a_run_of_another_architecture_is_refused_by_name(study):
    other = {'sagan-Smiling': replace(study.config('sagan', 'Smiling'), conv_dim=4)}
    with pytest.raises(ConfigMismatchError, match='conv_dim'):
        train_models(other, study.faces('train'), study.work_dir, workers=1, progress=False)

def test_given_checkpoints_are_used_instead_of_training(study, tmp_path):
    ck = study.run_dir('sagan', 'Smiling') / 'checkpoint.pt'
    s2 = Study(budget='smoke', work_dir=tmp_path, checkpoints={'sagan:Smiling': ck}, progress=False)
    x = to_float(s2.faces('test').images[:2])
    torch.testing.assert_close(s2.outputs('sagan', 'Smiling', x, 1).edited, study.outputs('sagan', 'Smiling', x, 1).edited)
    assert not (tmp_path / 'smoke' / 'runs').exists()                           # nothing trained
    s3 = Study(budget='smoke', work_dir=tmp_path, checkpoints={'sagan:Eyeglasses': ck}, progress=False)
    with pytest.raises(ConfigMismatchError, match='sagan/Smiling, given for sagan/Eyeglasses'): s3.generator('sagan', 'Eyeglasses')

def test_shifted_faces_are_unseen_and_framed_differently():
    a = shifted_faces(64, 32)
    train = Study(budget='smoke').faces('train')
    assert not set(a.names) & set(train.names)
    # smaller in the frame: the true masks (beard, mouth) cover less of the image than on the training faces
    assert a.masks.float().mean() < 0.9 * train.masks[:64].float().mean()

def test_unlabelled_faces_get_the_judges_attributes(study):
    faces = study.faces('test')
    bare = replace(faces, attrs=torch.zeros(len(faces), 0), attr_names=())
    got = with_judged_attributes(study, bare)
    assert got.attr_names == tuple(ATTRIBUTES) and set(got.attrs.unique().tolist()) <= {0.0, 1.0}
    assert with_judged_attributes(study, faces) is faces

def test_comparison_table_measures_every_method_and_attribute(study):
    rows = comparison_table(study, study.faces('test'), methods=('stargan', 'sagan'), attributes=('Smiling',))
    assert [(r['method'], r['attribute']) for r in rows] == [('StarGAN', 'Smiling'), ('SaGAN', 'Smiling')]
    assert 'mask_iou' in rows[1] and 'mask_iou' not in rows[0]                 # only SaGAN has a mask
    assert all(0 <= r['acc'] <= 1 and r['mae_out'] >= 0 for r in rows)

@pytest.mark.slow
def test_figures_run_on_real_celeba_and_lfw(data_root, tmp_path):
    "The same notebooks with a data root: CelebA's identity split for the models, LFW for Fig. 9 and Fig. 11 (smoke budget)."
    from sagan_nb.experiments import run_figures
    out = tmp_path / 'out'
    run_figures(out, data_root, 'smoke', only=['fig09', 'fig10'], progress=False)
    assert (out / 'fig09_lfw_Smiling.png').exists() and (out / 'fig11_roc_lfw.png').exists()
    rows = json.loads((out / 'table_fig10_11.json').read_text())
    lfw = [r for r in rows if r['name'].startswith('LFW')]
    assert len(lfw) == 2 and all(r['genuine'] == 3000 and r['impostor'] == 3000 for r in lfw)   # View 2: 10 × 300 + 300
    assert all(r['acc_protocol'] == '10-fold' for r in lfw)
    celeba = [r for r in rows if r['name'].startswith('CelebA')]
    assert len(celeba) == 2 and celeba[0]['genuine'] > 1000               # every test person with 2+ photos
    table = json.loads((out / 'table_fig09.json').read_text())
    assert {r['region'] for r in table} == {'landmark box'}               # LFW has no masks: the landmark regions

# ---- beyond the paper: several attributes in one edit (issue 25) --------------------------------------------------
COMBINED = 'ext_combined_attributes'

def test_combined_attributes_notebook_is_parameterised_and_clean():
    nb = json.loads((figures_dir() / f'{COMBINED}.ipynb').read_text())
    tagged = [c for c in nb['cells'] if 'parameters' in c.get('metadata', {}).get('tags', [])]
    assert len(tagged) == 1
    src = ''.join(tagged[0]['source'])
    for p in ('data_root', 'budget', 'out_dir', 'work_dir', 'device', 'checkpoints', 'attributes', 'judge'): assert f'{p} =' in src, p
    assert not any(c.get('outputs') for c in nb['cells'] if c['cell_type'] == 'code'), 'committed with outputs'

def run_combined(tmp_path, **params) -> Path:
    import papermill as pm
    out = tmp_path / 'out'
    pm.execute_notebook(str(figures_dir() / f'{COMBINED}.ipynb'), str(tmp_path / 'executed.ipynb'), cwd=str(figures_dir()),
                        parameters=dict(out_dir=str(out), work_dir=str(tmp_path / 'work'), **params), progress_bar=False,
                        kernel_name='python3')
    return out

@pytest.mark.slow                      # a kernel, two 2-update models and the judge: about 15 s
def test_combined_attributes_figure_on_synthetic_faces(tmp_path):
    out = run_combined(tmp_path, budget='smoke')
    assert (out / f'{COMBINED}.png').exists()
    rows = json.loads((out / f'table_{COMBINED}.json').read_text())['rows']
    assert [(r['edit'], r['steps']) for r in rows] == [('Eyeglasses alone', 'Eyeglasses'), ('Smiling alone', 'Smiling'),
                                                      ('all in one edit', 'Eyeglasses then Smiling')]
    assert all(0 <= r['judged Eyeglasses'] <= 1 and 0 <= r['judged Smiling'] <= 1 for r in rows)
    # the union takes at least as much of the face as either mask alone
    assert rows[2]['mask > 0.5'] >= max(rows[0]['mask > 0.5'], rows[1]['mask > 0.5'])
    assert 'reverse order (Smiling then Eyeglasses)' in (out / f'table_{COMBINED}.md').read_text()

@pytest.mark.slow
def test_combined_attributes_figure_uses_the_shipped_models_on_celeba(data_root, tmp_path):
    "With a data root at the celeba-cpu budget: the shipped models on CelebA test faces (no judge: it trains on every training face)."
    from sagan_nb.pretrained import shipped
    if not {'Eyeglasses', 'Smiling'} <= set(shipped()): pytest.skip('the shipped models are not in this install')
    out = run_combined(tmp_path, budget='celeba-cpu', data_root=str(data_root), judge=False)
    assert (out / f'{COMBINED}.png').exists() and not (tmp_path / 'work' / 'celeba-cpu' / 'runs').exists()   # nothing trained
    table = json.loads((out / f'table_{COMBINED}.json').read_text())
    assert table['faces'] == 'CelebA test faces' and all(v.startswith('shipped') for v in table['models'].values())
    assert [r['steps'] for r in table['rows']] == ['Eyeglasses', 'Smiling', 'Eyeglasses then Smiling']
