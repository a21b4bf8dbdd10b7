// Internal: helpers of the apt module. Not installed.
#pragma once

#include "common/process.hpp"
#include "common/strings.hpp"
#include "ocibake/apt.hpp"

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ocibake::apt::detail {

using ocibake::detail::ascii_lower;
using ocibake::detail::trim;

/// A file entry holding `content`, owned by root: what dpkg or a maintainer script writes.
LayerEntry file_entry(std::string path, std::string content, std::uint32_t mode = 0644);
/// A symlink entry `path` -> `target` (mode 0777), owned by root.
LayerEntry symlink_entry(std::string path, std::string target);

/// Whitespace-separated words.
std::vector<std::string> words(std::string_view text);

/// A deb822 paragraph whose names and values are views into the parsed text (a large
/// Packages index is read without copying its values).
struct RawParagraph {
    std::vector<std::pair<std::string_view, std::string_view>> fields;
    std::uint32_t line = 0;
    std::string_view get(std::string_view name) const;
    bool has(std::string_view name) const;
};

/// Calls `fn` for each paragraph of `text`. Error(integrity) naming origin:line.
void for_each_paragraph(std::string_view text, std::string_view origin,
                        const std::function<void(const RawParagraph&)>& fn);

/// Programs (gpgv) are run by common/process.hpp's run_program().
using ocibake::detail::ProgramResult;
using ocibake::detail::run_program;

/// Decompresses a whole gzip, xz, bzip2 or zstd (or plain) buffer with libarchive's raw
/// reader; one that decompresses to nothing gives "". Error(integrity) naming `origin`.
std::string decompress(std::string_view data, std::string_view origin);

/// The text between "-----BEGIN PGP SIGNED MESSAGE-----" and the signature of a
/// clearsigned message, dash-escaping undone (for trusted sources: nothing is checked).
std::string clearsigned_text(std::string_view message);

/// An ASCII-armored OpenPGP block decoded to its binary packets (no crypto: base64).
/// nullopt when `text` is not armored.
std::optional<std::string> dearmor(std::string_view text);

/// Verifies a signature with gpgv against `keyring` (binary or armored). With
/// `detached` empty, `signed_file` is a clearsigned message whose verified payload is
/// returned; else `detached` is the signature of `signed_file`, whose content is returned.
/// Error(integrity) with gpgv's reason (bad signature, unknown key, expired key, ...),
/// naming `what`.
std::string gpg_verify(const std::string& gpgv, const std::filesystem::path& keyring,
                       const std::filesystem::path& signed_file,
                       const std::filesystem::path& detached, const std::filesystem::path& tmp,
                       const std::string& what);

} // namespace ocibake::apt::detail
