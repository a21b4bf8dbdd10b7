// `ocibake inspect IMAGE`.
#include "cli.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace ocibake::cli {

namespace {

struct InspectFlags {
    std::string image, platform = "linux/amd64";
};

/// `["a" "b"]`: each word as a JSON string.
std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) {
        out += (out.empty() ? "" : " ") + nlohmann::json(s).dump();
    }
    return "[" + out + "]";
}

void print_config(const oci::ContainerConfig& cc) {
    if (cc.entrypoint) {
        std::printf("entrypoint:  %s\n", join(*cc.entrypoint).c_str());
    }
    if (cc.cmd) {
        std::printf("cmd:         %s\n", join(*cc.cmd).c_str());
    }
    if (!cc.user.empty()) {
        std::printf("user:        %s\n", cc.user.c_str());
    }
    if (!cc.working_dir.empty()) {
        std::printf("workdir:     %s\n", cc.working_dir.c_str());
    }
    if (!cc.stop_signal.empty()) {
        std::printf("stop signal: %s\n", cc.stop_signal.c_str());
    }
    for (const auto& p : cc.exposed_ports) {
        std::printf("port:        %s\n", p.c_str());
    }
    for (const auto& v : cc.volumes) {
        std::printf("volume:      %s\n", v.c_str());
    }
    for (const auto& e : cc.env) {
        std::printf("env:         %s\n", e.c_str());
    }
    for (const auto& [k, v] : cc.labels) {
        std::printf("label:       %s=%s\n", k.c_str(), v.c_str());
    }
}

void print_inspect_text(const ImageInfo& info) {
    const auto& c = info.config;
    std::printf("image:       %s\n", info.source.c_str());
    if (info.manifest_descriptor.digest) {
        std::printf("digest:      %s (%s, %llu bytes)\n",
                    info.manifest_descriptor.digest.str().c_str(),
                    info.manifest_descriptor.media_type.c_str(),
                    static_cast<unsigned long long>(info.manifest_descriptor.size));
    } else {
        std::printf("digest:      none (a docker archive holds no manifest)\n");
    }
    std::printf("config:      %s (%llu bytes)\n", info.manifest.config.digest.str().c_str(),
                static_cast<unsigned long long>(info.manifest.config.size));
    std::printf("platform:    %s\n", c.platform.str().c_str());
    if (!c.created.empty()) {
        std::printf("created:     %s\n", c.created.c_str());
    }
    print_config(c.config);
    std::uint64_t total = 0;
    for (const auto& l : info.manifest.layers) {
        total += l.size;
    }
    std::printf("layers:      %zu, %s\n", info.manifest.layers.size(), human_size(total).c_str());
    for (std::size_t i = 0; i < info.manifest.layers.size(); ++i) {
        const auto& d = info.manifest.layers[i];
        std::string kind = d.media_type.substr(d.media_type.rfind('.') + 1);
        std::printf("  %2zu  %s  %10s  %s\n", i + 1, d.digest.str().c_str(),
                    human_size(d.size).c_str(), kind.c_str());
    }
}

int run_inspect(const InspectFlags& f, const Shared& s) {
    ImageInfo info = inspect_image(f.image, oci::Platform::parse(f.platform));
    if (s.as_json) {
        print_json(to_json(info));
    } else {
        print_inspect_text(info);
    }
    return 0;
}

} // namespace

Command add_inspect(CLI::App& app, Shared& s) {
    auto f = std::make_shared<InspectFlags>();
    auto* inspect = app.add_subcommand("inspect", "Show an image's manifest, config and layers");
    inspect->add_option("image", f->image, "oci:DIR[:TAG], docker-archive:FILE, or a path")
        ->required();
    inspect->add_option("--platform", f->platform,
                        "Platform to pick from an index (default linux/amd64)");
    s.add_json(inspect, "Print as JSON");
    inspect->footer(kExitCodes);
    return {inspect, [f, &s] { return run_inspect(*f, s); }};
}

} // namespace ocibake::cli
