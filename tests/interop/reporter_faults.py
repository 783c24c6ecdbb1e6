#!/usr/bin/env python3
"""Reporter fault tests: the agent against real tchannel-node collectors (collector.js) that get
killed, answer busy, are slow, or restart, and a SIGTERM with a full queue.

    reporter_faults.py <agent-binary> <oracle-sender-binary> <scenario>|all

Every scenario checks span accounting against what the sender sent and what the collectors
recorded, using the agent's exit line "shutdown complete: totals k=v ...":

    sent == received_spans                      (nothing lost before the reporter)
    delivered + failed + dropped == sent        (exact, when no call's outcome is unknown)
    sent - failed - dropped <= delivered <= sent - (failed - failed_unknown) - dropped
                                                (when a collector died with calls in flight:
                                                 `failed_unknown` calls were written to it and
                                                 it may or may not have recorded them)
    no span recorded twice, no span recorded that was not sent.

Only 127.0.0.1; every process is started by this script and killed at the end; bounded in time.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTOR = os.path.join(HERE, "collector.js")


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    if not pred():
        raise Fail("timed out after %.0fs waiting for %s" % (timeout, what))


def span_keys(path):
    keys = []
    if not os.path.exists(path):
        return keys
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            o = json.loads(line)
            if o.get("format") == "zipkin":
                keys.append(("z", o.get("traceIdHigh"), o.get("traceId"), o.get("id")))
            else:
                keys.append(("j", o["traceIdHigh"], o["traceIdLow"], o["spanId"]))
    return keys


def line_count(path):
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as f:
        return sum(1 for _ in f)


class Harness:
    def __init__(self, agent_bin, oracle_bin, name):
        self.agent_bin = agent_bin
        self.oracle_bin = oracle_bin
        self.dir = tempfile.mkdtemp(prefix="jagent-reporter-%s." % name)
        self.procs = []
        self.collectors = {}
        self.agent = None
        self.agent_log = os.path.join(self.dir, "agent.log")
        self.udp = {}
        self.admin = None

    def collector(self, name, port=None, env=None):
        port = port or free_port()
        out = os.path.join(self.dir, "recv-%s.jsonl" % name)
        stats = os.path.join(self.dir, "stats-%s.json" % name)
        e = dict(os.environ)
        e.update(env or {})
        log = open(os.path.join(self.dir, "collector-%s.log" % name), "a")
        # Append mode: a restarted collector keeps what it recorded before (collector.js opens
        # with 'w', so each incarnation gets its own file suffix).
        n = sum(1 for k in self.collectors if k.startswith(name))
        if n:
            out = out.replace(".jsonl", ".%d.jsonl" % n)
        p = subprocess.Popen(["node", COLLECTOR, str(port), out, stats], stdout=subprocess.PIPE,
                             stderr=log, env=e, text=True)
        self.procs.append(p)
        line = p.stdout.readline()
        check(line.startswith("ready"), "collector %s did not start: %r" % (name, line))
        self.collectors["%s#%d" % (name, n)] = {"proc": p, "out": out, "stats": stats, "port": port}
        return port

    def collector_files(self):
        return [c["out"] for c in self.collectors.values()]

    def start_agent(self, peers, extra=(), reporter=None):
        # reporter: the --reporter.* flags naming the collectors (default: TChannel to `peers`).
        args = [self.agent_bin] + (reporter or [
                "--reporter.tchannel.host-port=" + ",".join("127.0.0.1:%d" % p for p in peers)]) + [
                "--processor.jaeger-compact.server-host-port=127.0.0.1:0",
                "--processor.jaeger-binary.server-host-port=127.0.0.1:0",
                "--processor.zipkin-compact.server-host-port=127.0.0.1:0",
                "--processor.jaeger-compact.server-socket-buffer-size=8388608",
                "--processor.zipkin-compact.server-socket-buffer-size=8388608",
                "--http-server.host-port=127.0.0.1:0", "--admin.http.host-port=127.0.0.1:0",
                "--log-level=info"] + list(extra)
        self.agent = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(self.agent_log, "w"))
        self.procs.append(self.agent)

        def ready():
            with open(self.agent_log) as f:
                text = f.read()
            m = re.search(r"agent ready: UDP zipkin-compact :(\d+), jaeger-compact :(\d+), jaeger-binary :(\d+)", text)
            a = re.search(r"admin server :(\d+)", text)
            if a:
                self.admin = int(a.group(1))
            if m:
                self.udp = {"zipkin": int(m.group(1)), "compact": int(m.group(2)), "binary": int(m.group(3))}
            check(self.agent.poll() is None, "agent exited during start: " + open(self.agent_log).read()[-2000:])
            return bool(m)

        wait_until(ready, 10, "agent ready")

    def send(self, batches, seed, name, pace_us=0, zipkin=0, background=False, max_packet=65000):
        out = os.path.join(self.dir, "sent-%s.jsonl" % name)
        args = [self.oracle_bin, "--compact-port", str(self.udp["compact"]), "--batches", str(batches),
                "--seed", str(seed), "--out", out, "--pace-us", str(pace_us), "--max-packet", str(max_packet)]
        if zipkin:
            args += ["--zipkin-port", str(self.udp["zipkin"]), "--zipkin-batches", str(zipkin)]
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "oracle.log"), "a"))
        if background:
            self.procs.append(p)
            return p, out
        check(p.wait(timeout=60) == 0, "oracle-sender failed")
        return p, out

    def stop_agent(self, timeout=15):
        t0 = time.time()
        self.agent.send_signal(signal.SIGTERM)
        try:
            rc = self.agent.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Fail("agent did not exit within %ds of SIGTERM" % timeout)
        elapsed = time.time() - t0
        check(rc == 0, "agent exit code %d" % rc)
        with open(self.agent_log) as f:
            log = f.read()
        m = re.search(r"shutdown complete: totals (.*)$", log, re.M)
        check(m, "no totals line in agent log")
        totals = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
        return totals, elapsed

    def collector_stats(self, key):
        with open(self.collectors[key]["stats"]) as f:
            return json.load(f)

    def stop_collectors(self):
        for c in self.collectors.values():
            if c["proc"].poll() is None:
                c["proc"].send_signal(signal.SIGTERM)
                c["proc"].wait(timeout=10)

    def cleanup(self, keep):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def accounting(sent_keys, delivered_keys, totals, exact):
    sent = set(sent_keys)
    check(len(sent) == len(sent_keys), "sender produced duplicate span keys")
    dup = len(delivered_keys) - len(set(delivered_keys))
    check(dup == 0, "%d spans were delivered more than once" % dup)
    unexpected = set(delivered_keys) - sent
    check(not unexpected, "%d delivered spans were never sent" % len(unexpected))
    n_sent, n_del = len(sent), len(set(delivered_keys))
    # Datagrams dropped before decoding (a saturated reporter stops the receivers: udp_dropped,
    # then kernel drops) carry spans the agent never saw; everything it decoded is accounted below.
    early = totals["udp_dropped"] + totals["udp_kernel_drops"]
    check(totals["received_spans"] == n_sent if early == 0 else totals["received_spans"] < n_sent,
          "agent received %d spans, sender sent %d (udp drops %d, kernel %d, rejected %d)" %
          (totals["received_spans"], n_sent, totals["udp_dropped"], totals["udp_kernel_drops"],
           totals["decode_rejected"]))
    n_sent = totals["received_spans"] if early else n_sent
    failed, unknown, dropped = totals["failed_spans"], totals["failed_unknown_spans"], totals["dropped_spans"]
    if exact or unknown == 0:
        check(n_del + failed + dropped == n_sent,
              "identity broken: delivered %d + failed %d + dropped %d != sent %d" % (n_del, failed, dropped, n_sent))
    else:
        lo, hi = n_sent - failed - dropped, n_sent - (failed - unknown) - dropped
        check(lo <= n_del <= hi, "delivered %d outside [%d, %d] (sent %d, failed %d of which unknown %d, dropped %d)"
              % (n_del, lo, hi, n_sent, failed, unknown, dropped))
    return "sent=%d delivered=%d failed=%d (unknown %d) dropped=%d" % (n_sent, n_del, failed, unknown, dropped)


# ---- scenarios ------------------------------------------------------------------------------

def scenario_spread_and_kill(h):
    """Two collectors share the load; one is killed mid-stream; every span is delivered or counted."""
    a = h.collector("a")
    b = h.collector("b")
    h.start_agent([a, b], ["--reporter.tchannel.batch-max-delay=5ms"])
    proc, sent_path = h.send(400, seed=11, name="kill", pace_us=3000, background=True)
    files = {k: c["out"] for k, c in h.collectors.items()}
    wait_until(lambda: line_count(files["b#0"]) > 300 and line_count(files["a#0"]) > 300, 30,
               "both collectors to receive spans")
    h.collectors["b#0"]["proc"].kill()
    check(proc.wait(timeout=60) == 0, "oracle-sender failed")
    time.sleep(1.5)  # let the agent finish retries / timeouts
    totals, _ = h.stop_agent()
    h.stop_collectors()
    a_n, b_n = line_count(files["a#0"]), line_count(files["b#0"])
    check(a_n > 0 and b_n > 0, "load did not spread: a=%d b=%d" % (a_n, b_n))
    # Before the kill both got a fair share: b had > 300 spans when it died, and a has the rest.
    delivered = span_keys(files["a#0"]) + span_keys(files["b#0"])
    return accounting(span_keys(sent_path), delivered, totals, exact=False) + " a=%d b=%d" % (a_n, b_n)


def scenario_busy_retry(h):
    """A collector answers busy for its first 5 calls: those calls are retried on the other peer."""
    a = h.collector("a", env={"COLLECTOR_BUSY_FIRST": "5"})
    b = h.collector("b")
    h.start_agent([a, b], ["--reporter.tchannel.batch-max-delay=2ms"])
    _, sent_path = h.send(200, seed=12, name="busy", pace_us=2000)
    wait_until(lambda: sum(line_count(f) for f in h.collector_files()) >= len(span_keys(sent_path)), 20,
               "all spans delivered")
    totals, _ = h.stop_agent()
    h.stop_collectors()
    busy = h.collector_stats("a#0")["busyAnswered"]
    check(busy == 5, "collector a answered busy %d times, expected 5" % busy)
    check(totals["retries"] >= 5, "agent retried %d calls, expected >= 5" % totals["retries"])
    delivered = sum((span_keys(f) for f in h.collector_files()), [])
    r = accounting(span_keys(sent_path), delivered, totals, exact=False)
    check(totals["failed_spans"] - totals["failed_unknown_spans"] == 0 and totals["dropped_spans"] == 0,
          "busy calls were not all retried: " + r)
    return r + " retries=%d" % totals["retries"]


def scenario_slow_collector(h):
    """A slow collector: the queue fills, the agent keeps receiving, drops are counted, memory bounded."""
    a = h.collector("a", env={"COLLECTOR_DELAY_MS": "300"})
    bound = 2 << 20
    h.start_agent([a], ["--reporter.queue-max-bytes=%d" % bound, "--reporter.tchannel.report-timeout=5s",
                        "--reporter.tchannel.batch-max-bytes=262144", "--shutdown-timeout=8s"])
    _, sent_path = h.send(600, seed=13, name="slow", pace_us=200)
    with open("/proc/%d/status" % h.agent.pid) as f:
        hwm_kb = int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))
    totals, _ = h.stop_agent(timeout=20)
    h.stop_collectors()
    sent_bytes = os.path.getsize(sent_path)
    delivered = span_keys(h.collectors["a#0"]["out"])
    r = accounting(span_keys(sent_path), delivered, totals, exact=False)
    check(totals["dropped_spans"] > 0, "expected queue-full drops with a slow collector: " + r)
    # Memory: bounded by the queue (batches are held once in the queue and once as frames being
    # written) plus the fixed cost of the process, not by what was offered.
    check(hwm_kb * 1024 < 64 * 1024 * 1024 + 3 * bound,
          "agent peak RSS %d KiB above bound (queue bound %d, offered ~%d bytes)" % (hwm_kb, bound, sent_bytes))
    return r + " peak_rss=%dMiB offered_json=%dMiB" % (hwm_kb // 1024, sent_bytes >> 20)


def scenario_restart(h):
    """The collector restarts: the agent reconnects and delivery resumes, nothing lost."""
    port = free_port()
    h.collector("a", port=port)
    h.start_agent([port], ["--reporter.tchannel.batch-max-delay=2ms"])
    _, sent1 = h.send(60, seed=14, name="before", pace_us=2000)
    wait_until(lambda: line_count(h.collectors["a#0"]["out"]) >= len(span_keys(sent1)), 20, "first half delivered")
    h.collectors["a#0"]["proc"].send_signal(signal.SIGTERM)
    h.collectors["a#0"]["proc"].wait(timeout=10)
    time.sleep(0.3)
    _, sent2 = h.send(60, seed=15, name="during", pace_us=2000)  # collector down: queued in the agent
    time.sleep(0.5)
    h.collector("a", port=port)
    _, sent3 = h.send(60, seed=16, name="after", pace_us=2000)
    total_sent = span_keys(sent1) + span_keys(sent2) + span_keys(sent3)
    wait_until(lambda: sum(line_count(f) for f in h.collector_files()) >= len(total_sent), 30,
               "all spans delivered after the restart")
    totals, _ = h.stop_agent()
    h.stop_collectors()
    delivered = sum((span_keys(f) for f in h.collector_files()), [])
    return accounting(total_sent, delivered, totals, exact=False)


def scenario_sigterm_full_queue(h):
    """SIGTERM while a slow collector has a full queue: exit 0 within the timeout, all accounted."""
    a = h.collector("a", env={"COLLECTOR_DELAY_MS": "400"})
    h.start_agent([a], ["--shutdown-timeout=2s", "--reporter.tchannel.report-timeout=3s",
                        "--reporter.queue-max-bytes=4194304", "--reporter.tchannel.batch-max-bytes=131072"])
    _, sent_path = h.send(300, seed=17, name="term", pace_us=100)
    totals, elapsed = h.stop_agent(timeout=10)
    check(elapsed < 2.0 + 1.5, "shutdown took %.1fs with --shutdown-timeout=2s" % elapsed)
    time.sleep(1.0)  # calls already written may still be recorded by the slow collector
    h.stop_collectors()
    delivered = span_keys(h.collectors["a#0"]["out"])
    r = accounting(span_keys(sent_path), delivered, totals, exact=False)
    check(totals["dropped_spans"] + totals["failed_spans"] > 0, "expected undelivered spans at the deadline: " + r)
    return r + " shutdown=%.2fs" % elapsed


def scenario_coalescing(h):
    """A burst of small batches becomes far fewer collector calls."""
    a = h.collector("a")
    # A fixed 100 ms window so the ratio checks the mechanism, not how fast this machine sends.
    # One shard: each shard coalesces on its own, so the ratio divides by the shard count at low
    # rates; this checks the mechanism.
    h.start_agent([a], ["--reporter.tchannel.batch-max-delay=100ms", "--processor.shards=1"])
    _, sent_path = h.send(2000, seed=18, name="burst", pace_us=0, max_packet=1500)
    n = len(span_keys(sent_path))
    wait_until(lambda: line_count(h.collectors["a#0"]["out"]) >= n, 30, "burst delivered")
    totals, _ = h.stop_agent()
    h.stop_collectors()
    stats = h.collector_stats("a#0")
    calls = stats["calls"]["Collector::submitBatches"]
    batches = stats["batches"]
    r = accounting(span_keys(sent_path), span_keys(h.collectors["a#0"]["out"]), totals, exact=False)
    check(batches >= 1000, "expected >= 1000 small batches at the collector, got %d" % batches)
    check(calls * 10 <= batches, "coalescing too weak: %d calls for %d batches" % (calls, batches))
    return r + " batches=%d calls=%d ratio=%.1f" % (batches, calls, batches / max(calls, 1))


def scenario_collector_down_memory(h):
    """No collector at all: the queue bound (reserved bytes) holds memory, virtual memory does not
    grow with the traffic, and every span is counted as dropped."""
    bound = 4 << 20
    h.start_agent([free_port()], ["--reporter.queue-max-bytes=%d" % bound, "--shutdown-timeout=1s"])

    def vm():
        with open("/proc/%d/status" % h.agent.pid) as f:
            t = f.read()
        return (int(re.search(r"VmSize:\s+(\d+)", t).group(1)), int(re.search(r"VmRSS:\s+(\d+)", t).group(1)))
    proc, sent_path = h.send(1500, seed=19, name="down", pace_us=1000, background=True)
    time.sleep(1.0)
    vm_early, _ = vm()
    proc.wait(timeout=60)
    vm_late, rss_late = vm()
    totals, _ = h.stop_agent(timeout=20)
    r = accounting(span_keys(sent_path), [], totals, exact=True)
    check(totals["dropped_spans"] > 0, "expected queue-full drops with no collector: " + r)
    check(vm_late - vm_early < 16 * 1024, "virtual memory grew %d KiB while the collector was down" % (vm_late - vm_early))
    check(rss_late * 1024 < 48 * 1024 * 1024 + 2 * bound, "RSS %d KiB above bound" % rss_late)
    return r + " vm_growth=%dKiB rss=%dMiB" % (vm_late - vm_early, rss_late // 1024)


SCENARIOS = {
    "collector_down_memory": scenario_collector_down_memory,
    "spread_and_kill": scenario_spread_and_kill,
    "busy_retry": scenario_busy_retry,
    "slow_collector": scenario_slow_collector,
    "restart": scenario_restart,
    "sigterm_full_queue": scenario_sigterm_full_queue,
    "coalescing": scenario_coalescing,
}


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    agent_bin, oracle_bin, which = sys.argv[1:]
    if not os.path.isdir(os.path.join(HERE, "node_modules", "tchannel")):
        print("reporter_faults: FAIL tests/interop/node_modules missing: run tools/setup-npm.sh")
        return 1
    names = list(SCENARIOS) if which == "all" else [which]
    failed = 0
    for name in names:
        h = Harness(agent_bin, oracle_bin, name)
        t0 = time.time()
        ok = False
        try:
            detail = SCENARIOS[name](h)
            ok = True
            print("PASS %s (%.1fs): %s" % (name, time.time() - t0, detail))
        except Fail as e:
            print("FAIL %s (%.1fs): %s\n  logs kept in %s" % (name, time.time() - t0, e, h.dir))
            failed += 1
        finally:
            h.cleanup(keep=not ok or os.environ.get("INTEROP_KEEP") == "1")
    print("%d passed, %d failed" % (len(names) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
