"""Timing helpers of `bench.py`: synchronised timing with each call's CPU share, round-robin timing of several
callables, peak memory of a block, and the square-matmul reference rate."""
from __future__ import annotations
import contextlib, ctypes, re, statistics, time
from pathlib import Path
import torch

def sync(device: torch.device):
    if device.type == 'cuda': torch.cuda.synchronize(device)

def timed_call(fn, device: torch.device) -> tuple[float, float]:
    "(wall seconds, cpu_share) of one synchronised call; cpu_share = process CPU time / (wall × torch threads)."
    c, t = time.process_time(), time.perf_counter()
    fn(); sync(device)
    dt = time.perf_counter() - t
    return dt, (time.process_time() - c) / dt / torch.get_num_threads()

def summary(ts: list[float], shares: list[float]) -> dict:
    """Seconds of timed calls: median, best, mean, n; cpu_share over all calls (time-weighted); median_clean: the
    median over the calls whose own cpu_share was >= 0.9 (None if none were), n_clean."""
    clean = [t for t, s in zip(ts, shares) if s >= 0.9]
    return dict(median=statistics.median(ts), best=min(ts), mean=statistics.fmean(ts), n=len(ts),
                cpu_share=sum(t * s for t, s in zip(ts, shares)) / sum(ts),
                median_clean=statistics.median(clean) if clean else None, n_clean=len(clean))

def time_fn(fn, device: torch.device, iters: int, warmup: int) -> dict:
    """Run `fn` `warmup` times, then time `iters` calls one by one (synchronised). Returns `summary`'s numbers and
    warmup_s (all warmup calls: includes compilation). On a CPU cpu_share falls well below 1 when other processes take
    the cores (each parallel region then waits for a descheduled thread), so CPU numbers with cpu_share < ~0.85 are
    contended, not the machine's speed."""
    t0 = time.perf_counter()
    for _ in range(warmup): fn()
    sync(device)
    warm = time.perf_counter() - t0
    ts, shares = zip(*(timed_call(fn, device) for _ in range(iters)))
    return dict(summary(list(ts), list(shares)), warmup_s=warm)

def interleaved(fns: dict, device, rounds: int, per_round: int) -> dict:
    """Time each of `fns` (already warmed up) `per_round` calls at a time, cycling over them `rounds` times, so that
    all share the machine's conditions. Returns per name what `summary` does."""
    raw = {k: ([], []) for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            for _ in range(per_round):
                dt, share = timed_call(f, device)
                raw[k][0].append(dt); raw[k][1].append(share)
    return {k: summary(ts, sh) for k, (ts, sh) in raw.items()}

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

DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16}

def matmul_rate(device: torch.device, dtype: torch.dtype, n: int, reps: int = 10) -> dict:
    "FLOP/s of an n³ square matmul (2n³ FLOPs), best of `reps` after a warmup, all threads."
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    t = time_fn(lambda: a @ b, device, reps, 2)
    return dict(n=n, dtype=str(dtype).replace('torch.', ''), best_s=t['best'], median_s=t['median'],
                best_flops_per_s=2 * n ** 3 / t['best'], flops_per_s=2 * n ** 3 / t['median'], cpu_share=t['cpu_share'])

def matmul_fns(device, n: int, dtypes=('fp32', 'bf16')) -> dict:
    "Warmed-up n³ matmuls to time alongside a section's configs: {'matmul_fp32': fn, ...}."
    g = torch.Generator(device=device).manual_seed(0)
    out = {}
    for k in dtypes:
        a = torch.randn(n, n, device=device, dtype=DTYPES[k], generator=g)
        out[f'matmul_{k}'] = (lambda a=a: a @ a)
        out[f'matmul_{k}']()
    return out

def matmul_result(t: dict, n: int) -> dict:
    "A matmul's rate from its `interleaved` timing."
    return dict(n=n, median_s=t['median'], best_s=t['best'], flops_per_s=2 * n ** 3 / t['median'],
                best_flops_per_s=2 * n ** 3 / t['best'], cpu_share=t['cpu_share'],
                clean_flops_per_s=t['median_clean'] and 2 * n ** 3 / t['median_clean'], n_clean=t['n_clean'])
