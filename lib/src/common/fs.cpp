#include "common/fs.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
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

} // namespace ocibake::detail
