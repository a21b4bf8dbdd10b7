#!/usr/bin/env bash
# Runs the libFuzzer targets (fuzz/, docs/fuzzing.md): each for SECONDS, one after the
# other, on a copy of its seed corpus (fuzz/corpus/<target>, never written to), with its
# dictionary (fuzz/dict/<target>.dict) when there is one. Builds the asan preset's fuzz
# targets first when needed. Prints a line per target and a summary table; exits 1 when
# any target crashed, leaked, timed out or ran out of memory (the reproducer's path and
# the command that replays it are printed), 2 on a usage or build error.
#
#   scripts/fuzz.sh SECONDS [TARGET...]     (TARGET: recipe, layer, ...; default: all)
#
# Environment:
#   OCIBAKE_FUZZ_DIR       where the corpora, logs and reproducers go (default: a new
#                          temp directory, removed at the end when nothing failed)
#   OCIBAKE_FUZZ_TIMEOUT   seconds one input may take before it counts as a hang (20)
#   OCIBAKE_FUZZ_RSS_MB    memory limit of a target, in MB (2048)
#   OCIBAKE_FUZZ_JOBS      parallel compile jobs for the build (default: cores)
#   OCIBAKE_FUZZ_ARGS      more libFuzzer arguments (e.g. -max_len=65536)
set -euo pipefail
cd "$(dirname "$0")/.."
src="$(pwd)"

usage() {
  echo "usage: scripts/fuzz.sh SECONDS [TARGET...]" >&2
  echo "targets: $(cd fuzz && ls fuzz_*.cpp | sed 's/^fuzz_//; s/\.cpp$//' | tr '\n' ' ')" >&2
  exit 2
}
[ $# -ge 1 ] || usage
seconds="$1"
shift
[[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] || usage
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cd fuzz && ls fuzz_*.cpp | sed 's/^fuzz_//; s/\.cpp$//')
fi
for t in "${targets[@]}"; do
  [ -f "fuzz/fuzz_$t.cpp" ] || { echo "fuzz.sh: no target '$t'" >&2; usage; }
done

# ---- build ---------------------------------------------------------------------------------
build=build/asan
if [ ! -f "$build/CMakeCache.txt" ] || ! grep -q '^OCIBAKE_FUZZ:BOOL=ON' "$build/CMakeCache.txt"; then
  cmake --preset asan >/dev/null || exit 2
fi
cmake --build --preset fuzz -j "${OCIBAKE_FUZZ_JOBS:-$(nproc)}" >/dev/null || {
  echo "fuzz.sh: the fuzz targets do not build: cmake --build --preset fuzz" >&2
  exit 2
}

# ---- run -----------------------------------------------------------------------------------
work="${OCIBAKE_FUZZ_DIR:-}"
keep=1
if [ -z "$work" ]; then
  work="$(mktemp -d "${TMPDIR:-/tmp}/ocibake-fuzz.XXXXXX")"
  keep=0
fi
mkdir -p "$work"
# Each target's scratch files (stores, unpacked layers): in memory when /dev/shm is there.
scratch_base=/dev/shm
[ -w "$scratch_base" ] || scratch_base="$work"
scratch="$(mktemp -d "$scratch_base/ocibake-fuzz-run.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
timeout_s="${OCIBAKE_FUZZ_TIMEOUT:-20}"
rss_mb="${OCIBAKE_FUZZ_RSS_MB:-2048}"

failed=0
rows=()
for t in "${targets[@]}"; do
  corpus="$work/corpus/$t"
  artifacts="$work/artifacts/$t"
  log="$work/$t.log"
  rm -rf "$corpus" "$artifacts"
  mkdir -p "$corpus" "$artifacts" "$scratch/$t"
  cp "fuzz/corpus/$t/"* "$corpus/" 2>/dev/null || true
  args=(-max_total_time="$seconds" -timeout="$timeout_s" -rss_limit_mb="$rss_mb"
        -artifact_prefix="$artifacts/" -print_final_stats=1)
  [ -f "fuzz/dict/$t.dict" ] && args+=(-dict="fuzz/dict/$t.dict")
  # shellcheck disable=SC2206
  args+=(${OCIBAKE_FUZZ_ARGS:-})
  rc=0
  OCIBAKE_FUZZ_TMP="$scratch/$t" "$build/fuzz/fuzz_$t" "${args[@]}" "$corpus" >"$log" 2>&1 || rc=$?
  rm -rf "${scratch:?}/$t"

  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  start_cov="$(grep -m1 -E 'INITED cov: ' "$log" | sed -E 's/.* cov: ([0-9]+).*/\1/' || true)"
  end_cov="$(grep -E '^#[0-9]+.* cov: ' "$log" | tail -1 | sed -E 's/.* cov: ([0-9]+).*/\1/' || true)"
  start_cov="${start_cov:-0}"
  end_cov="${end_cov:-$start_cov}"
  mapfile -t found < <(find "$artifacts" -type f | sort)
  status=ok
  if [ "$rc" -ne 0 ] || [ ${#found[@]} -gt 0 ]; then
    status="FAILED (exit $rc)"
    failed=1
  fi
  printf '%-17s %5ss %10s execs %7s/s  cov %5s -> %-5s (+%s)  %s\n' "$t" "$seconds" \
    "${execs:-?}" "${rate:-?}" "$start_cov" "$end_cov" $((end_cov - start_cov)) "$status"
  for f in "${found[@]}"; do
    echo "  reproducer: $f"
    echo "  replay:     $src/$build/fuzz/fuzz_$t $f"
  done
  if [ "$status" != ok ]; then
    echo "  log:        $log"
    grep -m1 -E '^==[0-9]+==ERROR|^SUMMARY|runtime error|ALARM|out-of-memory|deadly signal' "$log" |
      sed 's/^/  /' || true
  fi
  rows+=("| $t | $seconds | ${execs:-?} | ${rate:-?} | $start_cov -> $end_cov (+$((end_cov - start_cov))) | ${#found[@]} |")
done

echo
echo "| target | seconds | executions | exec/s | coverage (edges) | crashes |"
echo "|---|---:|---:|---:|---|---:|"
printf '%s\n' "${rows[@]}"

if [ "$failed" -ne 0 ]; then
  echo "fuzz.sh: FAILED; logs, corpora and reproducers are in $work" >&2
  exit 1
fi
if [ "$keep" -eq 0 ]; then
  rm -rf "$work"
else
  echo "fuzz.sh: corpora and logs are in $work"
fi
