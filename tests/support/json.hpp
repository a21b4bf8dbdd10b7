// JSON helpers for tests that read the CLI's --json output (nlohmann::json).
#pragma once

#include "support/checks.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace ocibake::test {

/// What a command printed on stdout, parsed as JSON. Requires its exit code to be
/// `exit_code` (0 unless told), showing its stdout and stderr otherwise.
inline nlohmann::json json_of(const CommandResult& r, int exit_code = 0) {
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    REQUIRE(r.exit_code == exit_code);
    return nlohmann::json::parse(r.out);
}

/// Runs argv (no shell), requires exit code 0 and stdout that is JSON, and returns it.
inline nlohmann::json must_json(const std::vector<std::string>& argv) {
    CommandResult r = must(argv);
    INFO("output: " << r.out);
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    return j;
}

} // namespace ocibake::test
