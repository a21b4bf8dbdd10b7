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
#pragma once

#include "ocibake/digest.hpp"
#include "ocibake/error.hpp"

#include <filesystem>
#include <optional>
#include <string>

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

struct Lock {
    std::optional<LockedBase> base;
    bool operator==(const Lock& o) const { return base == o.base; }
};

/// `dir/name.toml` -> `dir/name.lock`.
std::filesystem::path lock_path_for(const std::filesystem::path& recipe);

/// Reads a lock file; nullopt when it does not exist. Errors are RecipeErrors at the
/// lock file's line and column.
std::optional<Lock> read_lock(const std::filesystem::path& path);

/// The lock's canonical text.
std::string to_text(const Lock& lock, const std::string& recipe_name);

/// Writes the lock atomically (temp file + rename).
void write_lock(const std::filesystem::path& path, const Lock& lock,
                const std::string& recipe_name);

} // namespace ocibake
