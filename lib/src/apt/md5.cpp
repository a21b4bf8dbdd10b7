#include "apt/md5.hpp"
#include "common/libcrypto.hpp"

#include "common/strings.hpp"
#include "digest/evp.hpp"

namespace ocibake::apt::detail {

using ocibake::detail::check_openssl;
using ocibake::detail::EvpMdCtx;
using ocibake::detail::hex_lower;
using ocibake::detail::start_digest;

struct Md5::Impl {
    EvpMdCtx ctx = start_digest(libcrypto().EVP_md5(), "MD5 init");
};

Md5::Md5() : impl_(std::make_unique<Impl>()) {}

Md5::~Md5() = default;
Md5::Md5(Md5&&) noexcept = default;
Md5& Md5::operator=(Md5&&) noexcept = default;

void Md5::update(const void* data, std::size_t size) {
    check_openssl(libcrypto().EVP_DigestUpdate(impl_->ctx.get(), data, size), "MD5 update");
}

std::string Md5::finish_hex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    check_openssl(libcrypto().EVP_DigestFinal_ex(impl_->ctx.get(), out, &n), "MD5 final");
    check_openssl(libcrypto().EVP_DigestInit_ex(impl_->ctx.get(), libcrypto().EVP_md5(), nullptr),
                  "MD5 init");
    return hex_lower(out, n);
}

} // namespace ocibake::apt::detail
