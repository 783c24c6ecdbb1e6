"""Shared pieces of the hostile-client tests (tests/hostile/*.py): start the agent and the C++
collector sink (tools/collector_sink.cc) on loopback, read RSS, poll with a deadline.
Every process is started here and killed at the end; all bounded in time."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def wait_until(pred, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    if not pred():
        raise Fail("timed out after %.0fs waiting for %s" % (timeout, what))


def status_kb(pid, field):
    """VmRSS / VmHWM of a process, in KiB (from /proc/PID/status)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise Fail("no %s for pid %d" % (field, pid))


class Harness:
    def __init__(self, agent_bin, sink_bin=None, netns=None):
        self.agent_bin, self.sink_bin = agent_bin, sink_bin
        self.dir = tempfile.mkdtemp(prefix="jagent-hostile.")
        self.procs = []
        self.agent = None
        self.netns = netns
        self.agent_log = os.path.join(self.dir, "agent.log")

    def _cmd(self, args):
        return (["ip", "netns", "exec", self.netns] if self.netns else []) + args

    def start_sink(self, name="sink", host="127.0.0.1"):
        stats = os.path.join(self.dir, "sink-%s.json" % name)
        p = subprocess.Popen(self._cmd([self.sink_bin, "--host", host, "--port", "0", "--stats-file", stats,
                                        "--stats-interval-ms", "100"]),
                             stdout=subprocess.PIPE, stderr=open(os.path.join(self.dir, name + ".log"), "w"), text=True)
        self.procs.append(p)
        line = p.stdout.readline()
        check(line.startswith("ready "), "sink %s did not start: %r" % (name, line))
        return int(line.split()[1]), stats

    @staticmethod
    def sink_stats(stats):
        try:
            with open(stats) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def start_agent(self, extra=(), env=None):
        args = [self.agent_bin,
                "--processor.jaeger-compact.server-host-port=127.0.0.1:0",
                "--processor.jaeger-binary.server-host-port=127.0.0.1:0",
                "--processor.zipkin-compact.server-host-port=127.0.0.1:0",
                "--processor.jaeger-compact.server-socket-buffer-size=8388608",
                "--processor.jaeger-binary.server-socket-buffer-size=8388608",
                "--http-server.host-port=127.0.0.1:0", "--admin.http.host-port=127.0.0.1:0",
                "--log-level=info"] + list(extra)
        e = dict(os.environ)
        e.update(env or {})
        self.agent = subprocess.Popen(self._cmd(args), stdout=subprocess.DEVNULL,
                                      stderr=open(self.agent_log, "w"), env=e)
        self.procs.append(self.agent)

        def ready():
            log = open(self.agent_log).read()
            m = re.search(r"agent ready: UDP zipkin-compact :(\d+), jaeger-compact :(\d+), jaeger-binary :(\d+)", log)
            check(self.agent.poll() is None, "agent exited during start: " + log[-2000:])
            if m:
                self.udp = {"zipkin": int(m.group(1)), "compact": int(m.group(2)), "binary": int(m.group(3))}
                hm = re.search(r"http: sampling server :(\d+), admin server :(\d+)", log)
                self.http = {"sampling": int(hm.group(1)), "admin": int(hm.group(2))} if hm else {}
            return bool(m)

        wait_until(ready, 15, "agent ready")

    def agent_pid(self):
        """The agent's own pid (under `ip netns exec` the child replaces it: exec, same pid)."""
        return self.agent.pid

    def stop_agent(self, timeout=15):
        self.agent.send_signal(signal.SIGTERM)
        try:
            rc = self.agent.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Fail("agent did not exit within %ds of SIGTERM" % timeout)
        check(rc == 0, "agent exit code %d: %s" % (rc, open(self.agent_log).read()[-2000:]))
        m = re.search(r"shutdown complete: totals (.*)$", open(self.agent_log).read(), re.M)
        check(m, "no totals line in agent log")
        return {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}

    def cleanup(self, keep=False):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def udp_send(port, payloads, pace_s=0.0, host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for p in payloads:
        s.sendto(p, (host, port))
        if pace_s:
            time.sleep(pace_s)
    s.close()
