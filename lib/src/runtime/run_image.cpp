// run_image(): image -> unpacked-layer store -> a root per container (overlayfs, or a
// full unpack) -> bundle -> OCI runtime -> cleanup on every path. `ocibake run` and the
// test harness both run containers through it.
#include "common/fs.hpp"
#include "ocibake/run.hpp"
#include "runtime/layer_store.hpp"
#include "runtime/state.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

namespace ocibake {

namespace fs = std::filesystem;
using detail::ContainerState;

struct PreparedImage::Impl {
    std::string reference;
    std::string digest;
    fs::path cache;
    SourceImage image;
    std::vector<fs::path> layers;   ///< the store's layer roots, bottom first
    std::vector<std::string> names; ///< their directory names (diffID hex)
    RootMode mode = RootMode::overlay;
    std::string why; ///< why RootMode::copy
    std::size_t unpacked = 0;
    fs::path keep_bundle;
    std::string lease; ///< this process's lease on the layers
    std::string note;  ///< PreparedImage::note()

    ~Impl() {
        if (!lease.empty()) {
            std::error_code ec;
            fs::remove(cache / "leases" / lease, ec); // Store::drop_lease, without the lock
        }
    }
};

PreparedImage::PreparedImage(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PreparedImage::PreparedImage(PreparedImage&&) noexcept = default;
PreparedImage& PreparedImage::operator=(PreparedImage&&) noexcept = default;
PreparedImage::~PreparedImage() = default;

const std::string& PreparedImage::reference() const noexcept {
    return impl_->reference;
}
const std::string& PreparedImage::digest() const noexcept {
    return impl_->digest;
}
const oci::ImageConfig& PreparedImage::config() const noexcept {
    return impl_->image.config;
}
RootMode PreparedImage::mode() const noexcept {
    return impl_->mode;
}
const std::string& PreparedImage::fallback_reason() const noexcept {
    return impl_->why;
}
std::size_t PreparedImage::layers_unpacked() const noexcept {
    return impl_->unpacked;
}
const std::string& PreparedImage::note() const noexcept {
    return impl_->note;
}

PreparedImage prepare_image(const PrepareOptions& options, const Interrupt* interrupt) {
    auto impl = std::make_unique<PreparedImage::Impl>();
    impl->reference = options.reference;
    impl->cache = options.cache_dir.empty() ? Store::default_root() : options.cache_dir;
    Store store(impl->cache);
    impl->cache = store.root();
    impl->image =
        registry::load_image(store, options.reference, options.platform, options.registry);
    impl->digest = impl->image.manifest_descriptor.digest.valid()
                       ? impl->image.manifest_descriptor.digest.str()
                       : impl->image.manifest.config.digest.str();
    impl->keep_bundle = options.keep_bundle;
    if (!options.keep_bundle.empty()) {
        impl->mode = RootMode::copy;
        impl->why = "--keep-bundle unpacks the whole image into " + options.keep_bundle.string();
        return PreparedImage(std::move(impl));
    }
    if (::geteuid() != 0) {
        impl->mode = RootMode::copy;
        impl->why = "overlayfs needs root";
        return PreparedImage(std::move(impl));
    }
    // Until a container's own lease: gc keeps what `names` lists.
    auto leased = [&store](std::unique_ptr<PreparedImage::Impl> impl) {
        impl->lease =
            "prepare-" + std::to_string(::getpid()) + "-" + detail::random_suffix().substr(0, 8);
        store.put_lease(impl->lease, ::getpid(), {}, impl->names);
        return PreparedImage(std::move(impl));
    };
    // A flat lower made by an earlier run: one lookup, no layer to look at.
    std::string flat = detail::flat_lower_name(impl->image);
    if (auto root = detail::find_flat_lower(store, flat)) {
        impl->layers = {*root};
        impl->names = {flat};
        return leased(std::move(impl));
    }
    try {
        impl->layers = detail::ensure_unpacked_layers(
            store, impl->image, options.threads, interrupt, options.on_progress, impl->unpacked);
    } catch (const Error& e) {
        if (e.kind() != ErrorKind::input) {
            throw;
        }
        impl->mode = RootMode::copy; // the full unpack refuses it, or applies it right
        impl->why = std::string("a layer cannot be kept apart for overlayfs: ") + e.what();
        return PreparedImage(std::move(impl));
    }
    for (const fs::path& root : impl->layers) {
        impl->names.push_back(root.parent_path().filename().string());
    }
    bool checked_before = false;
    std::string differs =
        detail::overlay_difference(store, impl->image, impl->layers, &checked_before);
    if (!differs.empty()) {
        impl->mode = RootMode::copy;
        impl->why = "an overlay of the layers would differ from the image: " + differs;
        return PreparedImage(std::move(impl));
    }
    // The second run of an image (its overlay checked by an earlier one, every layer
    // unpacked already) makes its flat lower, for every run after it: ~0.5 s for the
    // flagship, once. Not the first run: a build-and-test cycle runs each new image once.
    if (checked_before && impl->unpacked == 0 && impl->layers.size() > 1) {
        try {
            impl->layers = {detail::make_flat_lower(store, flat, impl->layers, interrupt)};
            impl->names.push_back(flat);
        } catch (const Error& e) {
            if (e.kind() == ErrorKind::interrupted) {
                throw;
            }
            impl->note = std::string("the layers stay stacked (no flat lower): ") + e.what();
        }
    }
    return leased(std::move(impl));
}

namespace {

/// Makes `dir`/rootfs: an overlay (upper and work beside it), or the image unpacked.
/// Returns true when an overlay was mounted; `note` gets why not when one failed.
bool make_root(const PreparedImage::Impl& image, const fs::path& dir, const std::string& lease,
               const Interrupt* interrupt, std::string& note) {
    std::error_code ec;
    if (fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::is_empty(dir, ec))) {
        throw Error(ErrorKind::io, "bundle directory " + dir.string() + " exists and is not empty");
    }
    fs::create_directories(dir / "rootfs", ec);
    if (ec) {
        throw Error(ErrorKind::io, "cannot create " + dir.string() + ": " + ec.message());
    }
    ::chmod(dir.c_str(), 0700);
    if (image.mode == RootMode::overlay) {
        fs::create_directories(dir / "upper", ec);
        fs::create_directories(dir / "work", ec);
        ::chmod((dir / "upper").c_str(), 0755);
        Store store(image.cache);
        store.put_lease(lease, ::getpid(), dir / "rootfs", image.names);
        std::string why =
            detail::mount_overlay(image.layers, dir / "upper", dir / "work", dir / "rootfs");
        if (why.empty()) {
            return true;
        }
        store.drop_lease(lease);
        note = why + ": unpacking the whole image instead";
        fs::remove_all(dir / "upper", ec);
        fs::remove_all(dir / "work", ec);
    }
    Store store(image.cache);
    unpack_image(store, image.image, dir / "rootfs", interrupt);
    return false;
}

int exit_code_of(int status) {
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

/// Tears a container down when its owner leaves run_image() (released when a monitor
/// took it over).
struct Teardown {
    const fs::path& state_dir;
    ContainerState& state;
    bool stateful;
    bool armed = true;
    ~Teardown() {
        if (!armed) {
            return;
        }
        try {
            detail::tear_down(state);
            if (stateful) {
                detail::remove_entry(state_dir, state);
            }
        } catch (...) {
        }
    }
};

/// The monitor of a detached container (a process of its own, as conmon): starts it,
/// tells the parent through `report`, reaps it (it is our child once the runtime exits:
/// we are its subreaper), and cleans up. Never returns.
[[noreturn]] void monitor(const OciRuntime& runtime, const Bundle& bundle,
                          const fs::path& state_dir, ContainerState state, int report, int out,
                          int err, const MonitorTask& task) {
    ::setsid();
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    // Only what we need stays open: never the store's lock, nor our caller's stdout and
    // stderr (a caller reading them to their end would wait for the container's).
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd < 3 && null >= 0; ++fd) {
        ::dup2(null, fd);
    }
    // Every descriptor above stderr is closed but the three of ours and the task's (kept
    // at their numbers: the task's objects hold them).
    std::vector<int> keep = task.fds ? task.fds() : std::vector<int>{};
    keep.insert(keep.end(), {report, out, err});
    std::sort(keep.begin(), keep.end());
    unsigned from = 3;
    for (int fd : keep) {
        if (fd >= static_cast<int>(from)) {
            if (static_cast<unsigned>(fd) > from) {
                ::close_range(from, static_cast<unsigned>(fd) - 1, 0);
            }
            from = static_cast<unsigned>(fd) + 1;
        }
    }
    ::close_range(from, ~0u, 0);
    state.owner_pid = ::getpid();
    state.owner_start = detail::process_start_time(state.owner_pid);
    int pid = 0;
    try {
        if (task.start) {
            task.start();
        }
        detail::write_state(state_dir, state);
        pid = runtime.run_detached(bundle, detail::runtime_id(state.id), out, err);
        state.pid = pid;
        detail::write_state(state_dir, state);
    } catch (const std::exception& e) {
        std::string msg = std::string("E") + e.what();
        (void)!::write(report, msg.data(), msg.size());
        detail::tear_down(state);
        detail::remove_entry(state_dir, state);
        ::_exit(1);
    }
    (void)!::write(report, "S", 1);
    ::close(report);
    ::close(out);
    ::close(err);
    int status = 0;
    for (;;) {
        int s = 0;
        pid_t r = ::waitpid(-1, &s, 0);
        if (r == pid) {
            status = s;
            break;
        }
        if (r < 0 && errno == ECHILD) {
            break;
        }
    }
    state.exit_code = exit_code_of(status);
    state.status = "exited";
    try {
        detail::tear_down(state);
        if (state.remove) {
            detail::remove_entry(state_dir, state);
        } else {
            state.bundle.clear();
            detail::write_state(state_dir, state);
        }
    } catch (...) {
    }
    ::_exit(0);
}

/// Starts the monitor; returns once the container runs (or throws why it does not).
void start_detached(const OciRuntime& runtime, const Bundle& bundle, const fs::path& state_dir,
                    ContainerState& state, Teardown& teardown, const MonitorTask& task) {
    fs::path entry = detail::entry_dir(state_dir, state.id);
    detail::UniqueFd out = detail::open_file(
        entry / "stdout", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, ErrorKind::io, 0600);
    detail::UniqueFd err = detail::open_file(
        entry / "stderr", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, ErrorKind::io, 0600);
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
        detail::throw_errno(ErrorKind::io, "pipe", errno);
    }
    detail::UniqueFd read_end(pipe_fds[0]);
    detail::UniqueFd write_end(pipe_fds[1]);
    pid_t pid = ::fork();
    if (pid < 0) {
        detail::throw_errno(ErrorKind::io, "fork", errno);
    }
    if (pid == 0) {
        monitor(runtime, bundle, state_dir, state, write_end.get(), out.get(), err.get(), task);
    }
    teardown.armed = false; // the monitor owns the container now
    write_end.reset();
    std::string answer;
    char buf[4096];
    pollfd p{read_end.get(), POLLIN, 0};
    while (::poll(&p, 1, 90000) > 0) { // the runtime gets 60 s to start it
        ssize_t n = ::read(read_end.get(), buf, sizeof buf);
        if (n <= 0) {
            break;
        }
        answer.append(buf, static_cast<std::size_t>(n));
    }
    if (answer != "S") {
        throw Error(ErrorKind::runtime, answer.size() > 1 && answer[0] == 'E'
                                            ? answer.substr(1)
                                            : "the container's monitor (process " +
                                                  std::to_string(pid) + ") did not start it");
    }
    // Reap the monitor's parent side: it runs on in its own session.
}

} // namespace

ContainerRoot::ContainerRoot(const PreparedImage& image, const fs::path& dir,
                             const Interrupt* interrupt, bool keep)
    : dir_(fs::absolute(dir).lexically_normal()), rootfs_(dir_ / "rootfs"), keep_(keep) {
    std::string note;
    std::string lease =
        "root-" + std::to_string(::getpid()) + "-" + detail::random_suffix().substr(0, 8);
    lease_ = image.impl().cache / "leases" / lease;
    try {
        mounted_ = make_root(image.impl(), dir_, lease, interrupt, note);
    } catch (...) {
        std::error_code ec;
        if (!keep_) {
            fs::remove_all(dir_, ec);
        }
        throw;
    }
}

ContainerRoot::~ContainerRoot() {
    if (mounted_) {
        ::umount2(rootfs_.c_str(), MNT_DETACH);
    }
    std::error_code ec;
    if (!keep_ || mounted_) {
        fs::remove_all(dir_, ec);
    }
    fs::remove(lease_, ec); // Store::drop_lease, without the lock
}

RunOutcome run_image(const PreparedImage& image, const OciRuntime& runtime,
                     const RunRequest& request, const Interrupt* interrupt) {
    const PreparedImage::Impl& im = image.impl();
    if (interrupt != nullptr) {
        interrupt->check();
    }
    bool stateful = request.mode != RunMode::captured && request.mode != RunMode::service;
    fs::path state_dir = request.state_dir.empty() ? default_state_dir() : request.state_dir;
    ContainerState st;
    st.id = detail::random_suffix().substr(0, 12);
    st.name = request.name.empty() ? st.id : request.name;
    st.image = im.reference;
    st.created = detail::utc_now();
    st.owner_pid = ::getpid();
    st.owner_start = detail::process_start_time(st.owner_pid);
    st.runtime = runtime.path().string();
    st.cache = im.cache.string();
    st.stop_signal = im.image.config.config.stop_signal;
    st.detached = request.mode == RunMode::detached;
    st.remove = request.mode != RunMode::detached || request.remove;
    // --keep-bundle: the whole image unpacked there, kept (a shared root: a bundle apart).
    bool kept = !im.keep_bundle.empty() && request.shared_root.empty();
    fs::path dir = kept ? fs::absolute(im.keep_bundle) : new_bundle_path();
    if (stateful) {
        if (!request.name.empty()) {
            detail::claim_name(state_dir, request.name, st.id);
        }
        try {
            detail::write_state(state_dir, st);
        } catch (...) {
            detail::remove_entry(state_dir, st);
            throw;
        }
    }
    Teardown teardown{state_dir, st, stateful};
    RunOutcome outcome;
    outcome.id = st.id;
    fs::path root_path = request.shared_root;
    bool overlay_root = false;
    if (root_path.empty()) {
        if (!kept) {
            st.bundle = dir.string(); // from here on, the bundle is torn down with it
        }
        std::string note;
        overlay_root = make_root(im, dir, st.id, interrupt, note);
        if (!note.empty() && request.on_note) {
            request.on_note(note);
        }
    } else {
        std::error_code ec;
        fs::create_directories(dir, ec);
        st.bundle = dir.string();
    }
    Bundle bundle = Bundle::at(dir, im.image.config, root_path);
    ContainerOverrides overrides = request.overrides;
    overrides.etc_in_root = overlay_root;
    ContainerSpec spec = bundle.spec_for(overrides);
    if (!root_path.empty()) {
        spec.root_path = root_path.string();
    }
    if (request.adjust) {
        request.adjust(bundle, spec);
    }
    bundle.write_config(spec);
    st.command = spec.args;
    st.status = "running";
    if (request.ports) {
        st.ports = request.ports();
    }
    if (stateful) {
        detail::write_state(state_dir, st);
    }
    if (interrupt != nullptr) {
        interrupt->check();
    }
    switch (request.mode) {
    case RunMode::attached:
        outcome.result.exit_code =
            runtime.run_attached(bundle, detail::runtime_id(st.id), interrupt, request.stop_timeout,
                                 {}, {request.stdin_open, spec.terminal});
        break;
    case RunMode::captured:
        outcome.result = runtime.run(bundle, spec, request.limits);
        break;
    case RunMode::detached:
        start_detached(runtime, bundle, state_dir, st, teardown, request.monitor);
        break;
    case RunMode::service: {
        Container c = runtime.start(bundle, spec); // killed and deleted before the teardown
        if (request.with_container) {
            request.with_container(c);
        }
        break;
    }
    }
    return outcome;
}

} // namespace ocibake
