#!/usr/bin/env python3
"""Write the default model's synthetic training table (weights/train_default.py's make_data) as a long-format CSV:
one row per server and 5-minute step, the columns server, profile, time_idx, hour, weekday, cpu_pct, mem_pct,
disk_io, net, sorted by server then time_idx. Input for `tft forecast-table` / `tft backtest` examples and benchmarks.

    python3 weights/make_table.py OUT.csv [--days 21] [--servers N]

--servers keeps the first N of the 60 servers the model knows (a server it never saw is refused: its encoder has no
add_nan). Needs numpy and pandas only."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_default  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--days", type=int, default=train_default.DAYS)
    ap.add_argument("--servers", type=int, default=0, help="first N servers (default: all 60)")
    a = ap.parse_args()
    df = train_default.make_data(days=a.days)
    if a.servers:
        keep = list(dict.fromkeys(df.server))[:a.servers]
        df = df[df.server.isin(keep)]
    df = df.sort_values(["server", "time_idx"], kind="stable")
    df.to_csv(a.out, index=False, float_format="%.6g")
    print(f"wrote {a.out}: {df.server.nunique()} series, {len(df)} rows", file=sys.stderr)


if __name__ == "__main__":
    main()
