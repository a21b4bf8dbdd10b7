// Catch2 helpers shared by the test suites (header-only: they use Catch's macros).
#pragma once

#include "ocibake/digest.hpp"
#include "ocibake/error.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

// Digests print as sha256:<hex> in failure messages.
namespace Catch {
template <>
struct StringMaker<ocibake::Digest> {
    static std::string convert(const ocibake::Digest& d) {
        return d.valid() ? d.str() : std::string("(empty digest)");
    }
};
} // namespace Catch

namespace ocibake::test {

/// Fails (never skips) when a program is missing: CI must install it.
inline void require_program(const std::string& program, const std::string& package) {
    if (!have_program(program)) {
        FAIL(program << " is not installed: install the Debian package '" << package
                     << "' (CI must install it; these tests do not skip)");
    }
}

/// What a skipped test prints at the start of a line; ctest reports a test whose output
/// holds it as skipped (SKIP_REGULAR_EXPRESSION in tests/CMakeLists.txt).
inline constexpr std::string_view kSkipMarker = "OCIBAKE_TEST_SKIPPED";

/// Tests that may skip even under OCIBAKE_REQUIRE_ALL_TESTS=1, each with why CI cannot
/// run it. Keep it short: every other test must run on CI.
inline constexpr std::array<std::string_view, 1> kMaySkip = {
    // Opt-in: it reaches deb.debian.org, which CI does not promise.
    "live: CUDA 11.8 runtime libraries from Debian's archive (OCIBAKE_LIVE=1)",
};

/// True when the running test may skip: always, unless OCIBAKE_REQUIRE_ALL_TESTS=1 is set
/// (scripts/test.sh sets it, so CI) and the test is not in kMaySkip.
inline bool may_skip(std::string_view test_name) {
    const char* require = std::getenv("OCIBAKE_REQUIRE_ALL_TESTS");
    if (require == nullptr || std::string_view(require) != "1") {
        return true;
    }
    return std::find(kMaySkip.begin(), kMaySkip.end(), test_name) != kMaySkip.end();
}

/// Skips the running test for `reason`; the caller returns right after:
///
///     if (!have_it) {
///         return skip("this machine has no such thing");
///     }
///
/// Catch2 v2 has no SKIP and counts a test that returns early as passed, so this prints
/// "OCIBAKE_TEST_SKIPPED: <reason>" on stdout (ctest then reports the test as skipped;
/// the reason is in its output) and a Catch2 warning. Where the test must run (see
/// may_skip) it fails instead: the suite never skips silently.
inline void skip(const std::string& reason) {
    if (!may_skip(Catch::getResultCapture().getCurrentTestName())) {
        FAIL(
            "this test must run here (OCIBAKE_REQUIRE_ALL_TESTS=1), but it would skip: " << reason);
    }
    std::cout << kSkipMarker << ": " << reason << std::endl;
    WARN("skipped: " << reason);
}

struct Caught {
    ErrorKind kind = ErrorKind::internal;
    std::string what;
};

/// Runs `f`, which must throw an ocibake::Error; returns its kind and message. Any other
/// exception (a JSON library's, say) fails the test with its text.
template <typename F>
Caught error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return {e.kind(), e.what()};
    } catch (const std::exception& e) {
        FAIL("expected an ocibake::Error, got another exception: " << e.what());
    }
    FAIL("expected an ocibake::Error");
    return {};
}

/// Runs argv and requires exit code 0, showing the command and its output otherwise.
inline CommandResult must(const std::vector<std::string>& argv,
                          const std::vector<std::string>& env = {},
                          const std::filesystem::path& cwd = {}) {
    CommandResult r = run(argv, env, cwd);
    std::string line;
    for (const auto& a : argv) {
        line += (line.empty() ? "" : " ") + a;
    }
    INFO("command: " << line << "\nexit code: " << r.exit_code << "\nstdout:\n"
                     << r.out << "\nstderr:\n"
                     << r.err);
    REQUIRE(r.exit_code == 0);
    return r;
}

/// A file's inode number: a file written again (a temporary file renamed over it) has
/// another.
inline ino_t inode_of(const std::filesystem::path& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_ino;
}

/// The sha256 of a file, in hex.
inline std::string hex_of(const std::filesystem::path& file) {
    return sha256_of_file(file).hex();
}

/// True when `text` holds `part`; otherwise says which part is missing from what (shown
/// with the failing CHECK).
inline bool contains(const std::string& text, const std::string& part) {
    if (text.find(part) != std::string::npos) {
        return true;
    }
    UNSCOPED_INFO("missing: " << part << "\nin: " << text);
    return false;
}

/// Flips one byte of a file in place (same size, different bytes). Blobs may be read-only
/// for others; the test owns them, so it may write them.
inline void flip_byte(const std::filesystem::path& path, std::uintmax_t offset) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    REQUIRE(f);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(static_cast<char>(c ^ 0x20));
    REQUIRE(f);
}

/// What running a busybox image needs: runc, Debian's busybox-static and root (runc's).
/// `dpkg --root ROOT --verify` finds every installed file as its package lists it: it
/// exits 0 and says nothing.
inline void check_dpkg_verify(const std::filesystem::path& root) {
    INFO("dpkg --verify of " << root.string());
    CommandResult verify = run({"dpkg", "--root", root.string(), "--verify"});
    CHECK(verify.exit_code == 0);
    CHECK(verify.out == "");
}

inline void require_busybox_runtime() {
    require_program("runc", "runc");
    REQUIRE(std::filesystem::exists("/bin/busybox"));
    REQUIRE(::geteuid() == 0);
}

/// Builds a busybox image (layers/busybox.toml + `extra`) into dir/img with the CLI and
/// dir/cache; returns dir/img. Requires what require_busybox_runtime() does.
inline std::filesystem::path busybox_image(const ScratchDir& dir, const std::string& extra) {
    require_busybox_runtime();
    std::filesystem::path recipe = write_file(
        dir / "r.toml", "include = [\"" + (source_dir() / "layers/busybox.toml").string() +
                            "\"]\nname = \"t\"\n" + extra);
    must({cli().string(), "build", recipe.string(), "-q", "-o", "oci:" + (dir / "img").string(),
          "--cache-dir", (dir / "cache").string()});
    return dir / "img";
}

} // namespace ocibake::test
