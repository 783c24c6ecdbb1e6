#!/usr/bin/env bash
# deploy/Dockerfile without a container engine (none runs in CI): the image must build what the
# README builds, the way the README builds it, and ship exactly the runtime libraries it needs.
#
#   tests/deploy/dockerfile_test.sh [build-dir]     (ctest passes its own binary dir; default build/)
#
# 1. Structure: a `build` stage FROM debian:bookworm, a last stage FROM debian:bookworm-slim,
#    ENTRYPOINT = the agent binary the runtime stage copies in, EXPOSE = the DaemonSet's ports
#    (rendered with kubectl kustomize) = Jaeger's 5775/udp 6831/udp 6832/udp 5778/tcp 14271/tcp.
# 2. Same commands as the README: the build stage's RUN steps contain the README's set-up and build
#    commands, taken from tools/run.sh (`tools/setup.sh --runtime-only`, `tools/build.sh`), in that
#    order, and no package list or cmake invocation of their own.
# 3. The build stage's RUN steps, run verbatim with bash, in a stand-in for /src (WORKDIR, after
#    `COPY . .`): a directory of symlinks to the repository's top-level entries whose build/ is the
#    build tree ctest runs from. In CI that is the README's build/, which tools/test.sh has just
#    built, so `tools/build.sh` re-checks every target in seconds; an image-style rebuild from
#    scratch would take most of the CI budget on 2 cores (step 4 covers a fresh configure). Then
#    every `COPY --from=build` source must exist.
# 4. The context as Docker would send it (deploy/Dockerfile.dockerignore applied) is copied to a
#    temporary /src and configured from scratch with tools/build.sh's cmake command; with
#    DEPLOY_TEST_FRESH_BUILD=1 the agent target is also built there (261 s on the 2-core CI VM
#    under load, hence opt-in) and its libraries are checked in step 5 too.
# 5. Runtime packages: the Debian packages owning every library `ldd` resolves for the shipped
#    binary must equal the runtime stage's `apt-get install` list minus bpftool (a tool, not a
#    library): nothing missing, nothing unjustified. Each package must exist in bookworm's index.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
df=$root/deploy/Dockerfile
build_dir=$(cd "${1:-$root/build}" 2> /dev/null && pwd) || { echo "dockerfile_test: FAIL build dir ${1:-$root/build} missing" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/jagent-dockerfile.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() { echo "dockerfile_test: FAIL $*" >&2; exit 1; }
log() { echo "dockerfile_test: $*"; }
parse() { python3 "$here/dockerfile_parse.py" "$df" "$@"; }

[[ -f $df ]] || fail "$df missing"
command -v python3 > /dev/null || fail "python3 not found"

# --- 1. structure --------------------------------------------------------------------------------
parse stages > "$tmp/stages.json" || fail "cannot parse $df"
kubectl kustomize "$root/deploy/k8s" > "$tmp/rendered.yaml" || fail "kubectl kustomize deploy/k8s failed"
python3 - "$tmp/stages.json" "$tmp/rendered.yaml" <<'EOF' || exit 1
import json, sys, yaml
stages = json.load(open(sys.argv[1]))
docs = [d for d in yaml.safe_load_all(open(sys.argv[2])) if d]

def fail(msg):
    print("dockerfile_test: FAIL " + msg, file=sys.stderr)
    sys.exit(1)

build, final = stages[0], stages[-1]
if build["name"] != "build" or build["from"] != "debian:bookworm":
    fail(f"first stage must be `FROM debian:bookworm AS build`, is {build['from']} AS {build['name']}")
if final["from"] != "debian:bookworm-slim":
    fail(f"runtime stage must be FROM debian:bookworm-slim, is {final['from']}")
ins = lambda st, cmd: [a for c, a in st["instructions"] if c == cmd]
if ins(build, "WORKDIR") != ["/src"]:
    fail("build stage: WORKDIR must be /src (the test maps /src to the repository root)")
if ". ." not in ins(build, "COPY"):
    fail("build stage: must COPY the whole context (COPY . .)")
copies = [a.split() for a in ins(final, "COPY") if a.startswith("--from=build")]
if len(copies) != 1 or len(copies[0]) != 3:
    fail("runtime stage: expected one `COPY --from=build <src> <dest>`")
dest = copies[0][2]
entry = ins(final, "ENTRYPOINT")
if len(entry) != 1 or json.loads(entry[0]) != [dest]:
    fail(f"ENTRYPOINT must be exactly [\"{dest}\"] (the agent; the DaemonSet passes only args), is {entry}")
exposed = set(" ".join(ins(final, "EXPOSE")).split())
want = {"5775/udp", "6831/udp", "6832/udp", "5778/tcp", "14271/tcp"}
if exposed != want:
    fail(f"EXPOSE {sorted(exposed)}, want Jaeger's {sorted(want)}")
ds = [d for d in docs if d["kind"] == "DaemonSet"][0]
ports = {f"{p['containerPort']}/{p.get('protocol', 'TCP').lower()}"
         for c in ds["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
if ports != exposed:
    fail(f"DaemonSet container ports {sorted(ports)} != EXPOSE {sorted(exposed)}")
for c in ds["spec"]["template"]["spec"]["containers"]:
    if c.get("command"):
        fail("DaemonSet: command: would replace the image's ENTRYPOINT")
print(f"dockerfile_test: structure ok: build FROM debian:bookworm, runtime FROM debian:bookworm-slim, "
      f"ENTRYPOINT {dest}, EXPOSE {' '.join(sorted(exposed))} (= DaemonSet ports)")
EOF
copy_src=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))[-1]; print([a for c,a in s["instructions"] if c=="COPY" and a.startswith("--from=build")][0].split()[1])' "$tmp/stages.json")

# --- 2. the README's commands --------------------------------------------------------------------
# tools/run.sh is the README's "run" command: its set-up and build lines, normalized.
mapfile -t readme_cmds < <(grep -E '^\s*"\$root/tools/[a-z-]+\.sh"' "$root/tools/run.sh" |
  sed -E 's/"\$root\/(tools\/[a-z-]+\.sh)"/\1/; s/[0-9]?>&[0-9]//g; s/[[:space:]]+$//; s/^[[:space:]]+//')
[[ ${#readme_cmds[@]} -ge 2 ]] || fail "cannot find the set-up and build commands in tools/run.sh"
mapfile -d '' -t run_cmds < <(parse run build)
log "README (tools/run.sh) commands: ${readme_cmds[*]/%/;}"
log "build stage RUN steps: ${run_cmds[*]/%/;}"
i=0
for cmd in "${run_cmds[@]}"; do
  if [[ $i -lt ${#readme_cmds[@]} && $cmd == "${readme_cmds[$i]}" ]]; then i=$((i + 1)); fi
  case $cmd in
    *apt-get*|*cmake*|*ninja*|*make\ *) fail "build stage RUN '$cmd' has its own packages or build invocation; use the README's scripts";;
  esac
done
[[ $i -eq ${#readme_cmds[@]} ]] || fail "build stage RUN steps do not run the README's '${readme_cmds[*]}' in order"
log "build stage runs the README's set-up and build commands, in order, and nothing of its own but: $(printf '%s; ' "${run_cmds[@]:${#readme_cmds[@]}}")"

# --- 3. run the build stage's steps --------------------------------------------------------------
src=$tmp/srcview
mkdir -p "$src"
for e in "$root"/* "$root"/.[!.]*; do
  case ${e##*/} in build|build-*|.git) continue;; esac
  ln -s "$e" "$src/${e##*/}"
done
ln -s "$build_dir" "$src/build"
start=$(date +%s)
for cmd in "${run_cmds[@]}"; do
  log "RUN $cmd   (in /src = $src, build/ -> $build_dir)"
  (cd "$src" && timeout "${DEPLOY_DOCKERFILE_TIMEOUT:-1500}" bash -euo pipefail -c "$cmd") > "$tmp/run.log" 2>&1 ||
    { tail -40 "$tmp/run.log" >&2; fail "build stage step '$cmd' failed"; }
done
artifact=$src/${copy_src#/src/}
[[ $copy_src == /src/* && -x $artifact ]] || fail "COPY --from=build source $copy_src ($artifact) was not produced"
log "build stage steps ran in $(( $(date +%s) - start ))s; $copy_src produced ($(stat -c %s "$artifact") bytes)"
"$artifact" --version > /dev/null || fail "$artifact --version failed"

# --- 4. the context as Docker sends it: fresh configure (and optionally build) -------------------
python3 - "$root" "$root/deploy/Dockerfile.dockerignore" "$tmp/src" <<'EOF' || fail "cannot copy the build context"
import fnmatch, os, shutil, sys
root, ignore_file, dest = sys.argv[1:]
pats = [l.strip() for l in open(ignore_file) if l.strip() and not l.startswith("#")]
def ignored(rel):
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        for p in pats:
            if fnmatch.fnmatchcase(prefix, p):
                return True
            if p.startswith("**/") and fnmatch.fnmatchcase(parts[i - 1], p[3:]):
                return True
    return False
n = 0
for d, dirs, files in os.walk(root):
    rel_d = os.path.relpath(d, root)
    dirs[:] = [x for x in dirs if not ignored(os.path.normpath(os.path.join(rel_d, x)))]
    for f in files:
        rel = os.path.normpath(os.path.join(rel_d, f))
        if ignored(rel):
            continue
        os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
        shutil.copy2(os.path.join(root, rel), os.path.join(dest, rel), follow_symlinks=False)
        n += 1
print(f"dockerfile_test: context after Dockerfile.dockerignore: {n} files")
EOF
for must in CMakeLists.txt tools/build.sh tools/setup.sh userspace/main.cc bpf/agent.bpf.c idl/jaeger.thrift; do
  [[ -e $tmp/src/$must ]] || fail "the Docker context lacks $must (deploy/Dockerfile.dockerignore too broad)"
done
[[ ! -e $tmp/src/build && ! -e $tmp/src/tests/interop/node_modules ]] || fail "the Docker context includes build/ or node_modules"
# tools/build.sh's configure line, verbatim, with its default build dir.
configure=$(grep -E '^\s*cmake -S' "$root/tools/build.sh" | sed -E 's/^\s+//')
[[ -n $configure ]] || fail "cannot find the cmake configure line in tools/build.sh"
(cd "$tmp/src" && root=$tmp/src build=$tmp/src/build bash -euo pipefail -c "set -- ; $configure") > "$tmp/configure.log" 2>&1 ||
  { tail -30 "$tmp/configure.log" >&2; fail "fresh configure of the Docker context failed: $configure"; }
log "fresh configure of the Docker context ok ($configure)"
if [[ ${DEPLOY_TEST_FRESH_BUILD:-0} == 1 ]]; then
  t0=$(date +%s)
  cmake --build "$tmp/src/build" --target jaeger-xdp-agent -j"$(nproc)" > "$tmp/fresh.log" 2>&1 ||
    { tail -30 "$tmp/fresh.log" >&2; fail "fresh build of jaeger-xdp-agent from the Docker context failed"; }
  log "fresh build of jaeger-xdp-agent from the Docker context: $(( $(date +%s) - t0 ))s"
else
  log "fresh build from the context skipped (DEPLOY_TEST_FRESH_BUILD=1 builds the agent target there)"
fi

# --- 5. runtime packages ------------------------------------------------------------------------
mapfile -t listed < <(parse apt last)
[[ ${#listed[@]} -gt 0 ]] || fail "runtime stage: no apt-get install list"
tools=(bpftool)  # packages in the image for operators, not for the agent's libraries
owners() {  # the Debian packages owning the shared objects ldd resolves for $1
  ldd "$1" | awk '/=>/ && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}' | while read -r lib; do
    pkg=$(dpkg -S "$lib" 2> /dev/null || dpkg -S "$(readlink -f "$lib")" 2> /dev/null ||
          dpkg -S "/usr$(readlink -f "$lib")" 2> /dev/null || dpkg -S "${lib#/usr}" 2> /dev/null) ||
      { echo "UNOWNED:$lib"; continue; }
    echo "${pkg%%:*}" | sed 's/,.*//'
    echo "$lib ${pkg%%:*}" >> "$tmp/owners.txt"
  done | sort -u
}
need=$(owners "$artifact")
if [[ -x $tmp/src/build/jaeger-xdp-agent ]]; then  # the fresh build of step 4 links the same
  need=$(printf '%s\n%s\n' "$need" "$(owners "$tmp/src/build/jaeger-xdp-agent")" | sort -u)
fi
grep -q '^UNOWNED:' <<< "$need" && fail "libraries not owned by any Debian package: $(grep '^UNOWNED:' <<< "$need" | tr '\n' ' ')"
libs_listed=$(printf '%s\n' "${listed[@]}" | grep -vxF -f <(printf '%s\n' "${tools[@]}") | sort -u)
missing=$(comm -23 <(echo "$need") <(echo "$libs_listed"))
extra=$(comm -13 <(echo "$need") <(echo "$libs_listed"))
log "ldd of the shipped binary → packages: $(echo $need)"
[[ -z $missing ]] || fail "runtime stage lacks packages the binary links: $(echo $missing) (see $(sort -u "$tmp/owners.txt" | tr '\n' ';'))"
[[ -z $extra ]] || fail "runtime stage installs library packages the binary does not link: $(echo $extra)"
for t in "${tools[@]}"; do
  printf '%s\n' "${listed[@]}" | grep -qxF "$t" || fail "runtime stage must install $t (operators dump the pinned maps with it)"
done
for p in "${listed[@]}"; do
  apt-cache show "$p" > /dev/null 2>&1 || fail "runtime package $p is not in the (bookworm) apt index"
done
log "runtime packages = exactly the libraries' owners + ${tools[*]}: ${listed[*]}"
log "PASS"
