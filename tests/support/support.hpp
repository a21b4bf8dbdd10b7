// Test helpers shared by unit and integration tests.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace ocibake::test {

/// A fresh directory under the system temp dir, removed when the object dies
/// (kept when OCIBAKE_KEEP_TEST_DIRS is set, for debugging).
class ScratchDir {
public:
    explicit ScratchDir(std::string_view name = "t");
    ~ScratchDir();
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    const std::filesystem::path& path() const noexcept { return path_; }
    std::filesystem::path operator/(std::string_view rel) const { return path_ / rel; }

private:
    std::filesystem::path path_;
};

/// Writes a file (creating parent directories); returns its path.
std::filesystem::path write_file(const std::filesystem::path& path, std::string_view content,
                                 unsigned mode = 0644);
std::string read_file(const std::filesystem::path& path);

struct CommandResult {
    int exit_code = -1;
    std::string out; ///< stdout
    std::string err; ///< stderr
};

/// Runs argv (no shell) with extra environment entries ("KEY=VALUE"; "KEY=" unsets) in
/// `cwd` (empty = current), capturing stdout and stderr.
CommandResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
                  const std::filesystem::path& cwd = {}, const std::string& stdin_data = {});
/// Runs `sh -c script`.
CommandResult sh(const std::string& script, const std::vector<std::string>& env = {});

/// A helper program (a fixture server) that says it is ready with a line starting with
/// "ready" on stdout and keeps that pipe open while it runs; killed on destruction.
class ReadyProcess {
public:
    /// Starts `argv` (found on PATH) with stderr to `err_file` (empty: inherited) and
    /// waits for the first line of its stdout. Throws "WHAT did not start" without one.
    ReadyProcess(std::vector<std::string> argv, const std::string& what,
                 const std::string& err_file = {});
    ~ReadyProcess();
    ReadyProcess(const ReadyProcess&) = delete;
    ReadyProcess& operator=(const ReadyProcess&) = delete;
    /// The line it printed when ready.
    const std::string& ready_line() const noexcept { return line_; }

private:
    void stop();
    pid_t pid_ = -1;
    int out_fd_ = -1;
    std::string line_;
};

/// Path of the ocibake CLI under test.
std::filesystem::path cli();
/// Runs the CLI with `args`, then `--cache-dir CACHE`, in the environment `env`.
CommandResult run_cli(std::vector<std::string> args, const std::filesystem::path& cache,
                      const std::vector<std::string>& env = {});
/// The source tree.
std::filesystem::path source_dir();
/// True when `program` is on PATH.
bool have_program(std::string_view program);

/// Golden master: compares `actual` with tests/golden/<name>. With OCIBAKE_ACCEPT_GOLDEN=1
/// in the environment the file is (re)written instead; review the diff before committing.
/// Returns true when they match (or were accepted).
bool matches_golden(std::string_view name, std::string_view actual);

/// Every regular file below root: relative path -> contents.
std::map<std::string, std::string> snapshot(const std::filesystem::path& root);

/// Deterministic "random" bytes (xorshift64*), so a failure can be reproduced.
std::string pseudo_random(std::size_t size, std::uint64_t seed);

/// Lists a directory tree: relative path -> "type mode uid:gid [size|target]".
std::map<std::string, std::string> describe_tree(const std::filesystem::path& root);

} // namespace ocibake::test
