#!/usr/bin/env bash
# gpu-kit.sh: everything the GPU machine check needs that the GPU machine lacks, made
# here into build/gpu-kit (carried there by the device tool: `carry = ["build/gpu-kit"]`,
# 64 MiB at most). See docs/gpu-harness.md.
#
#   build/gpu-kit/kit.tar.xz          ocibake (release) and runc, with the shared
#                                     libraries they need that are not glibc or the
#                                     C++ runtime (the GPU machine is Ubuntu 24.04: its
#                                     own newer glibc and libstdc++ run them)
#   build/gpu-kit/cuda-check          tests/gpu/cuda-check.cu, compiled with nvcc
#   build/gpu-kit/cuda-check-image/   tests/gpu/cuda-check.toml built here (OCI layout)
#   build/gpu-kit/cudart-check        tests/gpu/cudart-check.c, compiled with gcc
#   build/gpu-kit/debian-cache/       a cache holding only the .debs tests/gpu/debian-cuda.lock
#                                     pins (fetched from deb.debian.org here): the GPU
#                                     machine builds that image from them, offline
#
# Then, there: scripts/gpu-run.sh. Needs: a release build (cmake --build --preset release),
# nvcc (/usr/local/cuda/bin), runc, xz.
set -euo pipefail
cd "$(dirname "$0")/.."
kit=build/gpu-kit
ocibake=build/release/tools/ocibake
nvcc=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
[ -x "$ocibake" ] || { echo "gpu-kit.sh: build ocibake first: cmake --build --preset release" >&2; exit 1; }
[ -x "$nvcc" ] || { echo "gpu-kit.sh: no nvcc (set NVCC)" >&2; exit 1; }
runc=$(command -v runc) || { echo "gpu-kit.sh: no runc (apt-get install runc)" >&2; exit 1; }

rm -rf "$kit"
mkdir -p "$kit/host-libs" "$kit/stage/bin" "$kit/stage/lib"

# (a)'s program, for Hopper (sm_90, the H100 and H200) with PTX for anything newer.
"$nvcc" -O2 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 \
  -o "$kit/cuda-check" tests/gpu/cuda-check.cu
# Its runtime, links resolved, for tests/gpu/cuda-check.toml.
for f in /lib64/ld-linux-x86-64.so.2 /lib/x86_64-linux-gnu/libc.so.6 \
  /lib/x86_64-linux-gnu/libm.so.6 /lib/x86_64-linux-gnu/libgcc_s.so.1 \
  /lib/x86_64-linux-gnu/libstdc++.so.6 /sbin/ldconfig; do
  cp -L "$f" "$kit/host-libs/"
done
"$ocibake" build tests/gpu/cuda-check.toml -o "oci:$kit/cuda-check-image" \
  --cache-dir "$kit/cache" -q >/dev/null
rm -rf "$kit/cache"

# (c)'s program and its .debs: a cache of the .debs alone (blobs by digest), so that the
# GPU machine builds the layer itself.
gcc -O2 -Wall -Wextra -Werror -o "$kit/cudart-check" tests/gpu/cudart-check.c
"$ocibake" build tests/gpu/debian-cuda.toml -o "oci:$kit/tmp-image" --cache-dir "$kit/cache" \
  -q >/dev/null
mkdir -p "$kit/debian-cache/blobs/sha256"
cp "$kit/cache/VERSION" "$kit/debian-cache/"
grep -E '^sha256 = "sha256:' tests/gpu/debian-cuda.lock | cut -d: -f2 | tr -d '"' |
  while read -r hex; do
    cp "$kit/cache/blobs/sha256/$hex" "$kit/debian-cache/blobs/sha256/$hex"
  done
rm -rf "$kit/cache" "$kit/tmp-image"

# ocibake and runc with their libraries, less what every Linux has newer.
cp -L "$ocibake" "$kit/stage/bin/ocibake"
cp -L "$runc" "$kit/stage/bin/runc"
cp -L "$(command -v chroot)" "$kit/stage/bin/chroot" 2>/dev/null || true
for bin in "$ocibake" "$runc"; do
  ldd "$bin" | awk '/=> \//{ print $3 }'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so.* | libm.so.* | libdl.so.* | libpthread.so.* | librt.so.* | libresolv.so.* | \
      ld-linux* | libstdc++.so.* | libgcc_s.so.*) ;;
    *) cp -L "$lib" "$kit/stage/lib/$(basename "$lib")" ;;
  esac
done
tar -C "$kit/stage" -cJf "$kit/kit.tar.xz" .
rm -rf "$kit/stage"
du -sh "$kit" "$kit"/* | sed 's/^/gpu-kit.sh: /'
total=$(du -sb "$kit" | cut -f1)
if [ "$total" -gt $((60 * 1024 * 1024)) ]; then
  echo "gpu-kit.sh: the kit is over 60 MiB; the device tool carries 64 MiB in all" >&2
  exit 1
fi
