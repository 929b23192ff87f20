"""CelebA under torchrun (issue 27, item 6): two processes asking for the same faces decode them once.

Each process of a `torchrun` run loads its data before the trainer joins them in a process group. `load_celeba` now
decodes a cache file under a lock beside it: the first process decodes and writes the cache, the other waits, then
reads it. Both cases are run as torchrun runs them (2 processes, gloo), on a tiny fake CelebA tree, with the decode
counted in each process and slowed down so that the two ask at the same moment:
- with a `cache_dir`, the gloo group already up (a barrier lines the two up before they load);
- without a `cache_dir` and without a group, as `sagan_nb train --data-root` loads (`WORLD_SIZE` is 2: the faces go
  through `default_cache_dir()`, here `$SAGAN_NB_CACHE`; a file rendezvous lines the two up).
Before the change both cases decoded twice (measured: 2 decodes, one per process)."""
import hashlib, json, os, socket, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
from PIL import Image
from sagan_nb.celeba import ATTR_FILE, IDENTITY_FILE, IMAGE_DIR, PARTITION_FILE
from sagan_nb.faces import CELEBA_ATTRIBUTES

SCRIPT = r"""
import hashlib, json, os, sys, time
from pathlib import Path
import torch, torch.distributed as dist
import sagan_nb.celeba as celeba
from sagan_nb.synth import load_faces
torch.set_num_threads(1)
root, out, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
rank, world = int(os.environ['RANK']), int(os.environ['WORLD_SIZE'])
decodes, _decode = [], celeba.decode_images
def counted(*a, **k):                               # the loader's decode, counted and slowed down
    decodes.append(1); time.sleep(2); return _decode(*a, **k)
celeba.decode_images = counted
if mode == 'group':                                 # the group up first; both leave the barrier together
    dist.init_process_group('gloo'); dist.barrier()
    faces = load_faces(root, 'train', size=32, cache_dir=out / 'cache', progress=False)
else:                                               # as the command line loads: no group yet, no cache_dir
    (out / f'ready{rank}').touch()
    while not all((out / f'ready{r}').exists() for r in range(world)): time.sleep(0.01)
    faces = load_faces(root, 'train', size=32, progress=False)
digest = hashlib.sha256(faces.images.numpy().tobytes()).hexdigest()
(out / f'rank{rank}.json').write_text(json.dumps(dict(decodes=len(decodes), digest=digest, n=len(faces))))
if dist.is_initialized(): dist.barrier(); dist.destroy_process_group()
"""


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def fake_celeba(root: Path, n: int = 24) -> Path:
    "A CelebA folder in the official layout: n 178×218 JPEGs, attributes, identities (4 faces a person), partition."
    (root / IMAGE_DIR).mkdir(parents=True)
    rng = np.random.default_rng(0)
    vals = np.where(rng.random((n, 40)) < 0.5, ' 1', '-1')
    (root / ATTR_FILE).write_text(f"{n}\n{' '.join(CELEBA_ATTRIBUTES)}\n" +
                                  ''.join(f"{i + 1:06d}.jpg {' '.join(v)}\n" for i, v in enumerate(vals)))
    (root / IDENTITY_FILE).write_text(''.join(f"{i + 1:06d}.jpg {i // 4}\n" for i in range(n)))
    (root / PARTITION_FILE).write_text(''.join(f"{i + 1:06d}.jpg 0\n" for i in range(n)))
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)).save(root / IMAGE_DIR / f"{i + 1:06d}.jpg")
    return root


@pytest.mark.slow                      # two torchrun launches of 2 processes each, every process importing torch
@pytest.mark.parametrize('mode', ['group', 'no_cache_dir'])
def test_two_torchrun_processes_decode_celeba_once(tmp_path, mode):
    root = fake_celeba(tmp_path / 'celeba')
    out = tmp_path / 'out'; out.mkdir()
    script = tmp_path / 'load.py'; script.write_text(SCRIPT)
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'SAGAN_NB_CACHE': str(tmp_path / 'default_cache')}
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr', '127.0.0.1',
           '--master_port', str(_free_port()), str(script), str(root), str(out), mode]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    ranks = [json.loads((out / f'rank{k}.json').read_text()) for k in range(2)]
    assert [x['decodes'] for x in ranks] in ([1, 0], [0, 1]), ranks       # once in all, by whichever came first
    assert ranks[0]['digest'] == ranks[1]['digest'] and ranks[0]['n'] == ranks[1]['n'] > 0
    cache = out / 'cache' if mode == 'group' else tmp_path / 'default_cache'
    (only,) = cache.iterdir()                                       # the cache, and no lock file left beside it
    assert only.name.startswith('celeba-train-32px-') and only.suffix == '.pt'
