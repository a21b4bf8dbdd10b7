// `ocibake run`: its flags, parsed as `docker run` parses them, and the run itself.
#pragma once

#include "cli.hpp"
#include "ocibake/ocibake.hpp"

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

namespace ocibake::cli {

/// Everything `ocibake run` is told.
struct RunFlags {
    std::string image;                ///< the first word that is not an option
    std::vector<std::string> command; ///< every word after the image
    std::vector<std::string> volumes, env, publish, ulimits;
    std::string network = "private", ipc = "private";
    std::string user, workdir, hostname, shm_size;
    std::optional<std::string> entrypoint;
    bool read_only = false;
    bool publish_all = false; ///< -P: the image's exposed ports, each on a free host port
    std::string gpus = "none";
    std::string runtime, keep_bundle;
    bool interactive = false; ///< -i: stdin stays open and attached (else /dev/null)
    bool tty = false;         ///< -t: a pseudo-terminal for the container
    bool detach = false;      ///< -d: in the background, its id printed
    bool remove = false;      ///< --rm (with -d: removed when it exits; attached runs always are)
    std::string name;         ///< --name
};

/// Adds `run`'s options (not IMAGE and COMMAND: split_run_args finds them) to `run`.
void add_run_options(CLI::App* run, RunFlags& flags);

/// Splits the words after `run` as `docker run` does: options until the first word that
/// is not one (or `--`), that word is the image, every word after it the command; a `--`
/// right after the image is dropped. ocibake's older `IMAGE OPTIONS -- COMMAND` is still
/// read so when every word between the image and `--` is a `run` option or its value.
/// Sets flags.image and flags.command; returns the options, for CLI11.
std::vector<std::string> split_run_args(const CLI::App& run, const std::vector<std::string>& args,
                                        RunFlags& flags);

/// Runs flags.image; returns the command's exit code.
int run_command_in_image(const RunFlags& flags, const std::string& cache_dir,
                         const registry::Options& registry);

/// Adds `run` to `app`: its options into `flags`, IMAGE and COMMAND as split_run_args
/// found them.
Command add_run(CLI::App& app, Shared& shared, RunFlags& flags);

/// `--runtime PATH` as a search (empty: crun, else runc).
RuntimeSearch runtime_search(const std::string& runtime);

} // namespace ocibake::cli
