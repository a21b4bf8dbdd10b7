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
/// For a child after fork(): sets the environment entries `env` ("KEY=VALUE"; "KEY="
/// unsets), then executes argv (argv[0] looked up on PATH unless it is a path). Never
/// returns: exit code 127 when argv cannot be executed.
[[noreturn]] void exec_in_child(const std::vector<std::string>& argv,
                                const std::vector<std::string>& env = {});
/// Runs argv with the environment entries `env` on a pseudo-terminal (script(1)), as a
/// user at a terminal would: its stdout and stderr both arrive in `out`.
CommandResult run_on_terminal(const std::vector<std::string>& argv,
                              const std::vector<std::string>& env = {});
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

/// A TCP port on loopback that nothing listens on now (the kernel's pick, released again).
int free_port();

/// Waits (at most 60 s) for `path` to appear, as a container writes a file when it is
/// ready; false when it did not.
bool wait_for_file(const std::filesystem::path& path);

/// Path of the ocibake CLI under test.
std::filesystem::path cli();
/// The CLI's argv: the CLI, `args`, then `--cache-dir CACHE` (none when `cache` is empty).
std::vector<std::string> cli_argv(std::vector<std::string> args,
                                  const std::filesystem::path& cache);
/// Runs the CLI with `args`, then `--cache-dir CACHE` (none when `cache` is empty), with the
/// extra environment entries `env` in `cwd` (empty: the test's).
CommandResult run_cli(std::vector<std::string> args, const std::filesystem::path& cache,
                      const std::vector<std::string>& env = {},
                      const std::filesystem::path& cwd = {});
/// Runs `ocibake run --cache-dir CACHE ARGS...`: options come before the image, as
/// `docker run` reads them, and what follows the image is the command.
CommandResult run_container(const std::filesystem::path& cache,
                            const std::vector<std::string>& args,
                            const std::vector<std::string>& env = {});
/// Environment entries that keep the host's registry credentials out of a CLI run:
/// HOME=home (no ~/.docker/config.json), and REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR and
/// DOCKER_CONFIG unset.
std::vector<std::string> without_credentials(const std::filesystem::path& home);
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
