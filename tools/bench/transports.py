#!/usr/bin/env python3
"""The three reporter transports side by side in one run (issue #15): TChannel, Jaeger gRPC
(api_v2 PostSpans) and OTLP (gRPC and HTTP/protobuf), each against its own cheap sink
(jaeger-collector-sink, jaeger-modern-sink), at the same offered load, interleaved round by
round (the order rotates each round) so that whatever else the machine does hits all alike.

    transports.py --build-dir build-bench [--out-dir docs] [--rounds 3] [--duration 4]
                  [--processes 8] [--quick]

Per size class (64 KB and ~1 KB compact datagrams, loopback, tuned socket buffer) and transport:
agent CPU µs per delivered span (median over rounds), its ratio to TChannel's in the same round
(median), loss, and the accounting identity; the sink checks the content checksum of every span
against the generator's. The target: gRPC and OTLP cost at most 1.3x TChannel's CPU per span.

--processes: how many distinct client processes (Batch.process) the generator's datagrams come
from. A real client sends every batch with the same process, and the gRPC reporter merges
batches of one process into one PostSpans (ReporterCore mergeBySuffix); with a new process per
datagram (--processes 0, the sweep's default) nothing can merge — both are reported.

Writes docs/benchmarks-transports.json, docs/benchmarks-transports.png (gnuplot) and the
"Transports side by side" section of docs/benchmarks.md (between its markers).
"""
import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ab  # noqa: E402
import run_bench as rb  # noqa: E402

TRANSPORTS = ["tchannel", "grpc", "otlp-grpc", "otlp-http"]
# Offered load per size: below every transport's knee on 2 vCPUs, so CPU per span compares work
# done for the same delivered spans (spans/s for 64k, datagrams/s for 1k, as in run_bench).
RATES = {"64k": 250_000, "1k": 50_000}
TARGET_RATIO = 1.3
MARK_BEGIN, MARK_END = "<!-- transports:begin -->", "<!-- transports:end -->"


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def sink_requests(sink):
    """Requests the sink answered (jaeger-modern-sink: requests; jaeger-collector-sink: calls by method)."""
    if "requests" in sink:
        return sink["requests"]
    return sum(v for k, v in sink.get("calls", {}).items() if "submit" in k.lower())


def render(cells, meta):
    o = [MARK_BEGIN, "## Transports side by side (issue #15) — measured in one run", "",
         "Command: `%s` (%s). %s; %d rounds of %.0f s per transport and case, interleaved, the order "
         "rotating each round; loopback, compact datagrams, tuned socket buffer. Each transport sends to "
         "its own sink (`jaeger-collector-sink` for TChannel, `jaeger-modern-sink` for the others), which "
         "checks every span's ids and times against the generator's checksum."
         % (meta["command"], meta["started"], meta["machine"], meta["rounds"], meta["duration"]), ""]
    if meta.get("busy"):
        o += ["**The machine was busy** (%s): absolute figures are high; the ratios, measured round by "
              "round, are what to read." % meta["busy"], ""]
    o += ["Target: gRPC and OTLP at most **%.1fx** TChannel's agent CPU per span." % TARGET_RATIO, "",
          "| datagrams | client processes | offered | transport | delivered spans/s | loss | agent µs/span | "
          "x TChannel (median of rounds) | checksum | target |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        ratio = c["ratio_vs_tchannel"]
        status = "—" if c["transport"] == "tchannel" else ("met" if ratio is not None and ratio <= TARGET_RATIO else "**missed**")
        o.append("| %s | %s | %s | %s | %s | %.3f %% | %s | %s | %s | %s |" % (
            c["size"], c["processes"] or "one per datagram", c["offered"], c["transport"], rb.fmt_int(c["delivered_sps"]),
            c["loss_pct"], "%.2f" % c["cpu_us_per_span"] if c["cpu_us_per_span"] else "—",
            "%.2fx" % ratio if ratio else "—", "ok" if c["checksum_ok"] else "**mismatch**", status))
    o += ["", "![agent CPU per span by transport](benchmarks-transports.png)", "", MARK_END]
    return "\n".join(o)


def chart(cells, out_png, tmp):
    if not shutil.which("gnuplot"):
        rb.log("gnuplot not found: no chart")
        return
    dat = os.path.join(tmp, "transports.dat")
    cases = []
    for c in cells:
        key = "%s, %s" % (c["size"], "%s procs" % c["processes"] if c["processes"] else "1 proc/dgram")
        if key not in cases:
            cases.append(key)
    with open(dat, "w") as f:
        f.write("case " + " ".join(TRANSPORTS) + "\n")
        for key in cases:
            row = ['"%s"' % key]
            for t in TRANSPORTS:
                v = next((c["cpu_us_per_span"] for c in cells if c["transport"] == t and
                          "%s, %s" % (c["size"], "%s procs" % c["processes"] if c["processes"] else "1 proc/dgram") == key), None)
                row.append("%f" % v if v else "?")
            f.write(" ".join(row) + "\n")
    gp = os.path.join(tmp, "transports.gp")
    with open(gp, "w") as g:
        g.write('set terminal pngcairo size 1000,500 font "sans,10" noenhanced\nset output "%s"\n' % out_png)
        g.write("set title 'agent CPU per delivered span by reporter transport (%s; lower is better)'\n"
                % datetime.date.today().isoformat())
        g.write("set style data histogram\nset style histogram cluster gap 1\nset style fill solid 0.8 border -1\n")
        g.write("set ylabel 'agent CPU us per span'\nset yrange [0:*]\nset grid ytics\nset key left top\n"
                "set datafile missing '?'\n")
        g.write("plot '%s' using 2:xtic(1) title columnheader(2), '' using 3 title columnheader(3), "
                "'' using 4 title columnheader(4), '' using 5 title columnheader(5)\n" % dat)
    r = subprocess.run(["gnuplot", gp], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        rb.log("gnuplot failed: " + r.stdout[-500:])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--out-dir", default=os.path.join(rb.ROOT, "docs"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--sizes", default="64k,1k")
    ap.add_argument("--processes", default="8,0", help="comma list; 0 = a new client process per datagram")
    ap.add_argument("--quick", action="store_true", help="2 rounds of 3 s, 8 client processes only")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.duration, args.processes = 2, 3.0, "8"
    ns = argparse.Namespace(build_dir=args.build_dir, agent=None, loadgen=None, sink=None, keep=args.keep,
                            threads_1k=2, threads_64k=1)
    runner = rb.Runner(ns)
    if not os.access(runner.modern_sink, os.X_OK):
        rb.log("missing %s (build target jaeger-modern-sink)" % runner.modern_sink)
        return 1
    try:
        la = rb.loadavg()
        cells = []
        for size in [s for s in args.sizes.split(",") if s]:
            k = rb.probe_spans_per_datagram(runner, size, "compact")
            rate = rb.rate_for(size, RATES[size], k)
            for procs in [int(p) for p in args.processes.split(",") if p]:
                runs = {t: [] for t in TRANSPORTS}
                for rnd in range(args.rounds):
                    order = TRANSPORTS[rnd % len(TRANSPORTS):] + TRANSPORTS[:rnd % len(TRANSPORTS)]
                    for t in order:
                        r = runner.run("loopback", size, "compact", rate, "tuned", args.duration, label="transports",
                                       transport=t, loadgen_args=["--processes", str(procs)])
                        runs[t].append(r)
                        rb.log("%s procs=%d round %d %s: delivered %s spans/s, loss %.3f%%, %.2f µs/span, checksum %s" % (
                            size, procs, rnd, t, rb.fmt_int(r["delivered_sps"]), r["loss_pct"],
                            r["agent_cpu_us_per_span"] or -1, "ok" if r["checksum_match"] else "MISMATCH"))
                base = runs["tchannel"]
                for t in TRANSPORTS:
                    rs = runs[t]
                    ratios = [(r["agent_cpu_us_per_span"] / b["agent_cpu_us_per_span"])
                              if r["agent_cpu_us_per_span"] and b["agent_cpu_us_per_span"] else None
                              for r, b in zip(rs, base)]
                    cells.append({
                        "size": size, "processes": procs, "transport": t,
                        "offered": "%s %s/s" % (rb.fmt_int(RATES[size]), "spans" if size == "64k" else "datagrams"),
                        "delivered_sps": med([r["delivered_sps"] for r in rs]),
                        "loss_pct": med([r["loss_pct"] for r in rs]),
                        "cpu_us_per_span": med([r["agent_cpu_us_per_span"] for r in rs]),
                        "ratio_vs_tchannel": med(ratios),
                        "checksum_ok": all(r["checksum_match"] or r["loss_pct"] > 0 for r in rs),
                        "identity_ok": all(r["identity_ok"] for r in rs),
                        # The collector's requests per second: what merging made of the batches.
                        "rounds": [ab.summary(r) | {"checksum_match": r["checksum_match"],
                                                    "sink_requests_per_s": sink_requests(r["sink"]) / r["duration"]}
                                   for r in rs],
                    })
        la_end = rb.loadavg()
        m = rb.machine_description()
        meta = {"command": "tools/bench.sh" + (" --quick" if args.quick else ""),
                "machine": "%s, %s vCPUs, Linux %s (%s)" % (m.get("cpu"), m.get("nproc"), m.get("kernel"), m.get("virt")),
                "started": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "rounds": args.rounds,
                "duration": args.duration,
                "busy": ("load average %s at the start, %s at the end" % ("/".join(la), "/".join(la_end))
                         if float(la[0]) > 1.0 or float(la_end[0]) > 3.0 else "")}
        os.makedirs(args.out_dir, exist_ok=True)
        with open(os.path.join(args.out_dir, "benchmarks-transports.json"), "w") as f:
            json.dump({"meta": meta, "cells": cells}, f, indent=1)
        chart(cells, os.path.join(args.out_dir, "benchmarks-transports.png"), runner.tmp)
        ab.insert(os.path.join(args.out_dir, "benchmarks.md"), render(cells, meta), MARK_BEGIN, MARK_END)
        rb.log("wrote the transports section of %s/benchmarks.md" % args.out_dir)
        return 0
    except rb.BenchError as e:
        rb.log("FAILED: %s (logs in %s)" % (e, runner.tmp))
        args.keep = True
        return 1
    finally:
        runner.cleanup()


if __name__ == "__main__":
    sys.exit(main())
