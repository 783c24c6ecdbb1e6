"""Helpers of the operations tests (tests/deploy/ops_*_test.py, image_test.py): a stand-in node
(network namespace + veth + private bpffs) with processes started in it, the C++ collector sink,
the agent's /metrics, and the metric names deploy/monitoring uses.

Names of namespaces and links start with `jp-` (this test family's prefix), with the test's pid,
so parallel tests never collide. Everything started here is stopped by pid, and the namespaces are
deleted, whatever happens (Node is a context manager).
"""
import http.client
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy_lib as dl  # noqa: E402

MONITORING = os.path.join(dl.ROOT, "deploy", "monitoring")
NODE_IP, CLIENT_IP = "10.203.0.1", "10.203.0.2"
# Names Prometheus itself produces for every scrape target; not the agent's.
PROMETHEUS_SYNTHETIC = {"up"}


def need_root():
    if os.geteuid() != 0:
        dl.skip("needs root (network namespaces, bpffs, XDP)")


class Node:
    """netns jp-<tag>-node-<pid> (eth0 = NODE_IP, veth to jp-<tag>-cli-<pid> = CLIENT_IP) with its
    own bpffs at /sys/fs/bpf in a private mount namespace held by a sleeping process; `spawn`
    runs a process in the node's network and mount namespaces (nsenter)."""

    def __init__(self, tag, host_cgroups=False):
        # host_cgroups: bind the host's /sys/fs/cgroup into the node's fresh /sys (container runtimes
        # need it; `ip netns exec` mounts a sysfs without it).
        self.host_cgroups = host_cgroups
        pid = os.getpid()
        self.ns, self.cli_ns = f"jp-{tag}-node-{pid}", f"jp-{tag}-cli-{pid}"
        self.holder, self.procs, self.ok = None, [], False
        self.work = tempfile.mkdtemp(prefix=f"jp-{tag}-")

    def __enter__(self):
        r = dl.run(["ip", "netns", "add", self.ns], check=False)
        if r.returncode != 0:
            dl.skip(f"cannot create a network namespace: {r.stderr.strip()}")
        dl.run(["ip", "netns", "add", self.cli_ns])
        dl.run(["ip", "-n", self.ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
                "netns", self.cli_ns])
        for ns, ip in ((self.ns, NODE_IP), (self.cli_ns, CLIENT_IP)):
            dl.run(["ip", "-n", ns, "link", "set", "lo", "up"])
            dl.run(["ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0"])
            dl.run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        # A default route on the node, so XDP_INTERFACES=auto (the default-route NIC) finds eth0.
        dl.run(["ip", "-n", self.ns, "route", "add", "default", "via", CLIENT_IP])
        cg = "".join(f" && mkdir -p {mp} && mount -t {fs} -o {opts} {src} {mp}" for src, mp, fs, opts in
                     host_cgroup_mounts()) if self.host_cgroups else ""
        self.holder = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "sh", "-c",
             f"mount -t bpf bpf /sys/fs/bpf{cg} && echo mounted && exec sleep 100000"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if self.holder.stdout.readline().strip() != "mounted":
            dl.fail(f"cannot mount a bpffs in the node's mount namespace: {self.holder.stderr.read()}")
        return self

    def on_node(self, argv):
        return ["nsenter", "-t", str(self.holder.pid), "-m", "-n", "--"] + argv

    def spawn(self, argv, name, **kw):
        out = open(os.path.join(self.work, f"{name}.out"), "w")
        err = open(os.path.join(self.work, f"{name}.err"), "w")
        p = subprocess.Popen(self.on_node(argv), stdout=kw.pop("stdout", out), stderr=err, **kw)
        p.name = name
        self.procs.append(p)
        return p

    def log(self, name):
        try:
            with open(os.path.join(self.work, f"{name}.err")) as f:
                return f.read()
        except OSError:
            return ""

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            stop(p, 5)
        if self.holder:
            stop(self.holder, 1)
        for ns in (self.ns, self.cli_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        if self.ok and exc[0] is None and not os.environ.get("OPS_TEST_KEEP"):
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            print(f"ops-test: logs kept in {self.work}", file=sys.stderr)
        return False


def host_cgroup_mounts():
    """The host's mounts under /sys/fs/cgroup (a cgroup2 mount, or a hybrid tmpfs + v1 hierarchies),
    in mount order, to mount the same hierarchies again on a fresh sysfs."""
    out = []
    with open("/proc/self/mounts") as f:
        for line in f:
            src, mp, fs, opts = line.split()[:4]
            if mp == "/sys/fs/cgroup" or mp.startswith("/sys/fs/cgroup/"):
                out.append((src, mp, fs, opts))
    return out


def stop(p, grace):
    dl.stop(p, grace)


def wait_for(cond, timeout, what):
    return dl.wait_for(cond, timeout, what, every=0.2)


def start_sink(node, binary, *args):
    """tools/collector_sink.cc on the node's loopback; returns (process, port)."""
    p = node.spawn([binary, "--host", "127.0.0.1", "--port", "0",
                    "--stats-file", os.path.join(node.work, "sink-stats.json"), *args],
                   "sink", stdout=subprocess.PIPE, text=True)
    r, _, _ = select.select([p.stdout], [], [], 15)
    line = p.stdout.readline().strip() if r else ""
    m = re.fullmatch(r"ready (\d+)", line)
    if not m:
        dl.fail(f"collector sink did not start (got {line!r}): {node.log('sink')}")
    return p, int(m.group(1))


def sink_stats(node, sink):
    """Stops the sink (SIGTERM writes its stats) and returns them."""
    stop(sink, 5)
    with open(os.path.join(node.work, "sink-stats.json")) as f:
        return json.load(f)


def http_get(ns, port, path, host="127.0.0.1", timeout=3.0):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        with dl.InNetns(ns):
            conn.connect()
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    except OSError:
        return None, ""
    finally:
        conn.close()


def send_udp(ns, addr, port, payloads):
    import socket
    with dl.InNetns(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for p in payloads:
            s.sendto(p, (addr, port))
    finally:
        s.close()


def parse_exposition(text):
    """{metric name: [label dicts]} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s", line)
        if not m:
            continue
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out.setdefault(m.group(1), []).append(labels)
    return out


# --- what deploy/monitoring uses ---------------------------------------------------------------------

def dashboard_exprs():
    """Every PromQL expression of dashboard.json: panel targets and templating queries."""
    with open(os.path.join(MONITORING, "dashboard.json")) as f:
        d = json.load(f)
    exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if v.get("type") == "query" and q:
            m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", q)
            exprs.append(m.group(1) if m else q)
    return exprs


def rule_exprs():
    import yaml
    with open(os.path.join(MONITORING, "alerts.yaml")) as f:
        doc = yaml.safe_load(f)
    return {r["alert"]: r["expr"] for g in doc["groups"] for r in g["rules"]}


_PROMQL_WORDS = {"sum", "by", "rate", "max", "min", "avg", "or", "and", "unless", "on", "group_left",
                 "group_right", "vector", "ignoring", "without", "count", "bool", "offset", "irate",
                 "increase", "histogram_quantile", "label_values", "inf", "nan"}


def metric_names(expr):
    """Metric names in a PromQL expression: identifiers followed by a selector, range, or space,
    that are not functions, keywords, label names inside {...} / by (...)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # strings
    e = re.sub(r"\{[^}]*\}", "{}", e)                      # label matchers
    e = re.sub(r"\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\[[^\]]*\]", "[]", e)                     # ranges
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        w = m.group(0)
        rest = e[m.end():].lstrip()
        if w.lower() in _PROMQL_WORDS or rest.startswith("("):
            continue
        if w.startswith("$") or w in ("e",):
            continue
        names.add(w)
    return names


def by_labels(expr):
    """(metric, {labels}) for every `<agg> by (labels) (rate(metric...` or `<agg> by (labels) (metric{`."""
    out = []
    for m in re.finditer(r"by \(([^)]*)\) \((?:rate\()?\s*(jaeger_agent_\w+)", expr):
        out.append((m.group(2), {x.strip() for x in m.group(1).split(",") if x.strip()}))
    return out


# --- a fresh Debian root (debootstrap), cached ---------------------------------------------------------

DEBIAN_MIRROR = os.environ.get("OPS_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def minbase_tarball(cache_dir, timeout=600):
    """A `debootstrap --variant=minbase bookworm` root as a tarball in cache_dir (build/ops-cache),
    made once (~45 s here) and reused: the .deb test unpacks it into a fresh directory each run, the
    image test imports it as the Dockerfile's base images. Skips when debootstrap is missing or the
    mirror cannot be reached (the only reasons it cannot be made)."""
    os.makedirs(cache_dir, exist_ok=True)
    tarball = os.path.join(cache_dir, "bookworm-minbase.tar")
    if os.path.exists(tarball):
        return tarball
    if not shutil.which("debootstrap"):
        dl.skip("debootstrap not installed (tools/setup.sh installs it)")
    tmp = tempfile.mkdtemp(prefix="jp-debootstrap-", dir=cache_dir)
    try:
        t0 = time.monotonic()
        r = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", tmp, DEBIAN_MIRROR],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            log = (r.stdout + r.stderr)[-2000:]
            if "Failed getting release file" in log or "Couldn't download" in log or "Temporary failure" in log:
                dl.skip(f"cannot reach the Debian mirror {DEBIAN_MIRROR}: {log.strip().splitlines()[-1]}")
            dl.fail(f"debootstrap failed:\n{log}")
        os.chmod(tmp, 0o755)  # the root's / (mkdtemp made it 0700)
        # Without the .debs debootstrap leaves in apt's cache (~100 MB), as Debian's images do.
        subprocess.run(["tar", "-C", tmp, "--exclude=./var/cache/apt/archives/*.deb", "-cf", tarball + ".part", "."],
                       check=True, timeout=300)
        os.rename(tarball + ".part", tarball)
        dl.log(f"debootstrap --variant=minbase bookworm: {time.monotonic() - t0:.0f}s, cached as {tarball}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return tarball
