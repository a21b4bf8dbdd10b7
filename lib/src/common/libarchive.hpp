// Internal: libarchive, loaded the first time an archive is read. `ocibake run` of an
// image whose layers are unpacked already reads none, and libarchive's dependencies
// (libxml2 and ICU among them: 8 of the CLI's 20 shared libraries) would cost its every
// start ~3 ms of mapping and relocation (docs/benchmarks.md). Call sites write
// libarchive().archive_read_new() where they would write archive_read_new(). Not
// installed.
#pragma once

#include <archive.h>
#include <archive_entry.h>

namespace ocibake {

// Every libarchive function the library calls. Its type is the one archive.h declares.
#define OCIBAKE_LIBARCHIVE_FUNCTIONS(X)                                                            \
    X(archive_entry_filetype)                                                                      \
    X(archive_entry_gid)                                                                           \
    X(archive_entry_hardlink)                                                                      \
    X(archive_entry_mode)                                                                          \
    X(archive_entry_mtime)                                                                         \
    X(archive_entry_mtime_nsec)                                                                    \
    X(archive_entry_pathname)                                                                      \
    X(archive_entry_perm)                                                                          \
    X(archive_entry_rdevmajor)                                                                     \
    X(archive_entry_rdevminor)                                                                     \
    X(archive_entry_size)                                                                          \
    X(archive_entry_symlink)                                                                       \
    X(archive_entry_uid)                                                                           \
    X(archive_entry_xattr_count)                                                                   \
    X(archive_entry_xattr_next)                                                                    \
    X(archive_entry_xattr_reset)                                                                   \
    X(archive_error_string)                                                                        \
    X(archive_read_data)                                                                           \
    X(archive_read_data_block)                                                                     \
    X(archive_read_free)                                                                           \
    X(archive_read_new)                                                                            \
    X(archive_read_next_header)                                                                    \
    X(archive_read_open)                                                                           \
    X(archive_read_open_filename)                                                                  \
    X(archive_read_open_memory)                                                                    \
    X(archive_read_support_filter_all)                                                             \
    X(archive_read_support_filter_bzip2)                                                           \
    X(archive_read_support_filter_gzip)                                                            \
    X(archive_read_support_filter_none)                                                            \
    X(archive_read_support_filter_xz)                                                              \
    X(archive_read_support_filter_zstd)                                                            \
    X(archive_read_support_format_ar)                                                              \
    X(archive_read_support_format_empty)                                                           \
    X(archive_read_support_format_gnutar)                                                          \
    X(archive_read_support_format_raw)                                                             \
    X(archive_read_support_format_tar)                                                             \
    X(archive_read_support_format_zip_seekable)

/// The functions, resolved from libarchive.so.13.
struct LibArchive {
#define OCIBAKE_LIBARCHIVE_SLOT(name) decltype(&::name) name = nullptr;
    OCIBAKE_LIBARCHIVE_FUNCTIONS(OCIBAKE_LIBARCHIVE_SLOT)
#undef OCIBAKE_LIBARCHIVE_SLOT
};

/// Loads libarchive once (thread-safe) and returns its functions. Throws Error(runtime)
/// naming the library and the loader's reason when it is missing or lacks a function.
const LibArchive& libarchive();

} // namespace ocibake
