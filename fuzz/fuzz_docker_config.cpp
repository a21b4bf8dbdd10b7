// docker's config.json (and podman's auth.json): auths, credHelpers, credsStore. The
// lookup is what find_credentials() does with the file's text; no helper is ever run.
#include "registry/auth.hpp"
#include "support.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ocibake::fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    for (const char* registry : {"docker.io", "localhost:5000", "ghcr.io"}) {
        try {
            auto entry = ocibake::registry::auth::lookup_auth_file(text, registry, "config.json");
            (void)entry;
        } catch (const ocibake::Error& e) {
            ocibake::fuzz::expected(e);
        }
    }
    return 0;
}
