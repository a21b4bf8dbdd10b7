#!/usr/bin/env bash
# Reproducibility check: build the default recipe (recipes/debian-pytorch.toml) from an
# empty cache on this machine and compare its image digest with the one committed in
# recipes/debian-pytorch.digest, which was made on another machine. Every layer is built
# here; only the downloaded .debs are reused between runs (kept in the fixture cache, and
# checked against the lock's sha256 when they are read, like any cached blob).
#
# Usage: scripts/repro-check.sh [OCIBAKE]   (default: build/release/tools/ocibake)
# Exit: 0 same digest, 1 a different digest (both are printed), other: the build failed.
#
# The build runs with one thread, umask 077, another time zone and locale, and a cache
# and output under a temporary path, so that none of those can reach the digest unseen.
set -euo pipefail
cd "$(dirname "$0")/.."

ocibake="$(realpath "${1:-build/release/tools/ocibake}")"
recipe=recipes/debian-pytorch.toml
lock=recipes/debian-pytorch.lock
expected="$(tr -d '[:space:]' < recipes/debian-pytorch.digest)"
fixtures="${OCIBAKE_FIXTURE_CACHE:-$HOME/.cache/ocibake-fixtures}"
debs="$fixtures/flagship-debs" # an ocibake cache used only for its .deb blobs

work="$(mktemp -d "${TMPDIR:-/tmp}/ocibake-repro.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# The .debs the lock names, downloaded once: a plain build into the fixture cache
# fetches exactly those files (later runs find them there).
pinned="$(grep -o 'sha256 = "sha256:[0-9a-f]*"' "$lock" | sed 's/.*sha256://; s/"//')"
missing=0
for hex in $pinned; do
  [ -f "$debs/blobs/sha256/$hex" ] || missing=$((missing + 1))
done
if [ "$missing" -gt 0 ]; then
  echo "repro-check: fetching $missing .deb file(s) named by $lock into $debs"
  "$ocibake" build "$recipe" --cache-dir "$debs" -o "oci:$work/fetch" --quiet
  rm -rf "$work/fetch"
fi

# A fresh cache that holds the .debs and nothing else: no layer, no record.
mkdir -p "$work/cache/blobs/sha256"
linked=0
for hex in $pinned; do
  if [ -f "$debs/blobs/sha256/$hex" ]; then
    ln "$debs/blobs/sha256/$hex" "$work/cache/blobs/sha256/$hex" 2>/dev/null ||
      cp "$debs/blobs/sha256/$hex" "$work/cache/blobs/sha256/$hex"
    linked=$((linked + 1))
  fi
done
echo "repro-check: building $recipe from an empty cache ($linked .debs reused, every layer built here)"

start=$SECONDS
(
  umask 077
  TZ=Pacific/Chatham LC_ALL=C.UTF-8 "$ocibake" build "$recipe" --cache-dir "$work/cache" \
    -o "oci:$work/out" -j 1 --quiet --digest-file "$work/digest"
)
actual="$(tr -d '[:space:]' < "$work/digest")"
echo "repro-check: built in $((SECONDS - start)) s on $(nproc) core(s), $(uname -m), $(. /etc/os-release && echo "$PRETTY_NAME")"
echo "repro-check: expected $expected (recipes/debian-pytorch.digest)"
echo "repro-check: got      $actual"
if [ "$actual" != "$expected" ]; then
  echo "repro-check: DIFFERENT digest: the default recipe is not reproducible here," \
    "or recipes/debian-pytorch.digest was not updated with a change that moves it" >&2
  exit 1
fi
echo "repro-check: same digest"
