#!/usr/bin/env bash
# fleet.sh - the flagship on a fresh CI runner, with and without the remote cache (issue #16).
#
# Usage: bench/fleet.sh [--runs N] [--cold]
#
# Starts docker-registry (Debian's CNCF distribution) on loopback with empty storage and
# its access log on (the registry's own count of the requests each step made), then:
#   seed    runner A, with a warm cache ($OCIBAKE_FLEET_CACHE, default /work/cache-flagship,
#           else ~/.cache/ocibake), builds recipes/debian-pytorch.toml, pushes it to
#           ml/pytorch:a and writes the remote cache (--cache-to ml/cache)
#   push    a fresh runner (an empty cache directory) builds it with --cache-from ml/cache
#           and --push ml/pytorch:b (no local output)                        N runs
#   layout  a fresh runner builds it with --cache-from ml/cache -o oci:DIR    N runs
#   cold    (--cold only, once) a fresh runner without --cache-from: downloads every .deb
#           from deb.debian.org and builds every layer, then pushes
# For each: wall time, the image digest, layers built, bytes moved (sent, fetched,
# the cache directory's size afterwards), the remote cache's lookup and verify requests
# (build --json) and the requests in the registry's access log. A Markdown table for
# docs/benchmarks.md.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(cd "$script_dir/.." && pwd)
ocibake=${OCIBAKE:-$repo_dir/build/release/tools/ocibake}
warm=${OCIBAKE_FLEET_CACHE:-}
if [[ -z $warm ]]; then
    if [[ -d /work/cache-flagship ]]; then warm=/work/cache-flagship; else warm=$HOME/.cache/ocibake; fi
fi
runs=3
cold=0
while (($#)); do
    case $1 in
        --runs) runs=$2; shift 2 ;;
        --cold) cold=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) echo "fleet: unknown argument $1" >&2; exit 2 ;;
    esac
done
for t in docker-registry python3; do
    command -v "$t" >/dev/null || { echo "fleet: $t is missing" >&2; exit 1; }
done
[[ -x $ocibake ]] || { echo "fleet: ocibake not built ($ocibake)" >&2; exit 1; }
recipe=$repo_dir/recipes/debian-pytorch.toml

work=$(mktemp -d /tmp/ocibake-fleet.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
reg=127.0.0.1:$port
cat > "$work/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $work/storage
http:
  addr: $reg
  secret: fleet-bench
EOF
docker-registry serve "$work/registry.yml" > "$work/access.log" 2>&1 &
registry_pid=$!
cleanup() { kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 50); do curl -sf "http://$reg/v2/" >/dev/null && break; sleep 0.1; done

requests() { grep -cE '"(GET|HEAD|PUT|POST|PATCH|DELETE) /v2/' "$work/access.log" || true; }

# One step: STEP NAME CACHE_DIR ARGS...; prints a table row.
step() {
    local name=$1 cache=$2
    shift 2
    local before after start end
    before=$(requests)
    start=$(date +%s.%N)
    "$ocibake" build "$recipe" --cache-dir "$cache" --json "$@" > "$work/$name.json" 2> "$work/$name.err" ||
        { cat "$work/$name.err" >&2; exit 1; }
    end=$(date +%s.%N)
    sleep 0.2 # the access log is written after the response
    after=$(requests)
    python3 - "$work/$name.json" "$name" "$start" "$end" $((after - before)) "$(du -sb "$cache" | cut -f1)" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
name, start, end, reqs, cache = sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
rc = j.get("remote_cache") or {}
read = rc.get("read") or {}
push = (j.get("push") or {}).get("stats") or {}
mb = lambda b: f"{b / 1e6:.1f} MB"
print(f"| {name} | {end - start:.2f} s | {j['digest'][7:19]} | {j['layers_built']} | "
      f"{mb(push.get('bytes_sent', 0))} | {mb(rc.get('bytes_fetched', 0))} | {mb(cache)} | "
      f"{read.get('requests', {}).get('lookup', '-')} + {read.get('requests', {}).get('verify', '-')} | {reqs} |")
PY
}

echo "ocibake $("$ocibake" --version | cut -d' ' -f2), $(nproc) cores, registry on loopback, warm cache $warm"
echo
echo "| step | wall | digest | layers built | pushed | layer bytes fetched | cache dir after | cache lookup + verify requests | registry requests (access log) |"
echo "|---|---|---|---|---|---|---|---|---|"
step seed "$warm" --push "$reg/ml/pytorch:a" --cache-to "$reg/ml/cache"
# The cache artifact's index and records blob (gzip), and the records' JSON size.
python3 - "$reg" > "$work/artifact.txt" <<'PY'
import gzip, json, sys, urllib.request
reg = sys.argv[1]
def get(path, accept=None):
    req = urllib.request.Request(f"http://{reg}/v2/ml/cache/{path}")
    if accept:
        req.add_header("Accept", accept)
    return urllib.request.urlopen(req).read()
m = json.loads(get("manifests/ocibake-cache-debian-pytorch", "application/vnd.oci.image.manifest.v1+json"))
rec = m["layers"][0]
raw = len(gzip.decompress(get("blobs/" + rec["digest"])))
print(f"cache artifact: index {m['config']['size'] / 1e6:.2f} MB, records {rec['size'] / 1e6:.2f} MB "
      f"gzipped ({raw / 1e6:.2f} MB of JSON), {len(m['layers']) - 1} layer blobs listed")
PY
for i in $(seq "$runs"); do
    rm -rf "$work/cache-push"
    step "push-$i" "$work/cache-push" --push "$reg/ml/pytorch:b" --cache-from "$reg/ml/cache"
done
for i in $(seq "$runs"); do
    rm -rf "$work/cache-layout" "$work/out"
    step "layout-$i" "$work/cache-layout" -o "oci:$work/out" --cache-from "$reg/ml/cache"
done
if ((cold)); then
    rm -rf "$work/cache-cold"
    step cold "$work/cache-cold" --push "$reg/ml/pytorch:c"
fi
echo
cat "$work/artifact.txt"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
