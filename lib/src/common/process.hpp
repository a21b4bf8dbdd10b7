// Internal: the one way the library runs a short program to its end (gpgv, a docker
// credential helper, ldconfig -p): an argv, never a shell; stdin from a string or
// /dev/null; stdout and stderr captured. The OCI runtime, which needs process groups,
// pidfds and live output, has its own spawner (runtime/oci_runtime.cpp). Not installed.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake::detail {

/// What a program run printed, and how it ended.
struct ProgramResult {
    int exit_code = -1; ///< 128 + signal when killed
    std::string out;
    std::string err;
};

/// Runs `argv` (argv[0] looked up in PATH, as execvp does; no shell) with `input` on its
/// stdin (/dev/null when empty), captures stdout and stderr, and waits for it to end. A
/// program that exits before reading all of `input` is no error (nor a SIGPIPE: the
/// signal is blocked in this thread while writing, and the process's handlers are left
/// alone). nullopt, with `why` (strerror's text), when it cannot be started: not found,
/// not executable.
std::optional<ProgramResult> try_run_program(const std::vector<std::string>& argv,
                                             std::string_view input, std::string& why);

/// try_run_program(); Error(input) "cannot run ARGV0: why" when it cannot be started.
ProgramResult run_program(const std::vector<std::string>& argv, std::string_view input = {});

} // namespace ocibake::detail
