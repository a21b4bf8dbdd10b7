#include "ocibake/layer.hpp"

#include "common/fs.hpp"
#include "common/names.hpp"
#include "common/thread_pool.hpp"
#include "layer/changeset.hpp"
#include "layer/glob.hpp"
#include "layer/identity.hpp"
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <set>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace ocibake {

namespace fs = std::filesystem;

namespace {

using detail::identity_of;

std::string prefix_of(std::string_view origin) {
    return origin.empty() ? std::string() : std::string(origin) + ": ";
}

[[noreturn]] void fail_errno(std::string_view origin, const std::string& what, int err) {
    if (err == ENOENT) {
        throw Error(ErrorKind::input, prefix_of(origin) + what + " does not exist");
    }
    if (err == ELOOP) {
        throw Error(ErrorKind::input, prefix_of(origin) + what + ": symlink loop");
    }
    detail::throw_errno(ErrorKind::input, prefix_of(origin) + what, err);
}

std::uint32_t normalized_mode(const struct stat& st, const CopyOptions& o) {
    if (S_ISDIR(st.st_mode)) {
        if (o.dir_mode) {
            return *o.dir_mode;
        }
        return o.preserve_modes ? (st.st_mode & 07777) : 0755;
    }
    if (S_ISLNK(st.st_mode)) {
        return 0777;
    }
    if (o.file_mode) {
        return *o.file_mode;
    }
    if (o.preserve_modes) {
        return st.st_mode & 07777;
    }
    return (st.st_mode & 0111) ? 0755 : 0644;
}

std::vector<std::pair<std::string, std::string>> read_xattrs(const std::string& path,
                                                             std::string_view origin) {
    std::vector<std::pair<std::string, std::string>> out;
    ssize_t len = ::llistxattr(path.c_str(), nullptr, 0);
    if (len < 0) {
        if (errno == ENOTSUP) {
            return out;
        }
        fail_errno(origin, "cannot list xattrs of " + path, errno);
    }
    std::string names(static_cast<std::size_t>(len), '\0');
    len = ::llistxattr(path.c_str(), names.data(), names.size());
    if (len < 0) {
        fail_errno(origin, "cannot list xattrs of " + path, errno);
    }
    names.resize(static_cast<std::size_t>(len));
    for (std::size_t i = 0; i < names.size();) {
        std::string name(names.c_str() + i);
        i += name.size() + 1;
        // Host-specific labels (security.selinux, system.*) never travel.
        if (name.rfind("user.", 0) != 0 && name != "security.capability") {
            continue;
        }
        ssize_t vlen = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
        if (vlen < 0) {
            fail_errno(origin, "cannot read xattr " + name + " of " + path, errno);
        }
        std::string value(static_cast<std::size_t>(vlen), '\0');
        vlen = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
        if (vlen < 0) {
            fail_errno(origin, "cannot read xattr " + name + " of " + path, errno);
        }
        value.resize(static_cast<std::size_t>(vlen));
        out.emplace_back(std::move(name), std::move(value));
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string join(std::string_view dir, std::string_view name) {
    if (dir.empty()) {
        return std::string(name);
    }
    return std::string(dir) + "/" + std::string(name);
}

// Walks one add_tree() source. Directories are scanned by a few threads from a shared
// queue (listing and stat'ing is all system calls); the result never depends on their
// timing: entries are sorted later, and of several errors the one at the smallest path
// is reported. Host paths are plain strings: a tree can hold many thousands of entries,
// and std::filesystem::path would parse and keep each one.
class TreeWalker {
public:
    struct Found {
        LayerEntry entry;
        std::string link_key;
        std::string rel; // path below the source
    };

    TreeWalker(std::string root, std::string dst, const CopyOptions& options,
               std::string_view origin, std::uint64_t call)
        : root_(std::move(root)), dst_(std::move(dst)), options_(options), origin_(origin),
          call_(call) {
        for (const auto& g : options.include) {
            include_.emplace_back(g);
        }
        for (const auto& g : options.exclude) {
            exclude_.emplace_back(g);
        }
    }

    /// Every entry below the root directory (not the root itself), in no particular order.
    std::vector<Found> walk(const struct stat& root_st, unsigned threads) {
        queue_.push_back({root_, "", {{root_st.st_dev, root_st.st_ino}}});
        pending_ = 1;
        std::vector<Local> locals(threads > 0 ? threads : 1);
        std::vector<std::thread> helpers;
        for (std::size_t i = 1; i < locals.size(); ++i) {
            helpers.emplace_back([this, &local = locals[i]] { work(local); });
        }
        work(locals[0]);
        for (auto& t : helpers) {
            t.join();
        }

        std::vector<Found> found, dirs;
        std::vector<std::pair<std::string, std::exception_ptr>> errors;
        for (auto& l : locals) {
            std::move(l.found.begin(), l.found.end(), std::back_inserter(found));
            std::move(l.dirs.begin(), l.dirs.end(), std::back_inserter(dirs));
            std::move(l.errors.begin(), l.errors.end(), std::back_inserter(errors));
        }
        if (!errors.empty()) {
            auto first =
                std::min_element(errors.begin(), errors.end(),
                                 [](const auto& a, const auto& b) { return a.first < b.first; });
            std::rethrow_exception(first->second);
        }
        // A directory is kept when it matches `include` or holds something kept.
        std::set<std::string> needed;
        auto need_ancestors = [&](const std::string& rel) {
            for (std::size_t slash = rel.find('/'); slash != std::string::npos;
                 slash = rel.find('/', slash + 1)) {
                needed.insert(rel.substr(0, slash));
            }
        };
        if (!include_.empty()) {
            for (const auto& f : found) {
                need_ancestors(f.rel);
            }
            for (const auto& d : dirs) {
                if (detail::matches_any(include_, d.rel)) {
                    needed.insert(d.rel);
                    need_ancestors(d.rel);
                }
            }
        }
        for (auto& d : dirs) {
            if (include_.empty() || needed.count(d.rel) != 0) {
                found.push_back(std::move(d));
            }
        }
        return found;
    }

    /// A non-directory entry. `dfd`/`name` name the same file as `host`, relative to its
    /// directory.
    Found file_entry(const std::string& host, const std::string& rel, const struct stat& st,
                     int dfd, const char* name) {
        Found f{base_entry(rel, st, host), {}, rel};
        LayerEntry& e = f.entry;
        if (S_ISREG(st.st_mode)) {
            e.type = EntryType::file;
            e.source = host;
            e.size = static_cast<std::uint64_t>(st.st_size);
            e.identity = identity_of(st);
            if (st.st_nlink > 1) {
                f.link_key = std::to_string(call_) + ":" + std::to_string(st.st_dev) + ":" +
                             std::to_string(st.st_ino);
            }
            if (::faccessat(dfd, name, R_OK, 0) != 0) {
                fail_errno(origin_, "cannot read " + host, errno);
            }
        } else if (S_ISLNK(st.st_mode)) {
            e.type = EntryType::symlink;
            e.link_target = read_link(dfd, name, host);
        } else if (S_ISFIFO(st.st_mode)) {
            e.type = EntryType::fifo;
        } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
            e.type = S_ISCHR(st.st_mode) ? EntryType::char_device : EntryType::block_device;
            e.dev_major = major(st.st_rdev);
            e.dev_minor = minor(st.st_rdev);
        } else {
            throw Error(ErrorKind::input,
                        prefix_of(origin_) + host + " is a socket, which a layer cannot hold");
        }
        return f;
    }

    LayerEntry base_entry(const std::string& rel, const struct stat& st, const std::string& host) {
        LayerEntry e;
        e.path = rel.empty() ? dst_ : (dst_.empty() ? rel : dst_ + "/" + rel);
        e.mode = normalized_mode(st, options_);
        e.uid = options_.uid;
        e.gid = options_.gid;
        e.origin = std::string(origin_);
        if (options_.xattrs && !S_ISLNK(st.st_mode)) {
            e.xattrs = read_xattrs(host, origin_);
        }
        return e;
    }

private:
    using Ancestors = std::vector<std::pair<dev_t, ino_t>>;
    struct Task {
        std::string host;
        std::string rel;
        Ancestors ancestors; // for loop detection when following symlinks
    };
    struct Local {
        std::vector<Found> found;
        std::vector<Found> dirs;
        std::vector<std::pair<std::string, std::exception_ptr>> errors;
    };

    void work(Local& local) {
        for (;;) {
            Task task;
            {
                std::unique_lock lock(mutex_);
                more_.wait(lock, [&] { return !queue_.empty() || pending_ == 0; });
                if (queue_.empty()) {
                    return;
                }
                task = std::move(queue_.front());
                queue_.pop_front();
            }
            try {
                scan(task, local);
            } catch (...) {
                local.errors.emplace_back(task.rel, std::current_exception());
            }
            std::lock_guard lock(mutex_);
            if (--pending_ == 0) {
                more_.notify_all();
            }
        }
    }

    void scan(const Task& task, Local& local) {
        int dfd = ::open(task.host.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
            fail_errno(origin_, "cannot read directory " + task.host, errno);
        }
        detail::UniqueFd dir(dfd);
        for (const auto& name : list(dfd, task.host)) {
            std::string rel = join(task.rel, name);
            if (detail::matches_any(exclude_, rel)) {
                continue;
            }
            try {
                std::string host = task.host + "/" + name;
                if (name.starts_with(".wh.")) {
                    std::string image = dst_.empty() ? rel : dst_ + "/" + rel;
                    throw Error(ErrorKind::input,
                                prefix_of(origin_) + host + ": " + detail::whiteout_refusal(image) +
                                    " (rename it, or leave it out with exclude = [\"**/.wh.*\"])");
                }
                int at = dfd;
                const char* at_name = name.c_str();
                struct stat st;
                if (::fstatat(dfd, at_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                    fail_errno(origin_, "cannot stat " + host, errno);
                }
                if (S_ISLNK(st.st_mode) && options_.follow_symlinks) {
                    host = follow(host, st);
                    at = AT_FDCWD;
                    at_name = host.c_str();
                }
                if (S_ISDIR(st.st_mode)) {
                    auto key = std::make_pair(st.st_dev, st.st_ino);
                    if (std::find(task.ancestors.begin(), task.ancestors.end(), key) !=
                        task.ancestors.end()) {
                        throw Error(ErrorKind::input, prefix_of(origin_) + "symlink loop: " + host +
                                                          " leads back to a directory above it");
                    }
                    Found d{base_entry(rel, st, host), {}, rel};
                    d.entry.type = EntryType::directory;
                    local.dirs.push_back(std::move(d));
                    Ancestors ancestors = task.ancestors;
                    ancestors.push_back(key);
                    std::lock_guard lock(mutex_);
                    queue_.push_back({std::move(host), std::move(rel), std::move(ancestors)});
                    ++pending_;
                    more_.notify_one();
                    continue;
                }
                if (!include_.empty() && !detail::matches_any(include_, rel)) {
                    continue;
                }
                local.found.push_back(file_entry(host, rel, st, at, at_name));
            } catch (...) {
                local.errors.emplace_back(rel, std::current_exception());
            }
        }
    }

    std::vector<std::string> list(int dfd, const std::string& dir) {
        int fd = ::dup(dfd); // closedir() closes its own
        DIR* d = fd >= 0 ? ::fdopendir(fd) : nullptr;
        if (d == nullptr) {
            int err = errno;
            if (fd >= 0) {
                ::close(fd);
            }
            fail_errno(origin_, "cannot read directory " + dir, err);
        }
        std::unique_ptr<DIR, int (*)(DIR*)> guard(d, &::closedir);
        std::vector<std::string> names;
        errno = 0;
        while (dirent* ent = ::readdir(d)) {
            std::string_view name = ent->d_name;
            if (name != "." && name != "..") {
                names.emplace_back(name);
            }
        }
        if (errno != 0) {
            fail_errno(origin_, "cannot read directory " + dir, errno);
        }
        std::sort(names.begin(), names.end()); // the host's order never leaks
        return names;
    }

    std::string read_link(int dfd, const char* name, const std::string& path) {
        std::string target(256, '\0');
        for (;;) {
            ssize_t n = ::readlinkat(dfd, name, target.data(), target.size());
            if (n < 0) {
                fail_errno(origin_, "cannot read symlink " + path, errno);
            }
            if (static_cast<std::size_t>(n) < target.size()) {
                target.resize(static_cast<std::size_t>(n));
                return target;
            }
            target.resize(target.size() * 2);
        }
    }

    // With follow_symlinks, a link inside the tree is replaced by what it points to,
    // which must stay inside the tree.
    std::string follow(const std::string& link, struct stat& st) {
        std::error_code ec;
        fs::path target = fs::canonical(link, ec);
        if (ec) {
            fail_errno(origin_, "cannot follow symlink " + link, ec.value());
        }
        fs::path root = fs::canonical(root_, ec);
        auto rel = target.lexically_relative(root);
        if (rel.empty() || *rel.begin() == "..") {
            throw Error(ErrorKind::input, prefix_of(origin_) + "symlink " + link +
                                              " points outside " + root_ + " (to " +
                                              target.string() + ")");
        }
        if (::stat(target.c_str(), &st) != 0) {
            fail_errno(origin_, "cannot follow symlink " + link, errno);
        }
        return target.string();
    }

    std::string root_;
    std::string dst_;
    const CopyOptions& options_;
    std::string_view origin_;
    std::uint64_t call_;
    std::vector<detail::Glob> include_;
    std::vector<detail::Glob> exclude_;

    std::mutex mutex_;
    std::condition_variable more_;
    std::deque<Task> queue_;
    std::size_t pending_ = 0; // tasks queued or being scanned
};

// An entry stated in full by the caller (add_file, add_content, add_directory, ...).
LayerEntry stated_entry(std::string_view dst, EntryType type, std::uint32_t mode, std::uint32_t uid,
                        std::uint32_t gid, std::string_view origin) {
    LayerEntry e;
    e.path = normalize_image_path(dst, origin);
    e.type = type;
    e.mode = mode;
    e.uid = uid;
    e.gid = gid;
    e.origin = std::string(origin);
    return e;
}

} // namespace

constexpr detail::Named<EntryType> entry_type_names[] = {
    {EntryType::file, "file"},          {EntryType::directory, "dir"},
    {EntryType::symlink, "symlink"},    {EntryType::hardlink, "hardlink"},
    {EntryType::fifo, "fifo"},          {EntryType::char_device, "char"},
    {EntryType::block_device, "block"}, {EntryType::whiteout, "whiteout"},
};

const char* to_string(EntryType type) noexcept {
    return detail::name_of(entry_type_names, type, "?");
}

bool LayerBuilder::has(std::string_view dst) const {
    return entries_.count(normalize_image_path(dst, {})) != 0;
}

void LayerBuilder::put(LayerEntry entry, std::string link_key) {
    if (entry.type != EntryType::whiteout && detail::whiteout_component(entry.path)) {
        throw Error(ErrorKind::input,
                    prefix_of(entry.origin) + detail::whiteout_refusal(entry.path) +
                        (entry.source.empty() ? "" : " (the host file " + entry.source + ")"));
    }
    link_keys_.erase(entry.path);
    if (!link_key.empty()) {
        link_keys_[entry.path] = std::move(link_key);
    }
    std::string path = entry.path;
    entries_.insert_or_assign(std::move(path), std::move(entry));
}

void LayerBuilder::add_tree(const fs::path& src, std::string_view dst, const CopyOptions& options,
                            std::string_view origin) {
    std::string dst_norm = normalize_image_path(dst, origin, /*allow_root=*/true);
    struct stat st;
    // The named source itself is followed when it is a symlink (as COPY does).
    if (::stat(src.c_str(), &st) != 0) {
        int err = errno;
        struct stat lst;
        if (err == ENOENT && ::lstat(src.c_str(), &lst) == 0) {
            throw Error(ErrorKind::input,
                        prefix_of(origin) + src.string() + " is a dangling symlink");
        }
        fail_errno(origin, src.string(), err);
    }
    std::uint64_t call = ++tree_calls_;
    std::string root = src.string();
    while (root.size() > 1 && root.back() == '/') {
        root.pop_back();
    }
    TreeWalker walker(root, dst_norm, options, origin, call);
    if (S_ISDIR(st.st_mode)) {
        for (auto& f : walker.walk(st, detail::resolve_threads(threads_))) {
            put(std::move(f.entry), std::move(f.link_key));
        }
        if (!dst_norm.empty()) {
            LayerEntry e = walker.base_entry("", st, root);
            e.type = EntryType::directory;
            put(std::move(e), {});
        }
        return;
    }
    // A single file: dst names the file, or the directory to put it in when it ends in '/'.
    if (!dst.empty() && dst.back() == '/') {
        dst_norm = normalize_image_path(std::string(dst) + src.filename().string(), origin);
    }
    if (dst_norm.empty()) {
        throw Error(ErrorKind::input,
                    prefix_of(origin) + "cannot copy the file " + src.string() +
                        " onto the image root; give dst a file name or end it in '/'");
    }
    TreeWalker file_walker(root, dst_norm, options, origin, call);
    auto f = file_walker.file_entry(root, "", st, AT_FDCWD, root.c_str());
    put(std::move(f.entry), std::move(f.link_key));
}

void LayerBuilder::add_file(std::string_view dst, const fs::path& src, std::uint32_t mode,
                            std::uint32_t uid, std::uint32_t gid, std::string_view origin) {
    struct stat st;
    if (::stat(src.c_str(), &st) != 0) {
        fail_errno(origin, src.string(), errno);
    }
    if (!S_ISREG(st.st_mode)) {
        throw Error(ErrorKind::input, prefix_of(origin) + src.string() + " is not a regular file");
    }
    if (::access(src.c_str(), R_OK) != 0) {
        fail_errno(origin, "cannot read " + src.string(), errno);
    }
    LayerEntry e = stated_entry(dst, EntryType::file, mode, uid, gid, origin);
    e.source = src.string();
    e.size = static_cast<std::uint64_t>(st.st_size);
    e.identity = identity_of(st);
    put(std::move(e), {});
}

void LayerBuilder::add_content(std::string_view dst, std::string content, std::uint32_t mode,
                               std::uint32_t uid, std::uint32_t gid, std::string_view origin) {
    LayerEntry e = stated_entry(dst, EntryType::file, mode, uid, gid, origin);
    e.size = content.size();
    e.content = std::move(content);
    put(std::move(e), {});
}

void LayerBuilder::add_directory(std::string_view dst, std::uint32_t mode, std::uint32_t uid,
                                 std::uint32_t gid, std::string_view origin) {
    put(stated_entry(dst, EntryType::directory, mode, uid, gid, origin), {});
}

void LayerBuilder::add_symlink(std::string_view dst, std::string target, std::uint32_t uid,
                               std::uint32_t gid, std::string_view origin) {
    if (target.empty()) {
        throw Error(ErrorKind::input,
                    prefix_of(origin) + "symlink " + std::string(dst) + " needs a target");
    }
    LayerEntry e = stated_entry(dst, EntryType::symlink, 0777, uid, gid, origin);
    e.link_target = std::move(target);
    put(std::move(e), {});
}

void LayerBuilder::add_hardlink(std::string_view dst, std::string_view target,
                                std::string_view origin) {
    LayerEntry e = stated_entry(dst, EntryType::hardlink, 0644, 0, 0, origin);
    e.link_target = normalize_image_path(target, origin);
    if (e.link_target == e.path) {
        throw Error(ErrorKind::input,
                    prefix_of(origin) + "hard link " + e.path + " points at itself");
    }
    std::string key = "=" + e.link_target;
    put(std::move(e), key);
}

void LayerBuilder::add_special(std::string_view dst, EntryType type, std::uint32_t mode,
                               std::uint32_t dev_major, std::uint32_t dev_minor, std::uint32_t uid,
                               std::uint32_t gid, std::string_view origin) {
    if (type != EntryType::fifo && type != EntryType::char_device &&
        type != EntryType::block_device) {
        throw Error(ErrorKind::usage, "add_special takes fifo, char_device or block_device");
    }
    LayerEntry e = stated_entry(dst, type, mode, uid, gid, origin);
    e.dev_major = dev_major;
    e.dev_minor = dev_minor;
    put(std::move(e), {});
}

void LayerBuilder::add(LayerEntry entry) {
    entry.path = normalize_image_path(entry.path, entry.origin);
    if (entry.type == EntryType::hardlink) {
        std::string key = "=" + normalize_image_path(entry.link_target, entry.origin);
        put(std::move(entry), key);
        return;
    }
    put(std::move(entry), {});
}

std::vector<LayerEntry> LayerBuilder::finish() {
    std::map<std::string, LayerEntry> entries = std::move(entries_);
    std::map<std::string, std::string> link_keys = std::move(link_keys_);
    entries_.clear();
    link_keys_.clear();
    tree_calls_ = 0;

    // Hard link groups. add_hardlink() entries join the group of their target.
    std::map<std::string, std::vector<std::string>> groups;
    for (const auto& [path, key] : link_keys) {
        if (key[0] != '=') {
            groups[key].push_back(path);
        }
    }
    for (const auto& [path, key] : link_keys) {
        if (key[0] != '=') {
            continue;
        }
        std::string target = key.substr(1);
        auto t = entries.find(target);
        const LayerEntry& link = entries.at(path);
        if (t == entries.end()) {
            throw Error(ErrorKind::input, prefix_of(link.origin) + "hard link " + path +
                                              " points at " + target +
                                              ", which is not in this layer");
        }
        if (t->second.type != EntryType::file && t->second.type != EntryType::hardlink) {
            throw Error(ErrorKind::input, prefix_of(link.origin) + "hard link " + path +
                                              " points at " + target + ", which is a " +
                                              to_string(t->second.type) + ", not a file");
        }
        auto tk = link_keys.find(target);
        std::string group =
            tk != link_keys.end() && tk->second[0] != '=' ? tk->second : "=" + target;
        auto& members = groups[group];
        if (members.empty() && group[0] == '=') {
            members.push_back(target);
        }
        members.push_back(path);
    }
    for (auto& [key, members] : groups) {
        std::sort(members.begin(), members.end());
        members.erase(std::unique(members.begin(), members.end()), members.end());
        if (members.size() < 2) {
            continue;
        }
        // The data holder: the group's regular file entry.
        const LayerEntry* data = nullptr;
        for (const auto& m : members) {
            if (entries.at(m).type == EntryType::file) {
                data = &entries.at(m);
                break;
            }
        }
        if (data == nullptr) {
            throw Error(ErrorKind::input, "hard link group " + members.front() + " has no file");
        }
        LayerEntry holder = *data;
        // The first path in order carries the data, so tar readers meet it first.
        for (std::size_t i = 0; i < members.size(); ++i) {
            LayerEntry& e = entries.at(members[i]);
            std::string origin = e.origin;
            if (i == 0) {
                e = holder;
                e.path = members[0];
                e.origin = origin;
            } else {
                e = LayerEntry{};
                e.path = members[i];
                e.type = EntryType::hardlink;
                e.link_target = members[0];
                e.mode = holder.mode;
                e.uid = holder.uid;
                e.gid = holder.gid;
                e.origin = origin;
            }
        }
    }

    // Nothing may sit below a non-directory of this layer (a symlink there would let an
    // unpacker write through it).
    for (const auto& [path, e] : entries) {
        for (std::size_t slash = path.find('/'); slash != std::string::npos;
             slash = path.find('/', slash + 1)) {
            auto parent = entries.find(path.substr(0, slash));
            if (parent != entries.end() && parent->second.type != EntryType::directory) {
                const LayerEntry& p = parent->second;
                throw Error(ErrorKind::input,
                            prefix_of(e.origin) + "image path /" + path + " lies below /" +
                                parent->first + ", which this layer makes a " + to_string(p.type) +
                                (p.origin.empty() ? "" : " (" + p.origin + ")"));
            }
        }
    }
    std::vector<LayerEntry> out;
    out.reserve(entries.size());
    for (auto& [path, e] : entries) {
        out.push_back(std::move(e));
    }
    return out;
}

} // namespace ocibake
