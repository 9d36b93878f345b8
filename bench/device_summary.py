#!/usr/bin/env python3
"""SUMMARY.md and bench.tsv of a bench/device_check.sh run, from its step logs (standard library only).

    python3 bench/device_summary.py --out OUT --logs LOGDIR --device cuda|cpu --gpu NAME [--budget S] [--elapsed S]

Reads OUT/steps.tsv and, in LOGDIR, the logs of the steps: bench_<model>.log (bench_forward's
`level=series ... B= reps= p50_us= p99_us= series_per_s=` lines and its `# model=` header),
pf_<model>.log (bench/peers/compare.py's `impl=NAME B= reps= p50_ms= p99_ms= series_per_s=` lines),
info.log, test and sanitizer logs; OUT/profile.txt. Writes OUT/bench.tsv (every timing) and OUT/SUMMARY.md:
the steps, tft per model and batch size, tft vs pytorch-forecasting on the same device in the same run,
NVIDIA's published A100 TensorRT figures beside ours, and the issue's targets marked met / not met.
A target is marked only from a figure measured on a GPU (--device cuda); a dry run on the CPU says so.
"""
import argparse
import os
import re
import sys

# NVIDIA's published TFT inference figures on an A100 with TensorRT (electricity dataset), as quoted in
# issue 9: batch 1 p50 latency 1.4 ms, batch 1024 54,062 windows/s
NVIDIA_A100_TRT = {"b1_p50_ms": 1.4, "b1024_per_s": 54062}
# issue 9's targets on an H100/H200, fp32, TF32 off
TARGET_B1_US = 150.0
TARGET_ELEC_B1024_PER_S = 150000.0
TARGET_VS_PF = {1: 20.0, 1024: 3.0}
MODELS = (("default", "bundled default model (weights/default.safetensors)"),
          ("electricity", "electricity-shaped golden model (weights/goldens/electricity)"))


def kv(line):
    return dict(x.split("=", 1) for x in line.split() if "=" in x)


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def parse_bench(text):
    """bench_forward output -> ({B: row}, model header dict)."""
    rows, header = {}, {}
    for line in text.splitlines():
        if line.startswith("# model="):
            header = kv(line[2:])
        elif line.startswith("level=series"):
            d = kv(line)
            try:
                B = int(d["B"])
                rows[B] = dict(reps=int(d["reps"]), p50_ms=float(d["p50_us"]) / 1e3, p99_ms=float(d["p99_us"]) / 1e3,
                               series_per_s=float(d["series_per_s"]))
            except (KeyError, ValueError):
                continue
    return rows, header


def parse_peers(text):
    """compare.py output -> {impl: {B: row}}, notes (the '# ...' lines)."""
    res, notes = {}, []
    for line in text.splitlines():
        if line.startswith("impl="):
            d = kv(line)
            try:
                res.setdefault(d["impl"], {})[int(d["B"])] = dict(
                    reps=int(d["reps"]), p50_ms=float(d["p50_ms"]), p99_ms=float(d["p99_ms"]),
                    series_per_s=float(d["series_per_s"]))
            except (KeyError, ValueError):
                continue
        elif line.startswith(("# device=", "# pytorch_forecasting=", "# compare ", "# tft FAILED", "- ")):
            notes.append(line)
    return res, notes


def read_steps(path):
    steps = []
    for i, line in enumerate(read(path).splitlines()):
        f = line.split("\t")
        if i == 0 or len(f) < 5:
            continue
        steps.append(dict(step=f[0], status=f[1], rc=f[2], seconds=f[3], budget=f[4], note=f[5] if len(f) > 5 else ""))
    return steps


def fmt(x, nd=2):
    return "-" if x is None else f"{x:,.{nd}f}"


def status(ok, measured, why=""):
    if not measured:
        return "not marked" + (f" ({why})" if why else "")
    return "**met**" if ok else "**NOT met**"


def gpu_watch(text, device):
    """The step's '# gpu_watch:' line (device_check.sh) as a sentence, and whether the GPU stayed idle."""
    m = re.search(r"^# gpu_watch: (.*)$", text, re.M)
    if not m:
        return None, False
    d = kv(m.group(1))
    try:
        before, peak, util = (int(d[k]) for k in ("memory_used_mib_before", "memory_used_mib_max",
                                                  "utilization_pct_max"))
    except (KeyError, ValueError):
        return None, False
    idle = device == "cuda" and util == 0 and peak - before < 16
    line = (f"GPU during the step: memory used {before} MiB before, {peak} MiB at most; utilization up to {util} % "
            f"({d.get('samples', '?')} samples)")
    return line, idle


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--logs", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--gpu", default="none")
    ap.add_argument("--budget", default="?")
    ap.add_argument("--elapsed", default="?")
    a = ap.parse_args()
    L = lambda name: read(os.path.join(a.logs, name + ".log"))  # noqa: E731
    steps = read_steps(os.path.join(a.out, "steps.tsv"))
    step = {s["step"]: s for s in steps}
    on_gpu = a.device == "cuda" and a.gpu not in ("", "none")
    why_not = "" if on_gpu else ("dry run on the CPU: a CPU figure" if a.device != "cuda" else "no GPU")
    idle_steps = []

    bench, headers, peers, pnotes = {}, {}, {}, {}
    for m, _ in MODELS:
        bench[m], headers[m] = parse_bench(L("bench_" + m))
        peers[m], pnotes[m] = parse_peers(L("pf_" + m))

    # bench.tsv: every timing of the run
    with open(os.path.join(a.out, "bench.tsv"), "w") as f:
        f.write("source\tmodel\timpl\tdevice\tB\treps\tp50_ms\tp99_ms\tseries_per_s\n")
        for m, _ in MODELS:
            for B, r in sorted(bench[m].items()):
                f.write(f"bench_forward\t{m}\ttft\t{a.device}\t{B}\t{r['reps']}\t{r['p50_ms']:.4f}\t{r['p99_ms']:.4f}\t"
                        f"{r['series_per_s']:.1f}\n")
            for impl, rows in peers[m].items():
                for B, r in sorted(rows.items()):
                    f.write(f"compare.py\t{m}\t{impl}\t{a.device}\t{B}\t{r['reps']}\t{r['p50_ms']:.4f}\t"
                            f"{r['p99_ms']:.4f}\t{r['series_per_s']:.1f}\n")

    info = L("info")
    def grab(pat):
        mm = re.search(pat, info, re.M)
        return mm.group(1).strip() if mm else "?"
    o = []
    o.append(f"# tft device check: {a.gpu if a.gpu != 'none' else 'no GPU'} (`bench/device_check.sh`)\n")
    o.append(f"- run: {grab(r'^== date: (.*?)   host')}; TFT_CHECK_DEVICE={a.device}; {a.elapsed} s of a "
             f"{a.budget} s budget; commit {grab(r'^== commit: (.*)$')}")
    o.append(f"- GPU: {a.gpu}; driver / memory / clocks: {grab(r'^(NVIDIA [^,]*,.*)$') if on_gpu else '-'}")
    o.append(f"- nvcc: {grab(r'^(Cuda compilation tools.*)$')}; python: {grab(r'^== python: (.*)$')}")
    o.append(f"- tools: {grab(r'^== tools: (.*)$')}")
    if not on_gpu:
        o.append(f"- **{why_not}: no figure below is a GPU figure and no target is marked.**")
    o.append("")

    o.append("## Steps\n")
    o.append("| step | status | rc | seconds | budget s | note |")
    o.append("|---|---|---:|---:|---:|---|")
    for s in steps:
        o.append(f"| {s['step']} | {s['status']} | {s['rc']} | {s['seconds']} | {s['budget']} | "
                 f"{s['note'].replace('|', '/')} |")
    o.append("")
    # the test lines that say what passed (cmocka) and what the sanitizers found
    checks = []
    for name in ("test_cuda", "golden_cuda", "backend_cuda", "golden_cpu", "memcheck", "racecheck", "memcheck_golden"):
        for line in L(name).splitlines():
            if re.search(r"\[  (PASSED|FAILED|SKIPPED)  \]|ERROR SUMMARY|RACECHECK SUMMARY|SKIPPED:|NOGPU", line):
                c = f"- {name}: `{line.strip()}`"
                if c not in checks:
                    checks.append(c)
    if checks:
        o.append("Test and sanitizer summaries:\n")
        o += checks[:40]
        o.append("")

    o.append(f"## tft on {a.device}: bench_forward, p50/p99 per batch (tft_forecast: raw series in, quantiles in "
             f"user units out)\n")
    for m, title in MODELS:
        h = headers[m]
        shape = (f"hidden {h.get('hidden', '?')}, {h.get('heads', '?')} heads, encoder {h.get('encoder', '?')}, "
                 f"horizon {h.get('horizon', '?')}, {h.get('params', '?')} parameters") if h else "no output"
        o.append(f"### {title}: {shape}\n")
        if not bench[m]:
            o.append(f"no timings (step bench_{m}: {step.get('bench_' + m, {}).get('status', 'not run')})\n")
            continue
        o.append("| B | p50 ms/batch | p99 ms/batch | series/s | reps |")
        o.append("|---:|---:|---:|---:|---:|")
        for B, r in sorted(bench[m].items()):
            o.append(f"| {B} | {fmt(r['p50_ms'], 3)} | {fmt(r['p99_ms'], 3)} | {fmt(r['series_per_s'], 0)} | {r['reps']} |")
        o.append("")
        line, idle = gpu_watch(L("bench_" + m), a.device)
        if line:
            o.append(line + ("  \n**The GPU stayed idle: these are not GPU figures (did TFT_DEVICE=cuda reach the "
                             "backend?).**" if idle else "") + "\n")
        if idle:
            idle_steps.append("bench_" + m)

    o.append(f"## tft vs pytorch-forecasting on the same device, same run, same weights "
             f"(bench/peers/compare.py --device {a.device}; pf: eager forward, fp32, TF32 off)\n")
    o.append("p50 latency per batch, ms (ratio = pf / tft; > 1: tft is faster). pf_forward times `model(x)` on x "
             "already on the device (no preprocessing, no copy back); tft times the whole tft_forecast.\n")
    ratios = {}
    for m, title in MODELS:
        res = peers[m]
        o.append(f"### {title.split(' (')[0]} (the kit's checkpoint)\n")
        if "pf_forward" not in res:
            o.append(f"no pytorch-forecasting timings (step pf_{m}: {step.get('pf_' + m, {}).get('status', 'not run')}"
                     f"{': ' + step['pf_' + m]['note'] if step.get('pf_' + m, {}).get('note') else ''})\n")
            continue
        o.append("| B | tft | tft series/s | pf_forward | pf series/s | ratio |")
        o.append("|---:|---:|---:|---:|---:|---:|")
        for B in sorted(set(res.get("tft", {})) | set(res["pf_forward"])):
            t, p = res.get("tft", {}).get(B), res["pf_forward"].get(B)
            r = p["p50_ms"] / t["p50_ms"] if t and p else None
            ratios[(m, B)] = r
            o.append(f"| {B} | {fmt(t and t['p50_ms'])} | {fmt(t and t['series_per_s'], 0)} | {fmt(p and p['p50_ms'])} | "
                     f"{fmt(p and p['series_per_s'], 0)} | {fmt(r) + 'x' if r else '-'} |")
        o.append("")
        o += [f"  {n}" if not n.startswith("- ") else n for n in pnotes[m] if not n.startswith("- batching")]
        line, idle = gpu_watch(L("pf_" + m), a.device)
        if line:
            o.append(line + ("  \n**The GPU stayed idle during this comparison: not GPU figures.**" if idle else ""))
        if idle:
            idle_steps.append("pf_" + m)
        o.append("")

    e, d = bench["electricity"], bench["default"]
    o.append("## Beside NVIDIA's published A100 TensorRT figures (electricity TFT, as quoted in issue 9)\n")
    o.append(f"Different GPU (A100) and runtime (TensorRT); NVIDIA's model is the electricity TFT, ours the "
             f"electricity-shaped golden (same encoder 168 / decoder 24 / hidden 128 / 4 heads, synthetic weights).\n")
    where = a.gpu if on_gpu else f"{a.device} ({why_not or 'no GPU'})"
    o.append(f"| figure | NVIDIA A100 TensorRT (published) | tft electricity-shaped, {where} | tft default model |")
    o.append("|---|---:|---:|---:|")
    o.append(f"| batch 1, p50 latency | {NVIDIA_A100_TRT['b1_p50_ms']} ms | {fmt(e.get(1, {}).get('p50_ms'), 3)} ms | "
             f"{fmt(d.get(1, {}).get('p50_ms'), 3)} ms |")
    o.append(f"| batch 1024, throughput | {NVIDIA_A100_TRT['b1024_per_s']:,} windows/s | "
             f"{fmt(e.get(1024, {}).get('series_per_s'), 0)} series/s | {fmt(d.get(1024, {}).get('series_per_s'), 0)} series/s |")
    o.append("")

    o.append("## Issue 9's targets (H100/H200, fp32, TF32 off)\n")
    if idle_steps:   # a figure from a step that never used the GPU is not a GPU figure: mark nothing
        on_gpu, why_not = False, f"the GPU stayed idle in {', '.join(idle_steps)}"
        o.append(f"**Not marked: the GPU stayed idle in {', '.join(idle_steps)}.**\n")
    if on_gpu and not re.search(r"H100|H200", a.gpu):
        o.append(f"(measured on {a.gpu}, not an H100/H200: the marks compare against targets set for those)\n")
    o.append("| target | measured | status |")
    o.append("|---|---:|---|")
    for m, _ in MODELS:
        b1 = bench[m].get(1)
        us = b1["p50_ms"] * 1e3 if b1 else None
        o.append(f"| batch-1 forecast <= {TARGET_B1_US:.0f} us ({m}; p50 of the whole tft_forecast) | "
                 f"{fmt(us, 1) + ' us' if us else '-'} | {status(us is not None and us <= TARGET_B1_US, on_gpu and us is not None, why_not)} |")
    b = e.get(1024)
    sps = b["series_per_s"] if b else None
    o.append(f"| electricity-shaped batch 1024 >= {TARGET_ELEC_B1024_PER_S:,.0f} series/s | "
             f"{fmt(sps, 0) + ' series/s' if sps else '-'} | "
             f"{status(sps is not None and sps >= TARGET_ELEC_B1024_PER_S, on_gpu and sps is not None, why_not)} |")
    for B, want in TARGET_VS_PF.items():
        for m, _ in MODELS:
            r = ratios.get((m, B))
            o.append(f"| >= {want:.0f}x pytorch-forecasting at B={B} ({m}) | {fmt(r) + 'x' if r else '-'} | "
                     f"{status(r is not None and r >= want, on_gpu and r is not None, why_not)} |")
    o.append("")

    o.append("## Profile (B=64, default model): per NVTX range and per kernel\n")
    prof = read(os.path.join(a.out, "profile.txt"))
    ps = step.get("profile", {})
    o.append(f"step profile: {ps.get('status', 'not run')} {ps.get('note', '')} (whole tables: profile.txt)\n")
    keep = [line for line in prof.splitlines() if line.strip()]
    if keep:
        o.append("```")
        o += keep[:160]
        if len(keep) > 160:
            o.append(f"... {len(keep) - 160} more lines in profile.txt")
        o.append("```")
    o.append("")
    with open(os.path.join(a.out, "SUMMARY.md"), "w") as f:
        f.write("\n".join(o) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
