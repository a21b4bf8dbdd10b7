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
// whole blob or none. Readers verify: a blob read through BlobReader or copy_blob() is
// hashed as it streams and a mismatch is an Error(integrity) that also drops the blob
// from the store, so the next build recreates it. A record's mtime is its last use
// (touched on every hit) and drives `cache gc`.
#pragma once

#include "ocibake/digest.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake {

/// How a Store holds the store-wide lock.
enum class StoreLock {
    shared,    ///< builds, pulls, inspect: many at once
    exclusive, ///< gc: alone
};

struct GcOptions {
    /// Records unused for longer than this are dropped, then blobs that no kept record
    /// references and that are older than this. Zero drops everything.
    std::chrono::seconds max_age = std::chrono::hours(24 * 30);
    bool dry_run = false;
};

struct GcReport {
    std::uint64_t records_removed = 0;
    std::uint64_t blobs_removed = 0;
    std::uint64_t bytes_removed = 0;
    std::uint64_t temp_files_removed = 0;
    /// Unpacked trees (<root>/trees/<name>) not used within max_age.
    std::uint64_t trees_removed = 0;
    std::uint64_t blobs_kept = 0;
    std::uint64_t bytes_kept = 0;
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

    /// Reads up to `size` bytes; returns 0 at the end, after the digest was checked.
    std::size_t read(void* buffer, std::size_t size);
    std::uint64_t size() const noexcept;

private:
    friend class Store;
    struct Impl;
    explicit BlobReader(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
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
    /// Places a blob at `dest` (a new file): a hard link when the store and dest share a
    /// file system (no bytes are read: every later read of the blob verifies it), else a
    /// copy verified while it streams.
    void export_blob(const Digest& digest, const std::filesystem::path& dest) const;
    /// Re-hashes a blob; a corrupt one is removed and false returned.
    bool verify_blob(const Digest& digest) const;

    // --- records ----------------------------------------------------------------------
    /// Reads record `key` of namespace `ns` and marks it used. nullopt when absent.
    std::optional<std::string> get_record(std::string_view ns, std::string_view key) const;
    /// Writes a record atomically (replacing an older one).
    void put_record(std::string_view ns, std::string_view key, std::string_view value) const;

    /// A temp path inside the store's tmp/ (same file system as blobs); the caller removes
    /// or renames it.
    std::filesystem::path temp_path(std::string_view hint) const;

    // --- maintenance --------------------------------------------------------------------
    /// Needs an exclusive Store. `references` lists, for a record's text, the blobs it keeps.
    GcReport gc(const GcOptions& options,
                const std::function<std::vector<Digest>(std::string_view ns,
                                                        std::string_view value)>& references);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace ocibake
