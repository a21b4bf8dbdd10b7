#!/usr/bin/env bash
# flagship.sh - build recipes/debian-pytorch.toml (the flagship's shape from Debian 12's
# archive: 8 layers, ~545 .debs, ~1.1 GB compressed) from a cold and a warm cache, and
# the same packages with mmdebstrap, in one run.
#
# Usage: bench/flagship.sh [--no-peer]
#
#   cold     ocibake build with an empty cache and the committed lock: download and verify
#            every .deb from deb.debian.org, unpack each layer (dpkg database, accounts,
#            ld.so.cache, alternatives), gzip on all cores, write the OCI layout
#   warm     the same build again with that cache: every layer a cache hit
#   again    a second cold build in another fresh cache, another temp dir, umask 077:
#            it must give the same digest (the script fails otherwise)
#   plain    a cold build of the same recipe with `compression = "none"` (a recipe that
#            includes it, with the same lock): what mmdebstrap's output is, uncompressed
#   mmdebstrap  mmdebstrap --variant=extract --include=<the lock's packages, pinned>
#            bookworm OUT.tar (main + non-free): apt update (gpgv), download, unpack into
#            one uncompressed tarball; no layers, no dpkg database, no compression
#
# Prints per-layer time and size for the cold and warm builds, the totals, and a Markdown
# table for docs/benchmarks.md. Needs network access to deb.debian.org.
#
# Environment:
#   OCIBAKE   ocibake binary (default: build/release/tools/ocibake)
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(cd "$script_dir/.." && pwd)
ocibake=${OCIBAKE:-$repo_dir/build/release/tools/ocibake}
recipe=$repo_dir/recipes/debian-pytorch.toml
peer=1

usage() { sed -n '3,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
for arg in "$@"; do
  case "$arg" in
    --no-peer) peer=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "flagship.sh: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done
[ -x "$ocibake" ] || { echo "flagship.sh: no ocibake at $ocibake (cmake --build --preset release)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

build() { # build NAME CACHE [extra env...]: JSON report in $work/NAME.json, wall seconds printed
  local name=$1 cache=$2
  shift 2
  local t0 t1
  t0=$(date +%s.%N)
  env "$@" "$ocibake" build "$recipe" -o "oci:$work/$name" --cache-dir "$cache" --json >"$work/$name.json"
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}

echo "== ocibake $("$ocibake" --version 2>/dev/null | head -1), $(nproc) cores"
cold=$(build cold "$work/cache")
warm=$(build warm "$work/cache")
mkdir -p "$work/tmp"
again=$( (umask 077 && build again "$work/cache2" TMPDIR="$work/tmp"))
# The same recipe, uncompressed: a recipe including it, with a copy of its lock.
printf 'include = ["%s"]\n[build]\ncompression = "none"\n' "$recipe" >"$work/plain.toml"
cp "${recipe%.toml}.lock" "$work/plain.lock"
plain=$(recipe=$work/plain.toml build plain "$work/cache3")

python3 - "$work" "$cold" "$warm" "$again" "$plain" <<'PY'
import json, sys
work, cold_s, warm_s, again_s, plain_s = sys.argv[1:]
cold = json.load(open(f"{work}/cold.json"))
warm = json.load(open(f"{work}/warm.json"))
again = json.load(open(f"{work}/again.json"))
mb = lambda n: n / 1e6
print(f"{'layer':<14}{'compressed':>12}{'unpacked':>12}{'cold s':>9}{'warm s':>9}  warm cache")
for c, w in zip(cold["layers"], warm["layers"]):
    print(f"{c['name']:<14}{mb(c['size']):>10.1f}MB{mb(c['uncompressed_size']):>10.1f}MB"
          f"{c['seconds']:>9.2f}{w['seconds']:>9.3f}  {w['cache']}")
total = sum(l["size"] for l in cold["layers"])
unpacked = sum(l["uncompressed_size"] for l in cold["layers"])
print(f"{'total':<14}{mb(total):>10.1f}MB{mb(unpacked):>10.1f}MB")
print(f"cold build {cold_s}s (wall, with downloads), warm build {warm_s}s, second cold build {again_s}s")
plain = json.load(open(f"{work}/plain.json"))
print(f"cold build, uncompressed: {plain_s}s, {mb(sum(l['size'] for l in plain['layers'])):.0f} MB")
print(f"digests: cold {cold['digest']}\n         warm {warm['digest']}\n         again {again['digest']}")
if not (cold["digest"] == warm["digest"] == again["digest"]):
    sys.exit("flagship.sh: the builds gave different digests")
print("same digest from the warm cache and from a second fresh cache (umask 077, other TMPDIR)")
PY

if [ "$peer" = 1 ]; then
  # The lock's packages, pinned, as one list.
  python3 - "$repo_dir/recipes/debian-pytorch.lock" >"$work/packages" <<'PY'
import sys, tomllib
lock = tomllib.load(open(sys.argv[1], "rb"))
names = sorted({f"{p['name']}={p['version']}" for layer in lock.get("apt", []) for p in layer.get("package", [])})
print(",".join(names))
PY
  count=$(tr ',' '\n' <"$work/packages" | wc -l)
  t0=$(date +%s.%N)
  mmdebstrap --quiet --variant=extract --include="$(cat "$work/packages")" \
    --keyring=/usr/share/keyrings/debian-archive-keyring.gpg bookworm "$work/mm.tar" \
    "deb http://deb.debian.org/debian bookworm main non-free" >/dev/null
  t1=$(date +%s.%N)
  mm=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
  mm_size=$(stat -c %s "$work/mm.tar")
  echo "mmdebstrap --variant=extract, $count packages: ${mm}s, $(python3 -c "print(f'{$mm_size/1e6:.0f}')") MB uncompressed tarball"
  echo
  echo "| build | wall seconds | output |"
  echo "|---|---|---|"
  echo "| ocibake, cold cache (downloads included) | $cold | 8 gzip layers, OCI layout |"
  echo "| ocibake, warm cache | $warm | the same digest |"
  echo "| ocibake, second cold cache (umask 077, other TMPDIR) | $again | the same digest |"
  echo "| ocibake, cold cache, compression none | $plain | 8 plain tar layers, OCI layout |"
  echo "| mmdebstrap --variant=extract, same $count packages | $mm | one uncompressed tar, no dpkg database |"
fi
