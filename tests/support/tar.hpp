// Tar helpers for tests: hand-made archives (nothing checked or normalised, as a hostile or
// unusual layer would be), a store layer made of one, and an independent reader of layers.
#pragma once

#include "ocibake/cas.hpp"
#include "ocibake/image.hpp"
#include "ocibake/layer.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

struct archive;

namespace ocibake::test {

/// One entry of a hand-made tar: type 'f' file, 'd' dir, 'l' symlink, 'h' hard link,
/// 'p' fifo, 'c' char device.
struct TarItem {
    TarItem(std::string path_, char type_ = 'f', std::string data_ = {}, unsigned mode_ = 0644,
            unsigned uid_ = 0, unsigned gid_ = 0, std::int64_t mtime_ = 1700000000,
            unsigned major_ = 0, unsigned minor_ = 0)
        : path(std::move(path_)), type(type_), data(std::move(data_)), mode(mode_), uid(uid_),
          gid(gid_), mtime(mtime_), dev_major(major_), dev_minor(minor_) {}
    std::string path;
    char type;
    std::string data; ///< file contents, or a link's target
    unsigned mode;
    unsigned uid;
    unsigned gid;
    std::int64_t mtime;
    unsigned dev_major;
    unsigned dev_minor;
};

using ArchiveWriter = std::unique_ptr<archive, int (*)(archive*)>;

/// A libarchive writer in `format` (and `filter`, when given) that appends to `out`, its
/// last block not padded.
ArchiveWriter archive_writer(std::string& out, int (*format)(archive*),
                             int (*filter)(archive*) = nullptr);

/// A plain (uncompressed) pax tar with exactly these entries.
std::string make_tar(const std::vector<TarItem>& items);

/// A tar of empty files and directories (names ending in '/'), such as whiteout markers.
std::string marker_tar(const std::vector<std::string>& names);

/// An archive of regular files (name, content) in libarchive's `format` (a tar or a zip).
std::string archive_of(int (*format)(archive*),
                       const std::vector<std::pair<std::string, std::string>>& files);

/// A ustar of regular files (name, content): one header block, then the data, per file.
std::string tar_of(const std::vector<std::pair<std::string, std::string>>& files);

/// Stores `tar` as an uncompressed layer: its digest is its diffID.
LayerResult put_tar_layer(Store& store, const std::string& tar);

/// Writes the image of the OCI layout `base` with one more layer, `tar`, on top (as another
/// tool would add one; its history says "whiteouts") to the OCI layout `out`, as t:v1.
/// Returns that image (its last layer the one added).
BuiltImage write_with_layer(Store& store, const std::filesystem::path& base, const std::string& tar,
                            const std::filesystem::path& out);

/// An entry of a layer as libarchive reads it back.
struct TarEntry {
    std::string path;
    char type = '0'; // '0' file, '1' hardlink, '2' symlink, '5' dir, '6' fifo
    unsigned mode = 0;
    std::int64_t uid = 0, gid = 0, mtime = 0;
    std::string link;
    std::string data;
    std::map<std::string, std::string> xattrs;
    std::string uname, gname;
};

/// Reads a layer blob (any compression) back with libarchive: a reader independent of
/// the library's.
std::vector<TarEntry> read_tar(const std::filesystem::path& blob);

} // namespace ocibake::test
