// The CLI's container commands: `run`'s last step, `ps`, `stop`, `exec`, `logs`, `rm`.
// Each is a thin function over one library call (ocibake/run.hpp).
#pragma once

#include "ocibake/ocibake.hpp"
#include "ocibake/run.hpp"

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ocibake::cli {

/// What `ocibake run` asks for besides the container's settings.
struct RunTarget {
    std::string image;
    std::string cache_dir;
    std::string keep_bundle;
    std::string gpus; ///< --gpus text ("none", "all", "0,1")
    ocibake::RuntimeSearch runtime;
    ocibake::registry::Options registry;
    bool detach = false;
    std::string name;
    bool remove = false;
    /// Run on the container's spec before the GPU edits (warnings about it, ...).
    std::function<void(const ocibake::Bundle&, ocibake::ContainerSpec&)> adjust;
};

/// Runs `overrides` in `target.image` (run_image()), with SIGINT, SIGTERM and SIGHUP
/// forwarded to the container; the container's exit code (attached), 0 after printing
/// its id (detached), or 128 + N when signal N stopped it before it ran.
int run_container(const ocibake::ContainerOverrides& overrides, const RunTarget& target);

/// Prints unpacking progress on stderr when it is a terminal (one line, redrawn).
std::function<void(const ocibake::UnpackProgress&)> unpack_progress();

/// `ps`, `stop`, `exec`, `logs`, `rm`: their flags, registered on `app`.
struct ContainerCommands {
    CLI::App* ps = nullptr;
    CLI::App* stop = nullptr;
    CLI::App* exec = nullptr;
    CLI::App* logs = nullptr;
    CLI::App* rm = nullptr;
    bool all = false;
    bool json = false;
    bool force = false;
    bool tty = false;
    int timeout = 10;
    std::vector<std::string> names;
    std::string target; ///< exec, logs: the one container
    std::vector<std::string> command;
};

void add_container_commands(CLI::App& app, ContainerCommands& c);
/// Runs the one that was parsed; nullopt when none was.
std::optional<int> run_container_command(const ContainerCommands& c);

} // namespace ocibake::cli
