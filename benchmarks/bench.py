#!/usr/bin/env python
"""SaGAN speed benchmark: FLOPs from the model, the machine's matmul rate, training and editing speed, memory,
and the data pipeline, for the plain fp32 eager path and the fast paths, side by side in one run.

    python benchmarks/bench.py                      # CPU or GPU (auto), paper shape: 128x128, batch 16
    python benchmarks/bench.py --device cuda --json runs/bench_h100.json
    python benchmarks/bench.py --quick --json /tmp/b.json   # smoke run: 32x32, tiny model, a few seconds

Prints one table (rows: section, config, metric; columns: value, FLOP/s, % of matmul rate, goal, met?) and writes the
same numbers as JSON. See benchmarks/README.md for what each number means.
"""
from __future__ import annotations
import argparse, contextlib, copy, ctypes, datetime, json, math, os, platform, re, statistics, sys, time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))

import torch
from torch.utils.flop_counter import FlopCounterMode
from sagan_nb.models import Generator, Discriminator, init_weights, count_flops
from sagan_nb.losses import d_loss, g_loss
from sagan_nb.faces import FaceTensors, to_float
try: from sagan_nb.train import Trainer, TrainConfig      # the project's trainer: timed where it can be
except ImportError: Trainer = TrainConfig = None
import torch._dynamo
# each config × input shape × autocast state is its own compiled graph of Generator.forward: allow them all
for _k in ('cache_size_limit', 'recompile_limit', 'accumulated_cache_size_limit', 'accumulated_recompile_limit'):
    if hasattr(torch._dynamo.config, _k): setattr(torch._dynamo.config, _k, 256)

N_CRITIC = 3                    # discriminator steps per generator step (paper / trainer)
ATTR = 'Eyeglasses'             # the one attribute column of the stand-in faces (TrainConfig's default)
LR, BETAS = 2e-4, (0.5, 0.999)  # Adam (paper Sec. 3)

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
    cuda_graph: bool = False        # train: capture the whole iteration (3 D + 1 G steps, batch assembly, Adam) once
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
    Config('graph_cuda_train', bf16=True, channels_last=True, fused_adam=True, cuda_graph=True,
           note='eager kernels, the whole iteration replayed as one CUDA graph (no per-kernel launch cost)'),
]}
DEFAULTS = {  # (edit configs, train configs) run by default on each device
    'cpu': (['eager_fp32', 'channels_last', 'compile', 'bf16', 'bf16_compile', 'editor_default'],   # *_freeze: no gain
            ['eager_fp32', 'compile', 'bf16', 'bf16_compile']),
    'cuda': (['eager_fp32', 'bf16_cl', 'fast_cuda_edit', 'editor_default'],
             ['eager_fp32', 'bf16_cl', 'fast_cuda_train', 'graph_cuda_train']),  # the graph one last: a failed capture
                                                                                 # can leave the device unusable
}
QUICK = (['eager_fp32', 'channels_last', 'bf16', 'editor_default'], ['eager_fp32', 'bf16'])  # no compile: stays fast

# ---------------------------------------------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------------------------------------------
def sync(device: torch.device):
    if device.type == 'cuda': torch.cuda.synchronize(device)

def time_fn(fn, device: torch.device, iters: int, warmup: int) -> dict:
    """Run `fn` `warmup` times, then time `iters` calls one by one (synchronised). Returns seconds: median, best,
    mean, warmup_s (all warmup calls: includes compilation), and cpu_share = process CPU time / (wall × threads)
    over the timed calls: on a CPU run it falls well below 1 when other processes take the cores (each parallel
    region then waits for a descheduled thread), so CPU numbers with cpu_share < ~0.85 are contended, not the
    machine's speed. median_clean: the median over the calls whose own cpu_share was >= 0.9 (None if none were)."""
    t0 = time.perf_counter()
    for _ in range(warmup): fn()
    sync(device)
    warm = time.perf_counter() - t0
    ts, shares, c0, w0 = [], [], time.process_time(), time.perf_counter()
    nt = torch.get_num_threads()
    for _ in range(iters):
        c, t = time.process_time(), time.perf_counter()
        fn(); sync(device)
        ts.append(time.perf_counter() - t); shares.append((time.process_time() - c) / ts[-1] / nt)
    wall = time.perf_counter() - w0
    clean = [t for t, sh in zip(ts, shares) if sh >= 0.9]
    return dict(median=statistics.median(ts), best=min(ts), mean=statistics.fmean(ts), n=iters, warmup_s=warm,
                cpu_share=(time.process_time() - c0) / wall / nt,
                median_clean=statistics.median(clean) if clean else None, n_clean=len(clean))

def _proc_status(key: str) -> int | None:
    try: return int(re.search(rf'^{key}:\s+(\d+) kB', Path('/proc/self/status').read_text(), re.M).group(1)) * 1024
    except Exception: return None

class PeakMemory:
    """Peak memory of the `with` block above its start, in bytes (`.peak`).
    CUDA: torch.cuda.max_memory_allocated() − memory_allocated() at entry (tensors only, not the caching pool).
    CPU: peak resident set size − RSS at entry, the peak (VmHWM) reset at entry by writing 5 to /proc/self/clear_refs
    after malloc_trim(0) gives freed heap back; where that is unavailable, the growth of getrusage's ru_maxrss."""
    def __init__(self, device: torch.device): self.device, self.peak, self.how = device, None, None
    def __enter__(self):
        if self.device.type == 'cuda':
            sync(self.device); torch.cuda.reset_peak_memory_stats(self.device)
            self.base = torch.cuda.memory_allocated(self.device); self.how = 'cuda.max_memory_allocated'
            return self
        with contextlib.suppress(Exception): ctypes.CDLL('libc.so.6').malloc_trim(0)
        try:
            Path('/proc/self/clear_refs').write_text('5')
            self.base, self.how = _proc_status('VmRSS'), 'VmHWM-VmRSS(reset)'
            if self.base is None: raise OSError
        except Exception:
            import resource
            self.base, self.how = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, 'ru_maxrss delta'
        return self
    def __exit__(self, *exc):
        if self.device.type == 'cuda':
            sync(self.device); self.peak = torch.cuda.max_memory_allocated(self.device) - self.base
        elif self.how.startswith('VmHWM'): self.peak = _proc_status('VmHWM') - self.base
        else:
            import resource
            self.peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - self.base
        return False

def matmul_rate(device: torch.device, dtype: torch.dtype, n: int, reps: int = 10) -> dict:
    "FLOP/s of an n³ square matmul (2n³ FLOPs), best of `reps` after a warmup, all threads."
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    t = time_fn(lambda: a @ b, device, reps, 2)
    return dict(n=n, dtype=str(dtype).replace('torch.', ''), best_s=t['best'], median_s=t['median'],
                best_flops_per_s=2 * n ** 3 / t['best'], flops_per_s=2 * n ** 3 / t['median'], cpu_share=t['cpu_share'])

# ---------------------------------------------------------------------------------------------------------------
# FLOPs, counted from the model (cheap: meta tensors, no arithmetic)
# ---------------------------------------------------------------------------------------------------------------
def build(size: int, conv_dim: int, d_conv_dim: int, device='cpu', seed: int = 0):
    torch.manual_seed(seed)
    G = init_weights(Generator(conv_dim)).to(device)
    D = init_weights(Discriminator(size, d_conv_dim)).to(device)
    return G, D

def model_flops(size: int = 128, conv_dim: int = 32, d_conv_dim: int = 32) -> dict:
    "FLOPs (2 per multiply-add) of one generator forward (AMN+SAN) and one discriminator forward, per image."
    G, D = build(size, conv_dim, d_conv_dim, 'meta')
    x, c = torch.empty(1, 3, size, size, device='meta'), torch.ones(1, device='meta')
    return dict(generator=count_flops(G, x, c), discriminator=count_flops(D, x))

def train_flops(size: int = 128, batch: int = 16, conv_dim: int = 32, d_conv_dim: int = 32) -> dict:
    """FLOPs of one training iteration (3 D steps + 1 G step) counted by FlopCounterMode over a real iteration
    (forward, backward and the gradient penalty's double backward), run on meta tensors. Same count as on a real
    device (tests/test_bench.py checks this at a small size)."""
    G, D = build(size, conv_dim, d_conv_dim, 'meta')
    loop = TrainLoop(G, D, fake_faces(4 * batch, size, 'meta'), batch, torch.device('meta'), EAGER)
    with FlopCounterMode(display=False) as fc: loop.step()
    by_op = {str(k): int(v) for k, v in fc.get_flop_counts().get('Global', {}).items()}
    return dict(total=fc.get_total_flops(), by_op=by_op)

# ---------------------------------------------------------------------------------------------------------------
# data: decoded faces cached as uint8, floats made on the device batch by batch (as the trainer does)
# ---------------------------------------------------------------------------------------------------------------
def fake_faces(n: int, size: int, device='cpu') -> FaceTensors:
    "`n` random uint8 faces with one {0,1} attribute, a stand-in for a decoded, cropped FaceTensors cache."
    if str(device) == 'meta':
        return _meta_faces(torch.empty(n, 3, size, size, dtype=torch.uint8, device='meta'), torch.empty(n, 1, device='meta'))
    g = torch.Generator().manual_seed(1)
    return FaceTensors(torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g),
                       (torch.rand(n, 1, generator=g) < 0.5).float(), (ATTR,))

def _meta_faces(imgs, attrs):
    f = object.__new__(FaceTensors)  # FaceTensors' checks read dtypes/shapes only, but skip them for meta tensors
    f.images, f.attrs, f.attr_names, f.names, f.identities, f.masks = imgs, attrs, (ATTR,), [], None, None
    return f

class TrainLoop:
    """One SaGAN training iteration as `sagan_nb.train.Trainer.train_step` runs it: `N_CRITIC` discriminator steps,
    each on a fresh batch (fake = G(real, 1−c) under no_grad; d_loss with gradient penalty; Adam), then one generator
    step on the last batch with D frozen (g_loss; Adam). Batches come from uint8 faces held on the device."""
    def __init__(self, G, D, faces: FaceTensors, batch: int, device: torch.device, cfg: Config):
        self.G, self.D, self.batch, self.device, self.cfg = G, D, batch, device, cfg
        self.fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.images = faces.images.to(device)                      # uint8 [N,3,S,S] on the device
        self.labels = faces.attrs[:, 0].float().to(device)
        self.G.to(device, memory_format=self.fmt); self.D.to(device, memory_format=self.fmt)
        fused, cap = (True if cfg.fused_adam else None), cfg.cuda_graph   # capturable: Adam's step count on the GPU
        self.g_opt = torch.optim.Adam(G.parameters(), LR, BETAS, fused=fused, capturable=cap)
        self.d_opt = torch.optim.Adam(D.parameters(), LR, BETAS, fused=fused, capturable=cap)
        self.G_run = compiled(G, cfg) if cfg.compile else G
        self.D_run = D  # never compiled: the gradient penalty's double backward is not supported by torch.compile
        self.graph = None

    def autocast(self):
        if self.device.type == 'meta' or not self.cfg.bf16: return contextlib.nullcontext()
        # under CUDA graph capture autocast's cast cache must be off (PyTorch CUDA graphs docs, "Usage with AMP")
        return torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=not self.cfg.cuda_graph)

    def next_batch(self):
        "Batch assembly: random indices, gather uint8, to float in [-1,1] on the device, random flips."
        n, b = len(self.images), self.batch
        idx = torch.randint(0, n, (b,), device=self.device)
        x = to_float(self.images[idx])
        flip = (torch.rand(b, device=self.device) < 0.5).view(-1, 1, 1, 1)
        x = torch.where(flip, x.flip(-1), x).contiguous(memory_format=self.fmt)
        return x, self.labels[idx], torch.rand(b, device=self.device)

    def step(self):
        if self.cfg.cuda_graph: return self.graph_step()
        return self.eager_step()

    def graph_step(self):
        "PyTorch's whole-network capture recipe: warm up on a side stream, capture one iteration, then replay it."
        if self.graph is None:
            s = torch.cuda.Stream(self.device)
            s.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(s):
                for _ in range(3): self.eager_step()
            torch.cuda.current_stream(self.device).wait_stream(s)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph): self.static_out = self.eager_step()  # random draws replay fresh
        self.graph.replay()
        return self.static_out

    def eager_step(self):
        for _ in range(N_CRITIC):
            x, c, alpha = self.next_batch()
            with torch.no_grad(), self.autocast(): fake = self.G_run(x, 1 - c).edited
            with self.autocast(): dl = d_loss(self.D_run, x, fake, c, alpha)
            self.d_opt.zero_grad(set_to_none=True)
            dl['loss'].backward()
            self.d_opt.step()
        self.D.requires_grad_(False)
        try:
            with self.autocast(): gl, _ = g_loss(self.G_run, self.D, x, c, 1 - c)
            self.g_opt.zero_grad(set_to_none=True)
            gl['loss'].backward()
            self.g_opt.step()
        finally: self.D.requires_grad_(True)
        return dl['loss'].detach(), gl['loss'].detach()

# ---------------------------------------------------------------------------------------------------------------
# the benchmarks: every config is built and warmed up first, then all are timed round-robin together with the
# reference matmul, so that they share the machine's conditions (on a shared or throttled CPU they drift by ±30 %
# over minutes; a ratio to a matmul timed minutes apart would mean little)
# ---------------------------------------------------------------------------------------------------------------
def compiled(model, cfg: Config):
    "torch.compile with static shapes (batch 1 and batch B each get their own graph, no dynamic-shape kernels)."
    return torch.compile(model, mode=None if cfg.compile == 'default' else cfg.compile, dynamic=False,
                         options={'freezing': True} if cfg.freeze else None)

def interleaved(fns: dict, device, rounds: int, per_round: int) -> dict:
    """Time each of `fns` (already warmed up) `per_round` calls at a time, cycling over them `rounds` times.
    Returns per name what `time_fn` does."""
    raw = {k: ([], []) for k in fns}
    nt = torch.get_num_threads()
    for _ in range(rounds):
        for k, f in fns.items():
            for _ in range(per_round):
                c, t = time.process_time(), time.perf_counter()
                f(); sync(device)
                dt = time.perf_counter() - t
                raw[k][0].append(dt); raw[k][1].append((time.process_time() - c) / dt / nt)
    out = {}
    for k, (ts, sh) in raw.items():
        clean = [t for t, s in zip(ts, sh) if s >= 0.9]
        out[k] = dict(median=statistics.median(ts), best=min(ts), mean=statistics.fmean(ts), n=len(ts),
                      cpu_share=sum(t * s for t, s in zip(ts, sh)) / sum(ts),
                      median_clean=statistics.median(clean) if clean else None, n_clean=len(clean))
    return out

def matmul_fns(device, n: int) -> dict:
    g = torch.Generator(device=device).manual_seed(0)
    out = {}
    for k, dt in (('fp32', torch.float32), ('bf16', torch.bfloat16)):
        a = torch.randn(n, n, device=device, dtype=dt, generator=g)
        out[f'matmul_{k}'] = (lambda a=a: a @ a)
        out[f'matmul_{k}']()
    return out

def matmul_result(t: dict, n: int) -> dict:
    return dict(n=n, median_s=t['median'], best_s=t['best'], flops_per_s=2 * n ** 3 / t['median'],
                best_flops_per_s=2 * n ** 3 / t['best'], cpu_share=t['cpu_share'],
                clean_flops_per_s=t['median_clean'] and 2 * n ** 3 / t['median_clean'], n_clean=t['n_clean'])

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
            fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
            G = copy.deepcopy(G0).eval().requires_grad_(False).to(device, memory_format=fmt)
            a1, ab = x1.to(device).contiguous(memory_format=fmt), xb.to(device).contiguous(memory_format=fmt)
            dtype = cfg.dtype
            if cfg.editor:                  # the library's default path, as a user calls it
                from sagan_nb.edit import Editor
                ed = Editor(device=device).add(ATTR, G, args.size)
                dtype = ed.precision        # what 'auto' resolved to on this machine
                f1, fb = (lambda: ed.run(a1, ATTR, 1).edited), (lambda: ed.run(ab, ATTR, 1).edited)
            else:
                run = compiled(G, cfg) if cfg.compile else G
                c1, cb = torch.ones(1, device=device), torch.ones(args.batch, device=device)
                def make(run, x, c, bf16):
                    @torch.no_grad()
                    def f():
                        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16): return run(x, c).edited
                    return f
                f1, fb = make(run, a1, c1, cfg.bf16), make(run, ab, cb, cfg.bf16)
            t0 = time.perf_counter()
            for _ in range(args.warmup + (2 if cfg.compile else 0)): f1()
            for _ in range(1 + (1 if cfg.compile else 0)): fb()
            sync(device)
            warm = time.perf_counter() - t0
            with PeakMemory(device) as mem:
                for _ in range(3): e1 = f1()
            err = (e1.float().to(ref.device) - ref).abs().max().item()
            f1s[n], fbs[n] = f1, fb
            res[n] = dict(config=n, dtype=dtype, warmup_s=warm, peak_mem_mb=mem.peak / 2 ** 20, mem_how=mem.how,
                          max_abs_err_vs_fp32=err)
        except Exception as e:
            res[n] = dict(config=n, error=f'{type(e).__name__}: {str(e)[:300]}'); log(f'  failed: {e}')
    log(f'edit: timing {len(f1s)} configs round-robin …')
    mm = matmul_fns(device, args.matmul_n)
    per = max(1, args.edit_iters // args.rounds)
    t1 = interleaved({**mm, **f1s}, device, args.rounds, per)
    tb = interleaved(fbs, device, max(1, args.rounds // 2), 1) if fbs else {}
    for n in f1s:
        t, b = t1[n], tb[n]
        res[n].update(latency_ms_b1=t['median'] * 1e3, latency_best_ms_b1=t['best'] * 1e3,
                      latency_clean_ms_b1=t['median_clean'] and t['median_clean'] * 1e3, n_clean=t['n_clean'],
                      images_per_s_b1=1 / t['median'], images_per_s_batch=args.batch / b['median'],
                      flops_per_s_b1=flops_g / t['median'], flops_per_s_batch=flops_g * args.batch / b['median'],
                      cpu_share=t['cpu_share'], iters=t['n'])
    return res, {k: matmul_result(t1[f'matmul_{k}'], args.matmul_n) for k in ('fp32', 'bf16')}

def make_step(cfg: Config, args, device):
    """One training iteration as a callable -> (d_loss, g_loss), and what runs it. `sagan_nb.train.Trainer.train_step`
    where the trainer is importable (and --loop is not 'own'); the bench's `TrainLoop` (the same iteration) for the
    CUDA-graph config, whose whole iteration must stay on the GPU (the trainer draws indices on the CPU)."""
    if Trainer is None or args.loop == 'own' or cfg.cuda_graph:
        G, D = build(args.size, args.conv_dim, args.d_conv_dim)
        loop = TrainLoop(G, D, fake_faces(args.faces, args.size), args.batch, device, cfg)
        return loop.step, 'benchmarks TrainLoop'
    tc = TrainConfig(attribute=ATTR, image_size=args.size, conv_dim=args.conv_dim, d_conv_dim=args.d_conv_dim,
                     batch_size=args.batch, n_critic=N_CRITIC, lr=LR, beta1=BETAS[0], beta2=BETAS[1], device=str(device),
                     amp='bf16' if cfg.bf16 else 'off', channels_last='on' if cfg.channels_last else 'off', compile=False)
    tr = Trainer(tc, fake_faces(args.faces, args.size), progress=False)
    # compile the generator only: TrainConfig(compile=True) also compiles D, whose gradient penalty needs double
    # backward, which torch.compile cannot do (RuntimeError at the first D step)
    if cfg.compile: tr.G_run = compiled(tr.G, cfg)
    if cfg.fused_adam:
        tr.g_opt = torch.optim.Adam(tr.G.parameters(), LR, BETAS, fused=True)
        tr.d_opt = torch.optim.Adam(tr.D.parameters(), LR, BETAS, fused=True)
    def step():
        t = tr.train_step()
        tr._pending.clear()           # the trainer's per-step log rows, flushed by fit(); not needed here
        return t['d_loss'].detach(), t['g_loss'].detach()
    return step, 'sagan_nb.train.Trainer.train_step'

def bench_train(names, args, device, flops_it: int) -> tuple[dict, dict]:
    "Training iterations, all configs built and warmed up, then timed round-robin (one iteration each per round)."
    steps, res = {}, {}
    for n in names:
        cfg = CONFIGS[n]
        log(f'train: building {n}, {args.warmup} warmup iteration(s) …')
        try:
            step, runner = make_step(cfg, args, device)
            t0 = time.perf_counter()
            for _ in range(args.warmup): step()
            sync(device)
            warm = time.perf_counter() - t0
            with PeakMemory(device) as mem: losses = [v.item() for v in step()]
            steps[n] = step
            res[n] = dict(config=n, dtype=cfg.dtype, runner=runner, warmup_s=warm, peak_mem_mb=mem.peak / 2 ** 20,
                          mem_how=mem.how, losses_finite=all(math.isfinite(v) for v in losses))
        except Exception as e:
            res[n] = dict(config=n, error=f'{type(e).__name__}: {str(e)[:300]}'); log(f'  failed: {e}')
    log(f'train: timing {len(steps)} configs round-robin, {args.iters} iterations each …')
    mm = matmul_fns(device, args.matmul_n)
    t = interleaved({**mm, **steps}, device, args.iters, 1)
    for n in steps:
        it = t[n]['median']
        res[n].update(iter_ms=it * 1e3, iter_best_ms=t[n]['best'] * 1e3, iters_per_s=1 / it,
                      iter_clean_ms=t[n]['median_clean'] and t[n]['median_clean'] * 1e3, n_clean=t[n]['n_clean'],
                      images_per_s=N_CRITIC * args.batch / it, flops_per_s=flops_it / it, cpu_share=t[n]['cpu_share'],
                      iters=t[n]['n'])
    return res, {k: matmul_result(t[f'matmul_{k}'], args.matmul_n) for k in ('fp32', 'bf16')}

def bench_data(args, device, cfg: Config) -> dict:
    """Batch assembly alone, as each D step does it: draw indices, gather from the uint8 cache, to_float on the device,
    random flips. `Trainer.next_batch` where the trainer is importable, else the bench's `TrainLoop.next_batch`."""
    faces = fake_faces(args.faces, args.size)
    if Trainer is not None and args.loop != 'own':
        tc = TrainConfig(attribute=ATTR, image_size=args.size, conv_dim=4, d_conv_dim=4, batch_size=args.batch,
                         device=str(device), amp='off', channels_last='on' if cfg.channels_last else 'off')
        fn, runner = Trainer(tc, faces, progress=False).next_batch, 'sagan_nb.train.Trainer.next_batch'
    else:
        G, D = build(args.size, 4, 4)  # unused, TrainLoop wants models
        fn, runner = TrainLoop(G, D, faces, args.batch, device, cfg).next_batch, 'benchmarks TrainLoop.next_batch'
    t = time_fn(fn, device, 50 if not args.quick else 10, 5)
    return dict(batch_ms=t['median'] * 1e3, batch_best_ms=t['best'] * 1e3, faces_cached=args.faces, runner=runner,
                cache_mb=args.faces * 3 * args.size ** 2 / 2 ** 20,
                cache_on=str(device) if device.type == 'cuda' or runner.startswith('bench') else 'cpu')

def log(*a): print(*a, file=sys.stderr, flush=True)

# ---------------------------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------------------------
def fmt_si(v, unit=''):
    if v is None: return ''
    for p, s in ((1e12, 'T'), (1e9, 'G'), (1e6, 'M'), (1e3, 'k')):
        if abs(v) >= p: return f'{v / p:.3g} {s}{unit}'
    return f'{v:.3g} {unit}'

def main(argv=None) -> dict:
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
    p.add_argument('--loop', default='trainer', choices=['trainer', 'own'],
                   help="time sagan_nb.train.Trainer.train_step (default, where importable) or the bench's TrainLoop")
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: all; --quick: 1)')
    p.add_argument('--quick', action='store_true',
                   help='smoke run: 32×32, conv_dim 8, batch 4, 2 iterations, no compile, 1 CPU thread')
    p.add_argument('--json', default=None, help='write the results here')
    args = p.parse_args(argv)

    device = torch.device('cuda' if args.device == 'auto' and torch.cuda.is_available() else
                          'cpu' if args.device == 'auto' else args.device)
    cuda = device.type == 'cuda'
    if cuda: torch.backends.cudnn.benchmark = True   # let cuDNN time its conv algorithms once per shape (all configs)
    if args.quick:
        args.size, args.conv_dim, args.d_conv_dim, args.batch = 32, 8, 8, 4
        args.iters, args.edit_iters, args.warmup = args.iters or 2, args.edit_iters or 4, args.warmup or 1
        args.rounds = args.rounds or 2
        args.faces, args.matmul_n = args.faces or 64, args.matmul_n or 256
        # one thread: tiny ops on 2 threads wait a whole scheduler slice per op when other processes share the cores
        args.threads = args.threads or 1
    if args.threads: torch.set_num_threads(args.threads)
    args.iters = args.iters or (50 if cuda else 3)
    args.edit_iters = args.edit_iters or (200 if cuda else 30)
    args.warmup = args.warmup if args.warmup is not None else (10 if cuda else 1)
    args.rounds = args.rounds or (10 if cuda else 5)
    args.faces = args.faces or 2048
    args.matmul_n = args.matmul_n or (8192 if cuda else 2048)
    edit_names, train_names = QUICK if args.quick else DEFAULTS[device.type]
    if args.edit_configs: edit_names = [] if args.edit_configs == 'none' else args.edit_configs.split(',')
    if args.train_configs: train_names = [] if args.train_configs == 'none' else args.train_configs.split(',')
    for n in edit_names + train_names:
        if n not in CONFIGS: p.error(f'unknown config {n!r}; known: {", ".join(CONFIGS)}')
    for n in train_names:
        if CONFIGS[n].editor: p.error(f'{n!r} is an editing config (sagan_nb.edit.Editor); it has no training step')

    t_start = time.time()
    res = dict(meta=dict(
        date=datetime.datetime.now().astimezone().isoformat(timespec='seconds'), torch=torch.__version__,
        python=platform.python_version(), device=str(device),
        device_name=torch.cuda.get_device_name(device) if cuda else (_cpu_name() or platform.processor()),
        threads=torch.get_num_threads(), cpu_capability=torch.backends.cpu.get_cpu_capability(),
        loadavg_start=os.getloadavg(), args=vars(args).copy()))

    # 1. matmul rate, alone (fp32 on CPU is the reference, bf16 on GPU; the other dtype is measured too). The edit and
    #    train sections time the same matmuls again in their rounds, and their '% matmul' uses those.
    log(f'matmul rate ({args.matmul_n}³) …')
    ref_dtype = 'bf16' if cuda else 'fp32'
    res['matmul'] = dict(reference=ref_dtype, alone={k: matmul_rate(device, dt, args.matmul_n)
                                                     for k, dt in (('fp32', torch.float32), ('bf16', torch.bfloat16))})

    # 2. FLOPs from the model: at the benchmarked shape, and at the paper's (128, conv_dim 32, batch 16)
    log('counting FLOPs …')
    mf, tf = model_flops(args.size, args.conv_dim, args.d_conv_dim), train_flops(args.size, args.batch, args.conv_dim, args.d_conv_dim)
    paper = model_flops(128, 32, 32)
    res['flops'] = dict(size=args.size, batch=args.batch, generator_forward=mf['generator'],
                        discriminator_forward=mf['discriminator'], train_iteration=tf['total'], train_by_op=tf['by_op'],
                        paper_128=dict(generator_forward=paper['generator'], discriminator_forward=paper['discriminator']))
    if args.size == 128 and args.batch == 16 and args.conv_dim == 32: res['flops']['paper_128']['train_iteration_b16'] = tf['total']

    def fractions(r, mm, flops, t_med, t_clean):
        "FLOP/s as a fraction of the reference matmul rate timed in the same rounds (CPU: fp32, GPU: bf16), any dtype."
        ref = mm[ref_dtype]
        r['frac_matmul'] = flops / t_med / ref['flops_per_s']
        r['frac_matmul_same_dtype'] = flops / t_med / mm[r['dtype']]['flops_per_s']
        # the same from the uncontended calls only (per-call cpu_share >= 0.9), where both have some
        r['frac_matmul_clean'] = (flops / t_clean / ref['clean_flops_per_s']) if t_clean and ref['clean_flops_per_s'] else None

    # 3. editing
    res['edit'] = {}
    if edit_names:
        G0, _ = build(args.size, args.conv_dim, args.d_conv_dim)
        res['edit'], mm = bench_edit(edit_names, args, device, G0, mf['generator'])
        res['matmul']['edit_rounds'] = mm
        for r in res['edit'].values():
            if 'error' not in r:
                fractions(r, mm, mf['generator'], r['latency_ms_b1'] / 1e3,
                          r['latency_clean_ms_b1'] and r['latency_clean_ms_b1'] / 1e3)
        torch._dynamo.reset()

    # 4. training
    res['train'] = {}
    if train_names:
        res['train'], mm = bench_train(train_names, args, device, tf['total'])
        res['matmul']['train_rounds'] = mm
        floor_s = tf['total'] / mm[ref_dtype]['flops_per_s']   # the iteration's time at the reference matmul rate
        clean_rate = mm[ref_dtype]['clean_flops_per_s']
        for r in res['train'].values():
            if 'error' in r: continue
            fractions(r, mm, tf['total'], r['iter_ms'] / 1e3, r['iter_clean_ms'] and r['iter_clean_ms'] / 1e3)
            r['floor_ms'], r['x_floor'] = floor_s * 1e3, r['iter_ms'] / 1e3 / floor_s
            r['floor_clean_ms'] = clean_rate and tf['total'] / clean_rate * 1e3
            r['x_floor_clean'] = r['iter_clean_ms'] / r['floor_clean_ms'] if r['iter_clean_ms'] and clean_rate else None

    # 5. data pipeline
    log('data: batch assembly …')
    res['data'] = bench_data(args, device, CONFIGS[train_names[0]] if train_names else EAGER)
    ok_train = [r for r in res['train'].values() if 'error' not in r]
    if ok_train:
        fastest = min(ok_train, key=lambda r: r['iter_ms'])
        res['data']['per_iteration_ms'] = N_CRITIC * res['data']['batch_ms']
        res['data']['fraction_of_fastest_iteration'] = N_CRITIC * res['data']['batch_ms'] / fastest['iter_ms']
        res['data']['fastest_iteration_config'] = fastest['config']

    res['goals'] = goals(res, args, device)
    res['meta']['loadavg_end'] = os.getloadavg()
    res['meta']['wall_s'] = time.time() - t_start
    print(table(res))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
        log(f'wrote {args.json}')
    return res

def _cpu_name():
    with contextlib.suppress(Exception):
        return re.search(r'model name\s*:\s*(.*)', Path('/proc/cpuinfo').read_text()).group(1)

def goals(res, args, device) -> list[dict]:
    """The issue's targets, each judged on the best config measured for it (met=None: not measurable in this run).
    On a CPU the value is the median over the uncontended calls (per-call cpu_share >= 0.9) where there were any
    (basis 'clean'), else the median over all calls (basis 'all', flagged contended when cpu_share < 0.85)."""
    paper_shape = args.size == 128 and args.conv_dim == 32 and args.batch == 16
    ok = lambda d: {k: r for k, r in d.items() if 'error' not in r}
    edit, train, out = ok(res['edit']), ok(res['train']), []
    cuda = device.type == 'cuda'
    def pick(r, key, clean_key):
        "(value, basis) of result `r`: the clean value on a CPU where there is one."
        if not cuda and r.get(clean_key) is not None: return r[clean_key], 'clean'
        return r[key], 'all'
    def add(name, target, rows, key, clean_key, ok_fn, unit, scale=1.0):
        if not rows:
            out.append(dict(goal=name, target=target, value=None, unit=unit, config=None, basis=None, met=None,
                            contended=False, cpu_share=None)); return
        best = min(rows, key=lambda r: pick(r, key, clean_key)[0] * (1 if scale > 0 else -1))
        v, basis = pick(best, key, clean_key)
        v *= abs(scale)
        share = best.get('cpu_share')
        out.append(dict(goal=name, target=target, value=v, unit=unit, config=best['config'], basis=basis,
                        met=bool(ok_fn(v)) if paper_shape else None, cpu_share=share,
                        contended=bool(not cuda and basis == 'all' and share is not None and share < 0.85)))
    fp32_edit = [r for r in edit.values() if r['dtype'] == 'fp32']
    if cuda:
        add('GPU training iteration, batch 16, 128² < 15 ms', '< 15 ms', list(train.values()), 'iter_ms', None,
            lambda v: v < 15, 'ms')
    else:
        out.append(dict(goal='GPU training iteration, batch 16, 128² < 15 ms', target='< 15 ms', value=None, unit='ms',
                        config=None, basis=None, met=None, contended=False, cpu_share=None))
        add('CPU edit, one 128² face (any config)', '< 70 ms', list(edit.values()), 'latency_ms_b1',
            'latency_clean_ms_b1', lambda v: v < 70, 'ms')
        add('CPU edit, one 128² face, fp32', '< 70 ms', fp32_edit, 'latency_ms_b1', 'latency_clean_ms_b1',
            lambda v: v < 70, 'ms')
        add('CPU edit fp32 at >= 85% of fp32 matmul rate', '>= 85 %', fp32_edit, 'frac_matmul', 'frac_matmul_clean',
            lambda v: v >= 85, '%', scale=-100)
        if 'editor_default' in edit:    # the path a user gets without asking: Editor() at its default precision
            dflt = [edit['editor_default']]
            add('CPU edit, one 128² face, Editor() default', '< 70 ms', dflt, 'latency_ms_b1', 'latency_clean_ms_b1',
                lambda v: v < 70, 'ms')
            add('CPU edit, Editor() default at >= 85% of fp32 matmul rate', '>= 85 %', dflt, 'frac_matmul',
                'frac_matmul_clean', lambda v: v >= 85, '%', scale=-100)
        add('CPU training iteration, batch 16 <= 1.3x FLOP floor (any config)', '<= 1.3x', list(train.values()),
            'x_floor', 'x_floor_clean', lambda v: v <= 1.3, 'x')
        add('CPU training iteration, batch 16 <= 1.3x FLOP floor, fp32', '<= 1.3x',
            [r for r in train.values() if r['dtype'] == 'fp32'], 'x_floor', 'x_floor_clean', lambda v: v <= 1.3, 'x')
    d = res.get('data', {})
    if 'fraction_of_fastest_iteration' in d:
        out.append(dict(goal='batch assembly <= 5% of the fastest iteration', target='<= 5 %',
                        value=100 * d['fraction_of_fastest_iteration'], unit='%', config=d['fastest_iteration_config'],
                        basis='all', met=d['fraction_of_fastest_iteration'] <= 0.05 if paper_shape else None,
                        contended=False, cpu_share=None))
    return out

def table(res) -> str:
    m, f = res['meta'], res['flops']
    ref = res['matmul']['reference']
    lines = [f"SaGAN benchmark  {m['date']}  torch {m['torch']}  {m['device']}: {m['device_name']}  threads {m['threads']}",
             f"load average at start {tuple(round(v, 2) for v in m['loadavg_start'])}; cpu_share < ~0.9: other processes took cores; 'clean': median of the calls with cpu_share >= 0.9",
             f"image {f['size']}², batch {f['batch']}; reference matmul rate: {ref}"]
    rows = [('section', 'config', 'metric', 'value', 'FLOP/s', f'% {ref} matmul', 'goal', 'met?')]
    for where, label in (('alone', 'alone, best of 10'), ('edit_rounds', 'in edit rounds, median'),
                         ('train_rounds', 'in train rounds, median')):
        for k in ('fp32', 'bf16'):
            if where not in res['matmul']: continue
            r = res['matmul'][where][k]
            v = r['best_flops_per_s'] if where == 'alone' else r['flops_per_s']
            rows.append(('matmul', k, f"{r['n']}³ {label}", f"{2 * r['n'] ** 3 / v * 1e3:.1f} ms", fmt_si(v), '', '', ''))
    rows += [('flops', 'model', 'G forward / image', fmt_si(f['generator_forward'], 'FLOP'), '', '', '', ''),
             ('flops', 'model', 'D forward / image', fmt_si(f['discriminator_forward'], 'FLOP'), '', '', '', ''),
             ('flops', 'model', f"train iteration (3D+1G, b{f['batch']})", fmt_si(f['train_iteration'], 'FLOP'), '', '', '', ''),
             ('flops', 'paper 128²', 'G / D forward / image', f"{f['paper_128']['generator_forward'] / 1e9:.3f} / "
              f"{f['paper_128']['discriminator_forward'] / 1e9:.3f} G", '', '', '', '')]
    def pct(r):
        s = f"{100 * r['frac_matmul']:.0f}"
        if r.get('frac_matmul_clean'): s += f" (clean {100 * r['frac_matmul_clean']:.0f})"
        if r['dtype'] != ref:
            s += f" [{100 * r['frac_matmul_same_dtype']:.0f} of {r['dtype']}]"
        return s
    for n, r in res['edit'].items():
        if 'error' in r: rows.append(('edit', n, 'FAILED', r['error'][:60], '', '', '', '')); continue
        if getattr(CONFIGS.get(n), "editor", False): n = f"{n} ({r['dtype']})"   # what the default resolved to here
        rows += [('edit', n, 'latency b1 (median)', f"{r['latency_ms_b1']:.1f} ms", fmt_si(r['flops_per_s_b1']), pct(r), '', ''),
                 ('edit', n, 'latency b1 (best / clean median)', f"{r['latency_best_ms_b1']:.1f} / " +
                  (f"{r['latency_clean_ms_b1']:.1f} ms" if r['latency_clean_ms_b1'] else '- ms'), '', '', '', ''),
                 ('edit', n, 'images/s b1', f"{r['images_per_s_b1']:.1f}", '', '', '', ''),
                 ('edit', n, f"images/s b{res['flops']['batch']}", f"{r['images_per_s_batch']:.1f}", fmt_si(r['flops_per_s_batch']), '', '', ''),
                 ('edit', n, 'peak mem / err vs fp32', f"{r['peak_mem_mb']:.0f} MB / {r['max_abs_err_vs_fp32']:.1e}", '', '', '', ''),
                 ('edit', n, 'warmup / cpu_share', f"{r['warmup_s']:.1f} s / {r['cpu_share']:.2f}", '', '', '', '')]
    for n, r in res['train'].items():
        if 'error' in r: rows.append(('train', n, 'FAILED', r['error'][:60], '', '', '', '')); continue
        rows += [('train', n, 'iteration (median)', f"{r['iter_ms']:.1f} ms", fmt_si(r['flops_per_s']), pct(r), '', ''),
                 ('train', n, 'iteration (best / clean median)', f"{r['iter_best_ms']:.1f} / " +
                  (f"{r['iter_clean_ms']:.1f} ms" if r['iter_clean_ms'] else '- ms'), '', '', '', ''),
                 ('train', n, 'iterations/s', f"{r['iters_per_s']:.3g}", '', '', '', ''),
                 ('train', n, 'images/s (3 batches/iter)', f"{r['images_per_s']:.3g}", '', '', '', ''),
                 ('train', n, 'x FLOP floor', f"{r['x_floor']:.2f} (floor {r['floor_ms']:.0f} ms)" +
                  (f"; clean {r['x_floor_clean']:.2f} (floor {r['floor_clean_ms']:.0f} ms)" if r['x_floor_clean'] else ''),
                  '', '', '', ''),
                 ('train', n, 'peak mem', f"{r['peak_mem_mb']:.0f} MB", '', '', '', ''),
                 ('train', n, 'warmup / cpu_share', f"{r['warmup_s']:.1f} s / {r['cpu_share']:.2f}", '', '', '', '')]
    d = res['data']
    rows.append(('data', 'uint8 cache', 'batch assembly', f"{d['batch_ms']:.2f} ms", '', '', '', ''))
    for g in res['goals']:
        v = '' if g['value'] is None else f"{g['value']:.3g} {g['unit']}"
        met = {None: 'n/a', True: 'yes', False: 'NO'}[g['met']] + (' (contended)' if g['contended'] else '')
        rows.append(('goal', g['config'] or '-', g['goal'], v + (f" ({g['basis']})" if g['basis'] else ''), '', '',
                     g['target'], met))
    w = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    out = [' | '.join(str(c).ljust(w[i]) for i, c in enumerate(r)) for r in rows]
    out.insert(1, '-+-'.join('-' * x for x in w))
    return '\n'.join(lines + [''] + out)

if __name__ == '__main__':
    main()
