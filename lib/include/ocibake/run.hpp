// ocibake: running an image the way `ocibake run` and `ocibake test` do. The image's
// layers are unpacked once into the cache (the unpacked-layer store, keyed by diffID),
// and each container's root is a kernel overlayfs of them with an upper directory of its
// own; a small state directory (as runc's own, no daemon) lists the containers.
//
//     ocibake::Interrupt interrupt;
//     ocibake::SignalWatch signals(interrupt);        // SIGINT, SIGTERM, SIGHUP
//     ocibake::PreparedImage image = ocibake::prepare_image({.reference = "oci:out/hello"},
//                                                           &interrupt);
//     ocibake::RunRequest request;                    // attached, removed at the end
//     ocibake::RunOutcome r = ocibake::run_image(image, runtime, request, &interrupt);
//
// docs/runtime.md describes the store, the overlay, the fallback and the lifecycle.
#pragma once

#include "ocibake/gpu.hpp"
#include "ocibake/image.hpp"
#include "ocibake/registry.hpp"
#include "ocibake/runtime.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace ocibake {

// ---- stopping -------------------------------------------------------------------------

/// A request to stop, raised by a signal (SignalWatch) or by a caller. Long steps check
/// it (unpacking: between tar entries) and stop with Error(interrupted); a running
/// container gets each signal forwarded. Thread-safe.
class Interrupt {
public:
    Interrupt();
    ~Interrupt();
    Interrupt(const Interrupt&) = delete;
    Interrupt& operator=(const Interrupt&) = delete;

    /// Records `signal` (the first one stays in signal()) and calls the forwarder, if set.
    void raise(int signal);
    /// The first signal raised; 0 while none was.
    int signal() const noexcept { return signal_.load(); }
    /// How many were raised.
    int count() const noexcept { return count_.load(); }
    /// Error(interrupted) "interrupted by SIGINT" once one was raised.
    void check() const;
    /// A descriptor that becomes readable when a signal is raised (for poll(2)).
    int fd() const noexcept { return fd_; }
    /// Empties fd() again.
    void drain() const noexcept;
    /// Sets (or, with an empty function, clears) what each later signal is forwarded to.
    void forward_to(std::function<void(int)> forward) const;

private:
    std::atomic<int> signal_{0};
    std::atomic<int> count_{0};
    int fd_ = -1;
    mutable std::mutex mutex_;
    mutable std::function<void(int)> forward_;
};

/// Watches SIGINT, SIGTERM and SIGHUP on a thread of its own and raises them on
/// `interrupt`. Construct it before any other thread starts: it blocks these signals in
/// the calling thread, and threads started later inherit that. Processes this library
/// starts get an empty signal mask. The destructor restores the old mask.
class SignalWatch {
public:
    explicit SignalWatch(Interrupt& interrupt);
    ~SignalWatch();
    SignalWatch(const SignalWatch&) = delete;
    SignalWatch& operator=(const SignalWatch&) = delete;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// ---- an image made ready to run --------------------------------------------------------

/// Progress of unpacking, for a progress bar (called from worker threads, serialised).
struct UnpackProgress {
    std::size_t layers_done = 0;
    std::size_t layers_total = 0; ///< layers that had to be unpacked
    std::uint64_t bytes = 0;      ///< file bytes written so far
};

struct PrepareOptions {
    std::string reference;           ///< oci:DIR[:TAG], docker-archive:FILE, a path, docker://REF
    std::filesystem::path cache_dir; ///< empty = Store::default_root()
    oci::Platform platform;
    registry::Options registry;
    /// Unpack the whole image into this bundle directory instead (it must not exist or
    /// be empty) and keep it: today's `--keep-bundle`.
    std::filesystem::path keep_bundle;
    /// Threads for unpacking layers (0 = every core).
    unsigned threads = 0;
    std::function<void(const UnpackProgress&)> on_progress;
};

/// How a container's root file system is made.
enum class RootMode {
    overlay, ///< overlayfs of the store's unpacked layers + an upper directory of its own
    copy,    ///< the whole image unpacked into the container's bundle (the fallback)
};

/// An image loaded into the store with its layers unpacked in the unpacked-layer store
/// (or, when overlayfs cannot give the image's exact tree, noted for a full unpack).
class PreparedImage {
public:
    PreparedImage(PreparedImage&&) noexcept;
    PreparedImage& operator=(PreparedImage&&) noexcept;
    ~PreparedImage();

    const std::string& reference() const noexcept;
    /// Manifest digest (config digest for docker archives).
    const std::string& digest() const noexcept;
    const oci::ImageConfig& config() const noexcept;
    RootMode mode() const noexcept;
    /// Why containers get a full unpack instead of an overlay ("" with RootMode::overlay).
    const std::string& fallback_reason() const noexcept;
    /// Layers that were unpacked now (not found in the store).
    std::size_t layers_unpacked() const noexcept;
    /// A fallback taken on the way that the caller should say ("" when none): why the
    /// layers stay stacked although their flat lower was due (a tree of hard links to
    /// them, made on the second run of an image; docs/runtime.md).
    const std::string& note() const noexcept;

    struct Impl; ///< opaque
    explicit PreparedImage(std::unique_ptr<Impl> impl);
    Impl& impl() const noexcept { return *impl_; }

private:
    std::unique_ptr<Impl> impl_;
};

/// Loads `options.reference` into the store and unpacks each layer not already in the
/// unpacked-layer store, layers in parallel, each verified against its diffID as it
/// streams. `interrupt` stops it cleanly (no partial layer is ever published).
PreparedImage prepare_image(const PrepareOptions& options, const Interrupt* interrupt = nullptr);

// ---- running it ------------------------------------------------------------------------

enum class RunMode {
    attached, ///< this process's stdin/stdout/stderr; returns its exit code (`ocibake run`)
    captured, ///< output captured, stdin /dev/null, a time limit (command tests)
    detached, ///< started in the background, output to its log (`ocibake run -d`)
    service,  ///< started in the background, output captured; RunRequest::with_container
              ///< runs while it does, then it is killed (service tests)
};

/// Work of the caller's that a detached container's monitor (a forked process) carries
/// on: `fds` stay open in it (every other descriptor above stderr is closed there), then
/// `start` runs there, once, before the container starts.
struct MonitorTask {
    std::function<std::vector<int>()> fds;
    std::function<void()> start;
};

struct RunRequest {
    ContainerOverrides overrides;
    RunMode mode = RunMode::attached;
    /// Attached mode: the container's stdin is this process's (`docker run -i`); false:
    /// /dev/null, as Docker without -i. A terminal is asked for by overrides.terminal.
    bool stdin_open = true;
    RunLimits limits;   ///< captured mode
    std::string name;   ///< unique among the containers of the state directory; "" = its id
    bool remove = true; ///< detached: remove the container when it exits (`--rm`)
    std::filesystem::path state_dir; ///< empty = default_state_dir()
    /// Adjusts the container's spec once its root exists (GPU edits, ...).
    std::function<void(const Bundle&, ContainerSpec&)> adjust;
    /// Told, in one line, when this container's root could not be an overlay and the
    /// image is unpacked whole instead.
    std::function<void(const std::string&)> on_note;
    /// Run on this existing root directory instead of making one (captured mode: the
    /// harness's single full unpack, shared by its containers, when overlayfs cannot be
    /// used).
    std::filesystem::path shared_root;
    /// Service mode: what to do with the running container (it is killed and removed
    /// when this returns).
    std::function<void(Container&)> with_container;
    /// The published ports to record for `ps` ("0.0.0.0:8080->80/tcp"), asked once the
    /// spec is adjusted (adjust may publish more).
    std::function<std::vector<std::string>()> ports;
    /// Detached mode: what the caller's process did for the container and the container's
    /// monitor process carries on (the published ports' forwarder).
    MonitorTask monitor;
    /// Seconds from the first forwarded SIGINT/SIGTERM/SIGHUP to SIGKILL (a second signal
    /// kills at once), as `docker stop -t`.
    std::chrono::seconds stop_timeout{10};
};

struct RunOutcome {
    std::string id;
    ProcessResult result; ///< exit code (all modes), output (captured)
};

/// Runs one container of `image`: a bundle with its own root (overlay of the store's
/// layers, or a full unpack), config.json, the runtime, and, when it ends, on every path
/// (exit, error, signal), the container deleted, the overlay unmounted and the bundle
/// removed. A detached one is watched by a small process of its own (as conmon does),
/// which cleans up when it exits. Error(interrupted) when `interrupt` stopped it before
/// the container started.
RunOutcome run_image(const PreparedImage& image, const OciRuntime& runtime,
                     const RunRequest& request, const Interrupt* interrupt = nullptr);

/// A container's root prepared by hand (the test harness's file tests read one):
/// mounted at construction, unmounted and removed when destroyed.
class ContainerRoot {
public:
    /// Makes `dir` (which must not exist, or be empty) and the root below it, `dir`/rootfs.
    /// With `keep`, a full unpack stays when this object dies (`--keep-bundle`).
    ContainerRoot(const PreparedImage& image, const std::filesystem::path& dir,
                  const Interrupt* interrupt = nullptr, bool keep = false);
    /// True when the root is an overlay of the store's layers; false when it is the image
    /// unpacked whole.
    bool overlay() const noexcept { return mounted_; }
    ~ContainerRoot();
    ContainerRoot(const ContainerRoot&) = delete;
    ContainerRoot& operator=(const ContainerRoot&) = delete;
    const std::filesystem::path& rootfs() const noexcept { return rootfs_; }

private:
    std::filesystem::path dir_;
    std::filesystem::path rootfs_;
    std::filesystem::path lease_;
    bool mounted_ = false;
    bool keep_ = false;
};

// ---- containers of the state directory -------------------------------------------------

/// $OCIBAKE_STATE_DIR, else /run/ocibake.
std::filesystem::path default_state_dir();

struct ContainerInfo {
    std::string id;
    std::string name;
    std::string image;
    std::vector<std::string> command;
    std::string created; ///< RFC 3339, UTC
    std::string status;  ///< "running", "exited", "dead" (its owner is gone: `ocibake rm`)
    std::optional<int> exit_code;
    bool detached = false;
    std::filesystem::path bundle;
    std::vector<std::string> ports; ///< published: "0.0.0.0:8080->80/tcp", as `docker ps`
};

/// Every container of the state directory, oldest first.
std::vector<ContainerInfo> list_containers(const std::filesystem::path& state_dir);
/// The container named `name_or_id` (a name, an id or a unique id prefix); Error(usage)
/// naming it otherwise.
ContainerInfo find_container(const std::filesystem::path& state_dir, const std::string& name_or_id);
/// `docker stop`: the image's stop signal (else SIGTERM), then SIGKILL after `timeout`;
/// returns once it is gone and cleaned up (bounded: timeout + 10 s).
void stop_container(const std::filesystem::path& state_dir, const std::string& name_or_id,
                    std::chrono::seconds timeout);
/// Runs `args` in a running container (`runc exec`) with this process's stdio; its exit code.
int exec_in_container(const std::filesystem::path& state_dir, const std::string& name_or_id,
                      const std::vector<std::string>& args, bool terminal);
/// A detached container's log files: {stdout, stderr}.
std::pair<std::filesystem::path, std::filesystem::path>
container_logs(const std::filesystem::path& state_dir, const std::string& name_or_id);
/// Removes an exited (or dead) container; `force` stops a running one first.
void remove_container(const std::filesystem::path& state_dir, const std::string& name_or_id,
                      bool force);

} // namespace ocibake
