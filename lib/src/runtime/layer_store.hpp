// Internal: the unpacked-layer store, and overlayfs mounts of its layers.
//
//     <cache>/unpacked/<diffID hex>/root/      the layer alone, whiteouts as overlayfs's
//     <cache>/unpacked/<diffID hex>/implicit   directories made for its entries that the
//                                              layer does not list (one path a line)
//     <cache>/unpacked/tmp/<hex>-<pid>-<rand>/ a layer being unpacked (never used)
//     <cache>/leases/<id>                      what a live container uses (cas.hpp)
//
// A layer is unpacked into tmp/, verified against its diffID while it streams, and
// renamed into place only when whole: a directory under unpacked/ is a complete layer.
// Two processes unpacking one layer both finish; the second rename finds the first's
// and throws its own copy away (no lock, no wait). docs/runtime.md has the design.
#pragma once

#include "ocibake/cas.hpp"
#include "ocibake/run.hpp"

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace ocibake::detail {

/// The store's directories of `image`'s layers (bottom first), unpacking the missing ones
/// in parallel (`threads`, 0 = every core). `unpacked` gets how many it unpacked. Each
/// used layer's mtime is set to now (gc's last use).
std::vector<std::filesystem::path> ensure_unpacked_layers(
    const Store& store, const SourceImage& image, unsigned threads, const Interrupt* interrupt,
    const std::function<void(const UnpackProgress&)>& progress, std::size_t& unpacked);

/// "" when an overlay of `layers` (bottom first) shows exactly the tree a full unpack
/// makes; else why not (a directory a layer made up hides another's mode or owner, or a
/// lower symlink or file). Cached in the store by the layers' chain.
std::string overlay_difference(const Store& store, const SourceImage& image,
                               const std::vector<std::filesystem::path>& layers);

/// Mounts an overlay of `layers` (bottom first) with `upper` and `work` at `target`.
/// Returns "" or why the kernel refused.
std::string mount_overlay(const std::vector<std::filesystem::path>& layers,
                          const std::filesystem::path& upper, const std::filesystem::path& work,
                          const std::filesystem::path& target);

} // namespace ocibake::detail
