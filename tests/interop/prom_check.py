#!/usr/bin/env python3
"""Strict reader of the Prometheus text exposition format 0.0.4, for the interop tests.

  prom_check.py parse <scrape.txt> <samples.json>   validate, then write {"name{a=\"x\"}": value}
  prom_check.py delta <before.json> <after.json> <expect.json>
      expect.json: {"series": delta, ...}; a series is the canonical key (labels sorted by
      name). Fails listing every series whose after-before differs from the expected delta.
  prom_check.py value <samples.json> <expect.json>   same, with absolute values

Validation (beyond what the format allows): every family has exactly one HELP (non-empty) and
one TYPE before its samples, a family's samples are contiguous, no series repeats, counters end
in _total, the text ends with a newline, no empty lines. Exit 0 = valid/as expected.
"""
import json
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse(text):
    errors, samples, helps, types = [], {}, {}, {}
    if text and not text.endswith("\n"):
        errors.append("no final newline")
    current, closed, with_samples = None, set(), set()
    for no, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), 1):
        if not line:
            errors.append("line %d: empty line" % no)
            continue
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            rest = line[7:]
            m = NAME.match(rest)
            if not m or len(rest) <= m.end() or rest[m.end()] != " ":
                errors.append("line %d: bad HELP/TYPE: %s" % (no, line))
                continue
            name, arg = m.group(0), rest[m.end() + 1:]
            if name in with_samples:
                errors.append("line %d: HELP/TYPE for %s after its samples" % (no, name))
            if line[2] == "H":
                if name in helps:
                    errors.append("line %d: second HELP for %s" % (no, name))
                if not arg:
                    errors.append("line %d: empty HELP for %s" % (no, name))
                if re.search(r"\\[^\\n]|\\$", arg.replace("\\\\", "")):
                    errors.append("line %d: bad escape in HELP of %s" % (no, name))
                helps[name] = arg
            else:
                if arg not in TYPES:
                    errors.append("line %d: unknown type %r" % (no, arg))
                if name in types:
                    errors.append("line %d: second TYPE for %s" % (no, name))
                if arg == "counter" and not name.endswith("_total"):
                    errors.append("line %d: counter %s does not end in _total" % (no, name))
                types[name] = arg
            if name != current:
                if current:
                    closed.add(current)
                current = name
            continue
        if line.startswith("#"):
            continue
        m = NAME.match(line)
        if not m:
            errors.append("line %d: bad sample: %s" % (no, line))
            continue
        name, i, labels = m.group(0), m.end(), {}
        if i < len(line) and line[i] == "{":
            i += 1
            ok = True
            while i < len(line) and line[i] != "}":
                lm = LABEL.match(line, i)
                if not lm or line[lm.end():lm.end() + 2] != '="':
                    ok = False
                    break
                i = lm.end() + 2
                v = ""
                while i < len(line) and line[i] != '"':
                    if line[i] == "\\":
                        if i + 1 >= len(line) or line[i + 1] not in '\\"n':
                            ok = False
                            break
                        v += "\n" if line[i + 1] == "n" else line[i + 1]
                        i += 2
                    else:
                        v += line[i]
                        i += 1
                if not ok or i >= len(line):
                    ok = False
                    break
                i += 1
                if lm.group(0) in labels:
                    errors.append("line %d: duplicate label %s" % (no, lm.group(0)))
                labels[lm.group(0)] = v
                if i < len(line) and line[i] == ",":
                    i += 1
                elif i < len(line) and line[i] != "}":
                    ok = False
                    break
            if not ok or i >= len(line):
                errors.append("line %d: bad labels: %s" % (no, line))
                continue
            i += 1
        if i >= len(line) or line[i] != " ":
            errors.append("line %d: no value: %s" % (no, line))
            continue
        parts = line[i + 1:].split(" ")
        if len(parts) > 2 or (len(parts) == 2 and not re.fullmatch(r"-?\d+", parts[1])):
            errors.append("line %d: bad value/timestamp: %s" % (no, line))
            continue
        try:
            value = float({"+Inf": "inf", "-Inf": "-inf"}.get(parts[0], parts[0]))
            if parts[0].lower() in ("inf", "infinity", "+infinity", "-infinity", "nan") and parts[0] != "NaN":
                raise ValueError
        except ValueError:
            errors.append("line %d: bad value %r" % (no, parts[0]))
            continue
        family = name
        # A histogram's samples are <family>_bucket (with le), _sum and _count.
        if current and types.get(current) == "histogram" and name in (current + "_bucket", current + "_sum",
                                                                       current + "_count"):
            family = current
            if name == current + "_bucket" and "le" not in labels:
                errors.append("line %d: histogram bucket without le: %s" % (no, line))
        if family != current or family in closed:
            errors.append("line %d: sample %s outside its family block" % (no, name))
        if family not in types:
            errors.append("line %d: sample %s without TYPE" % (no, name))
        if family not in helps:
            errors.append("line %d: sample %s without HELP" % (no, name))
        with_samples.add(family)
        key = name + ("{" + ",".join('%s="%s"' % (k, labels[k]) for k in sorted(labels)) + "}" if labels else "")
        if key in samples:
            errors.append("line %d: duplicate series %s" % (no, key))
        samples[key] = value
    for name in types:
        if name not in helps:
            errors.append("family %s has no HELP" % name)
    return samples, errors


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "parse" and len(sys.argv) == 4:
        samples, errors = parse(open(sys.argv[2], encoding="utf-8").read())
        for e in errors[:20]:
            print("prom_check: INVALID " + e)
        json.dump(samples, open(sys.argv[3], "w"), indent=0, sort_keys=True)
        print("prom_check: %d series, %s" % (len(samples), "valid" if not errors else "%d errors" % len(errors)))
        return 1 if errors else 0
    if cmd in ("delta", "value") and len(sys.argv) == (5 if cmd == "delta" else 4):
        if cmd == "delta":
            before, after, expect = (json.load(open(p)) for p in sys.argv[2:5])
        else:
            before, (after, expect) = {}, (json.load(open(p)) for p in sys.argv[2:4])
        bad = 0
        for key, want in sorted(expect.items()):
            if key not in after:
                print("prom_check: MISSING %s" % key)
                bad += 1
                continue
            got = after[key] - before.get(key, 0.0)
            if got != want:
                print("prom_check: %s %s = %g, expected %g" % (cmd.upper(), key, got, want))
                bad += 1
        print("prom_check: %d %s checks, %d wrong" % (len(expect), cmd, bad))
        return 1 if bad else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
