// NVIDIA's redistrib_<version>.json, as [[layer.nvidia]] downloads it: parse_redistrib,
// then select_redist for each component on the platforms and variants a recipe may name,
// and the archive's URL made from its relative_path.
#include "support.hpp"

#include "bake/nvidia_manifest.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ocibake::fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace ocibake;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    const std::string url = "https://developer.download.nvidia.com/compute/cuda/redist/"
                            "redistrib_12.4.1.json";
    try {
        detail::RedistManifest m = detail::parse_redistrib(text, url);
        for (const auto& [name, component] : m.components) {
            for (const char* platform : {"linux-x86_64", "linux-sbsa", "linux-aarch64"}) {
                for (const char* variant : {"", "cuda12"}) {
                    try {
                        const detail::RedistArchive& a =
                            detail::select_redist(m, url, name, platform, variant);
                        std::string u = detail::redist_url(url, a.relative_path);
                        // A relative_path that climbs (a "." or ".." segment) was let through;
                        // ".." inside a name ("archive.tar...xz") does not climb.
                        std::string path = "/" + u.substr(u.find("/compute/")) + "/";
                        if (path.find("/../") != std::string::npos ||
                            path.find("/./") != std::string::npos) {
                            __builtin_trap();
                        }
                    } catch (const Error& e) {
                        fuzz::expected(e);
                    }
                }
            }
        }
    } catch (const Error& e) {
        fuzz::expected(e);
    }
    return 0;
}
