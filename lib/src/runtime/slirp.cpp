// slirp4netns for a container's network namespace: started with a ready pipe (it writes
// once tap0 is configured) and an exit pipe (it ends when the pipe's write end is closed
// everywhere), its output kept in a memfd for the message when it fails.
#include "runtime/slirp.hpp"

#include "common/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <utility>
#include <vector>

namespace ocibake::detail {

namespace fs = std::filesystem;

namespace {

fs::path on_path(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        if (!dir.empty() && ::access((fs::path(dir) / program).c_str(), X_OK) == 0) {
            return fs::path(dir) / program;
        }
    }
    return {};
}

/// The last non-empty line slirp4netns wrote (it says why it failed there).
std::string last_line(int memfd) {
    std::string text;
    char buf[4096];
    ssize_t n;
    off_t at = 0;
    while ((n = ::pread(memfd, buf, sizeof buf, at)) > 0) {
        text.append(buf, static_cast<std::size_t>(n));
        at += n;
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
        text.pop_back();
    }
    std::size_t nl = text.rfind('\n');
    return nl == std::string::npos ? text : text.substr(nl + 1);
}

/// Waits up to `limit` for `pid` to end (reaping it); false when it still runs.
bool reap_within(pid_t pid, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        int status = 0;
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) {
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        ::usleep(2000);
    }
}

} // namespace

Slirp::Slirp(Slirp&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), exit_(std::move(other.exit_)),
      ready_(std::move(other.ready_)), log_(std::move(other.log_)), exe_(std::move(other.exe_)),
      problem_(std::move(other.problem_)), handed_over_(other.handed_over_) {}

Slirp& Slirp::operator=(Slirp&& other) noexcept {
    if (this != &other) {
        Slirp gone(std::move(*this));
        pid_ = std::exchange(other.pid_, -1);
        exit_ = std::move(other.exit_);
        ready_ = std::move(other.ready_);
        log_ = std::move(other.log_);
        exe_ = std::move(other.exe_);
        problem_ = std::move(other.problem_);
        handed_over_ = other.handed_over_;
    }
    return *this;
}

Slirp::~Slirp() {
    exit_.reset(); // where it is another process's now, slirp4netns ends with that one
    if (pid_ <= 0 || handed_over_) {
        return;
    }
    // It keeps nothing worth a graceful end (the container is gone), and waiting for it to
    // notice the closed pipe costs ~20 ms a run: SIGKILL, then reap it.
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
}

Slirp Slirp::start(const std::string& netns_path, const fs::path& program) {
    Slirp s;
    fs::path exe = program.empty() ? on_path("slirp4netns") : program;
    if (exe.empty() || ::access(exe.c_str(), X_OK) != 0) {
        s.problem_ = program.empty()
                         ? "slirp4netns is not installed (not found on PATH; Debian package "
                           "'slirp4netns')"
                         : program.string() + " is not an executable file";
        return s;
    }
    int ready[2], quit[2];
    if (::pipe2(ready, O_CLOEXEC) != 0) {
        s.problem_ = std::string("pipe: ") + std::strerror(errno);
        return s;
    }
    UniqueFd ready_read(ready[0]), ready_write(ready[1]);
    if (::pipe2(quit, O_CLOEXEC) != 0) {
        s.problem_ = std::string("pipe: ") + std::strerror(errno);
        return s;
    }
    UniqueFd quit_read(quit[0]);
    s.exit_ = UniqueFd(quit[1]);
    UniqueFd log(::memfd_create("slirp4netns-output", MFD_CLOEXEC));
    std::vector<std::string> argv = {exe.string(),
                                     "--configure",
                                     "--mtu=65520",
                                     "--disable-host-loopback",
                                     "--netns-type=path",
                                     "--ready-fd=3",
                                     "--exit-fd=4",
                                     netns_path,
                                     "tap0"};
    UniqueFd null;
    if (!log) {
        null = UniqueFd(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    }
    SpawnOptions o;
    o.out_fd = log ? log.get() : null.get();
    o.own_group = true; // the terminal's Ctrl-C is the container's, not the network's
    o.fds = {{3, ready_write.get()}, {4, quit_read.get()}};
    pid_t pid = -1;
    try {
        pid = spawn(argv, o).pid;
    } catch (const Error& e) {
        s.problem_ = e.what();
        return s;
    }
    s.pid_ = pid;
    ready_write.reset();
    quit_read.reset();
    s.ready_ = std::move(ready_read);
    s.log_ = std::move(log);
    s.exe_ = exe.string();
    return s;
}

bool Slirp::wait_ready() {
    if (pid_ <= 0 || !ready_) {
        return pid_ > 0;
    }
    pollfd p{ready_.get(), POLLIN, 0};
    char byte = 0;
    int rc;
    do {
        rc = ::poll(&p, 1, 10000);
    } while (rc < 0 && errno == EINTR);
    bool configured = rc > 0 && ::read(ready_.get(), &byte, 1) == 1;
    ready_.reset();
    if (configured) {
        log_.reset();
        return true;
    }
    std::string why = log_ ? last_line(log_.get()) : "";
    log_.reset();
    exit_.reset();
    if (!reap_within(pid_, std::chrono::seconds(2))) {
        ::kill(pid_, SIGKILL);
        reap_within(pid_, std::chrono::seconds(2));
    }
    pid_ = -1;
    problem_ = exe_ + (rc == 0 ? " did not configure the network within 10 s" : " failed") +
               (why.empty() ? "" : ": " + why);
    return false;
}

} // namespace ocibake::detail
