// Internal: installer packages, whose real payload their maintainer scripts download
// (Debian's nvidia-cudnn, ttf-mscorefonts-installer...). ocibake runs no maintainer
// scripts, so such a package would install nothing of its payload: a lock refuses it
// unless the recipe provides the payload (docs/apt.md, "Installer packages").
#pragma once

#include "ocibake/apt.hpp"
#include "ocibake/cas.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake::apt::detail {

/// Packages known to download their payload in their scripts (docs/apt.md keeps the same
/// list). Others are found by reading them (inspect_installer).
const std::vector<std::string_view>& listed_installers();

/// What an installer would have downloaded, as its scripts state it.
struct InstallerDownload {
    std::string url;
    std::string checksum; ///< "sha512:<hex>", "sha256:<hex>", or "" when none is stated
};

struct InstallerFinding {
    std::string package;
    std::string version;
    /// How it was told: "its postinst runs /usr/sbin/update-nvidia-cudnn, which downloads
    /// with curl or wget".
    std::string evidence;
    std::vector<InstallerDownload> downloads; ///< for the image's architecture
};

/// True when a package is worth reading for downloads: listed, named "*-installer", or
/// depending on wget or curl (Pre-Depends, Depends, any alternative).
bool may_download(const Candidate& candidate);

/// True when shell text runs wget or curl (as a command word).
bool runs_downloader(std::string_view script);

/// URLs (and their checksums) a script states for `arch` (dpkg's name: amd64, arm64...):
/// shell assignments URL_<arch>=... with SHA512_<arch>= / SHA256_<arch>= beside them;
/// without those, every http(s) URL of an archive (.tar.*, .tgz, .zip, .run...).
std::vector<InstallerDownload> stated_downloads(std::string_view script, std::string_view arch);

/// Reads a stored .deb: its preinst, postinst and config, and the programs of its own
/// data they run (by file name). A finding when one of them runs a downloader, or when
/// `listed` (then the evidence says so).
std::optional<InstallerFinding> inspect_installer(const Store& store, const Digest& deb,
                                                  const std::string& name,
                                                  const std::string& version,
                                                  const std::string& arch, bool listed);

} // namespace ocibake::apt::detail
