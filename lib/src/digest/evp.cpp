#include "digest/evp.hpp"

#include "ocibake/error.hpp"

#include <string>

namespace ocibake::detail {

void check_openssl(int ok, const char* what) {
    if (ok != 1) {
        char buf[256];
        libcrypto().ERR_error_string_n(libcrypto().ERR_get_error(), buf, sizeof buf);
        throw Error(ErrorKind::internal, std::string("OpenSSL ") + what + ": " + buf);
    }
}

EvpMdCtx start_digest(const EVP_MD* md, const char* init_what) {
    EvpMdCtx ctx(libcrypto().EVP_MD_CTX_new());
    if (!ctx) {
        throw Error(ErrorKind::internal, "OpenSSL EVP_MD_CTX_new failed");
    }
    check_openssl(libcrypto().EVP_DigestInit_ex(ctx.get(), md, nullptr), init_what);
    return ctx;
}

} // namespace ocibake::detail
