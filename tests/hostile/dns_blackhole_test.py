#!/usr/bin/env python3
"""Blocking DNS off the data path (issue #11). In a network namespace this script creates (and
deletes), the agent gets two collectors: `collector.blackhole.test:P` — a name whose only DNS
server (a UDP socket in the namespace, via `ip netns exec`'s bind mount of
/etc/netns/NS/resolv.conf) reads every query and never answers — and 127.0.0.1:Q, the C++
collector sink by IP. Spans are sent for 6 s at 20 datagrams/s. The reporter re-resolves the
silent name at every reconnect; the collector by IP must keep receiving every batch with at most
a 1 s lag throughout, and all of them in the end.

Before the fix getaddrinfo blocked the reporter's only I/O thread for the resolver timeout
(30 s here) at each attempt, so the sink stopped receiving.

    dns_blackhole_test.py <agent-binary> <collector-sink-binary>
Root only (exit 77 = skipped, with the reason). Bounded (about 10 s)."""
import os
import shutil
import subprocess
import sys
import time

from hostile_lib import Fail, Harness, check, wait_until

NS = "jh-dns%d" % os.getpid()
ETC = "/etc/netns/" + NS
SEND_S, RATE = 6.0, 20

# A compact emitBatch with one span: Process{serviceName "s"}, spans [Span{ids, "op", times}].
def datagram(i):
    def varint(v):
        out = bytearray()
        while True:
            b = v & 0x7F
            v >>= 7
            out.append(b | (0x80 if v else 0))
            if not v:
                return bytes(out)
    zz = lambda n: varint((n << 1) ^ (n >> 63))
    span = (bytes([0x16]) + zz(1) + bytes([0x16]) + zz(0) + bytes([0x16]) + zz(i + 1) + bytes([0x16]) + zz(0)
            + bytes([0x18, 0x02]) + b"op" + bytes([0x25]) + zz(0) + bytes([0x16]) + zz(1700000000000000 + i)
            + bytes([0x16]) + zz(10) + b"\x00")
    batch = bytes([0x1C, 0x18, 0x01]) + b"s" + b"\x00" + bytes([0x19, 0x1C]) + span + b"\x00"
    return bytes([0x82, 0x81, 0x00, 0x09]) + b"emitBatch" + bytes([0x1C]) + batch + b"\x00"


def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def main():
    if os.geteuid() != 0:
        print("dns_blackhole: SKIPPED: needs root (network namespace, /etc/netns bind mount)")
        return 77
    agent_bin, sink_bin = sys.argv[1], sys.argv[2]
    h = None
    dns = None
    try:
        sh("ip", "netns", "add", NS)
        sh("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up")
        os.makedirs(ETC, exist_ok=True)
        with open(ETC + "/resolv.conf", "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:30 attempts:1\n")
        # The silent DNS server: reads queries, never answers.
        dns = subprocess.Popen(["ip", "netns", "exec", NS, "python3", "-c",
                                "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                                "s.bind(('127.0.0.1',53))\nprint('ready',flush=True)\n"
                                "while True: s.recvfrom(4096)"], stdout=subprocess.PIPE, text=True)
        check(dns.stdout.readline().startswith("ready"), "silent DNS server did not start")
        h = Harness(agent_bin, sink_bin, netns=NS)
        port, stats = h.start_sink()
        h.start_agent(["--reporter.tchannel.host-port=collector.blackhole.test:14267,127.0.0.1:%d" % port,
                       "--reporter.tchannel.batch-max-delay=5ms"])
        udp = h.udp["compact"]
        sender = ("import socket,sys,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                  "for line in sys.stdin:\n  s.sendto(bytes.fromhex(line.strip()),('127.0.0.1',%d))\n"
                  "  print('sent',flush=True)\n" % udp)
        snd = subprocess.Popen(["ip", "netns", "exec", NS, "python3", "-c", sender], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
        h.procs.append(snd)
        sent, worst_lag = 0, 0
        end = time.time() + SEND_S
        while time.time() < end:
            snd.stdin.write(datagram(sent).hex() + "\n")
            snd.stdin.flush()
            snd.stdout.readline()
            sent += 1
            time.sleep(1.0 / RATE)
            got = h.sink_stats(stats).get("spans", 0)
            lag = sent - got
            worst_lag = max(worst_lag, lag)
            check(lag <= RATE, "collector by IP fell %d batches (> 1 s) behind while the name hangs" % lag)
        wait_until(lambda: h.sink_stats(stats).get("spans", 0) >= sent, 5, "%d spans at the sink" % sent)
        log = open(h.agent_log).read()
        attempts = log.count("collector.blackhole.test")
        print("sent %d spans; the collector by IP received all, worst lag %d batches (%.0f ms); "
              "%d log lines about the silent name" % (sent, worst_lag, worst_lag * 1000.0 / RATE, attempts))
        check(h.sink_stats(stats)["spans"] == sent, "sink got %d spans, sent %d" % (h.sink_stats(stats)["spans"], sent))
        t0 = time.time()
        h.stop_agent(timeout=10)
        print("agent stopped in %.1f s with a lookup still hanging" % (time.time() - t0))
        print("dns_blackhole: OK")
        return 0
    except (Fail, subprocess.CalledProcessError) as e:
        print("dns_blackhole: FAILED: %s" % e)
        if h:
            print(open(h.agent_log).read()[-3000:])
            print("sink stats: %s" % h.sink_stats(stats) if "stats" in dir() else "")
        return 1
    finally:
        if h:
            h.cleanup()
        if dns and dns.poll() is None:
            dns.kill()
            dns.wait()
        subprocess.run(["ip", "netns", "del", NS], stderr=subprocess.DEVNULL)
        shutil.rmtree(ETC, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
