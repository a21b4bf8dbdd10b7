// Unpacking layers into a root directory, per the OCI image-spec's layer changeset rules.
//
// A layer streams: a producer thread reads the blob from the store (its digest checked at
// the end), decompresses it and hashes the tar (the diffID); pieces of the tar go through
// a bounded queue to libarchive on this thread, which applies entry after entry. Memory
// is bounded by the queue, never by the layer's size.
#include "common/archive.hpp"
#include "layer/compress.hpp"
#include "ocibake/runtime.hpp"
#include "runtime/rootfs.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <cerrno>
#include <condition_variable>
#include <deque>
#include <dirent.h>
#include <exception>
#include <fcntl.h>
#include <memory>
#include <mutex>
#include <set>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace ocibake {

namespace fs = std::filesystem;
using detail::RootDir;
using detail::Symlinks;
using detail::UniqueFd;

namespace {

constexpr std::size_t kQueuePieces = 8;
constexpr std::size_t kPieceSize = 256 << 10;

/// Pieces of the decompressed tar, from the producer to libarchive. Bounded: the
/// producer blocks while it is full (backpressure, no sleeps).
class PieceQueue {
public:
    /// False when the consumer gave up (the producer should stop).
    bool push(std::string piece) {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return cancelled_ || pieces_.size() < kQueuePieces; });
        if (cancelled_) {
            return false;
        }
        pieces_.push_back(std::move(piece));
        changed_.notify_all();
        return true;
    }
    /// The next piece; nullopt at the end of the stream.
    std::optional<std::string> pop() {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return !pieces_.empty() || closed_; });
        if (pieces_.empty()) {
            return std::nullopt;
        }
        std::string piece = std::move(pieces_.front());
        pieces_.pop_front();
        changed_.notify_all();
        return piece;
    }
    void close() {
        std::lock_guard lock(mutex_);
        closed_ = true;
        changed_.notify_all();
    }
    void cancel() {
        std::lock_guard lock(mutex_);
        cancelled_ = true;
        changed_.notify_all();
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<std::string> pieces_;
    bool closed_ = false;
    bool cancelled_ = false;
};

struct Cancelled {};

/// The producer: blob -> decompressor -> diffID hash -> queue.
class LayerStream {
public:
    LayerStream(const Store& store, const LayerResult& layer, std::string label)
        : store_(store), layer_(layer), label_(std::move(label)) {
        thread_ = std::thread([this] { produce(); });
    }
    ~LayerStream() { stop(); }

    PieceQueue& queue() noexcept { return queue_; }

    /// Reads what libarchive left (tar padding), waits for the producer and rethrows its
    /// error (a digest mismatch, a corrupt stream).
    void finish() {
        while (queue_.pop()) {
        }
        join();
    }
    /// The consumer failed: stop the producer; its own error, if any, is more telling.
    void abandon() {
        queue_.cancel();
        join();
    }

private:
    void produce() {
        try {
            Sha256 diff;
            std::string piece;
            auto flush = [&] {
                if (!piece.empty() && !queue_.push(std::move(piece))) {
                    throw Cancelled{};
                }
                piece.clear();
            };
            auto decompressor = detail::make_decompressor(
                detail::compression_of_media_type(layer_.descriptor.media_type),
                [&](const char* data, std::size_t size) {
                    diff.update(data, size);
                    while (size > 0) {
                        std::size_t n = std::min(size, kPieceSize - piece.size());
                        piece.append(data, n);
                        data += n;
                        size -= n;
                        if (piece.size() == kPieceSize) {
                            flush();
                        }
                    }
                },
                label_);
            BlobReader reader = store_.open_blob(layer_.descriptor.digest);
            decode_blob(reader, [&] {
                std::vector<char> buf(1 << 16);
                for (;;) {
                    std::size_t n = reader.read(buf.data(), buf.size());
                    if (n == 0) {
                        break;
                    }
                    decompressor->feed(buf.data(), n);
                }
                decompressor->finish();
            });
            flush();
            Digest actual = diff.finish();
            if (actual != layer_.diff_id) {
                throw Error(ErrorKind::integrity, label_ + " decompresses to " + actual.str() +
                                                      ", but the image config says " +
                                                      layer_.diff_id.str());
            }
        } catch (const Cancelled&) {
        } catch (...) {
            error_ = std::current_exception();
        }
        queue_.close();
    }

    void join() {
        if (thread_.joinable()) {
            thread_.join();
        }
        if (error_) {
            std::exception_ptr e = error_;
            error_ = nullptr;
            std::rethrow_exception(e);
        }
    }
    void stop() noexcept {
        queue_.cancel();
        if (thread_.joinable()) {
            thread_.join();
        }
    }

    const Store& store_;
    const LayerResult& layer_;
    std::string label_;
    PieceQueue queue_;
    std::exception_ptr error_;
    std::thread thread_;
};

/// libarchive's read callback: hands out queue pieces. No exception crosses it.
struct ReadContext {
    PieceQueue* queue = nullptr;
    std::string current;
};

la_ssize_t read_piece(archive*, void* opaque, const void** buffer) {
    auto* ctx = static_cast<ReadContext*>(opaque);
    std::optional<std::string> piece = ctx->queue->pop();
    if (!piece) {
        return 0;
    }
    ctx->current = std::move(*piece);
    *buffer = ctx->current.data();
    return static_cast<la_ssize_t>(ctx->current.size());
}

std::string in_quotes(std::string_view text) {
    return "'" + std::string(text) + "'";
}

std::string parent_of(const std::string& path) {
    std::size_t slash = path.rfind('/');
    return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
    std::size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// Applies the entries of one layer.
class Applier {
public:
    Applier(const RootDir& root, archive* a, std::string label)
        : root_(root), a_(a), label_(std::move(label)), buffer_(1 << 20) {}

    void apply(archive_entry* entry, UnpackStats& stats) {
        const char* raw = archive_entry_pathname(entry);
        std::string name = raw ? raw : "";
        std::optional<std::string> path = detail::clean_relative_path(name);
        if (!path) {
            throw Error(ErrorKind::input,
                        label_ + ": entry " + in_quotes(name) + " escapes the image root");
        }
        ++stats.entries;
        if (path->empty()) {
            return; // the root itself: its metadata is the bundle's
        }
        std::string base = base_of(*path);
        if (base.starts_with(".wh.")) {
            whiteout(*path, base, stats);
            return;
        }
        std::string what = label_ + ": entry " + in_quotes(*path);
        auto at = root_.parent(*path, Symlinks::strict, true, what);
        if (const char* link = archive_entry_hardlink(entry)) {
            hardlink(*at, *path, link, what);
        } else {
            switch (archive_entry_filetype(entry)) {
            case AE_IFDIR:
                directory(*at, *path, entry, what);
                break;
            case AE_IFREG:
                stats.bytes += file(*at, entry, what);
                break;
            case AE_IFLNK:
                symlink(*at, entry, what);
                break;
            case AE_IFCHR:
            case AE_IFBLK:
            case AE_IFIFO:
                special(*at, entry, what);
                break;
            default:
                return; // sockets and unknown types are not part of an image
            }
        }
        added_.insert(*path);
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

private:
    void whiteout(const std::string& path, const std::string& base, UnpackStats& stats) {
        ++stats.whiteouts;
        std::string dir = parent_of(path);
        std::string what = label_ + ": whiteout " + in_quotes(path);
        if (base == ".wh..wh..opq") {
            opaque(dir, what);
            return;
        }
        if (base.starts_with(".wh..wh.")) {
            return; // other reserved names (AUFS hard link dirs) carry nothing
        }
        std::string victim = (dir.empty() ? "" : dir + "/") + base.substr(4);
        if (added_.count(victim) != 0) {
            return; // a whiteout hides only what lower layers have
        }
        auto at = root_.parent(victim, Symlinks::strict, false, what);
        if (at) {
            detail::remove_at(at->dir.get(), at->name, what);
        }
    }

    void opaque(const std::string& dir, const std::string& what) {
        UniqueFd fd;
        if (dir.empty()) {
            fd = UniqueFd(::openat(root_.fd(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        } else {
            auto at = root_.parent(dir, Symlinks::strict, true, what);
            fd = UniqueFd(::openat(at->dir.get(), at->name.c_str(),
                                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!fd && errno == ENOENT) {
                if (::mkdirat(at->dir.get(), at->name.c_str(), 0755) != 0) {
                    detail::throw_errno(ErrorKind::io, what, errno);
                }
                return;
            }
        }
        if (!fd) {
            detail::throw_errno(ErrorKind::io, what + ": cannot open its directory", errno);
        }
        std::vector<std::string> children;
        {
            UniqueFd listing_fd(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
            DIR* listing = ::fdopendir(listing_fd.get());
            if (listing == nullptr) {
                detail::throw_errno(ErrorKind::io, what + ": cannot list its directory", errno);
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
            if (added_.count((dir.empty() ? "" : dir + "/") + child) == 0) {
                detail::remove_at(fd.get(), child, what);
            }
        }
    }

    /// Clears the name for a new entry: a directory stays only for a directory.
    static void make_room(const RootDir::Location& at, bool for_directory,
                          const std::string& what) {
        auto st = RootDir::stat_at(at);
        if (!st || (for_directory && S_ISDIR(st->st_mode))) {
            return;
        }
        detail::remove_at(at.dir.get(), at.name, what);
    }

    void metadata(const RootDir::Location& at, archive_entry* entry, bool is_symlink,
                  const std::string& what) {
        auto uid = static_cast<uid_t>(archive_entry_uid(entry));
        auto gid = static_cast<gid_t>(archive_entry_gid(entry));
        if (::fchownat(at.dir.get(), at.name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0 &&
            !(errno == EPERM && ::geteuid() != 0)) {
            detail::throw_errno(ErrorKind::io, what + ": cannot set its owner", errno);
        }
        if (!is_symlink &&
            ::fchmodat(at.dir.get(), at.name.c_str(), archive_entry_perm(entry), 0) != 0) {
            detail::throw_errno(ErrorKind::io, what + ": cannot set its mode", errno);
        }
        timespec mtime{archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)};
        timespec times[2] = {mtime, mtime};
        ::utimensat(at.dir.get(), at.name.c_str(), times, AT_SYMLINK_NOFOLLOW);
    }

    void directory(const RootDir::Location& at, const std::string& path, archive_entry* entry,
                   const std::string& what) {
        make_room(at, true, what);
        if (::mkdirat(at.dir.get(), at.name.c_str(), 0700) != 0 && errno != EEXIST) {
            detail::throw_errno(ErrorKind::io, what + ": cannot create it", errno);
        }
        metadata(at, entry, false, what);
        xattrs_at(at, entry, what);
        dir_times_.emplace_back(
            path, timespec{archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)});
    }

    std::uint64_t file(const RootDir::Location& at, archive_entry* entry, const std::string& what) {
        make_room(at, false, what);
        UniqueFd fd(::openat(at.dir.get(), at.name.c_str(),
                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!fd) {
            detail::throw_errno(ErrorKind::io, what + ": cannot create it", errno);
        }
        std::uint64_t written = 0;
        for (;;) {
            la_ssize_t n = archive_read_data(a_, buffer_.data(), buffer_.size());
            if (n < 0) {
                const char* msg = archive_error_string(a_);
                throw Error(ErrorKind::integrity, what + ": " + (msg ? msg : "cannot read"));
            }
            if (n == 0) {
                break;
            }
            detail::write_all(fd.get(), buffer_.data(), static_cast<std::size_t>(n), what);
            written += static_cast<std::uint64_t>(n);
        }
        auto uid = static_cast<uid_t>(archive_entry_uid(entry));
        auto gid = static_cast<gid_t>(archive_entry_gid(entry));
        if (::fchown(fd.get(), uid, gid) != 0 && !(errno == EPERM && ::geteuid() != 0)) {
            detail::throw_errno(ErrorKind::io, what + ": cannot set its owner", errno);
        }
        xattrs_fd(fd.get(), entry, what);
        // After chown, which clears setuid and setgid bits.
        if (::fchmod(fd.get(), archive_entry_perm(entry)) != 0) {
            detail::throw_errno(ErrorKind::io, what + ": cannot set its mode", errno);
        }
        timespec mtime{archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)};
        timespec times[2] = {mtime, mtime};
        ::futimens(fd.get(), times);
        return written;
    }

    void symlink(const RootDir::Location& at, archive_entry* entry, const std::string& what) {
        make_room(at, false, what);
        const char* target = archive_entry_symlink(entry);
        if (::symlinkat(target ? target : "", at.dir.get(), at.name.c_str()) != 0) {
            detail::throw_errno(ErrorKind::io, what + ": cannot create the symlink", errno);
        }
        metadata(at, entry, true, what);
    }

    void special(const RootDir::Location& at, archive_entry* entry, const std::string& what) {
        make_room(at, false, what);
        mode_t type = archive_entry_filetype(entry) == AE_IFCHR   ? S_IFCHR
                      : archive_entry_filetype(entry) == AE_IFBLK ? S_IFBLK
                                                                  : S_IFIFO;
        dev_t dev = makedev(archive_entry_rdevmajor(entry), archive_entry_rdevminor(entry));
        if (::mknodat(at.dir.get(), at.name.c_str(), type | 0600, dev) != 0) {
            detail::throw_errno(ErrorKind::io, what + ": cannot create it", errno);
        }
        metadata(at, entry, false, what);
    }

    void hardlink(const RootDir::Location& at, const std::string& path, const char* link,
                  const std::string& what) {
        std::optional<std::string> target = detail::clean_relative_path(link);
        if (!target || target->empty()) {
            throw Error(ErrorKind::input, what + ": hard link to " + in_quotes(link) +
                                              " points outside the image root");
        }
        if (*target == path) {
            return;
        }
        auto from = root_.parent(*target, Symlinks::strict, false, what);
        auto st = from ? RootDir::stat_at(*from) : std::nullopt;
        if (!st) {
            throw Error(ErrorKind::input,
                        what + ": hard link to " + in_quotes(*target) + ", which does not exist");
        }
        if (S_ISDIR(st->st_mode)) {
            throw Error(ErrorKind::input,
                        what + ": hard link to " + in_quotes(*target) + ", which is a directory");
        }
        make_room(at, false, what);
        if (::linkat(from->dir.get(), from->name.c_str(), at.dir.get(), at.name.c_str(), 0) != 0) {
            detail::throw_errno(ErrorKind::io, what + ": cannot link it to " + in_quotes(*target),
                                errno);
        }
    }

    /// Only user.* and security.capability: what a layer may carry (docs/runtime.md).
    static bool wanted_xattr(std::string_view name) {
        return name.starts_with("user.") || name == "security.capability";
    }

    void xattrs_fd(int fd, archive_entry* entry, const std::string& what) {
        if (archive_entry_xattr_reset(entry) == 0) {
            return;
        }
        const char* name = nullptr;
        const void* value = nullptr;
        std::size_t size = 0;
        while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
            if (wanted_xattr(name) && ::fsetxattr(fd, name, value, size, 0) != 0 &&
                errno != ENOTSUP) {
                detail::throw_errno(ErrorKind::io, what + ": cannot set xattr " + name, errno);
            }
        }
    }

    void xattrs_at(const RootDir::Location& at, archive_entry* entry, const std::string& what) {
        if (archive_entry_xattr_count(entry) == 0) {
            return;
        }
        UniqueFd fd(::openat(at.dir.get(), at.name.c_str(),
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (fd) {
            xattrs_fd(fd.get(), entry, what);
        }
    }

    const RootDir& root_;
    archive* a_;
    std::string label_;
    std::vector<char> buffer_;
    std::set<std::string> added_; ///< paths this layer wrote (whiteouts spare them)
    std::vector<std::pair<std::string, timespec>> dir_times_;
};

UnpackStats apply_stream(const RootDir& root, LayerStream& stream, const std::string& label) {
    detail::ArchiveReader a = detail::new_reader();
    archive_read_support_format_tar(a.get());
    archive_read_support_filter_none(a.get());
    ReadContext ctx{&stream.queue(), {}};
    if (archive_read_open(a.get(), &ctx, nullptr, read_piece, nullptr) != ARCHIVE_OK) {
        const char* msg = archive_error_string(a.get());
        throw Error(ErrorKind::integrity, label + ": " + (msg ? msg : "not a tar stream"));
    }
    UnpackStats stats;
    Applier applier(root, a.get(), label);
    archive_entry* entry = nullptr;
    for (;;) {
        int rc = archive_read_next_header(a.get(), &entry);
        if (rc == ARCHIVE_EOF) {
            break;
        }
        if (rc < ARCHIVE_WARN) {
            const char* msg = archive_error_string(a.get());
            throw Error(ErrorKind::integrity, label + ": " + (msg ? msg : "corrupt tar stream"));
        }
        applier.apply(entry, stats);
    }
    applier.finish();
    return stats;
}

} // namespace

UnpackStats unpack_layer(const Store& store, const LayerResult& layer, const fs::path& rootfs,
                         std::string_view label) {
    RootDir root(rootfs);
    std::string name(label);
    LayerStream stream(store, layer, name);
    UnpackStats stats;
    try {
        stats = apply_stream(root, stream, name);
    } catch (...) {
        stream.abandon(); // rethrows the producer's error (digest, corrupt data) first
        throw;
    }
    stream.finish();
    return stats;
}

UnpackStats unpack_image(const Store& store, const SourceImage& image, const fs::path& rootfs) {
    std::error_code ec;
    fs::create_directories(rootfs, ec);
    if (ec) {
        throw Error(ErrorKind::io, "cannot create " + rootfs.string() + ": " + ec.message());
    }
    ::chmod(rootfs.c_str(), 0755);
    UnpackStats total;
    for (std::size_t i = 0; i < image.layers.size(); ++i) {
        const LayerResult& layer = image.layers[i];
        std::string label =
            "layer " + std::to_string(i + 1) + " (" + layer.descriptor.digest.str() + ")";
        UnpackStats s = unpack_layer(store, layer, rootfs, label);
        total.entries += s.entries;
        total.bytes += s.bytes;
        total.whiteouts += s.whiteouts;
    }
    return total;
}

} // namespace ocibake
