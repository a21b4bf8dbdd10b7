// Internal: path operations inside a root directory (an unpacked image) that never leave
// it. Every component is resolved here, one openat() at a time on directory descriptors,
// with O_NOFOLLOW: the kernel never follows a symlink on our behalf.
#pragma once

#include "common/fs.hpp"
#include "layer/changeset.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <sys/stat.h>

namespace ocibake::detail {

class RootDir {
public:
    /// Opens `root`, which must be a directory (Error(io) otherwise).
    explicit RootDir(const std::filesystem::path& root);

    const std::filesystem::path& path() const noexcept { return path_; }
    int fd() const noexcept { return fd_.get(); }

    /// A directory inside the root and a name in it (the name may not exist).
    struct Location {
        UniqueFd dir;
        std::string name;
    };

    /// Resolves every component of `path` (relative, clean) but the last. `create` makes
    /// missing directories (0755, owned by root); without it a missing one gives nullopt.
    /// `what` starts error messages ("layer 2 (sha256:…): entry 'a/b'").
    std::optional<Location> parent(std::string_view path, Symlinks mode, bool create,
                                   const std::string& what) const;

    /// Resolves the whole path with scoped symlinks, following a final symlink too when
    /// `follow` is set. nullopt when something on the way is missing.
    std::optional<Location> resolve(std::string_view path, bool follow) const;

    /// lstat of a location; nullopt when it does not exist.
    static std::optional<struct stat> stat_at(const Location& at);

    /// Reads a small file inside the root as the container would (scoped); nullopt
    /// when it is missing or not a regular file. At most `max_size` bytes are read.
    std::optional<std::string> read_file(std::string_view path, std::size_t max_size) const;

    /// Writes a regular file inside the root (scoped parents, created as needed),
    /// replacing whatever was at that name (a symlink is replaced, never followed).
    void write_file(std::string_view path, std::string_view content, unsigned mode) const;

private:
    std::optional<Location> walk(std::string_view path, Symlinks mode, bool create,
                                 bool follow_final, const std::string& what) const;
    std::filesystem::path path_;
    UniqueFd fd_;
};

/// Removes `name` in `dir`: a file, a symlink (never followed) or a whole directory tree.
/// Missing is fine. Error(io) naming `what` on failure.
void remove_at(int dir, const std::string& name, const std::string& what);

} // namespace ocibake::detail
