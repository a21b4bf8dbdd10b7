#!/usr/bin/env bash
# torch-cuda.sh - build recipes/debian-torch-cuda.toml (Debian 13, PyTorch 2.6 for CUDA 12.4,
# NCCL, cuDNN 9; ~330 .debs, ~4 GB compressed) with a stand-in cuDNN, test it under runc,
# and print the time and size of every layer. This is the whole check of that recipe on a
# machine without NVIDIA's servers (and without a GPU); it is not in ctest, which runs on
# 2 cores (test_archive covers the stand-in switch and the ldd test on a small image).
#
# Usage: bench/torch-cuda.sh [--no-test]
#
#   real     `ocibake lock` without --stand-in must stop at the cudnn layer, naming
#            NVIDIA's manifest and the switch (the script fails otherwise)
#   stand-in scripts/make-cudnn-stand-in.sh, with every libcudnn.so.9 function that the
#            ELF files of libtorch-cuda-2.6 and python3-torch-cuda ask for
#   cold     ocibake build --stand-in nvidia-cudnn=... with a cache that holds the locked
#            .debs and nothing else: every layer unpacked, compressed and written here
#   warm     the same build again: every layer a cache hit
#   test     ocibake test on the image, under runc: the CPU tests pass, the GPU ones are
#            skipped (and say so); the stand-in label is checked
#
# The .debs (2.5 GB) are fetched once into the fixture cache
# (${OCIBAKE_FIXTURE_CACHE:-~/.cache/ocibake-fixtures}/torch-cuda-debs, an ocibake cache
# used for its .deb blobs), as scripts/repro-check.sh does for the flagship's; the first
# run needs deb.debian.org. Needs about 15 GB in $TMPDIR (the cache, the OCI layout, the
# test's unpacked bundle), removed at the end.
#
# Environment:
#   OCIBAKE   ocibake binary (default: build/release/tools/ocibake)
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(cd "$script_dir/.." && pwd)
ocibake=$(realpath "${OCIBAKE:-$repo_dir/build/release/tools/ocibake}")
recipe=$repo_dir/recipes/debian-torch-cuda.toml
lock=$repo_dir/recipes/debian-torch-cuda.lock
fixtures=${OCIBAKE_FIXTURE_CACHE:-$HOME/.cache/ocibake-fixtures}
debs=$fixtures/torch-cuda-debs
run_tests=1

usage() { sed -n '3,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
for arg in "$@"; do
  case "$arg" in
    --no-test) run_tests=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "torch-cuda.sh: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done
[ -x "$ocibake" ] || { echo "torch-cuda.sh: no ocibake at $ocibake" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/ocibake-torch-cuda.XXXXXX")
trap 'rm -rf "$work"' EXIT
secs() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$@"; }

echo "== ocibake $("$ocibake" --version | head -1), $(nproc) cores, $(uname -m)"

# The real path: NVIDIA's manifest, out of reach here, is an error naming the switch.
echo "== real: ocibake lock without --stand-in"
if "$ocibake" lock "$recipe" --cache-dir "$work/lock-cache" --dry-run >"$work/real.out" 2>"$work/real.err"; then
  echo "   NVIDIA's manifest was reachable: this machine can build the real image"
  real_reachable=1
else
  grep -E '^(recipes/|/).*error:|^hint:' "$work/real.err" | sed 's/^/   /'
  grep -q -- '--stand-in nvidia-cudnn=ARCHIVE' "$work/real.err" ||
    { echo "torch-cuda.sh: the failed lock does not name the switch" >&2; exit 1; }
  real_reachable=0
fi

# The locked .debs, fetched once (a build into the fixture cache fetches exactly those;
# a generic stand-in is enough for that build, whose image is thrown away).
pinned=$(grep -o 'sha256 = "sha256:[0-9a-f]*"' "$lock" | sed 's/.*sha256://; s/"//')
missing=0
for hex in $pinned; do
  [ -f "$debs/blobs/sha256/$hex" ] || missing=$((missing + 1))
done
if [ "$missing" -gt 0 ]; then
  echo "== fetching $missing .deb file(s) named by the lock into $debs"
  "$repo_dir/scripts/make-cudnn-stand-in.sh" "$work/generic.tar.xz" >/dev/null
  "$ocibake" build "$recipe" --stand-in "nvidia-cudnn=$work/generic.tar.xz" --cache-dir "$debs" \
    -o "oci:$work/fetch" --quiet >/dev/null
  rm -rf "$work/fetch"
fi

# The stand-in, with what torch's ELF files need from libcudnn.so.9 (torch is linked
# with BIND_NOW: a missing function fails `import torch`).
deb_of() { # the cached .deb of a locked package
  local hex
  hex=$(awk -v n="name = \"$1\"" '$0 == n { p = 1 } p && /^sha256 = / { gsub(/.*sha256:|"/, ""); print; exit }' "$lock")
  echo "$debs/blobs/sha256/$hex"
}
mkdir -p "$work/torch"
for p in libtorch-cuda-2.6 python3-torch-cuda; do
  dpkg-deb -x "$(deb_of $p)" "$work/torch"
done
mapfile -t elves < <(find "$work/torch" -type f -name '*.so*' -exec sh -c \
  'for f; do [ "$(head -c 4 "$f" | od -An -tx1 | tr -d " \n")" = 7f454c46 ] && echo "$f"; done' sh {} + | LC_ALL=C sort)
echo "== stand-in: $("$repo_dir/scripts/make-cudnn-stand-in.sh" "$work/cudnn-stand-in.tar.xz" "${elves[@]}" | sed 's/^make-cudnn-stand-in: //') from ${#elves[@]} torch ELF files"
rm -rf "$work/torch"

# A cache with the .debs and nothing else: every layer is made here.
mkdir -p "$work/cache/blobs/sha256"
for hex in $pinned; do
  ln "$debs/blobs/sha256/$hex" "$work/cache/blobs/sha256/$hex" 2>/dev/null ||
    cp "$debs/blobs/sha256/$hex" "$work/cache/blobs/sha256/$hex"
done
build() { # NAME: JSON in $work/NAME.json, wall seconds printed
  local t0 t1
  t0=$(date +%s.%N)
  "$ocibake" build "$recipe" --locked --stand-in "nvidia-cudnn=$work/cudnn-stand-in.tar.xz" \
    --cache-dir "$work/cache" -o "oci:$work/$1" --json >"$work/$1.json" 2>"$work/$1.err"
  t1=$(date +%s.%N)
  secs "$t0" "$t1"
}
cold=$(build cold)
grep '^STAND-IN:' "$work/cold.err" | sed 's/^/   /'
warm=$(build warm)

python3 - "$work/cold.json" "$work/warm.json" "$cold" "$warm" <<'PY'
import json, sys
cold, warm = (json.load(open(p)) for p in sys.argv[1:3])
assert cold["digest"] == warm["digest"], (cold["digest"], warm["digest"])
mb = lambda n: n / 1e6
rows = {}
for l in cold["layers"]:
    r = rows.setdefault(l["layer"] or l["name"], {"n": 0, "size": 0, "usize": 0, "cold": 0.0})
    r["n"] += 1; r["size"] += l["size"]; r["usize"] += l["uncompressed_size"]; r["cold"] += l["seconds"]
for l in warm["layers"]:
    rows[l["layer"] or l["name"]].setdefault("warm", 0.0)
    rows[l["layer"] or l["name"]]["warm"] += l["seconds"]
print(f"== image {cold['digest']}")
for s in cold.get("stand_ins", []):
    print(f"   stand-in {s['package']} in layer '{s['layer']}': {s['sha256']} ({s['size']} bytes) instead of {s['replaces']}")
print(f"| layer | image layers | compressed MB | uncompressed MB | cold s | warm s |")
print(f"|---|---:|---:|---:|---:|---:|")
for name, r in rows.items():
    print(f"| {name} | {r['n']} | {mb(r['size']):.1f} | {mb(r['usize']):.1f} | {r['cold']:.1f} | {r.get('warm', 0):.2f} |")
tot = lambda k: sum(r[k] for r in rows.values())
print(f"| **total** | {tot('n')} | {mb(tot('size')):.1f} | {mb(tot('usize')):.1f} | "
      f"{cold['timings']['layers']:.1f} (layer phase) | {warm['timings']['layers']:.2f} |")
print(f"wall: cold {sys.argv[3]} s (output {cold['timings']['output']:.1f} s), warm {sys.argv[4]} s; "
      f"layers built cold {cold['layers_built']}, warm {warm['layers_built']}")
PY

label=$(python3 - "$work/cold" <<'PY'
import json, sys, os
d = sys.argv[1]
index = json.load(open(os.path.join(d, "index.json")))
blob = lambda desc: json.load(open(os.path.join(d, "blobs", *desc["digest"].split(":"))))
config = blob(blob(index["manifests"][0])["config"])
print(config["config"]["Labels"].get("org.ocibake.stand-in.nvidia-cudnn", ""))
PY
)
echo "== label org.ocibake.stand-in.nvidia-cudnn = $label"
[ -n "$label" ] || { echo "torch-cuda.sh: the stand-in image has no stand-in label" >&2; exit 1; }
rm -rf "$work/warm"

if [ "$run_tests" = 1 ]; then
  echo "== ocibake test (runc, no GPU)"
  t0=$(date +%s.%N)
  rc=0
  "$ocibake" test "oci:$work/cold" --recipe "$recipe" --cache-dir "$work/cache" || rc=$?
  echo "   test wall $(secs "$t0" "$(date +%s.%N)") s, exit $rc"
  [ "$real_reachable" = 1 ] || echo "   (built with the stand-in cuDNN: NVIDIA's archive was not reachable)"
  exit "$rc"
fi
