// Internal: libarchive read handles and the one check() for libarchive's return codes.
#pragma once

#include "ocibake/error.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <string>

namespace ocibake::detail {

struct ArchiveReadDeleter {
    void operator()(archive* a) const noexcept { archive_read_free(a); }
};
using ArchiveReader = std::unique_ptr<archive, ArchiveReadDeleter>;

/// A new reader (never null).
ArchiveReader new_reader();

/// Below ARCHIVE_WARN, or ARCHIVE_RETRY: throws Error(integrity) with libarchive's own
/// message, prefixed with `what` ("what: message").
void check_archive(archive* a, int rc, const std::string& what);

} // namespace ocibake::detail
