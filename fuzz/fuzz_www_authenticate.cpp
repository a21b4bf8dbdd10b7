// The registry's `WWW-Authenticate` challenge header, and a bearer token's grants (a JWT's
// claims, read without verifying its signature: only to word a refusal).
#include "registry/auth.hpp"
#include "support.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ocibake::fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto challenge = ocibake::registry::auth::parse_challenge(text);
    (void)challenge;
    auto grants = ocibake::registry::auth::token_grants(text, "ml/app", "push");
    (void)grants;
    return 0;
}
