// ocibake: what moves when a lock is made again: its diff, and what the image will rebuild.
//
//     ocibake::LockOptions o;
//     o.update = true;                 // `ocibake lock --update`
//     o.only = {"openssl"};            // --only: these packages (or sources, or wheels)
//     ocibake::LockResult r = ocibake::lock_recipe(recipe, build_options, o);
//     for (const ocibake::LockChange& c : r.diff.changes) { ... }
//     for (const ocibake::LayerForecast& f : r.diff.layers) { ... }  // predicted
//
// `ocibake outdated` is lock_recipe() with update and dry_run (docs/cli.md, docs/lock.md).
#pragma once

#include "ocibake/digest.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ocibake {

/// How `ocibake lock` treats the pins of the lock it finds (docs/lock.md).
struct LockOptions {
    /// false (`ocibake lock`): an entry that still answers the recipe is kept as it is, and
    /// a stale or missing one is resolved keeping the other pins where they still fit.
    /// true (`--update`): the pins move to what the sources offer now.
    bool update = false;
    /// With update: only these move (apt package names, Debian source package names,
    /// wheel names, or the base's reference), with what must move with them; every other
    /// pin is kept where it still fits. Empty: everything.
    std::vector<std::string> only;
    /// With update: only apt packages that a security suite offers move (per source
    /// package), with what must move with them.
    bool security_only = false;
    /// Compute the new lock and its diff, write nothing (`ocibake outdated`).
    bool dry_run = false;
};

/// One pin that moves, arrives or leaves.
struct LockChange {
    /// archive: a [[layer.archive]] or a [[layer.nvidia]] component; its name is the
    /// component ("cudnn") or the URL's file name, from/to its version (NVIDIA's) or its
    /// sha256 ("sha256:" and 12 hex digits), file the new URL.
    enum class Kind { apt, wheel, archive };
    Kind kind = Kind::apt;
    std::string layer;  ///< the recipe layer
    std::string name;   ///< the package, or the wheel's normalised name
    std::string arch;   ///< apt: the architecture
    std::string source; ///< apt: the Debian source package
    std::string from;   ///< the locked version; "" for a package that arrives
    std::string to;     ///< the new version; "" for a package that leaves
    std::string file;   ///< wheel: the new file name ("" when it leaves)
    /// Download size of the new .deb or wheel (0 when it leaves).
    std::uint64_t size = 0;
    /// apt: the new version comes from a security suite (apt::security_suite()).
    bool security = false;
    /// Why it moves when it was not asked to ("" when it was): a dependency that must
    /// move with an updated package, a pin the sources no longer offer, a recipe change.
    std::string reason;
};

/// The registry base, when its tag now names another image.
struct BaseChange {
    std::string ref;
    std::string platform;
    Digest from; ///< the locked manifest ("" when the lock had no base)
    Digest to;
    /// The new base's layers the old one did not have: what a pull fetches.
    std::uint64_t new_layer_bytes = 0;
};

/// A layer of the new image whose digest will change: predicted from the two locks alone,
/// before anything is built (docs/lock.md, "The diff, and what the image will rebuild").
struct LayerForecast {
    /// The layer's name as `ocibake build` reports it (its --json `layers[].name`): "base"
    /// for a layer of the base, a part of a recipe layer's packages ("system/zlib", or
    /// "system" when the layer is one part), a layer of the recipe's own files and wheels
    /// ("tools", "system/files"), "state" for the state layer.
    std::string name;
    std::string layer; ///< the recipe layer ("" for the base's layers and the state layer)
    /// Why it changes ("zlib1g 1:1.2.13-1 -> 1:1.2.13-2", "2 packages change").
    std::string why;
    /// What a pull fetches for it: a base layer's size in its manifest (exact); a part's
    /// .deb sizes, a layer's wheel sizes (they stand for its compressed size); nullopt for
    /// the state layer (thin; its size is known once built).
    std::optional<std::uint64_t> bytes;
    Digest digest; ///< a base layer's digest (known before the build); empty otherwise
};

/// The lock before and after, compared.
struct LockDiff {
    std::optional<BaseChange> base;
    std::vector<LockChange> changes;   ///< in the recipe's layer order, then by name
    std::vector<LayerForecast> layers; ///< layers whose digest will change, in image order
    std::uint64_t pull_bytes = 0;      ///< the sum of their known bytes

    bool empty() const noexcept { return !base && changes.empty(); }
    /// Some package comes from a security suite.
    bool security() const noexcept;
};

} // namespace ocibake
