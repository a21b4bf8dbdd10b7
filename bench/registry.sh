#!/usr/bin/env bash
# registry.sh - push and pull a ~1 GB, 5-layer image to a local registry: ocibake vs skopeo.
#
# Usage: bench/registry.sh [--runs N]
#
# The image: four gzip layers from the benchmark tree (bench/fetch-tree.sh: system and
# share, python, libraries a-o, the other libraries) and a fifth of 600 MB of
# incompressible bytes, so that about 1 GB goes over the wire. It is built once by ocibake
# into an OCI layout (cached). Each run starts docker-registry (Debian's CNCF
# distribution) on loopback with empty storage, then times, for each tool:
#   push     the layout to the registry        (ocibake push / skopeo copy oci: docker://)
#   re-push  the same again (every blob is there)
#   pull     the image back into a fresh layout (ocibake pull with an empty cache /
#            skopeo copy docker:// oci:)
# and reports medians and ocibake's speed relative to skopeo, in a Markdown table for
# docs/benchmarks.md.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(cd "$script_dir/.." && pwd)
cache=${OCIBAKE_BENCH_CACHE:-$HOME/.cache/ocibake-bench}
ocibake=${OCIBAKE:-$repo_dir/build/release/tools/ocibake}
runs=3
while (($#)); do
    case $1 in
        --runs) runs=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) echo "registry: unknown argument $1" >&2; exit 2 ;;
    esac
done
for t in docker-registry skopeo openssl; do
    command -v "$t" >/dev/null || { echo "registry: $t is missing (apt-get install docker-registry skopeo openssl)" >&2; exit 1; }
done
[[ -x $ocibake ]] || { echo "registry: ocibake not built ($ocibake)" >&2; exit 1; }
tree=$cache/tree
[[ -d $tree ]] || "$script_dir/fetch-tree.sh"

base=$cache/registry-bench
mkdir -p "$base"
random=$base/random.bin
if [[ ! -f $random || $(stat -c %s "$random") != 629145600 ]]; then
    # Deterministic incompressible bytes: AES-CTR of zeros.
    # (openssl ends on SIGPIPE when head has enough: not an error here)
    { openssl enc -aes-128-ctr -nosalt -pass pass:ocibake-bench -pbkdf2 < /dev/zero 2>/dev/null || true; } |
        head -c 629145600 > "$random.tmp"
    mv "$random.tmp" "$random"
fi
image=$base/image
cat > "$base/image.toml" <<EOF
name = "registry-bench"
[build]
compression = "gzip"
[[layer]]
name = "system"
[[layer.copy]]
src = "$tree"
dst = "/"
preserve_modes = true
exclude = ["usr/lib", "usr/lib/**"]
[[layer]]
name = "python"
[[layer.copy]]
src = "$tree/usr/lib"
dst = "/usr/lib"
preserve_modes = true
exclude = ["x86_64-linux-gnu", "x86_64-linux-gnu/**"]
[[layer]]
name = "libs-a"
[[layer.copy]]
src = "$tree/usr/lib/x86_64-linux-gnu"
dst = "/usr/lib/x86_64-linux-gnu"
preserve_modes = true
include = ["lib[a-o]*", "lib[a-o]*/**"]
[[layer]]
name = "libs-b"
[[layer.copy]]
src = "$tree/usr/lib/x86_64-linux-gnu"
dst = "/usr/lib/x86_64-linux-gnu"
preserve_modes = true
exclude = ["lib[a-o]*", "lib[a-o]*/**"]
[[layer]]
name = "random"
[[layer.files]]
path = "/data/random.bin"
src = "$random"
EOF
"$ocibake" build "$base/image.toml" -o "oci:$image:bench" --cache-dir "$base/build-cache" -q > /dev/null
size=$(find "$image/blobs" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
layers=$(find "$image/blobs" -type f | wc -l)

work=$(mktemp -d "$base/run.XXXXXX")
reg_pid=
cleanup() { [[ -n $reg_pid ]] && kill -9 "$reg_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
host=127.0.0.1:$port
start_registry() {
    rm -rf "$work/storage"
    cat > "$work/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/storage
http:
  addr: $host
EOF
    docker-registry serve "$work/config.yml" 2> "$work/registry.log" &
    reg_pid=$!
    for _ in $(seq 100); do curl -fs "http://$host/v2/" > /dev/null && return; sleep 0.05; done
    echo "registry: docker-registry did not start" >&2; exit 1
}
stop_registry() { kill -9 "$reg_pid"; wait "$reg_pid" 2>/dev/null || true; reg_pid=; }
timed() { local f=$1; shift; /usr/bin/time -f %e -o "$f" "$@" > /dev/null 2> "$work/err" || { cat "$work/err" >&2; exit 1; }; tail -1 "$f"; }

declare -A t
for tool in ocibake skopeo; do for k in push repush pull; do t[$tool.$k]=''; done; done
cat "$image"/blobs/sha256/* > /dev/null # the image in the page cache, as for every run
sync
for ((r = 1; r <= runs; r++)); do
    for tool in ocibake skopeo; do
        start_registry
        ref=$host/bench/img:1
        rm -rf "$work/pulled" "$work/pull-cache"
        if [[ $tool == ocibake ]]; then
            p=$(timed "$work/t" "$ocibake" push "oci:$image:bench" "$ref" --cache-dir "$work/push-cache")
            rp=$(timed "$work/t" "$ocibake" push "oci:$image:bench" "$ref" --cache-dir "$work/push-cache")
            sync # the registry's new storage reaches the disk before the pull is timed
            pl=$(timed "$work/t" "$ocibake" pull "$ref" -o "oci:$work/pulled" --cache-dir "$work/pull-cache")
        else
            p=$(timed "$work/t" skopeo copy --dest-tls-verify=false "oci:$image:bench" "docker://$ref")
            rp=$(timed "$work/t" skopeo copy --dest-tls-verify=false "oci:$image:bench" "docker://$ref")
            sync
            pl=$(timed "$work/t" skopeo copy --src-tls-verify=false "docker://$ref" "oci:$work/pulled:1")
        fi
        stop_registry
        rm -rf "$work/storage" "$work/pulled" "$work/pull-cache"
        sync # nothing of this run is left to write back during the next
        t[$tool.push]+="$p "; t[$tool.repush]+="$rp "; t[$tool.pull]+="$pl "
        printf 'registry: run %d %-8s push %6.2f s  re-push %5.2f s  pull %6.2f s\n' "$r" "$tool" "$p" "$rp" "$pl" >&2
        rm -rf "$work/push-cache"
    done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
printf '\nImage: %d blobs, %s bytes (%.0f MB); median of %d runs; fresh registry storage each run.\n\n' \
    "$layers" "$size" "$(awk -v s="$size" 'BEGIN{print s/1e6}')" "$runs"
printf '| | ocibake s | skopeo s | ocibake speed vs skopeo |\n|---|---:|---:|---:|\n'
for k in push repush pull; do
    o=$(median <<< "${t[ocibake.$k]}"); s=$(median <<< "${t[skopeo.$k]}")
    printf '| %s | %.2f | %.2f | %.2fx |\n' "$k" "$o" "$s" "$(awk -v o="$o" -v s="$s" 'BEGIN{print s/o}')"
done
printf '\nMachine: %s cores (%s), %s.  \nTools: ocibake %s, %s, docker-registry %s.\n' "$(nproc)" \
    "$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)" "$(date -u '+%Y-%m-%d %H:%M UTC')" \
    "$("$ocibake" --version | awk '{print $2}')" "$(skopeo --version)" "$(docker-registry --version 2>&1 | awk '{print $3}')"
