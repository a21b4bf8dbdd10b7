// Internal: .debs downloaded into the store, each checked by size and sha256 as it streams.
#pragma once

#include "common/thread_pool.hpp"
#include "ocibake/cas.hpp"
#include "ocibake/http.hpp"
#include "ocibake/lock.hpp"

#include <future>
#include <vector>

namespace ocibake::apt::detail {

/// Starts the downloads of the packages the store lacks, in order, on `pool`; a future per
/// package (ready at once for one the store has). Errors name the package and the URL.
std::vector<std::shared_future<void>> start_fetches(Store& store, http::Client& client,
                                                    const std::vector<LockedPackage>& packages,
                                                    ocibake::detail::ThreadPool& pool);

/// Downloads the packages the store does not have, `parallel` at a time; the first failure
/// in the lock's order is thrown.
void fetch_debs(Store& store, http::Client& client, const std::vector<LockedPackage>& packages,
                unsigned parallel);

} // namespace ocibake::apt::detail
