// Internal: what ldconfig would do for an image, done without running it.
//
// ElfScanner reads a shared library's soname, ldconfig's flags and the GNU ABI tag from
// its bytes as they stream by (a layer is written in one pass: the file is never read
// twice). ld.so.cache is then written from a view of the image's library directories in
// glibc's format ("glibc-ld.so.cache1.1", as glibc 2.32 and later write it by default),
// with ldconfig's rules: which names are libraries, one entry per soname per directory
// (a file preferred to a link, else the highest name in ldconfig's order), entries
// sorted as ld.so's binary search expects, the soname links ldconfig would create.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake::apt::detail {

/// What ldconfig reads from a shared library.
struct ElfInfo {
    std::string soname;          ///< DT_SONAME ("" when it has none)
    std::int32_t flags = 0;      ///< ldconfig's FLAG_* (0x0303 for x86-64 libc6)
    std::uint32_t osversion = 0; ///< from the NT_GNU_ABI_TAG note (0 when none)
};

/// Is `name` a library name for ldconfig (lib*.so* or ld-*.so*)?
bool is_library_name(std::string_view name);

/// Reads ELF headers, the dynamic section and notes from a file streamed in order. Keeps
/// the start of the file (where the string table is, in every layout linkers write) up
/// to a limit, and the dynamic section and notes wherever they are.
class ElfScanner {
public:
    explicit ElfScanner(std::uint64_t size) : size_(size) {}
    void feed(const char* data, std::size_t size);
    /// nullopt when the file is not an ELF shared object ldconfig would take.
    std::optional<ElfInfo> finish() const;

private:
    struct Range {
        std::uint64_t offset, size;
        std::string bytes;
    };
    void plan();

    std::uint64_t size_;
    std::uint64_t at_ = 0;
    std::string head_; ///< the first bytes of the file
    bool planned_ = false;
    bool bad_ = false;
    std::vector<Range> ranges_; ///< PT_DYNAMIC and PT_NOTE contents
};

/// ldconfig's ordering of library names (_dl_cache_libcmp): digit runs compare as
/// numbers.
int libcmp(std::string_view a, std::string_view b);

/// A node of the image, as far as ldconfig cares.
struct ImageNode {
    enum class Type { file, directory, symlink, other } type = Type::file;
    std::string target;         ///< symlinks
    std::optional<ElfInfo> elf; ///< files with library names
    std::string content;        ///< ld.so.conf files
};

/// The image's files (paths without the leading '/').
using ImageView = std::map<std::string, ImageNode>;

struct LdCache {
    std::string bytes; ///< the ld.so.cache file
    /// Soname links ldconfig would create or correct: path -> target (a file name).
    std::map<std::string, std::string> links;
    /// The directories searched, in order (for messages and tests).
    std::vector<std::string> dirs;
};

/// The library directories ldconfig searches: /etc/ld.so.conf with its includes (glob
/// patterns, sorted), then the system directories of `arch` (dpkg's name).
std::vector<std::string> library_dirs(const ImageView& view, const std::string& arch);

/// Builds ld.so.cache for `view`. `generator` is written in the cache's generator
/// extension ("ldconfig ..." for glibc's own).
LdCache make_ld_cache(const ImageView& view, const std::string& arch, const std::string& generator);

/// Resolves a path through the view's symlinks (as a chroot would); "" when it dangles
/// or loops.
std::string resolve_in(const ImageView& view, const std::string& path);

} // namespace ocibake::apt::detail
