// The unpacked-layer store: each layer unpacked once, alone, for overlayfs.
//
// A layer applied to a directory of its own is not the layer applied over the layers
// below: a whiteout has nothing to delete there, and an entry whose parents the layer
// does not list gets made-up ones. So whiteouts are written as overlayfs reads them
// (`.wh.NAME` becomes a character device 0:0 named NAME, `.wh..wh..opq` the xattr
// trusted.overlay.opaque=y on its directory), and the made-up directories are listed
// (`implicit`) so that overlay_difference() can tell when an overlay would show another
// tree than a full unpack (a made-up 0755 directory over a lower 1777 /tmp, a directory
// over a lower symlink): then the image is unpacked whole instead. What overlayfs cannot
// hold at all (a real 0:0 device, an opaque root, a whiteout under which the same layer
// writes) is refused here with Error(input), and the caller falls back the same way.
#include "runtime/layer_store.hpp"
#include "common/libarchive.hpp"

#include "common/fs.hpp"
#include "common/thread_pool.hpp"
#include "layer/reader.hpp"
#include "ocibake/digest.hpp"
#include "runtime/dir_target.hpp"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <mutex>
#include <unordered_set>

namespace ocibake::detail {

namespace fs = std::filesystem;

namespace {

/// Part of the overlay-check record key: a change in how layers are kept apart.
constexpr const char* kRulesVersion = "overlay-check 1";

/// One layer into a directory of its own, whiteouts as overlayfs reads them.
class LayerTarget : public DirTarget {
public:
    using DirTarget::DirTarget;

    std::uint64_t add(const Location& at, const std::string& path, archive_entry* entry,
                      const std::string& what) {
        bool dir = libarchive().archive_entry_filetype(entry) == AE_IFDIR;
        if (libarchive().archive_entry_filetype(entry) == AE_IFCHR &&
            libarchive().archive_entry_rdevmajor(entry) == 0 &&
            libarchive().archive_entry_rdevminor(entry) == 0) {
            throw Error(ErrorKind::input,
                        what + ": a character device 0:0, which overlayfs reads as a whiteout");
        }
        std::uint64_t bytes = DirTarget::add(at, path, entry, what);
        if (dir) {
            listed_.insert(path);
            if (whiteouts_.count(path) != 0) {
                opaque_at(at, what); // deleted below, then made again: nothing below shows
            }
        }
        return bytes;
    }

    void mark_whiteout(const std::string& victim, const std::string& what) {
        auto at = parent(victim, true, what);
        if (type_at(*at) != NodeInfo::Type::missing) {
            throw Error(ErrorKind::input, what + ": deletes " + in_quotes(victim) +
                                              ", below which this layer writes");
        }
        if (::mknodat(at->dir.get(), at->name.c_str(), S_IFCHR | 0600, makedev(0, 0)) != 0) {
            throw_errno(ErrorKind::io, what + ": cannot create its overlayfs whiteout", errno);
        }
        whiteouts_.insert(victim);
    }

    void mark_opaque(const std::string& dir, const std::string& what) {
        if (dir.empty()) {
            throw Error(ErrorKind::input, what + ": empties the image root");
        }
        auto at = parent(dir, true, what);
        switch (type_at(*at)) {
        case NodeInfo::Type::missing:
            make_directory(*at, what);
            break;
        case NodeInfo::Type::directory:
            break;
        default:
            throw Error(ErrorKind::input, what + ": " + in_quotes(dir) + " is not a directory");
        }
        opaque_at(*at, what);
    }

    const std::set<std::string>& listed() const noexcept { return listed_; }

private:
    static void opaque_at(const Location& at, const std::string& what) {
        UniqueFd fd(::openat(at.dir.get(), at.name.c_str(),
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd || ::fsetxattr(fd.get(), kOpaqueXattr, "y", 1, 0) != 0) {
            throw_errno(ErrorKind::io, what + ": cannot mark it opaque (" + kOpaqueXattr + ")",
                        errno);
        }
    }

    std::set<std::string> listed_;    ///< directories the layer lists
    std::set<std::string> whiteouts_; ///< paths its whiteouts delete
};

/// A worker stops because another failed (that one's error is reported).
struct SiblingFailed {};

/// Shared by the workers of one ensure_unpacked_layers().
struct UnpackShared {
    const Interrupt* interrupt = nullptr;
    std::atomic<bool> failed{false};
    std::mutex mutex;
    UnpackProgress progress;
    std::chrono::steady_clock::time_point shown{};
    const std::function<void(const UnpackProgress&)>* report = nullptr;

    void check() const {
        if (interrupt != nullptr) {
            interrupt->check();
        }
        if (failed.load()) {
            throw SiblingFailed{};
        }
    }
    void add(std::uint64_t bytes, bool layer_done) {
        std::lock_guard lock(mutex);
        progress.bytes += bytes;
        progress.layers_done += layer_done ? 1 : 0;
        auto now = std::chrono::steady_clock::now();
        if (*report && (layer_done || now - shown > std::chrono::milliseconds(100))) {
            shown = now;
            (*report)(progress);
        }
    }
};

/// Directories below `root` the layer does not list, one relative path a line.
std::string implicit_dirs(const fs::path& root, const std::set<std::string>& listed) {
    std::string out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->symlink_status(ec).type() != fs::file_type::directory) {
            continue;
        }
        std::string rel = it->path().lexically_relative(root).string();
        if (listed.count(rel) == 0) {
            out += rel + "\n";
        }
    }
    if (ec) {
        throw Error(ErrorKind::io, "cannot list " + root.string() + ": " + ec.message());
    }
    return out;
}

/// Unpacks one layer into a fresh directory below `tmp_root`; returns it (the caller
/// publishes it). Removed again on any failure.
fs::path unpack_alone(const Store& store, const LayerResult& layer, const std::string& label,
                      const fs::path& tmp_root, UnpackShared& shared) {
    fs::path tmp = tmp_root / (layer.diff_id.hex() + "-" + std::to_string(::getpid()) + "-" +
                               random_suffix().substr(0, 8));
    TempDir cleanup(tmp);
    std::error_code ec;
    fs::create_directories(tmp / "root", ec);
    if (ec) {
        throw Error(ErrorKind::io, "cannot create " + tmp.string() + ": " + ec.message());
    }
    ::chmod((tmp / "root").c_str(), 0755);
    RootDir root(tmp / "root");
    LayerTarget target(root, label);
    Changeset<LayerTarget> changes(target, label);
    ChangeCounts counts;
    std::uint64_t pending = 0;
    read_layer(store, layer, label, [&](archive* a, archive_entry* entry) {
        shared.check();
        target.reading(a);
        changes.apply(entry, counts);
        pending += libarchive().archive_entry_filetype(entry) == AE_IFREG
                       ? static_cast<std::uint64_t>(libarchive().archive_entry_size(entry))
                       : 0;
        if (pending > (8u << 20)) {
            shared.add(pending, false);
            pending = 0;
        }
    });
    target.finish();
    atomic_write_file(tmp / "implicit", implicit_dirs(tmp / "root", target.listed()), 0644, false);
    shared.add(pending, true);
    cleanup.release();
    return tmp;
}

std::vector<std::string> read_lines(const fs::path& path) {
    std::vector<std::string> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty()) {
            out.push_back(line);
        }
    }
    return out;
}

bool has_opaque_xattr(const fs::path& dir) {
    char value[4];
    ssize_t n = ::lgetxattr(dir.c_str(), kOpaqueXattr, value, sizeof value);
    return n == 1 && value[0] == 'y';
}

bool is_whiteout(const struct stat& st) {
    return S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

std::string mode_text(const struct stat& st) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04o %u:%u", static_cast<unsigned>(st.st_mode & 07777),
                  static_cast<unsigned>(st.st_uid), static_cast<unsigned>(st.st_gid));
    return buf;
}

/// Below layer `i`, what a directory `path` that layer made up hides; "" when nothing
/// a full unpack would show differently.
std::string hidden_below(const std::vector<fs::path>& layers,
                         const std::vector<std::unordered_set<std::string>>& implicit,
                         std::size_t i, const std::string& path) {
    struct stat mine;
    if (::lstat((layers[i] / path).c_str(), &mine) != 0) {
        return "";
    }
    for (std::size_t j = i; j-- > 0;) {
        struct stat st;
        fs::path below = layers[j] / path;
        if (::lstat(below.c_str(), &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                if (implicit[j].count(path) != 0 && !has_opaque_xattr(below)) {
                    continue; // made up there too: look further down
                }
                if ((st.st_mode & 07777) != (mine.st_mode & 07777) || st.st_uid != mine.st_uid ||
                    st.st_gid != mine.st_gid) {
                    return "layer " + std::to_string(i + 1) + " has no entry for /" + path +
                           " (made " + mode_text(mine) + "), layer " + std::to_string(j + 1) +
                           " has it " + mode_text(st);
                }
                return "";
            }
            if (is_whiteout(st)) {
                return "";
            }
            return "layer " + std::to_string(i + 1) + " writes below /" + path + ", which layer " +
                   std::to_string(j + 1) + " has as a symlink or file";
        }
        // Missing there: an opaque or deleted directory on the way hides the rest.
        for (fs::path up = fs::path(path).parent_path(); !up.empty(); up = up.parent_path()) {
            if (::lstat((layers[j] / up).c_str(), &st) == 0) {
                if ((S_ISDIR(st.st_mode) && has_opaque_xattr(layers[j] / up)) || is_whiteout(st)) {
                    return "";
                }
                break;
            }
        }
    }
    return "";
}

} // namespace

std::vector<fs::path> ensure_unpacked_layers(
    const Store& store, const SourceImage& image, unsigned threads, const Interrupt* interrupt,
    const std::function<void(const UnpackProgress&)>& progress, std::size_t& unpacked) {
    fs::path base = store.unpacked_dir();
    fs::path tmp_root = base / "tmp";
    std::error_code ec;
    fs::create_directories(tmp_root, ec);
    if (ec) {
        throw Error(ErrorKind::io, "cannot create " + tmp_root.string() + ": " + ec.message());
    }
    ::chmod(base.c_str(), 0700); // root's alone: the layers' setuid files stay out of reach
    // Every layer is looked up relative to the store's directory (one path walk, not one
    // per layer), with its mtime read on the way (the last-use mark below).
    UniqueFd base_fd(::open(base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!base_fd) {
        throw_errno(ErrorKind::io, "cannot open " + base.string(), errno);
    }
    std::vector<fs::path> dirs;
    std::vector<std::size_t> missing;
    std::vector<std::int64_t> marked(image.layers.size(), 0); // mtime of the layer's dir
    for (std::size_t i = 0; i < image.layers.size(); ++i) {
        std::string hex = image.layers[i].diff_id.hex();
        dirs.push_back(base / hex);
        bool twice = std::any_of(missing.begin(), missing.end(), [&](std::size_t m) {
            return image.layers[m].diff_id == image.layers[i].diff_id;
        });
        struct stat st {};
        if (::fstatat(base_fd.get(), hex.c_str(), &st, 0) == 0 && S_ISDIR(st.st_mode)) {
            marked[i] = st.st_mtim.tv_sec;
        }
        if (!twice &&
            (marked[i] == 0 || ::fstatat(base_fd.get(), (hex + "/root").c_str(), &st, 0) != 0 ||
             !S_ISDIR(st.st_mode))) {
            missing.push_back(i);
            marked[i] = 0;
        }
    }
    unpacked = missing.size();
    if (!missing.empty()) {
        // Largest first: two cores finish together.
        std::sort(missing.begin(), missing.end(), [&](std::size_t a, std::size_t b) {
            return image.layers[a].descriptor.size > image.layers[b].descriptor.size;
        });
        UnpackShared shared;
        shared.interrupt = interrupt;
        shared.report = &progress;
        shared.progress.layers_total = missing.size();
        std::vector<std::future<fs::path>> jobs;
        {
            ThreadPool pool(std::min<unsigned>(resolve_threads(threads),
                                               static_cast<unsigned>(missing.size())));
            for (std::size_t i : missing) {
                const LayerResult& layer = image.layers[i];
                std::string label =
                    "layer " + std::to_string(i + 1) + " (" + layer.descriptor.digest.str() + ")";
                jobs.push_back(pool.submit([&store, &layer, label, &tmp_root, &shared] {
                    try {
                        return unpack_alone(store, layer, label, tmp_root, shared);
                    } catch (...) {
                        shared.failed = true;
                        throw;
                    }
                }));
            }
        }
        std::vector<TempDir> done;
        std::exception_ptr first;
        for (auto& job : jobs) {
            try {
                done.emplace_back(job.get());
            } catch (const SiblingFailed&) {
            } catch (...) {
                first = first ? first : std::current_exception();
            }
        }
        if (first) {
            std::rethrow_exception(first);
        }
        if (interrupt != nullptr) {
            interrupt->check();
        }
        // Durable before visible: one sync of the file system, then the renames.
        UniqueFd sync_fd(::open(tmp_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (sync_fd) {
            ::syncfs(sync_fd.get());
        }
        for (TempDir& tmp : done) {
            fs::path name = base / tmp.path().filename().string().substr(0, 64);
            if (::rename(tmp.path().c_str(), name.c_str()) == 0) {
                tmp.release();
            } else if (errno != EEXIST && errno != ENOTEMPTY) {
                throw_errno(ErrorKind::io, "cannot move " + tmp.path().string() + " into place",
                            errno);
            } // else another process published the same layer first: ours goes
        }
    }
    const std::int64_t due = last_use_mark_due();
    for (std::size_t i = 0; i < dirs.size(); ++i) {
        if (marked[i] <= due) { // 0: unpacked by this call (or another one just now)
            ::utimensat(base_fd.get(), dirs[i].filename().c_str(), nullptr, 0);
        }
    }
    std::vector<fs::path> roots;
    for (const fs::path& dir : dirs) {
        roots.push_back(dir / "root");
    }
    return roots;
}

std::int64_t last_use_mark_due() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               (std::chrono::system_clock::now() - std::chrono::hours(1)).time_since_epoch())
        .count();
}

std::string overlay_difference(const Store& store, const SourceImage& image,
                               const std::vector<fs::path>& layers, bool* checked_before) {
    Sha256 chain;
    chain.update(std::string(kRulesVersion) + "\n");
    for (const LayerResult& layer : image.layers) {
        chain.update(layer.diff_id.str() + "\n");
    }
    std::string key = chain.finish().hex();
    if (auto cached = store.get_record("overlay-check", key)) {
        if (checked_before != nullptr) {
            *checked_before = true;
        }
        return *cached == "ok" ? "" : *cached;
    }
    std::vector<std::unordered_set<std::string>> implicit;
    std::vector<std::vector<std::string>> lists;
    for (const fs::path& root : layers) {
        lists.push_back(read_lines(root.parent_path() / "implicit"));
        implicit.emplace_back(lists.back().begin(), lists.back().end());
    }
    std::string why;
    for (std::size_t i = 1; i < layers.size() && why.empty(); ++i) {
        for (const std::string& path : lists[i]) {
            why = hidden_below(layers, implicit, i, path);
            if (!why.empty()) {
                break;
            }
        }
    }
    store.put_record("overlay-check", key, why.empty() ? "ok" : why);
    return why;
}

std::string mount_overlay(const std::vector<fs::path>& layers, const fs::path& upper,
                          const fs::path& work, const fs::path& target) {
    // The new mount API takes one layer per call ("lowerdir+", Linux 6.8): no limit on
    // the layers' paths. Top layer first.
    int raw = ::fsopen("overlay", FSOPEN_CLOEXEC);
    if (raw >= 0) {
        UniqueFd fsfd(raw);
        bool ok = true;
        for (auto it = layers.rbegin(); ok && it != layers.rend(); ++it) {
            ok = ::fsconfig(fsfd.get(), FSCONFIG_SET_STRING, "lowerdir+", it->c_str(), 0) == 0;
        }
        // "volatile" (Linux 5.10): no sync of the upper filesystem, neither for the
        // container's fsync(2) calls nor at the unmount, where overlayfs would otherwise
        // write back the whole filesystem under it (every dirty page of every program).
        // The upper directory is thrown away with the container; it is never mounted again.
        // Older kernels do not know the flag, and go on without it.
        (void)::fsconfig(fsfd.get(), FSCONFIG_SET_FLAG, "volatile", nullptr, 0);
        ok = ok && ::fsconfig(fsfd.get(), FSCONFIG_SET_STRING, "upperdir", upper.c_str(), 0) == 0 &&
             ::fsconfig(fsfd.get(), FSCONFIG_SET_STRING, "workdir", work.c_str(), 0) == 0 &&
             ::fsconfig(fsfd.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) == 0;
        if (ok) {
            UniqueFd mnt(::fsmount(fsfd.get(), FSMOUNT_CLOEXEC, 0));
            if (mnt && ::move_mount(mnt.get(), "", AT_FDCWD, target.c_str(),
                                    MOVE_MOUNT_F_EMPTY_PATH) == 0) {
                return "";
            }
        }
    }
    // Older kernels: one option string, at most a page.
    std::string lower;
    for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
        if (it->string().find_first_of(",:") != std::string::npos) {
            return "the path " + it->string() +
                   " has ',' or ':', which overlayfs options cannot hold";
        }
        lower += (lower.empty() ? "" : ":") + it->string();
    }
    std::string options =
        "lowerdir=" + lower + ",upperdir=" + upper.string() + ",workdir=" + work.string();
    if (options.size() >= 4096) {
        return "the " + std::to_string(layers.size()) +
               " layers' paths are too long for mount(2), and this kernel has no lowerdir+";
    }
    if (::mount("overlay", target.c_str(), "overlay", 0, (options + ",volatile").c_str()) == 0 ||
        ::mount("overlay", target.c_str(), "overlay", 0, options.c_str()) == 0) {
        return "";
    }
    return std::string("cannot mount overlayfs: ") + std::strerror(errno);
}

} // namespace ocibake::detail
