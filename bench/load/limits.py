#!/usr/bin/env python3
"""RELIABILITY.md G-07 against a running tft-server: each limit answered with its status, and RSS
after 100 requests of 1,000,000 one-byte chunks each (Triton's http_request_many_chunks).

  python3 bench/load/limits.py PORT SERVER_PID [N_CHUNKED]   (defaults: 100 chunked requests)

Prints one key=value line per check. The server must run with the default limits
(--max-header-bytes 32768, --max-body-bytes 8388608).
"""
import json
import socket
import sys
import time


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def exchange(port, data, timeout=60):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while b"\r\n\r\n" not in out or len(out) < out.find(b"\r\n\r\n") + 4 + content_length(out):
            b = s.recv(65536)
            if not b:
                break
            out += b
    except OSError:
        pass
    s.close()
    return out


def content_length(out):
    for line in out.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def status(out):
    return int(out[9:12]) if out.startswith(b"HTTP/1.") else 0


def code(out):
    body = out[out.find(b"\r\n\r\n") + 4:]
    try:
        return json.loads(body)["error"]["code"]
    except Exception:
        return "(not json)"


def main():
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    n_chunked = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    sample = open("weights/sample_request.json", "rb").read()
    checks = {
        "request_line_64k": b"GET /v2/health/ready?" + b"a" * 65536 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        "header_64k": b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n",
        "body_9MiB": b"POST /v1/forecast HTTP/1.1\r\nHost: x\r\nContent-Length: 9437184\r\n\r\n",
    }
    deep = b"[" * ((4 << 20) - 1) + b"]" * ((4 << 20) - 1)
    checks["depth_8MiB"] = b"POST /v1/forecast HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(deep) + deep
    many = b'{"series":[' + b",".join([b"{}"] * 5000) + b"]}"
    checks["series_5000"] = b"POST /v1/forecast HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(many) + many
    for name, data in checks.items():
        t = time.time()
        out = exchange(port, data)
        print(f"limit check={name} status={status(out)} code={code(out)} ms={1000 * (time.time() - t):.1f}")
    # many chunks: the sample forecast sent as 1-byte chunks (padded with spaces to 1,000,000 bytes)
    body = sample + b" " * (1000000 - len(sample))
    chunked = b"".join(b"1\r\n" + body[i:i + 1] + b"\r\n" for i in range(len(body))) + b"0\r\n\r\n"
    req = b"POST /v1/forecast HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    out = exchange(port, req + chunked)  # warm-up
    before, t, ok = rss_kib(pid), time.time(), 0
    for _ in range(n_chunked):
        ok += status(exchange(port, req + chunked)) == 200
    after = rss_kib(pid)
    print(f"many_chunks requests={n_chunked} chunks_each={len(body)} ok={ok} seconds={time.time() - t:.1f} "
          f"rss_before_kib={before} rss_after_kib={after} rss_growth_kib={after - before}")


if __name__ == "__main__":
    main()
