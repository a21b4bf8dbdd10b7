// docker's config.json (and podman's auth.json): auths, credHelpers, credsStore. PATH is
// an empty directory here, so a named credential helper is never found, never run.
#include "ocibake/registry.hpp"
#include "support.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ocibake::fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    ocibake::registry::Options options;
    options.auth_file = ocibake::fuzz::write_scratch_file("config.json", text);
    for (const char* registry : {"docker.io", "localhost:5000", "ghcr.io"}) {
        try {
            auto creds = ocibake::registry::find_credentials(registry, options);
            (void)creds;
        } catch (const ocibake::Error& e) {
            ocibake::fuzz::expected(e);
        }
    }
    return 0;
}
