#include "ocibake/digest.hpp"

#include "common/fs.hpp"
#include "common/strings.hpp"
#include "digest/hash_fd.hpp"
#include "digest/sha256_compress.hpp"
#include "ocibake/error.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <memory>
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

// The hash state (FIPS 180-4, 6.2): the eight words, and the bytes of a block not yet
// full. The compression is digest/sha256_compress.cpp.
struct Sha256::Impl {
    std::uint32_t state[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                              0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    unsigned char block[64] = {};
    std::size_t used = 0; ///< bytes in `block`
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(const void* data, std::size_t size) {
    if (size == 0) {
        return;
    }
    const auto* p = static_cast<const unsigned char*>(data);
    size_ += size;
    Impl& h = *impl_;
    if (h.used > 0) {
        std::size_t take = std::min(size, sizeof h.block - h.used);
        std::memcpy(h.block + h.used, p, take);
        h.used += take;
        p += take;
        size -= take;
        if (h.used < sizeof h.block) {
            return;
        }
        detail::sha256_compress(h.state, h.block, 1);
        h.used = 0;
    }
    if (size >= 64) {
        detail::sha256_compress(h.state, p, size / 64);
        p += size / 64 * 64;
        size %= 64;
    }
    std::memcpy(h.block, p, size);
    h.used = size;
}

Sha256 Sha256::clone() const {
    Sha256 copy;
    *copy.impl_ = *impl_;
    copy.size_ = size_;
    return copy;
}

Digest Sha256::finish() {
    Impl& h = *impl_;
    // FIPS 180-4, 5.1.1: a 1 bit, zeros to 56 bytes mod 64, the length in bits.
    std::uint64_t bits = size_ * 8;
    h.block[h.used++] = 0x80;
    if (h.used > 56) {
        std::memset(h.block + h.used, 0, sizeof h.block - h.used);
        detail::sha256_compress(h.state, h.block, 1);
        h.used = 0;
    }
    std::memset(h.block + h.used, 0, 56 - h.used);
    for (int i = 0; i < 8; ++i) {
        h.block[56 + i] = static_cast<unsigned char>(bits >> (56 - 8 * i));
    }
    detail::sha256_compress(h.state, h.block, 1);
    std::array<std::uint8_t, 32> out{};
    for (int i = 0; i < 8; ++i) {
        out[4 * i] = static_cast<std::uint8_t>(h.state[i] >> 24);
        out[4 * i + 1] = static_cast<std::uint8_t>(h.state[i] >> 16);
        out[4 * i + 2] = static_cast<std::uint8_t>(h.state[i] >> 8);
        out[4 * i + 3] = static_cast<std::uint8_t>(h.state[i]);
    }
    *impl_ = Impl{};
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
