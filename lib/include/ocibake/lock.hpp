// ocibake: the lock file, where a recipe's remote inputs are pinned by digest.
//
// `recipes/app.toml` has its lock in `recipes/app.lock` (TOML, deterministic text, meant
// to be committed). A build uses only what the lock pins; a recipe that no longer matches
// its lock is an error naming the entry, until `ocibake lock` (or --update-lock) refreshes
// it. Format, version 1 (docs/lock.md):
//
//     version = 1
//
//     [base]
//     ref = "docker.io/library/ubuntu:24.04"   # as the recipe names it
//     platform = "linux/amd64"
//     index = "sha256:..."                     # what the tag named when locked (an index)
//     manifest = "sha256:..."                  # the image used: builds fetch this only
//
//     [[python]]                               # one per layer with [layer.python]
//     layer = "torch"
//     python = "3.11"
//     glibc = "2.36"
//     machine = "x86_64"
//
//       [[python.wheel]]                       # sorted by name, then file
//       name = "torch"
//       version = "2.7.0+cu128"
//       file = "torch-2.7.0+cu128-cp311-cp311-manylinux_2_28_x86_64.whl"
//       url = "https://download.pytorch.org/whl/cu128/torch-..."   # or path = "..."
//       size = 1234
//       sha256 = "sha256:..."
//       direct = true                          # only for a `name @ url` requirement
//
//     [[apt]]                                  # one per layer that lists packages
//     layer = "system"
//     packages = ["openssh-server", "python3"] # what the layer asks for, sorted
//     recommends = false
//     sources = "sha256:..."                   # the apt sources the packages came from
//     below = "sha256:..."                     # the installed packages they were added to
//
//     [[apt.release]]                          # each source's suite, when it was resolved
//     url = "http://deb.debian.org/debian"
//     suite = "bookworm"
//     date = "2025-01-11T10:12:07Z"            # the signed Release's Date
//
//     [[apt.package]]                          # every package installed, by name
//     name = "python3"
//     version = "3.11.2-1+b1"
//     arch = "amd64"
//     source = "python3-defaults"
//     url =
//     "http://deb.debian.org/debian/pool/main/p/python3-defaults/python3_3.11.2-1+b1_amd64.deb"
//     size = 26000
//     sha256 = "sha256:..."
//
//     [[archive]]                              # one per layer with archives
//     layer = "cudnn"
//
//       [[archive.file]]                       # in the layer's order
//       url = "https://.../cudnn-linux-x86_64-9.0.0.312_cuda12-archive.tar.xz"
//       size = 1234
//       sha256 = "sha256:..."
//       sha512 = "..."                         # when the recipe states one
//       manifest = "https://.../redistrib_9.0.0.json"   # [[layer.nvidia]] only, with
//       component = "cudnn"                    # the component and its version
//       version = "9.0.0.312"
//       platform = "linux-x86_64"
//       variant = "cuda12"                     # for components with CUDA variants
#pragma once

#include "ocibake/digest.hpp"
#include "ocibake/error.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake {

inline constexpr int lock_format_version = 1;

struct LockedBase {
    std::string ref;
    std::string platform;
    Digest index; ///< empty when the reference named a manifest
    Digest manifest;
    SourceLocation where; ///< in the lock file (when read from one)

    bool operator==(const LockedBase& o) const {
        return ref == o.ref && platform == o.platform && index == o.index && manifest == o.manifest;
    }
};

/// One wheel a Python layer installs (docs/lock.md, docs/python.md).
struct LockedWheel {
    std::string name;    ///< normalised distribution name
    std::string version; ///< as in the wheel's file name
    std::string file;    ///< the wheel's file name
    std::string url;     ///< where it is downloaded from; "" for a local file
    std::string path;    ///< a local file, relative to the lock file's folder; "" for a URL
    std::uint64_t size = 0;
    Digest sha256;
    /// Named by a direct URL (`name @ url`): installed with a direct_url.json.
    bool direct = false;
    SourceLocation where; ///< in the lock file (when read from one)

    bool operator==(const LockedWheel& o) const {
        return name == o.name && version == o.version && file == o.file && url == o.url &&
               path == o.path && size == o.size && sha256 == o.sha256 && direct == o.direct;
    }
};

/// The wheels of one layer's [layer.python], chosen for one target.
struct LockedPython {
    std::string layer;               ///< the layer's name
    std::string python;              ///< "3.11"
    std::string glibc;               ///< "2.36", or "" (no glibc: pure wheels only)
    std::string machine;             ///< "x86_64"
    std::vector<LockedWheel> wheels; ///< sorted by name, then file
    SourceLocation where;

    bool operator==(const LockedPython& o) const {
        return layer == o.layer && python == o.python && glibc == o.glibc && machine == o.machine &&
               wheels == o.wheels;
    }
};

/// One Debian package pinned for a layer.
struct LockedPackage {
    std::string name;
    std::string version;
    std::string arch;   ///< an architecture or "all"
    std::string source; ///< the source package
    std::string url;
    std::uint64_t size = 0;
    Digest sha256;
    SourceLocation where; ///< in the lock file (when read from one)

    bool operator==(const LockedPackage& o) const {
        return name == o.name && version == o.version && arch == o.arch && source == o.source &&
               url == o.url && size == o.size && sha256 == o.sha256;
    }
};

/// When a layer's packages were resolved from one source's suite: the Date of its signed
/// Release (never the clock, so that locking again gives the same text). A snapshot
/// service is asked for the archive as it was then (docs/apt.md).
struct LockedRelease {
    std::string url;       ///< the [[apt.source]]'s url
    std::string suite;     ///< as the source names it ("bookworm", "/")
    std::int64_t date = 0; ///< seconds since 1970, UTC
    SourceLocation where;  ///< in the lock file (when read from one)

    bool operator==(const LockedRelease& o) const {
        return url == o.url && suite == o.suite && date == o.date;
    }
};

/// The packages a layer installs, and what they were resolved for.
struct LockedAptLayer {
    std::string layer;                 ///< the recipe layer's name
    std::vector<std::string> packages; ///< the requests as the recipe writes them, sorted
    bool recommends = false;
    Digest sources; ///< fingerprint of the apt sources' settings
    Digest below;   ///< fingerprint of the packages installed below this layer
    /// The Release of every source and suite, in the recipe's order; empty in a lock made
    /// before ocibake recorded them (then no snapshot is asked by date).
    std::vector<LockedRelease> releases;
    std::vector<LockedPackage> installs; ///< sorted by name, then arch
    SourceLocation where;

    bool operator==(const LockedAptLayer& o) const {
        return layer == o.layer && packages == o.packages && recommends == o.recommends &&
               sources == o.sources && below == o.below && releases == o.releases &&
               installs == o.installs;
    }
};

/// One archive a layer unpacks: a [[layer.archive]], or a [[layer.nvidia]] component.
struct LockedArchive {
    std::string url;
    std::uint64_t size = 0;
    Digest sha256;
    std::string sha512;    ///< 128 hex digits, as the recipe states it, or ""
    std::string manifest;  ///< [[layer.nvidia]]: the manifest it was resolved from, or ""
    std::string component; ///< [[layer.nvidia]]: the component's name
    std::string version;   ///< [[layer.nvidia]]: the component's version
    std::string platform;  ///< [[layer.nvidia]]: "linux-x86_64", "linux-sbsa"...
    std::string variant;   ///< [[layer.nvidia]]: "cuda12", or "" (no CUDA variants)
    SourceLocation where;  ///< in the lock file (when read from one)

    bool operator==(const LockedArchive& o) const {
        return url == o.url && size == o.size && sha256 == o.sha256 && sha512 == o.sha512 &&
               manifest == o.manifest && component == o.component && version == o.version &&
               platform == o.platform && variant == o.variant;
    }
};

/// The archives of one layer, in the layer's order (its [[layer.archive]]s, then each
/// [[layer.nvidia]]'s components in the order it names them).
struct LockedArchiveLayer {
    std::string layer;
    std::vector<LockedArchive> files;
    SourceLocation where;

    bool operator==(const LockedArchiveLayer& o) const {
        return layer == o.layer && files == o.files;
    }
};

struct Lock {
    std::optional<LockedBase> base;
    std::vector<LockedArchiveLayer> archives; ///< in the recipe's layer order
    std::vector<LockedAptLayer> apt;          ///< in the recipe's layer order
    std::vector<LockedPython> python;         ///< in the recipe's layer order
    bool operator==(const Lock& o) const {
        return base == o.base && apt == o.apt && python == o.python && archives == o.archives;
    }
    /// The entry for a layer, or nullptr.
    const LockedPython* python_for(const std::string& layer) const;
    const LockedArchiveLayer* archives_for(const std::string& layer) const;
};

/// "2025-01-11T10:12:07Z": a time as the lock writes it (UTC, to the second).
std::string lock_time_text(std::int64_t seconds);
/// The time of lock_time_text()'s form; nullopt for any other text.
std::optional<std::int64_t> parse_lock_time(std::string_view text);

/// `dir/name.toml` -> `dir/name.lock`.
std::filesystem::path lock_path_for(const std::filesystem::path& recipe);

/// Reads a lock file; nullopt when it does not exist. Errors are RecipeErrors at the
/// lock file's line and column: every key of every entry is checked for its type and form
/// (URLs, sizes, digests, names, versions), unknown keys and duplicate entries refused
/// (docs/lock.md), whether or not the build will need the value. A lock that is not a
/// regular file (a FIFO) is refused (input).
std::optional<Lock> read_lock(const std::filesystem::path& path);

/// Parses lock text as if read from `path` (for messages), with the checks of read_lock().
Lock parse_lock(std::string_view text, const std::filesystem::path& path);

/// The lock's canonical text.
std::string to_text(const Lock& lock, const std::string& recipe_name);

/// Writes the lock atomically (temp file + rename).
void write_lock(const std::filesystem::path& path, const Lock& lock,
                const std::string& recipe_name);

} // namespace ocibake
