// `ocibake push` and `ocibake pull`.
#include "cli.hpp"

#include <cstdio>
#include <iostream>

namespace ocibake::cli {

namespace {

struct PushFlags {
    std::string image, digest_file;
    std::vector<std::string> targets;
};

struct PullFlags {
    std::string ref, output, platform = "linux/amd64";
    bool all_platforms = false;
};

int run_push(const PushFlags& f, Shared& s) {
    auto source = OutputTarget::parse(f.image);
    if (source.kind != OutputTarget::Kind::oci_layout) {
        throw Error(ErrorKind::usage,
                    "push takes an OCI layout (oci:DIR[:TAG]); a docker archive holds "
                    "uncompressed layers");
    }
    Store store(cache_root(s.cache_dir));
    std::unique_ptr<BlobProgress> bars = s.blob_bars();
    NoticesOn above_bars(s.notices, nullptr, bars.get());
    auto r = registry::push_layout(store, source.path, source.reference, parse_refs(f.targets),
                                   s.registry.options(bars.get()));
    if (bars) {
        bars->clear();
    }
    if (s.as_json) {
        print_json(to_json(r));
    } else if (s.quiet) {
        std::cout << r.digest.str() << "\n";
    } else {
        print_push_text(r);
    }
    write_digest_file(f.digest_file, r.digest);
    return 0;
}

int run_pull(const PullFlags& f, Shared& s) {
    auto ref = registry::Reference::parse(f.ref);
    auto output =
        f.output.empty()
            ? OutputTarget::default_for(ref.repository.substr(ref.repository.rfind('/') + 1))
            : OutputTarget::parse(f.output);
    std::optional<oci::Platform> platform;
    if (!f.all_platforms) {
        platform = oci::Platform::parse(f.platform);
    }
    Store store(cache_root(s.cache_dir));
    std::unique_ptr<BlobProgress> bars = s.blob_bars();
    NoticesOn above_bars(s.notices, nullptr, bars.get());
    auto r = registry::pull(store, ref, output, platform, s.registry.options(bars.get()));
    if (bars) {
        bars->clear();
    }
    if (s.as_json) {
        print_json(to_json(r, output));
    } else if (s.quiet) {
        std::cout << r.digest.str() << "\n";
    } else {
        std::printf("%s -> %s\n  %llu blobs fetched (%s); %s\n", r.digest.str().c_str(),
                    output.str().c_str(), static_cast<unsigned long long>(r.stats.blobs_fetched),
                    human_size(r.stats.bytes_fetched).c_str(), seconds(r.stats.seconds).c_str());
    }
    return 0;
}

} // namespace

void print_push_text(const registry::PushResult& r) {
    for (const auto& p : r.pushed) {
        std::printf("pushed %s\n", p.str().c_str());
    }
    const auto& s = r.stats;
    if (s.blobs_streamed > 0) {
        std::printf("  %llu base layers streamed from their registry (%s)\n",
                    static_cast<unsigned long long>(s.blobs_streamed),
                    human_size(s.bytes_streamed).c_str());
    }
    std::printf("  blobs: %llu sent (%s), %llu already there (%s), %llu mounted (%s); %s\n",
                static_cast<unsigned long long>(s.blobs_sent), human_size(s.bytes_sent).c_str(),
                static_cast<unsigned long long>(s.blobs_skipped),
                human_size(s.bytes_skipped).c_str(),
                static_cast<unsigned long long>(s.blobs_mounted),
                human_size(s.bytes_mounted).c_str(), seconds(s.seconds).c_str());
}

Command add_push(CLI::App& app, Shared& s) {
    auto f = std::make_shared<PushFlags>();
    auto* push = app.add_subcommand("push", "Push an image (an OCI layout) to registries");
    push->add_option("image", f->image, "oci:DIR[:TAG] or a layout directory")->required();
    push->add_option("refs", f->targets, "registry/repository[:tag] (one or more)")->required();
    push->add_option("--digest-file", f->digest_file, "Write the pushed digest to this file");
    s.add_cache_dir(push, "The cache (remembers uploads to resume)");
    s.add_json(push, "Print the result as JSON");
    push->add_flag("-q,--quiet", s.quiet, "Print only the digest");
    return s.registry_command(push, [f, &s] { return run_push(*f, s); });
}

Command add_pull(CLI::App& app, Shared& s) {
    auto f = std::make_shared<PullFlags>();
    auto* pull = app.add_subcommand(
        "pull", "Pull an image from a registry into an OCI layout or docker archive");
    pull->add_option("ref", f->ref, "registry/repository[:tag][@sha256:...]")->required();
    pull->add_option("-o,--output", f->output,
                     "oci:DIR[:TAG] or docker-archive:FILE (default oci:out/NAME)");
    pull->add_option("--platform", f->platform, "The platform to pull (default linux/amd64)");
    pull->add_flag("--all-platforms", f->all_platforms, "Pull the whole index, every platform");
    s.add_cache_dir(pull);
    s.add_json(pull, "Print the result as JSON");
    pull->add_flag("-q,--quiet", s.quiet, "Print only the digest");
    return s.registry_command(pull, [f, &s] { return run_pull(*f, s); });
}

} // namespace ocibake::cli
