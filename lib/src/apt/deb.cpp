#include "apt/deb.hpp"
#include "common/libarchive.hpp"

#include "ocibake/error.hpp"

#include <lzma.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace ocibake::apt::detail {

namespace {

/// liblzma's multi-threaded decoder: it decodes the blocks of a multi-block .xz in
/// parallel (a single-block one on one thread, as before).
struct XzDecoder {
    lzma_stream stream = LZMA_STREAM_INIT;
    std::unique_ptr<std::uint8_t[]> in{new std::uint8_t[1 << 16]};
    std::unique_ptr<std::uint8_t[]> out{new std::uint8_t[1 << 18]};
    bool input_done = false;
    bool finished = false;
    XzDecoder() = default;
    XzDecoder(const XzDecoder&) = delete;
    XzDecoder& operator=(const XzDecoder&) = delete;
    ~XzDecoder() { lzma_end(&stream); }
};

const char* lzma_message(lzma_ret r) {
    switch (r) {
    case LZMA_MEM_ERROR:
        return "out of memory";
    case LZMA_MEMLIMIT_ERROR:
        return "the memory limit was reached";
    case LZMA_FORMAT_ERROR:
        return "not xz data";
    case LZMA_OPTIONS_ERROR:
        return "unsupported xz options";
    case LZMA_DATA_ERROR:
        return "corrupt xz data";
    case LZMA_BUF_ERROR:
        return "truncated xz data";
    default:
        return "xz decoding failed";
    }
}

} // namespace

struct DebReader::Inner {
    ArchivePtr archive;
    DebReader* owner = nullptr;
    std::unique_ptr<XzDecoder> xz; ///< set when this reader decodes xz itself
    char buffer[1 << 16];
    // The current data.tar entry, read a data block at a time.
    std::string path;
    std::uint64_t size = 0;   ///< as its header says
    std::uint64_t offset = 0; ///< handed out so far
    const char* block = nullptr;
    std::size_t block_left = 0;
};

// Reads the .deb's bytes from the store (verified against the digest at the end).
la_ssize_t deb_outer_read(archive*, void* data, const void** out) {
    auto* self = static_cast<DebReader*>(data);
    try {
        std::size_t n = self->blob_.read(self->buffer_, sizeof self->buffer_);
        *out = self->buffer_;
        return static_cast<la_ssize_t>(n);
    } catch (...) {
        self->error_ = std::current_exception(); // no exception crosses libarchive
        return -1;
    }
}

// Reads a member's (compressed) bytes out of the ar archive.
la_ssize_t deb_inner_read(archive*, void* data, const void** out) {
    auto* inner = static_cast<DebReader::Inner*>(data);
    DebReader* self = inner->owner;
    la_ssize_t n =
        libarchive().archive_read_data(self->outer_.get(), inner->buffer, sizeof inner->buffer);
    if (n < 0) {
        if (!self->error_) {
            self->error_ = std::make_exception_ptr(
                ocibake::detail::archive_error(self->outer_.get(), self->what_));
        }
        return -1;
    }
    *out = inner->buffer;
    return n;
}

// Reads a data.tar.xz member's *decoded* bytes: compressed bytes from the ar archive
// through liblzma's multi-threaded decoder.
la_ssize_t deb_xz_read(archive*, void* data, const void** out) {
    auto* inner = static_cast<DebReader::Inner*>(data);
    DebReader* self = inner->owner;
    XzDecoder& xz = *inner->xz;
    if (xz.finished) {
        return 0;
    }
    xz.stream.next_out = xz.out.get();
    xz.stream.avail_out = 1 << 18;
    while (xz.stream.avail_out == (1u << 18)) {
        if (xz.stream.avail_in == 0 && !xz.input_done) {
            la_ssize_t n = libarchive().archive_read_data(self->outer_.get(), xz.in.get(), 1 << 16);
            if (n < 0) {
                if (!self->error_) {
                    self->error_ = std::make_exception_ptr(
                        ocibake::detail::archive_error(self->outer_.get(), self->what_));
                }
                return -1;
            }
            xz.stream.next_in = xz.in.get();
            xz.stream.avail_in = static_cast<std::size_t>(n);
            xz.input_done = n == 0;
        }
        lzma_ret r = lzma_code(&xz.stream, xz.input_done ? LZMA_FINISH : LZMA_RUN);
        if (r == LZMA_STREAM_END) {
            xz.finished = true;
            break;
        }
        if (r != LZMA_OK) {
            if (!self->error_) {
                self->error_ = std::make_exception_ptr(
                    Error(ErrorKind::integrity, self->what_ + ": data.tar.xz: " + lzma_message(r)));
            }
            return -1;
        }
    }
    *out = xz.out.get();
    return static_cast<la_ssize_t>((1u << 18) - xz.stream.avail_out);
}

DebReader::DebReader(const Store& store, const Digest& digest, std::string what,
                     unsigned xz_threads)
    : what_(std::move(what)), blob_(store.open_blob(digest)), outer_(new_reader()),
      xz_threads_(xz_threads == 0 ? 1 : xz_threads) {
    check_archive(outer_.get(), libarchive().archive_read_support_format_ar(outer_.get()), what_);
    check_archive(
        outer_.get(),
        libarchive().archive_read_open(outer_.get(), this, nullptr, deb_outer_read, nullptr),
        what_);
}

DebReader::~DebReader() = default;

void DebReader::rethrow() {
    if (error_) {
        std::exception_ptr e = error_;
        error_ = nullptr;
        std::rethrow_exception(e);
    }
}

namespace {

std::string member_name(std::string path) {
    while (path.starts_with("./")) {
        path.erase(0, 2);
    }
    return path;
}

} // namespace

std::map<std::string, ControlFile> DebReader::read_control() {
    std::map<std::string, ControlFile> out;
    bool binary_seen = false;
    auto open_inner = [&](const std::string& member) {
        auto inner = std::make_unique<Inner>();
        inner->owner = this;
        inner->archive = new_reader();
        std::string w = what_ + ": " + member;
        bool own_xz = member == "data.tar.xz" && xz_threads_ > 1;
        if (own_xz) {
            inner->xz = std::make_unique<XzDecoder>();
            lzma_mt mt{};
            mt.threads = xz_threads_;
            mt.flags = LZMA_CONCATENATED;
            // Blocks of a few tens of MB each: far below this; past it, one thread.
            mt.memlimit_threading = std::uint64_t{1} << 30;
            mt.memlimit_stop = UINT64_MAX;
            lzma_ret r = lzma_stream_decoder_mt(&inner->xz->stream, &mt);
            if (r != LZMA_OK) {
                throw Error(ErrorKind::internal, w + ": " + lzma_message(r));
            }
        } else {
            check_archive(inner->archive.get(),
                          libarchive().archive_read_support_filter_all(inner->archive.get()), w);
        }
        check_archive(inner->archive.get(),
                      libarchive().archive_read_support_format_tar(inner->archive.get()), w);
        int rc = libarchive().archive_read_open(inner->archive.get(), inner.get(), nullptr,
                                                own_xz ? deb_xz_read : deb_inner_read, nullptr);
        rethrow();
        check_archive(inner->archive.get(), rc, w);
        return inner;
    };
    for (;;) {
        archive_entry* entry = nullptr;
        int rc = libarchive().archive_read_next_header(outer_.get(), &entry);
        rethrow();
        if (rc == ARCHIVE_EOF) {
            throw Error(ErrorKind::integrity,
                        what_ + ": not a Debian package (no data.tar member)");
        }
        check_archive(outer_.get(), rc, what_ + ": not a Debian package");
        std::string name = libarchive().archive_entry_pathname(entry);
        if (name == "debian-binary") {
            char text[16] = {};
            la_ssize_t n = libarchive().archive_read_data(outer_.get(), text, sizeof text - 1);
            rethrow();
            if (n < 2 || std::strncmp(text, "2.", 2) != 0) {
                throw Error(ErrorKind::integrity,
                            what_ + ": not a Debian package of format 2.x (debian-binary)");
            }
            binary_seen = true;
        } else if (name.starts_with("control.tar")) {
            if (!binary_seen) {
                throw Error(ErrorKind::integrity,
                            what_ + ": debian-binary is not the first member");
            }
            auto inner = open_inner(name);
            std::string w = what_ + ": " + name;
            for (;;) {
                archive_entry* e = nullptr;
                int r = libarchive().archive_read_next_header(inner->archive.get(), &e);
                rethrow();
                if (r == ARCHIVE_EOF) {
                    break;
                }
                check_archive(inner->archive.get(), r, w);
                if (libarchive().archive_entry_filetype(e) != AE_IFREG) {
                    continue;
                }
                std::string file = member_name(libarchive().archive_entry_pathname(e));
                if (file.empty() || file.find('/') != std::string::npos) {
                    continue;
                }
                la_int64_t size = libarchive().archive_entry_size(e);
                if (size < 0 || size > (64 << 20)) {
                    throw Error(ErrorKind::integrity, w + ": " + file + " is larger than 64 MiB");
                }
                std::string content(static_cast<std::size_t>(size), '\0');
                std::size_t done = 0;
                while (done < content.size()) {
                    la_ssize_t n = libarchive().archive_read_data(
                        inner->archive.get(), content.data() + done, content.size() - done);
                    rethrow();
                    if (n <= 0) {
                        check_archive(inner->archive.get(), static_cast<int>(n), w + ": " + file);
                        break;
                    }
                    done += static_cast<std::size_t>(n);
                }
                content.resize(done);
                out[file] = {std::move(content),
                             static_cast<std::uint32_t>(libarchive().archive_entry_mode(e)) &
                                 07777};
            }
            if (!out.count("control")) {
                throw Error(ErrorKind::integrity, w + ": has no control file");
            }
        } else if (name.starts_with("data.tar")) {
            if (out.empty()) {
                throw Error(ErrorKind::integrity, what_ + ": data.tar comes before control.tar");
            }
            data_ = open_inner(name);
            return out;
        }
        // Other members ("_gpgbuilder", ...) are skipped, as dpkg does.
    }
}

bool DebReader::next_entry(DebEntry& e) {
    if (!data_) {
        throw Error(ErrorKind::internal, what_ + ": control() must be read first");
    }
    archive_entry* entry = nullptr;
    int rc = libarchive().archive_read_next_header(data_->archive.get(), &entry);
    rethrow();
    if (rc == ARCHIVE_EOF) {
        // Read to the end so the blob's digest is checked.
        char rest[4096];
        while (libarchive().archive_read_data(outer_.get(), rest, sizeof rest) > 0) {
        }
        archive_entry* more = nullptr;
        while (libarchive().archive_read_next_header(outer_.get(), &more) == ARCHIVE_OK) {
        }
        rethrow();
        return false;
    }
    check_archive(data_->archive.get(), rc, what_ + ": data.tar");
    e = DebEntry{};
    e.path = libarchive().archive_entry_pathname(entry);
    e.mode = static_cast<std::uint32_t>(libarchive().archive_entry_mode(entry)) & 07777;
    e.uid = static_cast<std::uint32_t>(libarchive().archive_entry_uid(entry));
    e.gid = static_cast<std::uint32_t>(libarchive().archive_entry_gid(entry));
    la_int64_t size = libarchive().archive_entry_size(entry);
    e.size = size > 0 ? static_cast<std::uint64_t>(size) : 0;
    if (const char* hardlink = libarchive().archive_entry_hardlink(entry)) {
        e.type = DebEntry::Type::hardlink;
        e.link = hardlink;
        e.size = 0;
        return true;
    }
    switch (libarchive().archive_entry_filetype(entry)) {
    case AE_IFREG:
        e.type = DebEntry::Type::file;
        break;
    case AE_IFDIR:
        e.type = DebEntry::Type::directory;
        break;
    case AE_IFLNK:
        e.type = DebEntry::Type::symlink;
        e.link = libarchive().archive_entry_symlink(entry)
                     ? libarchive().archive_entry_symlink(entry)
                     : "";
        break;
    case AE_IFIFO:
        e.type = DebEntry::Type::fifo;
        break;
    case AE_IFCHR:
        e.type = DebEntry::Type::char_device;
        break;
    case AE_IFBLK:
        e.type = DebEntry::Type::block_device;
        break;
    default:
        throw Error(ErrorKind::input,
                    what_ + ": data.tar: " + e.path + " has a type dpkg does not install");
    }
    if (e.type != DebEntry::Type::file) {
        e.size = 0;
    }
    e.dev_major = static_cast<std::uint32_t>(libarchive().archive_entry_rdevmajor(entry));
    e.dev_minor = static_cast<std::uint32_t>(libarchive().archive_entry_rdevminor(entry));
    data_->path = e.path;
    data_->size = e.size;
    data_->offset = 0;
    data_->block_left = 0;
    return true;
}

std::size_t DebReader::read_data(void* buffer, std::size_t size) {
    // Data blocks, which must follow each other from 0 to the header's size: dpkg does not
    // unpack sparse files, and archive_read_data would hand their holes over as zeros (a
    // GNU header's realsize field makes one as long as it says: exabytes of them).
    Inner& d = *data_;
    while (d.block_left == 0) {
        const void* block = nullptr;
        std::size_t n = 0;
        la_int64_t at = 0;
        int rc = libarchive().archive_read_data_block(d.archive.get(), &block, &n, &at);
        rethrow();
        if (rc != ARCHIVE_EOF) {
            check_archive(d.archive.get(), rc, what_ + ": data.tar");
        }
        if (rc == ARCHIVE_EOF ? d.offset != d.size
                              : at < 0 || static_cast<std::uint64_t>(at) != d.offset) {
            throw Error(ErrorKind::integrity, what_ + ": data.tar: " + d.path +
                                                  " is a sparse file (it has holes), which dpkg "
                                                  "does not unpack");
        }
        if (rc == ARCHIVE_EOF) {
            return 0;
        }
        d.block = static_cast<const char*>(block);
        d.block_left = n;
    }
    std::size_t n = std::min(size, d.block_left);
    std::memcpy(buffer, d.block, n);
    d.block += n;
    d.block_left -= n;
    d.offset += n;
    return n;
}

// A decoder's integrity error may be a corrupt cached blob: decode_blob() tells.
std::map<std::string, ControlFile> DebReader::control() {
    return decode_blob(blob_, [&] { return read_control(); });
}

bool DebReader::next(DebEntry& entry) {
    return decode_blob(blob_, [&] { return next_entry(entry); });
}

std::size_t DebReader::read(void* buffer, std::size_t size) {
    return decode_blob(blob_, [&] { return read_data(buffer, size); });
}

} // namespace ocibake::apt::detail
