"""Edit a notebook's cells in place, in one quick read-modify-write (safe when several people edit one notebook).

    python tools/nbcell.py list NB                  # index, kind, first line of every cell
    python tools/nbcell.py show NB I                # cell I's source
    python tools/nbcell.py sub NB OLD NEW           # replace the text OLD (exactly one match in all cells) by NEW
    python tools/nbcell.py set NB I FILE            # cell I's source := FILE's text
    python tools/nbcell.py insert NB I FILE [md]    # a new code (or markdown) cell from FILE before cell I (-1: at the end)
    python tools/nbcell.py delete NB I              # remove cell I
    python tools/nbcell.py split NB I LINE          # cell I split in two before its line number LINE (0-based)

OLD/NEW/FILE may be '@path' (read from that file) for multi-line text. Outputs are left as they are."""
import fcntl, json, sys
from pathlib import Path

def _text(a): return Path(a[1:]).read_text() if a.startswith('@') else a

def main(op, nb, *a):
    with open(nb + '.lock', 'w') as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        d = json.loads(Path(nb).read_text()); cells = d['cells']
        src = lambda c: ''.join(c['source'])
        def put(c, s): c['source'] = s.splitlines(True)
        def new(s, md=False):
            c = {'cell_type': 'markdown', 'metadata': {}, 'source': []} if md else \
                {'cell_type': 'code', 'execution_count': None, 'metadata': {}, 'outputs': [], 'source': []}
            put(c, s.rstrip('\n')); return c
        if op == 'list':
            for i, c in enumerate(cells): print(i, c['cell_type'][:2], (src(c).splitlines() or [''])[0][:100])
            return
        if op == 'show': print(src(cells[int(a[0])])); return
        if op == 'sub':
            old, nw = _text(a[0]), _text(a[1])
            hits = [c for c in cells if old in src(c)]
            n = sum(src(c).count(old) for c in hits)
            if n != 1: sys.exit(f'{n} matches of the text in {nb}')
            put(hits[0], src(hits[0]).replace(old, nw))
        elif op == 'set': put(cells[int(a[0])], _text('@' + a[1]).rstrip('\n'))
        elif op == 'insert':
            i = int(a[0]); c = new(_text('@' + a[1]), md=len(a) > 2 and a[2] == 'md')
            cells.insert(len(cells) if i == -1 else i, c)
        elif op == 'delete': cells.pop(int(a[0]))
        elif op == 'split':
            i, k = int(a[0]), int(a[1]); lines = src(cells[i]).splitlines(True)
            first, second = ''.join(lines[:k]).rstrip('\n'), ''.join(lines[k:])
            put(cells[i], first); cells.insert(i + 1, {**new(second), 'cell_type': cells[i]['cell_type']}
                                              if cells[i]['cell_type'] == 'code' else new(second, md=True))
        else: sys.exit(__doc__)
        tmp = Path(nb + '.tmp'); tmp.write_text(json.dumps(d, indent=1, ensure_ascii=False) + '\n'); tmp.replace(nb)

if __name__ == '__main__': main(*sys.argv[1:])
