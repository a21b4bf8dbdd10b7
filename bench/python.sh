#!/usr/bin/env bash
# shellcheck disable=SC2016  # single quotes on purpose: hyperfine runs the commands later
# python.sh - install one set of real wheels into a fresh target: ocibake vs pip.
#
# Usage: bench/python.sh [--runs N]
#
# The wheel set: Debian 12's python3-* packages below, fetched with `apt-get download`
# and turned into wheels by bench/make-wheels.py (real modules and C extensions: numpy,
# scipy, sympy, lxml, ...), plus Debian's own pip, setuptools and wheel wheels
# (/usr/share/python-wheels). Made once into $CACHE/python (kept between runs).
#
# Timed with hyperfine (--runs N, one warm-up), every run from nothing:
#   pip            /usr/bin/python3 -m pip install --no-deps --no-index --target T W/*.whl
#                  (pip's default: it also compiles .pyc files)
#   pip-no-compile the same with --no-compile
#   ocibake-none   ocibake build R.toml --cache-dir FRESH_EMPTY_DIR -q: one layer with
#                  [layer.python] wheels = [W/*.whl] into venv /opt/venv (the venv
#                  itself included), layer uncompressed; the wheels are unpacked into
#                  the cache (verified against RECORD) and the layer written with its
#                  diffID and digest, into an OCI layout
#   ocibake-zstd   the same, zstd -3
#   ocibake-gzip   the same, gzip -6 (the default)
# Prints the medians, the ratio of pip's median to each ocibake median, and a Markdown
# table for docs/benchmarks.md.
#
# Environment:
#   OCIBAKE              ocibake binary (default: build/release/tools/ocibake)
#   OCIBAKE_BENCH_CACHE  cache directory (default: $HOME/.cache/ocibake-bench)
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(cd "$script_dir/.." && pwd)
cache=${OCIBAKE_BENCH_CACHE:-$HOME/.cache/ocibake-bench}
ocibake=${OCIBAKE:-$repo_dir/build/release/tools/ocibake}
runs=5
packages=(python3-numpy python3-scipy python3-sympy python3-mpmath python3-babel
  python3-pygments python3-jinja2 python3-markupsafe python3-requests python3-urllib3
  python3-idna python3-certifi python3-charset-normalizer python3-yaml python3-six
  python3-dateutil python3-tz python3-packaging python3-networkx python3-sqlalchemy
  python3-lxml)

while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    -h|--help) sed -n '3,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "python: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$ocibake" ] || { echo "python: $ocibake is not built (cmake --preset release && cmake --build --preset release)" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "python: hyperfine is missing (apt-get install hyperfine)" >&2; exit 1; }

work=$cache/python
wheels=$work/wheels
if [ ! -f "$work/wheels.stamp" ]; then
  rm -rf "$work" && mkdir -p "$work/debs" "$wheels"
  (cd "$work/debs" && apt-get download "${packages[@]}" 2>&1 | grep -v '^W:' >&2)
  /usr/bin/python3 "$script_dir/make-wheels.py" "$work/debs" "$wheels" >&2
  cp /usr/share/python-wheels/pip-*.whl /usr/share/python-wheels/setuptools-*.whl \
     /usr/share/python-wheels/wheel-*.whl "$wheels/"
  touch "$work/wheels.stamp"
fi
count=$(find "$wheels" -name '*.whl' | wc -l)
bytes=$(cat "$wheels"/*.whl | wc -c)
echo "python: $count wheels, $((bytes / 1000000)) MB" >&2

tmp=$(mktemp -d "$cache/python-run.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
list=$(find "$wheels" -name '*.whl' | sort | sed 's/.*/"&"/' | paste -sd, -)
for c in none zstd gzip; do
  cat > "$tmp/$c.toml" <<TOML
name = "bench-python"
[build]
compression = "$c"
[[layer]]
name = "wheels"
[layer.python]
wheels = [$list]
venv = "/opt/venv"
python = "3.11"
glibc = "2.36"
TOML
done

export SOURCE_DATE_EPOCH=0
hyperfine --runs "$runs" --warmup 1 --export-json "$tmp/results.json" \
  --prepare "rm -rf '$tmp/target' '$tmp/cache' '$tmp/out'" \
  -n pip "/usr/bin/python3 -m pip install -q --no-deps --no-index --disable-pip-version-check --target '$tmp/target' $wheels/*.whl" \
  -n pip-no-compile "/usr/bin/python3 -m pip install -q --no-deps --no-index --disable-pip-version-check --no-compile --target '$tmp/target' $wheels/*.whl" \
  -n ocibake-none "'$ocibake' build '$tmp/none.toml' -o 'oci:$tmp/out' --cache-dir '$tmp/cache' -q" \
  -n ocibake-zstd "'$ocibake' build '$tmp/zstd.toml' -o 'oci:$tmp/out' --cache-dir '$tmp/cache' -q" \
  -n ocibake-gzip "'$ocibake' build '$tmp/gzip.toml' -o 'oci:$tmp/out' --cache-dir '$tmp/cache' -q" >&2

median() { jq -r ".results[] | select(.command == \"$1\") | .median" "$tmp/results.json"; }
pip=$(median pip)
pip_nc=$(median pip-no-compile)
echo
echo "| what | median s | pip / this | pip --no-compile / this |"
echo "|---|---:|---:|---:|"
for n in pip pip-no-compile ocibake-none ocibake-zstd ocibake-gzip; do
  m=$(median "$n")
  printf '| %s | %.2f | %.1fx | %.1fx |\n' "$n" "$m" "$(echo "$pip / $m" | bc -l)" "$(echo "$pip_nc / $m" | bc -l)"
done
echo
echo "$count wheels, $((bytes / 1000000)) MB; $(nproc) cores, $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC'); runs: $runs"
