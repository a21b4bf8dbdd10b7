// Internal: the state directory of containers (as runc's own; no daemon).
//
//     <state>/<id>/state.json       the container (format version 1, below)
//     <state>/<id>/stdout, stderr   a detached container's output (`ocibake logs`)
//     <state>/names/<name>          the id holding a name (made with O_EXCL: names are unique)
//
// state.json is rewritten atomically by the container's owner: the `ocibake run` process
// (attached) or its monitor (detached). docs/runtime.md describes it.
#pragma once

#include "ocibake/run.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ocibake::detail {

struct ContainerState {
    std::string id;
    std::string name;
    std::string image;
    std::vector<std::string> command;
    std::string created;
    std::string status = "creating"; ///< creating, running, exited
    std::optional<int> exit_code;
    int owner_pid = 0; ///< the process that cleans up when the container ends
    std::uint64_t owner_start = 0;
    int pid = 0;         ///< the container's init, once it runs
    std::string runtime; ///< the OCI runtime's path
    std::string bundle;
    std::string cache; ///< the store holding its lease
    std::string stop_signal;
    bool detached = false;
    bool remove = true;
    std::vector<std::string> ports; ///< published, as `docker ps` shows them
};

/// The OCI runtime's name for a container ("ocibake-<id>").
std::string runtime_id(const std::string& id);
std::filesystem::path entry_dir(const std::filesystem::path& state_dir, const std::string& id);
void write_state(const std::filesystem::path& state_dir, const ContainerState& state);
std::optional<ContainerState> read_state(const std::filesystem::path& state_dir,
                                         const std::string& id);
/// Takes `name` for `id` (Error(usage) when another container holds it).
void claim_name(const std::filesystem::path& state_dir, const std::string& name,
                const std::string& id);
/// Removes the entry and its name.
void remove_entry(const std::filesystem::path& state_dir, const ContainerState& state);
/// What a container leaves when it ends: the runtime's container, the overlay, the
/// bundle, the lease. Each step runs even when an earlier one failed; missing is fine.
void tear_down(const ContainerState& state);
/// "2026-12-02T11:00:00Z"
std::string utc_now();

} // namespace ocibake::detail
