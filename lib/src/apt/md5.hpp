// Internal: MD5 (OpenSSL EVP), for the dpkg database: dpkg records conffiles by MD5.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace ocibake::apt::detail {

class Md5 {
public:
    Md5();
    ~Md5();
    Md5(Md5&&) noexcept;
    Md5& operator=(Md5&&) noexcept;
    void update(const void* data, std::size_t size);
    /// The digest in lowercase hex; the hasher is reset.
    std::string finish_hex();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace ocibake::apt::detail
