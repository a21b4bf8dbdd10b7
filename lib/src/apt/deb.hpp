// Internal: reading a .deb (deb(5)) from the store, streaming.
//
// A .deb is an ar archive: debian-binary ("2.0"), control.tar[.gz|.xz|.zst], then
// data.tar[.gz|.xz|.zst|.bz2]. The control members are small and read whole; the data
// is read entry by entry, its bytes streamed (never the whole package in memory).
#pragma once

#include "apt/archive.hpp"
#include "ocibake/cas.hpp"
#include "ocibake/layer.hpp"

#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <string>

namespace ocibake::apt::detail {

/// One entry of data.tar, as the package writes it.
struct DebEntry {
    std::string path; ///< as written ("./usr/bin/x")
    /// A layer's entry types; never `whiteout` (a package deletes nothing).
    using Type = EntryType;
    Type type = Type::file;
    std::uint32_t mode = 0; ///< permission bits
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::uint64_t size = 0;
    std::string link; ///< symlink target, or the path a hard link points to
    std::uint32_t dev_major = 0;
    std::uint32_t dev_minor = 0;
};

/// A control.tar member.
struct ControlFile {
    std::string content;
    std::uint32_t mode = 0644;
};

class DebReader {
public:
    /// Opens the blob `digest` (its bytes are verified as they are read). `what` names
    /// the package in errors. A data.tar.xz of several xz blocks (as dpkg-deb writes large
    /// ones) is decoded on up to `xz_threads` threads; the bytes are the same.
    DebReader(const Store& store, const Digest& digest, std::string what, unsigned xz_threads = 1);
    ~DebReader();
    DebReader(const DebReader&) = delete;
    DebReader& operator=(const DebReader&) = delete;

    /// The control.tar members by name ("control", "md5sums", "conffiles", "postinst",
    /// ...). Must be called first.
    std::map<std::string, ControlFile> control();

    /// The next data.tar entry; false at the end.
    bool next(DebEntry& entry);
    /// Reads the current file entry's data; 0 at its end.
    std::size_t read(void* buffer, std::size_t size);

private:
    struct Inner;
    std::map<std::string, ControlFile> read_control();
    bool next_entry(DebEntry& entry);
    std::size_t read_data(void* buffer, std::size_t size);
    void rethrow();
    const std::string what_;
    BlobReader blob_;
    std::exception_ptr error_;
    ArchivePtr outer_;
    std::unique_ptr<Inner> data_;
    unsigned xz_threads_ = 1;
    char buffer_[1 << 16];

    friend la_ssize_t deb_outer_read(archive*, void*, const void**);
    friend la_ssize_t deb_inner_read(archive*, void*, const void**);
    friend la_ssize_t deb_xz_read(archive*, void*, const void**);
};

} // namespace ocibake::apt::detail
