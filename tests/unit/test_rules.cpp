// The test suite's own rules, checked: a test that cannot run here says so (ctest reports
// it as skipped), and where every test must run (OCIBAKE_REQUIRE_ALL_TESTS=1, as on CI)
// a skip fails. tests/unit/skip_probe.cmake runs the probe below both ways.
#include "support/checks.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <optional>
#include <string>

namespace {

/// Sets (or unsets) an environment variable for a scope.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) {
            old_ = old;
        }
        value ? ::setenv(name, value, 1) : ::unsetenv(name);
    }
    ~ScopedEnv() { old_ ? ::setenv(name_, old_->c_str(), 1) : ::unsetenv(name_); }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    const char* name_;
    std::optional<std::string> old_;
};

} // namespace

TEST_CASE("skip probe: skips on purpose", "[.skip-probe]") {
    return ocibake::test::skip("the skip probe skips on purpose");
}

TEST_CASE("a test may skip unless OCIBAKE_REQUIRE_ALL_TESTS=1 says it must run") {
    using ocibake::test::may_skip;
    const char* live = "live: CUDA 11.8 runtime libraries from Debian's archive (OCIBAKE_LIVE=1)";
    {
        ScopedEnv unset("OCIBAKE_REQUIRE_ALL_TESTS", nullptr);
        CHECK(may_skip("xattrs are copied only when asked"));
        CHECK(may_skip(live));
    }
    {
        ScopedEnv require("OCIBAKE_REQUIRE_ALL_TESTS", "1");
        CHECK_FALSE(may_skip("xattrs are copied only when asked"));
        CHECK_FALSE(may_skip("skip probe: skips on purpose"));
        CHECK(may_skip(live)); // in kMaySkip: it needs deb.debian.org
    }
    {
        ScopedEnv other("OCIBAKE_REQUIRE_ALL_TESTS", "0");
        CHECK(may_skip("xattrs are copied only when asked"));
    }
}
