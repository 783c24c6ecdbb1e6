#!/usr/bin/env python3
"""Hostile HTTP clients (issue #11) against the agent's admin (/, /metrics) and sampling
(/sampling) servers, for about 8 s, all at once:

  - 300 idle connections per server that send a partial request line and then nothing, re-opened
    as the agent closes them (so the pressure stays on for the whole run);
  - 40 per server that trickle one header byte every 200 ms;
  - 20 per server that send 20 KiB of header without an end;
  - 20 per server that declare a 1 GB body and trickle it.

Meanwhile a probe asks GET / and GET /metrics (admin) and GET /sampling?service=svc (sampling,
answered by the C++ collector sink) every 100 ms on fresh connections. Asserts: every probe is
answered 200 within 500 ms; the agent's peak RSS grows by at most 32 MiB over idle; the reject
counters on /metrics show the evictions, header timeouts and oversized headers.

    http_hostile_test.py <agent-binary> <collector-sink-binary>
Loopback only; bounded (about 15 s)."""
import re
import resource
import socket
import sys
import threading
import time

from hostile_lib import Fail, Harness, check, status_kb

IDLE, TRICKLE, BIG, BODY = 300, 40, 20, 20
ATTACK_S = 8.0
PROBE_BOUND_S = 0.5


def connect(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(True)
    s.settimeout(2)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    return s


def try_send(s, data):
    try:
        s.send(data)
        return True
    except (BlockingIOError, InterruptedError):
        return True
    except OSError:
        return False


def alive(s):
    try:
        d = s.recv(65536)
        return d != b""  # data (an answer): keep; b"": closed by the agent
    except (BlockingIOError, InterruptedError):
        return True
    except OSError:
        return False


class Attack:
    def __init__(self, ports):
        self.ports = ports
        self.stop = threading.Event()
        self.opened = 0

    def run(self):
        conns = []  # (socket, kind, port, next byte index)
        def open_one(kind, port):
            try:
                s = connect(port)
            except OSError:
                return
            self.opened += 1
            if kind == "idle":
                try_send(s, b"GET /metr")
            elif kind == "big":
                try_send(s, b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 20000)
            elif kind == "body":
                try_send(s, b"POST /sampling HTTP/1.1\r\nContent-Length: 1000000000\r\n\r\n")
            conns.append([s, kind, port])
        for port in self.ports:
            for kind, n in (("idle", IDLE), ("trickle", TRICKLE), ("big", BIG), ("body", BODY)):
                for _ in range(n):
                    open_one(kind, port)
        last_trickle = 0.0
        while not self.stop.is_set():
            now = time.time()
            if now - last_trickle >= 0.2:
                last_trickle = now
                for c in conns:
                    if c[1] == "trickle":
                        try_send(c[0], b"X")
                    elif c[1] == "body":
                        try_send(c[0], b"x" * 1000)
            keep, closed = [], []
            for c in conns:
                if alive(c[0]):
                    keep.append(c)
                else:
                    c[0].close()
                    closed.append(c)
            conns[:] = keep
            for c in closed[:100]:  # keep the pressure on (at most 2000 new connections a second)
                open_one(c[1], c[2])
            time.sleep(0.05)
        for c in conns:
            c[0].close()


def probe(port, path):
    t0 = time.time()
    out = b""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                out += d
        finally:
            s.close()
    except OSError as e:  # a timeout is a failed probe, reported with the others
        out = ("no answer: %s\r\n" % e).encode()
    return time.time() - t0, out.split(b"\r\n", 1)[0].decode(errors="replace"), out


def main():
    agent_bin, sink_bin = sys.argv[1], sys.argv[2]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    h = Harness(agent_bin, sink_bin)
    try:
        port, _ = h.start_sink()
        h.start_agent(["--reporter.tchannel.host-port=127.0.0.1:%d" % port])
        admin, sampling = h.http["admin"], h.http["sampling"]
        probes = [(admin, "/"), (admin, "/metrics"), (sampling, "/sampling?service=svc")]
        for p in probes:  # warm: the sampling cache, first allocations
            probe(*p)
        time.sleep(0.2)
        rss0 = status_kb(h.agent_pid(), "VmRSS")
        attack = Attack([admin, sampling])
        t = threading.Thread(target=attack.run, daemon=True)
        t.start()
        time.sleep(1.0)  # let the flood settle in
        worst, results = 0.0, []
        end = time.time() + ATTACK_S
        while time.time() < end:
            for p in probes:
                dt, status, _ = probe(*p)
                results.append((p[1], dt, status))
                worst = max(worst, dt)
            time.sleep(0.1)
        hwm = status_kb(h.agent_pid(), "VmHWM")
        attack.stop.set()
        t.join(10)
        _, _, metrics = probe(admin, "/metrics")
        rejects = {}
        for m in re.finditer(rb'jaeger_agent_http_connections_rejected_total\{server="(\w+)",reason="(\w+)"\} (\d+)', metrics):
            rejects["%s/%s" % (m.group(1).decode(), m.group(2).decode())] = int(m.group(3))
        bad = [r for r in results if r[2] != "HTTP/1.1 200 OK" or r[1] > PROBE_BOUND_S]
        print("attack: %d connections opened; %d probes, worst %.1f ms; RSS idle %d KiB, peak %d KiB"
              % (attack.opened, len(results), worst * 1000, rss0, hwm))
        print("rejects: %s" % {k: v for k, v in sorted(rejects.items()) if v})
        check(not bad, "%d probes slow or failed, e.g. %s" % (len(bad), bad[:5]))
        check(hwm - rss0 <= 32 * 1024, "agent RSS grew by %d KiB under the flood" % (hwm - rss0))
        for server in ("admin", "sampling"):
            for reason in ("evicted", "header_too_large"):
                check(rejects.get("%s/%s" % (server, reason), 0) > 0, "no %s rejects counted for %s" % (reason, server))
        h.stop_agent()
        print("http_hostile: OK")
        return 0
    except Fail as e:
        print("http_hostile: FAILED: %s" % e)
        print(open(h.agent_log).read()[-3000:])
        return 1
    finally:
        h.cleanup()


if __name__ == "__main__":
    sys.exit(main())
