"""Round-trip a notebook to a percent-format script and back (an authoring aid; the notebook stays the source).

    python tools/nbpy.py to-nb  nbs/00_faces.py   # writes nbs/00_faces.ipynb (outputs dropped)
    python tools/nbpy.py to-py  nbs/00_faces.ipynb  # writes nbs/00_faces.py

Cells are separated by `# %%` lines; `# %% [markdown]` starts a markdown cell whose lines are `# `-prefixed;
`# %% tags=["parameters"]` gives a code cell tags (papermill's parameters cell).
The `.py` scratch files are git-ignored: edit, convert back, delete.
"""
import sys, json, re
from pathlib import Path
import nbformat

def py2nb(src: Path) -> Path:
    cells, kind, buf, tags = [], None, [], []
    def flush():
        if kind is None: return
        while buf and not buf[-1].strip(): buf.pop()
        while buf and not buf[0].strip(): buf.pop(0)
        if kind == 'md':
            text = '\n'.join(l[2:] if l.startswith('# ') else l[1:] if l.startswith('#') else l for l in buf)
            cells.append(nbformat.v4.new_markdown_cell(text))
        else:
            cells.append(nbformat.v4.new_code_cell('\n'.join(buf)))
            if tags: cells[-1].metadata['tags'] = list(tags)
    for line in Path(src).read_text().splitlines():
        if line.startswith('# %%'):
            flush(); buf.clear()
            kind = 'md' if '[markdown]' in line else 'code'
            m = re.search(r'tags=(\[.*\])', line)
            tags[:] = json.loads(m.group(1)) if m else []
        else:
            if kind is None: kind = 'code'
            buf.append(line)
    flush()
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}}
    nb.nbformat_minor = 4  # no cell ids: stable diffs
    for c in nb.cells: c.pop('id', None)
    out = Path(src).with_suffix('.ipynb')
    nbformat.write(nb, out, version=4)
    return out

def nb2py(src: Path) -> Path:
    nb = nbformat.read(src, as_version=4)
    parts = []
    for c in nb.cells:
        if c.cell_type == 'markdown':
            parts.append('# %% [markdown]\n' + '\n'.join(('# ' + l) if l else '#' for l in c.source.splitlines()))
        else:
            tags = c.get('metadata', {}).get('tags')
            parts.append('# %%' + (f' tags={json.dumps(tags)}' if tags else '') + '\n' + c.source)
    out = Path(src).with_suffix('.py')
    out.write_text('\n\n'.join(parts) + '\n')
    return out

if __name__ == '__main__':
    cmd, *files = sys.argv[1:]
    for f in files: print({'to-nb': py2nb, 'to-py': nb2py}[cmd](Path(f)))
