// `ocibake [build] RECIPE`: the flags, the build, what it did.
#include "cli.hpp"
#include "cmd_cache.hpp"

#include <cstdio>
#include <iostream>
#include <unistd.h>

namespace ocibake::cli {

namespace {

struct BuildFlags {
    std::string recipe, output, epoch, digest_file;
    unsigned threads = 0;
    std::vector<std::string> push, stand_ins;
    bool update_lock = false, locked = false, strict = false;
    RemoteCacheFlags cache;
};

/// One line on stderr per base layer `ocibake run` would refuse, or that was not read.
void print_base_checks(const BuildResult& r) {
    std::size_t base = 0;
    for (const auto& l : r.layers) {
        base += l.from_base ? 1 : 0;
    }
    for (std::size_t i = 0; i < r.base_checks.size() && i < base; ++i) {
        const auto& c = r.base_checks[i];
        if (c.status == LayerCheck::Status::refused) {
            std::fprintf(stderr,
                         "warning: base %s (ocibake run would refuse it; build --strict refuses "
                         "this base)\n",
                         c.detail.c_str());
        } else if (c.status == LayerCheck::Status::unchecked) {
            std::fprintf(stderr,
                         "note: base layer %zu (%s) was not checked: %s (build --strict "
                         "fetches and checks it)\n",
                         i + 1, r.layers[i].layer.descriptor.digest.str().c_str(),
                         c.detail.c_str());
        }
    }
}

/// One line on stderr per locked .deb that its URL no longer had and that came from a
/// mirror or a snapshot service instead.
void print_fetched_elsewhere(const BuildResult& r) {
    for (const auto& f : r.fetched_elsewhere) {
        std::string line = f.name + " " + f.version + " (" + f.arch + "): " +
                           (f.gone ? "gone from its URL (" + f.answer + ")"
                                   : "its URL failed (" + f.answer + ")") +
                           "; fetched from " + f.fetched_from;
        if (!f.tried.empty()) {
            line += " (tried first:";
            for (std::size_t i = 0; i < f.tried.size(); ++i) {
                line += (i ? "; " : " ") + f.tried[i].first + ": " + f.tried[i].second;
            }
            line += ")";
        }
        std::fprintf(stderr, "note: %s\n", line.c_str());
    }
}

/// `DIGEST -> WHERE`: the output written, or (`--push` without `-o`) the references pushed.
void print_digest_line(const BuildResult& r, const registry::PushResult* push) {
    if (r.wrote_output) {
        std::printf("%s -> %s\n", r.image.manifest_descriptor.digest.str().c_str(),
                    r.output.str().c_str());
        return;
    }
    // `--push` without `-o`: the registry has it, no local image does
    std::string refs;
    for (const auto& ref : push != nullptr ? push->pushed : std::vector<registry::Reference>{}) {
        std::string text = ref.str(); // REF@DIGEST: the digest is said first
        refs += (refs.empty() ? "" : ", ") + text.substr(0, text.find('@'));
    }
    std::printf("%s -> %s (pushed; no local image was written: add -o %s for one)\n",
                r.image.manifest_descriptor.digest.str().c_str(), refs.c_str(),
                r.output.str().c_str());
}

/// A recipe layer's parts [i, end) on one line.
void print_parts(const BuildResult& r, std::size_t i, std::size_t end) {
    std::uint64_t size = 0;
    double slowest = 0;
    std::map<std::string, std::size_t> counts;
    for (std::size_t k = i; k < end; ++k) {
        size += r.layers[k].layer.descriptor.size;
        slowest = std::max(slowest, r.layers[k].seconds);
        ++counts[std::string(r.layers[k].cache_word())];
    }
    std::string what = std::to_string(end - i) + " parts:";
    for (const char* word : {"built", "verified", "cached", "remote"}) {
        if (counts.count(word)) {
            what += (what.back() == ':' ? " " : ", ") + std::to_string(counts[word]) + " " + word;
        }
    }
    std::printf("  layer %-20s %-30s %10s  %s\n", r.layers[i].recipe_layer.c_str(), what.c_str(),
                human_size(size).c_str(), seconds(slowest).c_str());
}

/// A line per layer (a recipe layer's parts on one); returns the image's own layers.
std::size_t print_layers(const BuildResult& r) {
    std::size_t own = 0;
    for (std::size_t i = 0; i < r.layers.size(); ++i) {
        const auto& l = r.layers[i];
        if (l.from_base) {
            continue;
        }
        std::size_t end = i + 1;
        while (l.packages > 0 && end < r.layers.size() && r.layers[end].packages > 0 &&
               r.layers[end].recipe_layer == l.recipe_layer) {
            ++end;
        }
        own += end - i;
        if (end - i > 1) {
            print_parts(r, i, end);
            i = end - 1;
            continue;
        }
        std::printf(
            "  layer %-20s %-8s %10s  %s  %s\n", l.name.c_str(),
            std::string(l.cache_word()).c_str(), human_size(l.layer.descriptor.size).c_str(),
            l.layer.descriptor.digest.str().substr(0, 19).c_str(), seconds(l.seconds).c_str());
    }
    return own;
}

void print_build_text(const BuildResult& r, const registry::PushResult* push) {
    std::size_t own = print_layers(r);
    std::uint64_t total = 0;
    for (const auto& l : r.layers) {
        total += l.layer.descriptor.size;
    }
    if (r.part_threshold > 2'000'000) {
        std::printf("  packages grouped in parts of %s and more, boundary hash mod %llu, to stay "
                    "within [build] max_layers (docs/apt.md)\n",
                    human_size(r.part_threshold).c_str(),
                    static_cast<unsigned long long>(r.part_modulus));
    }
    if (own > 0 && r.layers_built() == 0) {
        std::printf("  nothing to rebuild: all %zu layers were cached\n", own);
    }
    print_digest_line(r, push);
    std::printf("  %zu layers (%zu from the base, %zu built), %s compressed, %s\n", r.layers.size(),
                r.layers.size() - own, r.layers_built(), human_size(total).c_str(),
                seconds(r.seconds).c_str());
}

/// What the build did, once it (and its push) is done.
void print_build(const BuildResult& r, const BuildJsonContext& context, const Shared& s) {
    if (s.as_json) {
        print_json(to_json(r, context));
        return;
    }
    for (const auto& d : r.dropped_blobs) {
        std::fprintf(stderr,
                     "ocibake: cached blob %s (%s) was corrupt: %s; dropped it and made it "
                     "again\n",
                     d.digest.str().c_str(), d.path.c_str(), d.reason.c_str());
    }
    if (s.quiet) {
        std::cout << r.image.manifest_descriptor.digest.str() << "\n";
        return;
    }
    print_build_text(r, context.push);
}

BuildOptions build_options(const BuildFlags& f, Shared& s) {
    BuildOptions options;
    options.cache_dir = s.cache_dir;
    options.threads = f.threads;
    options.registry = s.registry.options();
    options.update_lock = f.update_lock;
    options.locked = f.locked;
    options.strict = f.strict;
    options.stand_ins = parse_stand_ins(f.stand_ins);
    if (f.locked && f.update_lock) {
        throw Error(ErrorKind::usage, "--locked refuses the lock changes --update-lock makes: "
                                      "give one of them");
    }
    f.cache.apply(options);
    // Pushing without -o writes no local image (a registry base is then never fetched).
    options.write_output = f.push.empty() || !f.output.empty();
    if (!f.output.empty()) {
        options.output = OutputTarget::parse(f.output);
    }
    options.source_date_epoch = source_date_epoch_of(f.epoch);
    if (!s.quiet && !s.as_json && ::isatty(2)) {
        s.progress = std::make_unique<TtyProgress>();
        options.progress = s.progress.get();
    }
    return options;
}

/// The stderr lines and the lock's news, before the result.
void print_notes(const BuildResult& result, const Shared& s) {
    print_base_checks(result);
    print_fetched_elsewhere(result);
    print_stand_ins(result.stand_ins, true);
    if (result.lock_update && !s.quiet && !s.as_json) {
        std::printf("the recipe changed: the lock follows it (as `ocibake lock` does; "
                    "--locked refuses this)\n");
        print_lock_diff(result.lock_update->diff, result.lock_update->lock, "changed");
    }
    if (result.lock_written && !s.quiet && !s.as_json) {
        std::printf("wrote the lock %s\n", result.lock_file.string().c_str());
    }
}

std::optional<registry::PushResult> push_built(const BuildFlags& f, BuildResult& result,
                                               const BuildOptions& options, Shared& s) {
    if (f.push.empty()) {
        return std::nullopt;
    }
    Store store(cache_root(s.cache_dir));
    std::unique_ptr<BlobProgress> bars = s.blob_bars();
    NoticesOn above_bars(s.notices, nullptr, bars.get());
    auto pushed = push_or_rebuild(store, result, options, f.recipe, parse_refs(f.push),
                                  s.registry.options(bars.get()), [](const std::string& why) {
                                      std::fprintf(stderr, "ocibake: warning: %s\n", why.c_str());
                                  });
    if (bars) {
        bars->clear();
    }
    return pushed;
}

int run_build(const BuildFlags& f, Shared& s) {
    BuildOptions options = build_options(f, s);
    std::optional<NoticesOn> shown;
    shown.emplace(s.notices, s.progress.get(), nullptr);
    BuildResult result = build_recipe_file(f.recipe, options);
    shown.reset();
    if (s.progress) {
        s.progress->clear();
    }
    print_notes(result, s);
    std::optional<registry::PushResult> pushed = push_built(f, result, options, s);
    auto wrote = f.cache.write(result, options);
    BuildJsonContext context{f.recipe, pushed ? &*pushed : nullptr, wrote ? &*wrote : nullptr};
    print_build(result, context, s);
    if (pushed && !s.as_json && !s.quiet) {
        print_push_text(*pushed);
    }
    print_remote_cache(result, wrote, s.as_json, s.quiet);
    write_digest_file(f.digest_file, result.image.manifest_descriptor.digest);
    return 0;
}

} // namespace

Command add_build(CLI::App& app, Shared& s) {
    auto f = std::make_shared<BuildFlags>();
    auto* build = app.add_subcommand("build", "Build an image from a recipe (the default command)");
    build->add_option("recipe", f->recipe, "The recipe (.toml)")->required();
    build->add_option("-o,--output", f->output,
                      "oci:DIR[:TAG] or docker-archive:FILE[:NAME:TAG] (default oci:out/NAME)");
    s.add_cache_dir(
        build, "The cache (default $OCIBAKE_CACHE_DIR, $XDG_CACHE_HOME/ocibake, ~/.cache/ocibake)");
    build->add_option("-j,--threads", f->threads,
                      "Worker threads (default: all cores; never changes the image)");
    build->add_option(
        "--source-date-epoch", f->epoch,
        "mtime of every file and the image's created time (default $SOURCE_DATE_EPOCH, "
        "then the recipe, then 0)");
    s.add_json(build, "Print the result as JSON (digest, layers, sizes, timings)");
    build->add_flag("-q,--quiet", s.quiet, "Print only the image digest");
    build->add_option("--push", f->push, "Push the image to this registry reference (repeatable)");
    build->add_option("--digest-file", f->digest_file, "Write the image digest to this file");
    build->add_flag(
        "--update-lock", f->update_lock,
        "Move every pin to what is offered now (as `ocibake lock --update`), then build");
    build->add_flag("--locked", f->locked,
                    "Refuse any change to the lock (for CI): a missing or stale entry is an "
                    "error");
    build->add_flag("--strict", f->strict,
                    "Refuse a base whose layers `ocibake run` would refuse (by default a "
                    "warning), fetching a registry base's layers to check them");
    build->add_option("--stand-in", f->stand_ins,
                      "PACKAGE=ARCHIVE: take the installer package's payload from this local "
                      "archive instead of the recipe's (for machines that cannot fetch it; the "
                      "image is labelled org.ocibake.stand-in.PACKAGE) (repeatable)");
    s.registry.add_to(build);
    f->cache.add_to(build);
    build->footer(kExitCodes);
    return {build, [f, &s] { return run_build(*f, s); }};
}

} // namespace ocibake::cli
