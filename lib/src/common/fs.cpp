#include "common/fs.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

namespace ocibake::detail {

void throw_errno(ErrorKind kind, const std::string& what, int err) {
    throw Error(kind, what + ": " + std::strerror(err));
}

void UniqueFd::reset(int fd) noexcept {
    if (fd_ >= 0) {
        ::close(fd_);
    }
    fd_ = fd;
}

UniqueFd open_file(const std::filesystem::path& path, int flags, ErrorKind kind, unsigned mode) {
    int fd;
    do {
        fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        throw_errno(kind, "cannot open " + path.string(), errno);
    }
    return UniqueFd(fd);
}

void write_all(int fd, const void* data, std::size_t size, std::string_view path) {
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
        ssize_t n = ::write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw_errno(ErrorKind::io, "cannot write " + std::string(path), errno);
        }
        p += n;
        size -= static_cast<std::size_t>(n);
    }
}

std::size_t read_some(int fd, void* data, std::size_t size, std::string_view path, ErrorKind kind) {
    for (;;) {
        ssize_t n = ::read(fd, data, size);
        if (n >= 0) {
            return static_cast<std::size_t>(n);
        }
        if (errno != EINTR) {
            throw_errno(kind, "cannot read " + std::string(path), errno);
        }
    }
}

namespace {

const char* file_type_name(mode_t mode) {
    switch (mode & S_IFMT) {
    case S_IFDIR:
        return "a directory";
    case S_IFIFO:
        return "a FIFO";
    case S_IFSOCK:
        return "a socket";
    case S_IFCHR:
        return "a character device";
    case S_IFBLK:
        return "a block device";
    default:
        return "a special file";
    }
}

/// open_regular(); `opened` tells whether open(2) itself succeeded.
UniqueFd open_regular(const std::filesystem::path& path, std::string& why, bool& opened) {
    opened = false;
    int raw;
    do {
        raw = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    } while (raw < 0 && errno == EINTR);
    if (raw < 0) {
        why = std::strerror(errno);
        return {};
    }
    opened = true;
    UniqueFd fd(raw);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        why = std::strerror(errno);
        return {};
    }
    if (!S_ISREG(st.st_mode)) {
        why = std::string("it is ") + file_type_name(st.st_mode) + ", not a regular file";
        return {};
    }
    // Back to blocking reads (no difference for a regular file, but no surprise either).
    int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags >= 0) {
        ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
    }
    return fd;
}

} // namespace

UniqueFd open_regular(const std::filesystem::path& path, std::string& why) {
    bool opened = false;
    return open_regular(path, why, opened);
}

UniqueFd open_regular(const std::filesystem::path& path, ErrorKind kind) {
    std::string why;
    bool opened = false;
    UniqueFd fd = open_regular(path, why, opened);
    if (!fd) {
        throw Error(kind, (opened ? "cannot read " : "cannot open ") + path.string() + ": " + why);
    }
    return fd;
}

bool read_all(int fd, const std::filesystem::path& path, ErrorKind kind, std::size_t max_size,
              std::string& out) {
    char buf[65536];
    for (;;) {
        std::size_t n = read_some(fd, buf, sizeof buf, path.native(), kind);
        if (n == 0) {
            return true;
        }
        if (out.size() + n > max_size) {
            return false;
        }
        out.append(buf, n);
    }
}

std::string read_file(const std::filesystem::path& path, ErrorKind kind, std::size_t max_size) {
    UniqueFd fd = open_regular(path, kind);
    std::string out;
    if (!read_all(fd.get(), path, kind, max_size, out)) {
        throw Error(kind, path.string() + " is larger than " + std::to_string(max_size) + " bytes");
    }
    return out;
}

void sync_fd(int fd, const std::filesystem::path& path) {
    if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
        throw_errno(ErrorKind::io, "cannot fsync " + path.string(), errno);
    }
}

void sync_dir(const std::filesystem::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

std::string random_suffix() {
    unsigned char bytes[8];
    std::size_t got = 0;
    while (got < sizeof bytes) {
        ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw_errno(ErrorKind::internal, "getrandom", errno);
        }
        got += static_cast<std::size_t>(n);
    }
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned char b : bytes) {
        out += hex[b >> 4];
        out += hex[b & 15];
    }
    return out;
}

void atomic_write_file(const std::filesystem::path& dest, std::string_view content, unsigned mode,
                       bool durable) {
    std::filesystem::path tmp = dest;
    tmp += ".tmp-" + random_suffix();
    {
        UniqueFd fd = open_file(tmp, O_WRONLY | O_CREAT | O_EXCL, ErrorKind::io, mode);
        try {
            write_all(fd.get(), content.data(), content.size(), tmp.native());
            if (::fchmod(fd.get(), mode) != 0) {
                throw_errno(ErrorKind::io, "cannot chmod " + tmp.string(), errno);
            }
            if (durable) {
                sync_fd(fd.get(), tmp);
            }
        } catch (...) {
            ::unlink(tmp.c_str());
            throw;
        }
    }
    if (::rename(tmp.c_str(), dest.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        throw_errno(ErrorKind::io, "cannot rename " + tmp.string() + " to " + dest.string(), err);
    }
}

TempDir::~TempDir() {
    if (!path_.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
}

void replace_path(const std::filesystem::path& fresh, const std::filesystem::path& dest) {
    if (::renameat2(AT_FDCWD, fresh.c_str(), AT_FDCWD, dest.c_str(), RENAME_EXCHANGE) == 0) {
        // `fresh` now names the previous output.
        std::error_code ec;
        std::filesystem::remove_all(fresh, ec);
        return;
    }
    int err = errno;
    if (err == ENOENT) {
        // No previous output: a plain rename (which also refuses to clobber a new one).
        if (::rename(fresh.c_str(), dest.c_str()) == 0) {
            return;
        }
        err = errno;
    } else if (err == EINVAL || err == ENOSYS) {
        // No RENAME_EXCHANGE here: move the old one aside first.
        std::filesystem::path old = dest;
        old += ".old-" + random_suffix();
        if (::rename(dest.c_str(), old.c_str()) == 0) {
            if (::rename(fresh.c_str(), dest.c_str()) == 0) {
                std::error_code ec;
                std::filesystem::remove_all(old, ec);
                return;
            }
            err = errno;
            ::rename(old.c_str(), dest.c_str());
        } else {
            err = errno;
        }
    }
    throw_errno(ErrorKind::io, "cannot move " + fresh.string() + " to " + dest.string(), err);
}

namespace {

bool all_of(std::string_view s, bool (*ok)(char)) {
    if (s.empty()) {
        return false;
    }
    for (char c : s) {
        if (!ok(c)) {
            return false;
        }
    }
    return true;
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f');
}

std::string temp_prefix(const std::filesystem::path& target) {
    return "." + target.filename().string() + ".tmp-";
}

// flock(2), EINTR-safe; false when `nonblocking` and another holds it.
bool lock_fd(int fd, bool nonblocking, const std::filesystem::path& path) {
    int op = LOCK_EX | (nonblocking ? LOCK_NB : 0);
    while (::flock(fd, op) != 0) {
        if (errno == EINTR) {
            continue;
        }
        if (errno == EWOULDBLOCK && nonblocking) {
            return false;
        }
        throw_errno(ErrorKind::io, "cannot lock " + path.string(), errno);
    }
    return true;
}

// Whether process `pid` (decimal, at most 9 digits) exists.
bool process_runs(std::string_view pid) {
    pid_t p = static_cast<pid_t>(std::stol(std::string(pid)));
    return p > 0 && (::kill(p, 0) == 0 || errno == EPERM);
}

bool same_inode(int fd, const std::filesystem::path& path) {
    struct stat a {};
    struct stat b {};
    return ::fstat(fd, &a) == 0 && ::lstat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

} // namespace

const std::string& boot_id() {
    static const std::string id = [] {
        try {
            return read_file("/proc/sys/kernel/random/boot_id", ErrorKind::io, 128);
        } catch (const Error&) {
            return std::string();
        }
    }();
    return id;
}

std::uint64_t process_start_time(int pid) {
    if (pid <= 0) {
        return 0;
    }
    std::string stat;
    try {
        stat = read_file("/proc/" + std::to_string(pid) + "/stat", ErrorKind::io, 4096);
    } catch (const Error&) {
        return 0;
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; fields count
    // from the last ')'. The start time is field 22, the 20th after it.
    std::size_t at = stat.rfind(')');
    if (at == std::string::npos || at + 2 >= stat.size() || stat[at + 2] == 'Z' ||
        stat[at + 2] == 'X') {
        return 0; // ended (a zombie nobody reaped yet is no longer running)
    }
    for (int field = 2; at != std::string::npos && field < 22; ++field) {
        at = stat.find(' ', at + 1);
    }
    if (at == std::string::npos) {
        return 0;
    }
    return std::strtoull(stat.c_str() + at + 1, nullptr, 10);
}

bool process_alive(int pid, std::uint64_t start_time) {
    std::uint64_t now = process_start_time(pid);
    return now != 0 && now == start_time;
}

bool is_mounted(const std::filesystem::path& path) {
    // statx(2) says it directly (Linux 5.8): no read of the mount table, which is long on
    // a machine with containers and costs a warm run's teardown half a millisecond.
    struct statx sx {};
    if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE, &sx) ==
        0) {
        if ((sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0) {
            return (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
        }
    } else if (errno == ENOENT || errno == ENOTDIR) {
        return false;
    }
    std::string info;
    try {
        info = read_file("/proc/self/mountinfo", ErrorKind::io, 64 << 20);
    } catch (const Error&) {
        return false;
    }
    // Field 5 is the mount point, with space, tab, newline and backslash as octal escapes.
    std::string want;
    for (char c : path.lexically_normal().string()) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\\') {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\%03o", static_cast<unsigned char>(c));
            want += buf;
        } else {
            want += c;
        }
    }
    std::size_t start = 0;
    while (start < info.size()) {
        std::size_t end = info.find('\n', start);
        std::string_view line(info.data() + start,
                              (end == std::string::npos ? info.size() : end) - start);
        start = end == std::string::npos ? info.size() : end + 1;
        std::size_t pos = 0;
        for (int field = 0; field < 4 && pos != std::string_view::npos; ++field) {
            pos = line.find(' ', pos);
            pos = pos == std::string_view::npos ? pos : pos + 1;
        }
        if (pos != std::string_view::npos && line.substr(pos, line.find(' ', pos) - pos) == want) {
            return true;
        }
    }
    return false;
}

std::size_t remove_stale_output_temps(const std::filesystem::path& target) {
    namespace fs = std::filesystem;
    const std::string prefix = temp_prefix(target);
    fs::path dir = target.parent_path();
    std::size_t removed = 0;
    std::error_code ec;
    for (fs::directory_iterator it(dir.empty() ? fs::path(".") : dir, ec), end; !ec && it != end;
         it.increment(ec)) {
        std::string name = it->path().filename().string();
        if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) {
            continue;
        }
        std::string_view rest = std::string_view(name).substr(prefix.size());
        std::size_t dash = rest.find('-');
        bool current = dash != std::string_view::npos && dash <= 9 &&
                       all_of(rest.substr(0, dash), is_digit) && rest.size() - dash - 1 == 16 &&
                       all_of(rest.substr(dash + 1), is_hex);
        bool legacy = rest.size() == 16 && all_of(rest, is_hex);
        if (!current && !legacy) {
            continue; // not ours
        }
        fs::path path = it->path();
        int raw = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (raw < 0) {
            continue; // gone, or not something we made
        }
        UniqueFd fd(raw);
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
            continue;
        }
        auto age =
            std::chrono::system_clock::now() - std::chrono::system_clock::from_time_t(st.st_mtime);
        if (legacy && age < std::chrono::hours(1)) {
            continue;
        }
        if (current && age < std::chrono::minutes(10) && process_runs(rest.substr(0, dash))) {
            continue; // its writer holds the lock, or is about to take it
        }
        try {
            if (!lock_fd(fd.get(), /*nonblocking=*/true, path)) {
                continue; // its writer is running
            }
        } catch (const Error&) {
            continue;
        }
        // Locked by us now: no writer can be using it. Still the file we opened?
        if (!same_inode(fd.get(), path)) {
            continue;
        }
        std::error_code rm;
        fs::remove_all(path, rm);
        if (!rm) {
            ++removed;
        }
    }
    return removed;
}

OutputTemp::OutputTemp(const std::filesystem::path& target, Kind kind) {
    remove_stale_output_temps(target);
    const std::string prefix = temp_prefix(target);
    for (;;) {
        path_ =
            target.parent_path() / (prefix + std::to_string(::getpid()) + "-" + random_suffix());
        if (kind == Kind::directory) {
            if (::mkdir(path_.c_str(), 0755) != 0) {
                throw_errno(ErrorKind::io, "cannot create " + path_.string(), errno);
            }
            int fd = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fd < 0 && errno == ENOENT) {
                continue; // a cleaner took it already
            }
            if (fd < 0) {
                throw_errno(ErrorKind::io, "cannot open " + path_.string(), errno);
            }
            fd_ = UniqueFd(fd);
        } else {
            fd_ = open_file(path_, O_WRONLY | O_CREAT | O_EXCL, ErrorKind::io, 0644);
        }
        // A cleaner may have locked and removed it between the creation and our lock:
        // then its name is gone (or names another file), and we start again.
        lock_fd(fd_.get(), /*nonblocking=*/false, path_);
        if (same_inode(fd_.get(), path_)) {
            return;
        }
        fd_.reset();
    }
}

OutputTemp::~OutputTemp() {
    if (!done_) {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
}

void OutputTemp::commit(const std::filesystem::path& target) {
    replace_path(path_, target);
    done_ = true;
    fd_.reset(); // the lock goes with it
}

} // namespace ocibake::detail
