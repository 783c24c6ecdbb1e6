"""Writes a generated file, or with --check says whether the file in the tree is up to date
(make_dashboard.py and make_prometheusrule.py share this; the tests run --check)."""
import os
import sys


def write_or_check(dest, text, script, argv):
    if "--check" in argv:
        with open(dest) as f:
            if f.read() != text:
                print(f"{dest} is out of date: run {os.path.relpath(script)}", file=sys.stderr)
                return 1
        return 0
    with open(dest, "w") as f:
        f.write(text)
    return 0
