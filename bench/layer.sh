#!/usr/bin/env bash
# shellcheck disable=SC2016  # single quotes on purpose: bash -c expands the commands later
# layer.sh - time building one compressed layer from the benchmark tree: ocibake vs its peers.
#
# Usage: bench/layer.sh [--runs N] [--tree DIR] [--only LIST]
#
# Prerequisite: bench/fetch-tree.sh (builds $CACHE/tree). Tools: tar, gzip, pigz, zstd, umoci,
# jq, /usr/bin/time  (apt-get install -y time pigz zstd umoci jq).
#
# In one run, with the page cache warmed by an untimed pass over the tree, runs every tool
# N times, round-robin (run 1 of each tool, then run 2 of each, ...), and reports the median
# wall time of each:
#   tar        tar $TARFLAGS -cf - -C TREE . | wc -c          (reference: tar alone)
#   gzip       tar ... | gzip -6 > out
#   pigz       tar ... | pigz -6 -n > out
#   zstd       tar ... | zstd -3 -T0 -q > out
#   zstd-sha   the same with sha256 (openssl) of both streams through tee: what a layer
#              needs (diffID and digest), as ocibake computes them
#   umoci      umoci init --layout L && umoci new --image L:t && umoci insert --image L:t TREE /
#   ocibake-gzip, ocibake-zstd
#              ocibake build R.toml --output oci:OUTDIR --cache-dir FRESH_EMPTY_DIR --quiet
#              with a one-layer recipe copying TREE to / (gzip level 6 / zstd level 3).
#              Skipped, with an "ocibake not built" line, when the binary is missing.
#   ocibake-zstd-j4
#              the same with -j 4 (more workers than cores here: the memory bound)
#   before-zstd, before-zstd-j4
#              ocibake-zstd and ocibake-zstd-j4 with the binary $OCIBAKE_BEFORE (an older
#              build, to compare with); skipped when it is not set. Not in the default set.
# where TARFLAGS = --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner.
# Every run starts from nothing: fresh output file, fresh OCI layout, fresh ocibake cache.
#
# Reported per tool: median seconds; MB/s = size of the uncompressed tar stream above
# (measured once, `tar ... | wc -c`) / median seconds; output size (the file, or the layer
# blob of the OCI layout); peak RSS (the largest over runs; for a pipeline, the sum of its
# processes' peaks, as both are resident together; for umoci, its largest step); whether
# every run produced the same bytes; and for ocibake its speed relative to the peers
# (pigz for gzip, zstd -T0 for zstd, and umoci). Ends with a Markdown table for
# docs/benchmarks.md and a machine line. MB = 10^6 bytes, MiB = 2^20 bytes.
#
# Work files live in a temporary directory under the cache (same file system as the tree)
# and are removed at exit.
#
# Options:
#   --runs N     runs per tool (default 5)
#   --tree DIR   tree to pack (default $CACHE/tree)
#   --only LIST  comma-separated subset of: tar,gzip,pigz,zstd,zstd-sha,umoci,ocibake-gzip,ocibake-zstd,
#                ocibake-zstd-j4,before-zstd,before-zstd-j4
#   -h, --help   this text
# Environment:
#   OCIBAKE              ocibake binary (default: build/release/tools/ocibake in the repository)
#   OCIBAKE_BEFORE       an older ocibake binary, for before-zstd and before-zstd-j4
#   OCIBAKE_BENCH_CACHE  cache directory (default: $HOME/.cache/ocibake-bench)
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(cd "$script_dir/.." && pwd)
cache=${OCIBAKE_BENCH_CACHE:-$HOME/.cache/ocibake-bench}
ocibake=${OCIBAKE:-$repo_dir/build/release/tools/ocibake}
runs=5
tree=
all_tools=(tar gzip pigz zstd zstd-sha umoci ocibake-gzip ocibake-zstd)
tools=("${all_tools[@]}")
all_tools+=(ocibake-zstd-j4 before-zstd before-zstd-j4)

usage() { sed -n '3,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
die() { printf 'layer: error: %s\n' "$*" >&2; exit 1; }
log() { printf 'layer: %s\n' "$*" >&2; }

while (($#)); do
    case $1 in
        --runs) [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || die "--runs needs a positive integer"; runs=$2; shift 2 ;;
        --tree) [[ $# -ge 2 ]] || die "--tree needs a directory"; tree=$2; shift 2 ;;
        --only)
            [[ $# -ge 2 ]] || die "--only needs a list"
            IFS=, read -r -a tools <<< "$2"
            for t in "${tools[@]}"; do
                [[ " ${all_tools[*]} " == *" $t "* ]] || die "unknown tool in --only: $t"
            done
            shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done

tree=${tree:-$cache/tree}
[[ -d $tree ]] || die "no tree at $tree: run bench/fetch-tree.sh first"
tree=$(cd "$tree" && pwd -P)

missing=()
for t in tar gzip pigz zstd umoci jq awk; do command -v "$t" >/dev/null || missing+=("$t"); done
[[ -x /usr/bin/time ]] || missing+=(time)
((${#missing[@]} == 0)) || die "missing: ${missing[*]} (apt-get install -y time pigz zstd umoci jq)"
if command -v openssl >/dev/null; then
    hash_file() { openssl dgst -sha256 -r "$1" | cut -d' ' -f1; }
else
    hash_file() { sha256sum "$1" | cut -d' ' -f1; }
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/layer.XXXXXX")
# shellcheck disable=SC2317  # called from the trap
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# The commands run under `bash -c` with these in the environment.
export TREE=$tree W=$work OUT=$work/out OCIBAKE_BIN=$ocibake OCIBAKE_BEFORE_BIN=${OCIBAKE_BEFORE:-}
export TARF='--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner'
export M='/usr/bin/time -f %M_%U_%S -o'   # peak RSS (KiB), user s, sys s of one process, into a file

declare -A cmd kind label
cmd[tar]='$M "$W/rss.1" tar $TARF -cf - -C "$TREE" . | $M "$W/rss.2" wc -c > "$OUT"'
cmd[gzip]='$M "$W/rss.1" tar $TARF -cf - -C "$TREE" . | $M "$W/rss.2" gzip -6 > "$OUT"'
cmd[pigz]='$M "$W/rss.1" tar $TARF -cf - -C "$TREE" . | $M "$W/rss.2" pigz -6 -n > "$OUT"'
cmd[zstd]='$M "$W/rss.1" tar $TARF -cf - -C "$TREE" . | $M "$W/rss.2" zstd -3 -T0 -q > "$OUT"'
cmd[zstd-sha]='rm -f "$W/f1" "$W/f2"; mkfifo "$W/f1" "$W/f2"
    $M "$W/rss.3" openssl dgst -sha256 < "$W/f1" > "$W/diffid" &
    $M "$W/rss.4" openssl dgst -sha256 < "$W/f2" > "$W/digest" &
    $M "$W/rss.1" tar $TARF -cf - -C "$TREE" . | $M "$W/rss.5" tee "$W/f1" |
        $M "$W/rss.2" zstd -3 -T0 -q | $M "$W/rss.6" tee "$W/f2" > "$OUT"
    wait'
cmd[umoci]='$M "$W/rss.1" umoci init --layout "$W/L" && $M "$W/rss.2" umoci new --image "$W/L:t" &&
    $M "$W/rss.3" umoci insert --image "$W/L:t" "$TREE" /'
cmd[ocibake-gzip]='$M "$W/rss.1" "$OCIBAKE_BIN" build "$W/gzip.toml" --output "oci:$W/L" --cache-dir "$W/cache" --quiet > /dev/null'
cmd[ocibake-zstd]='$M "$W/rss.1" "$OCIBAKE_BIN" build "$W/zstd.toml" --output "oci:$W/L" --cache-dir "$W/cache" --quiet > /dev/null'
cmd[ocibake-zstd-j4]='$M "$W/rss.1" "$OCIBAKE_BIN" build "$W/zstd.toml" -j 4 --output "oci:$W/L" --cache-dir "$W/cache" --quiet > /dev/null'
cmd[before-zstd]='$M "$W/rss.1" "$OCIBAKE_BEFORE_BIN" build "$W/zstd.toml" --output "oci:$W/L" --cache-dir "$W/cache" --quiet > /dev/null'
cmd[before-zstd-j4]='$M "$W/rss.1" "$OCIBAKE_BEFORE_BIN" build "$W/zstd.toml" -j 4 --output "oci:$W/L" --cache-dir "$W/cache" --quiet > /dev/null'
kind=([tar]=none [gzip]=file [pigz]=file [zstd]=file [zstd-sha]=file [umoci]=oci [ocibake-gzip]=oci [ocibake-zstd]=oci
      [ocibake-zstd-j4]=oci [before-zstd]=oci [before-zstd-j4]=oci)
label=([tar]='`tar \| wc -c` (no compression)' [gzip]='`tar \| gzip -6`' [pigz]='`tar \| pigz -6 -n`'
       [zstd]='`tar \| zstd -3 -T0`' [zstd-sha]='`tar \| tee sha256 \| zstd -3 -T0 \| tee sha256`'
       [umoci]='`umoci insert` (gzip)'
       [ocibake-gzip]='**ocibake** gzip -6' [ocibake-zstd]='**ocibake** zstd -3'
       [ocibake-zstd-j4]='**ocibake** zstd -3, -j 4' [before-zstd]='before: ocibake zstd -3'
       [before-zstd-j4]='before: ocibake zstd -3, -j 4')

toml_str() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }
write_recipe() { # file compression level
    cat > "$1" <<EOF
name = "bench"
[build]
compression = "$2"
level = $3
[[layer]]
name = "tree"
[[layer.copy]]
src = $(toml_str "$tree")
dst = "/"
preserve_modes = true
EOF
}
write_recipe "$work/gzip.toml" gzip 6
write_recipe "$work/zstd.toml" zstd 3

selected=()
for t in "${tools[@]}"; do
    if [[ $t == ocibake-* && ! -x $ocibake ]]; then
        printf 'ocibake not built: %s is missing; skipping %s\n' "$ocibake" "$t"
        continue
    fi
    if [[ $t == before-* && ! -x ${OCIBAKE_BEFORE:-} ]]; then
        printf 'OCIBAKE_BEFORE is not set to an executable: skipping %s\n' "$t"
        continue
    fi
    selected+=("$t")
done

# Size (sum of layer blob sizes) and identity (layer digests) of the image in an OCI layout.
oci_layers() { # layout -> "size digest..."
    local L=$1 m
    m=$(jq -r '.manifests[0].digest' "$L/index.json") || return 1
    jq -r '"\([.layers[].size] | add) \([.layers[].digest] | join(","))"' \
        "$L/blobs/${m%%:*}/${m#*:}"
}

# --- machine, tree, tar stream -------------------------------------------------------------
cpu=$(awk -F': *' '/^model name/{print $2; exit}' /proc/cpuinfo)
mem=$(awk '/^MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)
# shellcheck source=/dev/null
os=$( (. /etc/os-release && printf '%s' "$PRETTY_NAME") 2>/dev/null || uname -s)
machine="$(nproc) cores ($cpu), $mem RAM, $os, kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC')"
versions="$(tar --version | head -1), gzip $(gzip --version | awk 'NR==1{print $2}'), $(pigz --version 2>&1), zstd $(zstd --version | grep -o 'v[0-9.]*' | head -1), umoci $(umoci --version | awk '{print $3}')"
fs=$(stat -f -c %T "$tree")

log "warming the page cache and measuring the tar stream"
stream=$(bash -c 'tar $TARF -cf - -C "$TREE" . | wc -c')
stream=$(bash -c 'tar $TARF -cf - -C "$TREE" . | wc -c')
files=$(find "$tree" -type f | wc -l)
dirs=$(find "$tree" -type d | wc -l)
links=$(find "$tree" -type l | wc -l)
mb() { awk -v b="$1" 'BEGIN{printf "%.1f", b/1e6}'; }
tree_line="$tree ($fs): $files files, $dirs dirs, $links symlinks; tar stream $stream bytes ($(mb "$stream") MB)"
printf 'machine: %s\n' "$machine"
printf 'tools:   %s\n' "$versions"
printf 'tree:    %s\n' "$tree_line"
printf 'runs:    %d per tool, round-robin, warm page cache\n\n' "$runs"

# --- runs ----------------------------------------------------------------------------------
# Other processes on the machine (a parallel build, ...) distort wall times. For each run,
# "other load" = (CPU time the whole machine spent, from /proc/stat) - (CPU time of the
# benchmarked processes), divided by the wall time: about 0 on a quiet machine.
tck=$(getconf CLK_TCK)
busy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8; exit}' /proc/stat; }

declare -A times cpus rss size digests failed other
for t in "${selected[@]}"; do times[$t]=''; cpus[$t]=''; rss[$t]=0; size[$t]=''; digests[$t]=''; other[$t]=0; done

run_one() { # tool round
    local t=$1 r=$2 wall k c f s d b0 b1 line o
    rm -rf "$work/L" "$work/cache" "$OUT" "$work"/rss.*
    if [[ $t == ocibake-* || $t == before-* ]]; then mkdir "$work/cache"; fi
    b0=$(busy)
    if ! /usr/bin/time -f %e -o "$work/wall" bash -c "set -o pipefail; ${cmd[$t]}" 2> "$work/err"; then
        failed[$t]=$(tail -n 5 "$work/err")
        log "$t run $r FAILED:"; sed 's/^/    /' "$work/err" | tail -n 5 >&2
        return 0
    fi
    b1=$(busy)
    wall=$(tail -n 1 "$work/wall")
    # RSS: pipelines sum their processes' peaks; umoci takes the largest of its steps.
    k=0 c=0
    for f in "$work"/rss.*; do
        line=$(tail -n 1 "$f")
        IFS=_ read -r s u y <<< "$line"
        if [[ $t != umoci ]]; then k=$((k + s)); elif ((s > k)); then k=$s; fi
        c=$(awk -v c="$c" -v u="$u" -v y="$y" 'BEGIN{print c + u + y}')
    done
    if ((k > rss[$t])); then rss[$t]=$k; fi
    o=$(awk -v b="$((b1 - b0))" -v t="$tck" -v c="$c" -v w="$wall" 'BEGIN{o = (b / t - c) / (w > 0.01 ? w : 0.01); printf "%.2f", (o < 0 ? 0 : o)}')
    if awk -v o="$o" -v m="${other[$t]}" 'BEGIN{exit !(o > m)}'; then other[$t]=$o; fi
    case ${kind[$t]} in
        file) s=$(stat -c %s "$OUT"); d=$(hash_file "$OUT") ;;
        oci) read -r s d < <(oci_layers "$work/L") || { failed[$t]="no layer found in the OCI layout"; return 0; } ;;
        *) s=''; d='' ;;
    esac
    times[$t]+="$wall "
    cpus[$t]+="$c "
    size[$t]=$s
    [[ " ${digests[$t]} " == *" $d "* ]] || digests[$t]+="$d "
    log "$(printf '%-13s run %d/%d: %6.2f s wall %6.2f s CPU %5.0f MiB RSS  other load %4.2f%s' \
        "$t" "$r" "$runs" "$wall" "$c" "$((k / 1024))" "$o" "${s:+  $(mb "$s") MB out}")"
    rm -rf "$work/L" "$work/cache" "$OUT"
}

log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= runs; r++)); do
    for t in "${selected[@]}"; do
        [[ -n ${failed[$t]:-} ]] || run_one "$t" "$r"
    done
done

median() { tr ' ' '\n' <<< "$1" | grep . | sort -g | awk '{a[NR]=$1} END{if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# --- report --------------------------------------------------------------------------------
declare -A med medcpu
for t in "${selected[@]}"; do
    if [[ -z ${failed[$t]:-} ]]; then
        med[$t]=$(median "${times[$t]}")
        medcpu[$t]=$(median "${cpus[$t]}")
    fi
done
ratio() { # tool peer -> "1.23x pigz" (speed of tool / speed of peer)
    [[ -n ${med[$1]:-} && -n ${med[$2]:-} ]] || return 0
    awk -v a="${med[$1]}" -v b="${med[$2]}" -v p="$2" 'BEGIN{printf "%.2fx %s", b/a, p}'
}

maxother=0
printf '\n| tool | median s | MB/s | CPU s | output MB | peak RSS MiB | same bytes each run | ocibake speed vs peer |\n'
printf '|---|---:|---:|---:|---:|---:|:-:|---|\n'
for t in "${selected[@]}"; do
    if [[ -n ${failed[$t]:-} ]]; then
        printf '| %s | failed | | | | | | |\n' "${label[$t]}"
        continue
    fi
    m=${med[$t]}
    speed=$(awk -v b="$stream" -v s="$m" 'BEGIN{printf "%.0f", b/s/1e6}')
    if [[ -n ${size[$t]} ]]; then out=$(mb "${size[$t]}"); else out='-'; fi
    same='-'
    if [[ ${kind[$t]} != none ]]; then
        read -r -a ds <<< "${digests[$t]}"
        if ((runs == 1)); then same='n/a'; elif ((${#ds[@]} == 1)); then same=yes; else same="no (${#ds[@]} different)"; fi
    fi
    vs=''
    case $t in
        ocibake-gzip) vs=$(ratio "$t" pigz); r2=$(ratio "$t" umoci); vs=${vs:+$vs${r2:+, }}$r2 ;;
        ocibake-zstd|ocibake-zstd-j4|before-zstd*) vs=$(ratio "$t" zstd); r2=$(ratio "$t" zstd-sha); vs=${vs:+$vs${r2:+, }}$r2
                      r2=$(ratio "$t" umoci); vs=${vs:+$vs${r2:+, }}$r2 ;;
    esac
    printf '| %s | %.2f | %s | %.2f | %s | %.0f | %s | %s |\n' "${label[$t]}" "$m" "$speed" "${medcpu[$t]}" \
        "$out" "$(awk -v k="${rss[$t]}" 'BEGIN{print k/1024}')" "$same" "$vs"
    maxother=$(awk -v a="$maxother" -v b="${other[$t]}" 'BEGIN{print (b > a ? b : a)}')
done
printf '\nMachine: %s.  \n' "$machine"
printf 'Tools: %s.  \n' "$versions"
printf 'Tree: %s.  \n' "$tree_line"
printf 'Median of %d runs each (round-robin, warm page cache); MB/s is of the %s MB uncompressed tar stream for every tool;\n' \
    "$runs" "$(mb "$stream")"
printf 'CPU s is user+sys of all the processes of a run (median); peak RSS of a pipeline is the sum of its processes'"'"' peaks.  \n'
printf 'Largest CPU load from other processes during any run: %s cores (load average after: %s).\n' \
    "$maxother" "$(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v o="$maxother" 'BEGIN{exit !(o >= 0.2)}'; then
    printf '\nWARNING: other processes used up to %s of the %s cores during the runs: wall times are inflated; rerun on a quiet machine before publishing.\n' \
        "$maxother" "$(nproc)"
fi

status=0
for t in "${selected[@]}"; do
    if [[ -n ${failed[$t]:-} ]]; then
        printf '\n%s failed:\n%s\n' "$t" "${failed[$t]}" >&2
        status=1
    fi
done
exit "$status"
