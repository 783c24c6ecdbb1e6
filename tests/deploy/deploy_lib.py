"""Helpers shared by the deploy tests: render deploy/k8s, pick objects out of the rendered YAML,
turn the DaemonSet's agent container into the argv + environment a node would run, and put the
test into network namespaces it created.

PyYAML comes from Debian's python3-yaml (tools/setup.sh; yamllint depends on it too).
"""
import ctypes
import os
import re
import signal
import subprocess
import sys
import time

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
K8S_DIR = os.path.join(ROOT, "deploy", "k8s")
SKIP = 77  # ctest SKIP_RETURN_CODE

# Capability numbers (linux/capability.h) for the names a DaemonSet may add.
CAP_NUMBERS = {
    "CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4, "KILL": 5,
    "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "LINUX_IMMUTABLE": 9, "NET_BIND_SERVICE": 10,
    "NET_BROADCAST": 11, "NET_ADMIN": 12, "NET_RAW": 13, "IPC_LOCK": 14, "IPC_OWNER": 15,
    "SYS_MODULE": 16, "SYS_RAWIO": 17, "SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_PACCT": 20,
    "SYS_ADMIN": 21, "SYS_BOOT": 22, "SYS_NICE": 23, "SYS_RESOURCE": 24, "SYS_TIME": 25,
    "SYS_TTY_CONFIG": 26, "MKNOD": 27, "LEASE": 28, "AUDIT_WRITE": 29, "AUDIT_CONTROL": 30,
    "SETFCAP": 31, "MAC_OVERRIDE": 32, "MAC_ADMIN": 33, "SYSLOG": 34, "WAKE_ALARM": 35,
    "BLOCK_SUSPEND": 36, "AUDIT_READ": 37, "PERFMON": 38, "BPF": 39, "CHECKPOINT_RESTORE": 40,
}


def log(*args):
    print("deploy-test:", *args, flush=True)


def fail(msg):
    print("deploy-test: FAIL " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def skip(msg):
    print("deploy-test: SKIP " + msg, flush=True)
    sys.exit(SKIP)


def kubectl_kustomize(k8s_dir=K8S_DIR):
    """`kubectl kustomize <dir>`: the exact objects `kubectl apply -k` would send."""
    try:
        out = subprocess.run(["kubectl", "kustomize", k8s_dir], check=True, capture_output=True, text=True,
                             timeout=120)
    except FileNotFoundError:
        fail("kubectl not found (tools/setup.sh installs Debian's kubernetes-client when there is none)")
    except subprocess.CalledProcessError as e:
        fail(f"kubectl kustomize {k8s_dir} failed:\n{e.stderr}")
    return out.stdout


def load_docs(text):
    return [d for d in yaml.safe_load_all(text) if d]


def find(docs, kind, name=None):
    found = [d for d in docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]
    if len(found) != 1:
        fail(f"expected exactly one {kind}{' ' + name if name else ''} in the rendered manifests, found {len(found)}")
    return found[0]


def agent_container(daemonset):
    containers = daemonset["spec"]["template"]["spec"]["containers"]
    agents = [c for c in containers if c["name"] == "agent"]
    if len(agents) != 1:
        fail("the DaemonSet must have exactly one container named 'agent'")
    return agents[0]


def field_ref_values(pod_name, node_name, host_ip):
    """What the kubelet puts into fieldRef env vars for our pod."""
    return {"metadata.name": pod_name, "spec.nodeName": node_name, "status.hostIP": host_ip,
            "metadata.namespace": "jaeger", "status.podIP": host_ip}  # hostNetwork: podIP = hostIP


def container_env(docs, container, field_refs):
    """The environment the kubelet gives the container: envFrom first, then env (env wins), with
    $(VAR) references expanded the way Kubernetes does it (only vars defined earlier in env)."""
    env = {}
    for src in container.get("envFrom", []):
        if "configMapRef" in src:
            cm = find(docs, "ConfigMap", src["configMapRef"]["name"])
            prefix = src.get("prefix", "")
            for k, v in (cm.get("data") or {}).items():
                env[prefix + k] = str(v)
        else:
            fail(f"unsupported envFrom source {src}")
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = expand_k8s_refs(str(e["value"]), env)
        elif "valueFrom" in e and "fieldRef" in e["valueFrom"]:
            path = e["valueFrom"]["fieldRef"]["fieldPath"]
            if path not in field_refs:
                fail(f"env {e['name']}: no test value for fieldRef {path}")
            env[e["name"]] = field_refs[path]
        elif "valueFrom" in e and "configMapKeyRef" in e["valueFrom"]:
            ref = e["valueFrom"]["configMapKeyRef"]
            env[e["name"]] = str(find(docs, "ConfigMap", ref["name"])["data"][ref["key"]])
        else:
            fail(f"unsupported env entry {e}")
    return env


def expand_k8s_refs(s, env):
    """Kubernetes' $(VAR) expansion in command/args/env values; $$ escapes; unknown refs stay."""
    def repl(m):
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", repl, s)


def container_argv(container, env, binary):
    """argv of the container: the image's ENTRYPOINT (the agent binary) + args, or command."""
    if container.get("command"):
        fail("the DaemonSet must not override the image's ENTRYPOINT (command:)")
    return [binary] + [expand_k8s_refs(str(a), env) for a in container.get("args", [])]


def cap_mask(names):
    mask = 0
    for n in names:
        n = n.upper().removeprefix("CAP_")
        if n not in CAP_NUMBERS:
            fail(f"unknown capability {n}")
        mask |= 1 << CAP_NUMBERS[n]
    return mask


def proc_caps(pid):
    caps = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Cap"):
                k, v = line.split(":")
                caps[k] = int(v.strip(), 16)
    return caps


# --- network namespaces -------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


class InNetns:
    """`with InNetns("name"):` — sockets created inside belong to /run/netns/<name>. Switches the
    calling thread only and switches back on exit (the test is single-threaded)."""

    def __init__(self, name):
        self.path = f"/run/netns/{name}"

    def __enter__(self):
        self.saved = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns({self.path}): {os.strerror(err)}")
        finally:
            os.close(fd)
        return self

    def __exit__(self, *exc):
        if _libc.setns(self.saved, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns(back): {os.strerror(err)}")
        os.close(self.saved)


def run(cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


def stop(p, grace):
    """SIGTERM (then SIGKILL) one process we started, by pid."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_for(cond, timeout, what, every=0.1):
    """Polls cond() until it returns something true (returned) or fails the test after timeout s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(every)
    fail(f"timed out after {timeout}s waiting for {what}")
