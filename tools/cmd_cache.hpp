// The remote layer cache's flags on `ocibake build` (docs/cache.md, "The remote cache"):
// --cache-from, --cache-to, --no-cache-from. `ocibake cache ...` is add_cache (cli.hpp).
#pragma once

#include "ocibake/build.hpp"

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

namespace ocibake::cli {

/// build's --cache-from, --cache-to, --no-cache-from.
struct RemoteCacheFlags {
    std::string from;
    std::string to;
    bool no_from = false;

    void add_to(CLI::App* build);
    /// Into the build's options (keep_cache_records when writing).
    void apply(BuildOptions& options) const;
    /// After the build (and its push): writes the cache when --cache-to was given.
    std::optional<remote_cache::ExportReport> write(const BuildResult& result,
                                                    const BuildOptions& options) const;
};

/// The remote cache's warnings on stderr, and (unless quiet or as_json) one line each for
/// the read and the write.
void print_remote_cache(const BuildResult& result,
                        const std::optional<remote_cache::ExportReport>& wrote, bool as_json,
                        bool quiet);

} // namespace ocibake::cli
