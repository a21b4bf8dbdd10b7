#include "runtime/rootfs.hpp"

#include <cerrno>
#include <deque>
#include <dirent.h>
#include <fcntl.h>
#include <memory>
#include <unistd.h>
#include <vector>

namespace ocibake::detail {

namespace {

UniqueFd open_dir_at(int dir, const std::string& name, int flags) {
    int fd;
    do {
        fd = ::openat(dir, name.c_str(), flags | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    return UniqueFd(fd);
}

UniqueFd dup_fd(int fd) {
    int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) {
        throw_errno(ErrorKind::io, "dup", errno);
    }
    return UniqueFd(copy);
}

struct DirCloser {
    void operator()(DIR* d) const noexcept { ::closedir(d); }
};

} // namespace

RootDir::RootDir(const std::filesystem::path& root) : path_(root) {
    fd_ = open_dir_at(AT_FDCWD, root.string(), O_PATH);
    if (!fd_) {
        throw_errno(ErrorKind::io, "cannot open " + root.string(), errno);
    }
}

namespace {

/// walk_tree() over a real directory: one openat() at a time, O_NOFOLLOW.
struct FdTree {
    using Dir = UniqueFd;
    int root;

    int fd(const Dir* at) const { return at ? at->get() : root; }
    NodeInfo look(const Dir* at, const std::string& name, const std::string& what) const {
        struct stat st;
        if (::fstatat(fd(at), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT) {
                throw_errno(ErrorKind::io, what, errno);
            }
            return {};
        }
        NodeInfo node;
        if (S_ISLNK(st.st_mode)) {
            node.type = NodeInfo::Type::symlink;
            std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
            ssize_t n = ::readlinkat(fd(at), name.c_str(), target.data(), target.size());
            if (n < 0) {
                throw_errno(ErrorKind::io, what, errno);
            }
            target.resize(static_cast<std::size_t>(n));
            node.target = std::move(target);
        } else if (S_ISDIR(st.st_mode)) {
            node.type = NodeInfo::Type::directory;
        } else {
            node.type = NodeInfo::Type::other;
        }
        return node;
    }
    void make_dir(const Dir* at, const std::string& name, const std::string& what) const {
        if (::mkdirat(fd(at), name.c_str(), 0755) != 0 && errno != EEXIST) {
            throw_errno(ErrorKind::io, what, errno);
        }
    }
    Dir enter(const Dir* at, const std::string& name, const std::string& what) const {
        UniqueFd next = open_dir_at(fd(at), name, O_PATH);
        if (!next) {
            throw_errno(ErrorKind::io, what, errno);
        }
        return next;
    }
    Dir hold(const Dir* at) const { return dup_fd(fd(at)); }
};

} // namespace

std::optional<RootDir::Location> RootDir::walk(std::string_view path, Symlinks mode, bool create,
                                               bool follow_final, const std::string& what) const {
    FdTree tree{fd_.get()};
    auto found = walk_tree(tree, path, mode, create, follow_final, what);
    if (!found) {
        return std::nullopt;
    }
    return Location{std::move(found->first), std::move(found->second)};
}

std::optional<RootDir::Location> RootDir::parent(std::string_view path, Symlinks mode, bool create,
                                                 const std::string& what) const {
    return walk(path, mode, create, false, what);
}

std::optional<RootDir::Location> RootDir::resolve(std::string_view path, bool follow) const {
    return walk(path, Symlinks::scoped, false, follow, path_.string() + "/" + std::string(path));
}

std::optional<struct stat> RootDir::stat_at(const Location& at) {
    struct stat st;
    if (::fstatat(at.dir.get(), at.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return std::nullopt;
    }
    return st;
}

std::optional<std::string> RootDir::read_file(std::string_view path, std::size_t max_size) const {
    auto at = resolve(path, true);
    if (!at) {
        return std::nullopt;
    }
    // Regular files only, known before opening: opening a FIFO blocks until a writer comes
    // (an image's /etc/passwd made `run` hang), and opening a device node can do anything
    // (as root: a watchdog starts). O_NONBLOCK and the fstat below cover a swap meanwhile.
    if (auto st = stat_at(*at); !st || !S_ISREG(st->st_mode)) {
        return std::nullopt;
    }
    int raw = ::openat(at->dir.get(), at->name.c_str(),
                       O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (raw < 0) {
        return std::nullopt;
    }
    UniqueFd fd(raw);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        return std::nullopt;
    }
    std::string out;
    char buf[65536];
    while (out.size() < max_size) {
        std::size_t n = read_some(fd.get(), buf, std::min(sizeof buf, max_size - out.size()),
                                  path_.string() + "/" + std::string(path));
        if (n == 0) {
            break;
        }
        out.append(buf, n);
    }
    return out;
}

void RootDir::write_file(std::string_view path, std::string_view content, unsigned mode) const {
    std::string what = "cannot write " + std::string(path) + " in " + path_.string();
    auto at = walk(path, Symlinks::scoped, true, false, what);
    if (!at || at->name == ".") {
        throw Error(ErrorKind::io, what);
    }
    remove_at(at->dir.get(), at->name, what);
    int raw = ::openat(at->dir.get(), at->name.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (raw < 0) {
        throw_errno(ErrorKind::io, what, errno);
    }
    UniqueFd fd(raw);
    write_all(fd.get(), content.data(), content.size(), path);
    ::fchmod(fd.get(), mode);
}

void remove_at(int dir, const std::string& name, const std::string& what) {
    if (::unlinkat(dir, name.c_str(), 0) == 0 || errno == ENOENT) {
        return;
    }
    if (errno != EISDIR && errno != EPERM) {
        throw_errno(ErrorKind::io, what + ": cannot remove " + in_quotes(name), errno);
    }
    UniqueFd sub = open_dir_at(dir, name, O_RDONLY);
    if (!sub) {
        throw_errno(ErrorKind::io, what + ": cannot open " + in_quotes(name), errno);
    }
    std::unique_ptr<DIR, DirCloser> listing(::fdopendir(sub.get()));
    if (!listing) {
        throw_errno(ErrorKind::io, what + ": cannot list " + in_quotes(name), errno);
    }
    int sub_fd = sub.release(); // owned by the DIR now
    std::vector<std::string> children;
    while (dirent* d = ::readdir(listing.get())) {
        std::string child = d->d_name;
        if (child != "." && child != "..") {
            children.push_back(std::move(child));
        }
    }
    for (const std::string& child : children) {
        remove_at(sub_fd, child, what);
    }
    listing.reset();
    if (::unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
        throw_errno(ErrorKind::io, what + ": cannot remove " + in_quotes(name), errno);
    }
}

} // namespace ocibake::detail
