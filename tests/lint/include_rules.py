#!/usr/bin/env python3
"""The folders of userspace/ include each other as a DAG that follows the data path
(design.md "One folder, one seam"): a stage may include only the folders listed for it below.
Fails, naming the file and line, on any other project include. Run by ctest (label `lint`).

    common   ← everything (leaf: Result, fds, the pipeline seam types)
    metrics  ← common
    config   ← common                      (flags; the composition root maps them to options)
    decode   ← common                      (bytes in, bytes out)
    receive  ← common, metrics, bpf ABI    (sockets, XDP, AF_XDP)
    report   ← common, metrics             (reporter core, transports)
    http     ← common, metrics, decode (Thrift wire helpers), report (call seam)
    pipeline ← common, metrics, decode, report   (one shard's decode stage)
    agent.*, main.cc: the composition root, anything.
"""
import pathlib
import re
import sys

ALLOWED = {
    "common": {"common"},
    "metrics": {"common", "metrics"},
    "config": {"common", "config"},
    "decode": {"common", "decode"},
    "receive": {"common", "metrics", "receive", "<bpf>"},
    "report": {"common", "metrics", "report"},
    "http": {"common", "metrics", "http", "decode", "report"},
    "pipeline": {"common", "metrics", "decode", "report", "pipeline"},
}
BPF_HEADERS = {"agent_abi.h", "parse.h", "agent_bpf.skel.h"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2])
    userspace = root / "userspace"
    bad = []
    checked = 0
    for path in sorted(userspace.rglob("*")):
        if path.suffix not in (".h", ".cc") or path.parent == userspace:
            continue
        folder = path.relative_to(userspace).parts[0]
        if folder not in ALLOWED:
            bad.append(f"{path.relative_to(root)}: folder '{folder}' has no include rule (add it to {__file__})")
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            target = m.group(1)
            checked += 1
            dep = "<bpf>" if target in BPF_HEADERS else target.split("/")[0] if "/" in target else None
            if dep is None:
                bad.append(f"{path.relative_to(root)}:{n}: include \"{target}\" is not folder-qualified")
            elif dep not in ALLOWED[folder]:
                bad.append(f"{path.relative_to(root)}:{n}: {folder}/ must not include {target} "
                           f"({folder} may include: {', '.join(sorted(ALLOWED[folder]))})")
    for b in bad:
        print(b)
    print(f"include rules: {checked} includes checked, {len(bad)} violation(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
