#!/usr/bin/env python3
"""The rendered DaemonSet, run on a stand-in node.

  daemonset_netns_test.py <agent-binary> [node|restart|caps]

Renders deploy/k8s with `kubectl kustomize`, takes the DaemonSet's agent container (args, env,
envFrom ConfigMap, capabilities, probes, bpffs volume, grace period) and runs the real agent binary
the way the kubelet would on a node:

  node    a network namespace "node" (eth0 = veth, 10.200.0.1/24, default route) with its own
          bpffs at /sys/fs/bpf (a private mount namespace standing in for the hostPath volume),
          and a namespace "pod" on the other end of the veth (10.200.0.2), standing in for an
          application pod on that node. The agent runs in "node" with exactly the argv and the
          environment of the container (fieldRefs filled in; the ConfigMap's collector address
          replaced by a test collector, tests/interop/collector.js, listening in "node"), under
          exactly the container's capability set (setpriv: bounding set = the `add` list,
          no_new_privs as allowPrivilegeEscalation: false).

Scenarios:
  node     the readiness probe's endpoint answers 200, the liveness endpoint 200; a batch sent
           from the pod to <node-ip>:6831 (compact) and :6832 (binary), and one from the node to
           127.0.0.1:6832, reach the collector with the pod.name/node.name/host.ip agent tags; the
           capability set is sufficient: the XDP program is attached to eth0, the maps are pinned
           under the ConfigMap's pin path (bpftool map dump pinned works and shows the datagrams),
           the socket buffer is forced beyond net.core.rmem_max (SO_RCVBUFFORCE); a pod interface
           (cali<n>) created after start is attached count-only and released when deleted; SIGTERM ends
           the agent with status 0 within terminationGracePeriodSeconds.
  restart  a rolling update on that node: agent 1 is stopped (SIGTERM) and, separately, killed
           (SIGKILL, a crash or an OOM kill); each time a new agent with the same args must come
           up ready and receive, with the pins and attachment as deploy/README.md "Upgrade" says.
  caps     each capability of the set is necessary: without it the agent still serves (degrades,
           never breaks) but the specific feature it is listed for is missing.

Cleans up (processes by pid, namespaces; the private bpffs disappears with its mount namespace)
whatever happens. Skips (exit 77) when not root or namespaces are unavailable.
"""
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy_lib as dl  # noqa: E402
import span_datagram  # noqa: E402

NODE_IP, POD_IP = "10.200.0.1", "10.200.0.2"
POD_NAME, NODE_NAME = "jaeger-xdp-agent-x7k2p", "test-node-1"
INTEROP = os.path.join(dl.ROOT, "tests", "interop")


class Node:
    """The stand-in node: netns + veth + private bpffs, and the processes started in it."""

    def __init__(self):
        tag = os.getpid()
        self.node_ns, self.pod_ns = f"jxa-node-{tag}", f"jxa-pod-{tag}"
        self.holder = None
        self.procs = []
        self.work = tempfile.mkdtemp(prefix="jagent-deploy-")
        self.ok = False

    def setup(self):
        r = dl.run(["ip", "netns", "add", self.node_ns], check=False)
        if r.returncode != 0:
            dl.skip(f"cannot create a network namespace: {r.stderr.strip()}")
        dl.run(["ip", "netns", "add", self.pod_ns])
        # The veth is created directly inside the namespaces: nothing touches the host's network.
        dl.run(["ip", "-n", self.node_ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
                "netns", self.pod_ns])
        for ns, ip, gw in ((self.node_ns, NODE_IP, POD_IP), (self.pod_ns, POD_IP, NODE_IP)):
            dl.run(["ip", "-n", ns, "link", "set", "lo", "up"])
            dl.run(["ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0"])
            dl.run(["ip", "-n", ns, "link", "set", "eth0", "up"])
            dl.run(["ip", "-n", ns, "route", "add", "default", "via", gw])
        # A process that holds the node's mount namespace: `ip netns exec` gives it a fresh /sys for
        # the netns, and on it we mount a bpffs at /sys/fs/bpf, the DaemonSet's hostPath volume.
        # Everything "on the node" then runs through nsenter into this process's namespaces.
        self.holder = subprocess.Popen(
            ["ip", "netns", "exec", self.node_ns, "sh", "-c",
             "mount -t bpf bpf /sys/fs/bpf && echo mounted && exec sleep 100000"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.holder.stdout.readline().strip()
        if line != "mounted":
            dl.fail(f"cannot mount a bpffs in the node's mount namespace: {self.holder.stderr.read()}")

    def on_node(self, argv):
        return ["nsenter", "-t", str(self.holder.pid), "-m", "-n", "--"] + argv

    def spawn(self, argv, name, env=None, **kw):
        out = open(os.path.join(self.work, f"{name}.out"), "w")
        err = open(os.path.join(self.work, f"{name}.err"), "w")
        p = subprocess.Popen(self.on_node(argv), env=env, stdout=out, stderr=err, **kw)
        p.name = name
        self.procs.append(p)
        return p

    def node_cmd(self, argv, check=True):
        return dl.run(self.on_node(argv), check=check)

    def cleanup(self):
        for p in reversed(self.procs):
            stop(p, 3)
        if self.holder:
            stop(self.holder, 1)
        for ns in (self.node_ns, self.pod_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        if self.ok and not os.environ.get("DEPLOY_TEST_KEEP"):
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            print(f"deploy-test: logs kept in {self.work}", file=sys.stderr)


def stop(p, grace):
    dl.stop(p, grace)


def wait_for(cond, timeout, what):
    return dl.wait_for(cond, timeout, what, every=0.1)


class Deployment:
    """The DaemonSet + ConfigMap as rendered, turned into what the kubelet would run."""

    def __init__(self):
        self.docs = dl.load_docs(dl.kubectl_kustomize())
        self.ds = dl.find(self.docs, "DaemonSet", "jaeger-xdp-agent")
        self.pod = self.ds["spec"]["template"]["spec"]
        self.c = dl.agent_container(self.ds)
        sc = self.c["securityContext"]
        self.caps = [c.upper() for c in sc["capabilities"]["add"]]
        if sc["capabilities"].get("drop") != ["ALL"]:
            dl.fail("the container must drop ALL capabilities and add back only what it needs")
        self.no_new_privs = sc.get("allowPrivilegeEscalation") is False
        self.grace = self.pod.get("terminationGracePeriodSeconds", 30)
        ports = {p["name"]: p["containerPort"] for p in self.c["ports"]}
        self.ready_path = self.c["readinessProbe"]["httpGet"]["path"]
        self.live_path = self.c["livenessProbe"]["httpGet"]["path"]
        self.admin_port = ports[self.c["readinessProbe"]["httpGet"]["port"]]
        self.udp_ports = {p["name"]: p["containerPort"] for p in self.c["ports"] if p.get("protocol") == "UDP"}
        mounts = {m["name"]: m["mountPath"] for m in self.c.get("volumeMounts", [])}
        vols = {v["name"]: v for v in self.pod.get("volumes", [])}
        self.bpffs_mount = [mounts[n] for n, v in vols.items() if v.get("hostPath", {}).get("path") == "/sys/fs/bpf"]
        if self.bpffs_mount != ["/sys/fs/bpf"]:
            dl.fail("the DaemonSet must mount the node's /sys/fs/bpf at /sys/fs/bpf")

    def env(self, collector_hostport):
        env = dl.container_env(self.docs, self.c, dl.field_ref_values(POD_NAME, NODE_NAME, NODE_IP))
        if "REPORTER_TCHANNEL_HOST_PORT" not in env:
            dl.fail("the ConfigMap must set REPORTER_TCHANNEL_HOST_PORT (the collector address)")
        self.configured_collector = env["REPORTER_TCHANNEL_HOST_PORT"]
        env["REPORTER_TCHANNEL_HOST_PORT"] = collector_hostport  # the only deviation from the manifest
        env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        return env

    def argv(self, binary, env, caps=None):
        caps = self.caps if caps is None else caps
        setpriv = ["setpriv", "--inh-caps", "-all",
                   "--bounding-set", "-all" + "".join(",+" + c.lower() for c in caps)]
        if self.no_new_privs:
            setpriv.append("--no-new-privs")
        return setpriv + ["--"] + dl.container_argv(self.c, env, binary)


def start_collector(node):
    out = os.path.join(node.work, "collector.jsonl")
    stats = os.path.join(node.work, "collector-stats.json")
    env = dict(os.environ, JAGENT_IDL_DIR=os.path.join(dl.ROOT, "idl"))
    p = subprocess.Popen(node.on_node(["node", os.path.join(INTEROP, "collector.js"), "0", out, stats]),
                         stdout=subprocess.PIPE, stderr=open(os.path.join(node.work, "collector.err"), "w"),
                         text=True, env=env)
    p.name = "collector"
    node.procs.append(p)
    r, _, _ = select.select([p.stdout], [], [], 30)
    line = p.stdout.readline().strip() if r else ""
    m = re.fullmatch(r"ready (\d+)", line)
    if not m:
        dl.fail(f"collector did not start (got {line!r}); see {node.work}/collector.err")
    return p, int(m.group(1)), out


def http_get(node, port, path, timeout=2.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        with dl.InNetns(node.node_ns):
            conn.connect()  # the socket belongs to the node's network namespace
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    except OSError:
        return None, ""
    finally:
        conn.close()


def send(ns, addr, port, payload):
    with dl.InNetns(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(payload, (addr, port))
    finally:
        s.close()


def received(path):
    spans = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    spans.append(json.loads(line))
    return spans


def start_agent(node, dep, binary, env, name="agent", caps=None):
    agent = node.spawn(dep.argv(binary, env, caps), name, env=env)
    return agent


def wait_ready(node, dep, agent, timeout=20):
    def ready():
        if agent.poll() is not None:
            dl.fail(f"{agent.name} exited with {agent.returncode} before becoming ready; "
                    f"stderr:\n{open(os.path.join(node.work, agent.name + '.err')).read()}")
        return http_get(node, dep.admin_port, dep.ready_path)[0] == 200
    wait_for(ready, timeout, f"{agent.name}: GET :{dep.admin_port}{dep.ready_path} = 200 (readiness probe)")


def send_batches(node, dep, tag):
    """One batch per path a client can take; returns the service names sent."""
    compact, binary = dep.udp_ports["jg-compact-trft"], dep.udp_ports["jg-binary-trft"]
    t = int(time.time() * 1e6)
    sent = {
        f"{tag}-pod-compact": (node.pod_ns, NODE_IP, compact, span_datagram.compact_emit_batch),
        f"{tag}-pod-binary": (node.pod_ns, NODE_IP, binary, span_datagram.binary_emit_batch),
        f"{tag}-node-binary": (node.node_ns, "127.0.0.1", binary, span_datagram.binary_emit_batch),
    }
    for i, (svc, (ns, addr, port, enc)) in enumerate(sent.items()):
        send(ns, addr, port, enc(svc, [(1000 + i, 1, "op-a", t), (1000 + i, 2, "op-b", t + 1)]))
    return set(sent)


def wait_received(out, services, timeout=20):
    def done():
        got = {s["service"] for s in received(out)}
        return services <= got
    wait_for(done, timeout, f"the collector to receive batches from {sorted(services)}")
    return [s for s in received(out) if s["service"] in services]


def check_tags(spans):
    want = {"pod.name": POD_NAME, "node.name": NODE_NAME, "host.ip": NODE_IP}
    for s in spans:
        tags = {t["key"]: t["value"] for t in s["processTags"]}
        for k, v in want.items():
            if tags.get(k) != v:
                dl.fail(f"span of {s['service']}: process tag {k}={tags.get(k)!r}, want {v!r} "
                        f"(--agent.tags from the DaemonSet args)")


# --- capability-backed features ------------------------------------------------------------------

def xdp_attached(node):
    r = node.node_cmd(["ip", "-d", "link", "show", "dev", "eth0"])
    return re.search(r"\bxdp(generic|drv|offload)?\b", r.stdout) is not None, r.stdout


def pinned_maps(node, pin_path):
    r = node.node_cmd(["ls", "-1", pin_path], check=False)
    return r.stdout.split() if r.returncode == 0 else []


def bpftool_dump(node, pin_path, name):
    r = node.node_cmd(["bpftool", "-j", "map", "dump", "pinned", f"{pin_path}/{name}"], check=False)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)


def rcvbuf(node, port):
    r = node.node_cmd(["ss", "-H", "-u", "-a", "-n", "-m", "sport", "=", f":{port}"])
    m = re.search(r"rb(\d+)", r.stdout)
    return int(m.group(1)) if m else None


def sum_counter(dump, field):
    """Sum of a struct field over every entry (and CPU, for per-CPU maps) of a bpftool -j dump."""
    total = 0

    def walk(v):
        nonlocal total
        if isinstance(v, dict):
            for k, x in v.items():
                if k == field and isinstance(x, dict) and "packets" in x:
                    total += x["packets"]
                elif k == field and isinstance(x, int):
                    total += x
                else:
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(dump)
    return total


def check_features(node, dep, env, expect):
    """expect: dict feature -> bool. Returns the observed dict; fails on any mismatch."""
    pin_path = env.get("XDP_PIN_PATH", "/sys/fs/bpf/jaeger-agent")
    got = {}
    if "xdp_attached" in expect:
        got["xdp_attached"] = xdp_attached(node)[0]
    if "maps_pinned" in expect:
        got["maps_pinned"] = "port_stats" in pinned_maps(node, pin_path)
    if "xsk_redirected" in expect:
        dump = bpftool_dump(node, pin_path, "port_stats")
        got["xsk_redirected"] = bool(dump) and sum_counter(dump, "redirected") > 0
    if "rcvbuf_forced" in expect:
        size = int(env.get("PROCESSOR_JAEGER_COMPACT_SERVER_SOCKET_BUFFER_SIZE", "0"))
        rmem_max = int(open("/proc/sys/net/core/rmem_max").read())
        if size <= rmem_max:
            dl.fail(f"the ConfigMap's socket buffer size {size} must exceed net.core.rmem_max {rmem_max} "
                    "for this test to tell SO_RCVBUFFORCE from SO_RCVBUF")
        rb = rcvbuf(node, dep.udp_ports["jg-compact-trft"])
        got["rcvbuf_forced"] = rb is not None and rb >= 2 * size
    for k, want in expect.items():
        if got[k] != want:
            dl.fail(f"{k}: {got[k]}, expected {want}; agent stderr in {node.work}")
    return got


def check_pod_interface(node, env, agent):
    """A pod interface that appears after the agent started (a Calico-style veth host end, matching
    the ConfigMap's cali*) is attached count-only with the DaemonSet's capabilities alone, and
    released when it goes, the agent staying up."""
    if "cali*" not in env.get("XDP_INTERFACES", "").split(","):
        dl.fail(f"XDP_INTERFACES={env.get('XDP_INTERFACES')!r} should cover Calico's pod interfaces (cali*)")
    tag = os.getpid() % 100000
    name, peer = f"cali{tag}", f"jxa-p{tag}"
    err = os.path.join(node.work, agent.name + ".err")
    node.node_cmd(["ip", "link", "add", name, "type", "veth", "peer", "name", peer])
    try:
        wait_for(lambda: f"XDP on {name}: attached (count-only" in open(err).read(), 5,
                 f"the agent to attach to {name}")
        shown = node.node_cmd(["ip", "-d", "link", "show", "dev", name]).stdout
        if "xdpgeneric" not in shown:
            dl.fail(f"{name}: no generic XDP program attached: {shown}")
    finally:
        node.node_cmd(["ip", "link", "del", name], check=False)
    wait_for(lambda: f"XDP on {name}: released" in open(err).read(), 5, f"the agent to release {name}")
    if agent.poll() is not None:
        dl.fail(f"agent exited ({agent.returncode}) after a pod interface went away")
    dl.log(f"pod interface {name} created after start: attached count-only (xdpgeneric), released on delete")


# --- scenarios --------------------------------------------------------------------------------------

FULL = {"xdp_attached": True, "maps_pinned": True, "xsk_redirected": True, "rcvbuf_forced": True}


def scenario_node(node, dep, binary, env, out):
    agent = start_agent(node, dep, binary, env)
    wait_ready(node, dep, agent)
    status, body = http_get(node, dep.admin_port, dep.live_path)
    if status != 200:
        dl.fail(f"liveness GET {dep.live_path} = {status} {body!r}")
    caps = dl.proc_caps(agent.pid)
    want = dl.cap_mask(dep.caps)
    if caps["CapEff"] != want or caps["CapBnd"] != want:
        dl.fail(f"agent capabilities {caps}, want exactly {dep.caps} ({want:#x})")
    dl.log(f"agent pid {agent.pid} ready with CapEff={caps['CapEff']:#x} ({','.join(dep.caps)})")
    spans = wait_received(out, send_batches(node, dep, "node"))
    check_tags(spans)
    dl.log(f"collector received {len(spans)} spans with pod/node/host.ip tags")
    got = check_features(node, dep, env, FULL)
    dl.log(f"capability-backed features: {got}")
    check_pod_interface(node, env, agent)
    t0 = time.monotonic()
    agent.send_signal(signal.SIGTERM)
    try:
        rc = agent.wait(dep.grace)
    except subprocess.TimeoutExpired:
        dl.fail(f"agent still running {dep.grace}s (terminationGracePeriodSeconds) after SIGTERM")
    if rc != 0:
        dl.fail(f"agent exited with {rc} after SIGTERM")
    dl.log(f"SIGTERM: exit 0 after {time.monotonic() - t0:.2f}s (grace period {dep.grace}s)")


def after_stop_state(node, env):
    pin_path = env.get("XDP_PIN_PATH", "/sys/fs/bpf/jaeger-agent")
    return {"xdp_attached": xdp_attached(node)[0], "pins": pinned_maps(node, pin_path)}


def scenario_restart(node, dep, binary, env, out):
    for i, how in enumerate(("SIGTERM", "SIGKILL")):
        agent = start_agent(node, dep, binary, env, name=f"agent{i}a")
        wait_ready(node, dep, agent)
        wait_received(out, send_batches(node, dep, f"r{i}a"))
        agent.send_signal(getattr(signal, how))
        agent.wait(dep.grace)
        state = after_stop_state(node, env)
        dl.log(f"after {how}: {state}")
        if how == "SIGTERM" and state["pins"]:
            dl.fail(f"after SIGTERM the pins are still there: {state['pins']}")
        if how == "SIGTERM" and state["xdp_attached"]:
            dl.fail("after SIGTERM the XDP program is still attached to eth0, so the next agent cannot attach "
                    "(the agent detaches its own fd with XDP_FLAGS_REPLACE when libxdp cannot; "
                    "deploy/README.md, Upgrade)")
        if how == "SIGKILL" and not state["pins"]:
            dl.fail("after SIGKILL the pins are gone; deploy/README.md says they stay until the next agent")
        agent = start_agent(node, dep, binary, env, name=f"agent{i}b")
        wait_ready(node, dep, agent)
        wait_received(out, send_batches(node, dep, f"r{i}b"))
        check_features(node, dep, env, FULL)
        dl.log(f"replacement after {how}: ready, receiving, XDP attached, maps pinned")
        stop(agent, dep.grace)


def scenario_caps(dep, binary):
    """Drop one capability at a time, each on a fresh node: the agent must still become ready and
    forward (privilege degrades, never breaks), and what the capability is listed for must be gone.
    Expectations measured on Linux 6.18 with libxdp 1.3.1 (deploy/README.md, "Security")."""
    lost = {
        # bpf(BPF_MAP_CREATE/BPF_PROG_LOAD): no program, no maps.
        "BPF": {"xdp_attached": False, "maps_pinned": False},
        # XDP program type + netlink attach; SO_RCVBUFFORCE.
        "NET_ADMIN": {"xdp_attached": False, "maps_pinned": False, "rcvbuf_forced": False},
        # socket(AF_XDP): the datapath gives up (and unpins); the kernel sockets still receive.
        "NET_RAW": {"maps_pinned": False, "xsk_redirected": False},
        # the verifier refuses agent_xdp ("pointer -= pointer prohibited" without allow_ptr_leaks).
        "PERFMON": {"xdp_attached": False, "maps_pinned": False},
        # UMEM registration beyond RLIMIT_MEMLOCK: ENOBUFS.
        "IPC_LOCK": {"maps_pinned": False, "xsk_redirected": False},
    }
    if set(lost) != set(dep.caps):
        dl.fail(f"the caps scenario covers {sorted(lost)}, the DaemonSet adds {sorted(dep.caps)}: update both")
    for cap, expect in lost.items():
        def run(node, env, out, cap=cap, expect=expect):
            caps = [c for c in dep.caps if c != cap]
            agent = start_agent(node, dep, binary, env, name=f"agent-no-{cap.lower()}", caps=caps)
            wait_ready(node, dep, agent)
            wait_received(out, send_batches(node, dep, f"no-{cap.lower()}"))
            check_features(node, dep, env, expect)
            why = [line.split("] ", 3)[-1].strip() for line in open(os.path.join(node.work, agent.name + ".err"))
                   if "datapath off" in line or "SO_RCVBUF" in line]
            dl.log(f"without CAP_{cap}: ready and forwarding through the kernel sockets; lost {sorted(expect)}; "
                   f"agent says: {why[0] if why else '(nothing)'}")
            stop(agent, dep.grace)
        on_fresh_node(dep, run)


def on_fresh_node(dep, fn):
    node = Node()
    try:
        node.setup()
        _, port, out = start_collector(node)
        env = dep.env(f"127.0.0.1:{port}")
        fn(node, env, out)
        node.ok = True
    finally:
        node.cleanup()


def reap_leftovers():
    """Namespaces of an earlier run of this test that was killed (SIGKILL skips `finally`): stop the
    processes still inside them (ours: holder, agent, collector) by pid, then delete them."""
    r = dl.run(["ip", "netns", "list"], check=False)
    for line in r.stdout.splitlines():
        m = re.match(r"(jxa-(?:node|pod)-(\d+))\b", line)
        if not m or os.path.exists(f"/proc/{m.group(2)}"):
            continue
        pids = dl.run(["ip", "netns", "pids", m.group(1)], check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        dl.run(["ip", "netns", "del", m.group(1)], check=False)
        dl.log(f"removed {m.group(1)} left by a killed earlier run ({len(pids)} processes)")


def main():
    # ctest's timeout and Ctrl-C arrive as signals: turn them into SystemExit so `finally` cleans up.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    binary = os.path.abspath(sys.argv[1])
    scenario = sys.argv[2] if len(sys.argv) > 2 else "node"
    if os.geteuid() != 0:
        dl.skip("needs root (network namespaces, bpffs, XDP)")
    for tool in ("ip", "nsenter", "setpriv", "ss", "bpftool", "node"):
        if not shutil.which(tool):
            dl.fail(f"{tool} not found (tools/setup.sh)")
    if not os.path.isdir(os.path.join(INTEROP, "node_modules")):
        dl.fail("tests/interop/node_modules missing: run tools/setup-npm.sh")
    reap_leftovers()
    dep = Deployment()
    dl.log(f"DaemonSet capabilities: {','.join(dep.caps)}; args: {dep.c.get('args')}")
    if scenario == "caps":
        scenario_caps(dep, binary)
    else:
        fn = {"node": scenario_node, "restart": scenario_restart}[scenario]

        def run(node, env, out):
            dl.log(f"DaemonSet argv on the node: {dep.argv(binary, env)}")
            dl.log(f"collector {dep.configured_collector} (ConfigMap) replaced by the test collector "
                   f"{env['REPORTER_TCHANNEL_HOST_PORT']}")
            fn(node, dep, binary, env, out)
        on_fresh_node(dep, run)
    dl.log(f"PASS {scenario}")


if __name__ == "__main__":
    main()
