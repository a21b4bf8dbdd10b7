// The remote layer cache in the CLI (docs/cache.md, "The remote cache").
#include "cmd_cache.hpp"

#include <cstdio>
#include <iostream>
#include <set>

namespace ocibake_cli {

namespace {

using json = nlohmann::json;
namespace rc = ocibake::remote_cache;

json transfer_json(const ocibake::registry::TransferStats& s) {
    return {{"blobs_sent", s.blobs_sent},         {"bytes_sent", s.bytes_sent},
            {"blobs_skipped", s.blobs_skipped},   {"blobs_mounted", s.blobs_mounted},
            {"blobs_streamed", s.blobs_streamed}, {"blobs_fetched", s.blobs_fetched},
            {"bytes_fetched", s.bytes_fetched},   {"seconds", s.seconds}};
}

json lookup_json(const rc::LookupReport& r) {
    return {{"reference", r.reference},
            {"found", r.found},
            {"digest", r.found ? json(r.digest.str()) : json(nullptr)},
            {"layers", r.layers},
            {"ignored", r.ignored},
            {"requests", {{"lookup", r.requests}, {"verify", r.verify_requests}}},
            {"records_read", r.records_read},
            {"bytes", r.bytes},
            {"seconds", r.seconds},
            {"warnings", r.warnings}};
}

json export_json(const rc::ExportReport& w) {
    return {{"reference", w.reference.str()},
            {"layers", w.layers},
            {"records", w.records},
            {"merged_layers", w.merged_layers},
            {"evicted_layers", w.evicted_layers},
            {"rounds", w.rounds},
            {"warnings", w.warnings},
            {"stats", transfer_json(w.stats)}};
}

void print_warnings(const rc::LookupReport& r) {
    for (const auto& w : r.warnings) {
        std::fprintf(stderr, "ocibake: warning: %s\n", w.c_str());
    }
}

// The tag a tagless REF gets: the recipe's name, read from --recipe.
ocibake::registry::Reference reference_of(const std::string& ref, const std::string& recipe) {
    auto parsed = ocibake::registry::Reference::parse(ref);
    if (parsed.tag.empty() && !parsed.digest && recipe.empty()) {
        throw ocibake::Error(
            ocibake::ErrorKind::usage,
            "remote cache " + ref +
                ": name its tag (REF:ocibake-cache-NAME) or the recipe (--recipe)");
    }
    return rc::cache_reference(ref, recipe.empty() ? "" : ocibake::load_recipe(recipe).name);
}

int run_ls(const CacheCommands& c, const std::string& cache_dir, bool as_json,
           const ocibake::registry::Options& registry) {
    ocibake::Store store(cache_dir.empty() ? ocibake::Store::default_root()
                                           : std::filesystem::path(cache_dir));
    rc::Listing l = rc::list(store, reference_of(c.ref, c.recipe), registry);
    if (as_json) {
        json layers = json::array();
        for (const auto& row : l.layers) {
            layers.push_back({{"key", row.key},
                              {"digest", row.layer.descriptor.digest.str()},
                              {"size", row.layer.descriptor.size},
                              {"media_type", row.layer.descriptor.media_type},
                              {"diff_id", row.layer.diff_id.str()},
                              {"apt_keys", row.apt_keys},
                              {"verified", row.verified}});
        }
        json out = {{"schema", kRemoteCacheSchema},
                    {"lookup", lookup_json(l.report)},
                    {"recipe", l.index.recipe},
                    {"records", l.records},
                    {"entries", layers}};
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    print_warnings(l.report);
    std::printf("%s (%s), recipe %s: %zu layer entries, %zu records\n", l.report.reference.c_str(),
                l.report.digest.str().c_str(), l.index.recipe.c_str(), l.layers.size(), l.records);
    for (const auto& row : l.layers) {
        std::printf("  %-8s %s %12llu  %s\n", row.verified ? "ok" : "MISSING",
                    row.layer.descriptor.digest.str().substr(0, 19).c_str(),
                    static_cast<unsigned long long>(row.layer.descriptor.size),
                    row.apt_keys.empty() ? ("layer " + row.key.substr(0, 12)).c_str()
                                         : ("apt " + row.apt_keys.front().substr(0, 12)).c_str());
    }
    return 0;
}

int run_pull(const CacheCommands& c, const std::string& cache_dir, bool as_json,
             const ocibake::registry::Options& registry) {
    ocibake::Store store(cache_dir.empty() ? ocibake::Store::default_root()
                                           : std::filesystem::path(cache_dir));
    rc::PullReport p = rc::pull(store, reference_of(c.ref, c.recipe), registry);
    if (as_json) {
        json out = {{"schema", kRemoteCacheSchema},
                    {"lookup", lookup_json(p.report)},
                    {"layers", p.layers},
                    {"records", p.records},
                    {"stats", transfer_json(p.stats)}};
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    print_warnings(p.report);
    std::printf("pulled %s: %zu layers (%llu fetched, %llu bytes), %zu records\n",
                p.report.reference.c_str(), p.layers,
                static_cast<unsigned long long>(p.stats.blobs_fetched),
                static_cast<unsigned long long>(p.stats.bytes_fetched), p.records);
    return 0;
}

int run_push(const CacheCommands& c, const std::string& cache_dir, bool as_json,
             const ocibake::registry::Options& registry) {
    ocibake::BuildOptions options;
    options.cache_dir = cache_dir;
    options.threads = c.threads;
    options.registry = registry;
    options.write_output = false; // only the cache entries are wanted
    options.no_cache_from = true;
    options.keep_cache_records = true;
    ocibake::BuildResult result = ocibake::build_recipe_file(c.recipe, options);
    rc::ExportReport w = ocibake::export_cache(result, c.ref, options);
    if (as_json) {
        json out = {{"schema", kRemoteCacheSchema},
                    {"digest", result.image.manifest_descriptor.digest.str()},
                    {"layers_built", result.layers_built()},
                    {"wrote", export_json(w)}};
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    std::printf("wrote %s: %zu layer entries, %zu records (%zu layers built first)\n",
                w.reference.str().c_str(), w.layers, w.records, result.layers_built());
    return 0;
}

} // namespace

ocibake::registry::PushResult push_or_rebuild(const ocibake::Store& store,
                                              ocibake::BuildResult& result,
                                              ocibake::BuildOptions options,
                                              const std::string& recipe,
                                              const std::vector<ocibake::registry::Reference>& refs,
                                              const ocibake::registry::Options& registry) {
    std::map<ocibake::Digest, std::string> missing;
    try {
        return ocibake::registry::push_image(store, result.image, refs, registry);
    } catch (const ocibake::Error& e) {
        missing = ocibake::remote_cache_missing(result, options);
        if (missing.empty()) {
            throw;
        }
        std::fprintf(stderr,
                     "ocibake: warning: the push failed (%s): %zu layer(s) the remote cache "
                     "served are not there as it said; building them\n",
                     e.what(), missing.size());
    }
    options.cache_from_ignore.insert(missing.begin(), missing.end());
    std::set<ocibake::Digest> built;
    for (const auto& l : result.layers) {
        if (l.cache == ocibake::CacheStatus::built) {
            built.insert(l.layer.descriptor.digest);
        }
    }
    result = ocibake::build_recipe_file(recipe, options);
    for (auto& l : result.layers) {
        // What this command did: a layer the first build made is found in the cache by the
        // second.
        if (l.cache == ocibake::CacheStatus::hit && built.count(l.layer.descriptor.digest) != 0) {
            l.cache = ocibake::CacheStatus::built;
        }
    }
    return ocibake::registry::push_image(store, result.image, refs, registry);
}

void RemoteCacheFlags::add_to(CLI::App* build) {
    build->add_option("--cache-from", from,
                      "Read layers from this remote cache, registry/repository[:tag] "
                      "(default: the recipe's [build] cache)");
    build->add_option("--cache-to", to,
                      "Write this build's layer cache entries to registry/repository[:tag]");
    build->add_flag("--no-cache-from", no_from, "Do not read the recipe's [build] cache");
}

void RemoteCacheFlags::apply(ocibake::BuildOptions& options) const {
    options.cache_from = from;
    options.no_cache_from = no_from;
    options.keep_cache_records = !to.empty();
}

std::optional<rc::ExportReport>
RemoteCacheFlags::write(const ocibake::BuildResult& result,
                        const ocibake::BuildOptions& options) const {
    if (to.empty()) {
        return std::nullopt;
    }
    return ocibake::export_cache(result, to, options);
}

json remote_cache_json(const ocibake::BuildResult& result,
                       const std::optional<rc::ExportReport>& wrote) {
    if (!result.remote_cache && !wrote) {
        return nullptr;
    }
    std::size_t served = 0;
    for (const auto& l : result.layers) {
        served += l.cache == ocibake::CacheStatus::remote && !l.from_base ? 1 : 0;
    }
    json out = {{"schema", kRemoteCacheSchema},
                {"layers", served},
                {"layers_fetched", result.remote_layers_fetched},
                {"bytes_fetched", result.remote_bytes_fetched}};
    out["image_key"] = result.image_key ? json(result.image_key.str()) : json(nullptr);
    out["from_image_key"] = result.image_from_key;
    out["read"] = result.remote_cache ? lookup_json(*result.remote_cache) : json(nullptr);
    out["wrote"] = wrote ? export_json(*wrote) : json(nullptr);
    return out;
}

void print_remote_cache(const ocibake::BuildResult& result,
                        const std::optional<rc::ExportReport>& wrote, bool as_json, bool quiet) {
    if (result.remote_cache) {
        print_warnings(*result.remote_cache);
    }
    if (wrote) {
        for (const auto& w : wrote->warnings) {
            std::fprintf(stderr, "ocibake: warning: %s\n", w.c_str());
        }
    }
    if (as_json || quiet) {
        return;
    }
    if (const auto& r = result.remote_cache; r && r->found) {
        std::printf("  remote cache %s: %zu layers listed%s (%llu requests, %.2f s), %zu "
                    "fetched (%llu bytes)\n",
                    r->reference.c_str(), r->layers,
                    result.image_from_key ? ", the image found by its key" : "",
                    static_cast<unsigned long long>(r->requests), r->seconds,
                    result.remote_layers_fetched,
                    static_cast<unsigned long long>(result.remote_bytes_fetched));
    }
    if (wrote) {
        std::printf("  wrote the remote cache %s: %zu layer entries, %zu records\n",
                    wrote->reference.str().c_str(), wrote->layers, wrote->records);
    }
}

void CacheCommands::add_to(CLI::App* cache) {
    push = cache->add_subcommand(
        "push", "Write a recipe's layer cache entries to a remote cache (builds what is missing)");
    push->add_option("recipe", recipe, "The recipe (.toml)")->required();
    push->add_option("ref", ref, "registry/repository[:tag]")->required();
    push->add_option("-j,--threads", threads, "Worker threads (default: all cores)");
    pull = cache->add_subcommand(
        "pull", "Copy a remote cache's checked entries and layers into the local cache");
    ls = cache->add_subcommand("ls", "List a remote cache's entries, checking each layer blob");
    for (CLI::App* sub : {pull, ls}) {
        sub->add_option("ref", ref, "registry/repository:tag (or give --recipe)")->required();
        sub->add_option("--recipe", recipe, "The recipe whose entries these are (names the tag)");
    }
}

bool CacheCommands::parsed() const {
    return push->parsed() || pull->parsed() || ls->parsed();
}

int CacheCommands::run(const std::string& cache_dir, bool as_json,
                       const ocibake::registry::Options& registry) const {
    if (push->parsed()) {
        return run_push(*this, cache_dir, as_json, registry);
    }
    if (pull->parsed()) {
        return run_pull(*this, cache_dir, as_json, registry);
    }
    return run_ls(*this, cache_dir, as_json, registry);
}

} // namespace ocibake_cli
