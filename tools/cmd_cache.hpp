// The remote layer cache in the CLI (docs/cache.md, "The remote cache"): build's
// --cache-from / --cache-to and `ocibake cache push|pull|ls`.
#pragma once

#include "ocibake/build.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace ocibake_cli {

/// The schema of the "remote_cache" object of `build --json` and of `cache ls|pull|push
/// --json`.
inline constexpr const char* kRemoteCacheSchema = "ocibake.remote-cache/1";

/// build's --cache-from, --cache-to, --no-cache-from.
struct RemoteCacheFlags {
    std::string from;
    std::string to;
    bool no_from = false;

    void add_to(CLI::App* build);
    /// Into the build's options (keep_cache_records when writing).
    void apply(ocibake::BuildOptions& options) const;
    /// After the build (and its push): writes the cache when --cache-to was given.
    std::optional<ocibake::remote_cache::ExportReport>
    write(const ocibake::BuildResult& result, const ocibake::BuildOptions& options) const;
};

/// What the remote cache did, for `build --json` (null when no remote cache was used).
nlohmann::json remote_cache_json(const ocibake::BuildResult& result,
                                 const std::optional<ocibake::remote_cache::ExportReport>& wrote);

/// The remote cache's warnings on stderr, and (unless quiet) one line each for the read
/// and the write.
void print_remote_cache(const ocibake::BuildResult& result,
                        const std::optional<ocibake::remote_cache::ExportReport>& wrote,
                        bool as_json, bool quiet);

/// build --push: pushes the image; when that fails and the remote cache served layers
/// whose blobs are gone (or not of their size), builds again without them (a warning
/// each) and pushes that. `result` is then the second build's.
ocibake::registry::PushResult push_or_rebuild(const ocibake::Store& store,
                                              ocibake::BuildResult& result,
                                              ocibake::BuildOptions options,
                                              const std::string& recipe,
                                              const std::vector<ocibake::registry::Reference>& refs,
                                              const ocibake::registry::Options& registry);

/// `ocibake cache push|pull|ls`.
struct CacheCommands {
    CLI::App* push = nullptr;
    CLI::App* pull = nullptr;
    CLI::App* ls = nullptr;
    std::string recipe;
    std::string ref;
    unsigned threads = 0;

    /// Adds the three subcommands to `cache`; returns them for the caller to add its
    /// shared flags (--cache-dir, --json, the registry's) to.
    void add_to(CLI::App* cache);
    bool parsed() const;
    int run(const std::string& cache_dir, bool as_json,
            const ocibake::registry::Options& registry) const;
};

} // namespace ocibake_cli
