// The registry's `WWW-Authenticate` challenge header.
#include "registry/challenge.hpp"
#include "support.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ocibake::fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string header(reinterpret_cast<const char*>(data), size);
    auto [scheme, params] = ocibake::registry::parse_challenge(header);
    (void)scheme;
    (void)params;
    return 0;
}
