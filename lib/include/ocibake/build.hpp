// ocibake: building a recipe into an image.
//
//     ocibake::BuildOptions options;
//     options.output = ocibake::OutputTarget::parse("oci:out/hello");
//     ocibake::BuildResult r = ocibake::build_recipe_file("recipes/hello.toml", options);
//     std::cout << r.image.manifest_descriptor.digest.str() << "\n";
#pragma once

#include "ocibake/cas.hpp"
#include "ocibake/image.hpp"
#include "ocibake/layer.hpp"
#include "ocibake/lock.hpp"
#include "ocibake/recipe.hpp"
#include "ocibake/registry.hpp"
#include "ocibake/remote_cache.hpp"
#include "ocibake/update.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ocibake {

struct BuildOptions {
    /// The cache; empty = Store::default_root().
    std::filesystem::path cache_dir;
    /// Where the image goes; default OutputTarget::default_for(recipe name),
    /// "oci:out/<recipe name>" (relative to the current directory).
    std::optional<OutputTarget> output;
    /// Threads for layer work; 0 = all cores. Never changes the bytes.
    unsigned threads = 0;
    /// Overrides the recipe's [build] source_date_epoch (the CLI passes
    /// source_date_epoch_of(--source-date-epoch): the flag, else $SOURCE_DATE_EPOCH).
    std::optional<std::int64_t> source_date_epoch;
    Progress* progress = nullptr;
    /// How registries are reached (bases, pushes).
    registry::Options registry;
    /// Re-resolve every remote input and rewrite the lock (`build --update-lock`: what
    /// `ocibake lock --update` does, then the build).
    bool update_lock = false;
    /// Refuse any change to the lock (`build --locked`, for CI, as cargo's): an input the
    /// lock has no entry for, or an entry the recipe no longer matches, is an error at its
    /// line. Without it a build first does what `ocibake lock` does: the entries whose
    /// recipe inputs changed (or are missing) are resolved again, every other pin stays,
    /// and BuildResult::lock_update says what moved.
    bool locked = false;
    /// The lock file; empty = beside the recipe (app.toml -> app.lock).
    std::filesystem::path lock_file;
    /// Write the image to `output`. Off when the image is only pushed: then the layers of
    /// a registry base are never fetched (a push mounts or streams them).
    bool write_output = true;
    /// Refuse a base whose layers `ocibake run` would refuse (Error(input), or
    /// Error(integrity) for a layer that does not match its digests), fetching a registry
    /// base's layers to check them. Without it such layers are reported in
    /// BuildResult::base_checks and the build goes on.
    bool strict = false;
    /// A remote layer cache to read (`--cache-from`, docs/cache.md): registry/repository
    /// [:tag]; empty = the recipe's [build] cache, unless no_cache_from.
    std::string cache_from;
    bool no_cache_from = false;
    /// Keep the cache records the build used in BuildResult::cache_records (what
    /// export_cache() writes; `--cache-to`).
    bool keep_cache_records = false;
    /// Layer blobs of the remote cache not to use (digest -> why; a warning says it): those
    /// an output found gone (remote_cache_missing()).
    std::map<Digest, std::string> cache_from_ignore;
    /// Stand-ins (`--stand-in PACKAGE=ARCHIVE`, docs/recipe.md#stand-ins): the payload of
    /// the installer package PACKAGE is taken from this local archive instead of the
    /// recipe's [[layer.archive]] or [[layer.nvidia]] that `satisfies` it. That layer is
    /// then neither locked nor fetched (its lock entry, if any, is kept as it is), the image
    /// gets the label `org.ocibake.stand-in.PACKAGE` and the file
    /// /usr/share/doc/ocibake/stand-in/PACKAGE, and the result lists it: never silent.
    std::map<std::string, std::filesystem::path> stand_ins;
};

/// A stand-in that a build or lock used (BuildOptions::stand_ins).
struct StandIn {
    std::string package;        ///< the installer package whose payload it replaces
    std::string layer;          ///< the recipe layer whose archives it replaces
    SourceLocation where;       ///< the `satisfies` it answers
    std::filesystem::path file; ///< the archive, as given
    Digest sha256;              ///< of the archive
    std::uint64_t size = 0;
    std::string replaces; ///< the URLs or manifests (comma separated) not used
    /// "sha256:HEX FILENAME": the label's value (no directory, so no host path reaches
    /// the image).
    std::string label() const;
};

/// One layer of the built image. A recipe layer with packages makes several (docs/apt.md):
/// its parts ("system/bash"; "system" when it has one), its own copies and files
/// ("system/files"); the image's top layer is then "state".
struct LayerReport {
    std::string name;
    std::string recipe_layer; ///< the recipe's [[layer]] it comes from ("" for base, state)
    std::size_t packages = 0; ///< a part's packages (0 for other layers)
    LayerResult layer;
    bool from_base = false;
    CacheStatus cache = CacheStatus::built; ///< meaningless for base layers
    std::size_t entries = 0;
    double seconds = 0; ///< time spent on this layer (listing, cache lookup, writing)

    /// How it was had, as `ocibake build` says it: "base", "cached" (hit), "verified",
    /// "built" or "remote".
    std::string_view cache_word() const;
};

struct LockResult {
    std::filesystem::path file;
    Lock lock; ///< the new lock
    /// The lock differs from the file's (it was written, unless dry_run).
    bool changed = false;
    bool written = false;
    /// What moved from the file's lock to the new one, and what the image will rebuild.
    LockDiff diff;
    /// Layers whose archives a stand-in replaced: not locked (an entry of the file kept).
    std::vector<StandIn> stand_ins;
};

struct BuildResult {
    BuiltImage image;
    OutputTarget output;
    std::vector<LayerReport> layers; ///< base layers first
    double seconds = 0;
    double layer_seconds = 0;  ///< wall time of the (parallel) layer phase
    double output_seconds = 0; ///< writing the output
    /// Layers of the recipe that had to be written (0 on a fully cached rebuild).
    std::size_t layers_built() const;
    /// The lock was written (it was missing an entry, an entry no longer matched the
    /// recipe, or --update-lock).
    bool lock_written = false;
    /// What the build moved in the lock before building (not with `locked` or
    /// `update_lock`): set when the lock changed.
    std::optional<LockResult> lock_update;
    bool wrote_output = false;
    /// How packages were split into parts (docs/apt.md): the size from which a source
    /// package is a part of its own, and the modulus of the boundary hash (both 0 when no
    /// layer is built on the image below). Larger than 2 MB and 6 when [build] max_layers
    /// asked for fewer layers.
    std::uint64_t part_threshold = 0;
    std::uint64_t part_modulus = 0;
    /// Base layers fetched from a registry for this build (0 when they stayed remote).
    std::size_t base_layers_fetched = 0;
    /// One per base layer, in order: what reading it with `ocibake run`'s rules found
    /// (check_layers()). A layer left remote (a push without a local output, without
    /// `strict`) is `unchecked`.
    std::vector<LayerCheck> base_checks;
    std::filesystem::path lock_file;
    /// Cached blobs found corrupt on the way: each was dropped from the cache and made
    /// again (rebuilt or fetched) by building once more.
    std::vector<DroppedBlob> dropped_blobs;
    /// Locked .debs that their url no longer had, fetched from a mirror or a snapshot
    /// service instead (docs/apt.md), sorted by name.
    std::vector<apt::FetchedElsewhere> fetched_elsewhere;
    /// What the remote cache read (--cache-from) found, when one was asked for.
    std::optional<remote_cache::LookupReport> remote_cache;
    /// Layers served by the remote cache (CacheStatus::remote) fetched for the output, and
    /// their bytes (0 when the image is only pushed).
    std::size_t remote_layers_fetched = 0;
    std::uint64_t remote_bytes_fetched = 0;
    /// The records the image's layers were found or made by (BuildOptions::
    /// keep_cache_records): namespace -> key -> text.
    remote_cache::Records cache_records;
    std::string recipe_name;
    /// The image key (docs/cache.md, "The image key"): a digest of the recipe, its lock
    /// and its local inputs, computed before any layer is planned; empty when the base is
    /// a local OCI layout. `image_from_key`: every layer came from the remote cache's
    /// entry for it (nothing planned, no package or wheel downloaded).
    Digest image_key;
    bool image_from_key = false;
    /// The stand-ins the image holds (BuildOptions::stand_ins), in recipe order.
    std::vector<StandIn> stand_ins;
};

/// The layer blobs the remote cache served this build (CacheStatus::remote) that its
/// repository no longer has with their size (one HEAD each): after an output or a push
/// failed. Empty when it served none or all are there.
std::map<Digest, std::string> remote_cache_missing(const BuildResult& result,
                                                   const BuildOptions& options);
/// The same, for the cache at `ref`.
std::map<Digest, std::string> remote_cache_missing(const BuildResult& result,
                                                   const BuildOptions& options,
                                                   const registry::Reference& ref);

/// `build --push`: pushes the built image to `refs`. When that fails and the remote cache
/// served layers whose blobs are gone (or not of their size, remote_cache_missing()),
/// `warn` is told so ("the push failed (...): N layer(s) the remote cache served are not
/// there as it said; building them"), `recipe` is built again without those entries
/// (BuildOptions::cache_from_ignore) and that image pushed; `result` is then the second
/// build's, its layers the first build made counted as built. Any other failure is thrown.
registry::PushResult push_or_rebuild(const Store& store, BuildResult& result, BuildOptions options,
                                     const std::filesystem::path& recipe,
                                     const std::vector<registry::Reference>& refs,
                                     const registry::Options& registry,
                                     const std::function<void(const std::string&)>& warn);

/// `ocibake lock`: makes the recipe's lock answer the recipe (docs/lock.md). Without
/// `update`, entries that still answer it are kept as they are (nothing is resolved for
/// them: a current lock is left alone), and stale or missing ones are resolved keeping the
/// other pins where they still fit. With `update`, pins move to what the registry, apt
/// sources and indexes offer now (all of them, or those `only` and `security_only`
/// choose). The file is written when the lock changed, unless `dry_run`. A lock that does
/// not parse is remade (a dry run refuses it).
LockResult lock_recipe(const Recipe& recipe, const BuildOptions& options,
                       const LockOptions& lock_options = {});

/// Builds a loaded recipe: layers in parallel through the layer cache, the image
/// config merged over the base's, the output replaced only when complete. A cached blob
/// found corrupt is dropped and the build runs again (at most 3 more times), which makes
/// it anew; see BuildResult::dropped_blobs.
BuildResult build(const Recipe& recipe, const BuildOptions& options);

/// load_recipe() then build().
BuildResult build_recipe_file(const std::filesystem::path& recipe, const BuildOptions& options);

/// The SOURCE_DATE_EPOCH a build is given (BuildOptions::source_date_epoch): `flag` (the
/// text of `--source-date-epoch`) when not empty, else $SOURCE_DATE_EPOCH when set and not
/// empty, else none (the recipe's [build] source_date_epoch, then 0, apply). Error(usage)
/// naming the flag or the variable when it is not a non-negative integer.
std::optional<std::int64_t> source_date_epoch_of(std::string_view flag);

/// Writes what `result` used to the remote cache `ref` (`--cache-to`; the recipe's name
/// picks the tag when `ref` has none): its layers' cache entries and the records that
/// find them, as one artifact whose layers are the image's layer blobs (mounted or
/// skipped where the registry has them). Needs BuildOptions::keep_cache_records.
remote_cache::ExportReport export_cache(const BuildResult& result, std::string_view ref,
                                        const BuildOptions& options);

/// Removes cache entries unused for options.max_age and the blobs only they kept.
GcReport collect_garbage(const std::filesystem::path& cache_dir, const GcOptions& options);

} // namespace ocibake
