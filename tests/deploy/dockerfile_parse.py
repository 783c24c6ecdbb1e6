#!/usr/bin/env python3
"""Parses a Dockerfile the way the Docker/BuildKit front end does for what the deploy tests need:
line continuations (backslash), comment lines (also inside a continued instruction, where they are
dropped), stages (FROM ... AS name). No container engine needed.

  dockerfile_parse.py <Dockerfile> stages            JSON: [{index, name, from, instructions:[[CMD, args]]}]
  dockerfile_parse.py <Dockerfile> run <stage>       the stage's RUN commands, NUL-separated
  dockerfile_parse.py <Dockerfile> apt <stage>       packages of the stage's `apt-get install`, one a line
"""
import json
import re
import shlex
import sys


def instructions(text):
    out, cur = [], None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            continue  # comments (and parser directives) never continue or end an instruction
        if cur is None:
            if not line:
                continue
            cur = ""
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        cmd, _, args = cur.strip().partition(" ")
        out.append([cmd.upper(), args.strip()])
        cur = None
    if cur:
        cmd, _, args = cur.strip().partition(" ")
        out.append([cmd.upper(), args.strip()])
    return out


def stages(text):
    result = []
    for cmd, args in instructions(text):
        if cmd == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            if not m:
                raise SystemExit(f"cannot parse FROM {args!r}")
            result.append({"index": len(result), "name": m.group(2) or str(len(result)), "from": m.group(1),
                           "instructions": []})
        elif result:
            result[-1]["instructions"].append([cmd, args])
    return result


def find_stage(all_stages, name):
    if name == "last":
        return all_stages[-1]
    for s in all_stages:
        if s["name"] == name or str(s["index"]) == name:
            return s
    raise SystemExit(f"no stage {name!r}")


def apt_packages(stage):
    pkgs = []
    for cmd, args in stage["instructions"]:
        if cmd != "RUN":
            continue
        for part in re.split(r";|&&", args):
            words = shlex.split(part)
            if "apt-get" in words and "install" in words:
                pkgs += [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
    return pkgs


def main():
    path, what = sys.argv[1], sys.argv[2]
    with open(path) as f:
        all_stages = stages(f.read())
    if what == "stages":
        print(json.dumps(all_stages, indent=1))
    elif what == "run":
        st = find_stage(all_stages, sys.argv[3])
        sys.stdout.write("".join(args + "\0" for cmd, args in st["instructions"] if cmd == "RUN"))
    elif what == "apt":
        print("\n".join(apt_packages(find_stage(all_stages, sys.argv[3]))))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
