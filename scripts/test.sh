#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a full test run: installs what is
# missing, checks formatting, builds (release), runs every test, then builds with
# AddressSanitizer + UBSan and runs the unit tests under it.
# Set OCIBAKE_TEST_JOBS to change ctest's parallelism (default: cores).
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

echo "== asan+ubsan build and the unit tests"
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$(nproc)"
ctest --preset asan -j "$jobs"
