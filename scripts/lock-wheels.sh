#!/usr/bin/env bash
# lock-wheels.sh: the hashed requirements.txt of each Python layer that shares one venv,
# disjoint, for the target's Python and platform, not this machine's.
#
#   scripts/lock-wheels.sh layers/pytorch/requirements.in \
#       layers/scientific/requirements.in layers/jupyter/requirements.in
#
# ocibake installs each [layer.python] layer's requirements into the venv, and a
# distribution that an earlier layer installed is an error (docs/recipe.md), so the locks
# must not overlap: numpy, say, is a torchvision dependency and belongs to the pytorch
# layer, not to the scientific one that names it. Give the .in files in layer order. For
# each, this script:
#   1. compiles it with `uv pip compile --generate-hashes` (or pip-tools' pip-compile when
#      uv is missing), with every package of the earlier layers' locks as a constraint, so
#      that what they share stays at the earlier layer's version;
#   2. writes next to it (X.in -> X.txt) only the packages the earlier layers' locks lack.
# The first file is compiled alone. The earlier layers' .in files are not compiled again:
# their pins already hold every package they bring, and compiling them would need their
# indexes too (torch's +cu128 builds are on download.pytorch.org only), whose copies of
# PyPI's packages would then be locked with that index's hashes.
#
# Indexes: a .in file names its own with an `--index-url` line (layers/pytorch's names
# https://download.pytorch.org/whl/cu128, the index_url of layers/pytorch.toml); without
# one, PyPI. The locks name no index: the [layer.python] table's index_url says where
# ocibake fetches them. A later layer whose packages need an earlier layer's package from
# that layer's index (a package depending on torch, say) must name that index too
# (`--extra-index-url` in its .in file).
#
# Afterwards: `ocibake lock RECIPE` pins every wheel file by URL, size and sha256.
#
# Needs the network (PyPI, download.pytorch.org), and uv, or pip-tools 7.3 or later run by
# a Python of the target's version on the target's platform (uv resolves for any target;
# pip-compile only for the interpreter it runs under). It cannot run on a machine without
# access to those indexes, such as ocibake's CI.

set -euo pipefail

target_python=3.10
target_platform=x86_64-manylinux_2_28
tool=

usage() {
    cat <<'EOF'
usage: scripts/lock-wheels.sh [options] FIRST.in [NEXT.in ...]

Writes FIRST.txt, NEXT.txt, ... (hashed requirements for ocibake's [layer.python]),
each without the packages of the files before it. Give the .in files in the order of
the recipe's Python layers.

options:
  --python X.Y       target Python version (default 3.10: Ubuntu 22.04's python3)
  --platform TAG     target platform for uv's --python-platform
                     (default x86_64-manylinux_2_28)
  --tool uv|pip-compile
                     the resolver (default: uv when it is on PATH, else pip-compile)
  -h, --help         this text

example:
  scripts/lock-wheels.sh layers/pytorch/requirements.in \
      layers/scientific/requirements.in layers/jupyter/requirements.in
EOF
}

die() {
    echo "lock-wheels.sh: $*" >&2
    exit 2
}

inputs=()
while [ "$#" -gt 0 ]; do
    case "$1" in
    --python)
        [ "$#" -ge 2 ] || die "--python needs a value"
        target_python="$2"
        shift 2
        ;;
    --platform)
        [ "$#" -ge 2 ] || die "--platform needs a value"
        target_platform="$2"
        shift 2
        ;;
    --tool)
        [ "$#" -ge 2 ] || die "--tool needs a value"
        tool="$2"
        shift 2
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    --)
        shift
        inputs+=("$@")
        break
        ;;
    -*)
        usage >&2
        die "unknown option '$1'"
        ;;
    *)
        inputs+=("$1")
        shift
        ;;
    esac
done

if [ "${#inputs[@]}" -eq 0 ]; then
    usage >&2
    exit 2
fi
[[ "$target_python" =~ ^3\.[0-9]+$ ]] || die "--python '$target_python' is not like 3.10"
for in_file in "${inputs[@]}"; do
    case "$in_file" in
    *.in) ;;
    *) die "'$in_file' is not a .in file" ;;
    esac
    [ -f "$in_file" ] || die "'$in_file' does not exist"
done

if [ -z "$tool" ]; then
    if command -v uv >/dev/null 2>&1; then
        tool=uv
    else
        tool=pip-compile
    fi
fi
pip_compile=()
case "$tool" in
uv)
    command -v uv >/dev/null 2>&1 || die "uv is not on PATH"
    ;;
pip-compile)
    # pip-compile resolves for the interpreter that runs it: it must be the target's.
    python_bin=
    for candidate in "python$target_python" python3; do
        if command -v "$candidate" >/dev/null 2>&1; then
            python_bin="$candidate"
            break
        fi
    done
    [ -n "$python_bin" ] || die "neither uv nor python$target_python is on PATH"
    found="$("$python_bin" -c 'import platform, sys; print("%d.%d %s %s" % (sys.version_info[0], sys.version_info[1], sys.platform, platform.machine()))')"
    [ "$found" = "$target_python linux x86_64" ] ||
        die "pip-compile would resolve for $python_bin ($found), not for $target_python linux x86_64: install uv, or run this under a Python $target_python on x86_64 Linux"
    "$python_bin" -m piptools --version >/dev/null 2>&1 ||
        die "pip-tools is not installed for $python_bin (python$target_python -m pip install pip-tools), and uv is not on PATH"
    pip_compile=("$python_bin" -m piptools compile)
    ;;
*)
    die "--tool must be uv or pip-compile, not '$tool'"
    ;;
esac

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
earlier="$tmp/earlier-layers.txt" # name==version of every earlier layer's package
: >"$earlier"

# compile IN OUT: the full hashed lock of IN, constrained by the earlier layers' pins.
compile() {
    local in_file="$1" out="$2" constraints=()
    if [ -s "$earlier" ]; then
        constraints=(-c "$earlier")
    fi
    if [ "$tool" = uv ]; then
        uv pip compile "$in_file" "${constraints[@]}" --output-file "$out" \
            --generate-hashes --python-version "$target_python" \
            --python-platform "$target_platform" --no-header --quiet
    else
        "${pip_compile[@]}" "$in_file" "${constraints[@]}" --output-file "$out" \
            --generate-hashes --allow-unsafe --no-emit-index-url --no-emit-trusted-host \
            --strip-extras --no-header --quiet
    fi
}

# only_new EARLIER FULL: FULL's requirement blocks (a `name==version \` line, its
# `--hash` lines, its `# via` notes) whose name EARLIER lacks. Names compare as PEP 503
# normalises them; column-0 comments and option lines (--index-url) are dropped.
only_new() {
    awk '
        function norm(s) { s = tolower(s); gsub(/[-_.]+/, "-", s); return s }
        function name_of(line) { sub(/[[ \t;=<>!~@(].*$/, "", line); return norm(line) }
        FILENAME == ARGV[1] { if ($0 ~ /^[A-Za-z0-9]/) seen[name_of($0)] = 1; next }
        /^[A-Za-z0-9]/ { keep = !(name_of($0) in seen); if (keep) print; next }
        /^[ \t]/ { if (keep) print; next }
        { keep = 0 }
    ' "$1" "$2"
}

# pins_of LOCK: its requirement lines without the continuation backslash.
pins_of() {
    sed -n -e 's/[[:space:]]*\\$//' -e '/^[A-Za-z0-9]/p' "$1"
}

layer=0
before=()
for in_file in "${inputs[@]}"; do
    layer=$((layer + 1))
    out="${in_file%.in}.txt"
    echo "lock-wheels.sh: $in_file -> $out" >&2
    compile "$in_file" "$tmp/full-$layer.txt"
    only_new "$earlier" "$tmp/full-$layer.txt" |
        sed -e "s|$tmp/||g" >"$tmp/new-$layer.txt"
    if ! grep -q '^[A-Za-z0-9]' "$tmp/new-$layer.txt"; then
        die "$in_file adds no package that the layers before it lack (${before[*]})"
    fi
    {
        echo "# Hashed lock of $in_file for CPython $target_python on $target_platform,"
        echo "# written by scripts/lock-wheels.sh with $tool: edit the .in file and run it again."
        if [ "${#before[@]}" -gt 0 ]; then
            echo "# Left out, as the earlier layers install them: the packages of"
            for b in "${before[@]}"; do
                echo "#   ${b%.in}.txt"
            done
        fi
        cat "$tmp/new-$layer.txt"
    } >"$out"
    pins_of "$tmp/new-$layer.txt" >>"$earlier"
    before+=("$in_file")
    echo "lock-wheels.sh: $out: $(grep -c '^[A-Za-z0-9]' "$out") packages" >&2
done
