// Internal: libarchive read handles and the one check() for libarchive's return codes.
#pragma once

#include "ocibake/error.hpp"

#include "common/libarchive.hpp"
#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <string>
#include <string_view>

namespace ocibake::detail {

struct ArchiveReadDeleter {
    void operator()(archive* a) const noexcept { libarchive().archive_read_free(a); }
};
using ArchiveReader = std::unique_ptr<archive, ArchiveReadDeleter>;

/// A new reader (never null).
ArchiveReader new_reader();

/// The error `a` reports, as an Error of `kind`: libarchive's own message prefixed with
/// `what` ("what: message"), or `fallback` for the message when libarchive has none. For a
/// C callback, which stores it (std::make_exception_ptr) instead of throwing.
Error archive_error(archive* a, const std::string& what, ErrorKind kind = ErrorKind::integrity,
                    std::string_view fallback = "libarchive error");

/// Below ARCHIVE_WARN, or ARCHIVE_RETRY: throws archive_error(a, what) (Error(integrity)).
void check_archive(archive* a, int rc, const std::string& what,
                   std::string_view fallback = "libarchive error");

} // namespace ocibake::detail
