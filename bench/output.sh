#!/usr/bin/env bash
# output.sh - time writing the output of a warm rebuild: ~1 GB of cached layers placed
# into an OCI layout (a fresh one, or the previous output of the same build) and a docker
# archive.
#
# Usage: bench/output.sh [--runs N] [--size MB]
#
# Makes (once, kept in $CACHE/output-data) 4 directories of incompressible files, SIZE MB
# in all (default 1024), and a recipe with one zstd layer for each (the data does not
# compress: the layer blobs are about SIZE MB together). Builds it once into a fresh
# cache, then N times each, round-robin, with every layer cached (nothing is built):
#   fresh     ocibake build R.toml --json -o oci:DIR   (DIR removed before each run)
#   same      the same into DIR2, which holds the previous run's output
#   archive   ocibake build R.toml --json -o docker-archive:FILE
# and reports, per case, the median of the build's own output time (`timings.output` of
# --json: the blobs placed, fsync'd, the layout swapped in), of its wall time and of its
# CPU time (user + system; less sensitive than wall time to other load on the machine),
# and whether the OCI output's layer blobs share their inode with the cache (link count
# above 1). `sync` runs (untimed) before each run, so no run pays for another's writeback.
#
# With OCIBAKE_BEFORE=BINARY, every case also runs with that binary (same cache, same
# round), for a before/after comparison in one run: e.g. a build whose outputs are hard
# links to the cache (ocibake 0.1, before commit 94cf031).
#
# Options:
#   --runs N     runs per case (default 5)
#   --size MB    total size of the layers (default 1024)
#   -h, --help   this text
# Environment:
#   OCIBAKE              ocibake binary (default: build/release/tools/ocibake in the repository)
#   OCIBAKE_BEFORE       a second binary to compare with (optional)
#   OCIBAKE_BENCH_CACHE  cache directory (default: $HOME/.cache/ocibake-bench)
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(cd "$script_dir/.." && pwd)
cache=${OCIBAKE_BENCH_CACHE:-$HOME/.cache/ocibake-bench}
ocibake=${OCIBAKE:-$repo_dir/build/release/tools/ocibake}
before=${OCIBAKE_BEFORE:-}
runs=5
size=1024

usage() { sed -n '3,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
die() { printf 'output: error: %s\n' "$*" >&2; exit 1; }
log() { printf 'output: %s\n' "$*" >&2; }

while (($#)); do
    case $1 in
        --runs) [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || die "--runs needs a positive integer"; runs=$2; shift 2 ;;
        --size) [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || die "--size needs a positive integer (MB)"; size=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
[[ -x $ocibake ]] || die "no ocibake at $ocibake (build it, or set OCIBAKE)"
[[ -z $before || -x $before ]] || die "OCIBAKE_BEFORE=$before is not executable"
command -v jq >/dev/null || die "missing: jq"
[[ -x /usr/bin/time ]] || die "missing: /usr/bin/time (apt-get install -y time)"

# --- data, once ------------------------------------------------------------------------------
data=$cache/output-data
if [[ ! -f $data/stamp || $(cat "$data/stamp") != "$size" ]]; then
    log "making $size MB of incompressible files in $data"
    rm -rf "$data"
    for part in 1 2 3 4; do
        mkdir -p "$data/part$part"
        for i in $(seq 1 $((size / 4 / 32))); do
            head -c $((32 << 20)) /dev/urandom > "$data/part$part/f$i"
        done
    done
    printf '%s' "$size" > "$data/stamp"
fi

work=$(mktemp -d "$cache/output.XXXXXX")
# shellcheck disable=SC2317  # called from the trap
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

{
    printf 'name = "output-bench"\n[build]\ncompression = "zstd"\n'
    for part in 1 2 3 4; do
        printf '[[layer]]\nname = "part%d"\n[[layer.copy]]\nsrc = "%s"\ndst = "/part%d"\n' \
            "$part" "$data/part$part" "$part"
    done
} > "$work/r.toml"

log "cold build into $work/cache"
"$ocibake" build "$work/r.toml" --cache-dir "$work/cache" -o "oci:$work/first" --quiet > /dev/null
layers=$(du -sb "$work/cache/blobs" | cut -f1)
rm -rf "$work/first"

binaries=("after:$ocibake")
[[ -n $before ]] && binaries=("before:$before" "${binaries[@]}")
cases=(fresh same archive)

declare -A out wall cpu shared
one() { # label binary case
    local label=$1 bin=$2 c=$3 target j dir
    case $c in
        fresh) rm -rf "$work/fresh-$label"; target="oci:$work/fresh-$label" ;;
        same) target="oci:$work/same-$label" ;;
        archive) rm -f "$work/img-$label.tar"; target="docker-archive:$work/img-$label.tar" ;;
    esac
    sync
    /usr/bin/time -f '%e %U %S' -o "$work/wall" "$bin" build "$work/r.toml" --cache-dir "$work/cache" \
        -o "$target" --json > "$work/json"
    j=$(jq -r '"\(.timings.output) \(.layers_built)"' "$work/json")
    [[ ${j#* } == 0 ]] || die "$label $c rebuilt layers: the cache was not warm"
    out[$label.$c]+="${j% *} "
    if [[ $c != archive ]]; then
        dir=${target#oci:}
        if find "$dir/blobs/sha256" -type f -links +1 | grep -q .; then shared[$label.$c]=yes; else shared[$label.$c]=${shared[$label.$c]:-no}; fi
    fi
    read -r w u k < "$work/wall"
    wall[$label.$c]+="$w "
    cpu[$label.$c]+="$(awk -v u="$u" -v k="$k" 'BEGIN{print u + k}') "
}
# The "same" output exists before the first timed run.
for b in "${binaries[@]}"; do
    "${b#*:}" build "$work/r.toml" --cache-dir "$work/cache" -o "oci:$work/same-${b%%:*}" --quiet > /dev/null
done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq 1 "$runs"); do
    log "round $r of $runs"
    for c in "${cases[@]}"; do
        for b in "${binaries[@]}"; do
            one "${b%%:*}" "${b#*:}" "$c"
        done
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m}'; }
printf 'machine: %s cores (%s), %s, kernel %s, %s\n' "$(nproc)" \
    "$(awk -F': *' '/^model name/{print $2; exit}' /proc/cpuinfo)" \
    "$(stat -f -c %T "$work")" "$(uname -r)" "$(date -u '+%Y-%m-%d %H:%M UTC')"
printf 'layers: 4 zstd blobs, %s bytes in all; %d runs per case, medians; load average before %s, after %s\n\n' \
    "$layers" "$runs" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '| binary | output | output s | wall s | CPU s | blobs share the cache'"'"'s inodes |\n|---|---|---:|---:|---:|:-:|\n'
for c in "${cases[@]}"; do
    for b in "${binaries[@]}"; do
        l=${b%%:*}
        printf '| %s | %s | %s | %s | %s | %s |\n' "$l" "$c" "$(median <<< "${out[$l.$c]}")" \
            "$(median <<< "${wall[$l.$c]}")" "$(median <<< "${cpu[$l.$c]}")" "${shared[$l.$c]:--}"
    done
done
