// ocibake: the JSON documents of `ocibake ... --json`, one to_json per result type.
//
//     ocibake::BuildResult r = ocibake::build_recipe_file("recipes/hello.toml", options);
//     std::cout << ocibake::to_json(r, {.recipe = "recipes/hello.toml"}) << "\n";
//
// Each document is an object with a "schema" member naming its shape and version
// ("ocibake.build/1"); docs/cli.md shows each one with an example, and a test checks the
// real commands' output against those examples. A version changes only when a member is
// removed or changes meaning; members may be added within one. Every function returns
// the document indented by two spaces, without a final newline. The test report's is
// report_json() (harness.hpp).
#pragma once

#include "ocibake/build.hpp"
#include "ocibake/cas.hpp"
#include "ocibake/error.hpp"
#include "ocibake/image.hpp"
#include "ocibake/registry.hpp"
#include "ocibake/remote_cache.hpp"
#include "ocibake/run.hpp"
#include "ocibake/update.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace ocibake {

/// The schema names, one per document.
namespace schema {
inline constexpr std::string_view build = "ocibake.build/1";
inline constexpr std::string_view lock = "ocibake.lock/1";
inline constexpr std::string_view lock_diff = "ocibake.lock-diff/1";
inline constexpr std::string_view inspect = "ocibake.inspect/1";
inline constexpr std::string_view push = "ocibake.push/1";
inline constexpr std::string_view pull = "ocibake.pull/1";
inline constexpr std::string_view cache_gc = "ocibake.cache-gc/1";
inline constexpr std::string_view remote_cache = "ocibake.remote-cache/1";
inline constexpr std::string_view test_report = "ocibake.test-report/1";
inline constexpr std::string_view ps = "ocibake.ps/1";
inline constexpr std::string_view error = "ocibake.error/1";
} // namespace schema

/// What a build did besides building, for its document.
struct BuildJsonContext {
    std::string recipe; ///< the recipe as given
    /// The push of the image (`build --push`): the document's "push" member.
    const registry::PushResult* push = nullptr;
    /// The remote cache written (`build --cache-to`).
    const remote_cache::ExportReport* cache_written = nullptr;
};

/// `ocibake build --json` (ocibake.build/1).
std::string to_json(const BuildResult& result, const BuildJsonContext& context);

/// `ocibake outdated --json` (ocibake.lock-diff/1): what moved between two locks, for the
/// lock file `lock`; `recipe` (when not empty) is the document's "recipe" member.
std::string to_json(const LockDiff& diff, const std::filesystem::path& lock,
                    std::string_view recipe = {});

/// `ocibake lock --json` (ocibake.lock/1): the new lock, and its diff under "diff".
std::string to_json(const LockResult& result);

/// `ocibake inspect --json` (ocibake.inspect/1).
std::string to_json(const ImageInfo& info);

/// `ocibake push --json` (ocibake.push/1); also `build --push --json`'s "push" member.
std::string to_json(const registry::PushResult& result);

/// `ocibake pull --json` (ocibake.pull/1): the image pulled into `output`.
std::string to_json(const registry::PullResult& result, const OutputTarget& output);

/// `ocibake cache gc --json` (ocibake.cache-gc/1).
std::string to_json(const GcReport& report, const GcOptions& options);

/// `ocibake cache ls --json` (ocibake.remote-cache/1).
std::string to_json(const remote_cache::Listing& listing);
/// `ocibake cache pull --json` (ocibake.remote-cache/1).
std::string to_json(const remote_cache::PullReport& report);
/// `ocibake cache push --json` (ocibake.remote-cache/1): `built` is the build that made
/// the entries.
std::string to_json(const remote_cache::ExportReport& wrote, const BuildResult& built);

/// `ocibake ps --json` (ocibake.ps/1): the containers listed.
std::string to_json(const std::vector<ContainerInfo>& containers);

/// What any command prints with `--json` when it fails (ocibake.error/1).
std::string to_json(const Error& error);

} // namespace ocibake
