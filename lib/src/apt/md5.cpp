#include "apt/md5.hpp"

#include "ocibake/error.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>

namespace ocibake::apt::detail {

namespace {

// One check() for OpenSSL: throws with OpenSSL's own message.
void check(int ok, const char* what) {
    if (ok != 1) {
        char buf[256];
        ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
        throw Error(ErrorKind::internal, std::string("OpenSSL ") + what + ": " + buf);
    }
}

struct CtxDeleter {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};

} // namespace

struct Md5::Impl {
    std::unique_ptr<EVP_MD_CTX, CtxDeleter> ctx;
};

Md5::Md5() : impl_(std::make_unique<Impl>()) {
    impl_->ctx.reset(EVP_MD_CTX_new());
    if (!impl_->ctx) {
        throw Error(ErrorKind::internal, "OpenSSL EVP_MD_CTX_new failed");
    }
    check(EVP_DigestInit_ex(impl_->ctx.get(), EVP_md5(), nullptr), "MD5 init");
}

Md5::~Md5() = default;
Md5::Md5(Md5&&) noexcept = default;
Md5& Md5::operator=(Md5&&) noexcept = default;

void Md5::update(const void* data, std::size_t size) {
    check(EVP_DigestUpdate(impl_->ctx.get(), data, size), "MD5 update");
}

std::string Md5::finish_hex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    check(EVP_DigestFinal_ex(impl_->ctx.get(), out, &n), "MD5 final");
    check(EVP_DigestInit_ex(impl_->ctx.get(), EVP_md5(), nullptr), "MD5 init");
    static const char* hex = "0123456789abcdef";
    std::string s;
    for (unsigned i = 0; i < n; ++i) {
        s += hex[out[i] >> 4];
        s += hex[out[i] & 15];
    }
    return s;
}

} // namespace ocibake::apt::detail
