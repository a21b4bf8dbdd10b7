// ocibake: deterministic layers.
//
// A LayerBuilder collects entries (from host files and trees, or made up: directories,
// symlinks, inline files); write_layer() turns them into one tar stream, compressed,
// stored in the Store, with the uncompressed diffID and the compressed digest computed
// in the same pass that writes the blob.
//
// The bytes depend only on the entries and the LayerOptions' format fields (compression,
// level, source_date_epoch): never on the host's user names, umask, locale, time zone,
// directory order, file atimes/ctimes, the temp path or the number of threads.
#pragma once

#include "ocibake/cas.hpp"
#include "ocibake/digest.hpp"
#include "ocibake/error.hpp"
#include "ocibake/oci.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ocibake {

enum class Compression { gzip, zstd, none };
/// "gzip", "zstd", "none"
const char* to_string(Compression compression) noexcept;
/// Parses "gzip" | "zstd" | "none"; nullopt otherwise.
std::optional<Compression> parse_compression(std::string_view text) noexcept;
/// The OCI layer media type for this compression.
std::string_view layer_media_type(Compression compression) noexcept;

/// Version of the layer byte format (tar dialect, gzip member size, ...). Part of every
/// layer cache key: bumping it invalidates cached layers.
inline constexpr int layer_format_version = 1;

struct LayerOptions {
    Compression compression = Compression::gzip;
    /// Compression level; -1 = the default (gzip 6, zstd 3). gzip 1..12, zstd 1..19.
    int level = -1;
    /// mtime of every entry (SOURCE_DATE_EPOCH).
    std::int64_t source_date_epoch = 0;
    /// Worker threads for compression; 0 = all cores. Never changes the bytes.
    unsigned threads = 0;

    int effective_level() const noexcept;
};

enum class EntryType {
    file,
    directory,
    symlink,
    hardlink,
    fifo,
    char_device,
    block_device,
    /// An explicit deletion of `path` from the layers below, written as `DIR/.wh.NAME`
    /// (an empty file of mode 0, owned by 0:0). Only this type may write a `.wh.` name:
    /// the tar writer refuses any other entry with a path component starting with
    /// ".wh." (Error(input)), since every runtime reads such a name as a deletion.
    whiteout,
};
const char* to_string(EntryType type) noexcept;

/// Identity of a host file at the time it was listed; the layer cache uses it to tell a
/// file unchanged without reading it.
struct FileIdentity {
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
};

/// One tar entry. `path` is relative to the image root, normalised ("usr/bin/python3"),
/// never empty, never with "." / ".." components or a trailing slash.
struct LayerEntry {
    std::string path;
    EntryType type = EntryType::file;
    std::uint32_t mode = 0644; ///< permission bits incl. setuid/setgid/sticky
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    /// symlink: its target, verbatim. hardlink: the image path of the file it links to.
    std::string link_target;
    /// file: the host file to read (empty => `content`). A plain string: a layer may
    /// hold many thousands of entries, and std::filesystem::path keeps a parsed copy.
    std::string source;
    std::string content;
    std::uint64_t size = 0; ///< file size in bytes
    FileIdentity identity;  ///< for `source` files
    /// For `source` files: when set, the bytes read while the layer is written are hashed
    /// and must have this sha256 (Error(integrity) otherwise). Never changes the bytes.
    Digest digest;
    std::vector<std::pair<std::string, std::string>> xattrs; ///< sorted by name
    std::uint32_t dev_major = 0;
    std::uint32_t dev_minor = 0;
    /// Where this entry came from, for error messages (a recipe location or "").
    std::string origin;
};

/// How add_tree() copies host files.
struct CopyOptions {
    std::vector<std::string> include;       ///< globs on the path below src; empty = everything
    std::vector<std::string> exclude;       ///< globs; a matching directory is pruned
    std::optional<std::uint32_t> file_mode; ///< all files get this mode
    std::optional<std::uint32_t> dir_mode;  ///< all directories get this mode
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    /// false (default): files become 0644, or 0755 when any execute bit is set; dirs
    /// 0755 (so the checkout's umask cannot change the image). true: keep the host's
    /// permission bits.
    bool preserve_modes = false;
    bool xattrs = false;          ///< copy extended attributes (user.*, security.capability)
    bool follow_symlinks = false; ///< copy what symlinks inside src point to
};

/// Collects the entries of one layer. Later additions of the same path replace earlier
/// ones (as COPY would). Errors are Error(input) naming the host path and `origin`.
class LayerBuilder {
public:
    /// `threads` scan directory trees (0 = all cores); never changes the entries.
    explicit LayerBuilder(unsigned threads = 0) : threads_(threads) {}

    /// Copies a host file or directory tree to `dst` (an absolute image path). A
    /// directory's contents go below dst; symlinks are copied as links. `origin` names
    /// the recipe position in errors.
    void add_tree(const std::filesystem::path& src, std::string_view dst,
                  const CopyOptions& options = {}, std::string_view origin = {});
    /// One host file at `dst` with explicit metadata.
    void add_file(std::string_view dst, const std::filesystem::path& src, std::uint32_t mode = 0644,
                  std::uint32_t uid = 0, std::uint32_t gid = 0, std::string_view origin = {});
    void add_content(std::string_view dst, std::string content, std::uint32_t mode = 0644,
                     std::uint32_t uid = 0, std::uint32_t gid = 0, std::string_view origin = {});
    void add_directory(std::string_view dst, std::uint32_t mode = 0755, std::uint32_t uid = 0,
                       std::uint32_t gid = 0, std::string_view origin = {});
    void add_symlink(std::string_view dst, std::string target, std::uint32_t uid = 0,
                     std::uint32_t gid = 0, std::string_view origin = {});
    /// A hard link at dst to the image path `target` (which this layer must contain).
    void add_hardlink(std::string_view dst, std::string_view target, std::string_view origin = {});
    void add_special(std::string_view dst, EntryType type, std::uint32_t mode,
                     std::uint32_t dev_major = 0, std::uint32_t dev_minor = 0,
                     std::uint32_t uid = 0, std::uint32_t gid = 0, std::string_view origin = {});
    /// Adds a prepared entry (validated like the others).
    void add(LayerEntry entry);

    /// The final entry list: sorted by path, hard links found among host files (the first
    /// path in order keeps the data, the others link to it), checked (no path below a
    /// symlink of this layer, hard link targets present). Throws Error(input). The entries
    /// move out: the builder is empty afterwards.
    std::vector<LayerEntry> finish();

    std::size_t size() const noexcept { return entries_.size(); }
    /// True when an entry was added at this image path (any type).
    bool has(std::string_view dst) const;

private:
    void put(LayerEntry entry, std::string link_key);

    std::map<std::string, LayerEntry> entries_;
    /// path -> hard link group ("<call>:<dev>:<ino>" for host files of one add_tree call,
    /// "=<path>" for add_hardlink groups).
    std::map<std::string, std::string> link_keys_;
    std::uint64_t tree_calls_ = 0;
    unsigned threads_ = 0;
};

/// Normalises an image path: "/usr//lib/./x" -> "usr/lib/x". Error(input) for a path that
/// climbs above the root ("/../etc") or is empty/root-only when `allow_root` is false.
std::string normalize_image_path(std::string_view path, std::string_view origin,
                                 bool allow_root = false);

/// Receives progress of layer builds (called from worker threads; implementations
/// synchronise themselves).
class Progress {
public:
    virtual ~Progress() = default;
    virtual void layer_started(std::string_view /*name*/, std::uint64_t /*total_bytes*/) {}
    virtual void layer_progress(std::string_view /*name*/, std::uint64_t /*bytes_done*/) {}
    virtual void layer_finished(std::string_view /*name*/) {}
};

/// A layer blob in the store.
struct LayerResult {
    oci::Descriptor descriptor; ///< media type, compressed digest and size
    Digest diff_id;             ///< sha256 of the uncompressed tar
    std::uint64_t uncompressed_size = 0;
};

/// Writes the layer: tar -> compressor -> store, hashing both streams on the way.
/// Memory use is bounded by the threads, not by the layer's size.
LayerResult write_layer(Store& store, const std::vector<LayerEntry>& entries,
                        const LayerOptions& options, Progress* progress = nullptr,
                        std::string_view name = {});

/// How build_layer() got its result.
enum class CacheStatus {
    hit,      ///< nothing read: every input's identity matched the cache
    verified, ///< inputs changed on disk but re-hashing showed the same layer
    built,    ///< the layer was written
    /// found in a remote cache (docs/cache.md): its blob stays in that registry until an
    /// output needs its bytes
    remote,
};
const char* to_string(CacheStatus status) noexcept;

/// write_layer() behind the layer cache. Keys (see docs/cache.md): the entries'
/// metadata, their host identities and the format options select a record holding the
/// diffID; the diffID and compression select the blob. A layer whose identities changed
/// but whose entries look alike is re-hashed (no compression) before being rebuilt.
LayerResult build_layer(Store& store, const std::vector<LayerEntry>& entries,
                        const LayerOptions& options, CacheStatus* status = nullptr,
                        Progress* progress = nullptr, std::string_view name = {});

/// What reading a layer with `ocibake run`'s unpacking rules found (check_layers()).
struct LayerCheck {
    enum class Status {
        passed,    ///< every entry would unpack
        refused,   ///< `run` would refuse it: `detail` is its message for the first bad entry
        unchecked, ///< not read: `detail` says why
    };
    Status status = Status::unchecked;
    /// input: the content is refused; integrity: the blob does not match its digest or
    /// diffID, or is not a tar stream.
    ErrorKind kind = ErrorKind::input;
    std::string detail;
};
const char* to_string(LayerCheck::Status status) noexcept;

/// Checks an image's layers, bottom first, with the rules `ocibake run` unpacks them by
/// (the same code, applied to a model of the tree instead of a directory): names that
/// escape the root, whiteouts that name no entry, hard links out of the root or to
/// nothing, paths through a symlink (of this layer or a lower one) that leaves the root.
/// Messages name the layer as `run` does: "layer N (sha256:…)". Each verdict is kept in
/// the store under the layer's ChainID (it depends on the layers below), so a layer is
/// read once. A layer whose blob is not in the store is `unchecked`, and so is every
/// layer above it without a kept verdict.
std::vector<LayerCheck> check_layers(Store& store, const std::vector<LayerResult>& layers);

} // namespace ocibake
