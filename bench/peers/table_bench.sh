#!/usr/bin/env bash
# forecast-table throughput and tft backtest beside pytorch-forecasting's (bench/RESULTS.md, issue 12).
#   bash bench/peers/table_bench.sh [PYTHON]   PYTHON: an interpreter with weights/requirements.txt (default python3)
# Every figure is one line on stdout; /usr/bin/time gives wall and CPU seconds (the CPU time is the better
# figure on a shared machine).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${1:-python3}
B=$(make -s print-build)
make -s cli >/dev/null
W=${TMPDIR:-/tmp}/tft-table-bench
mkdir -p "$W"
[ -f "$W/servers.csv" ] || python3 weights/make_table.py "$W/servers.csv"
[ -f "$W/u1000.csv" ] || python3 bench/peers/make_table_unknown.py 1000 400 "$W/u1000.csv"
for i in 1 2 3; do
  /usr/bin/time -f "forecast-table default model, 60 series x 6048 rows (362880 rows): %e s wall, %U s user, %S s sys, %M KB max RSS" \
    "$B/tft" forecast-table weights/default.safetensors "$W/servers.csv" -o "$W/fc.csv" -q
done
for i in 1 2 3; do
  /usr/bin/time -f "forecast-table new_series_unknown_cat, 1000 series x 400 rows (400000 rows): %e s wall, %U s user, %S s sys, %M KB max RSS" \
    "$B/tft" forecast-table weights/goldens/new_series_unknown_cat/model.safetensors "$W/u1000.csv" -o "$W/u_fc.csv" -q
done
# the backtest: an origin every 288 steps after 288 history rows (1200 windows of 96 steps), tft then pytorch-forecasting
/usr/bin/time -f "tft backtest: %e s wall, %U s user, %S s sys, %M KB max RSS" \
  "$B/tft" backtest weights/default.safetensors "$W/servers.csv" --every 288 --min-history 288 -o "$W/bt.csv"
"$PY" bench/peers/backtest_pf.py "$W/servers.csv" --every 288 --min-history 288 --threads "$(nproc)" \
  --compare "$W/bt.csv" 2>/dev/null
