"""Fingerprints of short training runs: proof that a refactoring changed no number.

    OMP_NUM_THREADS=1 .venv/bin/python tools/run_hashes.py > /tmp/after.json            # this working tree
    PYTHONPATH=/tmp/base OMP_NUM_THREADS=1 .venv/bin/python tools/run_hashes.py        # another checkout's package
    .venv/bin/python tools/run_hashes.py --compare /tmp/before.json /tmp/after.json      # which runs differ

Every registered method (SaGAN also with all its knobs on: both warm-ups, the low-passed attribute head, R1, the mask
priors) trains 3 iterations on 48 synthetic 32×32 faces on the CPU at a tiny width, in fp32 and, with `--bf16`, under
bf16 autocast too. For each run it prints the sha256 of the history, the events, a `samples()` grid and the G and D
state dicts (JSON, one key per run). Bit-identical on one machine and torch build; another CPU may round otherwise.
About a minute on one core (three with `--bf16`)."""
import hashlib, json, sys
from dataclasses import replace
import torch

NODOTS = dict(d_cls_warmup=2, amn_warmup=2, d_cls_weight=10.0, san_resize=1, amn_resize=1, mask_tv=1.0, mask_l1=0.1,
              cls_blur=1.0, id_mask_detach=1, r1_gamma=1.0)
RUNS = {'sagan': dict(method='sagan'), 'sagan_knobs': dict(method='sagan', hparams=NODOTS),
        'sagan_blur_gp': dict(method='sagan', hparams=dict(cls_blur=1.0, d_cls_warmup=2)),
        'stargan': dict(method='stargan'), 'cyclegan': dict(method='cyclegan'), 'resgan': dict(method='resgan')}

def _sha(b: bytes) -> str: return hashlib.sha256(b).hexdigest()[:16]

def _state_sha(sd: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(sd): h.update(k.encode()); h.update(sd[k].detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]

def _fp32_name(TrainConfig) -> str:
    "The config's name for fp32 training ('fp32' now; 'off' in checkouts from before one precision vocabulary)."
    try: TrainConfig(amp='fp32'); return 'fp32'
    except ValueError: return 'off'

def run_hashes(bf16: bool = False) -> dict:
    import sagan_nb                                               # registers every method
    from sagan_nb.config import TrainConfig
    from sagan_nb.synth import synth_tensors
    from sagan_nb.train import Trainer
    torch.set_num_threads(1)
    base = TrainConfig(attribute='Smiling', image_size=32, conv_dim=8, n_res=1, d_conv_dim=8, batch_size=8, steps=3,
                       device='cpu', log_every=1, ckpt_every=10**6, sample_every=10**6, seed=3)
    data = synth_tensors(48, size=32, seed=2)
    out = {'package': sagan_nb.__file__}
    for amp in [_fp32_name(TrainConfig)] + (['bf16'] if bf16 else []):
        for name, over in RUNS.items():
            t = Trainer(replace(base, amp=amp, **over), data, progress=False)
            t.fit()
            out[f'{name}/{"bf16" if amp == "bf16" else "fp32"}'] = dict(
                history=_sha(json.dumps(t.history, sort_keys=True).encode()), events=_sha(json.dumps(t.events).encode()),
                samples=_sha(t.samples().numpy().tobytes()), G=_state_sha(t.G.state_dict()), D=_state_sha(t.D.state_dict()))
    return out

def compare(a: dict, b: dict) -> list[str]:
    "The runs (and parts) that differ between two outputs, or are in one only."
    keys = sorted((set(a) | set(b)) - {'package'})
    return [f"{k}: {', '.join(p for p in ('history', 'events', 'samples', 'G', 'D') if a.get(k, {}).get(p) != b.get(k, {}).get(p))}"
            for k in keys if a.get(k) != b.get(k)]

if __name__ == '__main__':
    if sys.argv[1:2] == ['--compare']:
        diff = compare(*(json.load(open(p)) for p in sys.argv[2:4]))
        print('\n'.join(diff) or 'identical'); sys.exit(1 if diff else 0)
    print(json.dumps(run_hashes(bf16='--bf16' in sys.argv), indent=1))
