// Shared by the libFuzzer targets: a scratch directory, a store, and the checksum fixers
// that let mutations reach the entries of a tar (or of the tars inside a .deb) instead of
// stopping at a header checksum. Not part of the library.
#pragma once

#include "ocibake/cas.hpp"
#include "ocibake/digest.hpp"
#include "ocibake/error.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake::fuzz {

/// Once per process (LLVMFuzzerInitialize): stdin from /dev/null, no CAP_MKNOD (a
/// layer's device nodes are refused instead of made: nothing a bug could write through),
/// PATH to an empty directory (no docker-credential-* helper is ever run), umask 022.
void init();

/// Prints `e` to stderr when OCIBAKE_FUZZ_VERBOSE is set (to see why a seed is refused
/// when replaying it: `OCIBAKE_FUZZ_VERBOSE=1 build/asan/fuzz/fuzz_x FILE`).
void expected(const std::exception& e);

/// A directory of this process's own, below $OCIBAKE_FUZZ_TMP, else /dev/shm when it is
/// writable (no disk I/O per input), else the system temp directory. Removed at exit.
const std::filesystem::path& scratch();

/// A fresh, empty directory below scratch() named `name`.
std::filesystem::path fresh_dir(std::string_view name);

/// Removes everything in `dir` (and `dir`), making directories writable on the way (an
/// unpacked layer may hold 0000 directories). Never follows a symlink.
void wipe(const std::filesystem::path& dir);

/// A store below scratch(), the same for the whole process.
Store& store();

/// `bytes` as a blob of store(), removed from it again when this goes away.
class TempBlob {
public:
    explicit TempBlob(std::string_view bytes);
    ~TempBlob();
    TempBlob(const TempBlob&) = delete;
    TempBlob& operator=(const TempBlob&) = delete;
    const Digest& digest() const noexcept { return digest_; }

private:
    Digest digest_;
};

/// Writes `bytes` to a file below scratch() and returns its path (replaced each call).
std::filesystem::path write_scratch_file(std::string_view name, std::string_view bytes);

/// Recomputes the checksum of every tar header in `tar[begin, end)`, following entry
/// sizes from header to header; stops at a header whose size does not parse.
void fix_tar_checksums(std::string& tar, std::size_t begin = 0,
                       std::size_t end = std::string::npos);

/// Fixes the tar checksums inside the uncompressed control.tar and data.tar members of
/// an ar archive (a .deb built with dpkg-deb -Znone).
void fix_deb_checksums(std::string& deb);

/// Splits `data` at lines that start with `marker` (the marker line itself is the
/// section's header, without the marker and the newline). Text before the first marker
/// is dropped. Lets one text input describe several files.
struct Section {
    std::string header;
    std::string body;
};
std::vector<Section> split_sections(std::string_view data, std::string_view marker);

} // namespace ocibake::fuzz
