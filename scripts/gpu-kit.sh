#!/usr/bin/env bash
# gpu-kit.sh: everything the GPU machine check needs that the GPU machine lacks, made
# here into build/gpu-kit, and split into build/gpu-parts for the device tool (it carries
# 64 MiB a call). See docs/gpu-harness.md.
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
#   build/gpu-parts/NN/               what of that the GPU machine needs (300 MB), split
#                                     into parts the device tool carries one at a time
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

# A cache holding only the .debs LOCK pins, copied from the cache FROM.
debs_only() { # FROM LOCK DEST
  mkdir -p "$3/blobs/sha256"
  cp "$1/VERSION" "$3/"
  grep -E '^sha256 = "sha256:' "$2" | cut -d: -f2 | tr -d '"' |
    while read -r hex; do
      cp "$1/blobs/sha256/$hex" "$3/blobs/sha256/$hex"
    done
}

rm -rf "$kit"
mkdir -p "$kit/host-libs" "$kit/stage/bin" "$kit/stage/lib"

# (a)'s program, for Hopper (sm_90, the H100 and H200) with PTX for anything newer.
"$nvcc" -O2 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 \
  -o "$kit/cuda-check" tests/gpu/cuda-check.cu
# Its runtime, links resolved, for tests/gpu/cuda-check.toml; libpthread, libdl and librt
# because the injected driver (libcuda.so.1, nvidia-smi) links them.
for f in /lib64/ld-linux-x86-64.so.2 /lib/x86_64-linux-gnu/libc.so.6 \
  /lib/x86_64-linux-gnu/libm.so.6 /lib/x86_64-linux-gnu/libgcc_s.so.1 \
  /lib/x86_64-linux-gnu/libstdc++.so.6 /lib/x86_64-linux-gnu/libpthread.so.0 \
  /lib/x86_64-linux-gnu/libdl.so.2 /lib/x86_64-linux-gnu/librt.so.1 /sbin/ldconfig; do
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
debs_only "$kit/cache" tests/gpu/debian-cuda.lock "$kit/debian-cache"
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

# What the GPU machine needs of it (not the host libraries or the program (a)'s image
# holds already) is 300 MB, mostly cuBLAS .debs; the device tool carries 64 MiB a call,
# working tree included. So: one tar, split into parts of 58 MiB, one directory per call
# (PARTS_DIR/NN, with the list of every part's sha256). There, scripts/gpu-part.sh
# collects each call's part and, once it has them all, puts build/gpu-kit back together.
make_parts() { # PARTS_DIR PATH... (paths below build/)
  local parts=$1 f n d
  shift
  rm -rf "$parts"
  mkdir -p "$parts/all"
  tar -C build --sort=name --owner=0 --group=0 --numeric-owner -cf - "$@" |
    split -b 58M -d -a 2 - "$parts/all/part."
  (cd "$parts/all" && sha256sum part.* >SHA256SUMS)
  for f in "$parts"/all/part.*; do
    n=${f##*.}
    mkdir "$parts/$n"
    mv "$f" "$parts/$n/"
    cp "$parts/all/SHA256SUMS" "$parts/$n/"
  done
  rm -rf "$parts/all"
  echo "gpu-kit.sh: $(ls "$parts" | wc -l) parts in $parts: carry one a call, in order:"
  for d in "$parts"/*; do
    echo "  run(command=\"scripts/gpu-part.sh $d\", carry=[\"$d\"])"
  done
  echo "  and with the last: scripts/gpu-part.sh $d && OUT=\$OUT PARTS=... scripts/gpu-run.sh"
}
make_parts build/gpu-parts gpu-kit/kit.tar.xz gpu-kit/cuda-check-image gpu-kit/cudart-check \
  gpu-kit/debian-cache

# FLAGSHIP=1: the whole of recipes/debian-pytorch.toml too, for check (f): the 545 .debs
# its lock pins (709 MB, from the default cache, fetched there first when missing) and
# the kit's tools, in their own parts (build/gpu-flagship-parts, 13 calls).
if [ "${FLAGSHIP:-0}" = 1 ]; then
  "$ocibake" build recipes/debian-pytorch.toml -o "oci:$kit/tmp-flagship" -q >/dev/null
  rm -rf "$kit/tmp-flagship"
  cache=$("$ocibake" cache dir)
  debs_only "$cache" recipes/debian-pytorch.lock "$kit/flagship-cache"
  make_parts build/gpu-flagship-parts gpu-kit/kit.tar.xz gpu-kit/flagship-cache
fi
