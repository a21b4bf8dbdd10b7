// `ocibake cache gc|dir|push|pull|ls`, and the remote cache's flags on `build`
// (docs/cache.md).
#include "cmd_cache.hpp"
#include "cli.hpp"

#include <cstdio>
#include <iostream>

namespace ocibake::cli {

namespace {

namespace rc = remote_cache;

struct GcFlags {
    std::string max_age = "30d";
    bool dry_run = false, no_verify = false;
};

struct RemoteFlags {
    std::string recipe, ref;
    unsigned threads = 0;
};

void print_warnings(const std::vector<std::string>& warnings) {
    for (const auto& w : warnings) {
        std::fprintf(stderr, "ocibake: warning: %s\n", w.c_str());
    }
}

// A remote-cache result as its JSON document (true), or its warnings on stderr (false:
// the text follows).
template <typename Result>
bool print_json_or_warnings(const Result& result, const Shared& s) {
    if (s.as_json) {
        print_json(to_json(result));
        return true;
    }
    print_warnings(result.report.warnings);
    return false;
}

// The tag a tagless REF gets: the recipe's name, read from --recipe.
registry::Reference reference_of(const std::string& ref, const std::string& recipe) {
    auto parsed = registry::Reference::parse(ref);
    if (parsed.tag.empty() && !parsed.digest && recipe.empty()) {
        throw Error(ErrorKind::usage,
                    "remote cache " + ref +
                        ": name its tag (REF:ocibake-cache-NAME) or the recipe (--recipe)");
    }
    return rc::cache_reference(ref, recipe.empty() ? "" : load_recipe(recipe).name);
}

int run_ls(const RemoteFlags& f, Shared& s) {
    Store store(cache_root(s.cache_dir));
    rc::Listing l = rc::list(store, reference_of(f.ref, f.recipe), s.registry.options());
    if (print_json_or_warnings(l, s)) {
        return 0;
    }
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

int run_pull(const RemoteFlags& f, Shared& s) {
    Store store(cache_root(s.cache_dir));
    rc::PullReport p = rc::pull(store, reference_of(f.ref, f.recipe), s.registry.options());
    if (print_json_or_warnings(p, s)) {
        return 0;
    }
    std::printf("pulled %s: %zu layers (%llu fetched, %llu bytes), %zu records\n",
                p.report.reference.c_str(), p.layers,
                static_cast<unsigned long long>(p.stats.blobs_fetched),
                static_cast<unsigned long long>(p.stats.bytes_fetched), p.records);
    return 0;
}

int run_push(const RemoteFlags& f, Shared& s) {
    BuildOptions options;
    options.cache_dir = s.cache_dir;
    options.threads = f.threads;
    options.registry = s.registry.options();
    options.write_output = false; // only the cache entries are wanted
    options.no_cache_from = true;
    options.keep_cache_records = true;
    BuildResult result = build_recipe_file(f.recipe, options);
    rc::ExportReport w = export_cache(result, f.ref, options);
    if (s.as_json) {
        print_json(to_json(w, result));
        return 0;
    }
    std::printf("wrote %s: %zu layer entries, %zu records (%zu layers built first)\n",
                w.reference.str().c_str(), w.layers, w.records, result.layers_built());
    return 0;
}

std::chrono::seconds parse_age(const std::string& text) {
    if (text.empty()) {
        throw Error(ErrorKind::usage, "empty --max-age");
    }
    char unit = text.back();
    std::string number =
        std::isdigit(static_cast<unsigned char>(unit)) ? text : text.substr(0, text.size() - 1);
    long long n = 0;
    try {
        std::size_t used = 0;
        n = std::stoll(number, &used);
        if (used != number.size() || n < 0) {
            throw std::invalid_argument("x");
        }
    } catch (const std::exception&) {
        throw Error(ErrorKind::usage,
                    "--max-age '" + text + "' is not a duration like 30d, 12h, 90m or 0");
    }
    switch (std::isdigit(static_cast<unsigned char>(unit)) ? 's' : unit) {
    case 's':
        return std::chrono::seconds(n);
    case 'm':
        return std::chrono::seconds(n * 60);
    case 'h':
        return std::chrono::seconds(n * 3600);
    case 'd':
        return std::chrono::seconds(n * 86400);
    default:
        throw Error(ErrorKind::usage,
                    "--max-age '" + text + "' has an unknown unit (use s, m, h or d)");
    }
}

int run_gc(const GcFlags& f, const Shared& s) {
    GcOptions options;
    options.max_age = parse_age(f.max_age);
    options.dry_run = f.dry_run;
    options.verify = !f.no_verify;
    auto r = collect_garbage(s.cache_dir, options);
    if (s.as_json) {
        print_json(to_json(r, options));
        return 0;
    }
    const char* verb = f.dry_run ? "would remove" : "removed";
    for (const auto& d : r.corrupt) {
        std::printf("%s corrupt blob %s (%s): %s\n", verb, d.digest.str().c_str(), d.path.c_str(),
                    d.reason.c_str());
    }
    std::printf("%s %llu records, %llu blobs (%s), %llu temp files, %llu unpacked layers; kept "
                "%llu blobs (%s)\n",
                verb, static_cast<unsigned long long>(r.records_removed),
                static_cast<unsigned long long>(r.blobs_removed),
                human_size(r.bytes_removed).c_str(),
                static_cast<unsigned long long>(r.temp_files_removed),
                static_cast<unsigned long long>(r.layers_removed),
                static_cast<unsigned long long>(r.blobs_kept), human_size(r.bytes_kept).c_str());
    return 0;
}

Command add_gc(CLI::App* cache, Shared& s) {
    auto f = std::make_shared<GcFlags>();
    auto* gc =
        cache->add_subcommand("gc", "Remove cache entries unused for --max-age, and their blobs");
    gc->add_option("--max-age", f->max_age,
                   "Keep what was used within this long (e.g. 30d, 12h, 0 = drop all)");
    gc->add_flag("--dry-run", f->dry_run, "Only report what would be removed");
    gc->add_flag("--no-verify", f->no_verify,
                 "Do not re-hash the blobs that are kept (a corrupt one then stays until a build "
                 "reads it)");
    s.add_cache_dir(gc);
    s.add_json(gc, "Print as JSON");
    return {gc, [f, &s] { return run_gc(*f, s); }};
}

/// `cache push|pull|ls`: one set of flags, as only one of them runs.
std::vector<Command> add_remote(CLI::App* cache, Shared& s) {
    auto f = std::make_shared<RemoteFlags>();
    auto* push = cache->add_subcommand(
        "push", "Write a recipe's layer cache entries to a remote cache (builds what is missing)");
    push->add_option("recipe", f->recipe, "The recipe (.toml)")->required();
    push->add_option("ref", f->ref, "registry/repository[:tag]")->required();
    push->add_option("-j,--threads", f->threads, "Worker threads (default: all cores)");
    auto* pull = cache->add_subcommand(
        "pull", "Copy a remote cache's checked entries and layers into the local cache");
    auto* ls =
        cache->add_subcommand("ls", "List a remote cache's entries, checking each layer blob");
    for (CLI::App* sub : {pull, ls}) {
        sub->add_option("ref", f->ref, "registry/repository:tag (or give --recipe)")->required();
        sub->add_option("--recipe", f->recipe,
                        "The recipe whose entries these are (names the tag)");
    }
    for (CLI::App* sub : {push, pull, ls}) {
        s.add_cache_dir(sub);
        s.add_json(sub, "Print as JSON");
        s.registry.add_to(sub);
    }
    return {{push, [f, &s] { return run_push(*f, s); }},
            {pull, [f, &s] { return run_pull(*f, s); }},
            {ls, [f, &s] { return run_ls(*f, s); }}};
}

} // namespace

std::vector<Command> add_cache(CLI::App& app, Shared& s) {
    auto* cache = app.add_subcommand("cache", "Manage the cache");
    cache->require_subcommand(1);
    std::vector<Command> commands = {add_gc(cache, s)};
    auto* dir = cache->add_subcommand("dir", "Print the cache directory");
    s.add_cache_dir(dir);
    commands.push_back({dir, [&s] {
                            std::cout << cache_root(s.cache_dir).string() << "\n";
                            return 0;
                        }});
    for (Command& c : add_remote(cache, s)) {
        commands.push_back(std::move(c));
    }
    return commands;
}

void RemoteCacheFlags::add_to(CLI::App* build) {
    build->add_option("--cache-from", from,
                      "Read layers from this remote cache, registry/repository[:tag] "
                      "(default: the recipe's [build] cache)");
    build->add_option("--cache-to", to,
                      "Write this build's layer cache entries to registry/repository[:tag]");
    build->add_flag("--no-cache-from", no_from, "Do not read the recipe's [build] cache");
}

void RemoteCacheFlags::apply(BuildOptions& options) const {
    options.cache_from = from;
    options.no_cache_from = no_from;
    options.keep_cache_records = !to.empty();
}

std::optional<rc::ExportReport> RemoteCacheFlags::write(const BuildResult& result,
                                                        const BuildOptions& options) const {
    if (to.empty()) {
        return std::nullopt;
    }
    return export_cache(result, to, options);
}

void print_remote_cache(const BuildResult& result, const std::optional<rc::ExportReport>& wrote,
                        bool as_json, bool quiet) {
    if (result.remote_cache) {
        print_warnings(result.remote_cache->warnings);
    }
    if (wrote) {
        print_warnings(wrote->warnings);
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

} // namespace ocibake::cli
