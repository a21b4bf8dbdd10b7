// A flat lower: an image's unpacked layers made into one directory tree of hard links.
//
// overlayfs looks a name up in every lower layer until one has it, so with the flagship's
// 94 layers each path a container resolves (and every name it does not find: the loader's
// library search, a shell's PATH) costs up to 94 lookups, and the mount itself 94 path
// walks. A flat lower is the image's tree once: its directories made anew (mode, owner,
// times and xattrs of the topmost layer that has each, as the overlay of the layers shows
// them), every other entry a hard link to the store's file of the topmost layer that has
// it, whiteouts and opaque directories applied. The layers' files are never written
// (overlayfs copies a file up before any change), so sharing their inodes is safe; what
// shows is their link count, one more per flat lower that holds them (docs/runtime.md).
#include "runtime/layer_store.hpp"

#include "common/fs.hpp"
#include "ocibake/digest.hpp"
#include "runtime/rootfs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <map>

namespace ocibake::detail {

namespace fs = std::filesystem;

namespace {

/// Part of the flat lower's name: a change in how one is made.
constexpr const char* kFlatVersion = "flat-lower 1";

struct Entry {
    std::string name;
    unsigned char type;
};

std::vector<Entry> list_dir(int fd, const std::string& what) {
    UniqueFd listing_fd(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    DIR* listing = listing_fd ? ::fdopendir(listing_fd.get()) : nullptr;
    if (listing == nullptr) {
        throw_errno(ErrorKind::io, "cannot list " + what, errno);
    }
    listing_fd.release();
    std::vector<Entry> out;
    errno = 0;
    while (dirent* d = ::readdir(listing)) {
        std::string_view name = d->d_name;
        if (name != "." && name != "..") {
            out.push_back({std::string(name), d->d_type});
        }
    }
    int err = errno;
    ::closedir(listing);
    if (err != 0) {
        throw_errno(ErrorKind::io, "cannot list " + what, err);
    }
    return out;
}

UniqueFd open_dir_at(int dir, const std::string& name, const std::string& what) {
    UniqueFd fd(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        throw_errno(ErrorKind::io, "cannot open " + what, errno);
    }
    return fd;
}

bool opaque(int fd) {
    char value[4];
    ssize_t n = ::fgetxattr(fd, "trusted.overlay.opaque", value, sizeof value);
    return n == 1 && value[0] == 'y';
}

class Flattener {
public:
    Flattener(const std::vector<fs::path>& layers, const Interrupt* interrupt)
        : layers_(layers), interrupt_(interrupt) {}

    void build(const fs::path& root) {
        UniqueFd flat = open_dir_at(AT_FDCWD, root.string(), root.string());
        for (std::size_t i = 0; i < layers_.size(); ++i) {
            fds_.push_back(open_dir_at(AT_FDCWD, layers_[i].string(), layers_[i].string()));
            source_[""] = i;
            merge(fds_.back().get(), flat.get(), "", i);
        }
        // Directory metadata last: making their entries changed their times.
        for (const auto& [rel, i] : source_) {
            copy_metadata(i, rel, flat.get());
        }
    }

private:
    std::string where(std::size_t i, const std::string& rel) const {
        return (layers_[i] / rel).string();
    }

    void merge(int src, int dst, const std::string& rel, std::size_t i) {
        if (interrupt_ != nullptr) {
            interrupt_->check();
        }
        for (const Entry& e : list_dir(src, where(i, rel))) {
            std::string child = rel.empty() ? e.name : rel + "/" + e.name;
            unsigned char type = e.type;
            if (type == DT_CHR || type == DT_UNKNOWN) {
                struct stat st {};
                if (::fstatat(src, e.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
                    throw_errno(ErrorKind::io, "cannot stat " + where(i, child), errno);
                }
                if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
                    remove_at(dst, e.name, "the flat lower's " + child); // a whiteout
                    forget(child);
                    continue;
                }
                type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG; // DT_REG: anything linked
            }
            if (type == DT_DIR) {
                UniqueFd from = open_dir_at(src, e.name, where(i, child));
                struct stat st {};
                bool exists = ::fstatat(dst, e.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
                if (exists && (!S_ISDIR(st.st_mode) || opaque(from.get()))) {
                    remove_at(dst, e.name, "the flat lower's " + child);
                    forget(child);
                    exists = false;
                }
                if (!exists && ::mkdirat(dst, e.name.c_str(), 0700) != 0) {
                    throw_errno(ErrorKind::io, "cannot create the flat lower's " + child, errno);
                }
                source_[child] = i;
                UniqueFd to = open_dir_at(dst, e.name, "the flat lower's " + child);
                merge(from.get(), to.get(), child, i);
                continue;
            }
            if (::linkat(src, e.name.c_str(), dst, e.name.c_str(), 0) == 0) {
                continue;
            }
            if (errno != EEXIST) {
                throw_errno(ErrorKind::io,
                            "cannot link " + where(i, child) + " into the flat lower", errno);
            }
            remove_at(dst, e.name, "the flat lower's " + child); // a lower layer's entry
            forget(child);
            if (::linkat(src, e.name.c_str(), dst, e.name.c_str(), 0) != 0) {
                throw_errno(ErrorKind::io,
                            "cannot link " + where(i, child) + " into the flat lower", errno);
            }
        }
    }

    /// A directory that is gone from the flat lower (and everything below it).
    void forget(const std::string& rel) {
        auto it = source_.lower_bound(rel);
        while (it != source_.end() &&
               (it->first == rel ||
                (it->first.size() > rel.size() && it->first.compare(0, rel.size(), rel) == 0 &&
                 it->first[rel.size()] == '/'))) {
            it = source_.erase(it);
        }
    }

    void copy_metadata(std::size_t i, const std::string& rel, int flat) {
        std::string path = rel.empty() ? "." : rel;
        UniqueFd from = open_dir_at(fds_[i].get(), path, where(i, rel));
        UniqueFd to = open_dir_at(flat, path, "the flat lower's /" + rel);
        struct stat st {};
        if (::fstat(from.get(), &st) != 0) {
            throw_errno(ErrorKind::io, "cannot stat " + where(i, rel), errno);
        }
        char names[4096];
        ssize_t n = ::flistxattr(from.get(), names, sizeof names);
        if (n < 0 && errno != ENOTSUP) {
            throw_errno(ErrorKind::io, "cannot list the xattrs of " + where(i, rel), errno);
        }
        for (ssize_t at = 0; at < n;) {
            std::string name = names + at;
            at += static_cast<ssize_t>(name.size()) + 1;
            if (name.starts_with("trusted.overlay.")) {
                continue;
            }
            char value[4096];
            ssize_t size = ::fgetxattr(from.get(), name.c_str(), value, sizeof value);
            if (size < 0 || ::fsetxattr(to.get(), name.c_str(), value,
                                        static_cast<std::size_t>(size), 0) != 0) {
                throw_errno(ErrorKind::io,
                            "cannot copy xattr " + name + " of " + where(i, rel) +
                                " to its flat lower",
                            errno);
            }
        }
        if (::fchown(to.get(), st.st_uid, st.st_gid) != 0 ||
            ::fchmod(to.get(), st.st_mode & 07777) != 0) {
            throw_errno(ErrorKind::io, "cannot set the owner and mode of the flat lower's /" + rel,
                        errno);
        }
        timespec times[2] = {st.st_atim, st.st_mtim};
        ::futimens(to.get(), times);
    }

    const std::vector<fs::path>& layers_;
    const Interrupt* interrupt_;
    std::vector<UniqueFd> fds_;                 ///< the layers' roots
    std::map<std::string, std::size_t> source_; ///< each directory's topmost layer
};

} // namespace

std::string flat_lower_name(const SourceImage& image) {
    Sha256 chain;
    chain.update(std::string(kFlatVersion) + "\n");
    for (const LayerResult& layer : image.layers) {
        chain.update(layer.diff_id.str() + "\n");
    }
    return "flat-" + chain.finish().hex();
}

std::optional<fs::path> find_flat_lower(const Store& store, const std::string& name) {
    fs::path dir = store.unpacked_dir() / name;
    struct stat st {};
    if (::stat((dir / "root").c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
        ::stat(dir.c_str(), &st) != 0) {
        return std::nullopt;
    }
    // Last use, for gc: renewed when an hour old (as the layers' marks).
    auto hour_ago =
        std::chrono::duration_cast<std::chrono::seconds>(
            (std::chrono::system_clock::now() - std::chrono::hours(1)).time_since_epoch())
            .count();
    if (st.st_mtim.tv_sec <= hour_ago) {
        ::utimensat(AT_FDCWD, dir.c_str(), nullptr, 0);
    }
    return dir / "root";
}

fs::path make_flat_lower(const Store& store, const std::string& name,
                         const std::vector<fs::path>& layers, const Interrupt* interrupt) {
    fs::path base = store.unpacked_dir();
    fs::path tmp = base / "tmp" /
                   (name + "-" + std::to_string(::getpid()) + "-" + random_suffix().substr(0, 8));
    TempDir cleanup(tmp);
    std::error_code ec;
    fs::create_directories(tmp / "root", ec);
    if (ec) {
        throw Error(ErrorKind::io, "cannot create " + tmp.string() + ": " + ec.message());
    }
    Flattener(layers, interrupt).build(tmp / "root");
    // Durable before visible, as a layer.
    UniqueFd sync_fd(::open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (sync_fd) {
        ::syncfs(sync_fd.get());
    }
    fs::path dest = base / name;
    if (::rename(tmp.c_str(), dest.c_str()) == 0) {
        cleanup.release();
    } else if (errno != EEXIST && errno != ENOTEMPTY) {
        throw_errno(ErrorKind::io, "cannot move " + tmp.string() + " into place", errno);
    } // else another process made it first: ours goes
    return dest / "root";
}

} // namespace ocibake::detail
