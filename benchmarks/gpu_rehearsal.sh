#!/usr/bin/env bash
# The GPU rehearsal (issue 27): everything the CUDA path needs, run once on one machine in at most 8 minutes, with ONE
# report (report.md + report.json) to copy back. Run it from the repository root on the machine's own torch:
#
#   bash benchmarks/gpu_rehearsal.sh                          # the GPU if torch sees one, the paper's size
#   bash benchmarks/gpu_rehearsal.sh --device cpu --tiny      # the CPU dry run (CI: tests/test_gpu_rehearsal.py)
#
# Options:
#   --device auto|cuda|cpu   where to train and edit [auto: cuda when torch sees a GPU, else cpu]
#   --tiny                   tiny sizes (32 px, widths 8, one residual block, batch 8, a few iterations)
#   --out DIR                the report's folder [runs/gpu_rehearsal_<date>_<time>]; its work/, logs/, steps/ and
#                            report.* are replaced
#   --python PY              the interpreter with the machine's torch [$PYTHON, else python3, else python]
#   --time-limit S           the whole run's limit in seconds [480]; a step that would start past it is skipped
#   --install auto|yes|dry|no  yes: pip install --no-deps --no-build-isolation --no-index -e . into PY's environment;
#                            dry: the same with --dry-run (builds the metadata, installs nothing); no: skip
#                            [auto: yes on cuda, dry on cpu]
#   --keep-work              keep the checkpoints under DIR/work (removed at the end otherwise: DIR stays small)
#
# Steps, in order (each timed; a failure is recorded in the report, and the rest still run):
#   environment   python, torch, CUDA/cuDNN, the GPUs (nvidia-smi), the CPU, the commit
#   install       the package into PY's environment without dependencies or a registry
#   import_check  every sagan_nb module imports with the optional packages blocked (torch, torchvision, numpy, Pillow)
#   throughput    SaGAN at the paper's size (128 px, widths 32, 4 residual blocks, batch 16) on synthetic faces:
#                 it/s, images/s, peak memory (torch.cuda.max_memory_allocated), GPU busy % (nvidia-smi sampled)
#   train         `sagan_nb train` for a few iterations, checkpointing
#   resume        `sagan_nb train --resume` to twice as many iterations, against one straight run (weights compared)
#   edit          `sagan_nb edit` of one face on the device and on the CPU (fp32): the outputs compared, and the
#                 generator's float outputs on 8 faces (TF32 as set, and TF32 off)
#   ddp_gloo      torchrun, two processes on ONE GPU: the trainer must choose gloo itself (NCCL refuses two ranks on one
#                 GPU) and put both on cuda:0; on a CPU, gloo on the CPU
#   ddp_nccl      torchrun --nproc_per_node 1 with the trainer's own process group (NCCL on CUDA); 2 if two GPUs exist
#   knobs         iteration time for fp32 (TF32 off / on) vs bf16, channels_last off / on, cudnn.benchmark off / on
#   report        report.md and report.json in DIR (DIR/logs: each step's output)
set -u -o pipefail

DEVICE=auto TINY=0 OUT='' PY="${PYTHON:-}" TIME_LIMIT=480 INSTALL=auto KEEP=0
die() { echo "gpu_rehearsal: $*" >&2; exit 2; }
while (($#)); do
    case "$1" in
        --device) DEVICE=${2:?--device needs a value}; shift 2 ;;
        --tiny) TINY=1; shift ;;
        --out) OUT=${2:?--out needs a folder}; shift 2 ;;
        --python) PY=${2:?--python needs an interpreter}; shift 2 ;;
        --time-limit) TIME_LIMIT=${2:?--time-limit needs seconds}; shift 2 ;;
        --install) INSTALL=${2:?--install needs auto, yes, dry or no}; shift 2 ;;
        --keep-work) KEEP=1; shift ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
case "$DEVICE" in auto|cuda|cpu) ;; *) die "--device must be auto, cuda or cpu, got $DEVICE" ;; esac
case "$INSTALL" in auto|yes|dry|no) ;; *) die "--install must be auto, yes, dry or no, got $INSTALL" ;; esac
[[ "$TIME_LIMIT" =~ ^[0-9]+$ ]] || die "--time-limit must be whole seconds, got $TIME_LIMIT"

START=$(date +%s)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ -f $ROOT/settings.ini && -d $ROOT/sagan_nb ]] || die "$ROOT is not the sagan_nb repository"
if [[ -z "$PY" ]]; then PY=$(command -v python3 || command -v python) || die "no python found: pass --python"; fi
PY=$(command -v "$PY") || die "not an interpreter: $PY"
[[ $PY == /* ]] || PY=$PWD/$PY                # the steps run in another folder: an absolute path (links kept: a venv)
OUT=${OUT:-$ROOT/runs/gpu_rehearsal_$(date +%Y%m%d_%H%M%S)}
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
cd "$ROOT" || die "cannot enter $ROOT"
"$PY" -c 'import torch' 2>/dev/null || die "$PY has no torch: pass --python with the machine's torch"
if [[ $DEVICE == auto ]]; then
    DEVICE=$("$PY" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')
fi
[[ $INSTALL == auto ]] && { [[ $DEVICE == cuda ]] && INSTALL=yes || INSTALL=dry; }
WORK=$OUT/work LOGS=$OUT/logs STEPS=$OUT/steps
rm -rf "$WORK" "$LOGS" "$STEPS" "$OUT/report.md" "$OUT/report.json"
mkdir -p "$WORK" "$LOGS" "$STEPS"
: > "$OUT/steps.tsv"

# sizes: the paper's (Tables 1-2: 128 px, widths 32, 4 residual blocks, batch 16), or tiny ones
if ((TINY)); then
    SIZE=32 CONV=8 NRES=1 DCONV=8 BATCH=8 NFACES=32 WARM=1 ITERS=3 TRAIN_STEPS=2 DDP_ITERS=2 KNOB_ITERS=2 EDIT_N=4
elif [[ $DEVICE == cuda ]]; then
    SIZE=128 CONV=32 NRES=4 DCONV=32 BATCH=16 NFACES=512 WARM=10 ITERS=50 TRAIN_STEPS=20 DDP_ITERS=20 KNOB_ITERS=20 EDIT_N=8
else                                          # the paper's size on a CPU: ~15 s an iteration on 2 cores
    SIZE=128 CONV=32 NRES=4 DCONV=32 BATCH=16 NFACES=64 WARM=1 ITERS=3 TRAIN_STEPS=2 DDP_ITERS=1 KNOB_ITERS=1 EDIT_N=4
fi
export REH_DEVICE=$DEVICE REH_TINY=$TINY REH_SIZE=$SIZE REH_CONV=$CONV REH_NRES=$NRES REH_DCONV=$DCONV REH_BATCH=$BATCH
export REH_NFACES=$NFACES REH_WARM=$WARM REH_ITERS=$ITERS REH_TRAIN_STEPS=$TRAIN_STEPS REH_DDP_ITERS=$DDP_ITERS
export REH_KNOB_ITERS=$KNOB_ITERS REH_EDIT_N=$EDIT_N REH_ROOT=$ROOT REH_OUT=$OUT REH_WORK=$WORK REH_STEPS=$STEPS
export REH_PY=$PY REH_INSTALL=$INSTALL REH_TIME_LIMIT=$TIME_LIMIT REH_START=$START
export PYTHONPATH=$WORK${PYTHONPATH:+:$PYTHONPATH}        # the steps' helper module (_rehearsal.py) lives in WORK
[[ $DEVICE == cpu ]] && export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
SAGAN=("$PY" -m sagan_nb.cli)                 # the command line, whichever bin folder the install put it in
HALF=$TRAIN_STEPS FULL=$((2 * TRAIN_STEPS))     # train to HALF, resume to FULL; a straight run to FULL
TRAIN_OPTS=(--attribute Smiling --image-size "$SIZE" --conv-dim "$CONV" --n-res "$NRES" --d-conv-dim "$DCONV"
            --batch-size "$BATCH" --n-synth "$NFACES" --device "$DEVICE" --log-every 1 --sample-every 1000000 --quiet)

SAMPLER=''
now() { date +%s.%N; }
stop_sampler() { if [[ -n $SAMPLER ]]; then kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null; SAMPLER=''; fi; }
trap 'stop_sampler' EXIT
trap 'stop_sampler; echo "gpu_rehearsal: interrupted" >&2; exit 130' INT TERM
start_sampler() {  # nvidia-smi every 200 ms into steps/NAME.smi, while step NAME runs (GPU busy %, memory used)
    [[ $DEVICE == cuda ]] && command -v nvidia-smi >/dev/null || return 0
    nvidia-smi --query-gpu=timestamp,index,utilization.gpu,memory.used --format=csv,noheader,nounits -lms 200 \
        > "$STEPS/$1.smi" 2>/dev/null &
    SAMPLER=$!
}

# run_step NAME LIMIT_S [--gpu-sampled] CMD...: CMD (stdin passed on) under `timeout`, output in logs/NAME.log, a row
# NAME, status, seconds, exit code, note in steps.tsv. Exit code 77 means skipped (the reason: the log's last line).
# A shell function runs in a child bash given this script's functions and variables (`timeout` runs programs only;
# it signals the step's whole process group, torchrun's workers included).
run_step() {
    local name=$1 limit=$2 sampled=0; shift 2
    [[ ${1:-} == --gpu-sampled ]] && { sampled=1; shift; }
    if declare -F "$1" >/dev/null; then
        set -- bash -c "$(declare -f); $(declare -p SAGAN TRAIN_OPTS ROOT PY WORK OUT DEVICE INSTALL HALF FULL); \"\$@\"" step "$@"
    fi
    local left=$((START + TIME_LIMIT - $(date +%s)))
    if ((left < 10)); then
        printf '%s\tskipped\t0\t-\t%s\n' "$name" "time limit: less than 10 s of the run's $TIME_LIMIT s left" >> "$OUT/steps.tsv"
        echo "  $name: skipped (time limit)"; return 0
    fi
    ((limit > left)) && limit=$left
    ((sampled)) && start_sampler "$name"
    local t0 t1 rc status note=''
    t0=$(now)
    (cd "$WORK" && timeout --kill-after=15 "$limit" "$@") > "$LOGS/$name.log" 2>&1; rc=$?
    t1=$(now)
    ((sampled)) && stop_sampler
    case $rc in
        0) status=ok ;;
        77) status=skipped; note=$(grep -v '^[[:space:]]*$' "$LOGS/$name.log" | tail -n 1) ;;
        124|137) status=failed; note="timed out after $limit s" ;;
        *) status=failed                    # the step's own verdict, else the last exception, else the last line
           note=$(grep -E 'REHEARSAL FAILED: |^[A-Za-z_.]*(Error|Exception)(:|$)|error:' "$LOGS/$name.log" | tail -n 1)
           [[ -n $note ]] || note=$(grep -v '^[[:space:]]*$' "$LOGS/$name.log" | tail -n 1)
           note=$(cut -c1-300 <<< "$note") ;;
    esac
    local dt; dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$dt" "$rc" "${note//$'\t'/ }" >> "$OUT/steps.tsv"
    printf '  [%4ds] %-13s %-7s %6s s  %s\n' "$(($(date +%s) - START))" "$name" "$status" "$dt" "$note"
}

# ---------------------------------------------------------------- the Python steps' shared helper
cat > "$WORK/_rehearsal.py" <<'PY'
"Shared by the Python steps of benchmarks/gpu_rehearsal.sh (written there): sizes, synthetic faces, timing, records."
import json, os, resource, time
from pathlib import Path
import torch

E = os.environ
DEVICE = E['REH_DEVICE']; CUDA = DEVICE == 'cuda'
SIZE, CONV, NRES, DCONV, BATCH, NFACES, WARM, ITERS, DDP_ITERS, KNOB_ITERS, EDIT_N = (int(E['REH_' + k]) for k in
    ('SIZE', 'CONV', 'NRES', 'DCONV', 'BATCH', 'NFACES', 'WARM', 'ITERS', 'DDP_ITERS', 'KNOB_ITERS', 'EDIT_N'))
WORK, STEPS = Path(E['REH_WORK']), Path(E['REH_STEPS'])

def record(name, **kw):
    "Merge `kw` into steps/NAME.json (the report reads it)."
    p = STEPS / f'{name}.json'
    d = json.loads(p.read_text()) if p.exists() else {}
    d.update(kw); p.write_text(json.dumps(d, indent=1, default=str))
    return d

def sync():
    if CUDA: torch.cuda.synchronize()

def config(**over):
    from sagan_nb.config import TrainConfig
    return TrainConfig(**{**dict(attribute='Smiling', image_size=SIZE, conv_dim=CONV, n_res=NRES, d_conv_dim=DCONV,
                                 batch_size=BATCH, device=DEVICE, log_every=10**9, sample_every=10**9,
                                 ckpt_every=10**9, seed=0), **over})

def faces(n=None, seed=0):
    from sagan_nb.synth import synth_tensors
    return synth_tensors(NFACES if n is None else n, size=SIZE, seed=seed)

def timed(t, iters, warm):
    "`iters` timed `train_step`s after `warm` untimed ones: it/s, ms per iteration, images/s, peak memory, window."
    for _ in range(warm): t.train_step()
    sync()
    if CUDA: torch.cuda.reset_peak_memory_stats()
    t0, p0 = time.time(), time.perf_counter()
    for _ in range(iters): t.train_step()
    sync(); dt = time.perf_counter() - p0
    row = dict(iters=iters, warmup=warm, seconds=round(dt, 3), it_s=round(iters / dt, 3),
               ms_per_it=round(1000 * dt / iters, 2), images_s=round(t.cfg.n_critic * t.cfg.batch_size * iters / dt, 1),
               window=[t0, time.time()])
    if CUDA: row.update(peak_mem_mib=round(torch.cuda.max_memory_allocated() / 2**20, 1),
                        reserved_mib=round(torch.cuda.max_memory_reserved() / 2**20, 1))
    else: row.update(peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    means = t._flush()
    row['finite_losses'] = all(v == v and abs(v) != float('inf') for v in means.values())
    return row

def cuda_knobs(benchmark=None, tf32=None):
    """Ask for cudnn.benchmark / TF32 the package's way: SAGAN_NB_CUDNN_BENCHMARK / SAGAN_NB_TF32, which
    `devices.cuda_settings` applies when a trainer is built; and in torch.backends (what an editor runs with)."""
    if benchmark is not None:
        os.environ['SAGAN_NB_CUDNN_BENCHMARK'] = str(int(benchmark)); torch.backends.cudnn.benchmark = benchmark
    if tf32 is not None:
        os.environ['SAGAN_NB_TF32'] = str(int(tf32))
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32

def trainer_knobs(t):
    "What the trainer resolved: precision, memory format, and the global CUDA settings in force."
    d = dict(precision=getattr(t, 'precision', None), amp_bf16=bool(getattr(t, 'amp', False)), memory_format=str(getattr(t, 'mem_fmt', '?')).replace('torch.', ''))
    if CUDA: d.update(cudnn_benchmark=torch.backends.cudnn.benchmark, cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
                      matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32)
    return d
PY

echo "gpu_rehearsal: device $DEVICE$( ((TINY)) && echo ', tiny sizes'), python $PY, report in $OUT (limit $TIME_LIMIT s)"

# ---------------------------------------------------------------- environment
run_step environment 60 "$PY" - <<'PY'
import os, platform, subprocess, sys, torch
from _rehearsal import record, CUDA
d = dict(python=sys.version.split()[0], executable=sys.executable, platform=platform.platform(),
         torch=torch.__version__, cuda_build=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
         cuda_available=torch.cuda.is_available(), gpus=torch.cuda.device_count(), cpu_count=os.cpu_count(),
         omp_num_threads=os.environ.get('OMP_NUM_THREADS'), torch_threads=torch.get_num_threads())
try: import torchvision; d['torchvision'] = torchvision.__version__
except Exception as e: d['torchvision'] = f'not importable: {e}'
d['gpu_names'] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
d['capability'] = [list(torch.cuda.get_device_capability(i)) for i in range(torch.cuda.device_count())]
if torch.cuda.is_available():
    d['bf16_supported'] = torch.cuda.is_bf16_supported()
    d['gpu_memory_gib'] = [round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1) for i in range(torch.cuda.device_count())]
    try: v = torch.cuda.nccl.version(); d['nccl'] = '.'.join(map(str, v)) if isinstance(v, tuple) else str(v)
    except Exception as e: d['nccl'] = f'unavailable ({type(e).__name__})'
def run(*cmd):
    try: return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception as e: return f'unavailable ({type(e).__name__})'
d['nvidia_smi'] = run('nvidia-smi', '--query-gpu=name,driver_version,memory.total,power.limit', '--format=csv,noheader')
d['commit'] = run('git', '-C', os.environ['REH_ROOT'], 'rev-parse', '--short', 'HEAD')
st = run('git', '-C', os.environ['REH_ROOT'], 'status', '--short', '--untracked-files=no')
d['modified_files'] = None if st.startswith('unavailable') else len(st.splitlines())
d['cpu'] = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor()) \
    if os.path.exists('/proc/cpuinfo') else platform.processor()
print(record('environment', **d))
if CUDA and not torch.cuda.is_available(): raise SystemExit('REHEARSAL FAILED: --device cuda, but torch sees no CUDA GPU')
PY

# ---------------------------------------------------------------- install: no dependencies, no registry, the machine's torch
install_step() {
    local args=(install --no-deps --no-build-isolation --no-index -e "$ROOT")
    case $INSTALL in
        no) echo "skipped: --install no"; return 77 ;;
        dry) args=(install --no-deps --no-build-isolation --no-index --dry-run -e "$ROOT") ;;
    esac
    echo "+ $PY -m pip ${args[*]}"
    "$PY" -m pip "${args[@]}"
}
run_step install 180 install_step

# ---------------------------------------------------------------- import check: torch, torchvision, numpy, Pillow alone
run_step import_check 90 "$PY" - <<'PY'
import os, shutil, sys
OPTIONAL = ('fastcore', 'tqdm', 'matplotlib', 'papermill', 'nbformat', 'IPython', 'ipywidgets', 'ipykernel', 'dlib',
            'face_recognition_models', 'selenium', 'pytest')
for m in OPTIONAL: sys.modules[m] = None                          # `import m` now raises ImportError
import importlib, pkgutil
from pathlib import Path
import sagan_nb
mods = [m.name for m in pkgutil.iter_modules(sagan_nb.__path__)]
for m in mods: importlib.import_module('sagan_nb.' + m)
from _rehearsal import record
root = Path(os.environ['REH_ROOT']).resolve()
where = Path(sagan_nb.__file__).resolve().parent
std = set(sys.stdlib_module_names) | {'__main__', '_rehearsal', 'sagan_nb'}
third = sorted({n.split('.')[0] for n, m in sys.modules.items() if m is not None} - std)
third = [n for n in third if not n.startswith('_')]
script = shutil.which('sagan_nb', path=os.path.dirname(os.environ['REH_PY'])) or shutil.which('sagan_nb')
print(record('import_check', modules=len(mods), imported_from=str(where), from_this_checkout=where == root / 'sagan_nb',
             blocked=list(OPTIONAL), third_party_loaded=third, console_script=script))
if where != root / 'sagan_nb': raise SystemExit(f'REHEARSAL FAILED: sagan_nb imports from {where}, not from this checkout {root}')
PY
if [[ $(tail -n 1 "$OUT/steps.tsv" | cut -f2) != ok ]]; then    # the rest still runs, from the checkout itself
    export PYTHONPATH=$PYTHONPATH:$ROOT
    echo "  (the import check failed: the later steps import sagan_nb from $ROOT through PYTHONPATH)"
fi

# ---------------------------------------------------------------- throughput at the paper's size
run_step throughput 150 --gpu-sampled "$PY" - <<'PY'
import torch
from _rehearsal import *
from sagan_nb.train import Trainer
t = Trainer(config(), faces(), progress=False)              # amp / channels_last: the trainer's own 'auto'
r = timed(t, ITERS, WARM)
print(record('throughput', config=dict(size=SIZE, conv_dim=CONV, n_res=NRES, d_conv_dim=DCONV, batch=BATCH,
                                       n_critic=t.cfg.n_critic, faces=NFACES), **trainer_knobs(t), **r))
if not r['finite_losses']: raise SystemExit('REHEARSAL FAILED: non-finite losses')
PY

# ---------------------------------------------------------------- the command line: train, then resume
run_step train 120 --gpu-sampled "${SAGAN[@]}" train "${TRAIN_OPTS[@]}" --steps "$HALF" --ckpt-every "$HALF" \
    --out "$WORK/run_resumed" --force
resume_step() {
    "${SAGAN[@]}" train --resume --out "$WORK/run_resumed" --steps "$FULL" --quiet || return
    "${SAGAN[@]}" train "${TRAIN_OPTS[@]}" --steps "$FULL" --ckpt-every "$HALF" --out "$WORK/run_straight" --force || return
    "$PY" - <<'PY'
import os, torch
from _rehearsal import record, WORK
a, b = (torch.load(WORK / r / 'checkpoint.pt', map_location='cpu', weights_only=True) for r in ('run_resumed', 'run_straight'))
full = 2 * int(os.environ['REH_TRAIN_STEPS'])
diff = {net: max((a[net][k].float() - b[net][k].float()).abs().max().item() for k in a[net]) for net in ('G', 'D')}
hist = a['history']['step']
d = record('resume', steps=[a['step'], b['step']], expected=full, history_steps_continuous=hist == list(range(1, full + 1)),
           max_weight_diff_resumed_vs_straight=diff, exact=all(v == 0 for v in diff.values()),
           last_g_loss=[a['history']['g_loss'][-1], b['history']['g_loss'][-1]])
print(d)
if a['step'] != full or b['step'] != full: raise SystemExit(f'REHEARSAL FAILED: checkpoints at {a["step"]} and {b["step"]}, expected {full}')
if not d['history_steps_continuous']: raise SystemExit(f'REHEARSAL FAILED: the resumed log has steps {hist}')
PY
}
run_step resume 180 resume_step

# ---------------------------------------------------------------- edit on the device and on the CPU
edit_step() {
    "$PY" - <<'PY' || return
from _rehearsal import *
from sagan_nb.faces import to_pil
to_pil(faces(1, seed=7).images[0]).save(WORK / 'face.png')
PY
    local ck=$WORK/run_resumed
    "${SAGAN[@]}" edit --checkpoint "$ck" --device cpu --precision fp32 --mask "$WORK/mask_cpu.png" "$WORK/face.png" "$WORK/edit_cpu.png" || return
    "${SAGAN[@]}" edit --checkpoint "$ck" --device "$DEVICE" --precision fp32 --mask "$WORK/mask_dev.png" "$WORK/face.png" "$WORK/edit_dev.png" || return
    "$PY" - <<'PY'
import numpy as np, torch
from PIL import Image
from _rehearsal import *
from sagan_nb.edit import Editor
from sagan_nb.faces import to_float
png = lambda n: np.asarray(Image.open(WORK / n), dtype=np.int16)
d = dict(compared=f'{DEVICE} vs cpu' + (' (the dry run: both on the CPU)' if not CUDA else ''))
for what in ('edit', 'mask'):
    a, b = png(f'{what}_dev.png'), png(f'{what}_cpu.png')
    d[f'cli_{what}_max_levels'] = int(np.abs(a - b).max()); d[f'cli_{what}_pixels_differing'] = float((a != b).mean())
x = to_float(faces(EDIT_N, seed=11).images)
ck = WORK / 'run_resumed'
cpu = Editor(ck, device='cpu', precision='fp32').run(x, 'Smiling', 1)
def against_cpu(tag, tf32=None):
    if tf32 is not None: cuda_knobs(tf32=tf32)
    o = Editor(ck, device=DEVICE, precision='fp32').run(x, 'Smiling', 1)
    if CUDA: d[f'{tag}_tf32_in_force'] = dict(cudnn=torch.backends.cudnn.allow_tf32, matmul=torch.backends.cuda.matmul.allow_tf32)
    d[f'{tag}_edited_max_abs'] = (o.edited - cpu.edited).abs().max().item()
    d[f'{tag}_mask_max_abs'] = (o.mask - cpu.mask).abs().max().item() if o.mask is not None else None
against_cpu('fp32')                               # TF32 as the package leaves it
if CUDA:
    against_cpu('fp32_tf32_off', tf32=False)
    against_cpu('fp32_tf32_on', tf32=True)
d['faces'] = EDIT_N; d['scale'] = 'edited/mask in [-1, 1]/[0, 1]; the PNGs in 8-bit levels'
print(record('edit', **d))
PY
}
run_step edit 120 edit_step

# ---------------------------------------------------------------- DDP under torchrun
cat > "$WORK/ddp_step.py" <<'PY'
"""One DDP rehearsal under torchrun (argv: STEP_NAME): the trainer makes its own process group from its device
(`devices.distributed_backend`: NCCL when each process has a GPU of its own, gloo when processes share a GPU or run on
the CPU), and wraps its networks in DDP even for one process."""
import os, sys, time, torch
import torch.distributed as dist
from _rehearsal import *
from sagan_nb.train import Trainer
name = sys.argv[1]
dev = 'auto' if CUDA else 'cpu'            # 'auto' under torchrun: this process's GPU (LOCAL_RANK modulo the GPUs)
t = Trainer(config(device=dev), faces(), progress=False)
info = dict(backend=dist.get_backend() if dist.is_initialized() else None, world=t.world, rank_devices=None,
            wrapped=type(t.G_run).__name__, **trainer_knobs(t))
r = timed(t, DDP_ITERS, 1)
v = torch.cat([p.detach().float().flatten() for p in t.G.parameters()] + [p.detach().float().flatten() for p in t.D.parameters()])
diff = torch.zeros((), device=v.device)
if dist.is_initialized() and t.world > 1:
    v0 = v.clone(); dist.broadcast(v0, 0); diff = (v - v0).abs().max()
    dist.all_reduce(diff, op=dist.ReduceOp.MAX)
    devs = [None] * t.world; dist.all_gather_object(devs, str(t.device)); info['rank_devices'] = devs
else: info['rank_devices'] = [str(t.device)]
problem = None
if t.rank == 0:
    print(record(name, **info, **r, max_weight_diff_across_ranks=diff.item()))
    shared = CUDA and int(os.environ['LOCAL_WORLD_SIZE']) > torch.cuda.device_count()   # more processes than GPUs
    want = 'nccl' if CUDA and not shared else 'gloo'
    if t.world != int(os.environ['WORLD_SIZE']): problem = f"the trainer sees world {t.world}, torchrun started {os.environ['WORLD_SIZE']}"
    elif info['backend'] != want: problem = f"process group backend {info['backend']}, expected {want} (issue 27, items 1-2)"
    elif 'DistributedDataParallel' not in info['wrapped']: problem = f"the generator runs as {info['wrapped']}, not under DDP (issue 27, item 2)"
    elif not r['finite_losses']: problem = 'non-finite losses'
    elif diff.item() != 0: problem = f'the ranks hold different weights (max |Δ| {diff.item():.3g})'
    if problem: print(f'REHEARSAL FAILED: {problem}', file=sys.stderr)
# Leave the group with no DDP wrapper alive, then exit at once: a process exiting with gloo's threads still running can
# abort ("terminate called without an active exception", SIGABRT) after its work is done (seen here, rank 1).
del t; import gc; gc.collect()
if dist.is_initialized(): dist.barrier(); dist.destroy_process_group()
sys.stdout.flush(); sys.stderr.flush()
os._exit(1 if problem else 0)
PY
torchrun_() { local n=$1; shift; "$PY" -m torch.distributed.run --standalone --nproc_per_node "$n" "$@"; }
# two processes, one GPU (only GPU 0 visible): the trainer must choose gloo itself (NCCL refuses two ranks on one GPU)
# and put both on cuda:0; on a CPU, gloo on the CPU
gloo_step() {
    if [[ $DEVICE != cuda ]]; then torchrun_ 2 "$WORK/ddp_step.py" ddp_gloo; return; fi
    local first=${CUDA_VISIBLE_DEVICES-0}
    CUDA_VISIBLE_DEVICES=${first%%,*} torchrun_ 2 "$WORK/ddp_step.py" ddp_gloo
}
run_step ddp_gloo 150 --gpu-sampled gloo_step
nccl_step() {
    local n=$1
    if [[ $DEVICE != cuda ]]; then echo "skipped: NCCL needs CUDA (device $DEVICE)"; return 77; fi
    local gpus; gpus=$("$PY" -c 'import torch; print(torch.cuda.device_count())')
    if ((gpus < n)); then echo "skipped: $n processes need $n GPUs, this machine has $gpus"; return 77; fi
    torchrun_ "$n" "$WORK/ddp_step.py" "ddp_nccl_$n" || return
    echo "+ torchrun --nproc_per_node $n -m sagan_nb.cli train ..."          # the command line's own multi-GPU path
    torchrun_ "$n" -m sagan_nb.cli train "${TRAIN_OPTS[@]}" --device auto --steps "$HALF" --out "$WORK/run_nccl_$n" \
        --force || return
    [[ -f $WORK/run_nccl_$n/checkpoint.pt ]] || { echo "REHEARSAL FAILED: no checkpoint from the command line under torchrun"; return 1; }
}
run_step ddp_nccl_1 120 --gpu-sampled nccl_step 1
run_step ddp_nccl_2 120 --gpu-sampled nccl_step 2

# ---------------------------------------------------------------- the knobs: precision, memory layout, cudnn.benchmark
run_step knobs 200 --gpu-sampled "$PY" - <<'PY'
import gc, itertools, torch
from _rehearsal import *
import sagan_nb.devices as devices
from sagan_nb.train import Trainer
data = faces()
rows = []
precisions = ['fp32', 'fp32_tf32', 'bf16'] if CUDA else ['fp32', 'bf16']
benches = [False, True] if CUDA else [None]
for prec, cl, bench in itertools.product(precisions, ['off', 'on'], benches):
    if CUDA: cuda_knobs(benchmark=bench, tf32=prec != 'fp32')           # bf16 rows: TF32 for what stays fp32
    t = Trainer(config(amp='bf16' if prec == 'bf16' else 'fp32', channels_last=cl), data, progress=False)
    if CUDA: cuda_knobs(benchmark=bench, tf32=prec != 'fp32')           # again: a package without the knobs
    try: r = timed(t, KNOB_ITERS, max(1, WARM // 2))
    except Exception as e: r = dict(error=f'{type(e).__name__}: {e}'[:300])
    r.pop('window', None)
    rows.append(dict(precision=prec, channels_last=cl, cudnn_benchmark=bench, **r, in_force=trainer_knobs(t)))
    print(rows[-1], flush=True)
    del t; gc.collect()
    if CUDA: torch.cuda.empty_cache()
ok = [r for r in rows if 'it_s' in r]
best = max(ok, key=lambda r: r['it_s']) if ok else None
how = dict(precision_layout="TrainConfig.amp ('fp32', 'bf16') and TrainConfig.channels_last ('off', 'on')",
           cudnn_benchmark_tf32='SAGAN_NB_CUDNN_BENCHMARK / SAGAN_NB_TF32, applied by devices.cuda_settings in the trainer'
           if hasattr(devices, 'cuda_settings') else 'torch.backends set by the step (the package has no knob)')
print(record('knobs', rows=rows, fastest=best, how=how))
if any('error' in r for r in rows): raise SystemExit('REHEARSAL FAILED: a configuration failed: ' + next(r['error'] for r in rows if 'error' in r))
PY

# ---------------------------------------------------------------- the report
((KEEP)) || find "$WORK" -name '*.pt' -delete 2>/dev/null
cat > "$WORK/report.py" <<'PY'
"Compose report.json and report.md from steps.tsv, steps/*.json and the nvidia-smi samples."
import json, os, re, statistics, sys, time
from datetime import datetime
from pathlib import Path
out, steps = Path(os.environ['REH_OUT']), Path(os.environ['REH_STEPS'])
SECTIONS = [  # (step, heading)
    ('environment', 'Environment'), ('install', 'Install (no dependencies, no registry)'),
    ('import_check', 'Import check (torch, torchvision, numpy, Pillow alone)'),
    ('throughput', "Training at the paper's size: it/s, GPU busy, peak memory"),
    ('train', 'Training through `sagan_nb train`'), ('resume', 'Resume from the checkpoint'),
    ('edit', 'Edit: device vs CPU'), ('ddp_gloo', 'DDP: two processes on one device (gloo)'),
    ('ddp_nccl_1', 'DDP: NCCL, one process (torchrun --nproc_per_node 1)'),
    ('ddp_nccl_2', 'DDP: NCCL, two GPUs (torchrun --nproc_per_node 2)'),
    ('knobs', 'Precision, channels_last, cudnn.benchmark')]
rows = {}
for line in (out / 'steps.tsv').read_text().splitlines():
    name, status, secs, rc, note = (line.split('\t') + [''] * 5)[:5]
    rows[name] = dict(status=status, seconds=float(secs), exit_code=rc, note=note)

def smi(name, window=None):
    "GPU busy % and memory used from steps/NAME.smi, within `window` (epoch seconds) if given."
    p = steps / f'{name}.smi'
    if not p.exists(): return None
    util, mem = {}, {}
    for l in p.read_text().splitlines():
        f = [x.strip() for x in l.split(',')]
        if len(f) < 4: continue
        try:
            ts = datetime.strptime(f[0], '%Y/%m/%d %H:%M:%S.%f').timestamp()
            i, u, m = int(f[1]), float(f[2]), float(f[3])
        except ValueError: continue
        if window and not window[0] <= ts <= window[1]: continue
        util.setdefault(i, []).append(u); mem.setdefault(i, []).append(m)
    if not util: return dict(samples=0)
    return {f'gpu{i}': dict(samples=len(u), busy_pct_mean=round(statistics.mean(u), 1), busy_pct_median=statistics.median(u),
                            memory_used_mib_max=max(mem[i])) for i, u in util.items()}

report = dict(generated=time.strftime('%Y-%m-%d %H:%M:%S %Z'), device=os.environ['REH_DEVICE'],
              wall_seconds=round(time.time() - int(os.environ['REH_START'])),
              tiny=os.environ['REH_TINY'] == '1', time_limit_s=int(os.environ['REH_TIME_LIMIT']),
              install_mode=os.environ['REH_INSTALL'], steps={})
for name, _ in SECTIONS:
    s = dict(rows.get(name, dict(status='not run', seconds=0, exit_code='-', note='the script stopped before it')))
    p, log = steps / f'{name}.json', out / 'logs' / f'{name}.log'
    if p.exists(): s['result'] = json.loads(p.read_text())
    text = log.read_text(errors='replace') if log.exists() else ''
    s['log_tail'] = [l for l in text.splitlines() if l.strip()][-5:]
    m = re.search(r'iterations (\d+) -> (\d+) in (\d+) s', text)           # `sagan_nb train`'s last line
    if name == 'train' and m:
        a, b, t = map(int, m.groups())
        s['result'] = dict(iterations=b - a, seconds=t, it_s_with_startup=round((b - a) / max(t, 1), 3))
    g = smi(name, s.get('result', {}).get('window'))
    if g is not None: s['gpu_busy'] = g
    report['steps'][name] = s
report['total_seconds'] = round(sum(s['seconds'] for s in report['steps'].values()), 1)
report['failed'] = [n for n, s in report['steps'].items() if s['status'] not in ('ok', 'skipped')]
(out / 'report.json').write_text(json.dumps(report, indent=1, default=str))

def fmt(v):
    if isinstance(v, float): return f'{v:.4g}'
    if isinstance(v, (dict, list)): return '`' + json.dumps(v, default=str)[:400] + '`'
    return str(v).replace('|', '\\|')
md = [f"# GPU rehearsal report", '',
      f"{report['generated']} · device **{report['device']}**{' · tiny sizes' if report['tiny'] else ''} · "
      f"{report['wall_seconds']} s (limit {report['time_limit_s']} s) · install: {report['install_mode']} · "
      f"**{'all steps ok or skipped' if not report['failed'] else 'FAILED: ' + ', '.join(report['failed'])}**", '',
      '## Summary', '', '| step | status | seconds | note |', '|---|---|---|---|']
md += [f"| {n} | {s['status']} | {s['seconds']} | {fmt(s['note'])} |" for n, s in report['steps'].items()]
for name, heading in SECTIONS:
    s = report['steps'][name]
    md += ['', f'## {heading}', '', f"status **{s['status']}**, {s['seconds']} s" + (f": {s['note']}" if s['note'] else '')]
    res = s.get('result', {})
    if name == 'knobs' and res.get('rows'):
        md += ['', '| precision | channels_last | cudnn.benchmark | ms / it | it/s | peak MiB | in force (trainer, torch.backends) |',
               '|---|---|---|---|---|---|---|']
        md += [f"| {r['precision']} | {r['channels_last']} | {r['cudnn_benchmark']} | {r.get('ms_per_it', r.get('error'))} | "
               f"{r.get('it_s', '')} | {r.get('peak_mem_mib', r.get('peak_rss_mib', ''))} | "
               f"{', '.join(f'{k}={v}' for k, v in r.get('in_force', {}).items())} |" for r in res['rows']]
        res = {k: v for k, v in res.items() if k != 'rows'}
    if res: md += ['', '| | |', '|---|---|'] + [f'| {k} | {fmt(v)} |' for k, v in res.items() if k != 'window']
    if 'gpu_busy' in s:
        md += ['', f"GPU busy (nvidia-smi every 200 ms, {'the timed iterations' if res.get('window') else 'the whole step'}): "
                   f"{fmt(s['gpu_busy'])}"]
    log = out / 'logs' / f'{name}.log'
    if s['status'] == 'failed' and log.exists():
        md += ['', '```', *log.read_text(errors='replace').splitlines()[-25:], '```']
    elif not res and s['log_tail']: md += ['', '```', *s['log_tail'], '```']
md += ['', '## What to copy back', '',
       f'This folder without `work/`: `report.md`, `report.json`, `logs/` (each step\'s output), `steps/` (raw results and '
       f'nvidia-smi samples). For example: `tar czf rehearsal.tgz --exclude=work -C {out.parent} {out.name}`.']
(out / 'report.md').write_text('\n'.join(md) + '\n')
print(f"report: {out / 'report.md'} ({len(report['failed'])} failed)")
PY
"$PY" "$WORK/report.py" || die "the report could not be written (steps.tsv and logs/ are in $OUT)"
echo "gpu_rehearsal: done in $(($(date +%s) - START)) s: $OUT/report.md, $OUT/report.json"
failed=$(awk -F'\t' '$2 == "failed"' "$OUT/steps.tsv" | wc -l)
((failed == 0))
