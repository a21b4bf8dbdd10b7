// Internal: SHA-256's compression function (FIPS 180-4, 6.2.2), with Intel's SHA
// extensions where the CPU has them (every x86-64 server CPU since 2017: AMD Zen, Intel
// Ice Lake) and portable C++ elsewhere. Ours, not OpenSSL's: OpenSSL runs the same
// instructions, but mapping and relocating libcrypto costs every start of the program
// ~3 ms, and its EVP layer ~2 ms more at first use, a fifth of a warm `ocibake run`'s own
// time (docs/benchmarks.md). Tested against the standard's vectors and OpenSSL
// (tests/unit/test_digest.cpp). Not installed.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ocibake::detail {

/// Runs `blocks` 64-byte blocks from `data` through `state` (a, b, ..., h).
void sha256_compress(std::uint32_t state[8], const unsigned char* data, std::size_t blocks);

/// The two implementations sha256_compress() chooses between, for tests and benchmarks.
void sha256_compress_portable(std::uint32_t state[8], const unsigned char* data,
                              std::size_t blocks);
/// Only where sha256_extensions() is true.
void sha256_compress_extensions(std::uint32_t state[8], const unsigned char* data,
                                std::size_t blocks);
/// True when the CPU has the SHA extensions (and SSE4.1, which the code also uses).
bool sha256_extensions() noexcept;

} // namespace ocibake::detail
