// Internal: archives as layer inputs ([[layer.archive]], [[layer.nvidia]]).
//
// An archive (tar: plain, gzip, xz, zstd or bzip2; or zip) is unpacked once per sha256
// into <cache>/trees/archive-<hex>/:
//
//     files/<n>        the n-th regular file's bytes, read-only (the archive's paths are
//                      never used as host paths, so no member can name a place outside)
//     manifest.json    {"archive": name, "members": [{"path", "type", "mode", "size",
//                      "sha256", "file", "target"}]}, in the archive's order
//
// Each member is checked while it streams by: its name is a clean relative path (no
// absolute path, no "..", no ".wh." component), its type a file, directory, symlink or
// hard link (to an earlier file), it appears once and is not below another member that
// is not a directory. The tree is renamed into place only when every member passed, so a
// published tree is a checked one. Placing it in a layer (add_archive) maps the member
// paths (strip, renames, dst, include/exclude) and gives every entry the recipe's modes
// and owners: nothing of the archive's owners or times reaches the image.
#pragma once

#include "ocibake/cas.hpp"
#include "ocibake/layer.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ocibake::detail {

struct ArchiveMember {
    std::string path; ///< clean relative path as the archive names it ("lib/libx.so.1")
    EntryType type = EntryType::file; ///< file, directory, symlink or hardlink
    std::uint32_t mode = 0;           ///< the archive's permission bits
    std::uint64_t size = 0;           ///< files
    Digest sha256;                    ///< files
    std::size_t file = 0;             ///< files: files/<file> in the tree
    std::string target; ///< symlink: its target, verbatim; hardlink: the member it links to
};

/// Reads the members of an archive from memory with every check of unpack_archive(), the
/// data of each file passed to `data` (may be empty). For the fuzzer and the tests. With
/// `data`, each file's bytes are held in memory, so a file that expands past `max_file`
/// bytes (a compression bomb) is refused: Error(input) naming the member.
std::vector<ArchiveMember>
read_archive_members(std::string_view bytes, const std::string& name,
                     const std::function<void(const ArchiveMember&, std::string_view)>& data,
                     std::uint64_t max_file = std::uint64_t{256} << 20);

struct UnpackedArchive {
    std::filesystem::path tree; ///< <cache>/trees/archive-<hex>
    std::string name;           ///< for messages: the URL
    std::vector<ArchiveMember> members;
};

/// Unpacks the store's blob `digest` into the cache once, or reuses the tree already
/// there. A tar stream is hashed as libarchive reads it (one pass; a corrupt blob is
/// dropped by the store); a zip, which is read by seeking, is hashed first. Error(input)
/// naming `name` and the member for a refused member; Error(integrity) for bytes that are
/// not an archive.
UnpackedArchive unpack_archive(Store& store, const Digest& digest, const std::string& name);

/// Where an archive's members go in a layer.
struct ArchivePlacement {
    std::uint32_t strip = 0;
    std::string dst = "/";
    CopyOptions options; ///< include, exclude, file_mode, dir_mode, uid, gid, preserve_modes
    std::vector<std::pair<std::string, std::string>> renames; ///< first component -> new
    std::string origin;                                       ///< the recipe position
};

/// Adds the archive's members to `b` as `placement` says. A hard link becomes a file with
/// its target's bytes. Returns the number of entries added; Error(input) when the archive
/// holds nothing that the placement keeps (a wrong strip or include is never silent).
std::size_t add_archive(LayerBuilder& b, const UnpackedArchive& archive,
                        const ArchivePlacement& placement);

} // namespace ocibake::detail
