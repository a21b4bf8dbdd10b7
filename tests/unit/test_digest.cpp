// Unit tests for ocibake/digest.hpp: Digest parsing and printing, streaming Sha256,
// sha256_of and sha256_of_file.
#include "common/strings.hpp"
#include "digest/sha256_compress.hpp"
#include "ocibake/digest.hpp"
#include "ocibake/error.hpp"
#include "support/checks.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

using namespace ocibake;
using namespace ocibake::test;

namespace {

// Known answers. "abc", the 448-bit message and one million 'a' are the examples of
// FIPS 180-2, "Secure Hash Standard", Appendix B.1, B.2 and B.3 (also NIST CSRC
// "Cryptographic Standards and Guidelines: Examples with Intermediate Values", SHA256.pdf).
// The empty message is the Len = 0 vector of NIST CAVP SHA256ShortMsg.rsp (SHAVS).
constexpr const char* kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* k448Message = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
constexpr const char* k448 = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr const char* kMillionA =
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

std::string sha(const char* hex) {
    return std::string("sha256:") + hex;
}

} // namespace

TEST_CASE("sha256_of matches the FIPS 180-2 / NIST known answers", "[digest]") {
    CHECK(sha256_of("abc").hex() == kAbc);
    CHECK(sha256_of("").hex() == kEmpty);
    CHECK(sha256_of(k448Message).hex() == k448);
    CHECK(sha256_of(std::string(1000000, 'a')).hex() == kMillionA);
    CHECK(sha256_of("abc").str() == sha(kAbc));
}

TEST_CASE("Sha256 streamed in odd-sized pieces equals the one-shot digest", "[digest]") {
    const std::string million(1000000, 'a');
    for (std::size_t piece :
         {std::size_t{1}, std::size_t{3}, std::size_t{55}, std::size_t{63}, std::size_t{64},
          std::size_t{65}, std::size_t{4097}, std::size_t{999999}}) {
        // Pieces of 1 byte over a million bytes are slow in a debug build: use a prefix.
        const std::string data = piece == 1 ? million.substr(0, 10007) : million;
        Sha256 h;
        for (std::size_t at = 0; at < data.size(); at += piece) {
            h.update(std::string_view(data).substr(at, piece));
        }
        CHECK(h.size() == data.size());
        CHECK(h.finish() == sha256_of(data));
    }

    // The three update() overloads feed the same stream; empty updates are no-ops.
    Sha256 h;
    h.update("a", 1);
    h.update(std::string_view());
    h.update(std::string_view("b"));
    const std::byte c[] = {std::byte{'c'}};
    h.update(std::span<const std::byte>(c));
    CHECK(h.size() == 3);
    CHECK(h.finish().hex() == kAbc);

    Sha256 big;
    for (int i = 0; i < 1000; ++i) {
        big.update(million.data(), 1000);
    }
    CHECK(big.finish().hex() == kMillionA);
}

TEST_CASE("Sha256::finish resets the hasher for reuse", "[digest]") {
    Sha256 h;
    CHECK(h.size() == 0);
    h.update("abc");
    CHECK(h.size() == 3);
    CHECK(h.finish().hex() == kAbc);
    CHECK(h.size() == 0);
    // Nothing hashed since finish(): the digest of the empty message.
    CHECK(h.finish().hex() == kEmpty);
    h.update(k448Message);
    CHECK(h.size() == 56);
    CHECK(h.finish().hex() == k448);
}

TEST_CASE("Sha256 is movable and keeps its stream", "[digest]") {
    Sha256 a;
    a.update("ab");
    Sha256 b(std::move(a));
    b.update("c");
    CHECK(b.size() == 3);
    Sha256 c;
    c = std::move(b);
    CHECK(c.finish().hex() == kAbc);
}

TEST_CASE("Digest prints and parses sha256:<hex>", "[digest]") {
    Digest d = Digest::parse(sha(kAbc));
    CHECK(d.valid());
    CHECK(static_cast<bool>(d));
    CHECK(d == sha256_of("abc"));
    CHECK(d.str() == sha(kAbc));
    CHECK(d.hex() == kAbc);
    CHECK(d.short_hex() == "ba7816bf8f01");
    CHECK(d.bytes()[0] == 0xba);
    CHECK(d.bytes()[31] == 0xad);
    CHECK(Digest(d.bytes()) == d);
    CHECK(Digest::try_parse(sha(kAbc)) == d);

    Digest empty;
    CHECK_FALSE(empty.valid());
    CHECK_FALSE(static_cast<bool>(empty));
    CHECK(empty != d);

    // Ordered by bytes: usable as a map/set key.
    CHECK(Digest::parse(sha(kAbc)) < Digest::parse(sha(kMillionA)));
    CHECK(Digest::parse(sha(k448)) < Digest::parse(sha(kAbc)));
}

TEST_CASE("Digest::parse rejects anything but sha256:<64 lowercase hex>", "[digest]") {
    const std::string upper =
        "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
    const std::string one_upper = sha(kAbc).substr(0, 70) + "F";
    const std::string short_hex = sha(kAbc).substr(0, 70);
    const std::string long_hex = sha(kAbc) + "0";
    const std::string sha512 = std::string("sha512:") + kAbc;
    const std::string no_prefix = kAbc;
    const std::string non_hex = sha(kAbc).substr(0, 70) + "g";
    const std::string upper_prefix = std::string("SHA256:") + kAbc;
    const std::string with_space = sha(kAbc) + " ";

    for (const std::string& text :
         {upper, one_upper, short_hex, long_hex, sha512, no_prefix, non_hex, upper_prefix,
          with_space, std::string("sha256:"), std::string()}) {
        INFO(text);
        CHECK_FALSE(Digest::try_parse(text).valid());
        Caught e = error_of([&] { Digest::parse(text); });
        CHECK(e.kind == ErrorKind::integrity);
        CHECK(e.what == "invalid digest '" + text + "' (expected sha256:<64 lowercase hex>)");
    }

    // The exact texts users see, spelled out once.
    CHECK(error_of([] { Digest::parse("sha256:abc"); }).what ==
          "invalid digest 'sha256:abc' (expected sha256:<64 lowercase hex>)");
    CHECK(error_of([&] { Digest::parse(sha512); }).what ==
          "invalid digest 'sha512:" + std::string(kAbc) + "' (expected sha256:<64 lowercase hex>)");
}

TEST_CASE("sha256_of_file hashes the contents of a file", "[digest]") {
    ScratchDir dir("digest");
    SECTION("small and empty files") {
        CHECK(sha256_of_file(write_file(dir / "abc", "abc")).hex() == kAbc);
        CHECK(sha256_of_file(write_file(dir / "empty", "")).hex() == kEmpty);
    }
    SECTION("a file larger than the read buffer") {
        std::string content;
        content.reserve((3 << 20) + 17);
        for (std::size_t i = 0; i < (3u << 20) + 17; ++i) {
            content += static_cast<char>((i * 131 + 7) & 0xff);
        }
        CHECK(sha256_of_file(write_file(dir / "big", content)) == sha256_of(content));
    }
    SECTION("one million 'a'") {
        CHECK(sha256_of_file(write_file(dir / "a", std::string(1000000, 'a'))).hex() == kMillionA);
    }
}

TEST_CASE("sha256_of_file fails with Error(io) naming the path", "[digest]") {
    ScratchDir dir("digest");
    SECTION("missing file") {
        auto missing = dir / "no-such-file";
        Caught e = error_of([&] { sha256_of_file(missing); });
        CHECK(e.kind == ErrorKind::io);
        CHECK(e.what == "cannot open " + missing.string() + ": No such file or directory");
    }
    SECTION("a directory") {
        Caught e = error_of([&] { sha256_of_file(dir.path()); });
        CHECK(e.kind == ErrorKind::io);
        CHECK(e.what ==
              "cannot read " + dir.path().string() + ": it is a directory, not a regular file");
    }
}

TEST_CASE("a cloned hasher goes on from where the original stood", "[digest]") {
    ocibake::Sha256 h;
    h.update(std::string_view("hello "));
    ocibake::Sha256 copy = h.clone();
    CHECK(copy.size() == 6);
    h.update(std::string_view("world"));
    copy.update(std::string_view("there"));
    CHECK(h.finish() == ocibake::sha256_of("hello world"));
    CHECK(copy.finish() == ocibake::sha256_of("hello there"));
}

// SHA-256 is ours (lib/src/digest/sha256_compress.cpp): checked here against OpenSSL's, on
// every length that crosses the padding's edge cases (55, 56, 63, 64 bytes into a block),
// in one piece and streamed, and with both of our compression functions.
TEST_CASE("Sha256 equals OpenSSL's SHA-256 on every length up to 1,100 bytes", "[digest]") {
    std::string data;
    std::uint32_t x = 2463534242u; // xorshift32: the same bytes on every run
    for (int i = 0; i < 1100; ++i) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data.push_back(static_cast<char>(x));
    }
    for (std::size_t n = 0; n <= data.size(); ++n) {
        unsigned char want[EVP_MAX_MD_SIZE];
        unsigned int want_size = 0;
        REQUIRE(::EVP_Digest(data.data(), n, want, &want_size, ::EVP_sha256(), nullptr) == 1);
        std::string want_hex = detail::hex_lower(want, want_size);
        INFO("length " << n);
        REQUIRE(sha256_of(std::string_view(data).substr(0, n)).hex() == want_hex);
        Sha256 streamed; // in pieces of 7 bytes: every alignment against the block
        for (std::size_t at = 0; at < n; at += 7) {
            streamed.update(std::string_view(data).substr(at, std::min<std::size_t>(7, n - at)));
        }
        REQUIRE(streamed.finish().hex() == want_hex);
    }
}

TEST_CASE("both SHA-256 compression functions give the same state", "[digest]") {
    if (!detail::sha256_extensions()) {
        WARN("this CPU has no SHA extensions: only the portable compression runs here");
        return;
    }
    std::vector<unsigned char> blocks(64 * 37);
    for (std::size_t i = 0; i < blocks.size(); ++i) {
        blocks[i] = static_cast<unsigned char>(i * 131 + i / 7);
    }
    for (std::size_t count : {std::size_t{1}, std::size_t{2}, std::size_t{37}}) {
        std::uint32_t a[8] = {1, 2, 3, 4, 5, 6, 7, 0xffffffffu};
        std::uint32_t b[8] = {1, 2, 3, 4, 5, 6, 7, 0xffffffffu};
        detail::sha256_compress_portable(a, blocks.data(), count);
        detail::sha256_compress_extensions(b, blocks.data(), count);
        CHECK(std::equal(a, a + 8, b));
    }
}
