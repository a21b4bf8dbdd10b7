// Internal: a layer of Debian packages (the build module calls this).
#pragma once

#include "apt/fetch.hpp"
#include "common/thread_pool.hpp"
#include "ocibake/apt.hpp"
#include "ocibake/layer.hpp"

#include <string>
#include <vector>

namespace ocibake::apt::detail {

/// What one layer with packages holds.
struct AptLayerPlan {
    std::string name; ///< the layer's name, for messages
    /// The packages to install (the lock's entries, sorted by name, then architecture).
    std::vector<LockedPackage> packages;
    /// Packages the recipe's earlier apt layers install (their dpkg status stanzas are
    /// merged into this layer's status).
    std::vector<LockedPackage> earlier;
    /// The base image below.
    ImageFacts below;
    /// The accounts of the recipe's earlier layers that are built on the image below, in
    /// order: /etc/passwd and friends as they leave them are what this layer's accounts
    /// are added to. `packages` are the layer's (base-passwd's masters come from them).
    struct EarlierAccounts {
        std::vector<LockedPackage> packages;
        std::vector<Account> accounts;
        std::vector<Group> groups;
    };
    std::vector<EarlierAccounts> earlier_accounts;
    /// The layer's own entries (copies and files), written after the packages' (a path
    /// they share is the layer's own).
    std::vector<LayerEntry> extra;
    /// What scripts would have done, stated in the recipe.
    std::vector<Account> accounts;
    std::vector<Group> groups;
    std::vector<AlternativeChoice> alternatives;
    bool ldconfig = false;             ///< write ld.so.cache even without new libraries
    std::string arch = "amd64";        ///< the image's (dpkg's name)
    std::string generator = "ocibake"; ///< written into ld.so.cache
    /// Where a package its url no longer has is looked for, and where that is told (not
    /// owned; null: the url only).
    Fallbacks* fallbacks = nullptr;
};

/// Builds the layer (or finds it in the layer cache, keyed by the packages' digests, the
/// image below, the layer's own entries and the options): the packages' files streamed
/// from their data.tar, then the dpkg database, then `extra`.
LayerResult build_apt_layer(Store& store, http::Client& client, const AptLayerPlan& plan,
                            const LayerOptions& options, ocibake::detail::ThreadPool* pool,
                            CacheStatus* status, Progress* progress);

} // namespace ocibake::apt::detail
