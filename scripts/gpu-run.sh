#!/usr/bin/env bash
# gpu-run.sh: the GPU machine check, run ON the GPU machine from the repository root with
# the kit scripts/gpu-kit.sh made (build/gpu-kit, carried). Writes every output under
# ${OUT:-/tmp/gpu-out} and prints a summary. See docs/gpu-harness.md.
#
#   (a) tests/gpu/cuda-check.toml's image (built on the development machine): its tests
#       with --gpus all (a CUDA program, nvidia-smi, libcuda through ld.so.cache)
#   (b) tests/gpu/torch-host.toml built here from this machine's /usr, /etc and
#       /opt/torch/.venv, then its tests with --gpus all (bf16 matmul, cuDNN convolution,
#       NCCL all-reduce under torchrun)
#   (c) tests/gpu/debian-cuda.toml (issue #7): built here offline from the carried .debs
#       (Debian's CUDA 11.8 runtime), then its tests with --gpus all
#
# (c) runs before (b): it is short, and (b)'s 8 GB build is the part that could run out
# of the device time.
#
#   (f) recipes/debian-pytorch.toml, the whole flagship, built offline from the carried
#       .debs (FLAGSHIP=1 scripts/gpu-kit.sh; not in the default PARTS), then its 25 tests
#       with --gpus all
#
# Environment: OUT (outputs), PARTS (which checks, default "a c b"; "f" for the flagship).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
out=${OUT:-/tmp/gpu-out}
mkdir -p "$out"
# Everything printed is also kept in $OUT/summary.txt (with the JUnit files and the build
# JSON: few files, as the device tool brings back only a few).
exec > >(tee "$out/summary.txt") 2>&1
kit=build/gpu-kit
tools=$(mktemp -d /tmp/ocibake-kit.XXXXXX)
tar -C "$tools" -xJf "$kit/kit.tar.xz"
export PATH="$tools/bin:$PATH"
export LD_LIBRARY_PATH="$tools/lib"
ocibake=$tools/bin/ocibake
runtime=$tools/bin/runc
cache=/tmp/ocibake-gpu-cache
status=0

parts=${PARTS:-a c b}
has() { case " $parts " in *" $1 "*) return 0 ;; esac; return 1; }
stamp() { date -u +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.1f}')"; }

{
  echo "== host"
  uname -r
  nvidia-smi -L 2>&1 | head -4
  nvidia-smi --query-gpu=driver_version,memory.total --format=csv,noheader 2>&1 | head -4
  "$ocibake" --version
  "$runtime" --version | head -1
} 2>&1

if has a; then
echo "== (a) cuda-check: ocibake test --gpus all"
t0=$(stamp)
"$ocibake" test "oci:$kit/cuda-check-image" --recipe tests/gpu/cuda-check.toml --gpus all \
  --runtime "$runtime" --cache-dir "$cache" --junit "$out/a-junit.xml" 2>&1 || status=1
t1=$(stamp)
echo "(a) test: $(secs "$t0" "$t1") s"
fi

if has c; then
echo "== (c) debian-cuda: ocibake build offline from the carried .debs, then test --gpus all"
rm -rf /tmp/ocibake-debian-cache && cp -r "$kit/debian-cache" /tmp/ocibake-debian-cache
t0=$(stamp)
"$ocibake" build tests/gpu/debian-cuda.toml -o oci:/tmp/debian-cuda \
  --cache-dir /tmp/ocibake-debian-cache 2>&1 || status=1
t1=$(stamp)
echo "(c) build: $(secs "$t0" "$t1") s"
"$ocibake" test oci:/tmp/debian-cuda --recipe tests/gpu/debian-cuda.toml --gpus all \
  --runtime "$runtime" --cache-dir /tmp/ocibake-debian-cache --junit "$out/c-junit.xml" \
  2>&1 || status=1
fi

if has f; then
  echo "== (f) debian-pytorch, the whole flagship: ocibake build offline from the carried .debs, then test --gpus all"
  t0=$(stamp)
  "$ocibake" build recipes/debian-pytorch.toml -o oci:/tmp/debian-pytorch \
    --cache-dir "$kit/flagship-cache" 2>&1 || status=1
  t1=$(stamp)
  echo "(f) build: $(secs "$t0" "$t1") s"
  t0=$(stamp)
  "$ocibake" test oci:/tmp/debian-pytorch:latest --recipe recipes/debian-pytorch.toml \
    --gpus all --runtime "$runtime" --cache-dir "$kit/flagship-cache" \
    --junit "$out/f-junit.xml" 2>&1 || status=1
  t1=$(stamp)
  echo "(f) test: $(secs "$t0" "$t1") s"
fi

if has b; then
  echo "== (b) torch-host: ocibake build from this machine's directories"
  t0=$(stamp)
  "$ocibake" build tests/gpu/torch-host.toml -o oci:/tmp/torch-host --cache-dir "$cache" \
    --json >"$out/b-build.json" 2>"$tools/b-build.err" || status=1
  t1=$(stamp)
  python3 - "$out/b-build.json" <<'PY' || cat "$tools/b-build.err"
import json, sys
d = json.load(open(sys.argv[1]))
for l in d["layers"]:
    print(f"  layer {l['name']:<8} {l['size'] / 1e9:6.2f} GB  {l['seconds']:6.1f} s  {l['cache']}")
print("  " + d["digest"])
PY
  echo "(b) build: $(secs "$t0" "$t1") s"
  echo "== (b) torch-host: ocibake test --gpus all"
  t0=$(stamp)
  "$ocibake" test oci:/tmp/torch-host --recipe tests/gpu/torch-host.toml --gpus all \
    --runtime "$runtime" --cache-dir "$cache" --junit "$out/b-junit.xml" 2>&1 || status=1
  t1=$(stamp)
  echo "(b) test: $(secs "$t0" "$t1") s"
fi
rm -rf "$tools"
exit "$status"
