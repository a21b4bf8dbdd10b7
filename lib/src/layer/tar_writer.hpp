// Internal: a deterministic tar (ustar + PAX) writer.
//
// Dialect (part of layer_format_version): POSIX ustar headers, no user/group names,
// device numbers only on device entries, directory names end in '/', a name longer
// than 100 bytes is split into prefix/name when it can be, else carried in a PAX 'path'
// record; PAX records ('path', 'linkpath', 'size', 'uid', 'gid', 'mtime',
// 'SCHILY.xattr.*') sorted by key in an 'x' entry named "PaxHeaders/<base name>";
// the archive ends with two zero blocks and is not padded to a record size. A whiteout
// entry is an empty regular file DIR/.wh.NAME of mode 0, owned by 0:0.
#pragma once

#include "layer/stream.hpp"
#include "ocibake/layer.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace ocibake::detail {

class TarWriter {
public:
    TarWriter(ChunkStream& out, std::int64_t mtime) : out_(out), mtime_(mtime) {}

    /// Writes one entry: header(s) and, for files, the data (read from entry.source, or
    /// entry.content). Error(input) when a source file changed since it was listed.
    void add(const LayerEntry& entry);
    /// Writes a header for a regular file whose `size` data bytes the caller then
    /// appends to the stream, followed by pad(size). A whiteout is written as the empty
    /// file DIR/.wh.NAME; any entry with a path component starting with ".wh." is
    /// refused (Error(input) naming `origin`): such a name means a deletion.
    void add_header(const LayerEntry& entry);
    void pad(std::uint64_t size);
    /// The end-of-archive marker.
    void finish();

private:
    void write_header(const LayerEntry& entry);
    void copy_file(const LayerEntry& entry);

    ChunkStream& out_;
    std::int64_t mtime_;
};

} // namespace ocibake::detail
