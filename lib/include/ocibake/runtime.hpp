// ocibake: running an image. Unpacking it into an OCI runtime bundle, the bundle's
// config.json, and an installed OCI runtime (crun or runc) to run it.
//
//     ocibake::Store store(ocibake::Store::default_root());
//     auto image = ocibake::load_image(store, "oci:out/hello");
//     ocibake::Bundle bundle = ocibake::Bundle::create(store, image, "/var/tmp/b");
//     ocibake::ContainerSpec spec = bundle.spec_for({});          // entrypoint + cmd
//     ocibake::OciRuntime runtime = ocibake::find_runtime({});    // crun, else runc
//     ocibake::ProcessResult r = runtime.run(bundle, spec, {});   // stdout, stderr, exit code
//
// docs/runtime.md describes the choices (how layers are unpacked, what config.json holds,
// how the runtime is picked). Everything here needs root: runc does, and unpacking keeps
// the layers' owners.
#pragma once

#include "ocibake/cas.hpp"
#include "ocibake/image.hpp"
#include "ocibake/oci.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake {

class Interrupt; // run.hpp

// ---- unpacking ----------------------------------------------------------------------

struct UnpackStats {
    std::uint64_t entries = 0;   ///< tar entries applied (whiteouts included)
    std::uint64_t bytes = 0;     ///< file bytes written
    std::uint64_t whiteouts = 0; ///< `.wh.` and opaque markers applied
};

/// Applies one layer (a blob in the store) over the directory `rootfs`, streaming: the
/// blob is decompressed on a second thread and read entry by entry, never held whole.
/// The compressed digest and the diffID are both checked; a mismatch is
/// Error(integrity), after which `rootfs` must be thrown away.
///
/// OCI changeset rules: `.wh.NAME` removes NAME of a lower layer, `.wh..wh..opq` empties
/// its directory of lower layers' entries; modes, owners, times, hard links, symlinks,
/// devices and fifos are kept. Entries that would leave the root are refused
/// (Error(input) naming the layer and the entry): absolute paths, `..`, hard links to
/// such paths, and paths through a symlink that is absolute or climbs out of the root.
/// `label` names the layer in messages ("layer 2 (sha256:…)").
UnpackStats unpack_layer(const Store& store, const LayerResult& layer,
                         const std::filesystem::path& rootfs, std::string_view label,
                         const Interrupt* interrupt = nullptr);

/// Unpacks every layer of `image`, bottom first, into `rootfs` (created if missing).
/// `interrupt` stops it between entries with Error(interrupted).
UnpackStats unpack_image(const Store& store, const SourceImage& image,
                         const std::filesystem::path& rootfs, const Interrupt* interrupt = nullptr);

// ---- what runs ----------------------------------------------------------------------

/// A mount in the container (config.json's `mounts`).
struct Mount {
    std::string destination; ///< absolute path in the container
    std::string type = "bind";
    std::string source; ///< host path for binds
    std::vector<std::string> options;

    /// A bind mount of a host path ("rbind", plus "ro" when read_only).
    static Mount bind(std::string host, std::string container, bool read_only);
    /// Parses `-v HOST:CONTAINER[:ro|:rw]`; HOST is made absolute and must exist.
    /// Error(usage) naming the text otherwise.
    static Mount parse_volume(std::string_view text);
};

/// A device node made in the container (config.json's `linux.devices`), also allowed in
/// the device cgroup.
struct DeviceNode {
    std::string path;      ///< in the container, e.g. "/dev/nvidia0"
    std::string host_path; ///< on the host (where it was found; for messages and CDI)
    char type = 'c';       ///< 'c' or 'b'
    std::uint32_t major = 0;
    std::uint32_t minor = 0;
    std::uint32_t file_mode = 0666;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
};

/// A runtime hook (config.json's `hooks`).
struct Hook {
    std::string when = "createContainer"; ///< prestart, createRuntime, createContainer, ...
    std::string path;                     ///< absolute host path
    std::vector<std::string> args;        ///< argv, args[0] included
    std::vector<std::string> env;
    std::optional<int> timeout; ///< seconds
};

enum class Network {
    none, ///< a network namespace of its own with loopback only
    host, ///< the host's network (what service tests use to reach the container)
};

/// A resource limit of the container's process (config.json's `process.rlimits`).
struct Rlimit {
    static constexpr std::uint64_t unlimited = ~std::uint64_t{0}; ///< RLIM_INFINITY

    std::string type; ///< "RLIMIT_NOFILE", ...
    std::uint64_t soft = 0;
    std::uint64_t hard = 0;

    /// Parses `docker run --ulimit`'s `NAME=SOFT[:HARD]` (HARD defaults to SOFT; -1 is
    /// unlimited); NAME is one of Docker's: core, cpu, data, fsize, locks, memlock,
    /// msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack. Error(usage)
    /// naming the text otherwise, and when SOFT is above HARD.
    static Rlimit parse(std::string_view text);
};

/// Docker's size syntax (`--shm-size 8g`): a number, optionally with a fraction, then
/// an optional unit b, k, m, g, t or p (any case, powers of 1024, an optional `i` and
/// `b` after it: `8GiB`). Error(usage) naming `flag` and the text otherwise.
std::uint64_t parse_size(std::string_view text, std::string_view flag);

/// Checks `--hostname` as Docker does (RFC 1123: labels of letters, digits and `-`, at
/// most 63 characters each, 253 in all). Error(usage) naming the text otherwise: the name
/// goes into /etc/hosts, where a space or a newline would add entries.
void check_hostname(std::string_view name);

/// Everything config.json says about one container. Made from the image by
/// Bundle::spec_for(), then adjusted (GPUs add devices, mounts, env and hooks).
struct ContainerSpec {
    std::vector<std::string> args; ///< argv; args[0] is looked up in the container's PATH
    std::vector<std::string> env;  ///< "KEY=value"
    std::string cwd = "/";
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::vector<std::uint32_t> additional_gids;
    bool terminal = false;
    std::string hostname = "ocibake";
    bool read_only_root = false;
    /// The root file system: "rootfs" (relative to the bundle) or an absolute path, e.g.
    /// an overlay over the bundle's rootfs.
    std::string root_path = "rootfs";
    Network network = Network::none;
    /// A network namespace to join (`/proc/PID/fd/N` of a PortForwarder) instead of a new
    /// one; not with Network::host.
    std::string network_namespace;
    std::uint64_t shm_size = 64ull << 20; ///< /dev/shm (NCCL and DataLoaders want more)
    /// `--ipc host`: no IPC namespace of its own, and the host's /dev/shm (shm_size unused).
    bool host_ipc = false;
    std::vector<Rlimit> rlimits; ///< none: the runtime's own (inherited) limits
    std::vector<Mount> mounts;   ///< after the standard ones (/proc, /dev, /sys, ...)
    std::vector<DeviceNode> devices;
    std::vector<Hook> hooks;

    /// Sets KEY (replacing an existing KEY=..., in place) or appends it.
    void set_env(std::string_view key, std::string_view value);
    std::optional<std::string> env_value(std::string_view key) const;
};

/// How a run differs from what the image says.
struct ContainerOverrides {
    /// Replaces entrypoint and cmd: the whole argv (command tests, `ocibake run
    /// --entrypoint`).
    std::optional<std::vector<std::string>> args;
    /// Replaces only the image's cmd; the entrypoint stays (as `docker run IMAGE CMD`).
    std::optional<std::vector<std::string>> cmd;
    std::vector<std::string> env; ///< "KEY=value", applied over the image's
    std::optional<std::string> user;
    std::optional<std::string> workdir;
    bool terminal = false;
    bool read_only_root = false;
    Network network = Network::none;
    std::string network_namespace; ///< see ContainerSpec::network_namespace
    /// The container's /etc/resolv.conf (mounted over the image's), e.g. slirp4netns's
    /// DNS forwarder (PortForwarder::resolv_conf()); Network::host copies the host's.
    std::optional<std::string> resolv_conf;
    std::optional<std::string> hostname;
    /// /etc/hosts, /etc/hostname and /etc/resolv.conf written into the root (an overlay's
    /// upper directory takes them) instead of bind-mounted from the bundle: no mounts for
    /// the runtime to make, no mount points for it to create. run_image() sets it on an
    /// overlay root. Ignored with read_only_root (a mount keeps them writable, as Docker's);
    /// a file stays a mount where the image's /etc is missing or its file is not a regular
    /// file.
    bool etc_in_root = false;
    std::vector<Mount> mounts;
    std::optional<std::uint64_t> shm_size;
    bool host_ipc = false;
    std::vector<Rlimit> rlimits;
};

/// The config.json text for `spec` (OCI runtime spec 1.0.2): process, root (`rootfs`),
/// hostname, the standard mounts then spec.mounts, hooks, rlimits, namespaces (pid, uts,
/// mount, ipc unless host_ipc, and network unless Network::host: a new one, or
/// network_namespace), devices with their cgroup rules, Docker's
/// default capabilities, masked and read-only /proc and /sys paths.
std::string runtime_config_json(const ContainerSpec& spec);

/// A fresh path for a bundle directory (not created): $TMPDIR, else /var/tmp (disk, not
/// memory: images can be large), then "ocibake-bundle-XXXXXXXX".
std::filesystem::path new_bundle_path();

/// An unpacked image in an OCI runtime bundle directory: `rootfs/`, plus the files the
/// container gets bind-mounted (`etc/hosts`, `etc/hostname`, `etc/resolv.conf`) and each
/// run's config.json.
class Bundle {
public:
    /// Unpacks `image` into `dir/rootfs` (dir is created; it must not exist or be empty).
    static Bundle create(const Store& store, const SourceImage& image,
                         const std::filesystem::path& dir, const Interrupt* interrupt = nullptr);
    /// A bundle directory whose `rootfs` is ready (an overlay mounted there, or unpacked)
    /// for an image with `config`; `rootfs` elsewhere when given (a root shared by
    /// several bundles).
    static Bundle at(const std::filesystem::path& dir, oci::ImageConfig config,
                     const std::filesystem::path& rootfs = {});

    const std::filesystem::path& dir() const noexcept { return dir_; }
    std::filesystem::path rootfs() const { return rootfs_.empty() ? dir_ / "rootfs" : rootfs_; }
    const oci::ImageConfig& image_config() const noexcept { return config_; }
    /// The root file system `spec` runs in (its root_path, against the bundle).
    std::filesystem::path root_of(const ContainerSpec& spec) const;

    /// The container the image describes, with `overrides`: argv from entrypoint + cmd
    /// (or the overrides), env (image's, then the overrides', PATH and HOME filled in
    /// when missing, HOSTNAME), user resolved against the image's /etc/passwd and
    /// /etc/group (names, uid, uid:gid; supplementary groups from /etc/group), cwd,
    /// /etc/hosts and /etc/hostname mounted so the hostname resolves. Error(input) for a
    /// user or group the image does not know, or an empty argv.
    ContainerSpec spec_for(const ContainerOverrides& overrides) const;

    /// Writes `config.json` for `spec` into the bundle (replacing an older one).
    void write_config(const ContainerSpec& spec) const;

private:
    Bundle(std::filesystem::path dir, oci::ImageConfig config)
        : dir_(std::move(dir)), config_(std::move(config)) {}
    std::filesystem::path dir_;
    oci::ImageConfig config_;
    std::filesystem::path rootfs_; ///< empty: dir_/rootfs
};

// ---- the OCI runtime ----------------------------------------------------------------

struct ProcessResult {
    int exit_code = -1; ///< the container process's (128 + signal when killed)
    std::string out;    ///< stdout, up to RunLimits::max_output bytes
    std::string err;    ///< stderr, likewise
    bool out_truncated = false;
    bool err_truncated = false;
    bool timed_out = false;
    double seconds = 0;
    /// The runtime's own error (from its log) when it could not start the process;
    /// empty when the process ran.
    std::string runtime_error;
};

struct RunLimits {
    std::chrono::milliseconds timeout{std::chrono::minutes(10)};
    std::size_t max_output = 4 << 20; ///< per stream; the rest is counted, not kept
};

class Container;

/// How an attached run (`ocibake run` in the foreground) is wired to this process.
struct AttachOptions {
    /// The container's stdin is this process's (`docker run -i`); else /dev/null.
    bool stdin_open = true;
    /// config.json asks for a terminal (`-t`): the runtime makes a pseudo-terminal for the
    /// container, puts this one in raw mode and relays both ways (window size included).
    bool terminal = false;
};

/// An installed OCI runtime (crun or runc) driven through its command line. Container
/// ids are unique per call; a container is always deleted afterwards, also on timeout
/// (`kill KILL`, then `delete --force`).
class OciRuntime {
public:
    OciRuntime(std::filesystem::path path, std::string version);

    const std::filesystem::path& path() const noexcept { return path_; }
    /// The program's file name ("runc", "crun").
    std::string name() const;
    /// First line of `--version`.
    const std::string& version() const noexcept { return version_; }

    /// Writes `spec` into the bundle and runs it to completion, output captured, stdin
    /// /dev/null.
    ProcessResult run(const Bundle& bundle, const ContainerSpec& spec,
                      const RunLimits& limits) const;
    /// Runs a bundle directory whose config.json is written already (used by the probe).
    ProcessResult run_bundle(const std::filesystem::path& bundle, const RunLimits& limits) const;
    /// Starts `spec` in the background, output captured (service tests).
    Container start(const Bundle& bundle, const ContainerSpec& spec) const;
    /// Runs `spec` with this process's stdin, stdout and stderr (`ocibake run`); returns
    /// the exit code.
    int run_attached(const Bundle& bundle, const ContainerSpec& spec) const;
    /// Runs the bundle's config.json as container `id` with this process's stdio. Each
    /// signal raised on `interrupt` meanwhile is forwarded to the container (through the
    /// runtime, which proxies it); `stop_timeout` after the first one, or at a second,
    /// the container is killed (SIGKILL). Returns the exit code (128 + N when killed by
    /// signal N); the caller deletes the container. `started` is called with the container's
    /// pid once it runs (read from the runtime's pid file). The runtime stays in this
    /// terminal's foreground process group when it must use the terminal (`terminal`, or
    /// stdin open on a terminal); else it gets a group of its own, so that only the
    /// signals forwarded here reach it.
    int run_attached(const Bundle& bundle, const std::string& id, const Interrupt* interrupt,
                     std::chrono::seconds stop_timeout,
                     const std::function<void(int pid)>& started = {},
                     const AttachOptions& attach = {}) const;
    /// Starts the bundle's config.json as container `id` in the background (`run -d`), its
    /// stdout and stderr on `out_fd` and `err_fd`, stdin /dev/null. Returns the
    /// container's pid; Error(runtime) with the runtime's own message when it cannot start.
    int run_detached(const Bundle& bundle, const std::string& id, int out_fd, int err_fd) const;
    /// `RUNTIME exec [--tty] ID ARGS` with this process's stdio; the exit code.
    int exec_attached(const std::string& id, const std::vector<std::string>& args,
                      bool terminal) const;
    /// `RUNTIME kill ID SIGNAL` (errors ignored: it may have ended).
    void kill_container(const std::string& id, const std::string& signal) const;
    /// `RUNTIME delete --force ID` (missing is fine).
    void delete_container(const std::string& id) const;

private:
    std::filesystem::path path_;
    std::string version_;
};

/// A container running in the background. Destroying it kills and deletes it.
class Container {
public:
    Container(Container&&) noexcept;
    Container& operator=(Container&&) noexcept;
    ~Container();

    const std::string& id() const noexcept;
    /// Reads output for up to `wait`; true while the container still runs.
    bool poll(std::chrono::milliseconds wait);
    /// Sends `signal` ("TERM", "KILL", ...) through the runtime.
    void kill(std::string_view signal);
    /// Waits up to `wait` for the end; the result, or nullopt while it still runs.
    std::optional<ProcessResult> wait(std::chrono::milliseconds wait);
    /// Output so far.
    const std::string& out() const noexcept;
    const std::string& err() const noexcept;

    struct Impl; ///< opaque
    explicit Container(std::unique_ptr<Impl> impl);

private:
    std::unique_ptr<Impl> impl_;
};

struct RuntimeSearch {
    /// `--runtime PATH`: only this one is tried.
    std::optional<std::filesystem::path> runtime;
    /// Program names looked up on PATH, in order.
    std::vector<std::string> candidates{"crun", "runc"};
    /// Run a tiny container with each candidate to check that it works on this host
    /// (crun 1.8 fails on cgroup v1 hybrid hosts; runc works there). Without it a
    /// runtime whose `--version` works is taken.
    bool probe = true;
    /// Where a probe's success is remembered (`runtime-ok-<hash>` files), keyed by the
    /// runtime's path, inode, size and mtime and the kernel's boot id: a later search
    /// on the same boot with the same binary skips the probe (one container start).
    /// Empty: probe every time.
    std::filesystem::path verdicts;
};

/// The first runtime that works. Error(runtime) listing each one tried and why it was
/// passed over when none does. The caller keeps the result for the whole run (the
/// verdict is cached that way, not in a global).
OciRuntime find_runtime(const RuntimeSearch& search);

} // namespace ocibake
