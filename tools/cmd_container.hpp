// The CLI's container commands: `run`'s last step, `ps`, `stop`, `exec`, `logs`, `rm`.
// Each is a thin function over one library call (ocibake/run.hpp).
#pragma once

#include "cli.hpp"
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
    bool stdin_open = false; ///< -i
    std::string name;
    bool remove = false;
    /// Run on the container's spec before the GPU edits (warnings about it, ...).
    std::function<void(const ocibake::Bundle&, ocibake::ContainerSpec&)> adjust;
    /// The published ports `ps` shows (RunRequest::ports).
    std::function<std::vector<std::string>()> ports;
    /// With -d: the network the monitor carries on (RunRequest::monitor).
    ocibake::MonitorTask monitor;
};

/// Runs `overrides` in `target.image` (run_image()), with SIGINT, SIGTERM and SIGHUP
/// forwarded to the container; the container's exit code (attached), 0 after printing
/// its id (detached), or 128 + N when signal N stopped it before it ran.
int run_container(const ocibake::ContainerOverrides& overrides, const RunTarget& target);

/// Prints unpacking progress on stderr when it is a terminal (one line, redrawn).
std::function<void(const ocibake::UnpackProgress&)> unpack_progress();

/// `ps`, `stop`, `exec`, `logs`, `rm`, added to `app`.
std::vector<Command> add_container_commands(CLI::App& app);

} // namespace ocibake::cli
