#!/usr/bin/env bash
# apt.sh - time building the rootfs of the apt fixture's packages: ocibake vs mmdebstrap.
#
# Usage: bench/apt.sh [--runs N]
#
# The input is the apt test fixture (tests/fixtures/apt): the no-recommends closure of a
# minimal Debian 12 system, python3, openssh-server and ca-certificates (127 packages,
# 52 MB of .debs, fetched once from deb.debian.org into the fixture cache), in a signed
# repository served on loopback by tests/fixtures/apt/serve.py (sendfile, keep-alive).
# Both tools get the whole closure as their list of packages, from empty caches, each run:
#
#   ocibake         ocibake lock R.toml && ocibake build R.toml -o oci:OUT, with a fresh
#                   cache and no lock: fetch and verify InRelease with gpgv, fetch the
#                   Packages index by hash, resolve, download the .debs in parallel
#                   (verified), unpack them into one uncompressed layer with its dpkg
#                   database, ld.so.cache, accounts and alternatives, write the OCI layout
#   ocibake-build   ocibake build with the lock already written (fresh cache): what a CI
#                   build of a committed recipe does
#   mmdebstrap      mmdebstrap --variant=extract --include=<closure> bookworm OUT.tar
#                   "deb URL bookworm main" --keyring=KEY: apt update (gpgv), download,
#                   unpack every package, write a tarball (root mode)
#
# Round-robin (run 1 of each, then run 2 of each, ...); reports median, min and max wall
# seconds, CPU seconds (user + sys), the output's size, and ocibake's speed relative to
# mmdebstrap; ends with a Markdown table for docs/benchmarks.md.
#
# Options:
#   --runs N     runs per tool (default 5)
#   -h, --help   this text
# Environment:
#   OCIBAKE                ocibake binary (default: build/release/tools/ocibake)
#   OCIBAKE_FIXTURE_CACHE  where the fixture's .debs are kept (see make-repo.sh)
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(cd "$script_dir/.." && pwd)
ocibake=${OCIBAKE:-$repo_dir/build/release/tools/ocibake}
runs=5

usage() { sed -n '3,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
die() { printf 'apt: error: %s\n' "$*" >&2; exit 1; }
log() { printf 'apt: %s\n' "$*" >&2; }

while (($#)); do
    case $1 in
        --runs) [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || die "--runs needs a positive integer"; runs=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done

[[ -x $ocibake ]] || die "no ocibake at $ocibake: cmake --preset release && cmake --build --preset release"
command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed (apt-get install mmdebstrap)"
command -v python3 >/dev/null || die "python3 is not installed"
[[ $(id -u) -eq 0 ]] || die "run as root (mmdebstrap's root mode; ocibake does not need it)"

work=$(mktemp -d /tmp/ocibake-bench-apt-XXXXXX)
chmod 755 "$work" # apt reads the keyring as its sandbox user
server=
cleanup() {
    if [[ -n $server ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

log "making the fixture repository (the .debs are fetched once into the fixture cache)"
"$repo_dir/tests/fixtures/apt/make-repo.sh" repo "$work/repo" >/dev/null
debs=$("$repo_dir/tests/fixtures/apt/make-repo.sh" fetch)
closure=$(dirname "$debs")/closure
mapfile -t names < <(cut -d= -f1 "$closure")
deb_bytes=$(cat "$debs"/*.deb | wc -c)

coproc SERVE { exec python3 "$repo_dir/tests/fixtures/apt/serve.py" "$work/repo"; }
server=$SERVE_PID
read -r ready port <&"${SERVE[0]}"
[[ $ready == ready ]] || die "the fixture server did not start"
url="http://127.0.0.1:$port"
log "serving on $url: ${#names[@]} packages, $((deb_bytes / 1000000)) MB of .debs"

list=$(printf '"%s", ' "${names[@]}")
cat >"$work/bench.toml" <<EOF
name = "bench-apt"
[build]
compression = "none"
[[apt.source]]
url = "$url"
suites = ["bookworm"]
keyring = "repo/keyring.gpg"
[[layer]]
name = "packages"
packages = [${list%, }]
EOF
include=$(IFS=,; echo "${names[*]}")

declare -A times cpus sizes
tools=(ocibake ocibake-build mmdebstrap)
tfmt='%e %U %S'

run_tool() {
    local tool=$1 out
    rm -rf "$work/cache" "$work/out" "$work/out.tar"
    case $tool in
        ocibake)
            rm -f "$work/bench.lock"
            out=$( { /usr/bin/time -f "$tfmt" sh -c '"$1" lock "$2" --cache-dir "$3" >/dev/null && "$1" build "$2" -o "oci:$4" --cache-dir "$3" -q >/dev/null' \
                sh "$ocibake" "$work/bench.toml" "$work/cache" "$work/out"; } 2>&1 | tail -1)
            sizes[$tool]=$(du -sb "$work/out/blobs" | cut -f1) ;;
        ocibake-build)
            [[ -f $work/bench.lock ]] || "$ocibake" lock "$work/bench.toml" --cache-dir "$work/lockcache" >/dev/null
            out=$( { /usr/bin/time -f "$tfmt" "$ocibake" build "$work/bench.toml" -o "oci:$work/out" --cache-dir "$work/cache" -q >/dev/null; } 2>&1 | tail -1)
            sizes[$tool]=$(du -sb "$work/out/blobs" | cut -f1) ;;
        mmdebstrap)
            out=$( { /usr/bin/time -f "$tfmt" mmdebstrap --quiet --variant=extract --include="$include" \
                --keyring="$work/repo/keyring.gpg" bookworm "$work/out.tar" "deb $url bookworm main" >/dev/null; } 2>&1 | tail -1)
            [[ -f $work/out.tar ]] || die "mmdebstrap failed: $(mmdebstrap --variant=extract --include="$include" --keyring="$work/repo/keyring.gpg" bookworm "$work/out.tar" "deb $url bookworm main" 2>&1 | tail -3)"
            sizes[$tool]=$(stat -c %s "$work/out.tar") ;;
    esac
    read -r wall user sys <<<"$out"
    times[$tool]+="$wall "
    cpus[$tool]+="$(echo "$user + $sys" | bc) "
}

for ((r = 1; r <= runs; r++)); do
    for tool in "${tools[@]}"; do
        run_tool "$tool"
    done
    log "run $r/$runs: $(for t in "${tools[@]}"; do w=${times[$t]% }; printf '%s %ss  ' "$t" "${w##* }"; done)"
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
minmax() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk 'NR==1{m=$1} {x=$1} END {print m "-" x}'; }

mm=$(median <<<"${times[mmdebstrap]}")
printf '\n| tool | median s | range s | CPU s (median) | output MB | ocibake speed vs mmdebstrap |\n'
printf '|---|---:|---:|---:|---:|---:|\n'
for tool in "${tools[@]}"; do
    med=$(median <<<"${times[$tool]}")
    ratio=""
    if [[ $tool != mmdebstrap ]]; then ratio="**$(echo "scale=2; $mm / $med" | bc)x**"; fi
    printf '| %s | %.2f | %s | %.2f | %.1f | %s |\n' "$tool" "$med" "$(minmax <<<"${times[$tool]}")" \
        "$(median <<<"${cpus[$tool]}")" "$(echo "scale=1; ${sizes[$tool]} / 1000000" | bc)" "$ratio"
done
printf '\nmachine: %s, %s cores, load before the runs %s; %s; mmdebstrap %s\n' "$(uname -r)" "$(nproc)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$("$ocibake" version 2>/dev/null | head -1)" \
    "$(dpkg-query -W -f '${Version}' mmdebstrap)"
