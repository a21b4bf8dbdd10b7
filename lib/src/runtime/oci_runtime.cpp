// Driving an OCI runtime (crun, runc) through its command line:
//
//     RUNTIME --log=LOG --log-format=json run --bundle BUNDLE ID      (foreground)
//     RUNTIME kill ID SIGNAL ;  RUNTIME delete --force ID             (cleanup)
//
// Output is read from pipes with poll(2), together with a pidfd for the runtime process,
// so waiting never sleeps. The runtime's own errors go to LOG (JSON lines), which tells
// "the runtime failed to start the container" from "the process exited non-zero".
#include "common/fs.hpp"
#include "common/process.hpp"
#include "ocibake/digest.hpp"
#include "ocibake/run.hpp"
#include "ocibake/runtime.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace ocibake {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using detail::UniqueFd;

namespace {

using detail::spawn;
using detail::Spawned;
using detail::SpawnOptions;

Spawned spawn(const std::vector<std::string>& argv, bool capture, bool inherit_stdin) {
    SpawnOptions o;
    o.capture = capture;
    o.inherit_stdin = inherit_stdin;
    return spawn(argv, o);
}

int wait_status(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

int exit_code_of(int status) {
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return -1;
}

/// Output of a short helper command (`--version`, `kill`, `delete`), with a time limit.
struct Quick {
    int exit_code = -1;
    std::string output;
};

Quick run_quick(const std::vector<std::string>& argv, std::chrono::milliseconds limit) {
    Spawned s = spawn(argv, true, false);
    Quick q;
    auto deadline = Clock::now() + limit;
    pollfd fds[2] = {{s.out.get(), POLLIN, 0}, {s.err.get(), POLLIN, 0}};
    int open = 2;
    char buf[4096];
    while (open > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            ::kill(s.pid, SIGKILL);
            break;
        }
        int rc = ::poll(fds, 2, static_cast<int>(left.count()));
        if (rc < 0 && errno != EINTR) {
            break;
        }
        for (pollfd& p : fds) {
            if (p.fd >= 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t n = ::read(p.fd, buf, sizeof buf);
                if (n <= 0) {
                    p.fd = -1;
                    --open;
                } else if (q.output.size() < 65536) {
                    q.output.append(buf, static_cast<std::size_t>(n));
                }
            }
        }
    }
    int status = 0;
    while (::waitpid(s.pid, &status, 0) < 0 && errno == EINTR) {
    }
    q.exit_code = exit_code_of(status);
    return q;
}

std::string first_line(const std::string& text) {
    std::string line = text.substr(0, text.find('\n'));
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
        line.pop_back();
    }
    return line;
}

/// The error messages of a runtime's JSON log ("level":"error" or "fatal").
std::string runtime_errors(const fs::path& log) {
    std::ifstream in(log);
    std::string line, out;
    while (std::getline(in, line)) {
        try {
            auto j = nlohmann::json::parse(line);
            std::string level = j.value("level", "");
            if (level == "error" || level == "fatal") {
                out += (out.empty() ? "" : "; ") + j.value("msg", line);
            }
        } catch (const std::exception&) {
            // crun writes plain text before it knows the format; keep it
            if (!line.empty()) {
                out += (out.empty() ? "" : "; ") + line;
            }
        }
    }
    return out;
}

/// True when the runtime surely holds no state for container `id`: runc and crun keep it
/// in <root>/<id> (root /run/runc, /run/crun for root), and `run` in the foreground removes
/// it when the container exits. Then a `delete` has nothing to do, and skipping it saves a
/// runtime start (~0.1-0.4 s, a Go program's start under load) per container.
bool no_runtime_state(const fs::path& runtime, const std::string& id) {
    std::string n = runtime.filename().string();
    std::error_code ec;
    return (n == "runc" || n == "crun") && ::geteuid() == 0 &&
           !fs::exists(fs::path("/run") / n / id, ec) && !ec;
}

std::string new_container_id() {
    return "ocibake-" + std::to_string(::getpid()) + "-" + detail::random_suffix().substr(0, 8);
}

std::optional<fs::path> find_on_path(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        if (dir.empty()) {
            continue;
        }
        fs::path candidate = fs::path(dir) / program;
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
    }
    return std::nullopt;
}

} // namespace

// ---- Container ---------------------------------------------------------------------------

struct Container::Impl {
    fs::path runtime;
    fs::path bundle;
    std::string id;
    fs::path log;
    Spawned process;
    std::size_t max_output = 4 << 20;
    ProcessResult result;
    bool finished = false;
    Clock::time_point started = Clock::now();

    ~Impl() {
        if (!finished && process.pid > 0) {
            signal("KILL");
            if (!wait_until(Clock::now() + std::chrono::seconds(10))) {
                ::kill(process.pid, SIGKILL);
                wait_until(Clock::now() + std::chrono::seconds(10));
            }
        }
        cleanup();
    }

    void cleanup() {
        if (!no_runtime_state(runtime, id)) {
            run_quick({runtime.string(), "delete", "--force", id}, std::chrono::seconds(10));
        }
        std::error_code ec;
        fs::remove(log, ec);
    }

    void signal(std::string_view name) {
        run_quick({runtime.string(), "kill", id, std::string(name)}, std::chrono::seconds(10));
    }

    void keep(std::string& into, bool& truncated, const char* data, std::size_t n) {
        std::size_t room = max_output > into.size() ? max_output - into.size() : 0;
        into.append(data, std::min(room, n));
        if (n > room) {
            truncated = true;
        }
    }

    /// Reads output and watches the process until `deadline`; true once it has ended
    /// and its pipes are drained.
    bool wait_until(Clock::time_point deadline) {
        char buf[65536];
        for (;;) {
            if (finished) {
                return true;
            }
            pollfd fds[3] = {{process.out.get(), POLLIN, 0},
                             {process.err.get(), POLLIN, 0},
                             {process.pidfd.get(), POLLIN, 0}};
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            int timeout = static_cast<int>(std::max<std::int64_t>(0, left.count()));
            if (!process.pidfd) {
                timeout = std::min(timeout, 50); // no pidfd (old kernel): check now and then
            }
            int rc = ::poll(fds, 3, timeout);
            if (rc < 0 && errno != EINTR) {
                detail::throw_errno(ErrorKind::io, "poll", errno);
            }
            for (int i = 0; i < 2; ++i) {
                if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                    ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
                    if (n <= 0) {
                        (i == 0 ? process.out : process.err).reset();
                    } else if (i == 0) {
                        keep(result.out, result.out_truncated, buf, static_cast<std::size_t>(n));
                    } else {
                        keep(result.err, result.err_truncated, buf, static_cast<std::size_t>(n));
                    }
                }
            }
            int status = 0;
            if (::waitpid(process.pid, &status, WNOHANG) == process.pid) {
                drain(Clock::now() + std::chrono::seconds(2));
                return reaped(status);
            }
            if (Clock::now() >= deadline) {
                return false;
            }
        }
    }

    /// After the runtime exited: what is left in the pipes (a daemonised child of the
    /// container may hold them open; it gets `limit`, no more).
    void drain(Clock::time_point limit) {
        char buf[65536];
        while (process.out || process.err) {
            pollfd fds[2] = {{process.out.get(), POLLIN, 0}, {process.err.get(), POLLIN, 0}};
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(limit - Clock::now());
            if (left.count() <= 0 || ::poll(fds, 2, static_cast<int>(left.count())) <= 0) {
                break;
            }
            for (int i = 0; i < 2; ++i) {
                if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                    ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
                    if (n <= 0) {
                        (i == 0 ? process.out : process.err).reset();
                    } else {
                        keep(i == 0 ? result.out : result.err,
                             i == 0 ? result.out_truncated : result.err_truncated, buf,
                             static_cast<std::size_t>(n));
                    }
                }
            }
        }
        process.out.reset();
        process.err.reset();
    }

    bool reaped(int status) {
        finished = true;
        result.exit_code = exit_code_of(status);
        result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
        result.runtime_error = runtime_errors(log);
        return true;
    }
};

Container::Container(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Container::Container(Container&&) noexcept = default;
Container& Container::operator=(Container&&) noexcept = default;
Container::~Container() = default;

const std::string& Container::id() const noexcept {
    return impl_->id;
}

bool Container::poll(std::chrono::milliseconds wait) {
    return !impl_->wait_until(Clock::now() + wait);
}

void Container::kill(std::string_view signal) {
    impl_->signal(signal);
}

std::optional<ProcessResult> Container::wait(std::chrono::milliseconds wait) {
    if (!impl_->wait_until(Clock::now() + wait)) {
        return std::nullopt;
    }
    return impl_->result;
}

const std::string& Container::out() const noexcept {
    return impl_->result.out;
}

const std::string& Container::err() const noexcept {
    return impl_->result.err;
}

// ---- OciRuntime ----------------------------------------------------------------------------

OciRuntime::OciRuntime(fs::path path, std::string version)
    : path_(std::move(path)), version_(std::move(version)) {}

std::string OciRuntime::name() const {
    return path_.filename().string();
}

namespace {

std::unique_ptr<Container::Impl> start_bundle(const fs::path& runtime, const fs::path& bundle,
                                              std::size_t max_output) {
    auto impl = std::make_unique<Container::Impl>();
    impl->runtime = runtime;
    impl->bundle = bundle;
    impl->id = new_container_id();
    impl->log = bundle / (impl->id + ".log");
    impl->max_output = max_output;
    impl->process = spawn({runtime.string(), "--log=" + impl->log.string(), "--log-format=json",
                           "run", "--bundle", bundle.string(), impl->id},
                          true, false);
    return impl;
}

ProcessResult finish_run(Container::Impl& impl, const RunLimits& limits) {
    if (!impl.wait_until(impl.started + limits.timeout)) {
        impl.result.timed_out = true;
        impl.signal("KILL");
        if (!impl.wait_until(Clock::now() + std::chrono::seconds(10))) {
            ::kill(impl.process.pid, SIGKILL);
            impl.wait_until(Clock::now() + std::chrono::seconds(10));
        }
    }
    return impl.result;
}

} // namespace

ProcessResult OciRuntime::run(const Bundle& bundle, const ContainerSpec& spec,
                              const RunLimits& limits) const {
    bundle.write_config(spec);
    return run_bundle(bundle.dir(), limits);
}

ProcessResult OciRuntime::run_bundle(const fs::path& bundle, const RunLimits& limits) const {
    auto impl = start_bundle(path_, bundle, limits.max_output);
    return finish_run(*impl, limits);
}

Container OciRuntime::start(const Bundle& bundle, const ContainerSpec& spec) const {
    bundle.write_config(spec);
    return Container(start_bundle(path_, bundle.dir(), RunLimits{}.max_output));
}

int OciRuntime::run_attached(const Bundle& bundle, const ContainerSpec& spec) const {
    bundle.write_config(spec);
    std::string id = new_container_id();
    // The runtime proxies signals to the container; this process waits them out.
    struct sigaction ignore = {}, old_int = {}, old_quit = {};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGINT, &ignore, &old_int);
    ::sigaction(SIGQUIT, &ignore, &old_quit);
    Spawned s = spawn({path_.string(), "run", "--bundle", bundle.dir().string(), id}, false, true);
    int status = 0;
    while (::waitpid(s.pid, &status, 0) < 0 && errno == EINTR) {
    }
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGQUIT, &old_quit, nullptr);
    run_quick({path_.string(), "delete", "--force", id}, std::chrono::seconds(10));
    return exit_code_of(status);
}

void OciRuntime::kill_container(const std::string& id, const std::string& signal) const {
    run_quick({path_.string(), "kill", id, signal}, std::chrono::seconds(10));
}

void OciRuntime::delete_container(const std::string& id) const {
    // Nothing to delete once the runtime removed its state: the largest part of a warm
    // run's own cost was this runtime start.
    if (no_runtime_state(path_, id)) {
        return;
    }
    run_quick({path_.string(), "delete", "--force", id}, std::chrono::seconds(10));
}

int OciRuntime::run_attached(const Bundle& bundle, const std::string& id,
                             const Interrupt* interrupt, std::chrono::seconds stop_timeout,
                             const std::function<void(int)>& started,
                             const AttachOptions& attach) const {
    SpawnOptions o;
    o.inherit_stdin = attach.stdin_open;
    // Off the terminal, the runtime gets signals only from us (forwarded once). When it
    // uses the terminal (a pseudo-terminal relayed in raw mode, or stdin read from it),
    // it must stay in the terminal's foreground group (else SIGTTIN/SIGTTOU stop it), and
    // there it gets SIGWINCH to pass the window size on.
    o.own_group = !(attach.terminal || (attach.stdin_open && ::isatty(0)));
    // The pid file only when the caller wants the container's pid (a file less to make
    // and remove on every run).
    fs::path pid_file = bundle.dir() / "container.pid";
    std::vector<std::string> argv = {path_.string(), "run"};
    if (started) {
        argv.insert(argv.end(), {"--pid-file", pid_file.string()});
    }
    argv.insert(argv.end(), {"--bundle", bundle.dir().string(), id});
    Spawned s = spawn(argv, o);
    int base = interrupt != nullptr ? interrupt->count() : 0;
    // The runtime proxies what it gets to the container, but for SIGINT with a terminal:
    // runc takes that as its own cue to restore the terminal and exit 0, leaving the
    // container running (runc 1.1, tty.go's handleInterrupt). `runc kill` delivers it.
    auto forward = [this, pid = s.pid, id, terminal = attach.terminal](int sig) {
        if (terminal && sig == SIGINT) {
            kill_container(id, "INT");
        } else {
            ::kill(pid, sig);
        }
    };
    if (interrupt != nullptr) {
        interrupt->forward_to(forward);
    }
    std::optional<Clock::time_point> kill_at;
    bool killed = false;
    bool told = !started;
    int status = 0;
    // -t without -i: the runtime puts this terminal in raw mode though it reads no key, so
    // Ctrl-C makes no SIGINT. Keys are read here instead, and Ctrl-C is taken as SIGINT
    // (forwarded to the container as one sent to us would be: `docker run -t` stops the
    // same way). Only while we are the terminal's foreground group (else reading stops us).
    bool keys =
        attach.terminal && !attach.stdin_open && ::isatty(0) && ::tcgetpgrp(0) == ::getpgrp();
    int ctrl_c = 0;
    for (;;) {
        if (!told && fs::exists(pid_file)) {
            told = true;
            started(std::atoi(detail::read_file(pid_file, ErrorKind::io, 64).c_str()));
        }
        pollfd fds[3] = {{s.pidfd.get(), POLLIN, 0},
                         {interrupt != nullptr ? interrupt->fd() : -1, POLLIN, 0},
                         {keys ? 0 : -1, POLLIN, 0}};
        int timeout = !told || !s.pidfd ? 50 : -1; // the pid file has no event to wait on
        if (kill_at) {
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(*kill_at - Clock::now());
            timeout = static_cast<int>(std::max<std::int64_t>(0, left.count()));
        }
        if (::poll(fds, 3, timeout) < 0 && errno != EINTR) {
            detail::throw_errno(ErrorKind::io, "poll", errno);
        }
        if (::waitpid(s.pid, &status, WNOHANG) == s.pid) {
            break;
        }
        bool stop = false; // a signal to us, or Ctrl-C typed
        if (fds[2].revents != 0) {
            char typed[256];
            ssize_t n = ::read(0, typed, sizeof typed);
            if (n <= 0) {
                keys = false; // the terminal is gone: stop watching it
            } else if (std::memchr(typed, 0x03, static_cast<std::size_t>(n)) != nullptr) {
                ++ctrl_c;
                forward(SIGINT);
                stop = true;
            }
        }
        if (fds[1].revents != 0) {
            interrupt->drain();
            stop = true;
        }
        if (stop) {
            int signals = (interrupt != nullptr ? interrupt->count() - base : 0) + ctrl_c;
            if (signals >= 2 && !killed) {
                kill_container(id, "KILL"); // a second signal: no more waiting
                killed = true;
            } else if (!kill_at) {
                kill_at = Clock::now() + stop_timeout;
            }
        }
        if (kill_at && Clock::now() >= *kill_at && !killed) {
            kill_container(id, "KILL");
            killed = true;
        }
    }
    if (interrupt != nullptr) {
        interrupt->forward_to({});
    }
    return exit_code_of(status); // the caller deletes the container (run_image's teardown)
}

int OciRuntime::run_detached(const Bundle& bundle, const std::string& id, int out_fd,
                             int err_fd) const {
    fs::path pid_file = bundle.dir() / "container.pid";
    fs::path log = bundle.dir() / "runtime.log";
    SpawnOptions o;
    o.out_fd = out_fd;
    o.err_fd = err_fd;
    Spawned s = spawn({path_.string(), "--log=" + log.string(), "--log-format=json", "run", "-d",
                       "--pid-file", pid_file.string(), "--bundle", bundle.dir().string(), id},
                      o);
    // `run -d` returns once the container runs; a minute is far more than it needs.
    pollfd p{s.pidfd.get(), POLLIN, 0};
    if (s.pidfd && ::poll(&p, 1, 60000) == 0) {
        ::kill(s.pid, SIGKILL);
    }
    int code = exit_code_of(wait_status(s.pid));
    if (code != 0) {
        std::string why = runtime_errors(log);
        delete_container(id);
        throw Error(ErrorKind::runtime,
                    "the runtime could not start the container" +
                        (why.empty() ? " (exit code " + std::to_string(code) + ")" : ": " + why));
    }
    return std::atoi(detail::read_file(pid_file, ErrorKind::io, 64).c_str());
}

int OciRuntime::exec_attached(const std::string& id, const std::vector<std::string>& args,
                              bool terminal) const {
    std::vector<std::string> argv = {path_.string(), "exec"};
    if (terminal) {
        argv.push_back("--tty");
    }
    argv.push_back(id);
    argv.insert(argv.end(), args.begin(), args.end());
    struct sigaction ignore = {}, old_int = {}, old_quit = {};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGINT, &ignore, &old_int);
    ::sigaction(SIGQUIT, &ignore, &old_quit);
    SpawnOptions o;
    o.inherit_stdin = true;
    Spawned s = spawn(argv, o);
    int status = wait_status(s.pid);
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGQUIT, &old_quit, nullptr);
    return exit_code_of(status);
}

// ---- finding one -------------------------------------------------------------------------

namespace {

/// Runs `true` from the host's own /usr in a container with the namespaces and mounts a
/// real run uses. Returns "" when it worked, else why not.
std::string probe(const OciRuntime& runtime) {
    std::error_code ec;
    const char* true_paths[] = {"/usr/bin/true", "/bin/true"};
    bool have_true = false;
    for (const char* p : true_paths) {
        have_true = have_true || ::access(p, X_OK) == 0;
    }
    if (!have_true) {
        return ""; // nothing to run: trust --version
    }
    fs::path dir = fs::temp_directory_path() / ("ocibake-probe-" + detail::random_suffix());
    detail::TempDir cleanup(dir);
    fs::create_directories(dir / "rootfs", ec);
    if (ec) {
        return "cannot create " + dir.string() + ": " + ec.message();
    }
    ContainerSpec spec;
    spec.args = {"true"};
    spec.env = {"PATH=/usr/bin:/bin"};
    for (const char* host : {"/usr", "/bin", "/lib", "/lib64"}) {
        if (fs::exists(host, ec)) {
            spec.mounts.push_back(Mount::bind(host, host, true));
        }
    }
    detail::atomic_write_file(dir / "config.json", runtime_config_json(spec), 0600, false);
    RunLimits limits;
    limits.timeout = std::chrono::seconds(30);
    ProcessResult r = runtime.run_bundle(dir, limits);
    if (r.exit_code == 0) {
        return "";
    }
    if (!r.runtime_error.empty()) {
        return r.runtime_error;
    }
    std::string why = first_line(r.err.empty() ? r.out : r.err);
    return "a test container exited with " + std::to_string(r.exit_code) +
           (why.empty() ? "" : ": " + why);
}

/// The file that says `runtime` passed its probe on this boot, as it is now.
fs::path verdict_file(const fs::path& dir, const fs::path& runtime) {
    struct stat st {};
    if (dir.empty() || ::stat(runtime.c_str(), &st) != 0) {
        return {};
    }
    const std::string& boot = detail::boot_id();
    if (boot.empty()) {
        return {};
    }
    Sha256 key;
    key.update(runtime.string() + "\n" + std::to_string(st.st_ino) + "\n" +
               std::to_string(st.st_size) + "\n" + std::to_string(st.st_mtim.tv_sec) + "." +
               std::to_string(st.st_mtim.tv_nsec) + "\n" + boot);
    return dir / ("runtime-ok-" + key.finish().hex().substr(0, 32));
}

} // namespace

OciRuntime find_runtime(const RuntimeSearch& search) {
    std::vector<std::pair<std::string, std::optional<fs::path>>> candidates;
    if (search.runtime) {
        std::error_code ec;
        fs::path p = search.runtime->has_parent_path()
                         ? fs::absolute(*search.runtime, ec)
                         : find_on_path(search.runtime->string()).value_or(*search.runtime);
        candidates.emplace_back(search.runtime->string(), p);
    } else {
        for (const std::string& name : search.candidates) {
            candidates.emplace_back(name, find_on_path(name));
        }
    }
    std::string tried;
    for (const auto& [name, path] : candidates) {
        std::string why;
        if (!path) {
            why = "not found on PATH";
        } else if (::access(path->c_str(), X_OK) != 0) {
            why = path->string() + " is not an executable file";
        } else {
            // A verdict of this very binary (same inode, size, mtime, boot) holds its
            // version line: no `--version` run (a runtime start) on every run.
            fs::path verdict = search.probe ? verdict_file(search.verdicts, *path) : fs::path();
            std::string known_version;
            if (!verdict.empty()) {
                try {
                    known_version = first_line(detail::read_file(verdict, ErrorKind::io, 4096));
                } catch (const Error&) {
                }
            }
            if (!known_version.empty()) {
                return OciRuntime(*path, known_version);
            }
            Quick version = run_quick({path->string(), "--version"}, std::chrono::seconds(10));
            if (version.exit_code != 0) {
                why = path->string() + " --version failed: " + first_line(version.output);
            } else {
                OciRuntime runtime(*path, first_line(version.output));
                std::error_code ec;
                why = search.probe ? probe(runtime) : "";
                if (why.empty()) {
                    if (!verdict.empty()) {
                        fs::create_directories(search.verdicts, ec);
                        detail::atomic_write_file(verdict, runtime.version() + "\n", 0644, false);
                    }
                    return runtime;
                }
                why = path->string() + " cannot run containers here: " + why;
            }
        }
        tried += "\n  " + name + ": " + why;
    }
    throw Error(
        ErrorKind::runtime,
        "no working OCI runtime (tried:" + tried +
            ")\nhint: install runc (Debian package 'runc') or crun, or pass --runtime PATH");
}

} // namespace ocibake
