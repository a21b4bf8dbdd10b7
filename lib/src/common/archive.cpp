#include "common/archive.hpp"
#include "common/libarchive.hpp"

namespace ocibake::detail {

ArchiveReader new_reader() {
    ArchiveReader a(libarchive().archive_read_new());
    if (!a) {
        throw Error(ErrorKind::internal, "libarchive: archive_read_new failed");
    }
    return a;
}

Error archive_error(archive* a, const std::string& what, ErrorKind kind,
                    std::string_view fallback) {
    const char* msg = a ? libarchive().archive_error_string(a) : nullptr;
    return Error(kind, what + ": " + (msg ? std::string(msg) : std::string(fallback)));
}

void check_archive(archive* a, int rc, const std::string& what, std::string_view fallback) {
    // ARCHIVE_RETRY ("Damaged tar archive": a header whose checksum is wrong) leaves the
    // entry empty (no path): an error like the others, never an entry to read.
    if (rc < ARCHIVE_WARN || rc == ARCHIVE_RETRY) {
        throw archive_error(a, what, ErrorKind::integrity, fallback);
    }
}

} // namespace ocibake::detail
