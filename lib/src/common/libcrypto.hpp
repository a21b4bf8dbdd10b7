// Internal: OpenSSL's libcrypto, loaded the first time one of its functions is needed:
// MD5 (dpkg's file sums), SHA-512 (archive inputs), base64 (registry auth), X.509 names
// (apt's certificate folders). SHA-256, which every command needs, is ours
// (digest/sha256_compress.hpp): libcrypto's 21,000 relocations would cost every start of
// the program ~3 ms (docs/benchmarks.md). Call sites write libcrypto().EVP_md5() where
// they would write EVP_md5(). Not installed.
#pragma once

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace ocibake {

// Every libcrypto function the library calls. Its type is the one OpenSSL's headers declare.
#define OCIBAKE_LIBCRYPTO_FUNCTIONS(X)                                                             \
    X(EVP_MD_CTX_new)                                                                              \
    X(EVP_MD_CTX_free)                                                                             \
    X(EVP_DigestInit_ex)                                                                           \
    X(EVP_DigestUpdate)                                                                            \
    X(EVP_DigestFinal_ex)                                                                          \
    X(EVP_md5)                                                                                     \
    X(EVP_sha512)                                                                                  \
    X(ERR_get_error)                                                                               \
    X(ERR_error_string_n)                                                                          \
    X(ERR_clear_error)                                                                             \
    X(EVP_EncodeBlock)                                                                             \
    X(EVP_DecodeBlock)                                                                             \
    X(BIO_new_mem_buf)                                                                             \
    X(BIO_free)                                                                                    \
    X(PEM_read_bio_X509)                                                                           \
    X(X509_free)                                                                                   \
    X(X509_subject_name_hash)

/// The functions, resolved from libcrypto.so.3.
struct LibCrypto {
#define OCIBAKE_LIBCRYPTO_SLOT(name) decltype(&::name) name = nullptr;
    OCIBAKE_LIBCRYPTO_FUNCTIONS(OCIBAKE_LIBCRYPTO_SLOT)
#undef OCIBAKE_LIBCRYPTO_SLOT
};

/// Loads libcrypto once (thread-safe) and returns its functions. Throws Error(runtime)
/// naming the library and the loader's reason when it is missing or lacks a function.
const LibCrypto& libcrypto();

} // namespace ocibake
