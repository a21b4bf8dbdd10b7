// Internal: the apt side of a build (the build module calls this): a recipe layer's
// packages split into parts, and the image above the base built item by item, each part
// keyed by its packages and the facts of the image below it uses, with one state layer
// on top (docs/apt.md, "Layers that stay put").
#pragma once

#include "apt/state.hpp"
#include "common/thread_pool.hpp"
#include "ocibake/apt.hpp"
#include "ocibake/layer.hpp"

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace ocibake::apt::detail {

/// How a recipe layer's packages are split into parts.
struct SplitOptions {
    /// A source package whose .debs weigh this much (lock sizes, bytes) is a part alone.
    std::uint64_t threshold = 2'000'000;
    /// Smaller ones share parts: a part ends after a source whose name hash is 0 mod this.
    std::uint64_t modulus = 6;
};

/// One part of a recipe layer: its name and packages (in the lock's order).
struct PartPlan {
    std::string name;
    std::vector<LockedPackage> packages;
};

/// The first 8 bytes of sha256(source), as a big-endian integer.
std::uint64_t source_hash(const std::string& source);

/// The parts of a recipe layer's packages: the packages of one source package (the lock's
/// `source`) are a unit; a unit whose .debs weigh `threshold` or more is a part of its
/// own; the others, in source-name order, are grouped, a group ending after a unit whose
/// source_hash() is 0 mod `modulus` (content-defined: adding, removing or changing one
/// unit changes one part, two when it is itself a boundary). Parts are in the order of
/// their first source; named `layer` when there is one, else `layer/<first source>`.
/// `split` false: one part.
std::vector<PartPlan> split_packages(const std::string& layer,
                                     const std::vector<LockedPackage>& packages, bool split,
                                     const SplitOptions& options);

/// One layer of the image above the base.
struct ImageItem {
    enum class Kind { part, entries, state } kind = Kind::entries;
    std::string name;      ///< as builds report it ("system/bash", "system/files", "state")
    std::size_t layer = 0; ///< the recipe layer's index (parts and entries)
    std::vector<LockedPackage> packages; ///< a part's
    std::vector<LayerEntry> entries;     ///< a layer's own (copies, files, wheels)
    LayerOptions options;
};

struct AptImageOptions {
    std::string arch = "amd64";        ///< the image's (dpkg's name)
    std::string generator = "ocibake"; ///< written into ld.so.cache
};

/// The image above the base, built item by item: a per-build context (nothing in it
/// outlives the build, nothing is shared between builds).
///
/// Each item sees the image below it through one model, advanced in the items' order:
/// item i waits until the items before it have told the model what they did, which a part
/// knows from its packages' records (kept in the store by the build that first unpacked
/// them) without decoding anything, else once it has decoded its packages (they are
/// decoded ahead while it waits). Its cache key is then known; only what is missing is
/// written, in parallel.
class AptImage {
public:
    AptImage(Store& store, http::Client* client, const ImageFacts& base,
             std::vector<ImageItem> items, std::vector<StateDecl> layers, AptImageOptions options);
    ~AptImage();
    AptImage(const AptImage&) = delete;
    AptImage& operator=(const AptImage&) = delete;

    const std::vector<ImageItem>& items() const noexcept { return items_; }

    /// Builds item `i` (or finds it in the cache). Call it once for every item, in order
    /// of submission to a FIFO pool (item i waits for the items before it).
    LayerResult build(std::size_t i, ocibake::detail::ThreadPool* pool, Progress* progress,
                      CacheStatus* status);

private:
    class Turn;
    LayerResult build_part(std::size_t i, ocibake::detail::ThreadPool* pool, Progress* progress,
                           CacheStatus* status);
    LayerResult build_state(std::size_t i, ocibake::detail::ThreadPool* pool, Progress* progress,
                            CacheStatus* status);
    void wait_turn(std::size_t i);
    void pass_turn(std::size_t i);
    void break_turns();

    Store& store_;
    http::Client* client_;
    const ImageFacts base_;
    const std::vector<ImageItem> items_;
    const std::vector<StateDecl> layers_;
    const AptImageOptions options_;

    std::mutex mutex_;
    std::condition_variable turn_changed_;
    std::size_t turn_ = 0;
    bool broken_ = false;
    // Touched only by the item whose turn it is.
    std::unique_ptr<ImageModel> model_;
    std::map<Digest, DebInfo> infos_;                    ///< by the .deb's digest
    std::vector<std::unique_ptr<PartOutcome>> outcomes_; ///< per part
};

} // namespace ocibake::apt::detail
