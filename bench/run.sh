#!/usr/bin/env bash
# run.sh - time running the flagship: ocibake run/test against runc, podman and umoci.
#
# Usage: bench/run.sh [--runs N] [--flagship-cache DIR]
#
# The image is recipes/debian-pytorch.toml (94 layers, 1.1 GB compressed, 2.4 GB
# unpacked), built with the flagship's warm cache (--flagship-cache, read and added to,
# never gc'd) into a scratch directory. ocibake runs get a cache of their own there (the
# image's blobs imported into it once, untimed). All in one run, side by side:
#
#   cold unpack      ocibake run IMG -- true with nothing unpacked (every layer unpacked
#                    into the store, layers in parallel, then one container)
#                    vs umoci unpack --image IMG BUNDLE (the whole image into a bundle)
#   warm run         ocibake run IMG -- true with the layers unpacked (an overlay mounted
#                    per run)
#                    vs runc run on a bundle already unpacked, with the same config.json
#                    (the lower bound: no image work at all)
#                    vs podman run --rm --network none IMG true, from podman's store
#   test cycle       a one-file change (the start script) rebuilt with `ocibake build`,
#                    then `ocibake test` of the flagship's tests: cold (nothing
#                    unpacked) and warm (only the changed layer to unpack)
#
# Reports the median (and min, max) wall seconds of N runs each, with the 1-minute load
# average when they ended (the machine is shared), and ends with a
# Markdown table for docs/benchmarks.md. Needs root, runc, umoci, podman, skopeo.
#
# Options:
#   --runs N              runs of each test cycle (default 5; warm runs: 4N; cold: 2)
#   --flagship-cache DIR  the flagship's cache (default /work/cache-flagship, else a fresh
#                         one: the first build then downloads every package)
# Environment:
#   OCIBAKE  ocibake binary (default: build/release/tools/ocibake)
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(cd "$script_dir/.." && pwd)
ocibake=${OCIBAKE:-$repo_dir/build/release/tools/ocibake}
runs=5
flagship_cache=/work/cache-flagship

usage() { sed -n '3,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
while [ $# -gt 0 ]; do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    --flagship-cache) flagship_cache=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done
for tool in runc umoci podman skopeo; do
    command -v $tool >/dev/null || { echo "run.sh: $tool is not installed" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (runc, overlayfs)" >&2; exit 2; }

work=$(mktemp -d /var/tmp/ocibake-bench-run.XXXXXX)
podman_tag=localhost/ocibake-bench-run:latest
cleanup() {
    podman rmi -f $podman_tag >/dev/null 2>&1 || true
    for m in $(grep -o " $work/[^ ]*" /proc/self/mountinfo | sort -r); do umount -l "$m" || true; done
    rm -rf "$work"
}
trap cleanup EXIT
export TMPDIR=$work OCIBAKE_STATE_DIR=$work/state

# Wall seconds of a command (its output dropped).
# A command that fails is recorded, and row() stops the benchmark: a failing command
# is fast, and its time would mean nothing (runc on a bundle whose network namespace was
# gone once "won" here in 0.03 s).
secs() {
    local start end rc=0
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || rc=$?
    end=$(date +%s.%N)
    if ((rc != 0)); then
        echo "run.sh: '$*' failed (exit $rc)" >>"$work/failures"
    fi
    echo "$end - $start" | bc
}
# "median min max" of the numbers given.
stats() {
    printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.3f %.3f %.3f", m, v[1], v[NR]}'
}
load() { cut -d' ' -f1 /proc/loadavg; } # 1-minute load average (2 cores, shared)
row() { # name, then samples; the load average is the one when the samples ended
    local name=$1; shift
    if [[ -s $work/failures ]]; then
        echo "run.sh: no figures: a timed command failed:" >&2
        sort -u "$work/failures" >&2
        exit 1
    fi
    read -r med min max <<<"$(stats "$@")"
    printf '%-46s %8s s  (min %s, max %s, n=%d, load %s)\n' "$name" "$med" "$min" "$max" $# "$(load)"
    results+=("| $name | $med | $min–$max | $(load) |")
    eval "median_$(printf %s "$name" | tr -c 'a-z0-9' '_')=$med"
}
results=()

echo "== building the flagship (recipes copied to $work/src)"
mkdir -p "$work/src"
cp -r "$repo_dir/recipes" "$repo_dir/layers" "$work/src/"
cd "$work/src"
"$ocibake" build recipes/debian-pytorch.toml -q --cache-dir "$flagship_cache" >/dev/null
image=oci:$work/src/out/debian-pytorch:latest
cache=$work/cache
run_true() { "$ocibake" run --cache-dir "$cache" "$image" -- true; }
# The warm rows compare like with like: no network namespace for any of the three (runc
# runs the bundle's config.json, which joins no namespace of a process gone; podman runs
# with --network none).
run_true_none() { "$ocibake" run --cache-dir "$cache" --network none "$image" -- true; }

echo "== importing the image's blobs into ocibake's cache and podman's store (untimed)"
run_true >/dev/null 2>&1
skopeo copy -q "$image" containers-storage:$podman_tag

echo "== $(date -u +%FT%TZ), $(nproc) cores, load $(cat /proc/loadavg), $("$ocibake" --version 2>&1 | head -1), $(runc --version | head -1), umoci $(umoci --version | awk '{print $NF}')"
echo "== cold unpack: ocibake run (nothing unpacked) vs umoci unpack"
cold_ocibake=() cold_umoci=()
for i in 1 2; do
    rm -rf "$cache/unpacked" "$cache/records/overlay-check"
    cold_ocibake+=("$(secs run_true)")
    rm -rf "$work/umoci"
    cold_umoci+=("$(secs umoci unpack --image "${image#oci:}" "$work/umoci")")
done
rm -rf "$work/umoci"
row "cold: ocibake run -- true (unpack 94 layers)" "${cold_ocibake[@]}"
row "cold: umoci unpack" "${cold_umoci[@]}"

echo "== warm run: ocibake run vs runc on an unpacked bundle vs podman run"
"$ocibake" run --cache-dir "$cache" --network none --keep-bundle "$work/bundle" "$image" -- true >/dev/null 2>&1
warm_ocibake=() warm_runc=() warm_podman=()
# podman is a peer, not the subject: when it cannot run the image here, its row is left
# out and the reason said, instead of stopping the benchmark.
# podman 4.3 as root raises RLIMIT_NOFILE to 1048576 and RLIMIT_NPROC to the host's hard
# limit in every container; where that is refused (a machine without CAP_SYS_RESOURCE,
# or a parent with lower hard limits: "error setting rlimit type 7"), its row runs with
# limits below the host's, said in the output (setting rlimits costs runc nothing).
podman_ok=1 podman_flags=()
if ! podman_err=$(podman run --rm --network none $podman_tag true 2>&1 >/dev/null); then
    podman_flags=(--ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
    if [[ $podman_err == *"error setting rlimit"* ]] &&
        podman run --rm --network none "${podman_flags[@]}" $podman_tag true >/dev/null 2>&1; then
        echo "run.sh: podman's default limits are refused here ($(printf %s "$podman_err" | grep -o 'error setting rlimit type [0-9]*' | head -1)): its row runs with ${podman_flags[*]}" >&2
    else
        podman_ok=0
        echo "run.sh: podman run fails here, its row is left out: $(printf %s "$podman_err" | tail -1)" >&2
    fi
fi
# Four times --runs: a warm run is ~0.2 s, and the medians of five moved by 0.05x
# between runs on this shared machine.
for i in $(seq $((runs * 4))); do
    warm_ocibake+=("$(secs run_true_none)")
    warm_runc+=("$(secs runc run -b "$work/bundle" "bench-$$-$i")")
    if ((podman_ok)); then
        warm_podman+=("$(secs podman run --rm --network none "${podman_flags[@]}" $podman_tag true)")
    fi
done
row "warm: ocibake run --network none -- true" "${warm_ocibake[@]}"
row "warm: runc run (bundle unpacked already)" "${warm_runc[@]}"
if ((podman_ok)); then
    row "warm: podman run --rm --network none${podman_flags:+ (ulimits lowered)}" "${warm_podman[@]}"
fi

echo "== test cycle: a one-file change, build + ocibake test"
test_cycle() {
    echo "# bench $(date +%s.%N)" >>layers/files/ocibake-start
    "$ocibake" build recipes/debian-pytorch.toml -q --cache-dir "$flagship_cache" &&
        "$ocibake" test recipes/debian-pytorch.toml --cache-dir "$cache" --gpus none
}
rm -rf "$cache/unpacked"
cycle_cold=("$(secs test_cycle)")
cycle_warm=()
for i in $(seq "$runs"); do cycle_warm+=("$(secs test_cycle)"); done
test_cycle | tail -1
row "test cycle, cold: build + test (nothing unpacked)" "${cycle_cold[@]}"
row "test cycle, warm: build + test (layers unpacked)" "${cycle_warm[@]}"

echo
echo "ocibake warm run / runc bundle: $(echo "scale=3; $median_warm__ocibake_run___network_none____true / $median_warm__runc_run__bundle_unpacked_already_" | bc)x (goal <= 1.2x)"
echo "umoci unpack / ocibake cold: $(echo "scale=3; $median_cold__umoci_unpack / $median_cold__ocibake_run____true__unpack_94_layers_" | bc)x (goal >= 2x)"
echo
echo "| measurement | median s | range s | load avg |"
echo "|---|---|---|---|"
printf '%s\n' "${results[@]}"
