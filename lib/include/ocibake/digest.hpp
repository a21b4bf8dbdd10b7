// ocibake: sha256 digests, streaming.
//
// Digest is the value type used for every content address ("sha256:<64 hex>"); Sha256
// hashes a stream incrementally (OpenSSL EVP underneath, SHA-NI where the CPU has it).
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace ocibake {

/// A sha256 content digest. Default-constructed digests are empty (invalid).
class Digest {
public:
    Digest() = default;
    explicit Digest(const std::array<std::uint8_t, 32>& bytes) : bytes_(bytes), valid_(true) {}

    /// Parses "sha256:<64 lowercase hex>". Throws Error(integrity) naming the text otherwise.
    static Digest parse(std::string_view text);
    /// Like parse(), but returns an empty Digest instead of throwing.
    static Digest try_parse(std::string_view text) noexcept;

    bool valid() const noexcept { return valid_; }
    explicit operator bool() const noexcept { return valid_; }
    /// "sha256:<hex>"
    std::string str() const;
    /// "<hex>" alone (the blob file name in an OCI layout).
    std::string hex() const;
    /// The first 12 hex digits, for humans.
    std::string short_hex() const { return hex().substr(0, 12); }
    const std::array<std::uint8_t, 32>& bytes() const noexcept { return bytes_; }

    auto operator<=>(const Digest&) const = default;

private:
    std::array<std::uint8_t, 32> bytes_{};
    bool valid_ = false;
};

/// Incremental sha256. Movable, not copyable.
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(Sha256&&) noexcept;
    Sha256& operator=(Sha256&&) noexcept;

    void update(const void* data, std::size_t size);
    void update(std::string_view text) { update(text.data(), text.size()); }
    void update(std::span<const std::byte> bytes) { update(bytes.data(), bytes.size()); }
    /// Ends the stream and returns its digest; the hasher is then reset for reuse.
    Digest finish();
    /// A hasher in the same state (the bytes so far hashed), to go on from later.
    Sha256 clone() const;
    /// Bytes hashed since construction or the last finish().
    std::uint64_t size() const noexcept { return size_; }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::uint64_t size_ = 0;
};

/// sha256 of a byte string.
Digest sha256_of(std::string_view data);
/// sha256 of a file's contents, streamed. Throws Error(io) naming the path.
Digest sha256_of_file(const std::filesystem::path& path);

} // namespace ocibake
