#!/usr/bin/env python3
"""The operations guide's flag table, generated from the agent's own flag definitions.

    tools/flag_table.py BINARY deploy/README.md           # rewrite the table in place
    tools/flag_table.py --check BINARY deploy/README.md   # exit 1 if it is out of date (ctest)

Reads `BINARY --help` (CLI11: flag, type, default, environment variable, description) and writes
a Markdown table between the `<!-- flags:begin -->` and `<!-- flags:end -->` markers, so the
guide's defaults cannot drift from the code's.
"""
import re
import subprocess
import sys

BEGIN, END = "<!-- flags:begin -->", "<!-- flags:end -->"
OPTION = re.compile(r"^  (--[^\s]+)\s+(.*?)\s*\(Env:([A-Z0-9_]+)\)\s*(.*)$")


def parse_help(text):
    flags, cur = [], None
    for line in text.splitlines():
        m = OPTION.match(line)
        if m:
            flag, spec, env, rest = m.groups()
            default = ""
            if "=" in spec:
                spec, default = spec.rsplit("=", 1)
            cur = {"flag": flag, "type": spec.split(":")[0] or "FLAG", "default": default, "env": env, "help": rest.strip()}
            flags.append(cur)
        elif cur is not None and line.startswith("      ") and line.strip():
            cur["help"] = (cur["help"] + " " + line.strip()).strip()
        elif not line.startswith("      "):
            cur = None
    return flags


def cell(s):
    return s.replace("|", "\\|")


def render(flags):
    out = [BEGIN,
           "| flag | environment variable | default | what it does |",
           "|---|---|---|---|"]
    for f in flags:
        default = "`%s`" % f["default"] if f["default"] != "" else "(none)"
        out.append("| `%s` | `%s` | %s | %s |" % (f["flag"], f["env"], default, cell(f["help"])))
    out.append(END)
    return "\n".join(out)


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    if len(args) != 2:
        print(__doc__)
        return 2
    binary, doc = args
    help_text = subprocess.run([binary, "--help"], check=True, capture_output=True, text=True).stdout
    flags = parse_help(help_text)
    if len(flags) < 20:
        print("flag_table: parsed only %d flags from %s --help; the format changed?" % (len(flags), binary))
        return 1
    text = open(doc).read()
    if BEGIN not in text or END not in text:
        print("flag_table: %s has no %s … %s markers" % (doc, BEGIN, END))
        return 1
    pre, rest = text.split(BEGIN, 1)
    post = rest.split(END, 1)[1]
    new = pre + render(flags) + post
    if check:
        if new != text:
            print("flag_table: the flag table in %s is out of date; run tools/flag_table.py %s %s" % (doc, binary, doc))
            return 1
        print("flag_table: %s lists all %d flags with their current defaults" % (doc, len(flags)))
        return 0
    with open(doc, "w") as f:
        f.write(new)
    print("flag_table: wrote %d flags into %s" % (len(flags), doc))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
