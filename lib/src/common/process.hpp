// Internal: the one way the library runs a short program to its end (gpgv, a docker
// credential helper, ldconfig -p): an argv, never a shell; stdin from a string or
// /dev/null; stdout and stderr captured. And spawn(), for the programs that run alongside
// us (the OCI runtime, slirp4netns): process groups, pidfds, live output, extra fds. Not
// installed.
#pragma once

#include "common/fs.hpp"

#include <sys/types.h>
#include <utility>

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

/// How spawn() starts a program.
struct SpawnOptions {
    bool capture = false;       ///< stdout and stderr to pipes (else inherited or the fds below)
    bool inherit_stdin = false; ///< else /dev/null
    int out_fd = -1;            ///< stdout and stderr to these (when not captured)
    int err_fd = -1;
    bool own_group = false; ///< a process group of its own: terminal signals are ours to forward
    /// More fds for the child, as {child's fd (3 or more), our fd}; when any is given, every
    /// other fd above them is closed in the child.
    std::vector<std::pair<int, int>> fds;
};

/// A started program: its pid (ours to reap), a pidfd for poll(2) (invalid on kernels
/// without pidfd_open), and its output pipes when captured.
struct Spawned {
    pid_t pid = -1;
    UniqueFd out;
    UniqueFd err;
    UniqueFd pidfd;
};

/// posix_spawn of argv (argv[0] a path; no PATH search, no shell), with an empty signal
/// mask (a SignalWatch blocks some in this process; the child must get them).
/// Error(io) "cannot start ARGV0: <reason>" when it cannot be started (not found, not
/// executable, no memory).
Spawned spawn(const std::vector<std::string>& argv, const SpawnOptions& options);

} // namespace ocibake::detail
