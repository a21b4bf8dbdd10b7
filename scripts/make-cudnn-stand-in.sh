#!/usr/bin/env bash
# A stand-in for NVIDIA's cuDNN redistributable archive, for machines that cannot reach
# developer.download.nvidia.com: the same layout and file names as
# cudnn-linux-x86_64-9.0.0.312_cuda12-archive.tar.xz (a top directory; lib/ with each
# libcudnn*.so.9.0.0, its soname link .so.9 and its .so link; include/cudnn*.h; LICENSE),
# where every library is a tiny ELF stub compiled here with gcc. It is what `ocibake build
# --stand-in nvidia-cudnn=ARCHIVE` takes (docs/recipe.md, stand-ins); an image built with
# it says so in its label org.ocibake.stand-in.nvidia-cudnn. It computes nothing.
#
# Usage: scripts/make-cudnn-stand-in.sh OUT.tar.xz [ELF...]
#
# libcudnn.so.9 defines, under the symbol version libcudnn.so.9 as NVIDIA's does, every
# function that the ELF files given need from it (`objdump -T`: what libtorch_cuda.so asks
# for, which matters because Debian links torch with BIND_NOW), plus cudnnGetVersion;
# cudnnGetVersion returns $CUDNN_STAND_IN_VERSION (default 90000, i.e. 9.0.0) and
# cudnnGetProperty its parts, cudnnGetCudartVersion 12040 (CUDA 12.4),
# cudnnGetErrorString says it is a stand-in, every other function returns
# CUDNN_STATUS_NOT_INITIALIZED (1001). The archive's bytes depend only on the inputs (fixed
# times, owners and order), so the image digest does too.
set -euo pipefail
out="${1:?usage: make-cudnn-stand-in.sh OUT.tar.xz [ELF...]}"
shift
version="${CUDNN_STAND_IN_VERSION:-90000}"
top=cudnn-linux-x86_64-9.0.0.312_cuda12-archive
work="$(mktemp -d "${TMPDIR:-/tmp}/cudnn-stand-in.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/$top/lib" "$work/$top/include"

# The functions asked for, by version libcudnn*.so.9, from the ELF files given.
{
  echo cudnnGetVersion
  echo cudnnGetErrorString
  echo cudnnGetProperty
  echo cudnnGetCudartVersion
  for elf in "$@"; do
    objdump -T "$elf" | awk '$2 ~ /^(DF|D)$/ || /\*UND\*/ {
      if ($0 ~ /\*UND\*/ && $(NF-1) ~ /^\(libcudnn[a-z_]*\.so\.9\)$/) print $NF }'
  done
} | LC_ALL=C sort -u > "$work/symbols"

{
  echo '/* cuDNN stand-in: not NVIDIA cuDNN; made by scripts/make-cudnn-stand-in.sh */'
  echo '#include <stddef.h>'
  echo "size_t cudnnGetVersion(void) { return $version; }"
  echo 'const char *cudnnGetErrorString(int s) { (void)s; return "cuDNN stand-in (scripts/make-cudnn-stand-in.sh): not NVIDIA cuDNN"; }'
  # cudnnGetProperty(MAJOR_VERSION = 0, MINOR_VERSION = 1, PATCH_LEVEL = 2, int *): what
  # torch.backends.cudnn.version() compares with the version torch was built with.
  echo "int cudnnGetProperty(int type, int *value) { static const int v[3] = {$((version / 10000)), $((version / 100 % 100)), $((version % 100))}; if (type < 0 || type > 2 || !value) return 2000; *value = v[type]; return 0; }"
  echo 'size_t cudnnGetCudartVersion(void) { return 12040; }'
  { grep -v -x -e cudnnGetVersion -e cudnnGetErrorString -e cudnnGetProperty -e cudnnGetCudartVersion "$work/symbols" || true; } |
    while read -r name; do echo "int $name(void) { return 1001; }"; done
} > "$work/cudnn.c"
{
  echo 'libcudnn.so.9 {'
  echo '  global:'
  sed 's/.*/    &;/' "$work/symbols"
  echo '  local: *;'
  echo '};'
} > "$work/cudnn.map"

stub() { # soname, file, source, [version script]
  local extra=()
  [ $# -ge 4 ] && extra=("-Wl,--version-script=$4")
  gcc -shared -fPIC -O1 -g0 -o "$work/$top/lib/$2" "$3" -Wl,-soname,"$1" \
    -Wl,--build-id=none -Wl,--hash-style=gnu "${extra[@]}"
  ln -s "$2" "$work/$top/lib/$1"
  ln -s "$1" "$work/$top/lib/${1%.9}"
}
stub libcudnn.so.9 libcudnn.so.9.0.0 "$work/cudnn.c" "$work/cudnn.map"
echo '/* cuDNN stand-in: an empty library of the real one'"'"'s name */' > "$work/empty.c"
echo 'int cudnn_stand_in_empty(void) { return 0; }' >> "$work/empty.c"
for sub in adv cnn engines_precompiled engines_runtime_compiled graph heuristic ops; do
  stub "libcudnn_$sub.so.9" "libcudnn_$sub.so.9.0.0" "$work/empty.c"
done
for h in cudnn cudnn_adv cudnn_backend cudnn_cnn cudnn_graph cudnn_ops cudnn_version; do
  printf '/* cuDNN stand-in: not NVIDIA cuDNN */\n' > "$work/$top/include/$h.h"
done
printf '#define CUDNN_MAJOR %d\n#define CUDNN_MINOR %d\n#define CUDNN_PATCHLEVEL %d\n' \
  $((version / 10000)) $((version / 100 % 100)) $((version % 100)) >> "$work/$top/include/cudnn_version.h"
printf 'cuDNN stand-in made by ocibake scripts/make-cudnn-stand-in.sh: not NVIDIA cuDNN.\n' \
  > "$work/$top/LICENSE"

tar -C "$work" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
  -cf - "$top" | xz -9 -T1 > "$out.tmp"
mv "$out.tmp" "$out"
echo "make-cudnn-stand-in: $out ($(wc -l < "$work/symbols") functions in libcudnn.so.9, version $version)"
