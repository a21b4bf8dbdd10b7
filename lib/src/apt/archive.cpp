// libarchive for the apt module: whole-buffer decompression (Packages indexes).
#include "apt/archive.hpp"
#include "apt/internal.hpp"
#include "common/libarchive.hpp"

namespace ocibake::apt::detail {

std::string decompress(std::string_view data, std::string_view origin) {
    ArchivePtr a = new_reader();
    std::string what(origin);
    check_archive(a.get(), libarchive().archive_read_support_filter_all(a.get()), what);
    check_archive(a.get(), libarchive().archive_read_support_format_raw(a.get()), what);
    // The raw reader refuses a stream that decompresses to nothing ("Unrecognized archive
    // format"): an empty index is one (bookworm-updates' non-free Packages.xz).
    check_archive(a.get(), libarchive().archive_read_support_format_empty(a.get()), what);
    check_archive(a.get(), libarchive().archive_read_open_memory(a.get(), data.data(), data.size()),
                  what);
    archive_entry* entry = nullptr;
    int rc = libarchive().archive_read_next_header(a.get(), &entry);
    if (rc == ARCHIVE_EOF) {
        return {};
    }
    check_archive(a.get(), rc, what);
    std::string out;
    char buffer[1 << 16];
    for (;;) {
        la_ssize_t n = libarchive().archive_read_data(a.get(), buffer, sizeof buffer);
        if (n < 0) {
            check_archive(a.get(), static_cast<int>(n), what);
            continue;
        }
        if (n == 0) {
            break;
        }
        out.append(buffer, static_cast<std::size_t>(n));
        if (out.size() > (std::size_t(2) << 30)) {
            throw Error(ErrorKind::integrity, what + ": decompresses to more than 2 GiB");
        }
    }
    return out;
}

} // namespace ocibake::apt::detail
