// The test harness: [[test]] entries against an unpacked image.
#include "ocibake/harness.hpp"
#include "common/names.hpp"
#include "common/regex.hpp"
#include "common/thread_pool.hpp"
#include "ocibake/cas.hpp"
#include "ocibake/digest.hpp"
#include "ocibake/run.hpp"
#include "runtime/rootfs.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

namespace ocibake {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using detail::RootDir;

namespace {

/// Patterns are matched against at most this much of a stream or file: with at most
/// Regex::kMaxStates states, one pattern costs about a second at worst.
constexpr std::size_t kMatchLimit = 256 << 10;

/// True when `pattern` matches somewhere in the first kMatchLimit bytes of `text`. The
/// recipe loader compiled it already, so a RegexError here is an API caller's mistake.
bool matches(std::string_view text, const std::string& pattern) {
    return detail::Regex::compile(pattern).search(text.substr(0, kMatchLimit));
}

std::string in_quotes(std::string_view text) {
    return "'" + std::string(text) + "'";
}

std::string octal(std::uint32_t mode) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04o", mode);
    return buf;
}

std::string json_list(const std::vector<std::string>& items) {
    std::string out;
    for (const std::string& item : items) {
        std::string quoted = "\"";
        for (char c : item) {
            quoted += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
        }
        out += (out.empty() ? "" : ", ") + quoted + "\"";
    }
    return "[" + out + "]";
}

std::string type_phrase(mode_t mode) {
    if (S_ISDIR(mode)) {
        return "a directory";
    }
    if (S_ISLNK(mode)) {
        return "a symlink";
    }
    if (S_ISREG(mode)) {
        return "a file";
    }
    return "a special file";
}

/// Checks `patterns` (must match) and `forbidden` (must not) against a stream.
void check_stream(std::vector<std::string>& reasons, std::string_view name, const std::string& text,
                  bool truncated, const std::vector<TestPattern>& patterns,
                  const std::vector<TestPattern>& forbidden) {
    std::string note;
    if (text.size() > kMatchLimit || truncated) {
        note = " (in its first " + std::to_string(std::min(text.size(), kMatchLimit)) + " bytes)";
    }
    for (const TestPattern& p : patterns) {
        if (!matches(text, p.regex)) {
            reasons.push_back(std::string(name) + " does not match /" + p.regex + "/" + note);
        }
    }
    for (const TestPattern& p : forbidden) {
        if (matches(text, p.regex)) {
            reasons.push_back(std::string(name) + " matches /" + p.regex + "/, but must not" +
                              note);
        }
    }
}

// ---- file and metadata tests -------------------------------------------------------------

void file_test(const TestSpec& t, const RootDir& root, TestResult& r) {
    std::string shown = t.path.starts_with('/') ? t.path : "/" + t.path;
    std::string rel = normalize_image_path(t.path, "");
    auto link = root.resolve(rel, false);
    auto lst = link ? RootDir::stat_at(*link) : std::nullopt;
    if (!t.exists) {
        if (lst) {
            r.reasons.push_back(in_quotes(shown) + " exists (" + type_phrase(lst->st_mode) +
                                "), but must not");
        }
        return;
    }
    if (!lst) {
        r.reasons.push_back(in_quotes(shown) + " does not exist");
        return;
    }
    bool about_link = t.target || (t.file_type && *t.file_type == EntryType::symlink);
    std::optional<RootDir::Location> at;
    std::optional<struct stat> st = lst;
    if (!about_link && S_ISLNK(lst->st_mode)) {
        at = root.resolve(rel, true);
        st = at ? RootDir::stat_at(*at) : std::nullopt;
        if (!st) {
            r.reasons.push_back(in_quotes(shown) + " is a dangling symlink");
            return;
        }
    } else {
        at = std::move(link);
    }
    if (t.file_type) {
        bool ok = (*t.file_type == EntryType::file && S_ISREG(st->st_mode)) ||
                  (*t.file_type == EntryType::directory && S_ISDIR(st->st_mode)) ||
                  (*t.file_type == EntryType::symlink && S_ISLNK(st->st_mode));
        if (!ok) {
            const char* want = *t.file_type == EntryType::file        ? "a file"
                               : *t.file_type == EntryType::directory ? "a directory"
                                                                      : "a symlink";
            r.reasons.push_back(in_quotes(shown) + " is " + type_phrase(st->st_mode) + ", not " +
                                want);
        }
    }
    if (t.mode && (st->st_mode & 07777) != *t.mode) {
        r.reasons.push_back(in_quotes(shown) + " has mode " + octal(st->st_mode & 07777) +
                            ", expected " + octal(*t.mode));
    }
    if (t.uid && st->st_uid != *t.uid) {
        r.reasons.push_back(in_quotes(shown) + " is owned by uid " + std::to_string(st->st_uid) +
                            ", expected " + std::to_string(*t.uid));
    }
    if (t.gid && st->st_gid != *t.gid) {
        r.reasons.push_back(in_quotes(shown) + " has gid " + std::to_string(st->st_gid) +
                            ", expected " + std::to_string(*t.gid));
    }
    if (t.target) {
        if (!S_ISLNK(st->st_mode)) {
            r.reasons.push_back(in_quotes(shown) + " is not a symlink");
        } else {
            std::string target(4096, '\0');
            ssize_t n = ::readlinkat(at->dir.get(), at->name.c_str(), target.data(), target.size());
            target.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
            if (target != *t.target) {
                r.reasons.push_back(in_quotes(shown) + " points to " + in_quotes(target) +
                                    ", expected " + in_quotes(*t.target));
            }
        }
    }
    if (!t.contains.empty()) {
        if (!S_ISREG(st->st_mode)) {
            r.reasons.push_back(in_quotes(shown) + " is " + type_phrase(st->st_mode) +
                                ": its contents cannot be checked");
            return;
        }
        std::optional<std::string> text = root.read_file(rel, kMatchLimit);
        for (const TestPattern& p : t.contains) {
            if (!text || !matches(*text, p.regex)) {
                r.reasons.push_back(
                    in_quotes(shown) + " does not match /" + p.regex + "/" +
                    (static_cast<std::uint64_t>(st->st_size) > kMatchLimit
                         ? " (in its first " + std::to_string(kMatchLimit) + " bytes)"
                         : ""));
            }
        }
    }
}

void metadata_test(const TestSpec& t, const oci::ImageConfig& image, TestResult& r) {
    const oci::ContainerConfig& c = image.config;
    for (const auto& [key, want] : t.env) {
        std::optional<std::string> have = c.env_value(key);
        if (!have) {
            r.reasons.push_back("env " + key + " is not set, expected " + in_quotes(want));
        } else if (*have != want) {
            r.reasons.push_back("env " + key + " is " + in_quotes(*have) + ", expected " +
                                in_quotes(want));
        }
    }
    auto list = [](const std::optional<std::vector<std::string>>& v) {
        return v ? json_list(*v) : std::string("not set");
    };
    if (t.entrypoint && c.entrypoint.value_or(std::vector<std::string>{}) != *t.entrypoint) {
        r.reasons.push_back("entrypoint is " + list(c.entrypoint) + ", expected " +
                            json_list(*t.entrypoint));
    }
    if (t.cmd && c.cmd.value_or(std::vector<std::string>{}) != *t.cmd) {
        r.reasons.push_back("cmd is " + list(c.cmd) + ", expected " + json_list(*t.cmd));
    }
    for (const std::string& port : t.exposed_ports) {
        if (std::find(c.exposed_ports.begin(), c.exposed_ports.end(), port) ==
            c.exposed_ports.end()) {
            std::string have;
            for (const std::string& p : c.exposed_ports) {
                have += (have.empty() ? "" : ", ") + p;
            }
            r.reasons.push_back("port " + port + " is not exposed (exposed: " +
                                (have.empty() ? "none" : have) + ")");
        }
    }
    if (t.user && c.user != *t.user) {
        r.reasons.push_back("user is " + in_quotes(c.user) + ", expected " + in_quotes(*t.user));
    }
    if (t.workdir && c.working_dir != *t.workdir) {
        r.reasons.push_back("workdir is " + in_quotes(c.working_dir) + ", expected " +
                            in_quotes(*t.workdir));
    }
}

// ---- a root file system per container ---------------------------------------------------------

/// A writable overlay over the bundle's rootfs for one container: what the container
/// writes (and the mount points the runtime makes) land in the upper directory, which
/// is thrown away. Upper and work directories live on a tmpfs of their own, since
/// overlayfs refuses an upper directory on overlayfs (often the host's /).
class ScratchRoot {
public:
    /// Mounts it below `bundle`; nullopt (and `why`) when the kernel refuses.
    static std::unique_ptr<ScratchRoot> mount(const fs::path& bundle, const fs::path& lower,
                                              std::string& why) {
        std::string lower_text = lower.string();
        if (lower_text.find_first_of(",:") != std::string::npos) {
            why = "the rootfs path has ',' or ':', which overlayfs options cannot hold";
            return nullptr;
        }
        auto root = std::unique_ptr<ScratchRoot>(new ScratchRoot());
        root->base_ = bundle / ("run-" + detail::random_suffix().substr(0, 8));
        std::error_code ec;
        fs::create_directories(root->base_, ec);
        if (ec || ::mount("tmpfs", root->base_.c_str(), "tmpfs", MS_NOSUID, "mode=0700") != 0) {
            why = "cannot mount a tmpfs: " + std::string(std::strerror(ec ? ec.value() : errno));
            return nullptr;
        }
        root->tmpfs_ = true;
        for (const char* d : {"upper", "work", "merged"}) {
            fs::create_directories(root->base_ / d, ec);
        }
        ::chmod((root->base_ / "upper").c_str(), 0755);
        std::string options = "lowerdir=" + lower_text +
                              ",upperdir=" + (root->base_ / "upper").string() +
                              ",workdir=" + (root->base_ / "work").string();
        if (::mount("overlay", root->merged().c_str(), "overlay", 0, options.c_str()) != 0) {
            why = "cannot mount overlayfs: " + std::string(std::strerror(errno));
            return nullptr;
        }
        root->overlay_ = true;
        return root;
    }
    ~ScratchRoot() {
        if (overlay_) {
            ::umount2(merged().c_str(), MNT_DETACH);
        }
        if (tmpfs_) {
            ::umount2(base_.c_str(), MNT_DETACH);
        }
        std::error_code ec;
        fs::remove_all(base_, ec);
    }
    fs::path merged() const { return base_ / "merged"; }

private:
    ScratchRoot() = default;
    fs::path base_;
    bool tmpfs_ = false;
    bool overlay_ = false;
};

/// Where each container's root comes from. Normally run_image() mounts an overlay of the
/// store's unpacked layers for it. When the image had to be unpacked whole (`keep_bundle`,
/// or an image overlayfs cannot show as it is), an overlay over that unpacked rootfs while
/// the kernel allows it, else (from the first refusal on) the unpacked rootfs itself.
class Roots {
public:
    /// `unpacked`: the whole image's rootfs, or empty when run_image() makes the roots.
    explicit Roots(fs::path unpacked) : unpacked_(std::move(unpacked)) {}
    /// What a container holds while it runs: its overlay, or (on the shared rootfs) the
    /// right to be the only container on it.
    struct Use {
        std::unique_ptr<ScratchRoot> root;
        std::unique_lock<std::mutex> alone;
    };
    /// Sets request.shared_root; the returned object keeps its overlay alive. On the
    /// shared rootfs, containers take turns (whatever the job count), in case one writes.
    Use prepare(RunRequest& request) {
        if (unpacked_.empty()) {
            return {};
        }
        std::unique_lock lock(mutex_);
        if (!shared_) {
            std::string why;
            auto root = ScratchRoot::mount(unpacked_.parent_path(), unpacked_, why);
            if (root) {
                request.shared_root = root->merged();
                return {std::move(root), {}};
            }
            shared_ = true;
            why_ = why;
        }
        lock.unlock();
        request.shared_root = unpacked_;
        return {nullptr, std::unique_lock(alone_)};
    }
    std::string describe() const {
        std::lock_guard lock(mutex_);
        return shared_ ? "one rootfs shared by all containers (" + why_ + ")"
                       : "an overlay per container";
    }

private:
    fs::path unpacked_;
    bool shared_ = false;
    std::string why_;
    mutable std::mutex mutex_;
    std::mutex alone_;
};

/// What every test's container shares.
struct TestContext {
    const PreparedImage& image;
    const OciRuntime* runtime; ///< set when a command or service test runs
    const Interrupt* interrupt;
    Roots& roots;
};

// ---- command and service tests -------------------------------------------------------------

ContainerOverrides overrides_for(const TestSpec& t) {
    ContainerOverrides o;
    if (t.args) {
        o.args = *t.args;
    } else if (t.shell) {
        o.args = std::vector<std::string>{"/bin/sh", "-c", *t.shell};
    }
    for (const auto& [key, value] : t.env) {
        o.env.push_back(key + "=" + value);
    }
    return o;
}

void keep_output(TestResult& r, const ProcessResult& p) {
    r.exit_code = p.exit_code;
    r.out = p.out;
    r.err = p.err;
}

RunRequest request_for(const TestSpec& t, const GpuEdits* gpu) {
    RunRequest request;
    request.overrides = overrides_for(t);
    if (gpu != nullptr) {
        request.adjust = [gpu](const Bundle& bundle, ContainerSpec& spec) {
            apply_gpu_edits(*gpu, bundle, spec);
        };
    }
    return request;
}

/// One run of a command test's container; false when it did not run to an exit code.
bool run_command(const TestSpec& t, const TestContext& ctx, const GpuEdits* gpu, TestResult& r,
                 ProcessResult& p) {
    RunRequest request = request_for(t, gpu);
    request.mode = RunMode::captured;
    request.limits.timeout = std::chrono::seconds(t.timeout);
    auto scratch = ctx.roots.prepare(request);
    p = run_image(ctx.image, *ctx.runtime, request, ctx.interrupt).result;
    keep_output(r, p);
    if (!p.runtime_error.empty()) {
        r.reasons.push_back("the runtime could not run the container: " + p.runtime_error);
        return false;
    }
    if (p.timed_out) {
        r.reasons.push_back("timed out after " + std::to_string(t.timeout) + "s (killed)");
        return false;
    }
    return true;
}

void check_command(const TestSpec& t, const ProcessResult& p, std::vector<std::string>& reasons) {
    if (p.exit_code != t.exit_code) {
        reasons.push_back("exit code " + std::to_string(p.exit_code) + ", expected " +
                          std::to_string(t.exit_code));
    }
    check_stream(reasons, "stdout", p.out, p.out_truncated, t.stdout_match, t.stdout_not);
    check_stream(reasons, "stderr", p.err, p.err_truncated, t.stderr_match, t.stderr_not);
}

void command_test(const TestSpec& t, const TestContext& ctx, const GpuEdits* gpu, TestResult& r) {
    ProcessResult first;
    if (!run_command(t, ctx, gpu, r, first)) {
        return;
    }
    check_command(t, first, r.reasons);
    if (!t.distinct || !r.reasons.empty()) {
        return;
    }
    // A second, fresh container: it must pass too, and print something else.
    ProcessResult second;
    if (!run_command(t, ctx, gpu, r, second)) {
        r.reasons.back().insert(0, "second container: ");
        return;
    }
    std::vector<std::string> again;
    check_command(t, second, again);
    for (auto& reason : again) {
        r.reasons.push_back("second container: " + reason);
    }
    if (again.empty() && second.out == first.out) {
        r.reasons.push_back("two containers printed the same stdout (distinct = true)");
    }
    if (!r.reasons.empty()) {
        r.out = "== first container\n" + first.out + "== second container\n" + second.out;
    }
}

bool port_open(std::uint16_t port) {
    detail::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        return false;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

struct HttpAnswer {
    int status = 0;
    std::string body;
    std::string error; ///< set when no answer could be read
};

/// GET over loopback with a plain socket (HTTP/1.0: no chunked answers, the server
/// closes when done).
HttpAnswer http_get(std::uint16_t port, const std::string& path, std::chrono::milliseconds limit) {
    HttpAnswer a;
    detail::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        a.error = std::string("cannot connect: ") + std::strerror(errno);
        return a;
    }
    std::string request = "GET " + path + " HTTP/1.0\r\nHost: localhost:" + std::to_string(port) +
                          "\r\nUser-Agent: ocibake-test\r\nConnection: close\r\n\r\n";
    if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
        a.error = std::string("cannot send the request: ") + std::strerror(errno);
        return a;
    }
    std::string answer;
    auto deadline = Clock::now() + limit;
    char buf[65536];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        pollfd p{fd.get(), POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
            a.error =
                "no complete answer within " +
                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(limit).count()) +
                "s";
            return a;
        }
        ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        if (answer.size() < (4u << 20)) {
            answer.append(buf, static_cast<std::size_t>(n));
        }
    }
    std::size_t space = answer.find(' ');
    if (!answer.starts_with("HTTP/") || space == std::string::npos) {
        a.error = "not an HTTP answer: " + in_quotes(answer.substr(0, 40));
        return a;
    }
    a.status = std::atoi(answer.c_str() + space + 1);
    std::size_t body = answer.find("\r\n\r\n");
    a.body = body == std::string::npos ? "" : answer.substr(body + 4);
    return a;
}

/// A running service: ready, answering, stopped as `docker stop` would.
void watch_service(const TestSpec& t, const std::string& stop_signal, Container& c, TestResult& r) {
    auto ready_by = Clock::now() + std::chrono::seconds(t.ready_timeout);
    bool ready = false;
    bool running = true;
    while (running && Clock::now() < ready_by) {
        if (port_open(t.port)) {
            ready = true;
            break;
        }
        running = c.poll(std::chrono::milliseconds(50));
    }
    if (!ready) {
        if (!running) {
            std::optional<ProcessResult> p = c.wait(std::chrono::seconds(1));
            if (p) {
                keep_output(r, *p);
                r.reasons.push_back(
                    p->runtime_error.empty()
                        ? "the service exited with code " + std::to_string(p->exit_code) +
                              " before port " + std::to_string(t.port) + " accepted connections"
                        : "the runtime could not run the container: " + p->runtime_error);
                return;
            }
        }
        r.reasons.push_back("port " + std::to_string(t.port) +
                            " did not accept connections within " +
                            std::to_string(t.ready_timeout) + "s");
    }
    if (ready && t.http_path) {
        HttpAnswer a = http_get(t.port, *t.http_path, std::chrono::seconds(10));
        std::string what = "GET " + *t.http_path;
        if (!a.error.empty()) {
            r.reasons.push_back(what + ": " + a.error);
        } else {
            if (a.status != t.http_status) {
                r.reasons.push_back(what + " answered " + std::to_string(a.status) + ", expected " +
                                    std::to_string(t.http_status));
            }
            check_stream(r.reasons, what + " body", a.body, false, t.http_body, {});
        }
    }
    // Stop it as `docker stop` would: its stop signal, then KILL after stop_timeout.
    const std::string& signal = stop_signal;
    c.kill(signal.empty() ? "TERM" : signal);
    std::optional<ProcessResult> p = c.wait(std::chrono::seconds(t.stop_timeout));
    if (!p) {
        c.kill("KILL");
        p = c.wait(std::chrono::seconds(10));
        r.reasons.push_back("the service did not stop within " + std::to_string(t.stop_timeout) +
                            "s of " + (signal.empty() ? "SIGTERM" : signal) +
                            " (it was killed): does it handle the signal? (PID 1 ignores "
                            "signals it has no handler for)");
    }
    if (p) {
        keep_output(r, *p);
    }
}

void service_test(const TestSpec& t, const TestContext& ctx, const GpuEdits* gpu, TestResult& r) {
    if (port_open(t.port)) {
        r.reasons.push_back("port " + std::to_string(t.port) +
                            " is already in use on this host before the service started");
        return;
    }
    RunRequest request = request_for(t, gpu);
    request.overrides.network = Network::host;
    request.mode = RunMode::service;
    std::string stop_signal = ctx.image.config().config.stop_signal;
    request.with_container = [&](Container& c) { watch_service(t, stop_signal, c, r); };
    auto scratch = ctx.roots.prepare(request); // outlives the container
    run_image(ctx.image, *ctx.runtime, request, ctx.interrupt);
}

/// The environment a test's container starts with: the image's, then the test's.
std::vector<std::string> test_env(const TestSpec& t, const oci::ImageConfig& image) {
    std::vector<std::string> env = image.config.env;
    for (const auto& [key, value] : t.env) {
        std::string entry = key + "=" + value;
        auto it = std::find_if(env.begin(), env.end(), [&key = key](const std::string& e) {
            return e.starts_with(key + "=");
        });
        if (it != env.end()) {
            *it = entry;
        } else {
            env.push_back(entry);
        }
    }
    return env;
}

} // namespace

constexpr detail::Named<TestStatus> test_status_names[] = {
    {TestStatus::passed, "pass"},
    {TestStatus::failed, "fail"},
    {TestStatus::skipped, "skip"},
};

const char* to_string(TestStatus status) noexcept {
    return detail::name_of(test_status_names, status, "fail");
}

std::size_t TestReport::passed() const noexcept {
    return static_cast<std::size_t>(
        std::count_if(results.begin(), results.end(),
                      [](const auto& r) { return r.status == TestStatus::passed; }));
}
std::size_t TestReport::failed() const noexcept {
    return static_cast<std::size_t>(
        std::count_if(results.begin(), results.end(),
                      [](const auto& r) { return r.status == TestStatus::failed; }));
}
std::size_t TestReport::skipped() const noexcept {
    return static_cast<std::size_t>(
        std::count_if(results.begin(), results.end(),
                      [](const auto& r) { return r.status == TestStatus::skipped; }));
}

namespace {

/// Which test runs next: of those that may start now, the one that took longest the last
/// time (`costs`; a test without one first), then the first in the recipe's order. A test
/// waits for those it names in `after`; a `serial` test runs alone; service tests on one
/// host port never run together. `after` only names earlier tests: nothing waits forever.
class Schedule {
public:
    Schedule(const std::vector<TestSpec>& tests, const std::map<std::string, double>& costs)
        : tests_(tests), state_(tests.size(), State::waiting) {
        for (std::size_t i = 0; i < tests.size(); ++i) {
            index_.emplace(tests[i].name, i);
            order_.push_back(i);
        }
        auto cost = [&](std::size_t i) {
            auto it = costs.find(tests[i].name);
            return it == costs.end() ? std::numeric_limits<double>::infinity() : it->second;
        };
        std::stable_sort(order_.begin(), order_.end(),
                         [&](std::size_t a, std::size_t b) { return cost(a) > cost(b); });
    }
    /// The next test to run (blocks while every waiting one must wait); nullopt when none
    /// is left to start, or after stop().
    std::optional<std::size_t> next() {
        std::unique_lock lock(mutex_);
        for (;;) {
            if (stopped_ || started_ == tests_.size()) {
                return std::nullopt;
            }
            for (std::size_t i : order_) {
                if (state_[i] == State::waiting && may_start(i)) {
                    state_[i] = State::running;
                    ++started_;
                    return i;
                }
            }
            changed_.wait(lock);
        }
    }
    void finish(std::size_t i) {
        {
            std::lock_guard lock(mutex_);
            state_[i] = State::done;
        }
        changed_.notify_all();
    }
    /// No test starts any more (an error or an interrupt ends the run).
    void stop() {
        {
            std::lock_guard lock(mutex_);
            stopped_ = true;
        }
        changed_.notify_all();
    }

private:
    enum class State { waiting, running, done };
    bool may_start(std::size_t i) const {
        const TestSpec& t = tests_[i];
        for (const std::string& name : t.after) {
            auto it = index_.find(name);
            if (it != index_.end() && state_[it->second] != State::done) {
                return false;
            }
        }
        for (std::size_t j = 0; j < tests_.size(); ++j) {
            if (state_[j] != State::running) {
                continue;
            }
            const TestSpec& other = tests_[j];
            if (t.serial || other.serial) {
                return false;
            }
            if (t.type == TestType::service && other.type == TestType::service &&
                t.port == other.port) {
                return false;
            }
        }
        return true;
    }

    const std::vector<TestSpec>& tests_;
    std::map<std::string, std::size_t> index_;
    std::vector<std::size_t> order_; ///< the order tests are tried in
    std::vector<State> state_;
    std::size_t started_ = 0;
    bool stopped_ = false;
    std::mutex mutex_;
    std::condition_variable changed_;
};

/// Hands finished results to TestOptions::on_result in the recipe's order.
class InOrder {
public:
    InOrder(std::vector<TestResult>& results, const std::function<void(const TestResult&)>& tell)
        : results_(results), tell_(tell), done_(results.size(), false) {}
    void done(std::size_t i) {
        std::lock_guard lock(mutex_);
        done_[i] = true;
        while (next_ < done_.size() && done_[next_]) {
            if (tell_) {
                tell_(results_[next_]);
            }
            ++next_;
        }
    }

private:
    std::vector<TestResult>& results_;
    const std::function<void(const TestResult&)>& tell_;
    std::vector<bool> done_;
    std::size_t next_ = 0;
    std::mutex mutex_;
};

/// One test, into `r` (which has its name, type and, for a skipped GPU test, its status).
void run_one(const TestSpec& t, const TestContext& ctx, const RootDir& root,
             const std::optional<GpuEdits>& gpu, TestResult& r) {
    auto started = Clock::now();
    if (r.status != TestStatus::skipped) {
        try {
            switch (t.type) {
            case TestType::file:
                file_test(t, root, r);
                break;
            case TestType::metadata:
                metadata_test(t, ctx.image.config(), r);
                break;
            case TestType::command:
                command_test(t, ctx, gpu ? &*gpu : nullptr, r);
                break;
            case TestType::service:
                service_test(t, ctx, gpu ? &*gpu : nullptr, r);
                break;
            }
        } catch (const Error& e) {
            if (e.kind() == ErrorKind::runtime || e.kind() == ErrorKind::interrupted) {
                throw;
            }
            r.reasons.push_back(e.what());
        }
        r.status = r.reasons.empty() ? TestStatus::passed : TestStatus::failed;
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - started).count();
}

/// The test-cost record's key: the recipe's test names, in order.
std::string cost_key(const std::vector<TestSpec>& tests) {
    Sha256 names;
    for (const TestSpec& t : tests) {
        names.update(t.name + "\n");
    }
    return names.finish().hex();
}

/// How long each test took the last time (cache record test-cost), or nothing. (The
/// store is opened only for this: an open one holds the cache's lock, which `cache gc`
/// must not wait for while the tests run.)
std::map<std::string, double> last_costs(const fs::path& cache,
                                         const std::vector<TestSpec>& tests) {
    std::map<std::string, double> costs;
    std::optional<std::string> text = Store(cache).get_record("test-cost", cost_key(tests));
    std::istringstream in(text.value_or(""));
    double seconds = 0;
    std::string name;
    while (in >> seconds && std::getline(in >> std::ws, name)) {
        costs[name] = seconds;
    }
    return costs;
}

void keep_costs(const fs::path& cache, const std::vector<TestSpec>& tests,
                const std::vector<TestResult>& results) {
    std::string text;
    for (const TestResult& r : results) {
        if (r.status != TestStatus::skipped) {
            char line[64];
            std::snprintf(line, sizeof line, "%.3f ", r.seconds);
            text += line + r.name + "\n";
        }
    }
    Store(cache).put_record("test-cost", cost_key(tests), text);
}

} // namespace

TestReport run_tests(const std::vector<TestSpec>& tests, std::string_view reference,
                     const TestOptions& options) {
    auto started = Clock::now();
    PrepareOptions prepare;
    prepare.reference = std::string(reference);
    prepare.cache_dir = options.cache_dir;
    prepare.platform = options.platform;
    prepare.registry = options.registry;
    prepare.keep_bundle = options.keep_bundle;
    prepare.on_progress = options.on_progress;
    PreparedImage image = prepare_image(prepare, options.interrupt);
    TestReport report;
    report.image = std::string(reference);
    report.digest = image.digest();
    report.jobs = detail::resolve_threads(options.jobs);

    // One root for file tests; when it had to be a full unpack, containers start from it.
    fs::path dir = options.keep_bundle.empty() ? new_bundle_path() : options.keep_bundle;
    ContainerRoot view(image, dir, options.interrupt, !options.keep_bundle.empty());
    RootDir root(view.rootfs());
    Roots roots(view.overlay() ? fs::path() : view.rootfs());

    // First, in the recipe's order (so the report is the same for any job count): which
    // tests get GPUs, which are skipped, and the runtime when any test needs one.
    std::vector<TestResult> results(tests.size());
    std::vector<std::optional<GpuEdits>> gpus(tests.size());
    bool needs_runtime = false;
    for (std::size_t i = 0; i < tests.size(); ++i) {
        const TestSpec& t = tests[i];
        TestResult& r = results[i];
        r.name = t.name;
        r.type = t.type;
        if (t.gpu) {
            std::vector<std::string> env = test_env(t, image.config());
            gpus[i] = find_gpus(options.gpu_host, options.gpus, env);
            std::string why = gpus[i] ? "" : no_gpu_reason(options.gpu_host, options.gpus, env);
            if (report.gpus.empty()) {
                report.gpus = gpus[i] ? gpus[i]->summary() : "none: " + why;
            }
            if (!gpus[i]) {
                r.status = TestStatus::skipped;
                r.reasons.push_back("needs a GPU: " + why);
            }
        }
        needs_runtime =
            needs_runtime || (r.status != TestStatus::skipped &&
                              (t.type == TestType::command || t.type == TestType::service));
    }
    std::optional<OciRuntime> runtime;
    if (needs_runtime) {
        runtime = find_runtime(options.runtime); // a host problem: not a test failure
        report.runtime = runtime->version();
    }

    // Then the tests, up to report.jobs at a time, the longest (the last time) first.
    fs::path cache = options.cache_dir.empty() ? Store::default_root() : options.cache_dir;
    Schedule schedule(tests, last_costs(cache, tests));
    InOrder in_order(results, options.on_result);
    std::mutex failure_mutex;
    std::exception_ptr failure;
    auto work = [&] {
        try {
            while (std::optional<std::size_t> i = schedule.next()) {
                if (options.interrupt != nullptr) {
                    options.interrupt->check();
                }
                TestContext ctx{image, runtime ? &*runtime : nullptr, options.interrupt, roots};
                run_one(tests[*i], ctx, root, gpus[*i], results[*i]);
                schedule.finish(*i);
                in_order.done(*i);
            }
        } catch (...) {
            std::lock_guard lock(failure_mutex);
            if (!failure) {
                failure = std::current_exception();
            }
            schedule.stop();
        }
    };
    std::size_t workers = std::min<std::size_t>(report.jobs, tests.size());
    if (workers <= 1) {
        work();
    } else {
        std::vector<std::thread> threads;
        for (std::size_t k = 0; k < workers; ++k) {
            threads.emplace_back(work);
        }
        for (std::thread& thread : threads) {
            thread.join();
        }
    }
    if (failure) {
        std::rethrow_exception(failure);
    }
    keep_costs(cache, tests, results);
    report.results = std::move(results);
    report.isolation = roots.describe();
    if (!image.note().empty()) {
        report.isolation += "; " + image.note();
    }
    report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return report;
}

} // namespace ocibake
