"""Training beyond the notebook's quick checks: DDP on CPU (gloo, 2 processes) for every method, the process group and
its backend, the run folder's one owner (`Run`, through `tools/real_faces.py` too), the batch stream and the waits of an
iteration, and a tiny run that really learns."""
import os, socket, subprocess, sys
from dataclasses import replace
from pathlib import Path
import pytest, torch
import torch.distributed as dist
from sagan_nb.synth import synth_tensors
from sagan_nb.faces import to_float
from sagan_nb.config import TrainConfig
from sagan_nb.train import Trainer
from sagan_nb.metrics import classifier_accuracy, edit_metrics, train_attribute_classifier

TINY = TrainConfig(attribute='Smiling', image_size=32, conv_dim=8, n_res=1, d_conv_dim=8, batch_size=8,
                   steps=3, device='cpu', log_every=1, ckpt_every=3, sample_every=1000, seed=3)
METHODS = ('sagan', 'stargan', 'cyclegan', 'resgan')
ROOT = Path(__file__).resolve().parents[1]

DDP_SCRIPT = """
import sys, torch
from dataclasses import replace
from sagan_nb.synth import synth_tensors
from sagan_nb.faces import to_float
from sagan_nb.config import TrainConfig
from sagan_nb.train import Trainer
import sagan_nb.baselines                          # registers the baselines
torch.set_num_threads(1)
cfg = TrainConfig(**eval(sys.argv[1]))
t = Trainer(cfg, synth_tensors(48, size=32, seed=2), out_dir=sys.argv[2], progress=False)
t.fit()
# Leave the group before exiting: a process that exits with gloo's threads still running can abort ("terminate called
# without an active exception", SIGABRT) and fail the run after its work is done (seen once, in a CI dry run).
torch.distributed.barrier(); torch.distributed.destroy_process_group()
"""

def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.mark.slow                      # four torchrun launches of 2 processes each: a minute or more
@pytest.mark.parametrize('method', ['sagan', 'stargan', 'cyclegan', 'resgan'])
def test_ddp_two_processes_match_one(tmp_path, method):
    "torchrun with 2 gloo processes, each on half of every batch, trains the same weights as one process."
    from dataclasses import asdict
    cfg = replace(TINY, method=method)
    script = tmp_path / 'ddp.py'; script.write_text(DDP_SCRIPT)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr', '127.0.0.1',
           '--master_port', str(_free_port()), str(script), repr(asdict(cfg)), str(tmp_path / 'ddp')]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    ddp = torch.load(tmp_path / 'ddp' / 'checkpoint.pt', weights_only=True)
    torch.set_num_threads(1)
    one = Trainer(cfg, synth_tensors(48, size=32, seed=2), progress=False)
    init = {k: v.clone() for k, v in one.G.state_dict().items()}
    one.fit()
    assert ddp['step'] == one.step == 3
    # Measured once over seeds 0-4 for all four methods (tools: this test with `seed` replaced), and once with the bug
    # this test exists for (DDP's gradient averaging switched off, sagan and resgan, seed 0):
    #   losses, worst |Δ| / (1e-6 + 1e-4·|value|): 0.21 (SaGAN's g_adv, a difference of critic scores near 0) vs 138-685
    #   weights, ‖W_ddp − W_one‖ / ‖W_one − W_init‖: 0.003-0.056 (CycleGAN highest) vs 0.93-0.94
    # The two processes sum their halves of each batch in another order: ~1e-7 relative rounding in every gradient.
    # Adam divides a gradient by its own running size, so where a gradient is near 0 that rounding can flip the sign
    # of a whole step (±lr): a few weights differ by up to the Adam bound, 2·lr per step, while the bulk agree. So:
    # losses to rtol 1e-3 / atol 1e-6 (1e-4 until a CPU with AVX512-BF16 put ResGAN's g_dual at step 3 1.25e-4 apart,
    # with the code of before and after alike: rounding, not a bug; the bug above is still 14-69x outside); weights each
    # within the Adam bound and together within 0.2 of the distance they travelled. Thresholded terms (accuracies, the mask's area) are not compared: one logit or one pixel crossing
    # its threshold moves them by a whole 1/B, whatever the rounding.
    thresholded = {'d_acc', 'd_fake_acc', 'mask_area'}
    for k in one.history:
        if k in thresholded: continue
        torch.testing.assert_close(torch.tensor(ddp['history'][k]), torch.tensor(one.history[k]), rtol=1e-3, atol=1e-6,
                                   msg=lambda m: f'{k}: {m}')
    num = den = 0.
    for k, v in one.G.state_dict().items():
        d = (ddp['G'][k] - v).abs()
        assert d.max() <= 2 * TINY.lr * TINY.steps + 1e-6, (k, d.max())
        num += d.pow(2).sum().item(); den += (init[k] - v).pow(2).sum().item()
    assert (num / den) ** 0.5 < 0.2, (num / den) ** 0.5
    # and the weights did move: the comparison is not between two untrained nets
    assert any((init[k] - v).abs().max() > 1e-4 for k, v in one.G.state_dict().items())

def test_batch_must_split_evenly_over_processes(monkeypatch):
    t = Trainer(TINY, synth_tensors(16, size=32, seed=0), progress=False)
    assert t.world == 1
    with pytest.raises(ValueError, match='is not divisible by 3 processes'):
        monkeypatch.setattr('sagan_nb.train.setup_distributed', lambda device: (0, 3))
        Trainer(TINY, synth_tensors(16, size=32, seed=0), progress=False)


def test_an_older_checkpoint_with_amp_off_loads_and_resumes_in_fp32(tmp_path):
    """Checkpoints and configs from before one precision vocabulary say `amp='off'`: they load, read as 'fp32', and resume
    in fp32; a new run's 'auto' on a CPU trains in fp32 too (`resolve_precision(..., training=True)`)."""
    from sagan_nb.config import config_from, load_checkpoint
    data = synth_tensors(16, size=32, seed=0)
    t = Trainer(replace(TINY, steps=2, ckpt_every=2), data, out_dir=tmp_path, progress=False)
    t.fit()
    assert (t.cfg.amp, t.precision) == ('auto', 'fp32')
    ck = torch.load(tmp_path / 'checkpoint.pt', weights_only=True)
    ck['config']['amp'] = 'off'; torch.save(ck, tmp_path / 'old.pt')
    cfg = config_from(load_checkpoint(tmp_path / 'old.pt'))
    assert cfg.amp == 'fp32'
    r = Trainer(replace(cfg, steps=3), data, resume=tmp_path / 'old.pt', progress=False)
    r.fit()
    assert (r.step, r.precision, r.amp) == (3, 'fp32', False)

# ---- the process group and its backend ---------------------------------------------------------------------------
def test_process_group_backend_follows_the_runs_device(monkeypatch):
    """Under torchrun on a machine with a GPU, a CPU run joins its group with gloo and leaves the GPU alone (the code of
    before asked for NCCL and `set_device(LOCAL_RANK)` whenever CUDA existed: CPU DDP broke on any GPU machine)."""
    import inspect
    from sagan_nb import train
    seen = {}
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    monkeypatch.setattr(torch.cuda, 'set_device', lambda d: seen.setdefault('set_device', d))
    monkeypatch.setattr(dist, 'is_nccl_available', lambda: True)
    monkeypatch.setattr(dist, 'init_process_group', lambda backend=None, **k: seen.setdefault('backend', backend))
    monkeypatch.setattr(dist, 'is_initialized', lambda: 'backend' in seen)
    monkeypatch.setattr(dist, 'get_rank', lambda: 1); monkeypatch.setattr(dist, 'get_world_size', lambda: 2)
    for k, v in dict(WORLD_SIZE='2', RANK='1', LOCAL_RANK='1', LOCAL_WORLD_SIZE='2').items(): monkeypatch.setenv(k, v)
    args = [torch.device('cpu')] if inspect.signature(train.setup_distributed).parameters else []
    assert train.setup_distributed(*args) == (1, 2)
    assert seen == {'backend': 'gloo'}, seen
    seen.clear()                                            # a GPU run with a GPU for each process: NCCL, on its own GPU
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '1'); monkeypatch.setenv('LOCAL_RANK', '0')
    if args: train.setup_distributed(torch.device('cuda', 0)); assert seen == {'set_device': torch.device('cuda', 0), 'backend': 'nccl'}

def test_torchrun_with_one_process_trains_through_ddp(monkeypatch, tmp_path):
    """`torchrun --nproc_per_node 1` rehearses the multi-process path: a process group (gloo on a CPU run) and DDP-wrapped
    networks (before, DDP wrapped only for more than one process), with the same numbers as a plain run."""
    from torch.nn.parallel import DistributedDataParallel as DDP
    env = dict(WORLD_SIZE='1', RANK='0', LOCAL_RANK='0', LOCAL_WORLD_SIZE='1', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(_free_port()))
    for k, v in env.items(): monkeypatch.setenv(k, v)
    data = synth_tensors(16, size=32, seed=0)
    try:
        t = Trainer(TINY, data, out_dir=tmp_path, progress=False)
        assert dist.is_initialized() and dist.get_backend() == 'gloo' and (t.rank, t.world) == (0, 1)
        assert isinstance(t.G_run, DDP) and isinstance(t.D_run, DDP)
        t.fit()
        assert (tmp_path / 'checkpoint.pt').exists()
    finally:
        if dist.is_initialized(): dist.destroy_process_group()
    for k in env: monkeypatch.delenv(k)
    plain = Trainer(TINY, data, progress=False); plain.fit()
    assert not isinstance(plain.G_run, DDP)
    torch.testing.assert_close(torch.tensor(t.history['g_loss']), torch.tensor(plain.history['g_loss']), rtol=1e-5, atol=1e-7)

def test_the_trainer_leaves_the_process_group_it_made_and_no_other(monkeypatch):
    """The trainer joins the torchrun group when it is made, so it leaves it: `close()` / the end of `with` (before, the
    command line destroyed the trainer's group itself, and no other caller did); a group its caller made stays."""
    env = dict(WORLD_SIZE='1', RANK='0', LOCAL_RANK='0', LOCAL_WORLD_SIZE='1', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(_free_port()))
    for k, v in env.items(): monkeypatch.setenv(k, v)
    data = synth_tensors(16, size=32, seed=0)
    try:
        with Trainer(TINY, data, progress=False) as t: assert dist.is_initialized() and t.world == 1
        assert not dist.is_initialized()
        monkeypatch.setenv('MASTER_PORT', str(_free_port()))
        dist.init_process_group('gloo')                                     # the caller's own group
        with Trainer(TINY, data, progress=False) as t: assert t.world == 1
        assert dist.is_initialized()
    finally:
        if dist.is_initialized(): dist.destroy_process_group()

RANK0_SAVE_SCRIPT = """
import os, sys, time, torch
from pathlib import Path
from sagan_nb.synth import synth_tensors
from sagan_nb.config import TrainConfig
from sagan_nb.train import Trainer
torch.set_num_threads(1)
out = Path(sys.argv[2])
# A machine with a GPU, as far as the trainer can tell while it joins its group (torch's own optimisers would ask the
# missing GPU for its streams later, so only the set-up sees it); the run is on the CPU.
available, torch.cuda.is_available = torch.cuda.is_available, lambda: True
try: t = Trainer(TrainConfig(**eval(sys.argv[1])), synth_tensors(48, size=32, seed=2), out_dir=out, progress=False)
finally: torch.cuda.is_available = available
t.fit()
print('backend', torch.distributed.get_backend(), 'rank', t.rank, flush=True)
t.train_step()                                  # a step not yet in the history: save() has pending terms to flush
if t.rank == 0: t.save(out / 'rank0.pt'); (out / 'saved').touch()
else:                                           # the other process takes no part in the save
    for _ in range(600):
        if (out / 'saved').exists(): break
        time.sleep(0.1)
    else: sys.exit('process 0 did not finish a save of its own within 60 s')
torch.distributed.barrier(); torch.distributed.destroy_process_group()
"""

@pytest.mark.slow                      # one torchrun launch of 2 processes: 20-40 s
def test_cpu_ddp_on_a_gpu_machine_and_a_save_by_process_0_alone(tmp_path):
    """torchrun, 2 processes of a CPU run with `torch.cuda.is_available()` true: they join with gloo (before: NCCL, which
    fails), train, and process 0 saves alone a checkpoint with a step the history had not logged yet (before: the save
    summed the log over the processes, and waited for ever for the other)."""
    from dataclasses import asdict
    script = tmp_path / 'rank0.py'; script.write_text(RANK0_SAVE_SCRIPT)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr', '127.0.0.1',
           '--master_port', str(_free_port()), str(script), repr(asdict(TINY)), str(tmp_path / 'run')]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.stdout.count('backend gloo') == 2, r.stdout
    ck = torch.load(tmp_path / 'run' / 'rank0.pt', weights_only=True)
    assert ck['step'] == 4 and ck['history']['step'] == [1, 2, 3, 4]


# ---- the run folder: one owner (`Run`) -----------------------------------------------------------------------------
def test_a_run_folders_file_names_are_typed_in_run_only():
    "checkpoint.pt, log.json, data.json and samples/step_N.png are named by `Run` alone, in the package and in real_faces' train."
    from sagan_nb.train import Run
    src = {f.name: f.read_text() for f in (ROOT / 'sagan_nb').glob('*.py') if not f.name.startswith('_')}
    rf = (ROOT / 'tools' / 'real_faces.py').read_text(); i = rf.index('\ndef train(')
    src['real_faces.train'] = rf[i:rf.index('\ndef ', i + 1)]
    typed = {n: {f: s.count(n) for f, s in src.items() if n in s}
             for n in (f"'{Run.CHECKPOINT}'", f"'{Run.LOG}'", f"'{Run.DATA}'", f"'{Run.SAMPLES}'", "step_{")}
    assert typed == {n: {'train.py': 1} for n in typed}, typed

def _real_faces(monkeypatch, tmp_path):
    "tools/real_faces.py with synthetic faces for CelebA's, and its runs under `tmp_path`."
    import importlib.util
    spec = importlib.util.spec_from_file_location('real_faces', ROOT / 'tools' / 'real_faces.py')
    rf = importlib.util.module_from_spec(spec); spec.loader.exec_module(rf)
    faces = {'train': synth_tensors(24, size=rf.SIZE, seed=1), 'test': synth_tensors(8, size=rf.SIZE, seed=2)}
    monkeypatch.setattr(rf, 'faces', faces.__getitem__); monkeypatch.setattr(rf, 'RUNS', tmp_path)
    return rf

def test_real_faces_train_continues_its_run_through_the_run_folder(monkeypatch, tmp_path):
    """`tools/real_faces.py train` opens its folder with `Run.open(resume='auto')`: run again, it continues (the
    checkpoint read once), records its data, and a run of another architecture is refused with the old one whole."""
    import json
    from sagan_nb.train import Run
    from sagan_nb.errors import ConfigMismatchError
    rf = _real_faces(monkeypatch, tmp_path)
    over = dict(conv_dim=8, d_conv_dim=8, n_res=1, batch_size=8)
    opened, real_open = [], Run.open
    monkeypatch.setattr(Run, 'open', lambda self, *a, **k: opened.append(k.get('resume')) or real_open(self, *a, **k))
    rf.train('r', 'Smiling', 2, json.dumps(over))
    loads, load = [], torch.load
    monkeypatch.setattr(torch, 'load', lambda f, *a, **k: loads.append(f) or load(f, *a, **k))
    rf.train('r', 'Smiling', 3, json.dumps(over))
    run = Run(tmp_path / 'r')
    assert opened == ['auto', 'auto'] and loads == [run.checkpoint]
    ck = load(run.checkpoint, weights_only=True)
    assert ck['step'] == 3 and ck['history']['step'] == [1, 2, 3]
    assert run.recorded() == {'data_root': str(rf.ROOT), 'split': 'train', 'size': rf.SIZE}
    before = run.checkpoint.read_bytes()
    with pytest.raises(ConfigMismatchError, match='conv_dim'): rf.train('r', 'Smiling', 4, json.dumps({**over, 'conv_dim': 16}))
    assert run.checkpoint.read_bytes() == before

# ---- the batches and the waits of an iteration ---------------------------------------------------------------------
# The first four batches of `next_batch` for TINY (seed 3) on 20 synthetic faces (seed 0), as the trainer drew them
# before its draws went to the device in one packed copy (issue 27; recorded with the code of commit a4bdabb):
# (indices, flips, α). The third batch crosses an epoch's end.
STREAM = [
    ([6, 12, 3, 7, 1, 5, 8, 9], [0, 0, 1, 0, 1, 1, 1, 1],
     [0.5996986627578735, 0.12125527858734131, 0.11479580402374268, 0.26087963581085205, 0.8051719069480896,
      0.13936209678649902, 0.051551878452301025, 0.0666458010673523]),
    ([2, 17, 14, 11, 13, 19, 10, 4], [1, 1, 1, 1, 0, 0, 1, 1],
     [0.17471283674240112, 0.7561529874801636, 0.3795475363731384, 0.1581416130065918, 0.3795878291130066,
      0.4301472306251526, 0.9623028635978699, 0.7605790495872498]),
    ([15, 0, 18, 16, 16, 5, 14, 2], [0, 0, 1, 0, 0, 0, 0, 0],
     [0.6139526963233948, 0.8364155888557434, 0.06909877061843872, 0.06914466619491577, 0.04870283603668213,
      0.5283038020133972, 0.9243085384368896, 0.06365799903869629]),
    ([1, 11, 19, 12, 0, 3, 13, 4], [0, 1, 1, 1, 1, 0, 1, 0],
     [0.5728923082351685, 0.6743056178092957, 0.1622423529624939, 0.7759304046630859, 0.3832530379295349,
      0.25122910737991333, 0.5850470662117004, 0.708093523979187]),
]

def _expected(data, idx, flip):
    x = to_float(data.images[idx])
    return torch.where(torch.tensor(flip, dtype=torch.bool).view(-1, 1, 1, 1), x.flip(-1), x)

@pytest.mark.parametrize('rank', [None, 1])
def test_next_batch_draws_the_stream_it_drew_before(rank):
    "The same faces, flips, labels and α, bit for bit, as before the packed upload; process 1 of 2 gets rows 1::2."
    data = synth_tensors(20, size=32, seed=0)
    t = Trainer(TINY, data, progress=False)
    if rank is not None: t.rank, t.world = rank, 2
    rows = slice(rank, None, 2) if rank is not None else slice(None)
    col = data.attr_index(TINY.attribute)
    for idx, flip, alpha in STREAM:
        idx, flip, alpha = idx[rows], flip[rows], alpha[rows]
        x, c, a = t.next_batch()
        assert torch.equal(x, _expected(data, idx, flip))
        assert torch.equal(c, data.attrs[idx, col].float()) and torch.equal(a, torch.tensor(alpha))
    assert (t.epoch, t.cursor) == (1, 12)

def test_upload_is_one_exact_non_blocking_copy(monkeypatch):
    "On a GPU the draws travel packed in one int64 tensor, one `.to(device, non_blocking=True)`: α comes back bit for bit."
    t = Trainer(TINY, synth_tensors(20, size=32, seed=0), progress=False)
    idx, flip, alpha = torch.tensor(STREAM[0][0]), torch.tensor(STREAM[0][1]).bool(), torch.tensor(STREAM[0][2])
    alpha[0] = torch.finfo(torch.float32).tiny                     # and a denormal-edge value: the bits, not the number
    with counting() as calls: i, f, a = t._upload(idx, flip, alpha)
    assert torch.equal(i, idx) and torch.equal(f, flip) and a.dtype == torch.float32 and torch.equal(a, alpha)
    assert calls == {'to(device, non_blocking)': 1}, calls

# What waits for a GPU, as our code can ask for it: reading a value (`item`, `tolist`, `bool`, `float`, `int`), a
# data-dependent shape (`nonzero`), and a copy to or from a device (`to(device)`, `cuda`, `cpu`; a non-blocking
# `to` from pinned memory does not wait, and is counted apart). Only calls made from the package's own code count
# (torch's optimisers read their CPU step counters with `item`, which waits for nothing).
SYNCS = [(torch.Tensor, n) for n in ('item', 'tolist', 'nonzero', '__bool__', '__float__', '__int__', 'cuda', 'cpu', 'to')] \
        + [(torch, 'nonzero')]

class counting:
    "A context that counts the calls of `SYNCS` made from `sagan_nb/` code: {name: count}."
    def __enter__(self):
        self.calls, self.saved = {}, []
        for owner, name in SYNCS:
            orig = getattr(owner, name)
            def wrap(*a, _orig=orig, _name=name, **k):
                if f'{os.sep}sagan_nb{os.sep}' in sys._getframe(1).f_code.co_filename:
                    key = _name
                    if _name == 'to':
                        dev = any(isinstance(v, (torch.device, str)) for v in a[1:]) or 'device' in k
                        key = None if not dev else 'to(device, non_blocking)' if k.get('non_blocking') else 'to(device)'
                    if key: self.calls[key] = self.calls.get(key, 0) + 1
                return _orig(*a, **k)
            self.saved.append((owner, name, orig)); setattr(owner, name, wrap)
        return self.calls
    def __exit__(self, *exc):
        for owner, name, orig in reversed(self.saved): setattr(owner, name, orig)

@pytest.mark.parametrize('method', METHODS)
def test_an_iteration_waits_for_nothing(method, monkeypatch):
    """`train_step` of every method asks the device for no value, no data-dependent shape and no blocking copy (the code
    of before: four copies per batch, three of them blocking; `TwoWay`'s `nonzero` per call). The two-network baselines
    route as they do on a GPU (`TwoWay.route` 'select'; on a CPU 'auto' takes the exact subsets, where nothing waits)."""
    from sagan_nb.baselines import TwoWay
    if hasattr(TwoWay, 'route'): monkeypatch.setattr(TwoWay, 'route', 'select')
    t = Trainer(replace(TINY, method=method), synth_tensors(20, size=32, seed=0), progress=False)
    t.train_step()                                                    # a first step outside the count
    with counting() as calls: t.train_step(); t.train_step()
    assert calls == {}, calls
    assert len(t._pending) == 3                                       # the terms wait on the device, unread

def test_warmups_wait_once_whatever_their_length():
    "SaGAN's warm-ups read their losses at their end, not at every batch (before: two `.item()` per batch)."
    data, waits = synth_tensors(20, size=32, seed=0), {}
    for n in (2, 6):
        t = Trainer(replace(TINY, hparams=dict(amn_warmup=n, d_cls_warmup=n)), data, progress=False)
        with counting() as calls: t.method.warmup(t)
        waits[n] = sum(calls.values())
        assert [e.split(':')[0] for e in t.events] == ['critic attribute warm-up', 'AMN warm-up']
    assert waits[2] == waits[6] <= 8, waits                            # a few reads at each warm-up's end


# ---- it learns ---------------------------------------------------------------------------------------------------
# A tiny SaGAN (32×32 synthetic faces, narrow nets) trained on one CPU thread for about five minutes. Everything is the
# paper's except the sizes and the learning rate: at 2e-4 the attention mask leaves its early all-0 phase (the identity
# loss, λ2 = 100, closes it first) only after thousands of iterations; at 2e-3 within a few hundred.
# What holds at this budget, measured every 100 iterations from 700 to 1400 (seed 0): the mask and the change sit in
# the true beard region (outside/inside change 0.03–0.05), and a judge calls 28–72 % of the clean faces bearded
# after the edit against 4 % before (a single-attribute judge the tests had then). The judge is now the package's
# (`train_attribute_classifier`, 0.99 on No_Beard here): at 1000 iterations it calls 59 % of the clean faces bearded
# against 1 % before, 38 % of all edits right against 1 % of the inputs (the old judge: 44 % vs 7 %, 32 % vs 7 %).
# The judged rate oscillates (the GAN is far from converged) and removing a beard (repainting the noisy stubble with
# skin) lags adding one, so the thresholds are on "learned", not on "converged".
LEARN = TrainConfig(attribute='No_Beard', image_size=32, conv_dim=8, n_res=1, d_conv_dim=16, batch_size=16,
                    lr=2e-3, steps=1000, device='cpu', log_every=50, ckpt_every=10**9, sample_every=10**9, seed=0)

@pytest.mark.slow
def test_tiny_sagan_learns_to_edit_inside_the_region():
    "The package's judge (`sagan_nb.metrics`, trained apart from any GAN) sees the attribute appear in the edits, and the change stays in the true region."
    train, test = synth_tensors(2000, size=32, seed=0), synth_tensors(256, size=32, seed=99)
    col = test.attr_index(LEARN.attribute)
    judge = train_attribute_classifier(train, seed=0, device='cpu')
    judge_acc = classifier_accuracy(judge, test)[LEARN.attribute]
    assert judge_acc > 0.9, f'the judge itself is unreliable ({judge_acc:.3f})'
    t = Trainer(LEARN, train, progress=False)
    t.fit()
    G = t.G.eval()
    edit = lambda x, c: G(x, c).edited
    clean = test.subset(test.attrs[:, col] == 1)                     # No_Beard = 1: the edit adds a beard
    add, both = edit_metrics(edit, clean, LEARN.attribute, judge), edit_metrics(edit, test, LEARN.attribute, judge)
    with torch.no_grad(): mask = G.san(to_float(test.images))[:, 0]
    gt = test.masks[:, col]
    print(f"judge accuracy {judge_acc:.3f}; beard added: judged bearded {add['acc']:.3f} (inputs {add['acc_inputs']:.3f}); "
          f"both directions {both['acc']:.3f} (inputs {both['acc_inputs']:.3f}); mean change inside the true region "
          f"{both['mae_in']:.4f}, outside {both['mae_out']:.4f}; mask inside {mask[gt].mean():.3f}, outside "
          f"{mask[~gt].mean():.4f}; events {t.events}")
    assert add['acc_inputs'] < 0.1 and add['acc'] > add['acc_inputs'] + 0.2, add
    assert both['acc'] > both['acc_inputs'] + 0.15, both
    assert both['mae_out'] < 0.1 * both['mae_in'], both
    assert mask[gt].mean() > 5 * mask[~gt].mean()


@pytest.mark.slow                      # about two minutes of inductor compilation on CPU
def test_compiled_training_step_runs():
    "compile=True compiles the generator only: the gradient penalty's double backward cannot go through a compiled D."
    t = Trainer(replace(TINY, compile=True, steps=1), synth_tensors(16, size=32, seed=0), progress=False)
    t.fit()
    assert t.step == 1 and all(torch.isfinite(torch.tensor(v)).all() for v in t.history['g_loss'])
