#!/usr/bin/env python3
"""What deploy/k8s promises, checked on the rendered manifests (kubectl kustomize output).

  manifest_check.py <rendered.yaml> <agent-binary>

DaemonSet: hostNetwork + ClusterFirstWithHostNet; not privileged; drop ALL and add only known,
justified capabilities (each `- CAP` in daemonset.yaml preceded by a comment naming it), never
SYS_ADMIN; the node's /sys/fs/bpf mounted at /sys/fs/bpf; liveness on / and readiness on /ready of
the admin port; requests and limits for cpu and memory; POD_NAME/NODE_NAME/HOST_IP from the
downward API and used in --agent.tags; the ConfigMap loaded with envFrom and holding the
collector address; terminationGracePeriodSeconds above SHUTDOWN_TIMEOUT plus the 5 s HTTP
shutdown; RollingUpdate with maxUnavailable 1 and maxSurge 0.
Service: ClusterIP, internalTrafficPolicy Local, selects the DaemonSet's pods, UDP 5775/6831/6832
and TCP 5778 onto the container's ports.
ConfigMap: every key is a flag of `<agent> --help` (its Env: name), and every flag of --help is
documented in configmap.yaml (a key, or a commented-out `# KEY:` line), with a comment that names
the flag, the key or its processor suffix.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy_lib as dl  # noqa: E402

ALLOWED_CAPS = {"BPF", "NET_ADMIN", "NET_RAW", "PERFMON", "IPC_LOCK"}


def go_duration_s(s):
    total = 0.0
    for num, unit in re.findall(r"([\d.]+)(ns|us|µs|ms|s|m|h)", s):
        total += float(num) * {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def check_daemonset(docs, errors):
    ds = dl.find(docs, "DaemonSet", "jaeger-xdp-agent")
    pod = ds["spec"]["template"]["spec"]
    c = dl.agent_container(ds)
    e = errors.append
    if pod.get("hostNetwork") is not True:
        e("DaemonSet: hostNetwork must be true (jaeger-operator#676)")
    if pod.get("dnsPolicy") != "ClusterFirstWithHostNet":
        e("DaemonSet: dnsPolicy must be ClusterFirstWithHostNet (cluster DNS for the collector name)")
    sc = c.get("securityContext", {})
    if sc.get("privileged") is True or pod.get("securityContext", {}).get("privileged") is True:
        e("DaemonSet: privileged: true is not allowed")
    caps = sc.get("capabilities", {})
    if caps.get("drop") != ["ALL"]:
        e("DaemonSet: capabilities must drop ALL")
    added = [x.upper() for x in caps.get("add", [])]
    if not added:
        e("DaemonSet: no capabilities added")
    if set(added) - ALLOWED_CAPS:
        e(f"DaemonSet: capabilities {sorted(set(added) - ALLOWED_CAPS)} beyond the verified set {sorted(ALLOWED_CAPS)}")
    src = open(os.path.join(dl.K8S_DIR, "daemonset.yaml")).read().splitlines()
    for cap in added:
        idx = [i for i, line in enumerate(src) if re.fullmatch(rf"\s*-\s*{cap}\s*", line)]
        above = src[max(0, idx[0] - 6):idx[0]] if idx else []
        if not any(re.match(rf"\s*#\s*{cap}:", line) for line in above):
            e(f"daemonset.yaml: capability {cap} needs a justification comment '# {cap}: ...' above it")
    if sc.get("allowPrivilegeEscalation") is not False:
        e("DaemonSet: allowPrivilegeEscalation must be false")
    mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
    bpffs = [v for v in pod.get("volumes", []) if v.get("hostPath", {}).get("path") == "/sys/fs/bpf"]
    if len(bpffs) != 1 or mounts.get(bpffs[0]["name"], {}).get("mountPath") != "/sys/fs/bpf":
        e("DaemonSet: the node's /sys/fs/bpf (hostPath) must be mounted at /sys/fs/bpf")
    ports = {p["name"]: p for p in c.get("ports", [])}
    for probe, path in (("livenessProbe", "/"), ("readinessProbe", "/ready")):
        get = c.get(probe, {}).get("httpGet", {})
        port = get.get("port")
        port = ports.get(port, {}).get("containerPort", port)
        if get.get("path") != path or port != 14271:
            e(f"DaemonSet: {probe} must be httpGet {path} on the admin port 14271, is {get}")
    res = c.get("resources", {})
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in res.get(kind, {}):
                e(f"DaemonSet: resources.{kind}.{r} missing")
    env = {x["name"]: x for x in c.get("env", [])}
    for name, path in (("POD_NAME", "metadata.name"), ("NODE_NAME", "spec.nodeName"), ("HOST_IP", "status.hostIP")):
        if env.get(name, {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != path:
            e(f"DaemonSet: env {name} must come from fieldRef {path}")
    tags = [a for a in c.get("args", []) if a.startswith("--agent.tags=")]
    if len(tags) != 1 or not all(f"${{{v}:" in tags[0] for v in ("POD_NAME", "NODE_NAME", "HOST_IP")):
        e("DaemonSet: args must pass POD_NAME, NODE_NAME and HOST_IP into --agent.tags as ${VAR:}")
    refs = [x["configMapRef"]["name"] for x in c.get("envFrom", []) if "configMapRef" in x]
    cms = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] in refs]
    if len(cms) != 1:
        e("DaemonSet: envFrom must load the agent's ConfigMap")
    else:
        data = cms[0].get("data", {})
        if not data.get("REPORTER_TCHANNEL_HOST_PORT"):
            e("ConfigMap: REPORTER_TCHANNEL_HOST_PORT (the collector address) must be set")
        shutdown = go_duration_s(data.get("SHUTDOWN_TIMEOUT", "5s"))
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if grace <= shutdown + 5:
            e(f"DaemonSet: terminationGracePeriodSeconds {grace} must exceed SHUTDOWN_TIMEOUT {shutdown}s + 5s")
    us = ds["spec"].get("updateStrategy", {})
    ru = us.get("rollingUpdate", {})
    if us.get("type") != "RollingUpdate" or ru.get("maxUnavailable") != 1 or ru.get("maxSurge", 0) != 0:
        e("DaemonSet: updateStrategy must be RollingUpdate, maxUnavailable 1, maxSurge 0")
    return ds, c


def check_service(docs, ds, c, errors):
    e = errors.append
    svc = dl.find(docs, "Service", "jaeger-xdp-agent")
    spec = svc["spec"]
    if spec.get("type", "ClusterIP") != "ClusterIP" or spec.get("internalTrafficPolicy") != "Local":
        e("Service: must be ClusterIP with internalTrafficPolicy: Local")
    labels = ds["spec"]["template"]["metadata"]["labels"]
    if not spec.get("selector") or any(labels.get(k) != v for k, v in spec["selector"].items()):
        e("Service: selector does not match the DaemonSet's pod labels")
    cports = {(p["containerPort"], p.get("protocol", "TCP")) for p in c["ports"]}
    cnames = {p["name"]: p["containerPort"] for p in c["ports"]}
    got = set()
    for p in spec.get("ports", []):
        target = cnames.get(p.get("targetPort"), p.get("targetPort", p["port"]))
        if (target, p.get("protocol", "TCP")) not in cports:
            e(f"Service: port {p} does not target a container port")
        got.add((p["port"], p.get("protocol", "TCP")))
    want = {(5775, "UDP"), (6831, "UDP"), (6832, "UDP"), (5778, "TCP")}
    if got != want:
        e(f"Service: ports {sorted(got)}, want {sorted(want)}")


def check_configmap(docs, binary, errors):
    e = errors.append
    help_text = subprocess.run([binary, "--help"], check=True, capture_output=True, text=True).stdout
    flags = dict(re.findall(r"(--[a-z0-9.-]+)\b[^\n]*?\(Env:([A-Z0-9_]+)\)", help_text))
    if len(flags) < 20:
        e(f"cannot read the flags of {binary} --help (found {len(flags)})")
        return
    env_to_flag = {v: k for k, v in flags.items()}
    cm = dl.find(docs, "ConfigMap", "jaeger-xdp-agent")
    keys = set((cm.get("data") or {}).keys())
    src = open(os.path.join(dl.K8S_DIR, "configmap.yaml")).read()
    commented = set(re.findall(r"^\s*#\s*([A-Z][A-Z0-9_]+):", src, re.M))
    comments = "\n".join(line for line in src.splitlines() if line.strip().startswith("#"))
    for k in sorted(keys - set(env_to_flag)):
        e(f"ConfigMap: key {k} is not a flag of the agent (no such Env: in --help), the agent would ignore it")
    for k in sorted(commented - set(env_to_flag)):
        e(f"configmap.yaml: commented key {k} is not a flag of the agent")
    for env_name, flag in sorted(env_to_flag.items()):
        if env_name not in keys | commented:
            e(f"ConfigMap: flag {flag} ({env_name}) is not documented (add the key, or '# {env_name}:' if it "
              "must not be set from the ConfigMap)")
            continue
        m = re.match(r"PROCESSOR_[A-Z]+_[A-Z]+_(.*)", env_name)
        names = [flag, env_name] + ([f"*_{m.group(1)}"] if m else [])
        if not any(n in comments for n in names):
            e(f"configmap.yaml: no comment documents {flag} (mention {flag} or {env_name})")
    print(f"manifest_check: ConfigMap documents all {len(env_to_flag)} flags of --help "
          f"({len(keys)} set, {len(commented)} commented out)")


def main():
    rendered, binary = sys.argv[1], sys.argv[2]
    docs = dl.load_docs(open(rendered).read())
    errors = []
    for d in docs:
        if d["kind"] != "Namespace" and d["metadata"].get("namespace") != "jaeger":
            errors.append(f"{d['kind']} {d['metadata']['name']}: not in namespace jaeger")
    ds, c = check_daemonset(docs, errors)
    check_service(docs, ds, c, errors)
    check_configmap(docs, binary, errors)
    if errors:
        for x in errors:
            print("manifest_check: FAIL " + x, file=sys.stderr)
        sys.exit(1)
    print(f"manifest_check: ok ({len(docs)} objects: {', '.join(d['kind'] for d in docs)})")


if __name__ == "__main__":
    main()
