// The subject-name hash OpenSSL's `rehash` names certificate links by (OpenSSL's own
// X509_subject_name_hash: no crypto of ours).
#include "apt/effects.hpp"
#include "common/libcrypto.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

namespace ocibake::apt::detail {

namespace {

struct BioDeleter {
    void operator()(BIO* b) const noexcept { libcrypto().BIO_free(b); }
};
struct X509Deleter {
    void operator()(X509* x) const noexcept { libcrypto().X509_free(x); }
};

} // namespace

std::optional<unsigned long> subject_hash(std::string_view pem) {
    std::unique_ptr<BIO, BioDeleter> bio(
        libcrypto().BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) {
        throw Error(ErrorKind::internal, "OpenSSL BIO_new_mem_buf failed");
    }
    std::unique_ptr<X509, X509Deleter> cert(
        libcrypto().PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
        libcrypto().ERR_clear_error(); // not a certificate: openssl rehash skips it too
        return std::nullopt;
    }
    return libcrypto().X509_subject_name_hash(cert.get());
}

} // namespace ocibake::apt::detail
