"""Issue 13's detection rate: `find_faces` on every LFW photo under DATA_ROOT/lfw (the 7,701 of View 2 in the shared
copy), at the default upsampling, and again at 2 for the photos where it finds none (what `edit_photo` does).

    python tools/lfw_detect.py nbs/measured/lfw_detection.json     # one thread, ~10-20 minutes of one core
"""
import os, sys, json, time
os.environ.setdefault('OMP_NUM_THREADS', '1')
from pathlib import Path
ROOT = Path(os.environ.get('DATA_ROOT', Path(__file__).resolve().parents[1].parent / 'shared' / 'data'))

def main(out):
    from PIL import Image
    import numpy as np
    from sagan_nb.photos import find_faces
    photos = sorted((ROOT / 'lfw' / 'lfw').glob('*/*.jpg'))
    rows, t0 = [], time.perf_counter()
    for k, p in enumerate(photos):
        a = np.asarray(Image.open(p).convert('RGB'))
        t = time.perf_counter(); n1 = len(find_faces(a)); t1 = time.perf_counter() - t
        n2, t2 = None, 0.0
        if not n1: t = time.perf_counter(); n2 = len(find_faces(a, upsample=2)); t2 = time.perf_counter() - t
        rows.append((p.relative_to(ROOT / 'lfw' / 'lfw').as_posix(), n1, n2, t1, t2))
        if k % 500 == 0: print(k, len(photos), f'{time.perf_counter() - t0:.0f} s', flush=True)
    n = len(rows)
    miss1 = [r[0] for r in rows if not r[1]]
    miss2 = [r[0] for r in rows if not r[1] and not r[2]]
    res = dict(photos=n, size=list(Image.open(photos[0]).size), found_upsample1=n - len(miss1), found_with_retry=n - len(miss2),
               rate_upsample1=(n - len(miss1)) / n, rate_with_retry=(n - len(miss2)) / n,
               several_faces=sum(1 for r in rows if (r[1] or r[2] or 0) > 1),
               seconds_per_photo_upsample1=sum(r[3] for r in rows) / n,
               seconds_per_photo_with_retry=sum(r[3] + r[4] for r in rows) / n,
               missed_upsample1=miss1, missed_with_retry=miss2,
               machine='x86_64 CPU, one thread, beside two training runs', dlib='dlib-bin 20, HOG frontal detector + 5-point model')
    Path(out).write_text(json.dumps(res, indent=1))
    print({k: v for k, v in res.items() if not k.startswith('missed')})

if __name__ == '__main__':
    main(*sys.argv[1:])
