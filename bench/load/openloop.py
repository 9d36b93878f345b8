#!/usr/bin/env python3
"""Open-loop load for tft-server: requests are sent at a fixed rate whatever the server's latency
(wrk is closed-loop: a slow server slows wrk down and never sees its own overload). Used for the
soak (about 70% of capacity, errors and server RSS over time) and the 2x overload (status mix and
the latency of the 503s).

  python3 bench/load/openloop.py --url http://127.0.0.1:PORT/v1/forecast --body build/load/body_1.json \
      --rate 400 --seconds 300 [--pid SERVER_PID] [--rss-every 10] [--max-conns 512] [--label soak]

Every request goes out on its own keep-alive connection taken from a pool (a new one is opened
when none is free, up to --max-conns; past that the request counts as a client-side drop, so the
report always says whether the client kept up). Prints one key=value line per RSS sample and a
final line with counts by status and p50/p99/p999 latency (ms) per status.
"""
import argparse
import asyncio
import time
import urllib.parse


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(p / 100.0 * len(xs) + 0.999999) - 1))
    return xs[k]


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return -1
    return -1


class Conn:
    def __init__(self, reader, writer):
        self.r, self.w = reader, writer
        self.last = time.perf_counter()


# tft-server closes a keep-alive connection idle for 10 s (--idle-timeout-s); like any pooling client,
# never reuse one idle for longer than this (else a write races the server's close: a client-side error)
IDLE_REUSE_S = 5.0


async def read_response(r):
    """Status and body of one HTTP/1.1 response (Content-Length framing, as tft-server sends)."""
    line = await r.readline()
    if not line:
        raise ConnectionError("closed")
    status = int(line.split()[1])
    length, close = 0, False
    while True:
        h = await r.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        k = k.strip().lower()
        if k == "content-length":
            length = int(v.strip())
        elif k == "connection" and v.strip().lower() == "close":
            close = True
    if length:
        await r.readexactly(length)
    return status, close


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--body", required=True)
    ap.add_argument("--rate", type=float, required=True, help="requests per second")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--pid", type=int, default=0, help="server pid, for RSS samples")
    ap.add_argument("--rss-every", type=float, default=10)
    ap.add_argument("--max-conns", type=int, default=512)
    ap.add_argument("--label", default="openloop")
    ap.add_argument("--warmup-s", type=float, default=30,
                    help="RSS growth is counted from the first sample at or after this time (buffers, pools and "
                         "the allocator's arenas fill up first)")
    a = ap.parse_args()

    u = urllib.parse.urlsplit(a.url)
    host, port, path = u.hostname, u.port or 80, u.path or "/"
    body = open(a.body, "rb").read()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    req = head + body

    free, n_conns = [], 0
    lat = {}            # status -> [ms]
    counts = {}         # status or error name -> n
    pending = set()

    def count(k):
        counts[k] = counts.get(k, 0) + 1

    async def one():
        nonlocal n_conns
        while free and time.perf_counter() - free[-1].last > IDLE_REUSE_S:
            free.pop().w.close()  # stale: the server may have closed it
            n_conns -= 1
        if free:
            c = free.pop()
        elif n_conns < a.max_conns:
            n_conns += 1
            try:
                c = Conn(*await asyncio.open_connection(host, port))
            except OSError:
                n_conns -= 1
                count("connect_error")
                return
        else:
            count("client_drop")
            return
        t0 = time.perf_counter()
        try:
            c.w.write(req)
            await c.w.drain()
            status, close = await read_response(c.r)
        except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError):
            n_conns -= 1
            c.w.close()
            count("io_error")
            return
        ms = (time.perf_counter() - t0) * 1e3
        lat.setdefault(status, []).append(ms)
        count(status)
        if close:
            n_conns -= 1
            c.w.close()
        else:
            c.last = time.perf_counter()
            free.append(c)

    start = time.perf_counter()
    next_rss = start
    rss0 = rss_kib(a.pid) if a.pid else -1
    rss_max = rss0
    rss_warm = -1
    i = 0
    while True:
        now = time.perf_counter()
        if now - start >= a.seconds:
            break
        if a.pid and now >= next_rss:
            r = rss_kib(a.pid)
            rss_max = max(rss_max, r)
            if rss_warm < 0 and now - start >= a.warmup_s:
                rss_warm = r
            print(f"rss label={a.label} t_s={now - start:.0f} rss_kib={r} sent={i} "
                  f"ok={counts.get(200, 0)} conns={n_conns}", flush=True)
            next_rss += a.rss_every
        due = start + i / a.rate
        if due > now:
            await asyncio.sleep(due - now)
            continue
        t = asyncio.ensure_future(one())
        pending.add(t)
        t.add_done_callback(pending.discard)
        i += 1
    if pending:
        await asyncio.wait(pending, timeout=60)
    wall = time.perf_counter() - start
    parts = [f"{k}={v}" for k, v in sorted(counts.items(), key=lambda kv: str(kv[0]))]
    lat_parts = []
    for s, xs in sorted(lat.items()):
        lat_parts.append(f"p50_ms_{s}={pct(xs, 50):.2f} p99_ms_{s}={pct(xs, 99):.2f} p999_ms_{s}={pct(xs, 99.9):.2f}")
    rss1 = rss_kib(a.pid) if a.pid else -1
    print(f"openloop label={a.label} rate={a.rate} seconds={wall:.1f} sent={i} achieved_rps={i / wall:.1f} "
          f"rss_start_kib={rss0} rss_warm_kib={rss_warm} rss_end_kib={rss1} rss_max_kib={max(rss_max, rss1)} "
          f"rss_growth_after_warmup_kib={rss1 - rss_warm if rss_warm >= 0 else 'n/a'} " + " ".join(parts) + " " +
          " ".join(lat_parts), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
