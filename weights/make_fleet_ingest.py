#!/usr/bin/env python3
"""The bundled sample's history as a fleet ingest body (server/API.md "Fleet mode"), on stdout.

    python3 weights/make_fleet_ingest.py [--rows A:B] > ingest.json

sample_request.json's four servers, rows A..B-1 of their 288 history rows (default all), as
POST /v1/fleet/ingest points: one point per server and row with its four observed columns, the
timestamp of its time_idx (the default model's data: time_idx 0 = 2026-03-02T00:00Z, 5-minute
steps), and the static "profile" on each server's first row. The hour and weekday columns are not
sent: weights/fleet_default.json derives them from the timestamps. Standard library only.
"""
import argparse
import json
import os
import sys

T0_MS = 1772409600000
STEP_MS = 300000
COLUMNS = ("cpu_pct", "mem_pct", "disk_io", "net")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="0:288", help="A:B, history rows A..B-1")
    a = ap.parse_args()
    r0, r1 = (int(x) for x in a.rows.split(":"))
    req = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample_request.json")))
    points = []
    for r in range(r0, r1):
        for s in req["series"]:
            p = {"series": s["id"], "ts_ms": T0_MS + s["time_idx"][r] * STEP_MS,
                 "values": {c: s["history"][c][r] for c in COLUMNS}}
            if r == r0:
                p["static"] = {"profile": s["static"]["profile"]}
            points.append(p)
    json.dump({"points": points}, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
