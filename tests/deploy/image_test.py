#!/usr/bin/env python3
"""deploy/Dockerfile built for real and the image run as the DaemonSet runs it (ctest deploy_image,
label `image`).

  image_test.py <build-dir> <collector-sink>

1. Base images: no image registry is reachable, so `debian:bookworm` and `debian:bookworm-slim`
   are one `debootstrap --variant=minbase bookworm` root (cached as a tarball in
   <build-dir>/ops-cache, shared with deploy_deb), `podman import`ed under those names.
2. Build: `podman build -f deploy/Dockerfile` of the repository (context filtered by
   deploy/Dockerfile.dockerignore; --isolation=chroot: this machine's hybrid cgroups refuse OCI
   runtimes inside buildah). The build stage runs `tools/setup.sh --runtime-only`, which installs no
   test-only packages: the test checks that node, npm, kubectl and promtool are absent from it.
3. Run: in a network namespace the test creates (jp-img-node-<pid>: veth eth0 with a default route,
   its own bpffs), `podman run` with the rendered DaemonSet's exact settings: host networking
   (the namespace), `--cap-drop=all` + its `add` list, no-new-privileges, read-only root, seccomp
   and AppArmor unconfined, uid 0, the bpffs volume at /sys/fs/bpf, its env (ConfigMap + fieldRefs;
   the collector replaced by the C++ collector sink on the namespace's loopback) and args. Checks:
   the container's agent has exactly those capabilities, XDP is attached to eth0 (auto), /ready is
   200, batches sent across the veth to 6831 (compact) and 6832 (binary) reach the sink with the
   agent tags' spans, /metrics serves them, and SIGTERM stops the container with status 0.

Slow: the image build compiles the project from scratch on this machine's 2 cores (see
deploy/README.md, "The image, built and run", for the measured time). Skips (77) only when not root
or when podman/runc/debootstrap are not installed (tools/setup.sh installs them) or the mirror is
unreachable.
"""
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy_lib as dl  # noqa: E402
import ops_lib as ol  # noqa: E402
import span_datagram  # noqa: E402
from daemonset_netns_test import Deployment, POD_NAME, NODE_NAME  # noqa: E402

IMAGE = "localhost/jp-jaeger-xdp-agent:test"
BASES = ("docker.io/library/debian:bookworm", "docker.io/library/debian:bookworm-slim")
# podman's default rlimits (nofile/nproc 1048576) exceed what this unprivileged-for-rlimits root may set.
ULIMITS = ["--ulimit", "nofile=16384:16384", "--ulimit", "nproc=8192:8192"]


def podman(*args, timeout=120, check=True):
    r = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        dl.fail(f"podman {' '.join(args)} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return r


def base_images(cache):
    tarball = ol.minbase_tarball(cache)
    stamp = str(int(os.path.getmtime(tarball)))
    for name in BASES:
        r = podman("image", "inspect", "--format", "{{index .Labels \"jp.minbase\"}}", name, check=False)
        if r.returncode == 0 and r.stdout.strip() == stamp:
            continue
        podman("import", "--change", f"LABEL jp.minbase={stamp}", "--change", "CMD [\"bash\"]", tarball, name,
               timeout=300)
    dl.log(f"base images {', '.join(BASES)} = debootstrap minbase bookworm ({tarball})")


def build(build_dir):
    log = os.path.join(build_dir, "ops-cache", "image-build.log")
    t0 = time.monotonic()
    with open(log, "w") as f:
        r = subprocess.run(["podman", "build", "--isolation=chroot", "--network=host", "--pull=never", "--layers",
                            "--ignorefile", os.path.join(dl.ROOT, "deploy", "Dockerfile.dockerignore"),
                            "-f", os.path.join(dl.ROOT, "deploy", "Dockerfile"), "-t", IMAGE, dl.ROOT],
                           stdout=f, stderr=subprocess.STDOUT, timeout=3000)
    secs = time.monotonic() - t0
    if r.returncode != 0:
        with open(log) as f:
            dl.fail(f"podman build failed after {secs:.0f}s:\n{f.read()[-4000:]}")
    dl.log(f"podman build -f deploy/Dockerfile: {secs:.0f}s (log {log})")
    r = podman("run", "--rm", "--runtime", "runc", *ULIMITS, "--network=none", "--entrypoint", "sh", IMAGE, "-c",
               "command -v node npm kubectl promtool prometheus || true")
    if r.stdout.strip():
        dl.fail(f"the runtime image has test tools: {r.stdout}")


def builder_has_no_test_tools(build_dir):
    """The build stage is the image of its last step; podman keeps it as an intermediate layer. Build
    just that stage (cached: seconds) and look for node, npm, kubectl, promtool in it."""
    r = subprocess.run(["podman", "build", "--isolation=chroot", "--network=host", "--pull=never", "--layers",
                        "--target", "build", "--ignorefile", os.path.join(dl.ROOT, "deploy", "Dockerfile.dockerignore"),
                        "-f", os.path.join(dl.ROOT, "deploy", "Dockerfile"), "-t", IMAGE + "-build", dl.ROOT],
                       capture_output=True, text=True, timeout=3000)
    if r.returncode != 0:
        dl.fail(f"podman build --target build failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    r = podman("run", "--rm", "--runtime", "runc", *ULIMITS, "--network=none", IMAGE + "-build", "sh", "-c",
               "for t in node npm kubectl promtool prometheus; do command -v $t; done; "
               "dpkg-query -W -f='${Package} ${Status}\\n' nodejs npm kubernetes-client prometheus 2>/dev/null "
               "| grep 'install ok installed' || true")
    if r.stdout.strip():
        dl.fail(f"the build stage installed test-only packages:\n{r.stdout}")
    # The build stage stays tagged: its layers are podman's cache, so the next run reuses the
    # package layer (tools/setup.sh) and, when no source changed, the whole build.
    dl.log("build stage: no node, npm, kubectl or Prometheus (tools/setup.sh --runtime-only)")


def run(sink_bin):
    dep = Deployment()
    c = dep.c
    sc = c["securityContext"]
    with ol.Node("img", host_cgroups=True) as node:
        sink, port = ol.start_sink(node, sink_bin)
        env = dl.container_env(dep.docs, c, dl.field_ref_values(POD_NAME, NODE_NAME, ol.NODE_IP))
        env["REPORTER_TCHANNEL_HOST_PORT"] = f"127.0.0.1:{port}"  # the only deviation from the manifests
        args = dl.container_argv(c, env, "agent")[1:]
        name = f"jp-agent-{os.getpid()}"
        argv = ["podman", "run", "--rm", "--name", name, "--runtime", "runc", *ULIMITS,
                "--network=host", "--cap-drop=all"]
        argv += [f"--cap-add={cap}" for cap in dep.caps]
        if sc.get("allowPrivilegeEscalation") is False:
            argv += ["--security-opt", "no-new-privileges"]
        if sc.get("seccompProfile", {}).get("type") == "Unconfined":
            argv += ["--security-opt", "seccomp=unconfined"]
        if sc.get("appArmorProfile", {}).get("type") == "Unconfined":
            argv += ["--security-opt", "apparmor=unconfined"]
        if sc.get("readOnlyRootFilesystem"):
            argv += ["--read-only"]
        argv += ["--user", f"{sc.get('runAsUser', 0)}:{sc.get('runAsGroup', 0)}"]
        argv += ["-v", "/sys/fs/bpf:/sys/fs/bpf"]
        for k, v in env.items():
            argv += ["--env", f"{k}={v}"]
        argv += [IMAGE, *args]
        dl.log(f"podman run in {node.ns}: --network=host --cap-drop=all --cap-add={','.join(dep.caps)} ... {args}")
        t0 = time.monotonic()
        ctr = node.spawn(argv, "container")
        try:
            def ready():
                if ctr.poll() is not None:
                    dl.fail(f"the container exited with {ctr.returncode}: {node.log('container')}")
                return ol.http_get(node.ns, dep.admin_port, dep.ready_path)[0] == 200
            ol.wait_for(ready, 60, f"container: GET :{dep.admin_port}{dep.ready_path} = 200")
            dl.log(f"container ready {time.monotonic() - t0:.1f}s after podman run")
            log = node.log("container")
            if "XDP/AF_XDP datapath on: eth0" not in log:
                dl.fail(f"XDP is not on in the container:\n{log}")
            pid = int(subprocess.run(node.on_node(["podman", "inspect", "--format", "{{.State.Pid}}", name]),
                                     capture_output=True, text=True, check=True).stdout)
            caps = dl.proc_caps(pid)
            want = dl.cap_mask(dep.caps)
            if caps["CapEff"] != want or caps["CapBnd"] != want:
                dl.fail(f"container agent: CapEff {caps['CapEff']:#x} CapBnd {caps['CapBnd']:#x}, want {want:#x}")
            ol.send_udp(node.cli_ns, ol.NODE_IP, dep.udp_ports["jg-compact-trft"],
                        [span_datagram.compact_emit_batch("image-compact", [(1, 1, "op", 1_700_000_000_000_000)])])
            ol.send_udp(node.cli_ns, ol.NODE_IP, dep.udp_ports["jg-binary-trft"],
                        [span_datagram.binary_emit_batch("image-binary", [(2, 2, "op", 1_700_000_000_000_000),
                                                                           (2, 3, "op", 1_700_000_000_000_001)])])

            def forwarded():
                body = ol.http_get(node.ns, dep.admin_port, "/metrics")[1]
                m = re.search(r'^jaeger_agent_reporter_spans_submitted_total\{format="jaeger",protocol="tchannel"\} (\d+)',
                              body, re.M)
                x = re.search(r'^jaeger_agent_xdp_packets_total\{interface="eth0",port="6831",result="redirected"\} (\d+)',
                              body, re.M)
                # The XDP counters are read from the maps periodically: wait for both.
                return x if m and int(m.group(1)) == 3 and x and int(x.group(1)) >= 1 else None
            redirected = ol.wait_for(forwarded, 15, "3 spans forwarded and the compact batch redirected by XDP "
                                     "into AF_XDP (/metrics)")
            ctr.send_signal(15)
            ctr.wait(40)
            if ctr.returncode != 0:
                dl.fail(f"SIGTERM: podman run exited {ctr.returncode}: {node.log('container')[-2000:]}")
            stats = ol.sink_stats(node, sink)
            if stats.get("spans") != 3:
                dl.fail(f"collector sink received {stats.get('spans')} spans, want 3")
            dl.log(f"image ran as the DaemonSet: CapEff=CapBnd={want:#x}, XDP on eth0 (redirected "
                   f"{redirected.group(1)}), ready, 3 spans (compact + binary) forwarded to the collector sink, "
                   "/metrics served, SIGTERM -> 0")
            node.ok = True
        finally:
            subprocess.run(node.on_node(["podman", "rm", "-f", "-t", "2", name]), capture_output=True, timeout=60)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    ol.need_root()
    for tool in ("podman", "runc"):
        if not shutil.which(tool):
            dl.skip(f"{tool} not installed (tools/setup.sh installs it; it could not here)")
    build_dir, sink_bin = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    t0 = time.monotonic()
    base_images(os.path.join(build_dir, "ops-cache"))
    build(build_dir)
    builder_has_no_test_tools(build_dir)
    run(sink_bin)
    dl.log(f"PASS in {time.monotonic() - t0:.0f}s")


if __name__ == "__main__":
    main()
