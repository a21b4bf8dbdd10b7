// Internal: what the OCI changeset rules (layer/changeset.hpp) do, done to a directory.
// `run`'s full unpack applies every layer to one directory with it; the unpacked-layer
// store (runtime/layer_store.cpp) applies each layer to a directory of its own with a
// Target derived from it.
#pragma once

#include "common/archive.hpp"
#include "layer/changeset.hpp"
#include "runtime/rootfs.hpp"

#include "common/libarchive.hpp"
#include <archive.h>
#include <archive_entry.h>

#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <set>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <vector>

namespace ocibake::detail {

/// What the changeset rules do, done to a directory (Changeset's Target).
class DirTarget {
public:
    using Location = RootDir::Location;

    DirTarget(const RootDir& root, std::string label) : root_(root), label_(std::move(label)) {}

    /// The archive the entries' data is read from.
    void reading(archive* a) noexcept { a_ = a; }

    std::optional<Location> parent(std::string_view path, bool create, const std::string& what) {
        return root_.parent(path, Symlinks::strict, create, what);
    }
    Location root() { return Location{UniqueFd(::fcntl(root_.fd(), F_DUPFD_CLOEXEC, 0)), "."}; }
    static NodeInfo::Type type_at(const Location& at) {
        auto st = RootDir::stat_at(at);
        if (!st) {
            return NodeInfo::Type::missing;
        }
        if (S_ISDIR(st->st_mode)) {
            return NodeInfo::Type::directory;
        }
        return S_ISLNK(st->st_mode) ? NodeInfo::Type::symlink : NodeInfo::Type::other;
    }
    void remove(const Location& at, const std::string& what) {
        remove_at(at.dir.get(), at.name, what);
    }
    void make_directory(const Location& at, const std::string& what) {
        if (::mkdirat(at.dir.get(), at.name.c_str(), 0755) != 0) {
            throw_errno(ErrorKind::io, what, errno);
        }
    }
    void empty_directory(const Location& at, const std::string& dir,
                         const std::set<std::string>& keep, const std::string& what) {
        UniqueFd fd(::openat(at.dir.get(), at.name.c_str(),
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) {
            throw_errno(ErrorKind::io, what + ": cannot open its directory", errno);
        }
        std::vector<std::string> children;
        {
            UniqueFd listing_fd(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
            DIR* listing = ::fdopendir(listing_fd.get());
            if (listing == nullptr) {
                throw_errno(ErrorKind::io, what + ": cannot list its directory", errno);
            }
            listing_fd.release();
            while (dirent* d = ::readdir(listing)) {
                std::string child = d->d_name;
                if (child != "." && child != "..") {
                    children.push_back(std::move(child));
                }
            }
            ::closedir(listing);
        }
        for (const std::string& child : children) {
            if (keep.count((dir.empty() ? "" : dir + "/") + child) == 0) {
                remove_at(fd.get(), child, what);
            }
        }
    }
    std::uint64_t add(const Location& at, const std::string& path, archive_entry* entry,
                      const std::string& what) {
        switch (libarchive().archive_entry_filetype(entry)) {
        case AE_IFDIR:
            directory(at, path, entry, what);
            return 0;
        case AE_IFREG:
            return file(at, entry, what);
        case AE_IFLNK:
            symlink(at, entry, what);
            return 0;
        default:
            special(at, entry, what);
            return 0;
        }
    }
    void link(const Location& at, const Location& from, const std::string& target,
              const std::string& what) {
        make_room(at, false, what);
        if (::linkat(from.dir.get(), from.name.c_str(), at.dir.get(), at.name.c_str(), 0) != 0) {
            throw_errno(ErrorKind::io, what + ": cannot link it to " + in_quotes(target), errno);
        }
    }

    /// Directory times last: writing their children changed them.
    void finish() {
        for (auto it = dir_times_.rbegin(); it != dir_times_.rend(); ++it) {
            auto at = root_.parent(it->first, Symlinks::strict, false, label_);
            if (at) {
                timespec times[2] = {it->second, it->second};
                ::utimensat(at->dir.get(), at->name.c_str(), times, AT_SYMLINK_NOFOLLOW);
            }
        }
    }

protected:
    /// Clears the name for a new entry: a directory stays only for a directory.
    static void make_room(const RootDir::Location& at, bool for_directory,
                          const std::string& what) {
        auto st = RootDir::stat_at(at);
        if (!st || (for_directory && S_ISDIR(st->st_mode))) {
            return;
        }
        remove_at(at.dir.get(), at.name, what);
    }

    void metadata(const RootDir::Location& at, archive_entry* entry, bool is_symlink,
                  const std::string& what) {
        auto uid = static_cast<uid_t>(libarchive().archive_entry_uid(entry));
        auto gid = static_cast<gid_t>(libarchive().archive_entry_gid(entry));
        if (::fchownat(at.dir.get(), at.name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0 &&
            !(errno == EPERM && ::geteuid() != 0)) {
            throw_errno(ErrorKind::io, what + ": cannot set its owner", errno);
        }
        if (!is_symlink && ::fchmodat(at.dir.get(), at.name.c_str(),
                                      libarchive().archive_entry_perm(entry), 0) != 0) {
            throw_errno(ErrorKind::io, what + ": cannot set its mode", errno);
        }
        timespec mtime{libarchive().archive_entry_mtime(entry),
                       libarchive().archive_entry_mtime_nsec(entry)};
        timespec times[2] = {mtime, mtime};
        ::utimensat(at.dir.get(), at.name.c_str(), times, AT_SYMLINK_NOFOLLOW);
    }

    void directory(const RootDir::Location& at, const std::string& path, archive_entry* entry,
                   const std::string& what) {
        make_room(at, true, what);
        if (::mkdirat(at.dir.get(), at.name.c_str(), 0700) != 0 && errno != EEXIST) {
            throw_errno(ErrorKind::io, what + ": cannot create it", errno);
        }
        metadata(at, entry, false, what);
        xattrs_at(at, entry, what);
        dir_times_.emplace_back(path, timespec{libarchive().archive_entry_mtime(entry),
                                               libarchive().archive_entry_mtime_nsec(entry)});
    }

    std::uint64_t file(const RootDir::Location& at, archive_entry* entry, const std::string& what) {
        make_room(at, false, what);
        UniqueFd fd(::openat(at.dir.get(), at.name.c_str(),
                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!fd) {
            throw_errno(ErrorKind::io, what + ": cannot create it", errno);
        }
        // The data blocks at their offsets, then the entry's length: a sparse entry's holes
        // stay holes. (archive_read_data hands holes over as zeros, and a GNU header's
        // realsize field makes a hole as long as it says: 10 KB of layer wrote zeros until
        // the disk was full.)
        std::uint64_t written = 0;
        for (;;) {
            const void* block = nullptr;
            std::size_t size = 0;
            la_int64_t offset = 0;
            int rc = libarchive().archive_read_data_block(a_, &block, &size, &offset);
            if (rc == ARCHIVE_EOF) {
                break;
            }
            check_archive(a_, rc, what, "cannot read");
            if (::lseek(fd.get(), offset, SEEK_SET) != offset) {
                throw_errno(ErrorKind::io, what + ": cannot write it", errno);
            }
            write_all(fd.get(), block, size, what);
            written += size;
        }
        la_int64_t length = libarchive().archive_entry_size(entry);
        if (length > 0 && ::ftruncate(fd.get(), length) != 0) {
            int err = errno;
            if (err == EFBIG || err == EINVAL) {
                throw Error(ErrorKind::input, what + ": its size, " + std::to_string(length) +
                                                  " bytes, is more than this file system holds");
            }
            throw_errno(ErrorKind::io, what + ": cannot write it", err);
        }
        auto uid = static_cast<uid_t>(libarchive().archive_entry_uid(entry));
        auto gid = static_cast<gid_t>(libarchive().archive_entry_gid(entry));
        if (::fchown(fd.get(), uid, gid) != 0 && !(errno == EPERM && ::geteuid() != 0)) {
            throw_errno(ErrorKind::io, what + ": cannot set its owner", errno);
        }
        xattrs_fd(fd.get(), entry, what);
        // After chown, which clears setuid and setgid bits.
        if (::fchmod(fd.get(), libarchive().archive_entry_perm(entry)) != 0) {
            throw_errno(ErrorKind::io, what + ": cannot set its mode", errno);
        }
        timespec mtime{libarchive().archive_entry_mtime(entry),
                       libarchive().archive_entry_mtime_nsec(entry)};
        timespec times[2] = {mtime, mtime};
        ::futimens(fd.get(), times);
        return written;
    }

    void symlink(const RootDir::Location& at, archive_entry* entry, const std::string& what) {
        make_room(at, false, what);
        const char* target = libarchive().archive_entry_symlink(entry);
        if (::symlinkat(target ? target : "", at.dir.get(), at.name.c_str()) != 0) {
            throw_errno(ErrorKind::io, what + ": cannot create the symlink", errno);
        }
        metadata(at, entry, true, what);
    }

    void special(const RootDir::Location& at, archive_entry* entry, const std::string& what) {
        make_room(at, false, what);
        mode_t type = libarchive().archive_entry_filetype(entry) == AE_IFCHR   ? S_IFCHR
                      : libarchive().archive_entry_filetype(entry) == AE_IFBLK ? S_IFBLK
                                                                               : S_IFIFO;
        dev_t dev = makedev(libarchive().archive_entry_rdevmajor(entry),
                            libarchive().archive_entry_rdevminor(entry));
        if (::mknodat(at.dir.get(), at.name.c_str(), type | 0600, dev) != 0) {
            throw_errno(ErrorKind::io, what + ": cannot create it", errno);
        }
        metadata(at, entry, false, what);
    }

    /// Only user.* and security.capability: what a layer may carry (docs/runtime.md).
    static bool wanted_xattr(std::string_view name) {
        return name.starts_with("user.") || name == "security.capability";
    }

    void xattrs_fd(int fd, archive_entry* entry, const std::string& what) {
        if (libarchive().archive_entry_xattr_reset(entry) == 0) {
            return;
        }
        const char* name = nullptr;
        const void* value = nullptr;
        std::size_t size = 0;
        while (libarchive().archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
            if (wanted_xattr(name) && ::fsetxattr(fd, name, value, size, 0) != 0 &&
                errno != ENOTSUP) {
                throw_errno(ErrorKind::io, what + ": cannot set xattr " + name, errno);
            }
        }
    }

    void xattrs_at(const RootDir::Location& at, archive_entry* entry, const std::string& what) {
        if (libarchive().archive_entry_xattr_count(entry) == 0) {
            return;
        }
        UniqueFd fd(::openat(at.dir.get(), at.name.c_str(),
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (fd) {
            xattrs_fd(fd.get(), entry, what);
        }
    }

    const RootDir& root_;
    std::string label_;
    archive* a_ = nullptr;
    std::vector<std::pair<std::string, timespec>> dir_times_;
};

} // namespace ocibake::detail
