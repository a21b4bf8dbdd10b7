#include "support/support.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <poll.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

extern char** environ;

namespace ocibake::test {

namespace fs = std::filesystem;

ScratchDir::ScratchDir(std::string_view name) {
    std::string templ =
        (fs::temp_directory_path() / ("ocibake-" + std::string(name) + "-XXXXXX")).string();
    if (::mkdtemp(templ.data()) == nullptr) {
        throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
    }
    path_ = templ;
}

ScratchDir::~ScratchDir() {
    if (std::getenv("OCIBAKE_KEEP_TEST_DIRS") == nullptr) {
        std::error_code ec;
        // Make everything removable first (tests create unreadable dirs).
        for (auto it = fs::recursive_directory_iterator(
                 path_, fs::directory_options::skip_permission_denied, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (it->is_directory(ec) && !it->is_symlink(ec)) {
                ::chmod(it->path().c_str(), 0755);
            }
        }
        fs::remove_all(path_, ec);
    }
}

fs::path write_file(const fs::path& path, std::string_view content, unsigned mode) {
    fs::create_directories(path.parent_path());
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(content.data(), static_cast<std::streamsize>(content.size()));
        if (!out) {
            throw std::runtime_error("cannot write " + path.string());
        }
    }
    ::chmod(path.c_str(), mode);
    return path;
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot read " + path.string());
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void exec_in_child(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
    for (const auto& kv : env) {
        auto eq = kv.find('=');
        std::string key = kv.substr(0, eq);
        std::string value = eq == std::string::npos ? "" : kv.substr(eq + 1);
        if (value.empty() && eq == kv.size() - 1) {
            ::unsetenv(key.c_str());
        } else {
            ::setenv(key.c_str(), value.c_str(), 1);
        }
    }
    std::vector<char*> args;
    for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
}

CommandResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                  const fs::path& cwd, const std::string& stdin_data) {
    int out_pipe[2], err_pipe[2], in_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0 ||
        ::pipe2(in_pipe, O_CLOEXEC) != 0) {
        throw std::runtime_error("pipe failed");
    }
    pid_t pid = ::fork();
    if (pid < 0) {
        throw std::runtime_error("fork failed");
    }
    if (pid == 0) {
        ::dup2(in_pipe[0], 0);
        ::dup2(out_pipe[1], 1);
        ::dup2(err_pipe[1], 2);
        if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) {
            ::_exit(126);
        }
        exec_in_child(argv, env);
    }
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    ::close(in_pipe[0]);
    if (!stdin_data.empty()) {
        ssize_t ignored = ::write(in_pipe[1], stdin_data.data(), stdin_data.size());
        (void)ignored;
    }
    ::close(in_pipe[1]);
    CommandResult result;
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    int open_count = 2;
    char buf[65536];
    while (open_count > 0) {
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
                if (n <= 0) {
                    ::close(fds[i].fd);
                    fds[i].fd = -1;
                    --open_count;
                } else {
                    (i == 0 ? result.out : result.err).append(buf, static_cast<std::size_t>(n));
                }
            }
        }
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
}

namespace {

/// `text` quoted for sh: in single quotes, each ' written as '\''.
std::string sh_quoted(const std::string& text) {
    std::string out = "'";
    for (char c : text) {
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return out + "'";
}

} // namespace

CommandResult run_on_terminal(const std::vector<std::string>& argv,
                              const std::vector<std::string>& env) {
    std::string command;
    for (const std::string& kv : env) {
        auto eq = kv.find('=');
        command += kv.substr(0, eq + 1) + sh_quoted(kv.substr(eq + 1)) + " ";
    }
    for (const std::string& a : argv) {
        command += (&a == &argv.front() ? "" : " ") + sh_quoted(a);
    }
    return run({"script", "-qec", command, "/dev/null"});
}

CommandResult sh(const std::string& script, const std::vector<std::string>& env) {
    return run({"/bin/sh", "-c", script}, env);
}

bool wait_for_file(const std::filesystem::path& path) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!std::filesystem::exists(path)) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
}

int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        throw std::runtime_error("cannot bind a free port");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

std::vector<std::string> cli_argv(std::vector<std::string> args, const fs::path& cache) {
    args.insert(args.begin(), cli().string());
    if (!cache.empty()) {
        args.push_back("--cache-dir");
        args.push_back(cache.string());
    }
    return args;
}

CommandResult run_cli(std::vector<std::string> args, const fs::path& cache,
                      const std::vector<std::string>& env, const fs::path& cwd) {
    return run(cli_argv(std::move(args), cache), env, cwd);
}

CommandResult run_container(const fs::path& cache, const std::vector<std::string>& args,
                            const std::vector<std::string>& env) {
    std::vector<std::string> argv = {cli().string(), "run", "--cache-dir", cache.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, env);
}

std::vector<std::string> without_credentials(const fs::path& home) {
    return {"HOME=" + home.string(), "REGISTRY_AUTH_FILE=", "XDG_RUNTIME_DIR=", "DOCKER_CONFIG="};
}

ReadyProcess::ReadyProcess(std::vector<std::string> argv, const std::string& what,
                           const std::string& err_file) {
    int out[2];
    if (::pipe(out) != 0) {
        throw std::runtime_error("pipe failed");
    }
    pid_ = ::fork();
    if (pid_ == 0) {
        ::dup2(out[1], 1);
        ::close(out[0]);
        if (!err_file.empty()) {
            int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            ::dup2(err, 2);
        }
        exec_in_child(argv);
    }
    ::close(out[1]);
    out_fd_ = out[0];
    char c = 0;
    while (line_.size() < 64 && ::read(out_fd_, &c, 1) == 1 && c != '\n') {
        line_ += c;
    }
    if (!line_.starts_with("ready")) {
        stop();
        throw std::runtime_error(what + " did not start (is " + argv[0] + " installed?)");
    }
}

ReadyProcess::~ReadyProcess() {
    stop();
}

void ReadyProcess::stop() {
    if (out_fd_ >= 0) {
        ::close(out_fd_);
        out_fd_ = -1;
    }
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }
}

fs::path cli() {
    return OCIBAKE_CLI;
}
fs::path source_dir() {
    return OCIBAKE_SOURCE_DIR;
}

bool have_program(std::string_view program) {
    const char* path = std::getenv("PATH");
    std::stringstream ss(path ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(ss, dir, ':')) {
        if (::access((fs::path(dir) / program).c_str(), X_OK) == 0) {
            return true;
        }
    }
    return false;
}

bool matches_golden(std::string_view name, std::string_view actual) {
    fs::path path = source_dir() / "tests" / "golden" / std::string(name);
    if (const char* accept = std::getenv("OCIBAKE_ACCEPT_GOLDEN");
        accept && *accept && std::string(accept) != "0") {
        write_file(path, actual);
        return true;
    }
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        return false;
    }
    return read_file(path) == actual;
}

std::map<std::string, std::string> snapshot(const fs::path& root) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(root)) {
        if (e.is_regular_file()) {
            out[e.path().lexically_relative(root).string()] = read_file(e.path());
        }
    }
    return out;
}

std::string pseudo_random(std::size_t size, std::uint64_t seed) {
    std::string out(size, '\0');
    std::uint64_t x = seed;
    for (std::size_t i = 0; i < size; ++i) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out[i] = static_cast<char>((x * 0x2545F4914F6CDD1DULL) >> 56);
    }
    return out;
}

std::map<std::string, std::string> describe_tree(const fs::path& root) {
    std::map<std::string, std::string> out;
    for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
         ++it) {
        struct stat st;
        if (::lstat(it->path().c_str(), &st) != 0) {
            continue;
        }
        std::ostringstream d;
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
        if (S_ISDIR(st.st_mode)) {
            d << "dir " << mode;
        } else if (S_ISLNK(st.st_mode)) {
            d << "symlink " << mode << " -> " << fs::read_symlink(it->path()).string();
        } else if (S_ISREG(st.st_mode)) {
            d << "file " << mode << " " << st.st_size;
        } else {
            d << "other " << mode;
        }
        d << " " << st.st_uid << ":" << st.st_gid;
        out[it->path().lexically_relative(root).string()] = d.str();
    }
    return out;
}

} // namespace ocibake::test
