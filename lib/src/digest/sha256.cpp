#include "ocibake/digest.hpp"

#include "common/fs.hpp"
#include "common/strings.hpp"
#include "digest/evp.hpp"
#include "digest/hash_fd.hpp"
#include "ocibake/error.hpp"

#include <cerrno>
#include <fcntl.h>
#include <memory>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <vector>

namespace ocibake {

namespace {

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

} // namespace

Digest Digest::try_parse(std::string_view text) noexcept {
    constexpr std::string_view prefix = "sha256:";
    if (text.size() != prefix.size() + 64 || text.substr(0, prefix.size()) != prefix) {
        return {};
    }
    std::array<std::uint8_t, 32> bytes{};
    for (std::size_t i = 0; i < 32; ++i) {
        int hi = hex_value(text[prefix.size() + 2 * i]);
        int lo = hex_value(text[prefix.size() + 2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return {};
        }
        bytes[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return Digest(bytes);
}

Digest Digest::parse(std::string_view text) {
    Digest d = try_parse(text);
    if (!d) {
        throw Error(ErrorKind::integrity, "invalid digest '" + std::string(text) +
                                              "' (expected sha256:<64 lowercase hex>)");
    }
    return d;
}

std::string Digest::hex() const {
    return detail::hex_lower(bytes_.data(), bytes_.size());
}

std::string Digest::str() const {
    return "sha256:" + hex();
}

namespace detail {

void check_openssl(int ok, const char* what) {
    if (ok != 1) {
        char buf[256];
        ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
        throw Error(ErrorKind::internal, std::string("OpenSSL ") + what + ": " + buf);
    }
}

EvpMdCtx start_digest(const EVP_MD* md, const char* init_what) {
    EvpMdCtx ctx(EVP_MD_CTX_new());
    if (!ctx) {
        throw Error(ErrorKind::internal, "OpenSSL EVP_MD_CTX_new failed");
    }
    check_openssl(EVP_DigestInit_ex(ctx.get(), md, nullptr), init_what);
    return ctx;
}

std::optional<Digest> sha256_of_fd(int fd, int& error) {
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    Sha256 hash;
    std::vector<char> buf(1 << 20);
    for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            error = errno;
            return std::nullopt;
        }
        if (n == 0) {
            return hash.finish();
        }
        hash.update(buf.data(), static_cast<std::size_t>(n));
    }
}

} // namespace detail

struct Sha256::Impl {
    detail::EvpMdCtx ctx = detail::start_digest(EVP_sha256(), "EVP_DigestInit_ex");
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(const void* data, std::size_t size) {
    if (size == 0) {
        return;
    }
    detail::check_openssl(EVP_DigestUpdate(impl_->ctx.get(), data, size), "EVP_DigestUpdate");
    size_ += size;
}

Sha256 Sha256::clone() const {
    Sha256 copy;
    detail::check_openssl(EVP_MD_CTX_copy_ex(copy.impl_->ctx.get(), impl_->ctx.get()),
                          "EVP_MD_CTX_copy_ex");
    copy.size_ = size_;
    return copy;
}

Digest Sha256::finish() {
    std::array<std::uint8_t, 32> out{};
    unsigned int len = 0;
    detail::check_openssl(EVP_DigestFinal_ex(impl_->ctx.get(), out.data(), &len),
                          "EVP_DigestFinal_ex");
    detail::check_openssl(EVP_DigestInit_ex(impl_->ctx.get(), EVP_sha256(), nullptr),
                          "EVP_DigestInit_ex");
    size_ = 0;
    return Digest(out);
}

Digest sha256_of(std::string_view data) {
    Sha256 h;
    h.update(data);
    return h.finish();
}

Digest sha256_of_file(const std::filesystem::path& path) {
    detail::UniqueFd fd = detail::open_regular(path, ErrorKind::io);
    Sha256 h;
    // Not zero-filled: a small file touches only the pages it is read into.
    constexpr std::size_t size = 1 << 20;
    auto buf = std::make_unique_for_overwrite<char[]>(size);
    for (;;) {
        std::size_t n = detail::read_some(fd.get(), buf.get(), size, path.native());
        if (n == 0) {
            break;
        }
        h.update(buf.get(), n);
    }
    return h.finish();
}

} // namespace ocibake
