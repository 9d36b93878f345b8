#!/usr/bin/env bash
# Load benchmark of tft-server (issue 3), everything in one run:
#   1. closed loop: wrk, concurrency 1..256, 1-series and 64-series requests: requests/s, p50/p99/p999,
#      the effective batch the server formed (from /metrics), and beside it the in-process engine
#      (bench_forward, same model, same series, one thread) at that batch size;
#   2. locust (the Python services' load tool) at 64 users, 1-series requests;
#   3. open loop (bench/load/openloop.py): a soak at about 70% of the measured capacity (errors and
#      server RSS over time) and a 2x overload (status mix, latency of the 503s).
# The server (I/O thread, batcher, one worker) is pinned to CPU 0, the load generators to CPU 1.
#
#   bash bench/load/run.sh [--quick]      (--quick: short durations, for trying the script)
#   CAP=840 bash bench/load/run.sh        (only the soak and the overload, at 70% / 2x of CAP requests/s)
# Needs: make (build/tft-server, bench_forward), wrk (apt), locust (pip). Output: key=value lines,
# also saved in build/load/results.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
QUICK=0; [ "${1:-}" = "--quick" ] && QUICK=1
DUR=${DUR:-$([ $QUICK = 1 ] && echo 3 || echo 10)}
SOAK_S=${SOAK_S:-$([ $QUICK = 1 ] && echo 20 || echo 300)}
OVER_S=${OVER_S:-$([ $QUICK = 1 ] && echo 10 || echo 30)}
CONCS=${CONCS:-"1 2 4 8 16 32 64 128 256"}
MODEL=weights/default.safetensors
MAX_BATCH=${MAX_BATCH:-64}
DELAY_US=${DELAY_US:-2000}
OUT=build/load
mkdir -p $OUT
exec > >(tee $OUT/results.txt) 2>&1

BUILD_DIR=$(make -s print-build)
make -s -j2 all "$BUILD_DIR/bench/bench_forward" >/dev/null
SERVER_BIN=$BUILD_DIR/tft-server
python3 bench/load/make_bodies.py $OUT 1 64 >/dev/null

echo "load machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; commit $(git rev-parse --short HEAD)"
echo "server: taskset -c 0 $SERVER_BIN --model $MODEL --workers 1 --max-batch $MAX_BATCH --max-queue-delay-us $DELAY_US"

start_server() { # extra flags...
    taskset -c 0 $SERVER_BIN --model $MODEL --port 0 --workers 1 --max-batch $MAX_BATCH \
        --max-queue-delay-us $DELAY_US "$@" > $OUT/server.log 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        PORT=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' $OUT/server.log)
        [ -n "$PORT" ] && break; sleep 0.1
    done
    [ -n "$PORT" ] || { cat $OUT/server.log; exit 1; }
    URL=http://127.0.0.1:$PORT
}
stop_server() { kill -TERM $SERVER_PID; wait $SERVER_PID || true; }
# the server's own view of /v1/forecast latency (headers in -> answer queued): share of requests within
# each histogram bound, to tell server-side delay from the load generator's own
server_latency() {
    curl -s $URL/metrics | awk -v label="$1" '/^tft_http_request_duration_seconds_bucket\{endpoint="forecast"/ {
        match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); n[++k] = $2; b[k] = le }
        END { out = ""; for (i = 1; i <= k; i++) if (b[i] == "0.01" || b[i] == "0.025" || b[i] == "0.1" || b[i] == "0.25" || b[i] == "1")
              out = out sprintf(" within_%ss=%.5f", b[i], n[i] / n[k]); print "server_latency label=" label " requests=" n[k] out }'
}

# sum and count of the server's batch-size histogram (series per forward call), series computed, and a
# timestamp: the server-side throughput over a wrk window counts every series computed in it, also those
# of requests still in flight when wrk stops (wrk's own rps undercounts when a round trip nears the window)
batch_stats() {
    curl -s $URL/metrics | awk -v t="$(date +%s.%N)" '/^tft_batch_size_sum/ {s=$2} /^tft_batch_size_count/ {c=$2}
        /^tft_series_total/ {n=$2} END {printf "%.0f %.0f %.0f %s\n", s, c, n, t}'
}

if [ -n "${CAP:-}" ]; then echo "(CAP=$CAP given: closed loop, in-process and locust skipped)"; else
echo "== closed loop (wrk)"
start_server --queue-cap 4096
for n in 1 64; do
    for c in $CONCS; do
        read -r s0 c0 n0 t0 < <(batch_stats)
        line=$(taskset -c 1 wrk -t1 -c"$c" -d"${DUR}s" --timeout 60s -s bench/load/forecast.lua \
            "$URL/v1/forecast" -- $OUT/body_$n.json "series=$n,conns=$c" | grep '^wrk ')
        read -r s1 c1 n1 t1 < <(batch_stats)
        eff=$(awk -v a="$s1" -v b="$s0" -v x="$c1" -v y="$c0" 'BEGIN {printf "%.1f", (x > y) ? (a - b) / (x - y) : 0}')
        rps=$(sed 's/.* rps=\([0-9.]*\).*/\1/' <<<"$line")
        sps=$(awk -v r="$rps" -v n=$n 'BEGIN {printf "%.0f", r * n}')
        ssps=$(awk -v a="$n1" -v b="$n0" -v x="$t1" -v y="$t0" 'BEGIN {printf "%.0f", (a - b) / (x - y)}')
        echo "$line series_per_s=$sps server_series_per_s=$ssps eff_batch=$eff"
        # let the queue empty before the next level (closed-loop requests still in flight when wrk stopped)
        for _ in $(seq 600); do [ "$(curl -s $URL/metrics | awk '/^tft_queue_depth/ {print $2}')" = 0 ] && break; sleep 0.1; done
    done
done
stop_server

echo "== in-process engine at the batch sizes the server formed (one thread, CPU 0)"
taskset -c 0 "$BUILD_DIR/bench/bench_forward" $MODEL weights/sample_request.json --batches 1,2,4,8,16,32,64 \
    --threads 1 --seconds 2

echo "== locust, 64 users, 1-series requests (CPU 1)"
start_server --queue-cap 4096
TFT_BODY=$OUT/body_1.json taskset -c 1 locust -f bench/load/locustfile.py --headless -u 64 -r 64 -t "${DUR}s" \
    --host $URL --csv $OUT/locust_1 --only-summary >/dev/null 2>&1 || true
python3 - $OUT/locust_1_stats.csv <<'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    if r["Name"] == "Aggregated":
        print(f"locust users=64 series=1 requests={r['Request Count']} failures={r['Failure Count']} "
              f"rps={float(r['Requests/s']):.1f} p50_ms={r['50%']} p99_ms={r['99%']} p999_ms={r['99.9%']}")
PY
stop_server

# capacity: the best closed-loop 1-series rate measured above
CAP=$(grep '^wrk label=series=1,' $OUT/results.txt | sed 's/.* rps=\([0-9.]*\).*/\1/' | sort -g | tail -1)
fi
echo "== soak: ${SOAK_S}s open loop at 70% of $CAP requests/s (1-series requests)"
start_server --queue-cap 256
taskset -c 1 python3 bench/load/openloop.py --url $URL/v1/forecast --body $OUT/body_1.json \
    --rate "$(awk -v c="$CAP" 'BEGIN {print c * 0.7}')" --seconds "$SOAK_S" --pid $SERVER_PID --label soak
server_latency soak
stop_server

echo "== latency at 80% of capacity: 60 s open loop at 0.8 x $CAP requests/s (1-series requests)"
start_server --queue-cap 256
taskset -c 1 python3 bench/load/openloop.py --url $URL/v1/forecast --body $OUT/body_1.json \
    --rate "$(awk -v c="$CAP" 'BEGIN {print c * 0.8}')" --seconds 60 --pid $SERVER_PID --rss-every 30 --label p80
read -r s1 c1 _ _ < <(batch_stats)
echo "p80 eff_batch=$(awk -v a="$s1" -v b="$c1" 'BEGIN {printf "%.2f", b ? a / b : 0}')"
server_latency p80
stop_server

echo "== overload: ${OVER_S}s open loop at 2x $CAP requests/s, queue cap 64 requests"
start_server --queue-cap 64
taskset -c 1 python3 bench/load/openloop.py --url $URL/v1/forecast --body $OUT/body_1.json \
    --rate "$(awk -v c="$CAP" 'BEGIN {print c * 2}')" --seconds "$OVER_S" --pid $SERVER_PID --label overload
server_latency overload
stop_server
echo "== done: $OUT/results.txt"
