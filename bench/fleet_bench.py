#!/usr/bin/env python3
"""Fleet mode benchmark (issue 11): a real tft-server --fleet on loopback, N series of the default model.

    python3 bench/fleet_bench.py [--build build/cpu] [--series 1000 10000] [--read-seconds 5]

Per N (one key=value line each, and a summary table):
  fill       288 rows of every series (16 rows per request): ingest points/s, SQLite commit included
  round      one new row of every series in one request (what a monitoring round pushes): its latency,
             points/s and bytes on the wire, against the bytes of today's full-history /v1/forecast
             request for the same series (288 history rows x 6 columns + 96 future rows x 2 + statics)
  compute    the first GET /metrics/forecasts after the fill computes every series (batches of
             max_batch on the fleet's worker): series/s
  reads      GET /v1/fleet/forecasts/ID of random series, served from the cache, one keep-alive
             connection: reads/s and p50/p99 latency
  memory     bytes reserved per series (the server's log line) and the server's RSS growth per series
             from start (empty fleet) to after the fill
Series ids are s00000..; each takes one of the model's 60 server labels as its "server" static (a
group id given explicitly) and the sample request's values of the matching profile, cycled.
Needs only the Python standard library. Run it on an idle machine for figures worth comparing.
"""
import argparse
import http.client
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
T0 = 1772409600000  # 2026-03-02T00:00Z
STEP = 300000
COLS = ("cpu_pct", "mem_pct", "disk_io", "net")
PROFILE = {"cache": "cache", "db": "database", "etl": "etl", "ml": "ml-compute", "web": "web"}


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


class Client:
    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def req(self, method, path, body=None):
        self.c.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        r = self.c.getresponse()
        data = r.read()
        if r.status != 200:
            raise SystemExit(f"{method} {path}: {r.status} {data[:300]!r}")
        return data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build/cpu")
    ap.add_argument("--series", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--read-seconds", type=float, default=5.0)
    a = ap.parse_args()
    sample = json.load(open(os.path.join(ROOT, "weights/sample_request.json")))
    by_profile = {s["static"]["profile"]: s for s in sample["series"]}
    full_bytes_per_series = len(json.dumps(sample["series"][0], separators=(",", ":")).encode())
    servers = [f"{p}-{k:02d}" for p in ("cache", "db", "etl", "ml", "web") for k in range(1, 13)]
    print(f"# bench=fleet cores={os.cpu_count()} load={os.getloadavg()[0]:.2f}")
    rows = []
    for n in a.series:
        tmp = tempfile.mkdtemp(prefix="tft_fleet_bench_")
        cfg = os.path.join(tmp, "fleet.json")
        with open(cfg, "w") as f:
            json.dump({"step_seconds": 300, "max_series": n, "gaps": "reject", "max_batch": 64,
                       "time_features": {"hour": "hour_frac", "weekday": "weekday"},
                       "recompute_after_ingest": False,
                       "thresholds": [{"target": "cpu_pct", "above": 90, "within_steps": 12}],
                       "gauges": {"horizons": [12], "quantiles": [0.9]}}, f)
        out = open(os.path.join(tmp, "server.out"), "w+")
        srv = subprocess.Popen([os.path.join(a.build, "tft-server"), "--model", os.path.join(ROOT, "weights/default.safetensors"),
                                "--port", "0", "--fleet", cfg, "--fleet-store", os.path.join(tmp, "fleet.db"),
                                "--max-body-bytes", str(1 << 30), "--request-timeout-ms", "600000",
                                "--idle-timeout-s", "600", "--log-level", "info"], stdout=out, stderr=out)
        port = None
        for _ in range(600):
            out.seek(0)
            m = re.search(r"listening on http://127.0.0.1:(\d+)", out.read())
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.1)
        if not port:
            srv.kill()
            raise SystemExit("tft-server did not start")
        out.seek(0)
        reserved = float(re.search(r"reserved \(([\d.]+) MiB\)", out.read()).group(1)) * 1048576
        rss0 = rss_kib(srv.pid)
        cl = Client(port)
        ids = [f"s{i:05d}" for i in range(n)]
        srvl = [servers[i % 60] for i in range(n)]
        src = [by_profile[PROFILE[s.split("-")[0]]] if PROFILE[s.split("-")[0]] in by_profile else sample["series"][i % 4]
               for i, s in enumerate(srvl)]

        def body(r0, r1):
            pts = []
            for r in range(r0, r1):
                for i in range(n):
                    h = src[i]["history"]
                    p = {"series": ids[i], "ts_ms": T0 + r * STEP, "values": {c: h[c][r % 288] for c in COLS}}
                    if r == 0:
                        p["static"] = {"server": srvl[i], "profile": PROFILE[srvl[i].split("-")[0]]}
                    pts.append(p)
            return json.dumps({"points": pts}, separators=(",", ":")).encode()

        # fill: rows 0..287, 16 per request (bodies built before the clock starts)
        fill_t = 0.0
        fill_pts = 0
        for r0 in range(0, 288, 16):
            b = body(r0, r0 + 16)
            t = time.perf_counter()
            cl.req("POST", "/v1/fleet/ingest", b)
            fill_t += time.perf_counter() - t
            fill_pts += 16 * n * len(COLS)
        rss1 = rss_kib(srv.pid)
        # compute every series (first refresh)
        t = time.perf_counter()
        cl.req("GET", "/metrics/forecasts")
        compute_t = time.perf_counter() - t
        # rounds: one new row of every series per request
        round_lat = []
        round_bytes = 0
        for r in range(288, 293):
            b = body(r, r + 1)
            round_bytes = len(b)
            t = time.perf_counter()
            cl.req("POST", "/v1/fleet/ingest", b)
            round_lat.append(time.perf_counter() - t)
        cl.req("GET", "/metrics/forecasts")  # recompute after the rounds
        # cached reads
        lat = []
        rnd = random.Random(7)
        t_end = time.perf_counter() + a.read_seconds
        read_bytes = 0
        while time.perf_counter() < t_end:
            i = rnd.randrange(n)
            t = time.perf_counter()
            read_bytes = len(cl.req("GET", f"/v1/fleet/forecasts/{ids[i]}"))
            lat.append(time.perf_counter() - t)
        metrics = cl.req("GET", "/metrics").decode()
        hits = re.search(r'tft_fleet_cache_reads_total\{result="hit"\} (\d+)', metrics).group(1)
        misses = re.search(r'tft_fleet_cache_reads_total\{result="miss"\} (\d+)', metrics).group(1)
        srv.terminate()
        srv.wait(timeout=120)
        lat.sort()
        rl = sorted(round_lat)
        r = dict(series=n, fill_points_per_s=fill_pts / fill_t, round_ms=rl[len(rl) // 2] * 1e3,
                 round_points_per_s=n * len(COLS) / rl[len(rl) // 2], round_bytes=round_bytes,
                 full_history_bytes=full_bytes_per_series * n, compute_series_per_s=n / compute_t,
                 reads_per_s=len(lat) / sum(lat), read_p50_ms=lat[len(lat) // 2] * 1e3,
                 read_p99_ms=lat[int(len(lat) * 0.99)] * 1e3, read_bytes=read_bytes,
                 reserved_bytes_per_series=reserved / n, rss_growth_bytes_per_series=(rss1 - rss0) * 1024 / n,
                 cache_hits=hits, cache_misses=misses)
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()), flush=True)
        rows.append(r)
        subprocess.run(["rm", "-rf", tmp])
    print("\n| series | fill points/s | round: 1 row/series (ms, points/s) | bytes/round: fleet vs full history | "
          "compute series/s | cached reads/s (p50, p99 ms) | reserved B/series | RSS growth B/series |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['series']:,} | {r['fill_points_per_s']:,.0f} | {r['round_ms']:.0f} ms, {r['round_points_per_s']:,.0f} | "
              f"{r['round_bytes']:,} vs {r['full_history_bytes']:,} ({r['full_history_bytes'] / r['round_bytes']:.0f}x) | "
              f"{r['compute_series_per_s']:,.0f} | {r['reads_per_s']:,.0f} ({r['read_p50_ms']:.2f}, {r['read_p99_ms']:.2f}) | "
              f"{r['reserved_bytes_per_series']:,.0f} | {r['rss_growth_bytes_per_series']:,.0f} |")


if __name__ == "__main__":
    sys.exit(main())
