// Internal: the state layer, the image's top layer: what is a function of the whole image
// (/var/lib/dpkg/status, ld.so.cache and its soname links, the account files, the
// alternatives, the CA bundle), made from facts only, sorted.
#pragma once

#include "apt/effects.hpp"
#include "apt/model.hpp"
#include "ocibake/layer.hpp"
#include "ocibake/lock.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace ocibake::apt::detail {

/// One item of the image above the base, as the state layer reads it.
struct StateItem {
    std::size_t layer = 0; ///< the recipe layer's index
    /// A part: its packages, their records and what the part did.
    const std::vector<LockedPackage>* packages = nullptr;
    std::vector<const DebInfo*> infos;
    const PartOutcome* outcome = nullptr;
    /// Or a layer's own entries (copies, files, wheels).
    const std::vector<LayerEntry>* entries = nullptr;
};

/// What a recipe layer states of what scripts would have done.
struct StateDecl {
    std::vector<Account> accounts;
    std::vector<Group> groups;
    std::vector<AlternativeChoice> alternatives;
    bool ldconfig = false;
    /// Built on the image below (packages, accounts, alternatives, ldconfig): its own
    /// libraries and linker configuration are read for ld.so.cache.
    bool uses_image_below = false;
};

struct StateInputs {
    const ImageFacts* base = nullptr;
    std::vector<StateItem> items; ///< in the image's order
    std::vector<StateDecl> layers;
    std::string arch = "amd64";        ///< the image's (dpkg's name)
    std::string generator = "ocibake"; ///< written into ld.so.cache
};

/// The state layer's entries, sorted by path (empty when nothing is to be written).
std::vector<LayerEntry> state_entries(const StateInputs& inputs);

/// The state layer's cache key: everything it is made from (the base's facts, every
/// package and entry of the image, every declaration, the format).
Digest state_key(const StateInputs& inputs, const LayerOptions& options);

/// Hashes entries as a layer cache key does (metadata, content or host identity).
void hash_entries(KeyHasher& h, const std::vector<LayerEntry>& entries);

} // namespace ocibake::apt::detail
