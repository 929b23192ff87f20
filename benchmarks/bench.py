#!/usr/bin/env python
"""SaGAN speed benchmark: FLOPs from the model, the machine's matmul rate, training and editing speed, memory,
the data pipeline and the project's CPU training recipe, for the plain fp32 eager path and the fast paths, side by
side in one run. Training is timed through the project's own `sagan_nb.train.Trainer.train_step`.

    python benchmarks/bench.py                      # CPU or GPU (auto), paper shape: 128x128, batch 16
    python benchmarks/bench.py --device cuda --json runs/bench_h100.json
    python benchmarks/bench.py --quick --json /tmp/b.json   # smoke run: 32x32, tiny model, seconds
    python benchmarks/bench.py --edit-configs none --train-configs none   # the celeba-cpu recipe's iteration only

Measures and writes the numbers as JSON (--json); `report.py` turns them into the table printed at the end
(rows: section, config, metric; columns: value, FLOP/s, % of matmul rate, goal, met?). See benchmarks/README.md.
"""
from __future__ import annotations
import argparse, contextlib, copy, datetime, json, math, os, platform, re, sys, time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
for _p in (HERE.parent, HERE):                   # the package, and timing.py / report.py beside this file
    if str(_p) not in sys.path: sys.path.insert(0, str(_p))

import torch
from torch.utils.flop_counter import FlopCounterMode
from sagan_nb.models import Generator, Discriminator, init_weights, count_flops
from sagan_nb.faces import FaceTensors
from sagan_nb.train import Trainer, TrainConfig
from sagan_nb.devices import cuda_settings, memory_format
from sagan_nb.budgets import get_budget
from timing import sync, time_fn, interleaved, PeakMemory, matmul_rate, matmul_fns, matmul_result
import report
import torch._dynamo
# each config × input shape × autocast state is its own compiled graph of Generator.forward: allow them all
for _k in ('cache_size_limit', 'recompile_limit', 'accumulated_cache_size_limit', 'accumulated_recompile_limit'):
    if hasattr(torch._dynamo.config, _k): setattr(torch._dynamo.config, _k, 256)

ATTR = 'Eyeglasses'             # the one attribute column of the stand-in faces (TrainConfig's default)
CPU = torch.device('cpu')

# ---------------------------------------------------------------------------------------------------------------
# configurations
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    "One way of running the networks."
    name: str
    bf16: bool = False              # torch.autocast(bfloat16)
    channels_last: bool = False     # models and inputs in channels_last
    compile: str | None = None      # torch.compile mode for the generator ('default', 'reduce-overhead', ...)
    freeze: bool = False            # inductor freezing (inference only: constant-folds weights, prepacks convs)
    fused_adam: bool = False        # Adam(fused=True)
    editor: bool = False            # edit only: through `sagan_nb.edit.Editor(device=...)` with all its defaults
    note: str = ''

    @property
    def dtype(self) -> str: return 'bf16' if self.bf16 else 'fp32'

EAGER = Config('eager_fp32', note='fp32, NCHW, eager: the straightforward version')
CONFIGS = {c.name: c for c in [
    EAGER,
    Config('channels_last', channels_last=True),
    Config('compile', compile='default'),
    Config('compile_freeze', compile='default', freeze=True, note='edit only'),
    Config('bf16', bf16=True),
    Config('bf16_cl', bf16=True, channels_last=True),
    Config('bf16_compile', bf16=True, compile='default'),
    Config('bf16_compile_freeze', bf16=True, compile='default', freeze=True, note='edit only'),
    # what a user gets without asking for anything: Editor().run at its default precision ('auto': bf16 where the
    # hardware has bf16 units, else fp32), no compile, results copied back to the CPU as float32
    Config('editor_default', editor=True, note="edit only: sagan_nb.edit.Editor's defaults"),
    # GPU fast paths: bf16 autocast + channels_last + compile; editing adds CUDA graphs (mode='reduce-overhead')
    Config('fast_cuda_train', bf16=True, channels_last=True, compile='default', fused_adam=True,
           note='G compiled, D eager (its gradient penalty needs double backward, which compile cannot do)'),
    Config('fast_cuda_edit', bf16=True, channels_last=True, compile='reduce-overhead', note='CUDA graphs'),
]}
DEFAULTS = {  # (edit configs, train configs) run by default on each device
    'cpu': (['eager_fp32', 'channels_last', 'compile', 'bf16', 'bf16_compile', 'editor_default'],   # *_freeze: no gain
            ['eager_fp32', 'compile', 'bf16', 'bf16_compile']),
    # bf16 (NCHW) is what the trainer runs by default on a GPU (`devices.memory_format`); bf16_cl measures channels_last
    'cuda': (['eager_fp32', 'bf16', 'bf16_cl', 'fast_cuda_edit', 'editor_default'],
             ['eager_fp32', 'bf16', 'bf16_cl', 'fast_cuda_train']),
}
QUICK = (['eager_fp32', 'channels_last', 'bf16', 'editor_default'], ['eager_fp32', 'bf16'])  # no compile: stays fast

# the project's CPU training recipes (sagan_nb.experiments budgets): (method, attribute) of the run timed
RECIPES = {'celeba-cpu': ('sagan', 'Smiling')}
QUICK_SHAPE = dict(image_size=32, conv_dim=8, d_conv_dim=8, batch_size=4)   # --quick: the recipe shrunk to this

def recipe_config(name: str) -> TrainConfig:
    "The recipe's `TrainConfig` as its runs use it on a CPU: eager fp32, NCHW (its 'auto' fields resolved so)."
    method, attribute = RECIPES[name]
    return replace(get_budget(name).config(method, attribute), device='cpu', amp='fp32', channels_last='off',
                   compile=False)

# ---------------------------------------------------------------------------------------------------------------
# models, stand-in data, FLOPs
# ---------------------------------------------------------------------------------------------------------------
def build(size: int, conv_dim: int, d_conv_dim: int, device='cpu', seed: int = 0):
    torch.manual_seed(seed)
    G = init_weights(Generator(conv_dim)).to(device)
    D = init_weights(Discriminator(size, d_conv_dim)).to(device)
    return G, D

def model_flops(size: int = 128, conv_dim: int = 32, d_conv_dim: int = 32) -> dict:
    "FLOPs (2 per multiply-add) of one generator forward (AMN+SAN) and one discriminator forward, per image (meta)."
    G, D = build(size, conv_dim, d_conv_dim, 'meta')
    x, c = torch.empty(1, 3, size, size, device='meta'), torch.ones(1, device='meta')
    return dict(generator=count_flops(G, x, c), discriminator=count_flops(D, x))

def fake_faces(n: int, size: int, attribute: str = ATTR) -> FaceTensors:
    "`n` random uint8 faces with one {0,1} attribute column, a stand-in for a decoded, cropped FaceTensors cache."
    g = torch.Generator().manual_seed(1)
    return FaceTensors(torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g),
                       (torch.rand(n, 1, generator=g) < 0.5).float(), (attribute,))

def trainer(tc: TrainConfig, n_faces: int) -> Trainer:
    "The project's `Trainer` for `tc` on `n_faces` stand-in faces (at least one batch)."
    return Trainer(tc, fake_faces(max(n_faces, tc.batch_size), tc.image_size, tc.attribute), progress=False)

def train_flops(tc: TrainConfig) -> dict:
    """FLOPs of one training iteration of `tc` (n_critic D steps + 1 G step: forward, backward and the gradient
    penalty's double backward): `FlopCounterMode` around one real `Trainer.train_step` on the CPU in fp32 (the count
    depends on shapes only, not on dtype or memory format). Costs one eager iteration (128², batch 16: ~15 s on 2 idle cores)."""
    tc = replace(tc, device='cpu', amp='fp32', channels_last='off', compile=False)
    tr = trainer(tc, tc.batch_size)
    with FlopCounterMode(display=False) as fc: tr.train_step()
    by_op = {str(k): int(v) for k, v in fc.get_flop_counts().get('Global', {}).items()}
    return dict(total=fc.get_total_flops(), by_op=by_op)

# ---------------------------------------------------------------------------------------------------------------
# derived numbers: FLOP/s against the matmul rate timed in the same rounds
# ---------------------------------------------------------------------------------------------------------------
def add_fractions(r: dict, mm: dict, ref: str, flops: int, t_med: float, t_clean: float | None):
    "FLOP/s as a fraction of the reference matmul rate timed in the same rounds (CPU: fp32, GPU: bf16), any dtype."
    r['frac_matmul'] = flops / t_med / mm[ref]['flops_per_s']
    if r['dtype'] in mm: r['frac_matmul_same_dtype'] = flops / t_med / mm[r['dtype']]['flops_per_s']
    # the same from the uncontended calls only (per-call cpu_share >= 0.9), where both have some
    clean = mm[ref]['clean_flops_per_s']
    r['frac_matmul_clean'] = flops / t_clean / clean if t_clean and clean else None

def add_floor(r: dict, mm_ref: dict, flops: int):
    """× FLOP floor: the iteration's time over its time at the reference matmul rate (iteration FLOPs / rate), over all
    calls and over the uncontended ones."""
    floor_s, clean_rate = flops / mm_ref['flops_per_s'], mm_ref['clean_flops_per_s']
    r['floor_ms'], r['x_floor'] = floor_s * 1e3, r['iter_ms'] / 1e3 / floor_s
    r['floor_clean_ms'] = clean_rate and flops / clean_rate * 1e3
    r['x_floor_clean'] = r['iter_clean_ms'] / r['floor_clean_ms'] if r['iter_clean_ms'] and clean_rate else None

def iteration_result(t: dict, flops: int, images: int) -> dict:
    "A training step's speed from its `interleaved` timing; `images`: real faces drawn per iteration."
    it = t['median']
    return dict(iter_ms=it * 1e3, iter_best_ms=t['best'] * 1e3, iters_per_s=1 / it,
                iter_clean_ms=t['median_clean'] and t['median_clean'] * 1e3, n_clean=t['n_clean'],
                images_per_s=images / it, flops_per_s=flops / it, cpu_share=t['cpu_share'], iters=t['n'])

# ---------------------------------------------------------------------------------------------------------------
# the benchmarks: every config is built and warmed up first, then all are timed round-robin together with the
# reference matmul, so that they share the machine's conditions (on a shared or throttled CPU they drift by ±30 %
# over minutes; a ratio to a matmul timed minutes apart would mean little)
# ---------------------------------------------------------------------------------------------------------------
def compiled(model, cfg: Config):
    "torch.compile with static shapes (batch 1 and batch B each get their own graph, no dynamic-shape kernels)."
    return torch.compile(model, mode=None if cfg.compile == 'default' else cfg.compile, dynamic=False,
                         options={'freezing': True} if cfg.freeze else None)

def edit_fns(cfg: Config, G, x1, xb, device):
    "(batch-1 edit, batch-B edit, dtype) for an editing config; `G` already on the device in its memory format."
    if cfg.editor:                  # the library's default path, as a user calls it
        from sagan_nb.edit import Editor
        ed = Editor(device=device).add(ATTR, G, x1.shape[-1])
        return (lambda: ed.run(x1, ATTR, 1).edited), (lambda: ed.run(xb, ATTR, 1).edited), ed.precision
    run = compiled(G, cfg) if cfg.compile else G
    def make(x):
        c = torch.ones(len(x), device=device)
        @torch.no_grad()
        def f():
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16): return run(x, c).edited
        return f
    return make(x1), make(xb), cfg.dtype

def bench_edit(names, args, device, G0, flops_g: int) -> tuple[dict, dict]:
    """Editing: the generator's forward under no_grad, at batch 1 (latency, images/s) and at --batch (images/s).
    Returns (results per config, the matmul timings taken in the same rounds)."""
    gen = torch.Generator().manual_seed(2)
    x1 = torch.rand(1, 3, args.size, args.size, generator=gen) * 2 - 1
    xb = torch.rand(args.batch, 3, args.size, args.size, generator=gen) * 2 - 1
    with torch.no_grad(): ref = G0.eval()(x1, torch.ones(1)).edited.to(device)
    f1s, fbs, res = {}, {}, {}
    for n in names:
        cfg = CONFIGS[n]
        log(f'edit: building {n} …')
        try:
            fmt = memory_format('on' if cfg.channels_last else 'off', device)     # the trainer's layouts
            G = copy.deepcopy(G0).eval().requires_grad_(False).to(device, memory_format=fmt)
            a1, ab = x1.to(device).contiguous(memory_format=fmt), xb.to(device).contiguous(memory_format=fmt)
            f1, fb, dtype = edit_fns(cfg, G, a1, ab, device)
            t0 = time.perf_counter()
            for _ in range(args.warmup + (2 if cfg.compile else 0)): f1()
            for _ in range(1 + (1 if cfg.compile else 0)): fb()
            sync(device)
            warm = time.perf_counter() - t0
            with PeakMemory(device) as mem:
                for _ in range(3): e1 = f1()
            err = (e1.float().to(ref.device) - ref).abs().max().item()
            f1s[n], fbs[n] = f1, fb
            res[n] = dict(config=n, dtype=dtype, editor=cfg.editor, warmup_s=warm, peak_mem_mb=mem.peak / 2 ** 20,
                          mem_how=mem.how, max_abs_err_vs_fp32=err)
        except Exception as e:
            res[n] = dict(config=n, error=f'{type(e).__name__}: {str(e)[:300]}'); log(f'  failed: {e}')
    log(f'edit: timing {len(f1s)} configs round-robin …')
    mm = matmul_fns(device, args.matmul_n)
    t1 = interleaved({**mm, **f1s}, device, args.rounds, max(1, args.edit_iters // args.rounds))
    tb = interleaved(fbs, device, max(1, args.rounds // 2), 1) if fbs else {}
    for n in f1s:
        t, b = t1[n], tb[n]
        res[n].update(latency_ms_b1=t['median'] * 1e3, latency_best_ms_b1=t['best'] * 1e3,
                      latency_clean_ms_b1=t['median_clean'] and t['median_clean'] * 1e3, n_clean=t['n_clean'],
                      images_per_s_b1=1 / t['median'], images_per_s_batch=args.batch / b['median'],
                      flops_per_s_b1=flops_g / t['median'], flops_per_s_batch=flops_g * args.batch / b['median'],
                      cpu_share=t['cpu_share'], iters=t['n'])
    return res, {k: matmul_result(t1[f'matmul_{k}'], args.matmul_n) for k in ('fp32', 'bf16')}

def train_config(args, device, cfg: Config) -> TrainConfig:
    "The benchmarked shape as a `TrainConfig` (the paper's hyper-parameters: TrainConfig's defaults) for `cfg`."
    return TrainConfig(attribute=ATTR, image_size=args.size, conv_dim=args.conv_dim, d_conv_dim=args.d_conv_dim,
                       batch_size=args.batch, device=str(device), amp='bf16' if cfg.bf16 else 'fp32',
                       channels_last='on' if cfg.channels_last else 'off', compile=False)

def step_fn(tr: Trainer):
    """`tr.train_step` as a callable -> (d_loss, g_loss). The trainer keeps each step's log row (a dozen numbers) until
    `fit` moves them to its history; the benchmark calls `train_step` alone and leaves them there, unread."""
    def step():
        t = tr.train_step()
        return t['d_loss'].detach(), t['g_loss'].detach()
    return step

def make_step(cfg: Config, args, device):
    "One iteration of `sagan_nb.train.Trainer.train_step` under `cfg`, as a callable -> (d_loss, g_loss)."
    tr = trainer(train_config(args, device, cfg), args.faces)
    # compile the generator only: TrainConfig(compile=True) would do the same (D stays eager: its gradient penalty
    # needs double backward, which torch.compile cannot do), but with torch.compile's defaults, not `compiled`'s
    if cfg.compile: tr.G_run = compiled(tr.G, cfg)
    if cfg.fused_adam:
        tr.g_opt = torch.optim.Adam(tr.G.parameters(), tr.cfg.lr, (tr.cfg.beta1, tr.cfg.beta2), fused=True)
        tr.d_opt = torch.optim.Adam(tr.D.parameters(), tr.cfg.lr, (tr.cfg.beta1, tr.cfg.beta2), fused=True)
    return step_fn(tr)

def warm_up(step, device, n: int) -> tuple[float, dict, bool]:
    "`n` untimed steps, then one more measured for memory: (warm-up seconds, PeakMemory result, losses finite)."
    t0 = time.perf_counter()
    for _ in range(n): step()
    sync(device)
    warm = time.perf_counter() - t0
    with PeakMemory(device) as mem: losses = [v.item() for v in step()]
    return warm, dict(peak_mem_mb=mem.peak / 2 ** 20, mem_how=mem.how), all(math.isfinite(v) for v in losses)

def bench_train(names, args, device, flops_it: int) -> tuple[dict, dict]:
    "Training iterations, all configs built and warmed up, then timed round-robin (one iteration each per round)."
    steps, res = {}, {}
    for n in names:
        cfg = CONFIGS[n]
        log(f'train: building {n}, {args.warmup} warmup iteration(s) …')
        try:
            steps[n] = make_step(cfg, args, device)
            warm, mem, finite = warm_up(steps[n], device, args.warmup)
            res[n] = dict(config=n, dtype=cfg.dtype, runner='sagan_nb.train.Trainer.train_step', warmup_s=warm,
                          **mem, losses_finite=finite)
        except Exception as e:
            steps.pop(n, None)
            res[n] = dict(config=n, error=f'{type(e).__name__}: {str(e)[:300]}'); log(f'  failed: {e}')
    log(f'train: timing {len(steps)} configs round-robin, {args.iters} iterations each …')
    mm = matmul_fns(device, args.matmul_n)
    t = interleaved({**mm, **steps}, device, args.iters, 1)
    n_critic = TrainConfig().n_critic
    for n in steps: res[n].update(iteration_result(t[n], flops_it, n_critic * args.batch))
    return res, {k: matmul_result(t[f'matmul_{k}'], args.matmul_n) for k in ('fp32', 'bf16')}

def bench_recipe(name: str, args) -> dict:
    """A CPU training recipe's iteration as its runs take it: eager fp32, one thread, `Trainer.train_step` alone (the
    recipe's warm-ups run once before training; they are not timed), timed round-robin with a one-thread fp32 matmul,
    against its FLOP floor (iteration FLOPs / that matmul's rate). --quick shrinks the recipe to `QUICK_SHAPE`."""
    tc = recipe_config(name)
    if args.quick: tc = replace(tc, **QUICK_SHAPE)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        log(f'recipe {name}: counting FLOPs, {args.warmup} warmup iteration(s) …')
        flops = train_flops(tc)['total']
        step = step_fn(trainer(tc, args.faces))
        warm, mem, finite = warm_up(step, CPU, args.warmup)
        log(f'recipe {name}: timing {args.iters} iterations, one thread …')
        t = interleaved({**matmul_fns(CPU, args.matmul_n, ('fp32',)), name: step}, CPU, args.iters, 1)
    finally: torch.set_num_threads(threads)
    mm = matmul_result(t['matmul_fp32'], args.matmul_n)
    r = dict(config=name, method=tc.method, attribute=tc.attribute, train_config=asdict(tc), shrunk=args.quick,
             dtype='fp32', threads=1, runner='sagan_nb.train.Trainer.train_step', flops=flops, warmup_s=warm, **mem,
             losses_finite=finite, matmul=mm, **iteration_result(t[name], flops, tc.n_critic * tc.batch_size))
    add_fractions(r, {'fp32': mm}, 'fp32', flops, r['iter_ms'] / 1e3, r['iter_clean_ms'] and r['iter_clean_ms'] / 1e3)
    add_floor(r, mm, flops)
    return r

def bench_data(args, device, cfg: Config) -> dict:
    """Batch assembly alone, as each D step does it (`Trainer.next_batch`): draw indices, gather from the uint8 cache,
    to_float on the device, random flips."""
    tc = replace(train_config(args, device, cfg), conv_dim=4, d_conv_dim=4, amp='fp32')   # models unused: small
    t = time_fn(trainer(tc, args.faces).next_batch, device, 50 if not args.quick else 10, 5)
    return dict(batch_ms=t['median'] * 1e3, batch_best_ms=t['best'] * 1e3, faces_cached=args.faces,
                runner='sagan_nb.train.Trainer.next_batch', cache_mb=args.faces * 3 * args.size ** 2 / 2 ** 20,
                cache_on=str(device) if device.type == 'cuda' else 'cpu')

def log(*a): print(*a, file=sys.stderr, flush=True)

# ---------------------------------------------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------------------------------------------
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', default='auto', choices=['auto', 'cpu', 'cuda'])
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--conv-dim', type=int, default=32, help='generator width (paper: 32)')
    p.add_argument('--d-conv-dim', type=int, default=32, help='discriminator width (paper: 32)')
    p.add_argument('--iters', type=int, default=None, help='timed training iterations (default: 3 on CPU, 50 on GPU)')
    p.add_argument('--edit-iters', type=int, default=None, help='timed batch-1 edits (default: 30 on CPU, 200 on GPU)')
    p.add_argument('--rounds', type=int, default=None, help='round-robin rounds for the edit timings (default 5 CPU, 10 GPU)')
    p.add_argument('--warmup', type=int, default=None, help='untimed calls before timing (default: 1 on CPU, 10 on GPU)')
    p.add_argument('--faces', type=int, default=None, help='faces in the uint8 cache (default 2048; quick 64)')
    p.add_argument('--matmul-n', type=int, default=None, help='side of the square matmul (default 2048 CPU, 8192 GPU)')
    p.add_argument('--edit-configs', default=None, help=f'comma list from {sorted(CONFIGS)}; "none" skips')
    p.add_argument('--train-configs', default=None, help='comma list, as --edit-configs')
    p.add_argument('--recipes', default=None, help=f'CPU training recipes to time, comma list from {sorted(RECIPES)}; '
                   '"none" skips (default: all on a CPU run, none on a GPU run; --quick: shrunk to 32², widths 8, batch 4)')
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: all; --quick: 1)')
    p.add_argument('--quick', action='store_true',
                   help='smoke run: 32×32, conv_dim 8, batch 4, 2 iterations, no compile, 1 CPU thread')
    p.add_argument('--json', default=None, help='write the results here')
    args = p.parse_args(argv)
    args.device = torch.device('cuda' if args.device == 'auto' and torch.cuda.is_available() else
                               'cpu' if args.device == 'auto' else args.device)
    defaults(args)
    args.edit_names, args.train_names = choose(p, args)
    return args

def defaults(args):
    "Fill the options left unset, by device and --quick."
    cuda = args.device.type == 'cuda'
    if args.quick:
        args.size, args.conv_dim, args.d_conv_dim, args.batch = 32, 8, 8, 4
        args.iters, args.edit_iters, args.warmup = args.iters or 2, args.edit_iters or 4, args.warmup or 1
        args.rounds = args.rounds or 2
        args.faces, args.matmul_n = args.faces or 64, args.matmul_n or 256
        # one thread: tiny ops on 2 threads wait a whole scheduler slice per op when other processes share the cores
        args.threads = args.threads or 1
    args.iters = args.iters or (50 if cuda else 3)
    args.edit_iters = args.edit_iters or (200 if cuda else 30)
    args.warmup = args.warmup if args.warmup is not None else (10 if cuda else 1)
    args.rounds = args.rounds or (10 if cuda else 5)
    args.faces = args.faces or 2048
    args.matmul_n = args.matmul_n or (8192 if cuda else 2048)
    if args.recipes is None: args.recipes = 'none' if cuda else ','.join(RECIPES)

def choose(p, args) -> tuple[list, list]:
    "(edit configs, train configs) to run; unknown names, or a training run of an editing config, are refused."
    edit_names, train_names = QUICK if args.quick else DEFAULTS[args.device.type]
    if args.edit_configs: edit_names = [] if args.edit_configs == 'none' else args.edit_configs.split(',')
    if args.train_configs: train_names = [] if args.train_configs == 'none' else args.train_configs.split(',')
    args.recipes = [] if args.recipes == 'none' else args.recipes.split(',')
    for n in edit_names + train_names:
        if n not in CONFIGS: p.error(f'unknown config {n!r}; known: {", ".join(CONFIGS)}')
    for n in train_names:
        if CONFIGS[n].editor: p.error(f'{n!r} is an editing config (sagan_nb.edit.Editor); it has no training step')
    for n in args.recipes:
        if n not in RECIPES: p.error(f'unknown recipe {n!r}; known: {", ".join(RECIPES)}')
    return list(edit_names), list(train_names)

def _cpu_name():
    with contextlib.suppress(Exception):
        return re.search(r'model name\s*:\s*(.*)', Path('/proc/cpuinfo').read_text()).group(1)

def run_meta(args) -> dict:
    device = args.device
    saved = {k: (str(v) if k == 'device' else v) for k, v in vars(args).items()}
    return dict(date=datetime.datetime.now().astimezone().isoformat(timespec='seconds'), torch=torch.__version__,
                python=platform.python_version(), device=str(device),
                device_name=torch.cuda.get_device_name(device) if device.type == 'cuda' else (_cpu_name() or platform.processor()),
                threads=torch.get_num_threads(), cpu_capability=torch.backends.cpu.get_cpu_capability(),
                loadavg_start=os.getloadavg(), args=saved)

def count_flops_section(args) -> dict:
    "FLOPs from the model at the benchmarked shape and at the paper's; the iteration's only when training is timed."
    mf, paper = model_flops(args.size, args.conv_dim, args.d_conv_dim), model_flops(128, 32, 32)
    out = dict(size=args.size, batch=args.batch, generator_forward=mf['generator'], discriminator_forward=mf['discriminator'],
               train_iteration=None, train_by_op=None,
               paper_128=dict(generator_forward=paper['generator'], discriminator_forward=paper['discriminator']))
    if args.train_names:
        tf = train_flops(train_config(args, CPU, EAGER))
        out.update(train_iteration=tf['total'], train_by_op=tf['by_op'])
        if (args.size, args.batch, args.conv_dim, args.d_conv_dim) == (128, 16, 32, 32):
            out['paper_128']['train_iteration_b16'] = tf['total']
    return out

def main(argv=None) -> dict:
    args = parse_args(argv)
    device, cuda = args.device, args.device.type == 'cuda'
    if args.threads: torch.set_num_threads(args.threads)
    t_start = time.time()
    res = dict(meta=run_meta(args))
    # CUDA's library settings as the trainer has them (`devices.cuda_settings`: cuDNN autotuning on, TF32 off; the
    # environment variables SAGAN_NB_CUDNN_BENCHMARK / SAGAN_NB_TF32 turn them), for every config, editing included
    res['meta']['cuda_settings'] = cuda_settings(device)

    # 1. matmul rate, alone (fp32 on CPU is the reference, bf16 on GPU; the other dtype is measured too). The edit and
    #    train sections time the same matmuls again in their rounds, and their '% matmul' uses those.
    log(f'matmul rate ({args.matmul_n}³) …')
    ref = 'bf16' if cuda else 'fp32'
    res['matmul'] = dict(reference=ref, alone={k: matmul_rate(device, dt, args.matmul_n)
                                               for k, dt in (('fp32', torch.float32), ('bf16', torch.bfloat16))})
    # 2. FLOPs from the model
    log('counting FLOPs …')
    res['flops'] = f = count_flops_section(args)
    # 3. editing
    res['edit'] = {}
    if args.edit_names:
        res['edit'], mm = bench_edit(args.edit_names, args, device, build(args.size, args.conv_dim, args.d_conv_dim)[0],
                                     f['generator_forward'])
        res['matmul']['edit_rounds'] = mm
        for r in res['edit'].values():
            if 'error' in r: continue
            add_fractions(r, mm, ref, f['generator_forward'], r['latency_ms_b1'] / 1e3,
                          r['latency_clean_ms_b1'] and r['latency_clean_ms_b1'] / 1e3)
        torch._dynamo.reset()
    # 4. training, through the project's Trainer
    res['train'] = {}
    if args.train_names:
        res['train'], mm = bench_train(args.train_names, args, device, f['train_iteration'])
        res['matmul']['train_rounds'] = mm
        for r in res['train'].values():
            if 'error' in r: continue
            add_fractions(r, mm, ref, f['train_iteration'], r['iter_ms'] / 1e3, r['iter_clean_ms'] and r['iter_clean_ms'] / 1e3)
            add_floor(r, mm[ref], f['train_iteration'])
    # 5. the CPU training recipes: eager fp32, one thread, against their own FLOP floor
    res['recipe'] = {}
    for n in args.recipes:
        try: res['recipe'][n] = bench_recipe(n, args)
        except Exception as e:
            res['recipe'][n] = dict(config=n, error=f'{type(e).__name__}: {str(e)[:300]}'); log(f'  failed: {e}')
    # 6. data pipeline
    log('data: batch assembly …')
    res['data'] = bench_data(args, device, CONFIGS[args.train_names[0]] if args.train_names else EAGER)
    ok_train = [r for r in res['train'].values() if 'error' not in r]
    if ok_train:
        fastest = min(ok_train, key=lambda r: r['iter_ms'])
        n_critic = TrainConfig().n_critic
        res['data'].update(per_iteration_ms=n_critic * res['data']['batch_ms'], fastest_iteration_config=fastest['config'],
                           fraction_of_fastest_iteration=n_critic * res['data']['batch_ms'] / fastest['iter_ms'])

    res['goals'] = report.goals(res)
    res['meta']['loadavg_end'] = os.getloadavg()
    res['meta']['wall_s'] = time.time() - t_start
    print(report.table(res))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
        log(f'wrote {args.json}')
    return res

if __name__ == '__main__':
    main()
