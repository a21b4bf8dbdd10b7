// Archives as layer inputs: reading and checking members, the cache tree, and placing
// the members in a layer (see archive_input.hpp).
#include "layer/archive_input.hpp"
#include "common/json_number.hpp"
#include "common/libarchive.hpp"

#include "common/archive.hpp"
#include "common/fs.hpp"
#include "common/text.hpp"
#include "layer/changeset.hpp"
#include "layer/glob.hpp"
#include "layer/identity.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <exception>
#include <fcntl.h>
#include <map>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace ocibake::detail {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

/// Receives each regular file's bytes while the archive is read.
struct FileSink {
    std::function<void(const ArchiveMember&)> open;
    std::function<void(const char*, std::size_t)> write;
    std::function<void(ArchiveMember&)> close; ///< after size and sha256 are set
};

void enable_formats(archive* a, const std::string& name) {
    for (int rc : {libarchive().archive_read_support_filter_gzip(a),
                   libarchive().archive_read_support_filter_xz(a),
                   libarchive().archive_read_support_filter_zstd(a),
                   libarchive().archive_read_support_filter_bzip2(a),
                   libarchive().archive_read_support_format_tar(a),
                   libarchive().archive_read_support_format_gnutar(a),
                   libarchive().archive_read_support_format_zip_seekable(a)}) {
        // ARCHIVE_WARN: the filter runs through an external program; still usable.
        if (rc != ARCHIVE_WARN) {
            check_archive(a, rc, "archive " + name);
        }
    }
}

const char* type_name(mode_t type) {
    switch (type) {
    case AE_IFCHR:
        return "character device";
    case AE_IFBLK:
        return "block device";
    case AE_IFIFO:
        return "FIFO";
    case AE_IFSOCK:
        return "socket";
    default:
        return "special file";
    }
}

/// Reads every member of an opened archive, checking each (see archive_input.hpp).
class MemberScanner {
public:
    MemberScanner(archive* a, std::string name) : a_(a), name_(std::move(name)) {}

    std::vector<ArchiveMember> scan(const FileSink& sink) {
        std::vector<ArchiveMember> out;
        std::vector<char> buffer(1 << 18);
        archive_entry* entry = nullptr;
        for (;;) {
            int rc = libarchive().archive_read_next_header(a_, &entry);
            if (rc == ARCHIVE_EOF) {
                break;
            }
            check_archive(a_, rc, "archive " + name_ + " cannot be read");
            std::optional<ArchiveMember> m = member_of(entry);
            if (!m) {
                continue;
            }
            if (m->type == EntryType::file) {
                m->file = files_++;
                if (sink.open) {
                    sink.open(*m);
                }
                Sha256 hash;
                for (;;) {
                    la_ssize_t n = libarchive().archive_read_data(a_, buffer.data(), buffer.size());
                    if (n < 0) {
                        check_archive(a_, static_cast<int>(n),
                                      "archive " + name_ + ": member '" + m->path + "'");
                        continue;
                    }
                    if (n == 0) {
                        break;
                    }
                    hash.update(buffer.data(), static_cast<std::size_t>(n));
                    if (sink.write) {
                        sink.write(buffer.data(), static_cast<std::size_t>(n));
                    }
                    m->size += static_cast<std::uint64_t>(n);
                }
                m->sha256 = hash.finish();
                if (sink.close) {
                    sink.close(*m);
                }
            }
            types_[m->path] = m->type;
            if (m->type == EntryType::file) {
                files_of_[m->path] = out.size();
            }
            out.push_back(std::move(*m));
        }
        // Hard links take their target's bytes (a link to a later member was refused).
        for (ArchiveMember& m : out) {
            if (m.type == EntryType::hardlink) {
                const ArchiveMember& t = out[files_of_.at(m.target)];
                m.file = t.file;
                m.size = t.size;
                m.sha256 = t.sha256;
            }
        }
        return out;
    }

private:
    [[noreturn]] void refuse(const std::string& raw, const std::string& why) const {
        throw Error(ErrorKind::input,
                    "archive " + name_ + ": member '" + printable(raw) + "' " + why + "; refused");
    }

    std::optional<ArchiveMember> member_of(archive_entry* entry) {
        const char* raw_name = libarchive().archive_entry_pathname(entry);
        std::string raw = raw_name ? raw_name : "";
        std::optional<std::string> path = clean_relative_path(raw);
        if (!path) {
            refuse(raw, raw.starts_with('/') ? "has an absolute path (it would escape the root)"
                                             : "climbs out of the archive with '..'");
        }
        if (path->empty()) {
            return std::nullopt; // "./": the root itself carries nothing
        }
        if (!valid_utf8(raw)) {
            refuse(raw, "has a name that is not UTF-8");
        }
        for (const std::string& part : split_path(*path)) {
            if (part.starts_with(".wh.")) {
                refuse(raw, "is a whiteout name: " + whiteout_refusal(*path));
            }
        }
        if (!seen_.insert(*path).second) {
            refuse(raw, "appears twice");
        }
        for (std::size_t slash = path->find('/'); slash != std::string::npos;
             slash = path->find('/', slash + 1)) {
            auto above = types_.find(path->substr(0, slash));
            if (above != types_.end() && above->second != EntryType::directory) {
                refuse(raw, "is below '" + above->first + "', which is a " +
                                to_string(above->second) + ", not a directory");
            }
        }
        ArchiveMember m;
        m.path = *path;
        m.mode = static_cast<std::uint32_t>(libarchive().archive_entry_perm(entry)) & 07777;
        if (const char* link = libarchive().archive_entry_hardlink(entry)) {
            if (!valid_utf8(link)) {
                refuse(raw, "is a hard link whose target is not UTF-8");
            }
            std::optional<std::string> target = clean_relative_path(link);
            if (!target || files_of_.count(*target) == 0) {
                refuse(raw, "is a hard link to '" + printable(link) +
                                "', which is no earlier file of the archive");
            }
            m.type = EntryType::hardlink;
            m.target = *target;
            return m;
        }
        mode_t type = libarchive().archive_entry_filetype(entry);
        if (type == AE_IFREG) {
            m.type = EntryType::file;
        } else if (type == AE_IFDIR) {
            m.type = EntryType::directory;
        } else if (type == AE_IFLNK) {
            const char* target = libarchive().archive_entry_symlink(entry);
            if (target == nullptr || *target == '\0') {
                refuse(raw, "is a symbolic link to nothing");
            }
            if (!valid_utf8(target)) {
                refuse(raw, "is a symbolic link whose target is not UTF-8");
            }
            m.type = EntryType::symlink;
            m.target = target;
        } else {
            refuse(raw, std::string("is a ") + type_name(type) +
                            " (archives may hold files, directories and links only)");
        }
        return m;
    }

    archive* a_;
    std::string name_;
    std::size_t files_ = 0;
    std::set<std::string> seen_;
    std::map<std::string, EntryType> types_;
    std::map<std::string, std::size_t> files_of_;
};

json manifest_json(const std::string& name, const std::vector<ArchiveMember>& members) {
    json list = json::array();
    for (const ArchiveMember& m : members) {
        json j = {{"path", m.path}, {"type", to_string(m.type)}, {"mode", m.mode}};
        if (m.type == EntryType::file || m.type == EntryType::hardlink) {
            j["size"] = m.size;
            j["sha256"] = m.sha256.str();
            j["file"] = m.file;
        }
        if (!m.target.empty()) {
            j["target"] = m.target;
        }
        list.push_back(std::move(j));
    }
    return {{"archive", name}, {"members", list}};
}

EntryType type_from(const std::string& text) {
    for (EntryType t :
         {EntryType::file, EntryType::directory, EntryType::symlink, EntryType::hardlink}) {
        if (text == to_string(t)) {
            return t;
        }
    }
    throw Error(ErrorKind::integrity, "unknown member type " + text);
}

std::vector<ArchiveMember> read_manifest(const fs::path& tree) {
    json j = json::parse(read_file(tree / "manifest.json", ErrorKind::io, 256 << 20));
    std::vector<ArchiveMember> out;
    for (const json& m : j.at("members")) {
        ArchiveMember a;
        a.path = m.at("path").get<std::string>();
        a.type = type_from(m.at("type").get<std::string>());
        a.mode = ocibake::detail::json_integer<std::uint32_t>(m.at("mode"));
        if (a.type == EntryType::file || a.type == EntryType::hardlink) {
            a.size = ocibake::detail::json_integer<std::uint64_t>(m.at("size"));
            a.sha256 = Digest::parse(m.at("sha256").get<std::string>());
            a.file = ocibake::detail::json_integer<std::size_t>(m.at("file"));
        }
        a.target = m.value("target", "");
        out.push_back(std::move(a));
    }
    return out;
}

/// A published tree whose files all still have their checked sizes.
bool tree_intact(const fs::path& tree, std::vector<ArchiveMember>& members) {
    try {
        members = read_manifest(tree);
        for (const ArchiveMember& m : members) {
            struct stat st;
            fs::path file = tree / "files" / std::to_string(m.file);
            if (m.type == EntryType::file && (::stat(file.c_str(), &st) != 0 ||
                                              static_cast<std::uint64_t>(st.st_size) != m.size)) {
                return false;
            }
        }
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

/// Writes the files of the archive below `files`.
FileSink tree_sink(const fs::path& files, UniqueFd& fd, fs::path& current) {
    FileSink sink;
    sink.open = [&files, &fd, &current](const ArchiveMember& m) {
        current = files / std::to_string(m.file);
        fd = open_file(current, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, ErrorKind::io, 0644);
    };
    sink.write = [&fd, &current](const char* data, std::size_t n) {
        write_all(fd.get(), data, n, current.native());
    };
    sink.close = [&fd](ArchiveMember&) {
        ::fchmod(fd.get(), 0444);
        fd = UniqueFd();
    };
    return sink;
}

bool is_zip(Store& store, const Digest& digest) {
    UniqueFd fd = open_file(store.blob_path(digest), O_RDONLY | O_CLOEXEC, ErrorKind::integrity);
    char magic[4] = {};
    std::size_t n = read_some(fd.get(), magic, sizeof magic, "archive", ErrorKind::integrity);
    return n == 4 && magic[0] == 'P' && magic[1] == 'K' &&
           ((magic[2] == 3 && magic[3] == 4) || (magic[2] == 5 && magic[3] == 6));
}

/// libarchive's read callback over a verified store reader (no exception crosses it).
struct BlobSource {
    BlobReader* reader = nullptr;
    std::vector<char> buffer = std::vector<char>(1 << 20);
    std::exception_ptr error;
};

la_ssize_t read_blob(archive*, void* data, const void** out) {
    auto* s = static_cast<BlobSource*>(data);
    try {
        *out = s->buffer.data();
        return static_cast<la_ssize_t>(s->reader->read(s->buffer.data(), s->buffer.size()));
    } catch (...) {
        s->error = std::current_exception();
        return -1;
    }
}

std::vector<ArchiveMember> extract(Store& store, const Digest& digest, const std::string& name,
                                   const fs::path& files) {
    ArchiveReader a = new_reader();
    enable_formats(a.get(), name);
    UniqueFd fd;
    fs::path current;
    FileSink sink = tree_sink(files, fd, current);
    if (is_zip(store, digest)) {
        fs::path blob = store.blob_path(digest);
        if (!store.verify_blob(digest)) {
            throw Error(ErrorKind::integrity, "archive " + name + ": the cached " + digest.str() +
                                                  " was corrupt and is removed; build again");
        }
        check_archive(a.get(),
                      libarchive().archive_read_open_filename(a.get(), blob.c_str(), 1 << 16),
                      "archive " + name + " cannot be read");
        return MemberScanner(a.get(), name).scan(sink);
    }
    BlobReader reader = store.open_blob(digest);
    BlobSource source;
    source.reader = &reader;
    try {
        int rc = libarchive().archive_read_open(a.get(), &source, nullptr, read_blob, nullptr);
        if (source.error) {
            std::rethrow_exception(source.error);
        }
        check_archive(a.get(), rc, "archive " + name + " cannot be read");
        std::vector<ArchiveMember> members = MemberScanner(a.get(), name).scan(sink);
        char rest[1 << 14];
        while (reader.read(rest, sizeof rest) != 0) { // the digest is checked at the end
        }
        return members;
    } catch (const Error& e) {
        if (source.error) {
            std::rethrow_exception(source.error);
        }
        if (e.kind() == ErrorKind::integrity) {
            reader.verify_rest(e.what());
        }
        throw;
    }
}

} // namespace

std::vector<ArchiveMember>
read_archive_members(std::string_view bytes, const std::string& name,
                     const std::function<void(const ArchiveMember&, std::string_view)>& data,
                     std::uint64_t max_file) {
    ArchiveReader a = new_reader();
    enable_formats(a.get(), name);
    check_archive(a.get(),
                  libarchive().archive_read_open_memory(a.get(), bytes.data(), bytes.size()),
                  "archive " + name + " cannot be read");
    std::string content;
    std::string member;
    FileSink sink;
    if (!data) {
        return MemberScanner(a.get(), name).scan(sink); // checked and hashed, nothing kept
    }
    sink.open = [&](const ArchiveMember& m) {
        content.clear();
        member = m.path;
    };
    sink.write = [&](const char* p, std::size_t n) {
        if (content.size() + n > max_file) {
            throw Error(ErrorKind::input, "archive " + name + ": member '" + printable(member) +
                                              "' expands past " + std::to_string(max_file) +
                                              " bytes, more than is read in memory; refused");
        }
        content.append(p, n);
    };
    sink.close = [&](ArchiveMember& m) { data(m, content); };
    return MemberScanner(a.get(), name).scan(sink);
}

UnpackedArchive unpack_archive(Store& store, const Digest& digest, const std::string& name) {
    UnpackedArchive out;
    out.name = name;
    fs::path trees = store.root() / "trees";
    out.tree = trees / ("archive-" + digest.hex());
    std::error_code ec;
    if (fs::exists(out.tree / "manifest.json", ec)) {
        if (tree_intact(out.tree, out.members)) {
            ::utimensat(AT_FDCWD, out.tree.c_str(), nullptr, 0); // last use, for `cache gc`
            return out;
        }
        fs::path damaged = store.temp_path("damaged-archive-tree");
        if (::rename(out.tree.c_str(), damaged.c_str()) == 0) {
            TempDir drop(damaged);
        }
    }
    fs::create_directories(trees, ec);
    fs::path tmp = store.temp_path("archive-tree");
    TempDir guard(tmp);
    fs::create_directories(tmp / "files", ec);
    if (ec) {
        throw Error(ErrorKind::io,
                    "cannot create " + (tmp / "files").string() + ": " + ec.message());
    }
    out.members = extract(store, digest, name, tmp / "files");
    atomic_write_file(tmp / "manifest.json", manifest_json(name, out.members).dump(1), 0444, false);
    if (::rename(tmp.c_str(), out.tree.c_str()) != 0) {
        if (errno != ENOTEMPTY && errno != EEXIST) {
            throw_errno(ErrorKind::io, "cannot rename " + tmp.string(), errno);
        }
        return out; // another build published the same tree first
    }
    guard.release();
    return out;
}

namespace {

/// The member's path in the image (absolute, without the leading '/'), or "" when the
/// placement drops it (stripped away).
std::string placed_path(const std::string& path, const ArchivePlacement& p) {
    std::vector<std::string> parts = split_path(path);
    if (parts.size() <= p.strip) {
        return {};
    }
    parts.erase(parts.begin(), parts.begin() + p.strip);
    for (const auto& [from, to] : p.renames) {
        if (parts.front() == from) {
            parts.front() = to;
            break;
        }
    }
    std::string rel;
    for (const std::string& part : parts) {
        rel += (rel.empty() ? "" : "/") + part;
    }
    return rel;
}

std::string join_image(const std::string& dst, const std::string& rel) {
    std::string root = normalize_image_path(dst, "dst", true);
    return root.empty() ? rel : root + "/" + rel;
}

LayerEntry file_entry(const UnpackedArchive& a, const ArchiveMember& m, std::string image_path,
                      std::uint32_t mode, const ArchivePlacement& p) {
    fs::path file = a.tree / "files" / std::to_string(m.file);
    struct stat st;
    if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<std::uint64_t>(st.st_size) != m.size) {
        throw Error(ErrorKind::integrity, "archive " + a.name + ": the unpacked " + m.path + " (" +
                                              file.string() +
                                              ") was changed in the cache; build again");
    }
    LayerEntry e;
    e.path = std::move(image_path);
    e.type = EntryType::file;
    e.mode = mode;
    e.uid = p.options.uid;
    e.gid = p.options.gid;
    e.source = file.string();
    e.size = m.size;
    e.identity = detail::identity_of(st);
    e.digest = m.sha256; // the layer writer checks the bytes it reads against it
    e.origin = p.origin + ": " + a.name + ": " + m.path;
    return e;
}

} // namespace

std::size_t add_archive(LayerBuilder& b, const UnpackedArchive& a, const ArchivePlacement& p) {
    std::vector<Glob> include;
    std::vector<Glob> exclude;
    for (const auto& g : p.options.include) {
        include.emplace_back(g);
    }
    for (const auto& g : p.options.exclude) {
        exclude.emplace_back(g);
    }
    auto excluded = [&](const std::string& rel) {
        if (matches_any(exclude, rel)) {
            return true;
        }
        for (std::size_t s = rel.find('/'); s != std::string::npos; s = rel.find('/', s + 1)) {
            if (matches_any(exclude, rel.substr(0, s))) {
                return true;
            }
        }
        return false;
    };
    // As for copies: with `include`, a directory is kept when it matches or holds
    // something kept.
    std::set<std::string> needed;
    std::vector<std::pair<const ArchiveMember*, std::string>> kept;
    for (const ArchiveMember& m : a.members) {
        std::string rel = placed_path(m.path, p);
        if (rel.empty() || excluded(rel)) {
            continue;
        }
        bool dir = m.type == EntryType::directory;
        if (!include.empty() && !matches_any(include, rel) && !dir) {
            continue;
        }
        if (!include.empty() && (!dir || matches_any(include, rel))) {
            for (std::size_t s = rel.find('/'); s != std::string::npos; s = rel.find('/', s + 1)) {
                needed.insert(rel.substr(0, s));
            }
            needed.insert(rel);
        }
        kept.emplace_back(&m, std::move(rel));
    }
    std::size_t added = 0;
    for (const auto& [m, rel] : kept) {
        bool dir = m->type == EntryType::directory;
        if (!include.empty() && dir && needed.count(rel) == 0) {
            continue;
        }
        std::string path = join_image(p.dst, rel);
        std::string origin = p.origin + ": " + a.name + ": " + m->path;
        if (dir) {
            std::uint32_t mode =
                p.options.dir_mode.value_or(p.options.preserve_modes ? m->mode : 0755);
            b.add_directory(path, mode, p.options.uid, p.options.gid, origin);
        } else if (m->type == EntryType::symlink) {
            b.add_symlink(path, m->target, p.options.uid, p.options.gid, origin);
        } else {
            std::uint32_t mode = p.options.preserve_modes ? m->mode
                                 : (m->mode & 0111) != 0  ? 0755
                                                          : 0644;
            b.add(file_entry(a, *m, path, p.options.file_mode.value_or(mode), p));
        }
        ++added;
    }
    if (added == 0) {
        throw Error(ErrorKind::input, "archive " + a.name + ": nothing of its " +
                                          std::to_string(a.members.size()) +
                                          " members is kept (strip = " + std::to_string(p.strip) +
                                          (p.options.include.empty() ? "" : ", include") +
                                          (p.options.exclude.empty() ? "" : ", exclude") +
                                          "): the layer would be silently empty");
    }
    return added;
}

} // namespace ocibake::detail
