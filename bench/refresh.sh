#!/usr/bin/env bash
# refresh.sh - what a refresh of the flagship moves: layers whose digest changes, bytes a
# push uploads, and the time of rebuild + push (issue 11, "How it is shown").
#
# Usage: bench/refresh.sh [--cache-dir DIR] [--package NAME] [--source NAME] [--old-lock REV] [--warm] [--keep]
#
# In a temp copy of recipes/ and layers/, with docker-registry (Debian's CNCF
# distribution) on loopback with empty storage:
#   v0     ocibake build recipes/debian-pytorch.toml --push REG/flagship:v0 (no local
#          output: the layers go from the cache to the registry)
#   add    adds one package (default less) to the packages of layers/debian-base.toml,
#          `ocibake lock` (timed apart), then build --push REG/flagship:add
#   bump   swaps the lock entries of one source package (default zlib: zlib1g) for the
#          ones an older lock pins (default bf67ab0^, the lock before bookworm-updates and
#          bookworm-security: zlib1g 1:1.2.13.dfsg-1+deb12u1 goes back to 1:1.2.13.dfsg-1),
#          with the lock's `below` fingerprints of the later layers written again as
#          `ocibake lock` writes them (a version change is a pin change, not a re-resolve),
#          then build --push REG/flagship:bump
# and prints, per case: the image's layers, the layer digests not in the previous image,
# their bytes, the bytes (and blobs) the push uploaded (`push.stats` of build --json),
# the wall and CPU time of the build + push, the state layer's size, and the size of the
# .debs that changed, against the issue's goal (at most 2 layer digests change, at most
# the changed packages' size + 2 MB uploaded, rebuild + push under 10 s).
#
# With OCIBAKE_BEFORE=BINARY the same three builds run with that binary too (another
# registry, another copy, the same lock files less their [[apt.release]] tables, which an
# ocibake before issue 11 item 2 does not read): e.g. ocibake at 159ab16, before package
# parts and the state layer. Its v0 build makes its layers in the same cache (minutes the
# first time); that build is not one of the cases.
#
# Every build runs in a fresh cache of its binary's own, which holds the .debs the locks
# pin (hard links to those of --cache-dir; a .deb that one lacks is downloaded by the
# build that needs it): the v0 build makes every layer (minutes), and each case builds
# what it changes for real. With --warm, the builds use --cache-dir itself (layers it
# has from earlier runs are not built again). `ocibake lock` uses --cache-dir (its
# indexes) and needs network access to deb.debian.org.
#
# Options:
#   --cache-dir DIR   the cache with the .debs (default: $OCIBAKE_BENCH_CACHE/flagship,
#                     i.e. ~/.cache/ocibake-bench/flagship)
#   --warm            build in --cache-dir itself, not in fresh caches
#   --package NAME    the package the add case adds to debian-base (default less)
#   --source NAME     the source package whose pins the bump case swaps (default zlib)
#   --old-lock REV    the git revision whose recipes/debian-pytorch.lock has the other
#                     versions (default bf67ab0^)
#   --keep            keep the temp directory (copies, locks, JSON, registry storage)
#   -h, --help        this text
# Environment:
#   OCIBAKE              ocibake binary (default: build/release/tools/ocibake in the repository)
#   OCIBAKE_BEFORE       a second binary to compare with (optional)
#   OCIBAKE_BENCH_CACHE  where the default cache is (default: $HOME/.cache/ocibake-bench)
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(cd "$script_dir/.." && pwd)
ocibake=${OCIBAKE:-$repo_dir/build/release/tools/ocibake}
before=${OCIBAKE_BEFORE:-}
cache=${OCIBAKE_BENCH_CACHE:-$HOME/.cache/ocibake-bench}/flagship
package=less
source_pkg=zlib
old_rev='bf67ab0^'
keep=0
warm=0

usage() { sed -n '3,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
die() { printf 'refresh: error: %s\n' "$*" >&2; exit 1; }
log() { printf 'refresh: %s\n' "$*" >&2; }

while (($#)); do
    case $1 in
        --cache-dir) [[ $# -ge 2 ]] || die "--cache-dir needs a directory"; cache=$2; shift 2 ;;
        --package) [[ $# -ge 2 ]] || die "--package needs a name"; package=$2; shift 2 ;;
        --source) [[ $# -ge 2 ]] || die "--source needs a name"; source_pkg=$2; shift 2 ;;
        --old-lock) [[ $# -ge 2 ]] || die "--old-lock needs a git revision"; old_rev=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        --warm) warm=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
[[ -x $ocibake ]] || die "no ocibake at $ocibake (build it, or set OCIBAKE)"
[[ -z $before || -x $before ]] || die "OCIBAKE_BEFORE=$before is not executable"
for t in docker-registry jq python3 curl git; do
    command -v "$t" > /dev/null || die "missing: $t (apt-get install docker-registry jq python3 curl git)"
done
[[ -x /usr/bin/time ]] || die "missing: /usr/bin/time (apt-get install -y time)"

work=$(mktemp -d "${TMPDIR:-/tmp}/ocibake-refresh.XXXXXX")
reg_pid=
# shellcheck disable=SC2317  # called from the trap
cleanup() {
    if [[ -n $reg_pid ]]; then kill "$reg_pid" 2> /dev/null || true; wait "$reg_pid" 2> /dev/null || true; fi
    if ((keep)); then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

git -C "$repo_dir" show "$old_rev:recipes/debian-pytorch.lock" > "$work/old.lock" ||
    die "cannot read recipes/debian-pytorch.lock at $old_rev"

start_registry() { # start_registry DIR: a registry with empty storage in DIR; sets $host
    local dir=$1 port
    mkdir -p "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    host=127.0.0.1:$port
    cat > "$dir/config.yml" << EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
http:
  addr: $host
EOF
    docker-registry serve "$dir/config.yml" 2> "$dir/registry.log" &
    reg_pid=$!
    for _ in $(seq 100); do curl -fs "http://$host/v2/" > /dev/null && return; sleep 0.05; done
    die "docker-registry did not start ($dir/registry.log)"
}
stop_registry() { kill "$reg_pid"; wait "$reg_pid" 2> /dev/null || true; reg_pid=; }

# seed_cache DIR LOCK...: DIR a cache (made if need be) holding the .debs the locks pin that
# $cache has (hard links, else copies).
seed_cache() {
    local dir=$1 h
    shift
    mkdir -p "$dir/blobs/sha256"
    [[ -f $dir/VERSION ]] || printf 'ocibake-cache 1\n' > "$dir/VERSION"
    sed -n 's/^sha256 = "sha256:\([0-9a-f]\{64\}\)"$/\1/p' "$@" | sort -u | while read -r h; do
        [[ -f $cache/blobs/sha256/$h && ! -e $dir/blobs/sha256/$h ]] || continue
        ln "$cache/blobs/sha256/$h" "$dir/blobs/sha256/$h" 2> /dev/null ||
            cp "$cache/blobs/sha256/$h" "$dir/blobs/sha256/$h"
    done
}
build_cache() { # build_cache LABEL: the cache LABEL's builds use
    if ((warm)); then printf '%s\n' "$cache"; else printf '%s\n' "$work/$1/cache"; fi
}

# build_push LABEL BIN SRC TAG: build SRC's flagship and push it; JSON in $work/LABEL-TAG.json,
# "wall user sys" in $work/LABEL-TAG.time.
build_push() {
    local label=$1 bin=$2 src=$3 tag=$4
    ((warm)) || seed_cache "$work/$label/cache" "$src/recipes/debian-pytorch.lock" "$work/old.lock"
    sync # nothing of the previous step is left to write back during this one
    /usr/bin/time -f '%e %U %S' -o "$work/$label-$tag.time" \
        "$bin" build "$src/recipes/debian-pytorch.toml" --cache-dir "$(build_cache "$label")" \
        --push "$host/bench/flagship:$tag" --json > "$work/$label-$tag.json" 2> "$work/$label-$tag.err" ||
        { cat "$work/$label-$tag.err" >&2; die "$label: build --push of $tag failed"; }
    log "$label $tag: $(jq -r '"\(.layers | length) layers, \(.layers_built) built, pushed \(.push.stats.bytes_sent) bytes"' \
        "$work/$label-$tag.json") in $(cut -d' ' -f1 "$work/$label-$tag.time") s"
}

# --- the two edits, made once with the binary under test --------------------------------------
src=$work/after/src
mkdir -p "$src"
cp -r "$repo_dir/recipes" "$repo_dir/layers" "$src/"
cp "$src/recipes/debian-pytorch.lock" "$work/v0.lock"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log "after: $ocibake, cache $cache"
start_registry "$work/after/registry"
build_push after "$ocibake" "$src" v0

# add: the package goes after ca-certificates in debian-base's list; ocibake lock.
python3 - "$src/layers/debian-base.toml" "$package" << 'PY'
import re, sys
path, name = sys.argv[1:]
text = open(path).read()
new, n = re.subn(r'("ca-certificates",)', r'\1 "%s",' % name, text, count=1)
if n != 1 or f'"{name}"' in text:
    sys.exit(f"refresh: cannot add {name} to the packages of {path}")
open(path, "w").write(new)
PY
/usr/bin/time -f '%e %U %S' -o "$work/lock.time" "$ocibake" lock "$src/recipes/debian-pytorch.toml" \
    --cache-dir "$cache" > "$work/lock.out" 2>&1 || { cat "$work/lock.out" >&2; die "ocibake lock failed"; }
log "lock: $(tail -1 "$work/lock.out") in $(cut -d' ' -f1 "$work/lock.time") s"
cp "$src/recipes/debian-pytorch.lock" "$work/add.lock"
build_push after "$ocibake" "$src" add

# bump: the source package's entries as the old lock pins them; `below` written again.
python3 - "$src/recipes/debian-pytorch.lock" "$work/old.lock" "$source_pkg" << 'PY'
import hashlib, re, sys, tomllib
path, old_path, source = sys.argv[1:]
text = open(path).read()
old_text = open(old_path).read()

def blocks(t):
    """The [[apt.package]] tables of a lock, as (name, arch, source, text)."""
    out = []
    for m in re.finditer(r'^\[\[apt\.package\]\]\n(?:[^\n\[]+\n)+', t, re.M):
        b = m.group(0)
        f = dict(re.findall(r'^(\w+) = "([^"]*)"', b, re.M))
        out.append((f["name"], f["arch"], f.get("source", f["name"]), b, m.start(), m.end()))
    return out

old = {(n, a): b for n, a, s, b, _, _ in blocks(old_text)}
swapped = []
for n, a, s, b, start, end in reversed(blocks(text)):
    if s == source and (n, a) in old and old[(n, a)] != b:
        text = text[:start] + old[(n, a)] + text[end:]
        swapped.append(n)
if not swapped:
    sys.exit(f"refresh: the old lock pins no other version of source package {source}'s packages")

# Each [[apt]] entry's `below`: sha256 of the base's dpkg status (no base: empty) and the
# packages of the apt layers before it (lib/src/bake/apt_layers.cpp, below_fingerprint).
lock = tomllib.loads(text)
acc = "ocibake apt-below 1\n" + "sha256:" + hashlib.sha256(b"").hexdigest() + "\n"
belows = []
for layer in lock["apt"]:
    belows.append("sha256:" + hashlib.sha256(acc.encode()).hexdigest())
    for p in layer.get("package", []):
        acc += f"{p['name']} {p['version']} {p['arch']} {p['sha256']}\n"
it = iter(belows)
text = re.sub(r'^below = "sha256:[0-9a-f]{64}"$', lambda m: f'below = "{next(it)}"', text, flags=re.M)
open(path, "w").write(text)
print("refresh: bump: " + ", ".join(sorted(swapped)), file=sys.stderr)
PY
cp "$src/recipes/debian-pytorch.lock" "$work/bump.lock"
build_push after "$ocibake" "$src" bump
stop_registry

# --- the same builds with the binary from before -----------------------------------------------
strip_releases() { awk '/^\[\[apt\.release\]\]$/ {skip = 1; next} skip && /^$/ {skip = 0; next} !skip' "$1"; }
labels=(after)
if [[ -n $before ]]; then
    labels=(before after)
    bsrc=$work/before/src
    mkdir -p "$bsrc"
    cp -r "$repo_dir/recipes" "$repo_dir/layers" "$bsrc/"
    log "before: $before"
    start_registry "$work/before/registry"
    strip_releases "$work/v0.lock" > "$bsrc/recipes/debian-pytorch.lock"
    build_push before "$before" "$bsrc" v0
    cp "$src/layers/debian-base.toml" "$bsrc/layers/debian-base.toml"
    strip_releases "$work/add.lock" > "$bsrc/recipes/debian-pytorch.lock"
    build_push before "$before" "$bsrc" add
    strip_releases "$work/bump.lock" > "$bsrc/recipes/debian-pytorch.lock"
    build_push before "$before" "$bsrc" bump
    stop_registry
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- figures -----------------------------------------------------------------------------------
python3 - "$work" "${labels[@]}" << 'PY'
import hashlib, json, re, statistics, sys, tomllib
work, labels = sys.argv[1], sys.argv[2:]

def pins(path):
    lock = tomllib.load(open(path, "rb"))
    return {(p["name"], p["arch"]): p for a in lock["apt"] for p in a.get("package", [])}

def moved(a, b):
    """The .debs of lock b that lock a does not pin (new packages, other versions)."""
    pa, pb = pins(a), pins(b)
    return [p for k, p in sorted(pb.items()) if k not in pa or pa[k]["sha256"] != p["sha256"]]

mb = lambda n: f"{n / 1e6:.2f} MB"
rows = []
for label in labels:
    prev = None
    for case in ("v0", "add", "bump"):
        r = json.load(open(f"{work}/{label}-{case}.json"))
        wall, user, sys_ = map(float, open(f"{work}/{label}-{case}.time").read().split())
        layers = r["layers"]
        state = [l["size"] for l in layers if l["name"] == "state"]
        stats = r["push"]["stats"]
        if prev is None:
            prev = layers
            continue
        before_digests = {l["digest"] for l in prev}
        changed = [l for l in layers if l["digest"] not in before_digests]
        lockpair = {"add": ("v0", "add"), "bump": ("add", "bump")}[case]
        debs = moved(f"{work}/{lockpair[0]}.lock", f"{work}/{lockpair[1]}.lock")
        deb_bytes = sum(p["size"] for p in debs)
        goal = (len(changed) <= 2, stats["bytes_sent"] <= deb_bytes + 2_000_000, wall < 10)
        rows.append((label, case, len(layers), len(changed), sum(l["size"] for l in changed),
                     stats["bytes_sent"], stats["blobs_sent"], wall, user + sys_,
                     state[0] if state else None, deb_bytes, debs, changed, goal))
        prev = layers

for label, case, n, nc, cb, sent, blobs, wall, cpu, state, deb_bytes, debs, changed, goal in rows:
    print(f"{label} {case}: .debs that changed: " +
          ", ".join(f"{p['name']} {p['version']} ({p['size']:,} B)" for p in debs), file=sys.stderr)
    print(f"{label} {case}: layers changed: " +
          ", ".join(f"{l['name']} {l['digest'][7:19]} {l['size']:,} B {l['cache']}" for l in changed),
          file=sys.stderr)

print("| binary | case | layers | digests changed | bytes of changed layers | pushed (blobs) | "
      "rebuild + push wall s | CPU s | state layer | changed .debs | goal: ≤ 2 layers, ≤ .debs + 2 MB, < 10 s |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|:-:|")
for label, case, n, nc, cb, sent, blobs, wall, cpu, state, deb_bytes, debs, changed, goal in rows:
    yes = lambda ok: "yes" if ok else "**no**"
    print(f"| {label} | {case} | {n} | {nc} | {cb:,} ({mb(cb)}) | {sent:,} ({blobs}) | {wall:.2f} | "
          f"{cpu:.2f} | {f'{state:,} B' if state is not None else '-'} | {deb_bytes:,} | "
          f"{yes(goal[0])}, {yes(goal[1])}, {yes(goal[2])} |")
PY
lock_t=$(cut -d' ' -f1 "$work/lock.time")

# Beyond the two cases: every source package of the v0 lock, as if a security update moved
# it alone, from v0's own parts (split as the build splits them: [parts] of build --json).
python3 - "$work/after-v0.json" "$work/v0.lock" << 'PY'
import hashlib, json, statistics, sys, tomllib
r = json.load(open(sys.argv[1]))
lock = tomllib.load(open(sys.argv[2], "rb"))
size = {l["name"]: l["size"] for l in r["layers"]}
state = size["state"] + r["config"]["size"]
threshold, modulus = r["parts"]["threshold"], r["parts"]["modulus"]
rows = []  # (layer/source, .debs, part, part bytes)
for layer in lock["apt"]:
    units = {}
    for p in layer.get("package", []):
        s = p.get("source") or p["name"]
        units[s] = units.get(s, 0) + p["size"]
    groups, current = [], []
    for s in sorted(units, key=str.encode):  # lib/src/apt/image_build.cpp, split_packages
        if units[s] >= threshold:
            groups.append([s])
            continue
        current.append(s)
        if int.from_bytes(hashlib.sha256(s.encode()).digest()[:8], "big") % modulus == 0:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    for g in groups:
        part = layer["layer"] if len(groups) == 1 else f'{layer["layer"]}/{min(g, key=str.encode)}'
        for s in g:
            rows.append((f'{layer["layer"]}/{s}', units[s], part, size[part], units[s] >= threshold))
mb = lambda n: f"{n / 1e6:.2f}"
print(f"\nOne source package updated alone (estimate: its part as v0 has it, the state layer and "
      f"the config; {len(rows)} source packages; parts: a source of {threshold:,} B of .debs or more "
      f"alone, the others grouped, a group ending after a source whose hash is 0 mod {modulus}):\n")
print("| source packages | count | within .debs + 2 MB | upload - .debs, median MB | p90 MB | max MB |")
print("|---|---:|---:|---:|---:|---:|")
for what, sel in (("alone in a part", [x for x in rows if x[4]]),
                  ("grouped", [x for x in rows if not x[4]]), ("all", rows)):
    over = sorted(ps + state - d for _, d, _, ps, _ in sel)
    ok = sum(1 for o in over if o <= 2_000_000)
    print(f"| {what} | {len(sel)} | {ok} ({100 * ok / len(sel):.0f} %) | {mb(statistics.median(over))} | "
          f"{mb(over[int(0.9 * (len(over) - 1))])} | {mb(over[-1])} |")
worst = max(rows, key=lambda x: x[3] - x[1])
big = max((x for x in rows if not x[4]), key=lambda x: x[3])
print(f"\nLargest group: {big[2]}, {big[3]:,} B. Most over: {worst[0]} ({worst[1]:,} B of .debs, part {worst[2]} {worst[3]:,} B).")
PY
# shellcheck disable=SC2016  # backquotes for Markdown
printf '\n`ocibake lock` after adding %s: %s s (wall; resolves every layer again, reads the indexes).\n' "$package" "$lock_t"
printf 'Machine: %s cores (%s), %s, %s; load average before %s, after %s.  \n' "$(nproc)" \
    "$(awk -F': *' '/^model name/{print $2; exit}' /proc/cpuinfo)" "$(uname -r)" \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$load_before" "$load_after"
printf 'Tools: ocibake %s%s, docker-registry %s.\n' "$("$ocibake" --version | awk '{print $2}')" \
    "${before:+ (before: $before)}" "$(docker-registry --version 2>&1 | awk '{print $3}')"
