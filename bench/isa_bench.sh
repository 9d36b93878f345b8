#!/usr/bin/env bash
# isa_bench.sh: one command that re-measures the CPU forward on this machine for every CPU path it
# supports (issue 14), and optionally the pytorch-forecasting peers, into one markdown file.
#
#   bash bench/isa_bench.sh [--quick] [--out FILE] [--seconds S] [--batches LIST] [--threads LIST]
#                           [--checkpoint CKPT --python PY [--skip IMPLS]] [--model M.safetensors] [--request R.json]
#
#   bench_forward  B = 1, 8, 64, 512, 4096 (--batches) x threads 1, 2 (--threads) x each CPU path the CPU
#                  has (TFT_ISA = avx512, avx2, portable; a path it lacks gets one "skipped" line; portable
#                  only up to B = 512, being ~10x slower), with
#                  the OpenBLAS sgemm roofline of the same run and thread count
#   compare.py     with --checkpoint (the Lightning checkpoint the model was exported from) and --python (an
#                  interpreter with weights/requirements.txt + onnxruntime): pytorch-forecasting eager,
#                  predict(), torch.compile, TorchScript/trace and ONNX Runtime at the same batches and
#                  thread counts (tft on the best path); without them, one line says the peers were skipped
#                  (--skip: compare.py's list of impls to leave out, e.g. compile: torch.compile's first call
#                  took ~220 s per batch size on a loaded 2-core machine)
#   --quick        B = 1, 8, 64, 0.3 s per configuration, peers at B = 1, 8: a check that it all runs
#
# Writes FILE (default build/isa_bench.md) and prints it. Run it on a quiet machine: the figures are wall
# time; the header records the load average before and after.
#
# OpenBLAS (0.3.21, DYNAMIC_ARCH) falls back to its Prescott (SSE3) kernels on CPUs newer than it knows
# (e.g. Intel family 6 model 207, Emerald Rapids), which would make the sgemm roofline ~4x too low. Unless
# OPENBLAS_CORETYPE is set, this script sets it from the CPU flags (SkylakeX with AVX-512, Haswell with
# AVX2) and the header records the core OpenBLAS used.
set -euo pipefail
cd "$(dirname "$0")/.."

ARGS_GIVEN="$*"
OUT=build/isa_bench.md
SECONDS_PER=2
BATCHES=1,8,64,512,4096
THREADS="1 2"
CKPT=""
PY=""
MODEL=weights/default.safetensors
REQUEST=weights/sample_request.json
PEER_BATCHES=""
PEER_SKIP=""
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) SECONDS_PER=0.3 BATCHES=1,8,64 PEER_BATCHES=1,8 ;;
    --out) OUT=$2; shift ;;
    --seconds) SECONDS_PER=$2; shift ;;
    --batches) BATCHES=$2; shift ;;
    --threads) THREADS=${2//,/ }; shift ;;
    --checkpoint) CKPT=$2; shift ;;
    --python) PY=$2; shift ;;
    --model) MODEL=$2; shift ;;
    --request) REQUEST=$2; shift ;;
    --skip) PEER_SKIP=$2; shift ;;
    -h | --help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "isa_bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
PEER_BATCHES=${PEER_BATCHES:-$BATCHES}

BUILD=$(make -s print-build)
make -s "$BUILD/bench/bench_forward" "$BUILD/tft" >/dev/null
BENCH=$BUILD/bench/bench_forward
mkdir -p "$(dirname "$OUT")"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/isa_bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
has() { case " $flags " in *" $1 "*) return 0 ;; esac; return 1; }
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    if has avx512f && has avx512bw && has avx512dq && has avx512vl; then export OPENBLAS_CORETYPE=SkylakeX
    elif has avx2 && has fma; then export OPENBLAS_CORETYPE=Haswell; fi
fi
cpu_model=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*: *//')
cpu_fms="family $(grep -m1 '^cpu family' /proc/cpuinfo | sed 's/^[^:]*: *//') model $(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | sed 's/^[^:]*: *//')"
avx512_flags=$(for f in avx512f avx512bw avx512dq avx512vl avx512_vnni avx512_bf16 avx512ifma avx512vbmi; do has $f && printf '%s ' $f; done)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
version=$("$BUILD/tft" version)

{
    echo "# tft CPU forward per CPU path: $cpu_model"
    echo
    echo "- CPU: $cpu_model ($cpu_fms), $(nproc) logical CPUs; AVX-512 flags: ${avx512_flags:-none}"
    echo "- libtft: $version (best path; each table below forces one with TFT_ISA)"
    echo "- OpenBLAS core for the roofline: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset (its own detection)}"
    echo "- run: $(date -u '+%Y-%m-%d %H:%M UTC'), load average before: $load_before"
    echo "- command: \`bash bench/isa_bench.sh $ARGS_GIVEN\` (bench_forward --seconds $SECONDS_PER, model $MODEL)"
    echo
} >"$OUT"

# one table per (path, threads): B, p50 latency, series/s, GFLOP/s, roofline fractions, gain over B=1
for isa in avx512 avx2 portable; do
    if ! TFT_ISA=$isa "$BUILD/tft" info "$MODEL" >/dev/null 2>"$WORK/err"; then
        echo "- path $isa: skipped: $(tr -d '\n' <"$WORK/err")" >>"$OUT"
        echo >>"$OUT"
        continue
    fi
    # the portable path runs ~10x slower: its batches stop at 512 (B=4096 would take minutes per rep)
    batches=$BATCHES
    [ "$isa" = portable ] && batches=$(echo "$BATCHES" | tr ',' '\n' | awk '$1 <= 512' | paste -sd, -)
    for t in $THREADS; do
        TFT_ISA=$isa "$BENCH" "$MODEL" "$REQUEST" --batches "$batches" --threads "$t" --seconds "$SECONDS_PER" \
            >"$WORK/$isa.$t.txt" 2>"$WORK/$isa.$t.err" || {
            echo "- path $isa, $t thread(s): bench_forward failed: $(tail -n 1 "$WORK/$isa.$t.err")" >>"$OUT"
            continue
        }
        awk -v isa="$isa" -v t="$t" '
            function kv(k,   i, p) { for (i = 1; i <= NF; i++) { p = index($i, "="); if (substr($i, 1, p - 1) == k) return substr($i, p + 1) } return "" }
            /^# bench=/ { core = kv("blas_core"); hdr_isa = kv("isa") }
            /^# roofline/ { sg50 = kv("sgemm_gflops_p50"); sgb = kv("sgemm_gflops_best") }
            /^level=series/ {
                n++; B[n] = kv("B"); p50[n] = kv("p50_us") / 1000; sps[n] = kv("series_per_s")
                gf[n] = kv("gflops"); rf[n] = kv("roofline_frac"); rfb[n] = kv("roofline_frac_best")
            }
            END {
                printf "### path %s, %d thread(s) (bench header isa=%s; sgemm %s GFLOP/s p50, %s best, OpenBLAS core %s)\n\n", isa, t, hdr_isa, sg50, sgb, core
                print "| B | p50 ms/batch | series/s | GFLOP/s | roofline (p50) | roofline (best) | series/s vs B=1 |"
                print "|---:|---:|---:|---:|---:|---:|---:|"
                for (i = 1; i <= n; i++)
                    printf "| %s | %.2f | %s | %s | %s | %s | %.2fx |\n", B[i], p50[i], sps[i], gf[i], rf[i], rfb[i], sps[i] / sps[1]
                print ""
            }' "$WORK/$isa.$t.txt" >>"$OUT"
    done
done

# the peers (compare.py), tft on the best path, at each thread count
if [ -n "$CKPT" ] && [ -n "$PY" ]; then
    for t in $THREADS; do
        echo "### pytorch-forecasting and peers, $t thread(s) (bench/peers/compare.py; tft on the best path)" >>"$OUT"
        echo >>"$OUT"
        if "$PY" bench/peers/compare.py "$CKPT" "$MODEL" "$REQUEST" --batches "$PEER_BATCHES" --threads "$t" \
            --seconds "$SECONDS_PER" --tft "$BENCH" ${PEER_SKIP:+--skip "$PEER_SKIP"} >"$WORK/peers.$t.txt" 2>"$WORK/peers.$t.err"; then
            # its markdown tables (from the first table line on), as printed
            awk '/^\|/ || /latency per batch/ {on = 1} on' "$WORK/peers.$t.txt" >>"$OUT"
        else
            echo "compare.py failed: $(tail -n 3 "$WORK/peers.$t.err" | tr '\n' ' ')" >>"$OUT"
        fi
        echo >>"$OUT"
    done
else
    echo "- peers: skipped (give --checkpoint CKPT --python PY to run bench/peers/compare.py)" >>"$OUT"
fi
echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT"
cat "$OUT"
