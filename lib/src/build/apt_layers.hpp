// Internal: the recipe's layers that list Debian packages: resolving them, pinning them in
// the lock, checking the lock against the recipe.
#pragma once

#include "common/thread_pool.hpp"
#include "ocibake/apt.hpp"
#include "ocibake/build.hpp"

#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

namespace ocibake::detail {

/// True when some layer lists packages.
bool has_apt_layers(const Recipe& recipe);
/// True when some layer is built on the image below (packages, accounts, groups,
/// alternatives): the base's facts are read for it.
bool uses_image_below(const Recipe& recipe);

/// The dpkg architecture of the recipe's platform.
std::string apt_native_arch(const Recipe& recipe);

/// HTTP for the recipe's apt sources. Plain HTTP is allowed to their hosts, as apt does:
/// the Release is signed and every index and package is checked against it.
http::Client apt_client(const Recipe& recipe, const BuildOptions& options);

/// `ocibake lock`'s apt part: the recipe's apt layers resolved against one index (fetched
/// once, when a layer needs resolving), keeping or preferring the lock's pins.
class AptLocker {
public:
    AptLocker(const Recipe& recipe, Store& store, const BuildOptions& options,
              const apt::ImageFacts& base);
    ~AptLocker();
    AptLocker(const AptLocker&) = delete;
    AptLocker& operator=(const AptLocker&) = delete;

    /// Every apt layer of the recipe, in order. With `keep_current`, an entry of `old` that
    /// still answers the recipe (its requests, sources and what is below) is kept as it is.
    /// Other layers are resolved, preferring the packages of their old entry that
    /// `may_move` does not free (apt::ResolveOptions::prefer).
    std::vector<LockedAptLayer> lock(const std::vector<LockedAptLayer>& old, bool keep_current,
                                     const std::function<bool(const LockedPackage&)>& may_move);

    /// The package as the sources offer it now; nullptr when they no longer do.
    const apt::Candidate* offered(const LockedPackage& package);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// The apt layers the lock pins: the lock's entries when they match the recipe; entries
/// the lock lacks (or every entry, with update_lock) are resolved and the lock rewritten.
/// An entry that no longer matches is an error at the lock's line naming it.
std::vector<LockedAptLayer> locked_apt_layers(const Recipe& recipe, Store& store,
                                              const BuildOptions& options,
                                              const apt::ImageFacts& base,
                                              const std::filesystem::path& lock_file,
                                              bool& written);

/// Builds a layer that lists packages: the lock's packages for it, the packages of the
/// apt layers before it (their dpkg status), the base's facts and the layer's own entries.
LayerResult build_apt_layer_on(Store& store, http::Client& client, const Recipe& recipe,
                               const LayerSpec& spec, const std::vector<LockedAptLayer>& locked,
                               const apt::ImageFacts& below, std::vector<LayerEntry> extra,
                               const LayerOptions& options, ThreadPool* pool, CacheStatus* status,
                               Progress* progress);

} // namespace ocibake::detail
