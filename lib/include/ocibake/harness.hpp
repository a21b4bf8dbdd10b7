// ocibake: the test harness. Runs a recipe's [[test]] entries against a built image and
// reports them (a readable summary, JUnit XML, JSON).
//
//     ocibake::Recipe recipe = ocibake::load_recipe("recipes/hello.toml");
//     ocibake::TestOptions options;
//     ocibake::TestReport report = ocibake::run_tests(recipe.tests, "oci:out/hello", options);
//     std::cout << ocibake::summary_text(report);
//     return report.failed() == 0 ? 0 : 7;
#pragma once

#include "ocibake/gpu.hpp"
#include "ocibake/recipe.hpp"
#include "ocibake/registry.hpp"
#include "ocibake/run.hpp"
#include "ocibake/runtime.hpp"

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake {

enum class TestStatus { passed, failed, skipped };
/// "pass", "fail", "skip"
const char* to_string(TestStatus status) noexcept;

struct TestResult {
    std::string name;
    TestType type = TestType::command;
    TestStatus status = TestStatus::passed;
    double seconds = 0;
    /// Why it failed (every expectation that did not hold, in order) or was skipped.
    std::vector<std::string> reasons;
    std::optional<int> exit_code; ///< command and service tests
    std::string out;              ///< the container's stdout (command, service)
    std::string err;              ///< its stderr
};

struct TestReport {
    std::string image;   ///< the reference as given
    std::string digest;  ///< manifest digest (config digest for docker archives)
    std::string runtime; ///< "runc version 1.1.5", or "" when no container ran
    std::string gpus;    ///< what GPU tests got ("none found", "2 GPUs by CDI", ...)
    /// How containers were kept apart: "an overlay per container", or why they shared
    /// the unpacked rootfs.
    std::string isolation;
    std::vector<TestResult> results; ///< in the recipe's order, whatever order they ran in
    double seconds = 0;
    unsigned jobs = 1; ///< how many tests could run at a time (TestOptions::jobs, resolved)

    std::size_t passed() const noexcept;
    std::size_t failed() const noexcept;
    std::size_t skipped() const noexcept;
};

struct TestOptions {
    /// The cache; empty = Store::default_root().
    std::filesystem::path cache_dir;
    /// Unpack into this directory and keep it (empty: a temporary bundle, removed).
    std::filesystem::path keep_bundle;
    RuntimeSearch runtime;
    /// GPUs for `gpu = true` tests (only those get them). Without one, they are skipped.
    GpuRequest gpus;
    /// Where GPUs and the driver are looked for (tests use a fake tree).
    GpuHost gpu_host;
    /// Platform to pick from a multi-platform image.
    oci::Platform platform;
    /// How a registry image ("docker://REF") is reached.
    registry::Options registry;
    /// How many tests run at a time (0 = one per core, as ctest -j and cargo do). Tests
    /// that cannot share a run never run together: service tests on the same host port,
    /// a test and those it names in `after`, and a `serial` test with any other.
    unsigned jobs = 0;
    /// Called once per test, in the recipe's order (a test that finished early is told
    /// once those before it are), from one thread at a time (for progress output).
    std::function<void(const TestResult&)> on_result;
    /// Progress of unpacking layers the store lacks (for a progress bar).
    std::function<void(const UnpackProgress&)> on_progress;
    /// Stops the run between tests and while unpacking (Error(interrupted)).
    const Interrupt* interrupt = nullptr;
};

/// Runs `tests` against the image `reference` ("oci:DIR[:TAG]", "docker-archive:FILE", a
/// path, or a registry image "docker://REF"). The image is unpacked once into a bundle; tests run
/// up to TestOptions::jobs at a time (the report keeps the recipe's order), each in a fresh
/// container with an overlay of its own over the unpacked root file system, so nothing a test
/// writes reaches another (when overlayfs cannot be mounted, containers share the rootfs and the
/// report says so: docs/runtime.md). File and metadata tests read the unpacked image and the image
/// config and need no runtime; command and service tests find one on first use. Throws for problems
/// with the image or the host (no runtime); a test that does not hold is a failed result, never an
/// exception.
TestReport run_tests(const std::vector<TestSpec>& tests, std::string_view reference,
                     const TestOptions& options);

/// One line per test (PASS/FAIL/SKIP, type, time), the reasons under failures and skips,
/// the end of a failed command's output, and a total line.
std::string summary_text(const TestReport& report);
/// The lines summary_text() shows for one result.
std::string result_text(const TestResult& result);
/// Its total line: "5 tests: 3 passed, 1 failed, 1 skipped (0.42s; runc version 1.1.5)".
std::string totals_text(const TestReport& report);
/// JUnit XML (testsuites/testsuite/testcase with failure, skipped, system-out/err), as
/// CI servers read it. Text is escaped and made valid XML 1.0 (control characters and
/// invalid UTF-8 replaced).
std::string junit_xml(const TestReport& report);
/// The report as JSON (docs/cli.md shows its shape).
std::string report_json(const TestReport& report);

} // namespace ocibake
