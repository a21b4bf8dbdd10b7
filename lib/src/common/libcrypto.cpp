#include "common/libcrypto.hpp"

#include "common/dynamic_library.hpp"

#include <mutex>

namespace ocibake {

const LibCrypto& libcrypto() {
    static std::once_flag once;
    static LibCrypto api;
    std::call_once(once, [] {
        detail::DynamicLibrary lib("libcrypto.so.3", "MD5, SHA-512, base64 and X.509", "libssl3");
        LibCrypto loaded;
#define OCIBAKE_LIBCRYPTO_RESOLVE(name) lib.resolve(#name, loaded.name);
        OCIBAKE_LIBCRYPTO_FUNCTIONS(OCIBAKE_LIBCRYPTO_RESOLVE)
#undef OCIBAKE_LIBCRYPTO_RESOLVE
        api = loaded;
    });
    return api;
}

} // namespace ocibake
