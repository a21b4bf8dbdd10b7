#!/usr/bin/env bash
# fetch-tree.sh - build the ~1.1 GB benchmark tree from a pinned list of Debian 12 packages.
#
# Usage: bench/fetch-tree.sh [--list FILE] [--cache DIR]
#        bench/fetch-tree.sh --generate-list [ROOT_PACKAGE...]   # print a new list to stdout
#
# Reads bench/packages.txt (one `name=version` per line; blank lines and `#` lines ignored),
# downloads each .deb with `apt-get download` into $CACHE/debs (skipping files already there),
# verifies every .deb against the Size and SHA256 that the apt index gives for that exact
# version (re-downloading on mismatch), then unpacks all of them with `dpkg-deb -x`, in list
# order, into $CACHE/tree. The tree is rebuilt only when the sha256 of the list differs from
# the one in $CACHE/tree.stamp (or the tree is missing). Prints the tree's size and its
# file, directory, symlink and hard-link counts. Safe to run again: a second run downloads
# and unpacks nothing.
#
#   CACHE = ${OCIBAKE_BENCH_CACHE:-$HOME/.cache/ocibake-bench}
#
# Installs nothing. If the apt lists do not know a listed version, runs `apt-get update`
# once (root only) and looks again; if a version is still unknown or cannot be fetched it
# stops with the names of the packages concerned. Debian drops superseded versions of
# security/point-release updates from its mirrors, so a pinned list can go stale: then
# regenerate it with `--generate-list` (which prints the no-recommends install closure of
# the roots, resolved as if on an empty system, for the current apt lists) and commit it.
#
# Default roots for --generate-list: python3-torch libopenblas0-pthread openssh-server
# python3-pip. (Adding python3-scipy pulls in pythran -> boost + gcc and takes the tree to
# ~1.75 GB, the W1 workload of docs PERF-NOTES; without it the tree is ~1.1-1.2 GB.)
#
# Options:
#   --list FILE         package list (default: bench/packages.txt next to this script)
#   --cache DIR         cache directory (default: as above)
#   --generate-list     print the closure of the given (or default) roots as name=version
#   -h, --help          this text
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
list=$script_dir/packages.txt
cache=${OCIBAKE_BENCH_CACHE:-$HOME/.cache/ocibake-bench}
mode=fetch
roots=()

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
die() { printf 'fetch-tree: error: %s\n' "$*" >&2; exit 1; }
log() { printf 'fetch-tree: %s\n' "$*" >&2; }

while (($#)); do
    case $1 in
        --list) [[ $# -ge 2 ]] || die "--list needs a file"; list=$2; shift 2 ;;
        --cache) [[ $# -ge 2 ]] || die "--cache needs a directory"; cache=$2; shift 2 ;;
        --generate-list) mode=generate; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) die "unknown option: $1 (see --help)" ;;
        *) [[ $mode == generate ]] || die "unexpected argument: $1 (see --help)"; roots+=("$1"); shift ;;
    esac
done

for tool in apt-get apt-cache dpkg-deb sha256sum; do
    command -v "$tool" >/dev/null || die "$tool not found (this script needs Debian's apt/dpkg)"
done

if [[ $mode == generate ]]; then
    ((${#roots[@]})) || roots=(python3-torch libopenblas0-pthread openssh-server python3-pip)
    empty=$(mktemp)
    trap 'rm -f "$empty"' EXIT
    # Simulate the install on an empty dpkg status: the full no-recommends closure.
    apt-get install -s --no-install-recommends -o Dir::State::status="$empty" "${roots[@]}" \
        | sed -nE 's/^Inst ([^ ]+) \(([^ ]+) .*/\1=\2/p' | LC_ALL=C sort
    exit 0
fi

[[ -r $list ]] || die "package list not readable: $list"
mapfile -t pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$' || true)
((${#pkgs[@]})) || die "package list is empty: $list"
for p in "${pkgs[@]}"; do
    [[ $p == ?*=?* ]] || die "bad line in $list (want name=version): $p"
done

debs=$cache/debs
tree=$cache/tree
stamp=$cache/tree.stamp
mkdir -p "$debs"

staging=
tmp_tree=
cleanup() {
    [[ -n $staging ]] && rm -rf "$staging"
    [[ -n $tmp_tree ]] && rm -rf "$tmp_tree"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- index lookup: Filename/Size/SHA256 of each name=version -------------------------------
declare -A want_file want_size want_sha
lookup() {
    want_file=() want_size=() want_sha=()
    local pkg ver fn size sha line
    # One apt-cache call for all packages; unknown ones are simply absent from the output.
    while IFS= read -r line; do
        case $line in
            Package:\ *) pkg=${line#Package: } ver='' fn='' size='' sha='' ;;
            Version:\ *) ver=${line#Version: } ;;
            Filename:\ *) fn=${line#Filename: } ;;
            Size:\ *) size=${line#Size: } ;;
            SHA256:\ *) sha=${line#SHA256: } ;;
            '')
                if [[ -n ${pkg:-} && -n ${ver:-} && -n ${fn:-} && -n ${size:-} && -n ${sha:-} ]]; then
                    want_file[$pkg=$ver]=${fn##*/} want_size[$pkg=$ver]=$size want_sha[$pkg=$ver]=$sha
                fi
                pkg='' ;;
        esac
    done < <(apt-cache show "${pkgs[@]}" 2>/dev/null; echo)
}
missing_from_index() {
    local p
    for p in "${pkgs[@]}"; do [[ -n ${want_file[$p]:-} ]] || printf '%s\n' "$p"; done
}

lookup
mapfile -t unknown < <(missing_from_index)
if ((${#unknown[@]})); then
    log "${#unknown[@]} listed version(s) unknown to the apt lists (e.g. ${unknown[0]})"
    if ((EUID == 0)); then
        log "running apt-get update once"
        apt-get update -qq || log "apt-get update reported errors; looking again anyway"
        lookup
        mapfile -t unknown < <(missing_from_index)
    else
        log "not root: cannot run apt-get update"
    fi
    if ((${#unknown[@]})); then
        printf '  %s\n' "${unknown[@]}" >&2
        die "these versions are not in the apt index (superseded on the mirror?); regenerate the list: $0 --generate-list > $list"
    fi
fi

# --- download + verify ---------------------------------------------------------------------------
verify() { # path name=version -> 0 when size and sha256 match the index
    local f=$1 p=$2
    [[ -f $f ]] || return 1
    [[ $(stat -c %s "$f") == "${want_size[$p]}" ]] || return 1
    [[ $(sha256sum "$f" | cut -d' ' -f1) == "${want_sha[$p]}" ]]
}

apt_opts=(-q)
# apt drops to user _apt for downloads, which cannot write into root's cache dir; the
# files are checked against the signed index below, so run the download as root quietly.
((EUID == 0)) && apt_opts+=(-o APT::Sandbox::User=root)

todo=()
for p in "${pkgs[@]}"; do
    f=$debs/${want_file[$p]}
    if [[ -e $f ]] && ! verify "$f" "$p"; then
        log "mismatch (size/sha256), re-downloading: ${want_file[$p]}"
        rm -f "$f"
    fi
    [[ -e $f ]] || todo+=("$p")
done

if ((${#todo[@]})); then
    log "downloading ${#todo[@]} of ${#pkgs[@]} packages into $debs"
    staging=$(mktemp -d "$debs/.staging.XXXXXX")
    if ! (cd "$staging" && apt-get "${apt_opts[@]}" download "${todo[@]}" >/dev/null); then
        # Find out which ones fail, to say so.
        failed=()
        for p in "${todo[@]}"; do
            (cd "$staging" && apt-get "${apt_opts[@]}" download "$p" >/dev/null 2>&1) || failed+=("$p")
        done
        if ((${#failed[@]})); then
            printf '  %s\n' "${failed[@]}" >&2
            die "apt-get download failed for ${#failed[@]} package(s) (no network, or the version left the mirror)"
        fi
    fi
    bad=()
    for p in "${todo[@]}"; do
        # apt-get names the file from name, version (epoch as %3a) and arch; find it by
        # the index's pool file name first, else by the package-name prefix.
        src=$staging/${want_file[$p]}
        if [[ ! -e $src ]]; then
            name=${p%%=*}
            cands=("$staging/${name}_"*.deb)
            [[ -e ${cands[0]} ]] || { bad+=("$p (no file)"); continue; }
            src=${cands[0]}
        fi
        if verify "$src" "$p"; then
            mv -f "$src" "$debs/${want_file[$p]}"
        else
            bad+=("$p (size/sha256 mismatch)")
        fi
    done
    rm -rf "$staging"; staging=
    if ((${#bad[@]})); then
        printf '  %s\n' "${bad[@]}" >&2
        die "${#bad[@]} downloaded package(s) failed verification"
    fi
else
    log "all ${#pkgs[@]} packages present and verified in $debs"
fi

# --- unpack ----------------------------------------------------------------------------------
list_sum=$(sha256sum "$list" | cut -d' ' -f1)
if [[ -d $tree && -f $stamp && $(cat "$stamp") == "$list_sum" ]]; then
    log "tree up to date: $tree"
else
    log "unpacking ${#pkgs[@]} packages into $tree"
    tmp_tree=$(mktemp -d "$cache/.tree.XXXXXX")
    for p in "${pkgs[@]}"; do
        dpkg-deb -x "$debs/${want_file[$p]}" "$tmp_tree" || die "dpkg-deb -x failed: ${want_file[$p]}"
    done
    chmod 755 "$tmp_tree"   # mktemp made it 0700; the tree's root is an ordinary directory
    rm -f "$stamp"
    rm -rf "$tree"
    mv "$tmp_tree" "$tree"; tmp_tree=
    printf '%s\n' "$list_sum" > "$stamp"
fi

# --- stats -----------------------------------------------------------------------------------
bytes=$(du -sb "$tree" | cut -f1)
disk=$(du -sh "$tree" | cut -f1)
files=$(find "$tree" -type f | wc -l)
dirs=$(find "$tree" -type d | wc -l)
links=$(find "$tree" -type l | wc -l)
hard=$(find "$tree" -type f -links +1 | wc -l)
debs_bytes=0
for p in "${pkgs[@]}"; do debs_bytes=$((debs_bytes + want_size[$p])); done
printf 'tree: %s\n' "$tree"
printf 'packages: %d (%.1f MB of .deb)\n' "${#pkgs[@]}" "$(awk -v b="$debs_bytes" 'BEGIN{print b/1e6}')"
printf 'size: %s bytes (%.2f GB apparent, %s on disk)\n' "$bytes" "$(awk -v b="$bytes" 'BEGIN{print b/1e9}')" "$disk"
printf 'files: %d  dirs: %d  symlinks: %d  (files with >1 hard link: %d)\n' "$files" "$dirs" "$links" "$hard"
