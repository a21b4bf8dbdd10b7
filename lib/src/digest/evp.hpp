// Internal: the OpenSSL message-digest (EVP) context the library's other hashers hold:
// dpkg's MD5 (apt/md5.cpp), an archive's SHA-512 (bake/archive_layers.cpp). SHA-256 is
// ours (digest/sha256_compress.hpp). libcrypto is loaded on first use (common/libcrypto.hpp).
// Not installed.
#pragma once

#include "common/libcrypto.hpp"

#include <memory>

namespace ocibake::detail {

struct EvpMdCtxFree {
    void operator()(EVP_MD_CTX* ctx) const noexcept { libcrypto().EVP_MD_CTX_free(ctx); }
};
using EvpMdCtx = std::unique_ptr<EVP_MD_CTX, EvpMdCtxFree>;

/// Throws Error(internal, "OpenSSL <what>: <OpenSSL's reason>") unless `ok` is 1.
void check_openssl(int ok, const char* what);

/// A context started on `md`: Error(internal) when OpenSSL cannot make one, and
/// check_openssl(..., `init_what`) on starting it.
EvpMdCtx start_digest(const EVP_MD* md, const char* init_what);

} // namespace ocibake::detail
