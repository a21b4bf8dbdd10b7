// ocibake: the content-addressed store (the cache).
//
// On-disk layout, version 1 (see docs/cache.md):
//
//     <root>/VERSION                 "ocibake-cache 1\n"
//     <root>/lock                    flock(2): builds hold it shared, `cache gc` exclusive
//     <root>/blobs/sha256/<hex>      immutable blobs, named by the sha256 of their bytes
//     <root>/records/<ns>/<key>      small index records (text), e.g. layer cache entries
//     <root>/tmp/                    temp files; renamed into place when complete
//     <root>/trees/<name>/           unpacked trees (wheels), published by rename; mtime = last use
//
// Every write goes to tmp/ first, is fsync'd and renamed into place, so a reader sees a
// whole blob or none. Readers verify: a blob read through BlobReader or export_blob() is
// hashed as it streams, and a mismatch is an Error(integrity) naming the cache file that
// also drops the blob from the store (see DroppedBlob), so the next build recreates it.
// A decoder that refuses a blob's bytes first (gzip, zstd, tar) is checked the same way
// (BlobReader::verify_rest). A record's mtime is its last use (touched on every hit) and
// drives `cache gc`.
#pragma once

#include "ocibake/digest.hpp"
#include "ocibake/error.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace ocibake {

/// What `cache gc` keeps for a record of a namespace (besides the record itself).
enum class RecordRefs {
    none,          ///< no blob
    digest_member, ///< the blob its JSON's "digest" names
    digest_array,  ///< the blobs its JSON array of digests lists
};

/// One namespace of cache records (<root>/records/<name>/<key>): the one table of them
/// (cas/namespaces.cpp). Store refuses a record in a namespace that is not in it.
struct RecordNamespace {
    std::string_view name;
    std::string_view owner; ///< the module that writes it
    std::string_view key;   ///< what the key is (Markdown)
    std::string_view value; ///< what the value is (Markdown)
    std::string_view meaning;
    RecordRefs refs = RecordRefs::none;
};

/// Every record namespace, in the order docs/cache.md lists them.
std::span<const RecordNamespace> record_namespaces();
/// The namespace called `name`, or nullptr.
const RecordNamespace* find_record_namespace(std::string_view name);
/// The blobs a record keeps alive in `cache gc`, by its namespace's RecordRefs (a value
/// that does not parse keeps none).
std::vector<Digest> record_references(std::string_view ns, std::string_view value);
/// docs/cache.md's table of records, rendered from record_namespaces().
std::string record_namespaces_markdown();

/// How a Store holds the store-wide lock.
enum class StoreLock {
    shared,    ///< builds, pulls, inspect: many at once
    exclusive, ///< gc: alone
};

/// A blob the store found corrupt (its bytes do not hash to its name) and removed.
struct DroppedBlob {
    Digest digest;
    std::filesystem::path path; ///< the cache file it was
    /// "its bytes hash to sha256:...", then what refused it first, if anything
    /// ("; reading it failed: layer sha256:...: gzip: incorrect data check").
    std::string reason;
};

struct GcOptions {
    /// Records unused for longer than this are dropped, then blobs that no kept record
    /// references and that are older than this. Zero drops everything.
    std::chrono::seconds max_age = std::chrono::hours(24 * 30);
    bool dry_run = false;
    /// Re-hash every blob that is kept and drop the corrupt ones (GcReport::corrupt).
    bool verify = true;
};

struct GcReport {
    std::uint64_t records_removed = 0;
    std::uint64_t blobs_removed = 0;
    std::uint64_t bytes_removed = 0;
    std::uint64_t temp_files_removed = 0;
    /// Unpacked trees (<root>/trees/<name>) not used within max_age.
    std::uint64_t trees_removed = 0;
    /// Unpacked layers (<root>/unpacked/<diffID hex>) not used within max_age and used by
    /// no live container, and unfinished ones.
    std::uint64_t layers_removed = 0;
    /// Leases whose process is gone and whose mount is gone.
    std::uint64_t leases_removed = 0;
    std::uint64_t blobs_kept = 0;
    std::uint64_t bytes_kept = 0;
    /// Blobs whose bytes did not match their name: removed (counted in blobs_removed and
    /// bytes_removed too), or only reported by a dry run.
    std::vector<DroppedBlob> corrupt;
};

/// Writes one blob: bytes are hashed as they are written to a temp file; commit() checks
/// the digest (when one is expected), fsyncs and renames the file into place.
/// A writer destroyed without commit() leaves nothing behind.
class BlobWriter {
public:
    BlobWriter(BlobWriter&&) noexcept;
    BlobWriter& operator=(BlobWriter&&) noexcept;
    ~BlobWriter();

    void write(const void* data, std::size_t size);
    void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
    std::uint64_t size() const noexcept;
    /// Finishes the blob. With `expected`, a different digest is an Error(integrity) naming
    /// both and nothing is stored. Returns the blob's digest.
    Digest commit(std::optional<Digest> expected = std::nullopt);

private:
    friend class Store;
    struct Impl;
    explicit BlobWriter(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

/// Reads one blob sequentially, verifying its digest when the end is reached.
class BlobReader {
public:
    BlobReader(BlobReader&&) noexcept;
    BlobReader& operator=(BlobReader&&) noexcept;
    ~BlobReader();

    /// Reads up to `size` bytes; returns 0 at the end, after the digest was checked. A
    /// mismatch drops the blob from the store and throws Error(integrity) naming it.
    std::size_t read(void* buffer, std::size_t size);
    std::uint64_t size() const noexcept;

    /// For a decoder that refused this blob's bytes (`symptom`, its message): reads and
    /// hashes what is left. A blob that does not match its digest is dropped from the
    /// store and Error(integrity) naming the cache file is thrown (the decoder's error
    /// was only a symptom). Returns when the blob is intact: then its content itself is
    /// bad and the decoder's error stands. Reading errors other than the digest's are
    /// ignored here (the caller rethrows its own).
    void verify_rest(std::string_view symptom);

private:
    friend class Store;
    struct Impl;
    explicit BlobReader(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

/// Runs `decode()`, which reads `reader` through a decoder (gzip, zstd, tar, ar...). When it
/// throws Error(integrity), the blob is checked (BlobReader::verify_rest): a corrupt cached
/// blob is dropped and reported as such; otherwise the decoder's error is rethrown.
template <class F>
decltype(auto) decode_blob(BlobReader& reader, F&& decode) {
    try {
        return std::forward<F>(decode)();
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::integrity) {
            reader.verify_rest(e.what());
        }
        throw;
    }
}

/// Records and blobs a build may use besides the store's own: a remote layer cache
/// (docs/cache.md) answers from memory what the store lacks. Nothing it answers is written
/// to disk; its blobs stay where they are (a registry) until something fetches them.
class RecordOverlay {
public:
    virtual ~RecordOverlay() = default;
    /// Record `key` of namespace `ns`, when the overlay has it.
    virtual std::optional<std::string> get_record(std::string_view ns,
                                                  std::string_view key) const = 0;
    /// The size of a blob the overlay vouches for (checked to exist with that size), or
    /// nullopt.
    virtual std::optional<std::uint64_t> blob_size(const Digest& digest) const = 0;
};

/// A record a build read or wrote (Store::journal()).
struct RecordUse {
    std::string ns;
    std::string key;
    bool operator<(const RecordUse& o) const { return std::tie(ns, key) < std::tie(o.ns, o.key); }
};

class Store {
public:
    /// $OCIBAKE_CACHE_DIR, else $XDG_CACHE_HOME/ocibake, else $HOME/.cache/ocibake.
    static std::filesystem::path default_root();

    /// Opens (creating if needed) the store at `root` and takes its lock. Blocks while a
    /// gc holds it (or, for an exclusive lock, while builds run).
    explicit Store(std::filesystem::path root, StoreLock lock = StoreLock::shared);
    ~Store();
    Store(Store&&) noexcept;
    Store& operator=(Store&&) noexcept;

    const std::filesystem::path& root() const noexcept;

    // --- blobs ------------------------------------------------------------------------
    std::filesystem::path blob_path(const Digest& digest) const;
    bool has_blob(const Digest& digest) const;
    /// Size of a stored blob, if present.
    std::optional<std::uint64_t> blob_size(const Digest& digest) const;

    BlobWriter new_blob();
    Digest put_bytes(std::string_view bytes);
    /// Copies a file into the store (hashing while copying). With `expected`, the copy is
    /// skipped when that blob is already stored, and a mismatch is an Error(integrity).
    Digest put_file(const std::filesystem::path& source,
                    std::optional<Digest> expected = std::nullopt);

    /// Opens a blob for verified sequential reading. Error(integrity) if absent.
    BlobReader open_blob(const Digest& digest) const;
    /// Reads a small blob whole (verified). Error(integrity) when larger than max_size.
    std::string read_blob(const Digest& digest, std::size_t max_size = 16 << 20) const;
    /// Places a blob at `dest` (a new file, never sharing its inode with the cache): a
    /// reflink (FICLONE) where the file system has them, else a copy; either way the
    /// blob's bytes are hashed, and a corrupt blob is dropped (Error(integrity), `dest`
    /// removed). With `durable`, dest's bytes are on disk (fsync) when this returns.
    void export_blob(const Digest& digest, const std::filesystem::path& dest,
                     bool durable = true) const;
    /// Re-hashes a blob; a corrupt one is removed and false returned.
    bool verify_blob(const Digest& digest) const;
    /// The blobs this Store (any thread, any reader it opened) found corrupt and removed,
    /// in the order it found them. A build that finds one builds again (see build()).
    std::vector<DroppedBlob> dropped_blobs() const;

    // --- records ----------------------------------------------------------------------
    /// Reads record `key` of namespace `ns` (one of record_namespaces(); another is
    /// Error(internal)) and marks it used. nullopt when absent.
    std::optional<std::string> get_record(std::string_view ns, std::string_view key) const;
    /// Writes a record atomically (replacing an older one).
    void put_record(std::string_view ns, std::string_view key, std::string_view value) const;

    /// Records the store lacks are asked of `overlay` (not owned; null: none). Set it
    /// before the store is shared between threads.
    void set_overlay(const RecordOverlay* overlay) noexcept;
    const RecordOverlay* overlay() const noexcept;
    /// The size of a blob that the overlay vouches for and the store does not hold.
    std::optional<std::uint64_t> overlay_blob_size(const Digest& digest) const;
    /// From now on, remember every record of these namespaces that is read (found, in the
    /// store or the overlay) or written: what a remote cache export needs (journal()).
    void keep_journal(std::vector<std::string> namespaces);
    std::vector<RecordUse> journal() const;

    /// A temp path inside the store's tmp/ (same file system as blobs); the caller removes
    /// or renames it.
    std::filesystem::path temp_path(std::string_view hint) const;

    // --- unpacked layers and their leases -----------------------------------------------
    /// <root>/unpacked: image layers unpacked for overlayfs, one directory per diffID
    /// (written by the runtime module; gc knows them).
    std::filesystem::path unpacked_dir() const;
    /// Records that process `pid` uses the unpacked layers `layers` (diffID hex), and
    /// through the mount at `mount` (may be empty): gc keeps them while that process runs
    /// (same pid and start time) or that mount exists. Replaces a lease of the same id.
    void put_lease(std::string_view id, int pid, const std::filesystem::path& mount,
                   const std::vector<std::string>& layers) const;
    /// Removes a lease (missing is fine).
    void drop_lease(std::string_view id) const;

    // --- maintenance --------------------------------------------------------------------
    /// Needs an exclusive Store. A kept record keeps the blobs record_references() finds in
    /// it. A blob that cannot be read or does not match its name never fails gc: it is
    /// dropped and listed in GcReport::corrupt. Records of a namespace this version does
    /// not know (another version's) are kept while used, and keep no blob.
    GcReport gc(const GcOptions& options);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace ocibake
