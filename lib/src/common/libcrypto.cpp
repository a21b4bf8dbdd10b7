#include "common/libcrypto.hpp"

#include "common/dynamic_library.hpp"

namespace ocibake {

const LibCrypto& libcrypto() {
    return detail::load_once<LibCrypto>("libcrypto.so.3", "MD5, SHA-512, base64 and X.509",
                                        "libssl3",
                                        [](const detail::DynamicLibrary& lib, LibCrypto& api) {
#define OCIBAKE_LIBCRYPTO_RESOLVE(name) lib.resolve(#name, api.name);
                                            OCIBAKE_LIBCRYPTO_FUNCTIONS(OCIBAKE_LIBCRYPTO_RESOLVE)
#undef OCIBAKE_LIBCRYPTO_RESOLVE
                                        });
}

} // namespace ocibake
