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
#include "common/thread_pool.hpp"
#include "ocibake/digest.hpp"
#include "runtime/rootfs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

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
    ssize_t n = ::fgetxattr(fd, kOpaqueXattr, value, sizeof value);
    return n == 1 && value[0] == 'y';
}

/// Builds the flat lower directory by directory: for each directory, what the layers
/// that have it hold is merged in memory, bottom up (a whiteout deletes, an opaque
/// directory hides what is below), then made: a hard link for each entry, a directory
/// for each directory, which becomes a task of its own. Tasks run on every core (the
/// time is the file system's: ~37,000 links and ~5,000 directories for the flagship).
class Flattener {
public:
    Flattener(const std::vector<fs::path>& layers, const Interrupt* interrupt)
        : layers_(layers), interrupt_(interrupt) {}

    void build(const fs::path& root) {
        flat_ = open_dir_at(AT_FDCWD, root.string(), root.string());
        std::vector<std::size_t> all;
        for (std::size_t i = 0; i < layers_.size(); ++i) {
            fds_.push_back(open_dir_at(AT_FDCWD, layers_[i].string(), layers_[i].string()));
            all.push_back(i);
        }
        dirs_.push_back({"", all.back()});
        queue_.push_back({"", std::move(all)});
        unsigned threads = resolve_threads(0);
        std::vector<std::thread> workers;
        for (unsigned t = 1; t < threads; ++t) {
            try {
                workers.emplace_back([this] { work(); });
            } catch (const std::system_error&) {
                break; // fewer threads: the same result
            }
        }
        work();
        for (std::thread& w : workers) {
            w.join();
        }
        if (error_) {
            std::rethrow_exception(error_);
        }
        // Directory metadata last (making their entries changed their times), split
        // between the threads as well.
        std::atomic<std::size_t> next{0};
        auto metadata = [&] {
            try {
                for (std::size_t at = next++; at < dirs_.size() && !failed_; at = next++) {
                    copy_metadata(dirs_[at].second, dirs_[at].first);
                }
            } catch (...) {
                fail(std::current_exception());
            }
        };
        workers.clear();
        for (unsigned t = 1; t < threads; ++t) {
            try {
                workers.emplace_back(metadata);
            } catch (const std::system_error&) {
                break;
            }
        }
        metadata();
        for (std::thread& w : workers) {
            w.join();
        }
        if (error_) {
            std::rethrow_exception(error_);
        }
    }

private:
    /// A directory to make the entries of: its path and the layers that hold it (as a
    /// directory, bottom first, none below an entry that replaced it).
    struct Task {
        std::string rel;
        std::vector<std::size_t> layers;
    };
    /// What a name ends up as: the topmost layer's entry, and for a directory, every
    /// layer holding it since the last one that replaced or deleted it.
    struct Pick {
        std::size_t layer = 0;
        bool dir = false;
        std::vector<std::size_t> dir_layers;
    };

    std::string where(std::size_t i, const std::string& rel) const {
        return (layers_[i] / rel).string();
    }

    void fail(std::exception_ptr e) {
        std::lock_guard lock(mutex_);
        if (!error_) {
            error_ = e;
        }
        failed_ = true;
        wake_.notify_all();
    }

    void work() {
        for (;;) {
            Task task;
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [&] { return failed_ || !queue_.empty() || active_ == 0; });
                if (failed_ || queue_.empty()) {
                    return; // failed, or nothing queued and nothing running to queue more
                }
                task = std::move(queue_.front());
                queue_.pop_front();
                ++active_;
            }
            std::vector<Task> children;
            try {
                children = make(task);
            } catch (...) {
                fail(std::current_exception());
            }
            {
                std::lock_guard lock(mutex_);
                --active_;
                for (Task& c : children) {
                    queue_.push_back(std::move(c));
                }
            }
            wake_.notify_all();
        }
    }

    std::vector<Task> make(const Task& task) {
        if (interrupt_ != nullptr) {
            interrupt_->check();
        }
        const std::string& rel = task.rel;
        std::string path = rel.empty() ? "." : rel;
        std::map<std::size_t, UniqueFd> from;
        std::map<std::string, Pick> picks;
        for (std::size_t i : task.layers) {
            UniqueFd fd = open_dir_at(fds_[i].get(), path, where(i, rel));
            if (!rel.empty() && opaque(fd.get())) {
                picks.clear(); // nothing below this layer's directory shows
            }
            for (const Entry& e : list_dir(fd.get(), where(i, rel))) {
                unsigned char type = e.type;
                if (type == DT_CHR || type == DT_UNKNOWN) {
                    struct stat st {};
                    if (::fstatat(fd.get(), e.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
                        throw_errno(ErrorKind::io, "cannot stat " + where(i, rel + "/" + e.name),
                                    errno);
                    }
                    if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
                        picks.erase(e.name); // a whiteout
                        continue;
                    }
                    type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG; // DT_REG: anything linked
                }
                Pick& p = picks[e.name];
                if (type == DT_DIR && p.dir) {
                    p.dir_layers.push_back(i);
                } else {
                    p.dir = type == DT_DIR;
                    p.dir_layers.clear();
                    if (p.dir) {
                        p.dir_layers.push_back(i);
                    }
                }
                p.layer = i;
            }
            from.emplace(i, std::move(fd));
        }
        UniqueFd to = open_dir_at(flat_.get(), path, "the flat lower's /" + rel);
        std::vector<Task> children;
        std::vector<std::pair<std::string, std::size_t>> made;
        for (auto& [name, p] : picks) {
            std::string child = rel.empty() ? name : rel + "/" + name;
            if (p.dir) {
                if (::mkdirat(to.get(), name.c_str(), 0700) != 0) {
                    throw_errno(ErrorKind::io, "cannot create the flat lower's /" + child, errno);
                }
                made.emplace_back(child, p.layer);
                children.push_back({child, std::move(p.dir_layers)});
            } else if (::linkat(from.at(p.layer).get(), name.c_str(), to.get(), name.c_str(), 0) !=
                       0) {
                throw_errno(ErrorKind::io,
                            "cannot link " + where(p.layer, child) + " into the flat lower", errno);
            }
        }
        std::lock_guard lock(mutex_);
        dirs_.insert(dirs_.end(), made.begin(), made.end());
        return children;
    }

    void copy_metadata(std::size_t i, const std::string& rel) {
        std::string path = rel.empty() ? "." : rel;
        UniqueFd from = open_dir_at(fds_[i].get(), path, where(i, rel));
        UniqueFd to = open_dir_at(flat_.get(), path, "the flat lower's /" + rel);
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
            if (name.starts_with("trusted.overlay.")) { // overlayfs's own (opaque)
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
    UniqueFd flat_;
    std::vector<UniqueFd> fds_; ///< the layers' roots

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Task> queue_;
    unsigned active_ = 0;
    std::atomic<bool> failed_{false};
    std::exception_ptr error_;
    std::vector<std::pair<std::string, std::size_t>> dirs_; ///< each directory's topmost layer
};

} // namespace

std::string flat_lower_name(const SourceImage& image) {
    Sha256 chain;
    chain.update(std::string(kFlatVersion) + "\n");
    for (const LayerResult& layer : image.layers) {
        chain.update(layer.diff_id.str() + "\n");
    }
    // This boot's: a flat lower is not synced (below), so one made before a crash is
    // never used after it.
    std::string boot = boot_id();
    boot.erase(std::remove_if(boot.begin(), boot.end(),
                              [](char c) { return !std::isxdigit(static_cast<unsigned char>(c)); }),
               boot.end());
    return "flat-" + chain.finish().hex().substr(0, 48) + "-" +
           (boot.size() >= 16 ? boot.substr(0, 16) : std::string("noboot"));
}

std::optional<fs::path> find_flat_lower(const Store& store, const std::string& name) {
    // A directory under unpacked/ is whole (renamed into place only when made): its
    // root is there.
    fs::path dir = store.unpacked_dir() / name;
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return std::nullopt;
    }
    if (st.st_mtim.tv_sec <= last_use_mark_due()) {
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
    // Not synced, unlike a layer: a syncfs waits for every dirty page of the file system
    // (2 s after an unpack of the flagship), and the name holds the boot's id instead: a
    // flat lower that a crash may have left half-written is never used again.
    fs::path dest = base / name;
    if (::rename(tmp.c_str(), dest.c_str()) == 0) {
        cleanup.release();
    } else if (errno != EEXIST && errno != ENOTEMPTY) {
        throw_errno(ErrorKind::io, "cannot move " + tmp.string() + " into place", errno);
    } // else another process made it first: ours goes
    // The same image's flat lowers of earlier boots go now (else gc, when unused).
    std::string image_part = name.substr(0, name.rfind('-') + 1);
    std::error_code ec2;
    for (const auto& e : fs::directory_iterator(base, ec2)) {
        std::string other = e.path().filename().string();
        if (other != name && other.starts_with(image_part)) {
            std::error_code ignored;
            fs::remove_all(e.path(), ignored);
        }
    }
    return dest / "root";
}

} // namespace ocibake::detail
