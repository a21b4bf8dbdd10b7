#include "ocibake/cas.hpp"

#include "common/fs.hpp"
#include "digest/hash_fd.hpp"
#include "ocibake/error.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <linux/fs.h>
#include <mutex>
#include <set>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace ocibake {

namespace fs = std::filesystem;
using detail::UniqueFd;

namespace {

constexpr std::string_view kVersionText = "ocibake-cache 1\n";
// Start writeback of what a BlobWriter wrote every this many bytes, so that the fsync in
// commit() has little left to wait for.
constexpr std::uint64_t kWritebackStep = 8ull << 20;

bool valid_record_name(std::string_view name) {
    if (name.empty() || name.size() > 200 || name[0] == '.') {
        return false;
    }
    for (char c : name) {
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
        if (!ok) {
            return false;
        }
    }
    return true;
}

std::string corrupt_message(const DroppedBlob& dropped) {
    return "cached blob " + dropped.digest.str() + " (" + dropped.path.string() +
           ") is corrupt: " + dropped.reason +
           "; it was removed from the cache, run the command again";
}

// Hashes a blob file (gc: no build runs). Why it is not the blob `digest`, if it is not.
std::optional<DroppedBlob> check_blob_file(const fs::path& path, const Digest& digest) {
    DroppedBlob out{digest, path, {}};
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        out.reason = std::string("it cannot be opened: ") + std::strerror(errno);
        return out;
    }
    UniqueFd guard(fd);
    int error = 0;
    std::optional<Digest> actual = detail::sha256_of_fd(fd, error);
    if (!actual) {
        out.reason = std::string("it cannot be read: ") + std::strerror(error);
        return out;
    }
    if (*actual == digest) {
        return std::nullopt;
    }
    out.reason = "its bytes hash to " + actual->str();
    return out;
}

bool same_file(const struct stat& a, const struct stat& b) {
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

} // namespace

// The blobs a Store dropped, shared with the readers it opened (which may outlive
// nothing but may run on other threads).
struct DropLog {
    fs::path root;
    std::mutex mutex;
    std::vector<DroppedBlob> dropped;

    // Removes the corrupt blob file `path`, which `fd` has open, and remembers it. Safe
    // with concurrent builds: the file is first moved into tmp/ (atomic), then removed
    // only if it is the file that was read; a good blob that another build committed
    // under the same name in between is put back.
    void drop(const fs::path& path, int fd, DroppedBlob what) {
        fs::path aside = root / "tmp" /
                         ("corrupt-" + std::to_string(::getpid()) + "-" + detail::random_suffix());
        if (::rename(path.c_str(), aside.c_str()) == 0) {
            struct stat moved {};
            struct stat ours {};
            bool ours_known = fd >= 0 && ::fstat(fd, &ours) == 0;
            if (ours_known && ::lstat(aside.c_str(), &moved) == 0 && !same_file(moved, ours)) {
                // Not the corrupt file: a fresh one, verified when it was written.
                if (::renameat2(AT_FDCWD, aside.c_str(), AT_FDCWD, path.c_str(),
                                RENAME_NOREPLACE) != 0) {
                    ::unlink(aside.c_str()); // another fresh copy is already there
                }
            } else {
                ::unlink(aside.c_str());
            }
        }
        // Gone already: another reader found it corrupt too.
        std::lock_guard lock(mutex);
        dropped.push_back(std::move(what));
    }
};

// ---------------------------------------------------------------------------------------
/// The records a build used, for a remote cache export (Store::journal()).
struct RecordJournal {
    std::mutex mutex;
    std::set<std::string> namespaces;
    std::set<RecordUse> used;
};

struct Store::Impl {
    fs::path root;
    UniqueFd lock_fd;
    bool exclusive = false;
    std::shared_ptr<DropLog> drops = std::make_shared<DropLog>();
    const RecordOverlay* overlay = nullptr;
    std::shared_ptr<RecordJournal> journal = std::make_shared<RecordJournal>();

    void note(std::string_view ns, std::string_view key) const {
        std::lock_guard lock(journal->mutex);
        if (journal->namespaces.count(std::string(ns)) != 0) {
            journal->used.insert({std::string(ns), std::string(key)});
        }
    }
};

fs::path Store::default_root() {
    if (const char* dir = std::getenv("OCIBAKE_CACHE_DIR"); dir && *dir) {
        return fs::path(dir);
    }
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg && xdg[0] == '/') {
        return fs::path(xdg) / "ocibake";
    }
    if (const char* home = std::getenv("HOME"); home && *home) {
        return fs::path(home) / ".cache" / "ocibake";
    }
    throw Error(ErrorKind::usage,
                "cannot find a cache directory: set OCIBAKE_CACHE_DIR, XDG_CACHE_HOME or HOME, "
                "or pass --cache-dir");
}

Store::Store(fs::path root, StoreLock lock) : impl_(std::make_unique<Impl>()) {
    impl_->root = fs::absolute(root).lexically_normal();
    impl_->drops->root = impl_->root;
    impl_->exclusive = lock == StoreLock::exclusive;
    std::error_code ec;
    for (const char* sub : {"blobs/sha256", "records", "tmp"}) {
        fs::create_directories(impl_->root / sub, ec);
        if (ec) {
            throw Error(ErrorKind::io, "cannot create cache directory " +
                                           (impl_->root / sub).string() + ": " + ec.message());
        }
    }
    impl_->lock_fd = detail::open_file(impl_->root / "lock", O_RDWR | O_CREAT, ErrorKind::io, 0644);
    int op = impl_->exclusive ? LOCK_EX : LOCK_SH;
    while (::flock(impl_->lock_fd.get(), op) != 0) {
        if (errno != EINTR) {
            detail::throw_errno(ErrorKind::io, "cannot lock cache " + impl_->root.string(), errno);
        }
    }
    fs::path version = impl_->root / "VERSION";
    if (fs::exists(version)) {
        std::string text = detail::read_file(version, ErrorKind::io, 4096);
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
            text.pop_back();
        }
        if (text != kVersionText.substr(0, kVersionText.size() - 1)) {
            throw Error(ErrorKind::io, "cache " + impl_->root.string() + " has format '" +
                                           text.substr(0, text.find('\n')) +
                                           "', not 'ocibake-cache 1': use another --cache-dir or "
                                           "remove it");
        }
    } else {
        detail::atomic_write_file(version, kVersionText);
    }
}

Store::~Store() = default;
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;

const fs::path& Store::root() const noexcept {
    return impl_->root;
}

fs::path Store::blob_path(const Digest& digest) const {
    return impl_->root / "blobs" / "sha256" / digest.hex();
}

bool Store::has_blob(const Digest& digest) const {
    struct stat st;
    return ::stat(blob_path(digest).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::optional<std::uint64_t> Store::blob_size(const Digest& digest) const {
    struct stat st;
    if (::stat(blob_path(digest).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        return std::nullopt;
    }
    return static_cast<std::uint64_t>(st.st_size);
}

fs::path Store::temp_path(std::string_view hint) const {
    return impl_->root / "tmp" /
           (std::string(hint) + "-" + std::to_string(::getpid()) + "-" + detail::random_suffix());
}

// ---------------------------------------------------------------------------------------
struct BlobWriter::Impl {
    fs::path dir; // blobs/sha256
    fs::path tmp;
    UniqueFd fd;
    Sha256 hash;
    std::uint64_t size = 0;
    std::uint64_t writeback_from = 0;
    bool done = false;

    ~Impl() {
        if (!done && !tmp.empty()) {
            ::unlink(tmp.c_str());
        }
    }
};

BlobWriter::BlobWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BlobWriter::BlobWriter(BlobWriter&&) noexcept = default;
BlobWriter& BlobWriter::operator=(BlobWriter&&) noexcept = default;
BlobWriter::~BlobWriter() = default;

void BlobWriter::write(const void* data, std::size_t size) {
    detail::write_all(impl_->fd.get(), data, size, impl_->tmp.native());
    impl_->hash.update(data, size);
    impl_->size += size;
    if (impl_->size - impl_->writeback_from >= kWritebackStep) {
        ::sync_file_range(impl_->fd.get(), static_cast<off_t>(impl_->writeback_from),
                          static_cast<off_t>(impl_->size - impl_->writeback_from),
                          SYNC_FILE_RANGE_WRITE);
        impl_->writeback_from = impl_->size;
    }
}

std::uint64_t BlobWriter::size() const noexcept {
    return impl_->size;
}

Digest BlobWriter::commit(std::optional<Digest> expected) {
    if (impl_->done) {
        throw Error(ErrorKind::internal, "BlobWriter::commit called on a finished writer");
    }
    Digest digest = impl_->hash.finish();
    if (expected && *expected != digest) {
        // The writer is spent: its bytes are dropped and a later commit() is refused.
        impl_->done = true;
        impl_->fd.reset();
        ::unlink(impl_->tmp.c_str());
        throw Error(ErrorKind::integrity, "content does not match its digest: expected " +
                                              expected->str() + ", got " + digest.str());
    }
    detail::sync_fd(impl_->fd.get(), impl_->tmp);
    impl_->fd.reset();
    fs::path dest = impl_->dir / digest.hex();
    if (::rename(impl_->tmp.c_str(), dest.c_str()) != 0) {
        detail::throw_errno(ErrorKind::io, "cannot store blob " + dest.string(), errno);
    }
    impl_->done = true;
    detail::sync_dir(impl_->dir); // make the rename itself durable
    return digest;
}

BlobWriter Store::new_blob() {
    auto impl = std::make_unique<BlobWriter::Impl>();
    impl->dir = impl_->root / "blobs" / "sha256";
    impl->tmp = temp_path("blob");
    impl->fd = detail::open_file(impl->tmp, O_WRONLY | O_CREAT | O_EXCL, ErrorKind::io, 0644);
    return BlobWriter(std::move(impl));
}

Digest Store::put_bytes(std::string_view bytes) {
    Digest digest = sha256_of(bytes);
    if (has_blob(digest)) {
        return digest;
    }
    BlobWriter w = new_blob();
    w.write(bytes);
    return w.commit(digest);
}

Digest Store::put_file(const fs::path& source, std::optional<Digest> expected) {
    if (expected && has_blob(*expected)) {
        return *expected;
    }
    UniqueFd in = detail::open_regular(source, ErrorKind::input);
    BlobWriter w = new_blob();
    std::vector<char> buf(1 << 20);
    for (;;) {
        std::size_t n =
            detail::read_some(in.get(), buf.data(), buf.size(), source.native(), ErrorKind::input);
        if (n == 0) {
            break;
        }
        w.write(buf.data(), n);
    }
    try {
        return w.commit(expected);
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::integrity) {
            throw Error(ErrorKind::integrity, source.string() + ": " + e.what());
        }
        throw;
    }
}

// ---------------------------------------------------------------------------------------
struct BlobReader::Impl {
    fs::path path;
    Digest expected;
    UniqueFd fd;
    Sha256 hash;
    std::uint64_t size = 0;
    bool checked = false;
    std::shared_ptr<DropLog> drops;

    // At the end: compares the hash with the name; a corrupt blob is dropped and thrown.
    void check(std::string_view symptom) {
        Digest actual = hash.finish();
        checked = true;
        if (actual == expected) {
            return;
        }
        DroppedBlob dropped{expected, path, "its bytes hash to " + actual.str()};
        if (!symptom.empty()) {
            dropped.reason += " (reading it failed: " + std::string(symptom) + ")";
        }
        std::string message = corrupt_message(dropped);
        drops->drop(path, fd.get(), std::move(dropped));
        throw Error(ErrorKind::integrity, message);
    }
};

BlobReader::BlobReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BlobReader::BlobReader(BlobReader&&) noexcept = default;
BlobReader& BlobReader::operator=(BlobReader&&) noexcept = default;
BlobReader::~BlobReader() = default;

std::uint64_t BlobReader::size() const noexcept {
    return impl_->size;
}

std::size_t BlobReader::read(void* buffer, std::size_t size) {
    if (impl_->checked) {
        return 0;
    }
    std::size_t n = detail::read_some(impl_->fd.get(), buffer, size, impl_->path.native());
    if (n > 0) {
        impl_->hash.update(buffer, n);
        return n;
    }
    impl_->check({});
    return 0;
}

void BlobReader::verify_rest(std::string_view symptom) {
    if (impl_->checked) {
        return; // read to the end: its digest matched (or read() threw already)
    }
    std::vector<char> buf(1 << 20);
    for (;;) {
        ssize_t n = ::read(impl_->fd.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return; // cannot tell: the caller's own error stands
        }
        if (n == 0) {
            break;
        }
        impl_->hash.update(buf.data(), static_cast<std::size_t>(n));
    }
    impl_->check(symptom);
}

BlobReader Store::open_blob(const Digest& digest) const {
    auto impl = std::make_unique<BlobReader::Impl>();
    impl->path = blob_path(digest);
    impl->expected = digest;
    impl->drops = impl_->drops;
    int fd = ::open(impl->path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        if (err == ENOENT) {
            throw Error(ErrorKind::integrity,
                        "blob " + digest.str() + " is not in the cache " + impl_->root.string());
        }
        detail::throw_errno(ErrorKind::io, "cannot open " + impl->path.string(), err);
    }
    impl->fd = UniqueFd(fd);
    struct stat st;
    if (::fstat(fd, &st) == 0) {
        impl->size = static_cast<std::uint64_t>(st.st_size);
    }
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return BlobReader(std::move(impl));
}

std::string Store::read_blob(const Digest& digest, std::size_t max_size) const {
    BlobReader r = open_blob(digest);
    if (r.size() > max_size) {
        throw Error(ErrorKind::integrity, "blob " + digest.str() + " is " +
                                              std::to_string(r.size()) + " bytes, more than the " +
                                              std::to_string(max_size) + " expected");
    }
    std::string out(r.size(), '\0');
    std::size_t got = 0;
    for (;;) {
        if (got == out.size()) {
            out.resize(out.size() + 4096);
        }
        std::size_t n = r.read(out.data() + got, out.size() - got);
        if (n == 0) {
            break;
        }
        got += n;
        if (got > max_size) {
            throw Error(ErrorKind::integrity, "blob " + digest.str() + " grew while being read");
        }
    }
    out.resize(got);
    return out;
}

void Store::export_blob(const Digest& digest, const fs::path& dest, bool durable) const {
    BlobReader r = open_blob(digest);
    UniqueFd out = detail::open_file(dest, O_WRONLY | O_CREAT | O_EXCL, ErrorKind::io, 0644);
    try {
        // A reflink shares the blocks, copy-on-write, never the inode: editing the output
        // cannot reach the cache. The blob is read all the same, to verify it.
        bool cloned = ::ioctl(out.get(), FICLONE, r.impl_->fd.get()) == 0;
        std::vector<char> buf(1 << 20);
        std::uint64_t written = 0;
        std::uint64_t writeback_from = 0;
        for (;;) {
            std::size_t n = r.read(buf.data(), buf.size());
            if (n == 0) {
                break;
            }
            if (cloned) {
                continue;
            }
            detail::write_all(out.get(), buf.data(), n, dest.native());
            written += n;
            if (durable && written - writeback_from >= kWritebackStep) {
                ::sync_file_range(out.get(), static_cast<off_t>(writeback_from),
                                  static_cast<off_t>(written - writeback_from),
                                  SYNC_FILE_RANGE_WRITE);
                writeback_from = written;
            }
        }
        if (durable) {
            detail::sync_fd(out.get(), dest);
        }
    } catch (...) {
        out.reset();
        ::unlink(dest.c_str());
        throw;
    }
}

bool Store::verify_blob(const Digest& digest) const {
    try {
        BlobReader r = open_blob(digest);
        std::vector<char> buf(1 << 20);
        while (r.read(buf.data(), buf.size()) > 0) {
        }
        return true;
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::integrity) {
            return false;
        }
        throw;
    }
}

std::vector<DroppedBlob> Store::dropped_blobs() const {
    std::lock_guard lock(impl_->drops->mutex);
    return impl_->drops->dropped;
}

// ---------------------------------------------------------------------------------------
namespace {

void check_record_name(std::string_view ns, std::string_view key) {
    if (!valid_record_name(ns) || !valid_record_name(key)) {
        throw Error(ErrorKind::internal,
                    "invalid cache record name " + std::string(ns) + "/" + std::string(key));
    }
    if (find_record_namespace(ns) == nullptr) {
        throw Error(ErrorKind::internal, "cache record namespace '" + std::string(ns) +
                                             "' is not declared in cas/namespaces.cpp");
    }
}

} // namespace

std::optional<std::string> Store::get_record(std::string_view ns, std::string_view key) const {
    check_record_name(ns, key);
    fs::path path = impl_->root / "records" / ns / key;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            std::optional<std::string> other;
            if (impl_->overlay != nullptr && (other = impl_->overlay->get_record(ns, key))) {
                impl_->note(ns, key);
            }
            return other;
        }
        detail::throw_errno(ErrorKind::io, "cannot read cache record " + path.string(), errno);
    }
    impl_->note(ns, key);
    UniqueFd guard(fd);
    std::string text;
    char buf[4096];
    for (;;) {
        std::size_t n = detail::read_some(fd, buf, sizeof buf, path.native());
        if (n == 0) {
            break;
        }
        text.append(buf, n);
    }
    ::futimens(fd, nullptr); // mark as used now (drives gc)
    return text;
}

void Store::put_record(std::string_view ns, std::string_view key, std::string_view value) const {
    check_record_name(ns, key);
    fs::path dir = impl_->root / "records" / ns;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
        throw Error(ErrorKind::io, "cannot create " + dir.string() + ": " + ec.message());
    }
    // Not fsync'd: after a crash a record is old, new or empty, and an empty or unreadable
    // record is a cache miss. Blobs, which records point to, are fsync'd.
    detail::atomic_write_file(dir / key, value, 0644, /*durable=*/false);
    impl_->note(ns, key);
}

void Store::set_overlay(const RecordOverlay* overlay) noexcept {
    impl_->overlay = overlay;
}

const RecordOverlay* Store::overlay() const noexcept {
    return impl_->overlay;
}

std::optional<std::uint64_t> Store::overlay_blob_size(const Digest& digest) const {
    if (impl_->overlay == nullptr || has_blob(digest)) {
        return std::nullopt;
    }
    return impl_->overlay->blob_size(digest);
}

void Store::keep_journal(std::vector<std::string> namespaces) {
    std::lock_guard lock(impl_->journal->mutex);
    impl_->journal->namespaces.insert(namespaces.begin(), namespaces.end());
}

std::vector<RecordUse> Store::journal() const {
    std::lock_guard lock(impl_->journal->mutex);
    return {impl_->journal->used.begin(), impl_->journal->used.end()};
}

// ---------------------------------------------------------------------------------------
fs::path Store::unpacked_dir() const {
    return impl_->root / "unpacked";
}

void Store::put_lease(std::string_view id, int pid, const fs::path& mount,
                      const std::vector<std::string>& layers) const {
    std::string text = "pid " + std::to_string(pid) + "\nstart " +
                       std::to_string(detail::process_start_time(pid)) + "\nmount " +
                       mount.string() + "\n";
    for (const std::string& layer : layers) {
        text += "layer " + layer + "\n";
    }
    fs::path dir = impl_->root / "leases";
    std::error_code ec;
    fs::create_directories(dir, ec);
    detail::atomic_write_file(dir / std::string(id), text, 0644, /*durable=*/false);
}

void Store::drop_lease(std::string_view id) const {
    std::error_code ec;
    fs::remove(impl_->root / "leases" / std::string(id), ec);
}

namespace {

/// The layers of the leases still held (their process runs or their mount exists);
/// removes the others. Returns how many it removed.
std::uint64_t live_leases(const fs::path& dir, bool dry_run, std::set<std::string>& layers) {
    std::uint64_t removed = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        std::string text;
        try {
            text = detail::read_file(entry.path(), ErrorKind::io, 1 << 20);
        } catch (const Error&) {
            continue; // being written: keep it
        }
        int pid = 0;
        std::uint64_t start = 0;
        std::string mount;
        std::vector<std::string> names;
        std::size_t at = 0;
        while (at < text.size()) {
            std::size_t end = text.find('\n', at);
            std::string line = text.substr(at, end - at);
            at = end == std::string::npos ? text.size() : end + 1;
            std::size_t space = line.find(' ');
            std::string key = line.substr(0, space);
            std::string value = space == std::string::npos ? "" : line.substr(space + 1);
            if (key == "pid") {
                pid = std::atoi(value.c_str());
            } else if (key == "start") {
                start = std::strtoull(value.c_str(), nullptr, 10);
            } else if (key == "mount") {
                mount = value;
            } else if (key == "layer") {
                names.push_back(value);
            }
        }
        if (detail::process_alive(pid, start) || (!mount.empty() && detail::is_mounted(mount))) {
            layers.insert(names.begin(), names.end());
            continue;
        }
        if (!dry_run) {
            fs::remove(entry.path(), ec);
        }
        ++removed;
    }
    return removed;
}

} // namespace

GcReport Store::gc(const GcOptions& options) {
    if (!impl_->exclusive) {
        throw Error(ErrorKind::internal, "cache gc needs an exclusively locked store");
    }
    GcReport report;
    auto now = fs::file_time_type::clock::now();
    auto stale = [&](const fs::path& p) {
        std::error_code ec;
        auto t = fs::last_write_time(p, ec);
        return ec || options.max_age.count() == 0 || now - t > options.max_age;
    };
    auto remove = [&](const fs::path& p) {
        if (!options.dry_run) {
            std::error_code ec;
            fs::remove_all(p, ec);
        }
    };

    // No build runs while we hold the lock exclusively: every temp file is a leftover.
    for (const auto& entry : fs::directory_iterator(impl_->root / "tmp")) {
        remove(entry.path());
        ++report.temp_files_removed;
    }

    std::set<Digest> live;
    for (const auto& ns : fs::directory_iterator(impl_->root / "records")) {
        if (!ns.is_directory()) {
            continue;
        }
        std::string ns_name = ns.path().filename().string();
        for (const auto& rec : fs::directory_iterator(ns.path())) {
            if (stale(rec.path())) {
                remove(rec.path());
                ++report.records_removed;
                continue;
            }
            std::string text;
            try {
                text = detail::read_file(rec.path(), ErrorKind::io, 1 << 20);
            } catch (const Error&) {
                remove(rec.path());
                ++report.records_removed;
                continue;
            }
            for (const Digest& d : record_references(ns_name, text)) {
                live.insert(d);
            }
        }
    }

    // Unpacked trees (e.g. wheels, see python.hpp): their mtime is their last use.
    std::error_code trees_ec;
    for (const auto& tree : fs::directory_iterator(impl_->root / "trees", trees_ec)) {
        if (stale(tree.path())) {
            remove(tree.path());
            ++report.trees_removed;
        }
    }

    // Unpacked layers: every one in use by a live container stays; the others go once
    // unused (their mtime is their last use) for max_age. No unpacking runs now (it holds
    // the shared lock): what is in unpacked/tmp/ is a leftover.
    std::set<std::string> in_use;
    report.leases_removed = live_leases(impl_->root / "leases", options.dry_run, in_use);
    std::error_code unpacked_ec;
    for (const auto& layer : fs::directory_iterator(unpacked_dir(), unpacked_ec)) {
        std::string name = layer.path().filename().string();
        if (name == "tmp") {
            std::error_code tmp_ec;
            for (const auto& partial : fs::directory_iterator(layer.path(), tmp_ec)) {
                remove(partial.path());
                ++report.layers_removed;
            }
            continue;
        }
        if (in_use.count(name) == 0 && stale(layer.path())) {
            remove(layer.path());
            ++report.layers_removed;
        }
    }

    for (const auto& blob : fs::directory_iterator(impl_->root / "blobs" / "sha256")) {
        std::error_code ec;
        std::uint64_t size = blob.file_size(ec);
        Digest d = Digest::try_parse("sha256:" + blob.path().filename().string());
        if (d && (live.count(d) != 0 || !stale(blob.path()))) {
            std::optional<DroppedBlob> corrupt;
            if (options.verify) {
                corrupt = check_blob_file(blob.path(), d);
            }
            if (!corrupt) {
                ++report.blobs_kept;
                report.bytes_kept += size;
                continue;
            }
            report.corrupt.push_back(std::move(*corrupt));
        }
        remove(blob.path());
        ++report.blobs_removed;
        report.bytes_removed += ec ? 0 : size;
    }
    return report;
}

} // namespace ocibake
