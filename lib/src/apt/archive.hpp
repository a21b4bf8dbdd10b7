// Internal: libarchive handles for the apt module.
#pragma once

#include "ocibake/error.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <string>

namespace ocibake::apt::detail {

struct ArchiveDeleter {
    void operator()(archive* a) const noexcept { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveDeleter>;

/// A new reader (never null).
ArchivePtr new_reader();

/// The one check() for libarchive: below ARCHIVE_WARN throws Error(integrity) with
/// libarchive's own message, prefixed with `what`.
void check_archive(archive* a, int rc, const std::string& what);

} // namespace ocibake::apt::detail
