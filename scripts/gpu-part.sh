#!/usr/bin/env bash
# gpu-part.sh: on the GPU machine, from the repository root, once per device call that
# carried one part of the kit (scripts/gpu-kit.sh split build/gpu-kit into build/gpu-parts/NN,
# 58 MiB each, as the device tool carries 64 MiB a call). Keeps the part in
# /tmp/ocibake-gpu-parts/SET (a warm machine keeps /tmp between calls), checks it against the
# SHA256SUMS every part carries, and once all parts are there puts build/gpu-kit back
# together. Exits 0 when the kit is complete, 3 while parts are missing, 1 on a damaged part.
#
#   scripts/gpu-part.sh build/gpu-parts/00
#   ...
#   scripts/gpu-part.sh build/gpu-parts/04 && OUT=$OUT scripts/gpu-run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: scripts/gpu-part.sh build/gpu-parts/NN}
# One store per set of parts (build/gpu-parts, build/gpu-flagship-parts).
store=/tmp/ocibake-gpu-parts/$(basename "$(dirname "$dir")")
mkdir -p "$store"
for f in "$dir"/part.*; do
  cp "$f" "$store/.tmp.$(basename "$f")"
  mv "$store/.tmp.$(basename "$f")" "$store/$(basename "$f")"
done
cp "$dir/SHA256SUMS" "$store/SHA256SUMS"
cd "$store"
want=$(wc -l <SHA256SUMS)
have=0
while read -r sum name; do
  [ -f "$name" ] || continue
  if [ "$(sha256sum "$name" | cut -d' ' -f1)" != "$sum" ]; then
    echo "gpu-part.sh: $name is damaged (sha256 differs from SHA256SUMS)" >&2
    rm -f "$name"
    exit 1
  fi
  have=$((have + 1))
done <SHA256SUMS
echo "gpu-part.sh: $have of $want parts in $store"
[ "$have" -eq "$want" ] || exit 3
cd - >/dev/null
rm -rf build/gpu-kit
mkdir -p build
cut -d' ' -f3 "$store/SHA256SUMS" | sed "s|^|$store/|" | xargs cat | tar -C build -xf -
echo "gpu-part.sh: build/gpu-kit put back together: $(du -sh build/gpu-kit | cut -f1)"
