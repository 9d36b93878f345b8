#!/usr/bin/env bash
# Slow clients beside real load (RELIABILITY.md G-07/G-08, issue 10). Each run starts a fresh server
# (pinned to CPU 0; the clients to CPU 1) and reports one key=value line per measurement:
#   1. baseline: wrk, WRK_CONNS connections of 1-series forecasts, no attack;
#   2. slowhttptest slowloris (-H -c 1000 -i 10 -r 200), slow body (-B, same), slow read (-X on
#      /metrics, 12 kB answers read 32 bytes at a time), each for SECONDS with the same wrk beside it:
#      wrk's status mix and p99 (G-08: 100 % success, p99 <= 2x baseline), the server's open
#      descriptors at the peak (G-08: <= --max-connections + 16), its tft_http_connections_cut_total
#      counters, and slowhttptest's last "service available" sample;
#   3. the issue's case: 40 connections trickling a header line every 3 s into --max-connections 32
#      --idle-timeout-s 5, with a health probe every 0.5 s (answered / failed, worst latency).
#
#   bash bench/load/slow_clients.sh [SECONDS]        (default 60; G-08's campaign length is 120)
#   SERVER_BIN=/tmp/old/tft-server PARTS=issue bash bench/load/slow_clients.sh 30   (another build; PARTS:
#   any of "baseline H B X issue", default all)
# Needs: slowhttptest and wrk (apt), curl. Output also in build/load/slow_clients.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
S=${1:-60}
PARTS=${PARTS:-baseline H B X issue}
part() { case " $PARTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
WRK_CONNS=${WRK_CONNS:-4}
OUT=build/load
mkdir -p $OUT
exec > >(tee $OUT/slow_clients.txt) 2>&1
if [ -z "${SERVER_BIN:-}" ]; then
    make -s -j2 server >/dev/null
    SERVER_BIN=$(make -s print-build)/tft-server
fi
python3 bench/load/make_bodies.py $OUT 1 >/dev/null
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- server || echo +uncommitted); server $SERVER_BIN"

start_server() { # flags...
    taskset -c 0 $SERVER_BIN --model weights/default.safetensors --port 0 --workers 1 "$@" >$OUT/slow_server.log 2>&1 &
    SPID=$!
    PORT=
    for _ in $(seq 100); do
        PORT=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' $OUT/slow_server.log)
        [ -n "$PORT" ] && break; sleep 0.1
    done
    [ -n "$PORT" ] || { cat $OUT/slow_server.log; exit 1; }
    URL=http://127.0.0.1:$PORT
}
stop_server() { kill -TERM $SPID 2>/dev/null || true; wait $SPID 2>/dev/null || true; }
run_wrk() { # label seconds
    taskset -c 1 wrk -t1 -c$WRK_CONNS -d${2}s --timeout 10s -s bench/load/forecast.lua $URL/v1/forecast -- \
        $OUT/body_1.json "$1"
}
peak_fds() { # seconds: the most descriptors the server had open, sampled every 0.5 s
    local m=0 n
    for _ in $(seq $(($1 * 2))); do
        n=$(ls /proc/$SPID/fd 2>/dev/null | wc -l); [ "$n" -gt "$m" ] && m=$n; sleep 0.5
    done
    echo $m
}
cuts() { curl -s -m 5 $URL/metrics | sed -n 's/^tft_http_connections_cut_total{reason="\([a-z_]*\)"} \([0-9]*\)/\1=\2/p' | tr '\n' ' '; }

if part baseline; then
    start_server
    run_wrk baseline $S
    stop_server
fi

for mode in H B X; do
    part $mode || continue
    start_server
    case $mode in
        H) args=(-H -c 1000 -i 10 -r 200 -u $URL/v2/health/ready) ;;
        B) args=(-B -c 1000 -i 10 -r 200 -s 8192 -u $URL/v1/forecast -f application/json) ;;
        X) args=(-X -c 1000 -r 200 -k 3 -n 1 -w 16 -y 64 -z 32 -u $URL/metrics) ;;
    esac
    taskset -c 1 slowhttptest "${args[@]}" -l $S -p 3 -g -o $OUT/slow_$mode >$OUT/slow_$mode.log 2>&1 &
    APID=$!
    sleep 2
    (peak_fds $((S - 4)) >$OUT/slow_fds_$mode) &
    FPID=$!
    run_wrk "slow_$mode" $((S - 4))
    wait $APID || true
    wait $FPID || true
    avail=$(grep -a "service available" $OUT/slow_$mode.log | tail -1 | sed 's/.*service available: *//; s/\x1b\[[0-9;]*m//g')
    nfd=$(ls /proc/$SPID/fd | wc -l)
    echo "slowhttptest mode=-$mode seconds=$S peak_fds=$(cat $OUT/slow_fds_$mode) fds_at_end=$nfd $(cuts) last_probe_available=${avail:-?}"
    # its CSV: Seconds,Closed,Pending,Connected,Service Available (0 = its probe got no answer in 3 s)
    awk -F, -v m=$mode 'NR > 1 { n++; if ($4 + 0 > c) c = $4 + 0; if ($5 + 0 == 0) u++ }
        END { printf "slowhttptest_csv mode=-%s samples=%d max_connected=%d probe_unavailable_samples=%d\n", m, n, c, u }' \
        $OUT/slow_$mode.csv || true
    stop_server
done

# the issue's case
part issue || exit 0
start_server --max-connections 32 --idle-timeout-s 5
python3 - "$PORT" "$S" <<'PY'
import socket, sys, threading, time
port, secs = int(sys.argv[1]), int(sys.argv[2])
stop = time.time() + secs
def loris():
    while time.time() < stop:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n")
            while time.time() < stop:
                time.sleep(3)
                s.sendall(b"X-a: b\r\n")
        except OSError:
            time.sleep(0.1)
for _ in range(40):
    threading.Thread(target=loris, daemon=True).start()
time.sleep(1)
ok = bad = 0; worst = 0.0
while time.time() < stop:
    t = time.time()
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=2); c.settimeout(2)
        c.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        r = c.recv(100); c.close()
        if r.startswith(b"HTTP/1.1 200"): ok += 1
        else: bad += 1
    except OSError:
        bad += 1
    worst = max(worst, time.time() - t)
    time.sleep(max(0, 0.5 - (time.time() - t)))
print(f"slowloris_40_on_32 seconds={secs} probes_ok={ok} probes_failed={bad} worst_probe_ms={worst*1000:.0f}")
PY
echo "cuts: $(cuts)"
stop_server
