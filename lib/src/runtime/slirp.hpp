// Internal: slirp4netns, giving a container's network namespace a way out (outbound TCP
// and UDP through the host's sockets, DNS at 10.0.2.3), as Docker's default bridge does
// and as rootless podman does. docs/runtime.md says why slirp4netns.
#pragma once

#include "common/fs.hpp"

#include <filesystem>
#include <string>
#include <sys/types.h>

namespace ocibake::detail {

/// The address of slirp4netns's DNS forwarder inside the namespace.
inline constexpr const char* kSlirpDns = "10.0.2.3";

/// One slirp4netns process attached to a network namespace. It ends when the write end of
/// its exit pipe is closed everywhere: when this object is destroyed, or when this
/// process dies (even by SIGKILL), or, after a fork, when the last holder does.
class Slirp {
public:
    /// Starts `program` (empty: slirp4netns on PATH) for the namespace at `netns_path`
    /// (`/proc/PID/fd/N`); wait_ready() waits until it configured tap0 (10.0.2.100/24, a
    /// default route, MTU 65520), so that the rest of a run's preparation overlaps its
    /// start. Never throws for slirp4netns itself: a missing or failing program leaves
    /// running() false and problem() saying why, in one line.
    static Slirp start(const std::string& netns_path, const std::filesystem::path& program);
    /// Waits (the first time; at most 10 s) for tap0 to be configured; false, with
    /// problem() saying why, when it was not.
    bool wait_ready();

    Slirp() = default;
    Slirp(Slirp&& other) noexcept;
    Slirp& operator=(Slirp&& other) noexcept;
    ~Slirp();

    bool running() const noexcept { return pid_ > 0; }
    const std::string& problem() const noexcept { return problem_; }
    /// The write end of its exit pipe (a monitor process that carries it on keeps it).
    int exit_fd() const noexcept { return exit_.get(); }
    /// Another process holds the exit pipe now: the destructor closes this process's end
    /// without waiting for slirp4netns to end.
    void hand_over() noexcept { handed_over_ = true; }

private:
    pid_t pid_ = -1;
    UniqueFd exit_;
    UniqueFd ready_; ///< read end of the ready pipe, until wait_ready()
    UniqueFd log_;   ///< a memfd with its output
    std::string exe_;
    std::string problem_;
    bool handed_over_ = false;
};

} // namespace ocibake::detail
