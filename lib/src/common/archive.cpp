#include "common/archive.hpp"

namespace ocibake::detail {

ArchiveReader new_reader() {
    ArchiveReader a(archive_read_new());
    if (!a) {
        throw Error(ErrorKind::internal, "libarchive: archive_read_new failed");
    }
    return a;
}

void check_archive(archive* a, int rc, const std::string& what) {
    // ARCHIVE_RETRY ("Damaged tar archive": a header whose checksum is wrong) leaves the
    // entry empty (no path): an error like the others, never an entry to read.
    if (rc < ARCHIVE_WARN || rc == ARCHIVE_RETRY) {
        const char* msg = a ? archive_error_string(a) : nullptr;
        throw Error(ErrorKind::integrity, what + ": " + (msg ? msg : "libarchive error"));
    }
}

} // namespace ocibake::detail
