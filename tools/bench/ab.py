#!/usr/bin/env python3
"""Before/after in one run: the same load steps against two agent binaries, interleaved
(A, B, A, B ... so that whatever else the machine does hits both alike), on loopback with
default flags. Writes docs/benchmarks-ab.json and inserts a "Before / after" section at the top
of docs/benchmarks.md (tools/bench.sh runs it after run_bench.py).

Cases: 64 KB compact datagrams from one sending socket (the hard case for SO_REUSEPORT, which
hashes the 4-tuple) and from four, and ~1 KB datagrams from two; each at a paced step and an
unpaced flood. Reported per run: delivered spans/s, loss, agent CPU µs per span, peak RSS, and
where drops were counted. Ratios are after / before.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_bench as rb  # noqa: E402

CASES = [
    # (size, loadgen threads, offered step in the size's unit (spans/s for 64k, dgrams/s for 1k), 0 = flood)
    ("64k", 1, 500_000), ("64k", 1, 1_000_000), ("64k", 1, 0), ("64k", 4, 1_000_000),
    ("1k", 2, 100_000), ("1k", 2, 250_000), ("1k", 2, 0),
]
QUICK_CASES = [("64k", 1, 1_000_000), ("64k", 1, 0), ("64k", 4, 1_000_000), ("1k", 2, 250_000), ("1k", 2, 0)]
MARK_BEGIN, MARK_END = "<!-- ab:begin -->", "<!-- ab:end -->"


def summary(r):
    return {k: r.get(k) for k in ("offered_sps", "delivered_sps", "loss_pct", "agent_cpu_us_per_span", "agent_cores",
                                  "agent_hwm_mib", "sink_cpu_us_per_span", "identity_gap")} | {
        "udp_kernel_drops": r["totals"]["udp_kernel_drops"], "udp_dropped": r["totals"]["udp_dropped"],
        "reporter_dropped_spans": r["totals"]["dropped_spans"]}


def ratio(a, b):
    return (b / a) if a and b is not None else None


def fmt_ratio(x):
    return "—" if x is None else "%.2fx" % x


def render(rows, meta):
    o = [MARK_BEGIN, "## Before / after (issue #14, data plane v2) — measured in one run", ""]
    o.append("`%s` on %s, %s. Loopback, default flags, compact encoding; each row runs the *before* agent "
             "(%s) and the *after* agent (%s) back to back with the same generator and sink, %.0f s each. "
             "Ratios are after / before (higher is better for throughput, lower for CPU and memory)."
             % (meta["command"], meta["machine"], meta["started"], meta["before_rev"], meta["after_rev"],
                meta["duration"]))
    if meta["busy"]:
        o.append("")
        o.append("Machine load during the run: %s. Absolute numbers are lower bounds; the ratios are the result."
                 % meta["busy"])
    o.append("")
    o.append("| case | offered spans/s | before: delivered spans/s · loss · µs/span · peak RSS | "
             "after: delivered spans/s · loss · µs/span · peak RSS | delivered | CPU/span | RSS |")
    o.append("|---|---:|---|---|---:|---:|---:|")
    for row in rows:
        a, b = row["before"], row["after"]

        def cell(x):
            us = x["agent_cpu_us_per_span"]
            return "%s · %.3f %% · %s µs · %.0f MiB" % (rb.fmt_int(x["delivered_sps"]), x["loss_pct"],
                                                        "%.2f" % us if us else "—", x["agent_hwm_mib"])
        step = "flood" if row["step"] == 0 else rb.fmt_int(row["step"]) + (" spans/s" if row["size"] == "64k" else " dgram/s")
        o.append("| %s, %d sender socket%s, %s | %s | %s | %s | %s | %s | %s |" % (
            row["size"], row["threads"], "" if row["threads"] == 1 else "s", step, rb.fmt_int(b["offered_sps"]),
            cell(a), cell(b), fmt_ratio(ratio(a["delivered_sps"], b["delivered_sps"])),
            fmt_ratio(ratio(a["agent_cpu_us_per_span"], b["agent_cpu_us_per_span"])),
            fmt_ratio(ratio(a["agent_hwm_mib"], b["agent_hwm_mib"]))))
    o.append("")
    o.append("Where the *after* agent dropped, in the flood rows (kernel socket drops happen before the agent "
             "spends CPU; `udp_dropped` = read but not decoded because the reporter queue was full):")
    o.append("")
    for row in rows:
        if row["step"] == 0:
            b = row["after"]
            o.append("- %s flood: kernel drops %s datagrams, dropped before decode %s datagrams, reporter drops %s "
                     "spans, identity gap %s." % (row["size"], rb.fmt_int(b["udp_kernel_drops"]),
                                                   rb.fmt_int(b["udp_dropped"]), rb.fmt_int(b["reporter_dropped_spans"]),
                                                   b["identity_gap"]))
    o.append(MARK_END)
    return "\n".join(o) + "\n"


def insert(md_path, section, begin=MARK_BEGIN, end=MARK_END):
    """Replaces the section between the markers, or inserts it after the title's paragraph."""
    text = open(md_path).read() if os.path.exists(md_path) else "# Benchmarks\n"
    if begin in text:
        pre, rest = text.split(begin, 1)
        post = rest.split(end, 1)[1].lstrip("\n") if end in rest else ""
        text = pre + section + "\n" + post
    else:
        lines = text.split("\n")
        # After the title and its first paragraph.
        at = next((i for i, l in enumerate(lines) if i > 0 and l.startswith("## ")), len(lines))
        text = "\n".join(lines[:at]) + "\n" + section + "\n" + "\n".join(lines[at:])
    with open(md_path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="baseline agent binary")
    ap.add_argument("--before-rev", default="baseline")
    ap.add_argument("--after-rev", default="HEAD")
    ap.add_argument("--build-dir", required=True, help="build dir of the after agent, loadgen and sink")
    ap.add_argument("--out-dir", default=os.path.join(rb.ROOT, "docs"))
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    ns = argparse.Namespace(build_dir=args.build_dir, agent=None, loadgen=None, sink=None, keep=args.keep,
                            threads_1k=2, threads_64k=1)
    runner = rb.Runner(ns)
    after = runner.agent
    try:
        la = rb.loadavg()
        k = rb.probe_spans_per_datagram(runner, "64k", "compact")
        k1 = rb.probe_spans_per_datagram(runner, "1k", "compact")
        rows = []
        duration = 3.0 if args.quick else args.duration
        for size, threads, step in (QUICK_CASES if args.quick else CASES):
            rate = rb.rate_for(size, step, k if size == "64k" else k1)
            row = {"size": size, "threads": threads, "step": step}
            for name, binary in (("before", args.before), ("after", after)):
                runner.agent = binary
                r = run_case(runner, size, threads, rate, duration)
                row[name] = summary(r)
                rb.log("%s %s x%d %s: delivered %s spans/s, loss %.3f%%, %.2f µs/span, HWM %.0f MiB" % (
                    name, size, threads, step or "flood", rb.fmt_int(r["delivered_sps"]), r["loss_pct"],
                    r["agent_cpu_us_per_span"] or -1, r["agent_hwm_mib"]))
            rows.append(row)
        la_end = rb.loadavg()
        busy = ""
        if float(la[0]) > 1.0 or float(la_end[0]) > 3.0:
            busy = "load average %s at the start, %s at the end" % ("/".join(la), "/".join(la_end))
        import datetime
        m = rb.machine_description()
        machine = "%s, %s vCPUs, Linux %s (%s)" % (m.get("cpu"), m.get("nproc"), m.get("kernel"), m.get("virt"))
        meta = {"command": "tools/bench.sh" + (" --quick" if args.quick else ""), "machine": machine,
                "started": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "before_rev": args.before_rev,
                "after_rev": args.after_rev, "duration": duration, "busy": busy}
        os.makedirs(args.out_dir, exist_ok=True)
        with open(os.path.join(args.out_dir, "benchmarks-ab.json"), "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)
        insert(os.path.join(args.out_dir, "benchmarks.md"), render(rows, meta))
        rb.log("wrote the before/after section of %s/benchmarks.md" % args.out_dir)
        return 0
    except rb.BenchError as e:
        rb.log("FAILED: %s (logs in %s)" % (e, runner.tmp))
        args.keep = True
        return 1
    finally:
        runner.cleanup()


def run_case(runner, size, threads, rate, duration):
    if size == "64k":
        runner.args.threads_64k = threads
    else:
        runner.args.threads_1k = threads
    return runner.run("loopback", size, "compact", rate, "default", duration, label="ab")


if __name__ == "__main__":
    sys.exit(main())
