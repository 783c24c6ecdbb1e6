#!/usr/bin/env python3
"""Amplification (issue #11): datagrams made of one Batch that repeats its Process field
thousands of times, sent to an agent with a large --agent.tags value, compact and binary. Before
the fix every repeat got the agent tags (80 x 64 KB datagrams took the agent from 10 MiB to
400+ MiB and forwarded about a gigabyte). Now a repeated field replaces the earlier one, so:

  - the C++ collector sink (tools/collector_sink.cc) receives every batch,
  - bytes forwarded <= 2 x bytes received (each batch: one Process with the tag once),
  - the agent's peak RSS (VmHWM) grows by at most 48 MiB over its idle RSS.

    amplification_test.py <agent-binary> <collector-sink-binary>
Loopback only; bounded (about 5 s)."""
import struct
import sys
import time

from hostile_lib import Fail, Harness, check, status_kb, udp_send, wait_until

DATAGRAMS = 80  # per protocol
TAG_VALUE = "v" * 1024
MAX_DATAGRAM = 63000


def zigzag_varint(n):
    v = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def compact_datagram():
    # Envelope: 0x82, ONEWAY(4)<<5 | version 1, seqid 0, name "emitBatch".
    env = bytes([0x82, 0x81, 0x00, 0x09]) + b"emitBatch"
    process = bytes([0x18, 0x01]) + b"a" + b"\x00"  # serviceName "a", stop
    first = bytes([0x1C]) + process                  # Batch.process (delta 1, struct)
    repeat = bytes([0x0C]) + zigzag_varint(1) + process  # long form: same id again
    tail = bytes([0x19, 0x0C]) + b"\x00\x00"          # spans: empty list<struct>; Batch stop, args stop
    head = env + bytes([0x1C]) + first
    n = (MAX_DATAGRAM - len(head) - len(tail)) // len(repeat)
    return head + repeat * n + tail


def binary_datagram():
    env = struct.pack(">I", 0x80010004) + struct.pack(">i", 9) + b"emitBatch" + struct.pack(">i", 0)
    process = bytes([0x0C, 0x00, 0x01, 0x0B, 0x00, 0x01]) + struct.pack(">i", 1) + b"a" + b"\x00"
    tail = bytes([0x0F, 0x00, 0x02, 0x0C]) + struct.pack(">i", 0) + b"\x00\x00"
    head = env + bytes([0x0C, 0x00, 0x01])
    n = (MAX_DATAGRAM - len(head) - len(tail)) // len(process)
    return head + process * n + tail


def main():
    agent_bin, sink_bin = sys.argv[1], sys.argv[2]
    h = Harness(agent_bin, sink_bin)
    try:
        port, stats = h.start_sink()
        h.start_agent(["--reporter.tchannel.host-port=127.0.0.1:%d" % port, "--agent.tags=big=" + TAG_VALUE])
        time.sleep(0.3)
        rss0 = status_kb(h.agent_pid(), "VmRSS")
        sent_bytes = 0
        for proto, d in (("compact", compact_datagram()), ("binary", binary_datagram())):
            udp_send(h.udp[proto], [d] * DATAGRAMS, pace_s=0.002)
            sent_bytes += len(d) * DATAGRAMS
        total = 2 * DATAGRAMS
        wait_until(lambda: h.sink_stats(stats).get("batches", 0) >= total, 20, "%d batches at the sink" % total)
        time.sleep(0.3)  # nothing more may arrive
        st = h.sink_stats(stats)
        hwm = status_kb(h.agent_pid(), "VmHWM")
        totals = h.stop_agent()
        print("received %d bytes in %d datagrams; forwarded %d bytes in %d batches; RSS idle %d KiB, peak %d KiB"
              % (sent_bytes, total, st["bytes"], st["batches"], rss0, hwm))
        print("agent totals: %s" % totals)
        check(st["batches"] == total, "sink got %d batches, expected %d" % (st["batches"], total))
        check(st["errors"] == 0, "sink reported %d malformed requests" % st["errors"])
        check(st["bytes"] <= 2 * sent_bytes, "forwarded %d bytes for %d received: amplified" % (st["bytes"], sent_bytes))
        # Each batch carries the 1 KiB tag once: about 1.1 KB each.
        check(st["bytes"] <= total * (len(TAG_VALUE) + 512),
              "forwarded %d bytes: more than one copy of the agent tags per batch" % st["bytes"])
        check(hwm - rss0 <= 48 * 1024, "agent RSS grew by %d KiB (idle %d, peak %d)" % (hwm - rss0, rss0, hwm))
        print("amplification: OK")
        return 0
    except Fail as e:
        print("amplification: FAILED: %s" % e)
        print(open(h.agent_log).read()[-3000:])
        return 1
    finally:
        h.cleanup()


if __name__ == "__main__":
    sys.exit(main())
