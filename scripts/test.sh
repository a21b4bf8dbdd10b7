#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a full test run: installs what is
# missing, checks formatting, builds (release), runs every test, then builds with clang,
# AddressSanitizer + UBSan (the unit tests and the libFuzzer targets), runs the unit
# tests under it and every fuzz target for a short time (docs/fuzzing.md).
# Set OCIBAKE_TEST_JOBS to change ctest's parallelism (default: cores), and
# OCIBAKE_FUZZ_SECONDS the time per fuzz target (default 15; 0 skips fuzzing).
# Every test must run: one that would skip (a missing facility, say) fails instead, except
# those tests/support/checks.hpp lists in kMaySkip (OCIBAKE_REQUIRE_ALL_TESTS=1).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${OCIBAKE_TEST_JOBS:-$(nproc)}"
export OCIBAKE_REQUIRE_ALL_TESTS=1

scripts/install-deps.sh
scripts/check-format.sh

echo "== release build and every test"
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
ctest --preset release -j "$jobs"

if [ "${OCIBAKE_REPRO_CHECK:-1}" = 1 ]; then
  echo "== reproducibility: the default recipe from an empty cache, against recipes/debian-pytorch.digest"
  scripts/repro-check.sh build/release/tools/ocibake
else
  echo "== reproducibility check NOT run (OCIBAKE_REPRO_CHECK=$OCIBAKE_REPRO_CHECK)"
fi

echo "== asan+ubsan build (clang): the unit tests and the fuzz targets"
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$(nproc)"
ctest --preset asan -j "$jobs"

fuzz_seconds="${OCIBAKE_FUZZ_SECONDS:-15}"
if [ "$fuzz_seconds" -gt 0 ]; then
  echo "== fuzzing: every target for $fuzz_seconds s"
  scripts/fuzz.sh "$fuzz_seconds"
fi
