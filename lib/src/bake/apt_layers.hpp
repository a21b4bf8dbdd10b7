// Internal: the recipe's layers that list Debian packages: resolving them, pinning them in
// the lock, checking the lock against the recipe.
#pragma once

#include "apt/fetch.hpp"
#include "apt/image_build.hpp"
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

/// Where the build looks for each locked package its url no longer has: the mirrors and
/// snapshot service of the [[apt.source]] it came from, the snapshot by the Release Dates
/// its layer's lock entry records (apt::fallback_places()).
std::unique_ptr<apt::detail::Fallbacks> apt_fallbacks(const Recipe& recipe,
                                                      const std::vector<LockedAptLayer>& locked);

/// Keeps the Release Dates of an `old` entry whose resolution gave the same packages
/// again (so that locking again without a change leaves the lock's text as it was).
void keep_release_dates(std::vector<LockedAptLayer>& fresh, const std::vector<LockedAptLayer>& old);

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

/// The image above the base when some layer is built on the image below: each layer's
/// packages as parts, its own entries (copies, files, wheels) as one more layer on top of
/// them (`NAME/files`, or `NAME` when it has no packages), and the state layer last.
struct ImagePlan {
    std::vector<apt::detail::ImageItem> items;
    std::vector<apt::detail::StateDecl> layers; ///< per recipe layer
    /// How packages were split: the defaults, or coarser to stay within [build] max_layers.
    apt::detail::SplitOptions split;
};

/// How the packages of the recipe's layers split into parts: per recipe layer its parts
/// (none for a layer without packages), and the split options used. `own_entries`: per
/// recipe layer, whether it has entries of its own (copies, files, wheels: one more layer).
/// The packages are split with T = 2 MB and K = 6, both doubled until the image (with its
/// `base_layers`) has at most [build] max_layers layers or no layer splits any more.
/// Error(input) naming the budget when it still has more. Needs nothing but the lock:
/// `ocibake lock --update` predicts with it which parts a build will write.
struct ImageSplit {
    std::vector<std::vector<apt::detail::PartPlan>> parts;
    apt::detail::SplitOptions split;
};
ImageSplit split_image(const Recipe& recipe, const std::vector<LockedAptLayer>& locked,
                       const std::vector<bool>& own_entries, std::size_t base_layers);

/// Plans the image: `entries` and `options` per recipe layer, `state` the state layer's
/// options. The packages are split as split_image() says.
ImagePlan plan_image(const Recipe& recipe, const std::vector<LockedAptLayer>& locked,
                     std::vector<std::vector<LayerEntry>> entries,
                     const std::vector<LayerOptions>& options, const LayerOptions& state,
                     std::size_t base_layers);

} // namespace ocibake::detail
