// Catch2 helpers shared by the test suites (header-only: they use Catch's macros).
#pragma once

#include "ocibake/digest.hpp"
#include "ocibake/error.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <exception>
#include <filesystem>
#include <string>
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

} // namespace ocibake::test
