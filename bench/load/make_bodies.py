#!/usr/bin/env python3
"""Request bodies for the load benchmarks: N series cycled from weights/sample_request.json, each
with its own id.  python3 bench/load/make_bodies.py OUT_DIR [N ...]  (default N: 1 64)"""
import json
import os
import sys


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "build/load"
    counts = [int(a) for a in sys.argv[2:]] or [1, 64]
    here = os.path.dirname(os.path.abspath(__file__))
    sample = json.load(open(os.path.join(here, "..", "..", "weights", "sample_request.json")))
    os.makedirs(out, exist_ok=True)
    for n in counts:
        series = []
        for i in range(n):
            s = dict(sample["series"][i % len(sample["series"])])
            s["id"] = f"{s['id']}-{i}"
            series.append(s)
        path = os.path.join(out, f"body_{n}.json")
        with open(path, "w") as f:
            json.dump({"series": series}, f, separators=(",", ":"))
        print(f"{path}: {n} series, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
