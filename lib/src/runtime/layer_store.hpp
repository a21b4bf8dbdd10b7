// Internal: the unpacked-layer store, and overlayfs mounts of its layers.
//
//     <cache>/unpacked/<diffID hex>/root/      the layer alone, whiteouts as overlayfs's
//     <cache>/unpacked/<diffID hex>/implicit   directories made for its entries that the
//                                              layer does not list (one path a line)
//     <cache>/unpacked/flat-<key>-<boot>/root/ an image's layers as one tree of hard links
//                                              (flat_lower.cpp), <key> from their diffIDs
//     <cache>/unpacked/tmp/<name>-<pid>-<rand>/ a layer or flat lower being made (never used)
//     <cache>/leases/<id>                      what a live container uses (cas.hpp)
//
// A layer is unpacked into tmp/, verified against its diffID while it streams, and
// renamed into place only when whole: a directory under unpacked/ is a complete layer.
// Two processes unpacking one layer both finish; the second rename finds the first's
// and throws its own copy away (no lock, no wait). docs/runtime.md has the design.
#pragma once

#include "ocibake/cas.hpp"
#include "ocibake/run.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ocibake::detail {

/// The xattr that marks a directory opaque for overlayfs (what is below it does not show).
inline constexpr const char* kOpaqueXattr = "trusted.overlay.opaque";

/// Last use, for gc (which keeps what was used in 30 days): a layer's or flat lower's
/// directory mtime is renewed when it is this old or older (an hour ago, in seconds
/// since the epoch): a stat costs less than the inode write of a touch on every run.
std::int64_t last_use_mark_due();

/// The store's directories of `image`'s layers (bottom first), unpacking the missing ones
/// in parallel (`threads`, 0 = every core). `unpacked` gets how many it unpacked. Each
/// used layer's mtime is set to now (gc's last use).
std::vector<std::filesystem::path> ensure_unpacked_layers(
    const Store& store, const SourceImage& image, unsigned threads, const Interrupt* interrupt,
    const std::function<void(const UnpackProgress&)>& progress, std::size_t& unpacked);

/// "" when an overlay of `layers` (bottom first) shows exactly the tree a full unpack
/// makes; else why not (a directory a layer made up hides another's mode or owner, or a
/// lower symlink or file). Cached in the store by the layers' chain; `checked_before`
/// (when given) is set when the answer came from there.
std::string overlay_difference(const Store& store, const SourceImage& image,
                               const std::vector<std::filesystem::path>& layers,
                               bool* checked_before = nullptr);

/// The name of the flat lower of `image`'s layers under unpacked/ ("flat-" + a hash of
/// their diffIDs, bottom first, + "-" + this boot's id).
std::string flat_lower_name(const SourceImage& image);

/// The root of the flat lower `name` when the store has it (its last-use mark renewed).
std::optional<std::filesystem::path> find_flat_lower(const Store& store, const std::string& name);

/// Makes the flat lower `name` of `layers` (bottom first; checked by overlay_difference):
/// one tree that shows what their overlay shows, its directories made anew, every other
/// entry a hard link to the topmost layer's. Made in tmp/ on every core, then renamed
/// into place unsynced (another process's, made first, wins); the image's flat lowers of
/// other boots are removed. Returns its root. Error(io) on failure,
/// nothing left behind.
std::filesystem::path make_flat_lower(const Store& store, const std::string& name,
                                      const std::vector<std::filesystem::path>& layers,
                                      const Interrupt* interrupt);

/// Mounts an overlay of `layers` (bottom first) with `upper` and `work` at `target`.
/// Returns "" or why the kernel refused.
std::string mount_overlay(const std::vector<std::filesystem::path>& layers,
                          const std::filesystem::path& upper, const std::filesystem::path& work,
                          const std::filesystem::path& target);

} // namespace ocibake::detail
