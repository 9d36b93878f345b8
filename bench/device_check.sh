#!/usr/bin/env bash
# device_check.sh: everything a GPU check of tft needs, in one run of at most 8 minutes on a lent
# H100/H200 with no network (docs/DEVICE.md). Every step runs under `timeout` (its own budget, cut to
# what is left of the run's), a failed step never stops the run, and every step's exit status is kept.
#
#   bash bench/device_check.sh                      # on the device: writes $OUT (default ./device_out)
#   TFT_CHECK_DEVICE=cpu TFT_CHECK_BATCHES=1,8 TFT_CHECK_SECONDS=0.2 bash bench/device_check.sh
#                                                   # dry run without a GPU: the same pipeline on the CPU
#
# Steps, in order of what matters most when time runs short:
#   info          nvidia-smi, the device's name and compute capability, nvcc, compilers, tools found
#   deps          the C test/bench libraries (the kit's Debian sysroot when the image cannot link its
#                 own) and the kit's wheels (pytorch-forecasting & co.) into a private --target folder
#   build         make CUDA=1 CUDA_ARCH=<compute_cap> -j16: libtft, the CLI, test_cuda, test_golden,
#                 bench_forward;  build_all (last): `make -k all` (the server too), for the record
#   test_cuda     the CUDA launchers against the CPU _refs on the device
#   golden_cuda   test_golden with TFT_DEVICE=cuda;  golden_cpu: the same without TFT_DEVICE
#   backend_cuda  test_backend: the CUDA forward vs the CPU one on random batches, graph replay
#   bench_default / bench_electricity   bench_forward (TFT_DEVICE=cuda) at TFT_CHECK_BATCHES for the
#                 bundled default model and the electricity-shaped golden model: p50/p99, series/s
#   pf_default / pf_electricity         bench/peers/compare.py --device cuda: tft and pytorch-
#                 forecasting's eager forward (fp32, TF32 off) on the same GPU, batches and weights
#   memcheck / racecheck                compute-sanitizer on test_cuda (it has no size knob: whole)
#   profile       nsys (per-NVTX-range GPU time, per-kernel time) of bench_forward at B=64, else ncu
#   memcheck_golden                     compute-sanitizer memcheck on test_golden TFT_DEVICE=cuda
#   build_all     `make -k all`: whether the rest (the server) builds on the image, for the record
# Then bench/device_summary.py writes SUMMARY.md (tables like bench/RESULTS.md, the issue's targets
# met / not met, NVIDIA's published A100 TensorRT figures beside them) and it is printed last.
#
# $OUT holds at most 8 files (what the device tool brings back): SUMMARY.md, steps.tsv (step, status,
# rc, seconds, budget, note), bench.tsv (every timing parsed), check.log (every step's log, each
# capped at 256 KiB), profile.txt (the profiler's tables), logs.tar.gz (every log, whole).
#
# Environment (all optional):
#   OUT                  output folder (default ./device_out)
#   TFT_KIT              the kit built by bench/device_wheels.sh (default .device_kit): wheels/,
#                        sysroot.tar.xz, ckpt/ (carry it with the call)
#   TFT_CHECK_BUDGET_S   the whole run's budget in seconds (default 450: the device call's limit is
#                        600 s with start and transfers; the issue asks for at most 8 minutes)
#   TFT_CHECK_DEVICE     cuda (default) | cpu (dry run: GPU-only steps are marked NOGPU)
#   TFT_CHECK_BATCHES    default 1,8,64,1024,4096;   TFT_CHECK_SECONDS  bench_forward's timed seconds per B
#                        (default 1);  TFT_CHECK_PF_SECONDS  compare.py's, for tft and pf each (default 0.5)
#   TFT_CHECK_THREADS    bench_forward / compare.py threads (default 1)
#   TFT_CHECK_PYTHON     the Python with torch (default python3)
#   TFT_CHECK_STEPS      comma list of steps to run (default: all), e.g. info,deps,build,test_cuda
#   TFT_CHECK_SYSROOT    1: use the kit's sysroot even when the image links its own libraries
#   TFT_CUDA_GRAPHS       passed to the profile step (default 0): the backend's switch for CUDA-graph
#                        replay, off so that NVTX ranges enclose the kernels they launch
#   CUDA_HOME            default /usr/local/cuda
set -u
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2

# ---------------------------------------------------------------------------------------------------
# one step, run as a child of this script (`device_check.sh --step NAME`) so that `timeout` can kill it
# and everything it started; the parent exported everything the steps read
step_main() {
    local name=$1 make_vars=()
    # shellcheck disable=SC1091
    [[ -f $WORK/deps.env ]] && source "$WORK/deps.env"
    "do_$name"
}

say() { printf '%s\n' "$*"; }

do_info() {
    say "== date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')   host: $(uname -a)"
    [[ -r /etc/os-release ]] && grep -E '^(PRETTY_NAME|VERSION_ID)=' /etc/os-release
    say "== commit: $(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo 'unknown (no .git in the copy)')"
    say "== nproc: $(nproc)"; free -g 2>/dev/null | head -2
    say "== nvidia-smi"
    if command -v nvidia-smi >/dev/null; then
        timeout 20 nvidia-smi
        timeout 20 nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,persistence_mode,power.limit --format=csv
    else
        say "nvidia-smi: not found"
    fi
    say "== nvcc: $NVCC"; [[ -n $NVCC ]] && "$NVCC" --version
    say "== gcc: $(cc --version 2>/dev/null | head -1)"
    say "== make: $(make --version 2>/dev/null | head -1)"
    say "== python: $PY: $("$PY" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>&1 | tail -1)"
    say "== tools: nsys=${NSYS:-none} ncu=${NCU:-none} compute-sanitizer=${SANITIZER:-none}"
    say "== kit: $KIT"
    if [[ -f $KIT/MANIFEST.txt ]]; then cat "$KIT/MANIFEST.txt"; else say "(no MANIFEST.txt: no kit)"; fi
    say "== gpu: ${GPU_NAME:-none} compute_cap=${GPU_CC:-?} -> CUDA_ARCH=$CUDA_ARCH"
    [[ -n ${GPU_NAME:-} ]] || { say "FAILED: no GPU (nvidia-smi lists none)"; return 1; }
}

# links a probe against $1 (header) / $2 (libs) with the flags in $3 $4: 0 when it links
links() {
    local src=$WORK/probe.c
    printf '#include <setjmp.h>\n#include <stdarg.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <%s>\nint main(void) { return 0; }\n' "$1" > "$src"
    # shellcheck disable=SC2086
    cc $3 "$src" -o "$WORK/probe" $4 $2 >/dev/null 2>&1
}

do_deps() {
    local rc=0 make_vars=() ldp=""
    say "== C libraries for the tests (cmocka) and bench_forward (cblas: OpenBLAS)"
    if [[ ${TFT_CHECK_SYSROOT:-0} != 1 ]] && links cmocka.h "-lcmocka" "" "" &&
       links cblas.h "-lopenblas" "$(pkg-config --cflags openblas 2>/dev/null)" "$(pkg-config --libs-only-L openblas 2>/dev/null)"; then
        say "the image compiles and links cmocka and OpenBLAS: using its own"
    elif [[ -f $KIT/sysroot.tar.xz ]]; then
        local s=$WORK/sysroot lib=$WORK/sysroot/usr/lib/x86_64-linux-gnu
        mkdir -p "$s" || return 1
        tar -C "$s" -xJf "$KIT/sysroot.tar.xz" 2>/dev/null || "$PY" -c 'import sys, tarfile
t = tarfile.open(sys.argv[1])
t.extractall(sys.argv[2], **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))' "$KIT/sysroot.tar.xz" "$s" ||
            { say "FAILED: cannot unpack $KIT/sysroot.tar.xz"; return 1; }
        ldp="$lib:$lib/openblas-pthread"
        make_vars=("CMOCKA_CFLAGS=-I$s/usr/include" "CMOCKA_LIBS=-L$lib -Wl,-rpath,$lib -lcmocka"
                   "BLAS_CFLAGS=-I$s/usr/include/x86_64-linux-gnu/openblas-pthread"
                   "BLAS_LIBS=-L$lib/openblas-pthread -Wl,-rpath,$lib/openblas-pthread -Wl,-rpath,$lib -lopenblas")
        say "using the kit's sysroot ($KIT/sysroot.tar.xz -> $s)"
        links cmocka.h "-L$lib -lcmocka" "-I$s/usr/include" "" || { say "FAILED: cmocka from the kit does not link"; rc=1; }
        links cblas.h "-L$lib/openblas-pthread -Wl,-rpath-link,$lib -lopenblas" \
            "-I$s/usr/include/x86_64-linux-gnu/openblas-pthread" "" || { say "FAILED: OpenBLAS from the kit does not link"; rc=1; }
    else
        say "FAILED: the image cannot link cmocka/OpenBLAS and there is no $KIT/sysroot.tar.xz (bench/device_wheels.sh)"
        rc=1
    fi
    {
        declare -p make_vars
        printf 'export LD_LIBRARY_PATH=%q\n' "${ldp:+$ldp:}$CUDA_HOME/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    } > "$WORK/deps.env"

    say "== Python: pytorch-forecasting and the versions its checkpoints were pickled with"
    if compgen -G "$KIT/wheels/*.whl" >/dev/null; then
        ls -1 "$KIT"/wheels/*.whl
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" \
            "$KIT"/wheels/*.whl || { say "FAILED: pip install of the kit's wheels"; rc=1; }
    else
        say "no wheels in $KIT/wheels (bench/device_wheels.sh): using what $PY has"
    fi
    PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}" "$PY" -c '
import importlib
for m in ("torch", "lightning", "pandas", "sklearn", "pytorch_forecasting"):
    mod = importlib.import_module(m)
    print(f"{m} {mod.__version__} {mod.__file__}")' || { say "FAILED: pytorch-forecasting does not import"; rc=1; }
    return $rc
}

mk() { # make with the configuration of this run
    # shellcheck disable=SC2154
    make CUDA=1 CUDA_ARCH="$CUDA_ARCH" CUDA_HOME="$CUDA_HOME" "${make_vars[@]}" "$@"
}

do_build() {
    [[ -n $NVCC ]] || { say "FAILED: no nvcc ($CUDA_HOME/bin/nvcc or PATH)"; return 1; }
    mk -j16 "$BUILD/libtft.a" "$BUILD/tft" "$BUILD/tests/test_cuda" "$BUILD/tests/test_golden" \
        "$BUILD/tests/test_backend" "$BUILD/bench/bench_forward"
}

do_build_all() {
    mk -k -j16 all
}

need() { # need FILE...: the step's binaries, or a clear line
    local f
    for f in "$@"; do [[ -x $f ]] || { say "FAILED: $f was not built (see the build step)"; return 1; }; done
}

do_test_cuda() {
    need "$BUILD/tests/test_cuda" || return 1
    "$BUILD/tests/test_cuda"
}

do_golden_cuda() {
    need "$BUILD/tests/test_golden" || return 1
    TFT_DEVICE=cuda "$BUILD/tests/test_golden"
}

do_backend_cuda() {
    need "$BUILD/tests/test_backend" || return 1
    "$BUILD/tests/test_backend"
}

do_golden_cpu() {
    need "$BUILD/tests/test_golden" || return 1
    env -u TFT_DEVICE "$BUILD/tests/test_golden"
}

# gpu_watch CMD...: runs CMD while sampling the GPU's memory use and utilization every 0.5 s, then prints
# one "# gpu_watch:" line, so the summary can tell a step that ran on the GPU from one that silently
# did not (memory use is read from the device, so it works inside containers where nvidia-smi lists
# no processes)
gpu_watch() {
    [[ -n $GPU_NAME && $DEV == cuda ]] || { "$@"; return; }
    local f=$WORK/gpu_watch.$BASHPID.txt w rc before
    q() { nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader,nounits 2>/dev/null | head -1; }
    before=$(q)
    (while :; do q; sleep 0.5; done) > "$f" &
    w=$!
    "$@"
    rc=$?
    kill "$w" 2>/dev/null
    wait "$w" 2>/dev/null
    awk -F', *' -v b="$before" 'BEGIN { split(b, x, /, */) } NF >= 2 { if ($1 + 0 > m) m = $1 + 0; if ($2 + 0 > u) u = $2 + 0; n++ }
        END { printf "# gpu_watch: samples=%d memory_used_mib_before=%d memory_used_mib_max=%d utilization_pct_max=%d\n", n, x[1], m, u }' "$f"
    return $rc
}

bench() { # bench MODEL REQUEST: bench_forward on this run's device at this run's batches
    need "$BUILD/bench/bench_forward" || return 1
    say "# command: TFT_DEVICE=$DEV $BUILD/bench/bench_forward $1 $2 --batches $BATCHES --seconds $SECS --threads $THREADS --no-roofline"
    TFT_DEVICE=$DEV gpu_watch "$BUILD/bench/bench_forward" "$1" "$2" --batches "$BATCHES" --seconds "$SECS" \
        --threads "$THREADS" --no-roofline
}

do_bench_default() {
    bench weights/default.safetensors weights/sample_request.json
}

# the request inside a golden fixture (its __metadata__["request"], weights/FORMAT.md) as a JSON file
fixture_request() {
    "$PY" -c 'import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]
sys.stdout.write(json.loads(f.read(n))["__metadata__"]["request"])' "$1" > "$2"
}

do_bench_electricity() {
    fixture_request weights/goldens/electricity/fixture.safetensors "$WORK/electricity.request.json" || return 1
    bench weights/goldens/electricity/model.safetensors "$WORK/electricity.request.json"
}

peers() { # peers NAME: compare.py on the kit's checkpoint NAME (tft and pf_forward, same weights, same GPU)
    local c=$KIT/ckpt/$1
    need "$BUILD/bench/bench_forward" || return 1
    [[ -f $c.ckpt && -f $c.safetensors && -f $c.request.json ]] ||
        { say "FAILED: no checkpoint $c.{ckpt,safetensors,request.json} in the kit (bench/device_wheels.sh)"; return 1; }
    say "# command: $PY bench/peers/compare.py $c.ckpt $c.safetensors $c.request.json --batches $BATCHES --seconds $PF_SECS --threads $THREADS --tft $BUILD/bench/bench_forward --skip predict,script,onnx,compile --device $DEV"
    PYTHONUNBUFFERED=1 PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}" gpu_watch "$PY" bench/peers/compare.py \
        "$c.ckpt" "$c.safetensors" "$c.request.json" --batches "$BATCHES" --seconds "$PF_SECS" --threads "$THREADS" \
        --tft "$BUILD/bench/bench_forward" --skip predict,script,onnx,compile --device "$DEV"
}

do_pf_default() { peers default; }
do_pf_electricity() { peers electricity; }

sanitize() { # sanitize TOOL BINARY...: compute-sanitizer; exit status 99 when it reports an error
    [[ -n $SANITIZER ]] || { say "SKIPPED: compute-sanitizer not found (PATH, $CUDA_HOME/bin, $CUDA_HOME/compute-sanitizer)"; return 127; }
    need "$2" || return 1
    local tool=$1; shift
    "$SANITIZER" --tool "$tool" --error-exitcode 99 --print-limit 100 "$@"
}

do_memcheck() { sanitize memcheck "$BUILD/tests/test_cuda"; }
do_racecheck() { sanitize racecheck "$BUILD/tests/test_cuda"; }
do_memcheck_golden() { TFT_DEVICE=cuda sanitize memcheck "$BUILD/tests/test_golden"; }

# one bench_forward run at B=64 on the default model under the profiler: the profiler's own output goes to
# the step's log, its tables (per NVTX range, per kernel) to $OUT/profile.txt
do_profile() {
    need "$BUILD/bench/bench_forward" || return 1
    local prof=$OUT/profile.txt rc r
    local run=(env TFT_DEVICE=cuda TFT_CUDA_GRAPHS="${TFT_CUDA_GRAPHS:-0}" "$BUILD/bench/bench_forward"
               weights/default.safetensors weights/sample_request.json --batches 64 --no-roofline)
    : > "$prof"
    if [[ -n $NSYS ]]; then
        say "== $NSYS profile -t cuda,nvtx,cublas --stats=true: ${run[*]} --seconds 1"
        "$NSYS" profile -t cuda,nvtx,cublas --stats=true --force-overwrite true -o "$WORK/prof" "${run[@]}" --seconds 1
        rc=$?
        if [[ $rc == 0 && -f $WORK/prof.nsys-rep ]]; then
            say "# nsys profile -t cuda,nvtx,cublas: ${run[*]} --seconds 1" >> "$prof"
            # nvtx_gpu_proj_sum: each NVTX range projected onto the GPU, i.e. the GPU time per block
            for r in nvtx_gpu_proj_sum nvtx_sum cuda_gpu_kern_sum cuda_gpu_mem_time_sum cuda_api_sum; do
                { say "## nsys stats -r $r"; "$NSYS" stats -r "$r" -f table "$WORK/prof.nsys-rep" 2>&1 ||
                    say "(report $r: not available from this nsys)"; } >> "$prof"
            done
            return 0
        fi
        say "nsys gave no report (rc=$rc): trying ncu"
    else
        say "nsys not found (PATH, $CUDA_HOME/bin, /opt/nvidia/nsight-systems*): trying ncu"
    fi
    if [[ -n $NCU ]]; then
        # one metric (each kernel's duration): one pass per kernel; the clocks as found (METHOD.md)
        say "== $NCU --nvtx --metrics gpu__time_duration.sum --clock-control none: ${run[*]} --seconds 0"
        "$NCU" --nvtx --metrics gpu__time_duration.sum --clock-control none --launch-count 2000 \
            --force-overwrite --export "$WORK/prof" "${run[@]}" --seconds 0
        rc=$?
        [[ -f $WORK/prof.ncu-rep ]] || { say "ncu wrote no report (rc=$rc)"; return 1; }
        say "# ncu --nvtx --metrics gpu__time_duration.sum: ${run[*]} --seconds 0 (2 warm-ups + 5 timed)" >> "$prof"
        for r in per-nvtx per-kernel; do
            { say "## ncu --import prof.ncu-rep --print-summary $r"; "$NCU" --import "$WORK/prof.ncu-rep" --print-summary "$r"; } \
                >> "$prof" 2>&1 || rc=1
        done
        if [[ $rc != 0 ]]; then # every launch, one line each
            { say "## ncu --import prof.ncu-rep --page raw --csv"; "$NCU" --import "$WORK/prof.ncu-rep" --page raw --csv \
                --metrics gpu__time_duration.sum; } >> "$prof" 2>&1 && rc=0
        fi
        return $rc
    fi
    say "SKIPPED: neither nsys nor ncu gave a profile"
    return 127
}

if [[ ${1:-} == --step ]]; then
    step_main "$2"
    exit $?
fi

# ---------------------------------------------------------------------------------------------------
# the run
export OUT=${OUT:-$ROOT/device_out}
mkdir -p "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT/SUMMARY.md" "$OUT/steps.tsv" "$OUT/bench.tsv" "$OUT/check.log" "$OUT/profile.txt" "$OUT/logs.tar.gz"
export KIT=${TFT_KIT:-.device_kit}
[[ -d $KIT ]] && KIT=$(cd "$KIT" && pwd)
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
export PATH=$PATH:$CUDA_HOME/bin:/usr/local/nvidia/bin
export LD_LIBRARY_PATH=$CUDA_HOME/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export DEV=${TFT_CHECK_DEVICE:-cuda}
export BATCHES=${TFT_CHECK_BATCHES:-1,8,64,1024,4096}
export SECS=${TFT_CHECK_SECONDS:-1}
export PF_SECS=${TFT_CHECK_PF_SECONDS:-0.5}
export THREADS=${TFT_CHECK_THREADS:-1}
export PY=${TFT_CHECK_PYTHON:-python3}
BUDGET=${TFT_CHECK_BUDGET_S:-450}
STEPS=${TFT_CHECK_STEPS:-info,deps,build,test_cuda,golden_cuda,backend_cuda,golden_cpu,bench_default,bench_electricity,pf_default,pf_electricity,memcheck,racecheck,profile,memcheck_golden,build_all}
export WORK
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tft-devcheck.XXXXXX") || exit 2
mkdir -p "$WORK/logs"
T0=$(date +%s)
DEADLINE=$((T0 + BUDGET))
RESERVE=15 # seconds kept for the summary and the archive

first_of() { local p; for p in "$@"; do [[ -n $p && -x $p ]] && { echo "$p"; return; }; done; }
export NVCC NSYS NCU SANITIZER
NVCC=$(first_of "$CUDA_HOME/bin/nvcc" "$(command -v nvcc)")
NSYS=$(first_of "$(command -v nsys)" "$CUDA_HOME/bin/nsys" /opt/nvidia/nsight-systems*/bin/nsys \
    /usr/local/cuda/nsight-systems*/bin/nsys)
NCU=$(first_of "$(command -v ncu)" "$CUDA_HOME/bin/ncu" /opt/nvidia/nsight-compute/*/ncu)
SANITIZER=$(first_of "$(command -v compute-sanitizer)" "$CUDA_HOME/bin/compute-sanitizer" \
    "$CUDA_HOME/compute-sanitizer/compute-sanitizer" /opt/nvidia/compute-sanitizer/compute-sanitizer)

# the GPU: its name and compute capability decide CUDA_ARCH (9.0 -> 90: H100/H200); none -> 90, GPU steps NOGPU
export GPU_NAME="" GPU_CC="" CUDA_ARCH=${CUDA_ARCH:-}
if command -v nvidia-smi >/dev/null; then
    q=$(timeout 20 nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader 2>/dev/null | head -1)
    if [[ $q == *,* ]]; then GPU_NAME=${q%%,*}; GPU_CC=${q##*, }; fi
fi
if [[ -z $CUDA_ARCH ]]; then
    if [[ $GPU_CC =~ ^([0-9]+)\.([0-9]+)$ ]]; then CUDA_ARCH=${BASH_REMATCH[1]}${BASH_REMATCH[2]}; else CUDA_ARCH=90; fi
fi
BUILD=build/cuda
export BUILD

# GPU-only steps (no CPU stand-in); bench_* and pf_* follow TFT_CHECK_DEVICE
gpu_only=",test_cuda,golden_cuda,backend_cuda,memcheck,racecheck,profile,memcheck_golden,"
[[ $DEV == cuda ]] && gpu_only+="bench_default,bench_electricity,pf_default,pf_electricity,"

printf 'step\tstatus\trc\tseconds\tbudget_s\tnote\n' > "$OUT/steps.tsv"
say "device_check: OUT=$OUT KIT=$KIT device=$DEV batches=$BATCHES seconds=$SECS budget=${BUDGET}s gpu='${GPU_NAME:-none}' CUDA_ARCH=$CUDA_ARCH" |
    tee "$OUT/check.log"

# record NAME STATUS RC SECONDS BUDGET NOTE
record() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$OUT/steps.tsv"
    printf '%-18s %-8s rc=%-4s %5ss (budget %ss) %s\n' "$@"
}

run_step() { # run_step NAME BUDGET_S
    local name=$1 budget=$2 log=$WORK/logs/$1.log
    local left=$((DEADLINE - $(date +%s) - RESERVE))
    local t=$((budget < left ? budget : left))
    if [[ -z $GPU_NAME && $gpu_only == *",$name,"* ]]; then
        say "NOGPU: no GPU here (nvidia-smi lists none): $name not run" > "$log"
        record "$name" NOGPU - 0 "$budget" "no GPU (nvidia-smi lists none)"
    elif ((t < 5)); then
        say "SKIPPED: the run's budget (${BUDGET}s) is spent" > "$log"
        record "$name" SKIPPED - 0 "$budget" "no time left in the run's budget"
    else
        local s e rc status note=""
        s=$(date +%s)
        timeout -k 5 "$t" "$SELF" --step "$name" > "$log" 2>&1 < /dev/null
        rc=$?
        e=$(($(date +%s) - s))
        case $rc in
        0) status=ok ;;
        77) status=SKIP note="exit 77: the test skipped (no usable device)" ;;
        124 | 137) status=TIMEOUT note="killed after ${t}s" ;;
        127) status=MISSING note=$({ grep -m1 SKIPPED "$log" || grep -m1 'not found' "$log"; } | cut -c1-200) ;;
        *) status=FAIL note=$({ grep -m1 FAILED "$log" || grep -m1 -E '[Ee]rror' "$log" || tail -n1 "$log"; } | cut -c1-200) ;;
        esac
        record "$name" "$status" "$rc" "$e" "$t" "$note"
    fi
    # the whole log in the archive (a runaway one cut to its first and last 8 MiB), 256 KiB of it in check.log
    if (($(stat -c %s "$log") > 16777216)); then
        { head -c 8388608 "$log"; printf '\n... [cut] ...\n'; tail -c 8388608 "$log"; } > "$log.cut" && mv "$log.cut" "$log"
    fi
    {
        printf '\n======== %s ========\n' "$name"
        if (($(stat -c %s "$log") > 262144)); then
            head -c 131072 "$log"; printf '\n... [cut: whole log in logs.tar.gz] ...\n'; tail -c 131072 "$log"
        else
            cat "$log"
        fi
    } >> "$OUT/check.log"
}

# SUMMARY.md and bench.tsv from the logs so far: after every step, so that a run killed from outside
# still leaves its tables (steps.tsv and check.log grow step by step too)
summarize() {
    local args=(--out "$OUT" --logs "$WORK/logs" --device "$DEV" --gpu "${GPU_NAME:-none}" --budget "$BUDGET"
                --elapsed "$(($(date +%s) - T0))")
    "$PY" "$ROOT/bench/device_summary.py" "${args[@]}" 2> "$WORK/summary.err" ||
        python3 "$ROOT/bench/device_summary.py" "${args[@]}" 2>> "$WORK/summary.err"
}

finish() {
    trap - EXIT INT TERM
    summarize || { say "device_summary.py failed:"; cat "$WORK/summary.err"; } >> "$OUT/check.log"
    tar -C "$WORK" -czf "$OUT/logs.tar.gz" logs
    [[ -s $OUT/profile.txt ]] || rm -f "$OUT/profile.txt"
    say ""
    if [[ -f $OUT/SUMMARY.md ]]; then cat "$OUT/SUMMARY.md"; else say "no SUMMARY.md (see $OUT/check.log)"; fi
    rm -rf "$WORK"
}
trap finish EXIT
trap 'exit 130' INT TERM

declare -A BUDGETS=([info]=30 [deps]=90 [build]=240 [test_cuda]=90 [golden_cuda]=90 [golden_cpu]=60
    [bench_default]=60 [bench_electricity]=60 [pf_default]=120 [pf_electricity]=120 [memcheck]=90 [racecheck]=90
    [profile]=90 [memcheck_golden]=60 [build_all]=45)
IFS=, read -r -a steps <<< "$STEPS"
for s in "${steps[@]}"; do
    if [[ -z ${BUDGETS[$s]:-} ]]; then
        record "$s" FAIL - 0 0 "unknown step (known: ${!BUDGETS[*]})"
        continue
    fi
    run_step "$s" "${BUDGETS[$s]}"
    summarize
done
