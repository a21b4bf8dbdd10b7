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
    if (rc < ARCHIVE_WARN) {
        const char* msg = a ? archive_error_string(a) : nullptr;
        throw Error(ErrorKind::integrity, what + ": " + (msg ? msg : "libarchive error"));
    }
}

} // namespace ocibake::detail
