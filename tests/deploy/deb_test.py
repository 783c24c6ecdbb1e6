#!/usr/bin/env python3
"""The .deb for plain hosts (deploy/package), built, installed into a fresh Debian root, and run the
way its systemd unit runs it (ctest deploy_deb).

  deb_test.py <build-dir> <collector-sink>

1. Build: the documented command, `cpack` in the build directory (deploy/package/package.cmake);
   the package holds the agent, the unit, /etc/default/jaeger-xdp-agent as a conffile, the docs.
2. Install: a fresh `debootstrap --variant=minbase bookworm` root (cached as a tarball under
   <build-dir>/ops-cache, unpacked anew each run; apt's lists and downloaded packages are cached
   there too), `apt-get install ./jaeger-xdp-agent_*.deb systemd` in a chroot: the dependencies
   dpkg-shlibdeps computed resolve from Debian, the postinst creates the system user, `ldd` finds
   every library, the binary runs.
3. Verify: `systemd-analyze verify` of the installed unit inside the root: no output, status 0.
4. Run as the unit says (no systemd runs as PID 1 here, so the test does what systemd would do with
   the unit's own lines): in a network namespace the test creates (jp-deb-node-<pid>: a veth,
   its own bpffs), ExecStartPre= as root, BindPaths=, then ExecStart= in the chroot under the
   unit's User=/Group=, with exactly its AmbientCapabilities= (= CapabilityBoundingSet=),
   NoNewPrivileges=, Environment= and EnvironmentFile= (the installed /etc/default file, plus the
   test's collector). Checks: the process runs as the unprivileged uid with exactly the five
   capabilities, XDP is attached and its maps are pinned in /sys/fs/bpf/jaeger-agent, /ready is
   200, a batch sent across the veth reaches the collector sink, SIGTERM exits 0 and unpins.

Skips (77) only when not root, or debootstrap/the mirror is unavailable. ~60 s the first time
(debootstrap + downloads), ~20 s with the cache.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy_lib as dl  # noqa: E402
import ops_lib as ol  # noqa: E402
import span_datagram  # noqa: E402

UNIT = "/lib/systemd/system/jaeger-xdp-agent.service"
FIVE = {"BPF", "NET_ADMIN", "NET_RAW", "PERFMON", "IPC_LOCK"}


def build_deb(build_dir):
    out = os.path.join(build_dir, "package")
    for f in os.listdir(out) if os.path.isdir(out) else []:
        if f.endswith(".deb"):
            os.unlink(os.path.join(out, f))
    t0 = time.monotonic()
    r = subprocess.run(["cpack"], cwd=build_dir, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        dl.fail(f"cpack failed:\n{r.stdout}{r.stderr}")
    debs = [os.path.join(out, f) for f in os.listdir(out) if f.endswith(".deb")]
    if len(debs) != 1:
        dl.fail(f"cpack should produce one .deb in {out}, found {debs}")
    contents = dl.run(["dpkg-deb", "-c", debs[0]]).stdout
    for path in ("./usr/bin/jaeger-xdp-agent", "." + UNIT, "./etc/default/jaeger-xdp-agent",
                 "./usr/share/doc/jaeger-xdp-agent/README.md",
                 "./usr/share/doc/jaeger-xdp-agent/monitoring/alerts.yaml"):
        if not re.search(r"\s" + re.escape(path) + r"$", contents, re.M):
            dl.fail(f"{path} missing from the package:\n{contents}")
    if dl.run(["dpkg-deb", "-f", debs[0], "Package"]).stdout.strip() != "jaeger-xdp-agent":
        dl.fail("package name is not jaeger-xdp-agent")
    dl.log(f"cpack: {os.path.basename(debs[0])} ({os.path.getsize(debs[0])} bytes) in "
           f"{time.monotonic() - t0:.1f}s; Depends: {dl.run(['dpkg-deb', '-f', debs[0], 'Depends']).stdout.strip()}")
    return debs[0]


def chroot_sh(root, script, cache, timeout=600, check=True):
    """Runs `script` in the chroot, in a private mount namespace (proc, dev, apt caches bound)."""
    outer = f"""set -eu
mount -t proc proc {root}/proc
mount --rbind /dev {root}/dev
mount --bind {cache}/apt-lists {root}/var/lib/apt/lists
mount --bind {cache}/apt-archives {root}/var/cache/apt/archives
cp /etc/resolv.conf {root}/etc/resolv.conf
exec chroot {root} /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive sh -euc "$1"
"""
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", outer, "sh", script],
                       capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        dl.fail(f"in the chroot: {script}\nfailed ({r.returncode}):\n{(r.stdout + r.stderr)[-3000:]}")
    return r


def install(root, deb, cache):
    for d in ("apt-lists/partial", "apt-archives/partial"):
        os.makedirs(os.path.join(cache, d), exist_ok=True)
    shutil.copy(deb, os.path.join(root, "tmp", "jaeger-xdp-agent.deb"))
    with open(os.path.join(root, "usr/sbin/policy-rc.d"), "w") as f:  # no service starts in a chroot
        f.write("#!/bin/sh\nexit 101\n")
    os.chmod(os.path.join(root, "usr/sbin/policy-rc.d"), 0o755)
    lists = os.path.join(cache, "apt-lists")
    fresh = any(f.endswith("_Packages") for f in os.listdir(lists)) and \
        time.time() - os.path.getmtime(lists) < 86400
    t0 = time.monotonic()
    if not fresh:
        r = chroot_sh(root, "apt-get update -q", cache, check=False)
        if r.returncode != 0:
            dl.skip(f"apt-get update in the fresh root failed (mirror unreachable?): {r.stdout[-500:]}{r.stderr[-500:]}")
        os.utime(lists)
    cmd = "apt-get install -y -q --no-install-recommends /tmp/jaeger-xdp-agent.deb systemd"
    r = chroot_sh(root, cmd, cache, check=False)
    if r.returncode != 0 and fresh:  # cached lists went stale (a package moved on): refresh once
        chroot_sh(root, "apt-get update -q", cache)
        os.utime(lists)
        r = chroot_sh(root, cmd, cache, check=False)
    if r.returncode != 0:
        dl.fail(f"{cmd} failed:\n{(r.stdout + r.stderr)[-3000:]}")
    dl.log(f"installed into the fresh root with its dependencies in {time.monotonic() - t0:.1f}s")


def check_installed(root, cache):
    out = chroot_sh(root, """
getent passwd jaeger-xdp-agent
dpkg-query -W -f='${Status} ${Version}\\n' jaeger-xdp-agent
dpkg-query -W -f='${Conffiles}\\n' jaeger-xdp-agent
ldd /usr/bin/jaeger-xdp-agent
/usr/bin/jaeger-xdp-agent --version
""", cache).stdout
    if not re.search(r"^jaeger-xdp-agent:x:\d+:\d+:.*:/nonexistent:/usr/sbin/nologin$", out, re.M):
        dl.fail(f"postinst did not create the system user jaeger-xdp-agent (nologin):\n{out}")
    if "install ok installed" not in out or "/etc/default/jaeger-xdp-agent" not in out:
        dl.fail(f"package not installed, or /etc/default/jaeger-xdp-agent not a conffile:\n{out}")
    if "not found" in out:
        dl.fail(f"ldd: libraries missing in the fresh root:\n{out}")
    r = chroot_sh(root, f"systemd-analyze verify {UNIT} 2>&1; echo rc=$?", cache)
    if r.stdout.strip() != "rc=0":
        dl.fail(f"systemd-analyze verify {UNIT} is not clean:\n{r.stdout}")
    dl.log(f"user, conffile, libraries ok; systemd-analyze verify {UNIT}: clean")


def parse_unit(root):
    keys = {}
    with open(os.path.join(root, UNIT.lstrip("/"))) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")) and "=" in line:
                k, v = line.split("=", 1)
                keys.setdefault(k, []).append(v)
    return keys


def env_file(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v.strip('"')
    return env


def run_like_systemd(root, sink_bin):
    u = parse_unit(root)
    caps = {c.removeprefix("CAP_") for c in u["AmbientCapabilities"][0].split()}
    bounding = {c.removeprefix("CAP_") for c in u["CapabilityBoundingSet"][0].split()}
    if caps != FIVE or bounding != FIVE:
        dl.fail(f"the unit's ambient {sorted(caps)} / bounding {sorted(bounding)} != the DaemonSet's {sorted(FIVE)}")
    for k, want in (("User", "jaeger-xdp-agent"), ("NoNewPrivileges", "yes"), ("Restart", "on-failure")):
        if u.get(k) != [want]:
            dl.fail(f"unit: {k}={u.get(k)}, want {want}")
    if u.get("EnvironmentFile") != ["-/etc/default/jaeger-xdp-agent"]:
        dl.fail(f"unit: EnvironmentFile={u.get('EnvironmentFile')}")
    src, dst = u["BindPaths"][0].lstrip("-").split(":")
    env = dict(v.split("=", 1) for v in u.get("Environment", []))
    env.update(env_file(os.path.join(root, "etc/default/jaeger-xdp-agent")))
    exec_start = u["ExecStart"][0].replace("$JAEGER_XDP_AGENT_OPTS", env.get("JAEGER_XDP_AGENT_OPTS", "")).split()
    pre = u["ExecStartPre"][0].lstrip("+").split()
    uid = int(subprocess.run(["chroot", root, "id", "-u", "jaeger-xdp-agent"], capture_output=True, text=True,
                             check=True).stdout)
    with ol.Node("deb") as node:
        sink, port = ol.start_sink(node, sink_bin)
        env["REPORTER_TCHANNEL_HOST_PORT"] = f"127.0.0.1:{port}"
        env["ADMIN_HTTP_HOST_PORT"] = "127.0.0.1:14271"
        env["XDP_INTERFACES"] = "eth0" if env.get("XDP_INTERFACES") == "auto" else env.get("XDP_INTERFACES", "")
        # No default route in the test namespace, so `auto` would find no interface: name it.
        # The node's mount namespace: the root's /proc, /dev, /sys (with the node's bpffs), as systemd
        # gives a service; then ExecStartPre (root, on the host's bpffs) and BindPaths.
        setup = (f"mount -t proc proc {root}/proc && mount --rbind /dev {root}/dev && "
                 f"mount --rbind /sys {root}/sys && chroot {root} {' '.join(pre)} && "
                 f"mkdir -p {root}{dst} && mount --bind {root}{src} {root}{dst}")
        r = subprocess.run(node.on_node(["sh", "-euc", setup]), capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            dl.fail(f"ExecStartPre/BindPaths setup failed: {r.stderr}")
        capl = ",".join("+" + c.lower() for c in sorted(caps))
        argv = ["chroot", root, "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                f"--inh-caps=-all,{capl}", f"--ambient-caps=-all,{capl}", f"--bounding-set=-all,{capl}",
                "--no-new-privs", "/usr/bin/env", "-i"] + [f"{k}={v}" for k, v in env.items()] + exec_start
        agent = node.spawn(argv, "agent")

        def ready():
            if agent.poll() is not None:
                dl.fail(f"the agent exited with {agent.returncode}: {node.log('agent')}")
            return ol.http_get(node.ns, 14271, "/ready")[0] == 200
        ol.wait_for(ready, 20, "/ready = 200")
        log = node.log("agent")
        if "XDP/AF_XDP datapath on: eth0" not in log:
            dl.fail(f"XDP not on under the unit's capabilities:\n{log}")
        # nsenter execs chroot, which execs setpriv, which execs env, which execs the agent: same pid.
        st = open(f"/proc/{agent.pid}/status").read()
        if not re.search(rf"^Uid:\s+{uid}\s+{uid}\s+{uid}\s+{uid}$", st, re.M):
            dl.fail(f"the agent does not run as uid {uid}:\n{st}")
        pc = dl.proc_caps(agent.pid)
        want = dl.cap_mask(caps)
        if pc["CapEff"] != want or pc["CapAmb"] != want or pc["CapBnd"] != want:
            dl.fail(f"capabilities: eff {pc['CapEff']:#x} amb {pc['CapAmb']:#x} bnd {pc['CapBnd']:#x}, want {want:#x}")
        pins = dl.run(node.on_node(["ls", f"{root}{src}"])).stdout.split()
        if "port_stats" not in pins:
            dl.fail(f"no pins in {src} (bound to {dst}): {pins}")
        ol.send_udp(node.cli_ns, ol.NODE_IP, 6831,
                    [span_datagram.compact_emit_batch("deb-test", [(7, 7, "op", 1_700_000_000_000_000)])])
        ol.wait_for(lambda: 'jaeger_agent_reporter_spans_submitted_total{format="jaeger",protocol="tchannel"} 1'
                    in ol.http_get(node.ns, 14271, "/metrics")[1], 10, "the span forwarded to the sink")
        ol.stop(agent, 10)
        if agent.returncode != 0:
            dl.fail(f"SIGTERM: exit status {agent.returncode}")
        left = dl.run(node.on_node(["ls", f"{root}{src}"])).stdout.split()
        if left:
            dl.fail(f"pins left after a clean stop: {left}")
        stats = ol.sink_stats(node, sink)
        if stats.get("spans") != 1:
            dl.fail(f"sink received {stats.get('spans')} spans, want 1")
        dl.log(f"ran as the unit says: uid {uid} (jaeger-xdp-agent), CapEff=CapAmb=CapBnd={want:#x} "
               f"({','.join(sorted(caps))}), XDP on eth0, pins in {src} (bound to {dst}), ready, "
               "forwarded 1 span, SIGTERM -> 0, unpinned")
        node.ok = True


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    ol.need_root()
    build_dir, sink_bin = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    cache = os.path.join(build_dir, "ops-cache")
    t0 = time.monotonic()
    deb = build_deb(build_dir)
    tarball = ol.minbase_tarball(cache)
    root = tempfile.mkdtemp(prefix="jp-debroot-", dir=cache)
    try:
        subprocess.run(["tar", "-C", root, "-xf", tarball], check=True, timeout=120)
        os.chmod(root, 0o755)  # the chroot's /: the agent's user must traverse it
        install(root, deb, cache)
        check_installed(root, cache)
        run_like_systemd(root, sink_bin)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    dl.log(f"PASS in {time.monotonic() - t0:.1f}s")


if __name__ == "__main__":
    main()
