"Training beyond the notebook's quick checks: DDP on CPU (gloo, 2 processes) and a tiny run that really learns."
import json, os, socket, subprocess, sys
from dataclasses import replace
from pathlib import Path
import pytest, torch
from sagan_nb.synth import synth_tensors
from sagan_nb.train import TrainConfig, Trainer

TINY = TrainConfig(attribute='Smiling', image_size=32, conv_dim=8, n_res=1, d_conv_dim=8, batch_size=8,
                   steps=3, device='cpu', log_every=1, ckpt_every=3, sample_every=1000, seed=3)

DDP_SCRIPT = """
import sys, torch
from dataclasses import replace
from sagan_nb.synth import synth_tensors
from sagan_nb.train import TrainConfig, Trainer
torch.set_num_threads(1)
cfg = TrainConfig(**eval(sys.argv[1]))
t = Trainer(cfg, synth_tensors(48, size=32, seed=2), out_dir=sys.argv[2], progress=False)
t.fit()
"""

def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def test_ddp_two_processes_match_one(tmp_path):
    "torchrun with 2 gloo processes, each on half of every batch, trains the same weights as one process."
    from dataclasses import asdict
    script = tmp_path / 'ddp.py'; script.write_text(DDP_SCRIPT)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr', '127.0.0.1',
           '--master_port', str(_free_port()), str(script), repr(asdict(TINY)), str(tmp_path / 'ddp')]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    ddp = torch.load(tmp_path / 'ddp' / 'checkpoint.pt', weights_only=True)
    torch.set_num_threads(1)
    one = Trainer(TINY, synth_tensors(48, size=32, seed=2), progress=False)
    one.fit()
    assert ddp['step'] == one.step == 3
    for k, v in one.G.state_dict().items():
        torch.testing.assert_close(ddp['G'][k], v, rtol=1e-3, atol=1e-4, msg=k)
    torch.testing.assert_close(torch.tensor(ddp['history']['g_loss']), torch.tensor(one.history['g_loss']), rtol=1e-3, atol=1e-4)
    # and the weights did move: the comparison is not between two untrained nets
    fresh = Trainer(TINY, synth_tensors(48, size=32, seed=2), progress=False)
    assert any((fresh.G.state_dict()[k] - v).abs().max() > 1e-4 for k, v in one.G.state_dict().items())

def test_batch_must_split_evenly_over_processes(monkeypatch):
    t = Trainer(TINY, synth_tensors(16, size=32, seed=0), progress=False)
    assert t.world == 1
    with pytest.raises(ValueError, match='is not divisible by 3 processes'):
        monkeypatch.setattr('sagan_nb.train.setup_distributed', lambda: (0, 3))
        Trainer(TINY, synth_tensors(16, size=32, seed=0), progress=False)
