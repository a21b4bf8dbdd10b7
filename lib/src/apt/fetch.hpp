// Internal: .debs downloaded into the store, each checked by size and sha256 as it streams;
// when a package's url no longer has it, from the places the recipe and the lock name
// (fallback_places(): mirrors, a snapshot service by date and by hash), checked the same.
#pragma once

#include "common/thread_pool.hpp"
#include "ocibake/apt.hpp"
#include "ocibake/cas.hpp"
#include "ocibake/http.hpp"
#include "ocibake/lock.hpp"

#include <future>
#include <map>
#include <mutex>
#include <vector>

namespace ocibake::apt::detail {

/// Where packages are looked for after their url, for one build, and what came from
/// there. Filled before the downloads start; record() and fetched() may be called from
/// any thread.
class Fallbacks {
public:
    /// The places for a package (by sha256), after its url, in order.
    void add(const Digest& sha256, std::vector<DebPlace> places);
    const std::vector<DebPlace>& places(const Digest& sha256) const;

    void record(FetchedElsewhere fetched);
    /// What was fetched from elsewhere, sorted by name, architecture and version.
    std::vector<FetchedElsewhere> fetched() const;

private:
    std::map<Digest, std::vector<DebPlace>> places_;
    mutable std::mutex mutex_;
    std::vector<FetchedElsewhere> fetched_;
};

/// Downloads one package into the store: from its url, else from each of `fallbacks`'
/// places for it in turn (none when `fallbacks` is null). Whatever the origin, the bytes
/// must have the lock's size and sha256; other bytes are refused and the next place
/// tried. A url whose host cannot be reached ends it at once (Error(io), as the client
/// says it). When no place has the file: a RecipeError at the package's lock entry that
/// lists every place with its answer, kind integrity when a place served other bytes,
/// io when the url failed for another reason than 404/410 (a server error), else input.
void fetch_deb(Store& store, http::Client& client, const LockedPackage& package,
               Fallbacks* fallbacks = nullptr);

/// Starts the downloads of the packages the store lacks, in order, on `pool`; a future per
/// package (ready at once for one the store has). Errors name the package and the URL.
std::vector<std::shared_future<void>> start_fetches(Store& store, http::Client& client,
                                                    const std::vector<LockedPackage>& packages,
                                                    ocibake::detail::ThreadPool& pool,
                                                    Fallbacks* fallbacks = nullptr);

/// Downloads the packages the store does not have, `parallel` at a time; the first failure
/// in the lock's order is thrown.
void fetch_debs(Store& store, http::Client& client, const std::vector<LockedPackage>& packages,
                unsigned parallel, Fallbacks* fallbacks = nullptr);

} // namespace ocibake::apt::detail
