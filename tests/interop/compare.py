#!/usr/bin/env python3
"""Compare the spans a sender put on the wire with the spans the collector received.

    compare.py [--name NAME] sent.jsonl received.jsonl

Both files hold one normalized span per line (tests/interop/normalize.js). Spans are keyed by
(format, traceIdHigh, traceIdLow, spanId) for jaeger and (format, traceIdHigh, traceId, id) for
zipkin. Fails (exit 1) listing missing, duplicated, unexpected and altered spans, with the first
few differences field by field; prints the counts on success.
"""

import argparse
import collections
import json
import sys

MAX_LISTED = 5
MAX_DIFFS_PER_SPAN = 8


def span_key(s):
    fmt = s.get("format")
    if fmt == "jaeger":
        return ("jaeger", s.get("traceIdHigh"), s.get("traceIdLow"), s.get("spanId"))
    if fmt == "zipkin":
        return ("zipkin", s.get("traceIdHigh") or "-", s.get("traceId"), s.get("id"))
    raise ValueError("unknown span format %r" % (fmt,))


def key_text(k):
    if k[0] == "jaeger":
        return "jaeger trace %s%s span %s" % (k[1], k[2], k[3])
    return "zipkin trace %s:%s id %s" % (k[1], k[2], k[3])


def load(path, what):
    spans = []
    with open(path, "r", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                spans.append(json.loads(line))
            except ValueError as e:
                raise SystemExit("compare: %s line %d of %s is not JSON: %s" % (what, n, path, e))
    return spans


def canonical(v):
    # Strict equality: unlike ==, distinguishes true from 1 and 1 from 1.0.
    return json.dumps(v, sort_keys=True, ensure_ascii=False)


def short(v):
    t = json.dumps(v, ensure_ascii=False)
    return t if len(t) <= 120 else t[:117] + "..."


def diff(a, b, path, out):
    """Appends (path, sent, received) for every leaf that differs."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            sub = "%s.%s" % (path, k) if path else k
            if k not in a or k not in b:
                out.append((sub, a.get(k, "<absent>"), b.get(k, "<absent>")))
            else:
                diff(a[k], b[k], sub, out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(("%s (length)" % path, len(a), len(b)))
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, "%s[%d]" % (path, i), out)
    elif canonical(a) != canonical(b):
        out.append((path or "<span>", a, b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="interop")
    ap.add_argument("sent")
    ap.add_argument("received")
    args = ap.parse_args()

    sent = load(args.sent, "sent")
    received = load(args.received, "received")
    name = args.name

    sent_by_key = {}
    sent_dups = []
    for s in sent:
        k = span_key(s)
        if k in sent_by_key:
            sent_dups.append(k)
        sent_by_key[k] = s
    if sent_dups:
        # The senders guarantee unique ids; this is a bug in the test, not in the agent.
        print("compare %s: FAIL the sent file itself has %d duplicated span keys, e.g. %s"
              % (name, len(sent_dups), key_text(sent_dups[0])))
        return 1

    recv_by_key = collections.OrderedDict()
    for s in received:
        recv_by_key.setdefault(span_key(s), []).append(s)

    missing = [k for k in sent_by_key if k not in recv_by_key]
    unexpected = [k for k in recv_by_key if k not in sent_by_key]
    duplicated = [(k, len(v)) for k, v in recv_by_key.items() if len(v) > 1]
    altered = []
    for k, s in sent_by_key.items():
        got = recv_by_key.get(k)
        if not got:
            continue
        for r in got:
            if canonical(r) != canonical(s):
                d = []
                diff(s, r, "", d)
                altered.append((k, d))
                break

    formats = collections.Counter(k[0] for k in sent_by_key)
    fmt_text = ", ".join("%s %d" % (f, formats[f]) for f in sorted(formats))
    if not (missing or unexpected or duplicated or altered):
        print("compare %s: OK %d spans sent, %d received, all identical field by field (%s)"
              % (name, len(sent), len(received), fmt_text))
        return 0

    print("compare %s: FAIL sent %d spans (%s), received %d lines: %d missing, %d duplicated, "
          "%d unexpected, %d altered"
          % (name, len(sent), fmt_text, len(received), len(missing), len(duplicated), len(unexpected),
             len(altered)))
    for k in missing[:MAX_LISTED]:
        print("  missing:    %s (op %s)" % (key_text(k), short(sent_by_key[k].get("operationName",
                                                                             sent_by_key[k].get("name")))))
    if len(missing) > MAX_LISTED:
        print("  ... %d more missing" % (len(missing) - MAX_LISTED))
    for k, n in duplicated[:MAX_LISTED]:
        print("  duplicated: %s received %d times" % (key_text(k), n))
    if len(duplicated) > MAX_LISTED:
        print("  ... %d more duplicated" % (len(duplicated) - MAX_LISTED))
    for k in unexpected[:MAX_LISTED]:
        print("  unexpected: %s (never sent)" % key_text(k))
    if len(unexpected) > MAX_LISTED:
        print("  ... %d more unexpected" % (len(unexpected) - MAX_LISTED))
    for k, d in altered[:MAX_LISTED]:
        print("  altered:    %s, %d field(s) differ:" % (key_text(k), len(d)))
        for path, a, b in d[:MAX_DIFFS_PER_SPAN]:
            print("      %s: sent %s, received %s" % (path, short(a), short(b)))
        if len(d) > MAX_DIFFS_PER_SPAN:
            print("      ... %d more" % (len(d) - MAX_DIFFS_PER_SPAN))
    if len(altered) > MAX_LISTED:
        print("  ... %d more altered" % (len(altered) - MAX_LISTED))
    return 1


if __name__ == "__main__":
    sys.exit(main())
