// Internal: the [[layer.archive]] and [[layer.nvidia]] part of locks and builds
// (docs/recipe.md, docs/lock.md).
#pragma once

#include "ocibake/build.hpp"
#include "ocibake/lock.hpp"
#include "ocibake/recipe.hpp"

#include <vector>

namespace ocibake::detail {

struct ArchiveContext {
    const Recipe& recipe;
    const BuildOptions& options;
    Store& store;
};

/// True when some layer has a [[layer.archive]] or a [[layer.nvidia]].
bool has_archive_layers(const Recipe& recipe);

/// `ocibake lock`: every archive layer's entry, in recipe order. An entry of `old` that
/// still answers its layer is kept as it is; another is made: a [[layer.archive]] is
/// fetched into the store (checked against the recipe's sha256 or sha512 while it
/// streams), a [[layer.nvidia]] component is read from its manifest (fetched; its
/// archives are fetched at build time, checked against the manifest's sha256 and size).
std::vector<LockedArchiveLayer> lock_archive_layers(const ArchiveContext& context,
                                                    const std::vector<LockedArchiveLayer>& old);

/// A build: each layer's archive entries (empty for layers without archives), from the
/// lock; a lock without the layer's entry gets it (`written`), one whose entry no longer
/// answers the recipe is an error naming it (unless options.update_lock).
std::vector<std::vector<LayerEntry>> plan_archive_layers(const ArchiveContext& context,
                                                         bool& written);

/// The stand-ins of BuildOptions::stand_ins, one per layer they replace, in recipe order:
/// each package must be satisfied by some layer (else Error(usage) naming what the recipe
/// satisfies), whose archives must all be that package's payload, and the file must exist
/// (it is hashed here).
std::vector<StandIn> resolve_stand_ins(const Recipe& recipe, const BuildOptions& options);

/// The installer packages the recipe's archives say they satisfy (`satisfies`): package
/// name -> the recipe position that says so.
std::vector<std::pair<std::string, SourceLocation>> satisfied_installers(const LayerSpec& layer);

} // namespace ocibake::detail
