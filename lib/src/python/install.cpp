// Wheels: unpacking into the cache (verified against RECORD) and installing into layers.
//
// A wheel is unpacked once per sha256 into <cache>/trees/wheel-<hex>/:
//
//     files/...        the members, read-only (0444, or 0555 when the zip gave an x bit)
//     manifest.json    {"wheel": filename, "files": [{"path", "size", "hash", "exec"}]}
//
// The members are streamed out of the zip with libarchive (its seekable reader, which
// reads the central directory and so keeps the Unix modes), hashed and counted while
// they are written; RECORD is compared with what was read before the tree is renamed
// into place, so a published tree is always a verified one. Installing a wheel then only
// maps those files to image paths (LayerBuilder entries whose bytes the layer writer
// reads from the tree) and adds what the installer writes itself: rewritten scripts,
// launchers, INSTALLER, REQUESTED, direct_url.json and the new RECORD.
#include "common/archive.hpp"
#include "common/fs.hpp"
#include "common/json_number.hpp"
#include "common/strings.hpp"
#include "common/text.hpp"
#include "layer/changeset.hpp"
#include "layer/identity.hpp"
#include "ocibake/python.hpp"

#include "common/libarchive.hpp"
#include <archive.h>
#include <archive_entry.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <fcntl.h>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

namespace ocibake::python {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

using ocibake::detail::check_archive;
using ocibake::detail::valid_utf8;

std::string base64url(const unsigned char* data, std::size_t size) {
    static const char* alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < size; i += 3) {
        unsigned v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    if (size - i == 1) {
        unsigned v = data[i] << 16;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
    } else if (size - i == 2) {
        unsigned v = (data[i] << 16) | (data[i + 1] << 8);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
    }
    return out;
}

/// `name` as a message may quote it: bytes of a name that is not UTF-8, and control
/// characters, as \xNN.
std::string shown(std::string_view name) {
    bool utf8 = valid_utf8(name);
    std::string out;
    for (char c : name) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f || (u >= 0x80 && !utf8)) {
            static const char* hex = "0123456789abcdef";
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 15];
        } else {
            out += c;
        }
    }
    return out;
}

/// A member name that stays inside the wheel: relative, no "..", ".", empty parts or
/// backslashes, and UTF-8 (as the wheel format names files; RECORD and the cache's
/// manifest are text). Returns the reason it is refused, or "".
std::string unsafe_member(std::string_view name) {
    if (name.empty()) {
        return "an empty name";
    }
    if (!valid_utf8(name)) {
        return "a name that is not UTF-8";
    }
    if (name.front() == '/') {
        return "an absolute path";
    }
    if (name.find('\\') != std::string_view::npos) {
        return "a backslash in the path";
    }
    if (name.find('\0') != std::string_view::npos) {
        return "a NUL byte in the path";
    }
    std::size_t start = 0;
    std::string_view trimmed = name.ends_with('/') ? name.substr(0, name.size() - 1) : name;
    for (;;) {
        std::size_t slash = trimmed.find('/', start);
        std::string_view part = trimmed.substr(start, slash - start);
        if (part == "..") {
            return "a '..' component (it would escape the target)";
        }
        if (part.empty() || part == ".") {
            return "an empty or '.' component";
        }
        if (slash == std::string_view::npos) {
            return "";
        }
        start = slash + 1;
    }
}

/// RECORD is CSV (Python's csv module, default dialect): fields may be quoted.
std::vector<std::vector<std::string>> parse_csv(std::string_view text) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
    std::string field;
    bool quoted = false;
    bool any = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (quoted) {
            if (c == '"') {
                if (i + 1 < text.size() && text[i + 1] == '"') {
                    field += '"';
                    ++i;
                } else {
                    quoted = false;
                }
            } else {
                field += c;
            }
            continue;
        }
        if (c == '"') {
            quoted = true;
            any = true;
        } else if (c == ',') {
            row.push_back(std::move(field));
            field.clear();
            any = true;
        } else if (c == '\n' || c == '\r') {
            if (any || !field.empty()) {
                row.push_back(std::move(field));
                rows.push_back(std::move(row));
            }
            row.clear();
            field.clear();
            any = false;
        } else {
            field += c;
            any = true;
        }
    }
    if (any || !field.empty()) {
        row.push_back(std::move(field));
        rows.push_back(std::move(row));
    }
    return rows;
}

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) {
        return s;
    }
    std::string out = "\"";
    for (char c : s) {
        if (c == '"') {
            out += '"';
        }
        out += c;
    }
    return out + "\"";
}

struct Member {
    std::string path;
    std::uint64_t size = 0;
    std::string hash; ///< "sha256=<b64>"
    bool exec = false;
};

/// The wheel's .dist-info directory name: `{name}-{version}.dist-info` at the root.
std::string find_dist_info(const std::vector<Member>& members, const WheelFilename& name,
                           const std::string& wheel) {
    std::set<std::string> dirs;
    for (const auto& m : members) {
        std::size_t slash = m.path.find('/');
        if (slash != std::string::npos && m.path.substr(0, slash).ends_with(".dist-info")) {
            dirs.insert(m.path.substr(0, slash));
        }
    }
    if (dirs.empty()) {
        throw Error(ErrorKind::integrity, "wheel " + wheel + " has no .dist-info directory");
    }
    if (dirs.size() > 1) {
        std::string list;
        for (const auto& d : dirs) {
            list += (list.empty() ? "" : ", ") + d;
        }
        throw Error(ErrorKind::integrity,
                    "wheel " + wheel + " has more than one .dist-info directory: " + list);
    }
    std::string dir = *dirs.begin();
    std::string stem = dir.substr(0, dir.size() - 10);
    std::size_t dash = stem.rfind('-');
    std::string dname = dash == std::string::npos ? stem : stem.substr(0, dash);
    if (normalize_name(dname) != normalize_name(name.distribution)) {
        throw Error(ErrorKind::integrity, "wheel " + wheel + " holds " + dir +
                                              ", which is not for distribution '" +
                                              name.distribution + "'");
    }
    return dir;
}

/// "sha256=<b64>" -> ok; other algorithms are named in the error.
void check_record_hash(const std::string& hash, const std::string& wheel, const std::string& path) {
    if (!hash.starts_with("sha256=")) {
        std::string algo = hash.substr(0, hash.find('='));
        throw Error(ErrorKind::integrity, "wheel " + wheel + ": RECORD hashes " + path + " with '" +
                                              algo + "'; ocibake checks sha256 only");
    }
}

/// Compares the members read with RECORD: every file listed, with its hash and size, and
/// nothing listed that the zip lacks. RECORD itself (and its signatures) are exempt.
void verify_record(const std::vector<Member>& members, const std::string& record_text,
                   const std::string& dist_info, const std::string& wheel) {
    std::map<std::string, std::pair<std::string, std::string>> listed;
    for (const auto& row : parse_csv(record_text)) {
        if (row.empty() || row[0].empty()) {
            continue;
        }
        if (row.size() < 3) {
            throw Error(ErrorKind::integrity, "wheel " + wheel + ": RECORD row for " + row[0] +
                                                  " has " + std::to_string(row.size()) +
                                                  " fields, not 3");
        }
        if (!listed.emplace(row[0], std::make_pair(row[1], row[2])).second) {
            throw Error(ErrorKind::integrity,
                        "wheel " + wheel + ": RECORD lists " + row[0] + " twice");
        }
    }
    const std::string record = dist_info + "/RECORD";
    for (const auto& m : members) {
        if (m.path == record || m.path == record + ".jws" || m.path == record + ".p7s") {
            continue;
        }
        auto it = listed.find(m.path);
        if (it == listed.end()) {
            throw Error(ErrorKind::integrity,
                        "wheel " + wheel + ": " + m.path + " is not listed in RECORD");
        }
        const auto& [hash, size] = it->second;
        check_record_hash(hash, wheel, m.path);
        if (hash != m.hash) {
            throw Error(ErrorKind::integrity, "wheel " + wheel + ": " + m.path +
                                                  " does not match RECORD (RECORD says " + hash +
                                                  ", the file has " + m.hash + ")");
        }
        if (!size.empty() && size != std::to_string(m.size)) {
            throw Error(ErrorKind::integrity,
                        "wheel " + wheel + ": " + m.path + " does not match RECORD (RECORD says " +
                            size + " bytes, the file has " + std::to_string(m.size) + ")");
        }
        listed.erase(it);
    }
    listed.erase(record);
    for (const auto& [path, rest] : listed) {
        if (!path.ends_with("/")) {
            throw Error(ErrorKind::integrity, "wheel " + wheel + ": RECORD lists " + path +
                                                  ", which the wheel does not contain");
        }
    }
}

void mkdirs(const fs::path& dir) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
        throw Error(ErrorKind::io, "cannot create " + dir.string() + ": " + ec.message());
    }
}

/// Streams the zip's members into `files`, hashing them. Returns what was read.
std::vector<Member> extract(const fs::path& wheel_file, const fs::path& files,
                            const std::string& wheel) {
    ocibake::detail::ArchiveReader a = ocibake::detail::new_reader();
    check_archive(a.get(), libarchive().archive_read_support_format_zip_seekable(a.get()),
                  "wheel " + wheel);
    check_archive(a.get(),
                  libarchive().archive_read_open_filename(a.get(), wheel_file.c_str(), 1 << 16),
                  "wheel " + wheel + " cannot be read as a zip file");
    std::vector<Member> members;
    std::set<std::string> seen;
    std::vector<char> buffer(1 << 18);
    archive_entry* entry = nullptr;
    for (;;) {
        int rc = libarchive().archive_read_next_header(a.get(), &entry);
        if (rc == ARCHIVE_EOF) {
            break;
        }
        check_archive(a.get(), rc, "wheel " + wheel + " is not a valid zip file");
        const char* raw = libarchive().archive_entry_pathname(entry);
        std::string name = raw ? raw : "";
        if (std::string why = unsafe_member(name); !why.empty()) {
            throw Error(ErrorKind::input, "wheel " + wheel + ": member '" + shown(name) + "' has " +
                                              why + "; refused");
        }
        auto type = libarchive().archive_entry_filetype(entry);
        if (type == AE_IFDIR || name.ends_with('/')) {
            continue;
        }
        if (type != AE_IFREG) {
            throw Error(ErrorKind::input,
                        "wheel " + wheel + ": member '" + name + "' is a " +
                            (type == AE_IFLNK ? "symbolic link" : "special file") +
                            " (wheels hold regular files only); refused");
        }
        if (!seen.insert(name).second) {
            throw Error(ErrorKind::input,
                        "wheel " + wheel + ": member '" + name + "' appears twice; refused");
        }
        fs::path dest = files / name;
        mkdirs(dest.parent_path());
        bool exec = (libarchive().archive_entry_perm(entry) & 0111) != 0;
        detail::UniqueFd fd =
            detail::open_file(dest, O_WRONLY | O_CREAT | O_EXCL, ErrorKind::io, 0644);
        Sha256 hash;
        std::uint64_t size = 0;
        for (;;) {
            la_ssize_t n = libarchive().archive_read_data(a.get(), buffer.data(), buffer.size());
            if (n < 0) {
                check_archive(a.get(), static_cast<int>(n),
                              "wheel " + wheel + ": member '" + name + "'");
                continue;
            }
            if (n == 0) {
                break;
            }
            hash.update(buffer.data(), static_cast<std::size_t>(n));
            detail::write_all(fd.get(), buffer.data(), static_cast<std::size_t>(n), dest.native());
            size += static_cast<std::uint64_t>(n);
        }
        ::fchmod(fd.get(), exec ? 0555 : 0444);
        members.push_back({name, size, "sha256=" + record_hash(hash.finish()), exec});
    }
    std::sort(members.begin(), members.end(),
              [](const Member& x, const Member& y) { return x.path < y.path; });
    return members;
}

json manifest_json(const std::string& wheel, const std::vector<Member>& members) {
    json files = json::array();
    for (const auto& m : members) {
        files.push_back({{"path", m.path}, {"size", m.size}, {"hash", m.hash}, {"exec", m.exec}});
    }
    return {{"wheel", wheel}, {"files", files}};
}

std::vector<Member> read_manifest(const fs::path& tree) {
    json j = json::parse(detail::read_file(tree / "manifest.json", ErrorKind::io, 256 << 20));
    std::vector<Member> out;
    for (const auto& f : j.at("files")) {
        out.push_back({f.at("path").get<std::string>(),
                       ocibake::detail::json_integer<std::uint64_t>(f.at("size")),
                       f.at("hash").get<std::string>(), f.at("exec").get<bool>()});
    }
    return out;
}

/// Key: value lines of WHEEL / METADATA (email-header style).
std::map<std::string, std::string> header_fields(std::string_view text) {
    std::map<std::string, std::string> out;
    for (std::string_view line : ocibake::detail::split_views(text, '\n')) {
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.empty()) {
            break; // the body starts
        }
        std::size_t colon = line.find(':');
        if (colon != std::string_view::npos) {
            std::string key(line.substr(0, colon));
            std::string_view value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') {
                value.remove_prefix(1);
            }
            out.emplace(key, std::string(value));
        }
    }
    return out;
}

struct EntryPoint {
    std::string name, module, attr;
};

bool dotted_identifier(std::string_view s) {
    if (s.empty()) {
        return false;
    }
    bool start = true;
    for (char c : s) {
        if (c == '.') {
            if (start) {
                return false;
            }
            start = true;
            continue;
        }
        bool alpha = std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
                     static_cast<unsigned char>(c) >= 0x80;
        if (!alpha && !(std::isdigit(static_cast<unsigned char>(c)) && !start)) {
            return false;
        }
        start = false;
    }
    return !start;
}

/// [console_scripts] and [gui_scripts] of entry_points.txt.
std::vector<EntryPoint> script_entry_points(std::string_view text, const std::string& wheel) {
    std::vector<EntryPoint> out;
    std::string section;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t end = text.find('\n', start);
        std::string line(detail::trim(text.substr(start, end - start), detail::ascii_spaces));
        start = end == std::string_view::npos ? text.size() + 1 : end + 1;
        if (line.empty() || line[0] == '#' || line[0] == ';') {
            continue;
        }
        if (line.front() == '[' && line.back() == ']') {
            section = detail::trim(line.substr(1, line.size() - 2), detail::ascii_spaces);
            continue;
        }
        if (section != "console_scripts" && section != "gui_scripts") {
            continue;
        }
        std::size_t eq = line.find('=');
        if (eq == std::string::npos) {
            throw Error(ErrorKind::integrity, "wheel " + wheel + ": entry point line '" + line +
                                                  "' in [" + section + "] has no '='");
        }
        EntryPoint ep;
        ep.name = detail::trim(line.substr(0, eq), detail::ascii_spaces);
        std::string value(detail::trim(line.substr(eq + 1), detail::ascii_spaces));
        if (std::size_t bracket = value.find('['); bracket != std::string::npos) {
            value = detail::trim(value.substr(0, bracket),
                                 detail::ascii_spaces); // extras do not change the launcher
        }
        std::size_t colon = value.find(':');
        ep.module = detail::trim(value.substr(0, colon), detail::ascii_spaces);
        ep.attr = colon == std::string::npos
                      ? ""
                      : detail::trim(value.substr(colon + 1), detail::ascii_spaces);
        if (ep.name.empty() || ep.name.find('/') != std::string::npos || ep.name == "." ||
            ep.name == "..") {
            throw Error(ErrorKind::input, "wheel " + wheel + ": entry point name '" + ep.name +
                                              "' is not a file name");
        }
        if (!dotted_identifier(ep.module) || !dotted_identifier(ep.attr)) {
            throw Error(ErrorKind::integrity, "wheel " + wheel + ": entry point '" + ep.name +
                                                  " = " + value + "' is not module:attribute");
        }
        out.push_back(std::move(ep));
    }
    return out;
}

std::string shebang(std::string_view interpreter) {
    if (interpreter.size() + 2 <= 127 && interpreter.find(' ') == std::string_view::npos) {
        return "#!" + std::string(interpreter) + "\n";
    }
    // pypa/installer's /bin/sh trick for long paths or paths with spaces
    return "#!/bin/sh\n'''exec' '" + std::string(interpreter) + "' \"$0\" \"$@\"\n' '''\n";
}

/// "a/b/c" -> "a", "a/b"
std::vector<std::string> parents_below(const std::string& path, const std::string& root) {
    std::vector<std::string> out;
    if (!path.starts_with(root + "/")) {
        return out;
    }
    std::string rel = path.substr(root.size() + 1);
    std::size_t slash = 0;
    while ((slash = rel.find('/', slash)) != std::string::npos) {
        out.push_back(root + "/" + rel.substr(0, slash));
        ++slash;
    }
    return out;
}

std::string join_image(const std::string& dir, const std::string& rel) {
    return rel.empty() ? dir : dir + "/" + rel;
}

std::string relative_to(const std::string& path, const std::string& dir) {
    return fs::path(path).lexically_relative(fs::path(dir)).generic_string();
}

/// The project's name as METADATA gives it (pip names the headers directory so).
std::string project_name(const fs::path& files, const std::string& dist_info,
                         const WheelFilename& name) {
    std::error_code ec;
    fs::path metadata = files / dist_info / "METADATA";
    if (fs::exists(metadata, ec)) {
        auto fields = header_fields(detail::read_file(metadata, ErrorKind::integrity, 64 << 20));
        std::string n(detail::trim(fields["Name"], detail::ascii_spaces));
        if (!n.empty() && n.find('/') == std::string::npos && n != "." && n != "..") {
            return n;
        }
    }
    return name.distribution;
}

/// RECORD's "sha256=<urlsafe b64>" back to a Digest (empty when it is not one).
Digest digest_of_record(std::string_view hash) {
    if (!hash.starts_with("sha256=")) {
        return {};
    }
    hash.remove_prefix(7);
    std::array<std::uint8_t, 32> bytes{};
    std::size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (char c : hash) {
        int v = c >= 'A' && c <= 'Z'   ? c - 'A'
                : c >= 'a' && c <= 'z' ? c - 'a' + 26
                : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '-'             ? 62
                : c == '_'             ? 63
                                       : -1;
        if (v < 0) {
            return {};
        }
        acc = (acc << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == bytes.size()) {
                return {};
            }
            bytes[n++] = static_cast<std::uint8_t>((acc >> bits) & 0xff);
        }
    }
    return n == bytes.size() ? Digest(bytes) : Digest();
}

/// A layer entry for a file of an unpacked tree: its size must still be the verified
/// one, and the layer writer checks its bytes against RECORD's sha256.
LayerEntry tree_entry(const std::string& image_path, const fs::path& file, const Member& m,
                      const std::string& wheel) {
    struct stat st;
    if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<std::uint64_t>(st.st_size) != m.size) {
        throw Error(ErrorKind::integrity, "wheel " + wheel + ": the unpacked " + m.path + " (" +
                                              file.string() +
                                              ") was changed in the cache; build again");
    }
    LayerEntry e;
    e.path = image_path;
    e.type = EntryType::file;
    e.mode = m.exec ? 0755 : 0644;
    e.source = file.string();
    e.size = m.size;
    e.identity = detail::identity_of(st);
    e.digest = digest_of_record(m.hash);
    e.origin = wheel;
    return e;
}

/// A published tree whose files all still have their verified sizes (a crash can leave
/// files truncated: then the tree is made again).
bool tree_intact(const fs::path& tree) {
    try {
        for (const Member& m : read_manifest(tree)) {
            struct stat st;
            fs::path file = tree / "files" / m.path;
            if (::stat(file.c_str(), &st) != 0 ||
                static_cast<std::uint64_t>(st.st_size) != m.size) {
                return false;
            }
        }
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

} // namespace

std::string record_hash(const Digest& digest) {
    return base64url(digest.bytes().data(), digest.bytes().size());
}

std::string launcher_script(std::string_view interpreter, std::string_view module,
                            std::string_view attr) {
    std::string import_name(attr.substr(0, attr.find('.')));
    return shebang(interpreter) +
           "# -*- coding: utf-8 -*-\n"
           "import re\n"
           "import sys\n"
           "from " +
           std::string(module) + " import " + import_name +
           "\n"
           "if __name__ == \"__main__\":\n"
           "    sys.argv[0] = re.sub(r\"(-script\\.pyw|\\.exe)?$\", \"\", sys.argv[0])\n"
           "    sys.exit(" +
           std::string(attr) + "())\n";
}

UnpackedWheel unpack_wheel(Store& store, const fs::path& wheel_file, const Digest& digest,
                           std::string_view filename) {
    UnpackedWheel out;
    std::string wheel = filename.empty() ? wheel_file.filename().string() : std::string(filename);
    out.name = WheelFilename::parse(wheel);
    out.sha256 = digest;
    fs::path trees = store.root() / "trees";
    out.tree = trees / ("wheel-" + digest.hex());
    std::error_code ec;
    if (fs::exists(out.tree / "manifest.json", ec)) {
        if (tree_intact(out.tree)) {
            ::utimensat(AT_FDCWD, out.tree.c_str(), nullptr, 0); // last use, for `cache gc`
            return out;
        }
        // Damaged (a crash before the data reached the disk): move it away, unpack again.
        fs::path damaged = store.temp_path("damaged-wheel-tree");
        if (::rename(out.tree.c_str(), damaged.c_str()) == 0) {
            detail::TempDir drop(damaged);
        }
    }
    mkdirs(trees);
    fs::path tmp = store.temp_path("wheel-tree");
    detail::TempDir guard(tmp);
    mkdirs(tmp / "files");
    {
        Digest actual = sha256_of_file(wheel_file);
        if (actual != digest) {
            throw Error(ErrorKind::integrity, "wheel " + wheel + " (" + wheel_file.string() +
                                                  ") has sha256 " + actual.hex() + ", not " +
                                                  digest.hex());
        }
    }
    std::vector<Member> members = extract(wheel_file, tmp / "files", wheel);
    std::string dist_info = find_dist_info(members, out.name, wheel);
    auto record = std::find_if(members.begin(), members.end(),
                               [&](const Member& m) { return m.path == dist_info + "/RECORD"; });
    if (record == members.end()) {
        throw Error(ErrorKind::integrity, "wheel " + wheel + " has no " + dist_info + "/RECORD");
    }
    verify_record(members,
                  detail::read_file(tmp / "files" / record->path, ErrorKind::io, 256 << 20),
                  dist_info, wheel);
    detail::atomic_write_file(tmp / "manifest.json", manifest_json(wheel, members).dump(1), 0444,
                              false);
    if (::rename(tmp.c_str(), out.tree.c_str()) != 0) {
        if (errno != ENOTEMPTY && errno != EEXIST) {
            detail::throw_errno(ErrorKind::io, "cannot rename " + tmp.string(), errno);
        }
        // Another build published the same tree first: ours is removed by the guard.
        return out;
    }
    guard.release();
    return out;
}

// ---- schemes and the venv --------------------------------------------------------------

Scheme venv_scheme(std::string_view venv, const Target& target) {
    std::string root = "/" + normalize_image_path(venv, "venv");
    Scheme s;
    s.venv = root;
    s.purelib = root + "/lib/python" + target.python_version() + "/site-packages";
    s.platlib = s.purelib;
    s.scripts = root + "/bin";
    s.headers = root + "/include/site/python" + target.python_version();
    s.data = root;
    s.interpreter = root + "/bin/python";
    return s;
}

Scheme system_scheme(std::string_view interpreter, const Target& target, bool dist_packages) {
    Scheme s;
    std::string v = target.python_version();
    std::string prefix = "/usr/local";
    if (!dist_packages) {
        // python.org layout: <prefix>/bin/python3.X
        fs::path bin = fs::path(std::string(interpreter)).parent_path();
        prefix = bin.parent_path().generic_string();
        if (prefix.empty()) {
            prefix = "/";
        }
    }
    s.purelib = prefix + "/lib/python" + v + (dist_packages ? "/dist-packages" : "/site-packages");
    s.platlib = s.purelib;
    s.scripts = prefix + "/bin";
    s.headers = prefix + "/include/python" + v;
    s.data = prefix;
    s.interpreter = std::string(interpreter);
    return s;
}

void add_venv(LayerBuilder& b, std::string_view venv, std::string_view base_interpreter,
              const Target& target) {
    std::string root = "/" + normalize_image_path(venv, "venv");
    std::string v = target.python_version();
    fs::path interp(std::string{base_interpreter});
    b.add_directory(root);
    b.add_directory(root + "/bin");
    b.add_directory(root + "/include");
    b.add_directory(root + "/lib");
    b.add_directory(root + "/lib/python" + v);
    b.add_directory(root + "/lib/python" + v + "/site-packages");
    b.add_symlink(root + "/lib64", "lib");
    b.add_symlink(root + "/bin/python", std::string(base_interpreter));
    b.add_symlink(root + "/bin/python3", "python");
    b.add_symlink(root + "/bin/python" + v, "python");
    b.add_content(root + "/pyvenv.cfg", "home = " + interp.parent_path().generic_string() +
                                            "\ninclude-system-site-packages = false\nversion = " +
                                            v + "\nexecutable = " + std::string(base_interpreter) +
                                            "\ncommand = ocibake (venv " + root + ")\n");
}

// ---- the installer ---------------------------------------------------------------------

Installer::Installer(Scheme scheme, LayerBuilder& builder)
    : scheme_(std::move(scheme)), builder_(builder) {}

void Installer::set_installed_before(std::map<std::string, std::string> paths) {
    before_ = std::move(paths);
}

void Installer::add(const std::string& path, const std::string& wheel) {
    if (ocibake::detail::whiteout_component(path)) {
        throw Error(ErrorKind::input, "wheel " + wheel + ": " +
                                          ocibake::detail::whiteout_refusal(
                                              path.substr(path.find_first_not_of('/'))));
    }
    auto clash = [&](const std::string& other) {
        throw Error(ErrorKind::input, "wheels " + other + " and " + wheel + " both install " +
                                          path + "; install only one of them");
    };
    if (auto it = before_.find(path); it != before_.end()) {
        clash(it->second + " (an earlier layer)");
    }
    auto [it, fresh] = paths_.emplace(path, wheel);
    if (!fresh) {
        clash(it->second);
    }
}

void Installer::install(const UnpackedWheel& uw, std::string_view direct_url) {
    const std::string& wheel = uw.name.filename;
    std::vector<Member> members = read_manifest(uw.tree);
    fs::path files = uw.tree / "files";
    std::string dist_info = find_dist_info(members, uw.name, wheel);
    std::string dist = normalize_name(uw.name.distribution);
    if (dists_.count(dist) != 0) {
        throw Error(ErrorKind::input,
                    "distribution '" + dist + "' is installed twice (" + wheel + ")");
    }
    for (const auto& [path, other] : before_) {
        if (!path.ends_with(".dist-info/RECORD")) {
            continue;
        }
        std::string dir = fs::path(path).parent_path().stem().string(); // name-version
        if (normalize_name(dir.substr(0, dir.rfind('-'))) == dist) {
            throw Error(ErrorKind::input, "distribution '" + dist + "' (" + wheel +
                                              ") is already installed by an earlier layer (" +
                                              other + ")");
        }
    }

    auto wheel_meta = header_fields(
        detail::read_file(files / dist_info / "WHEEL", ErrorKind::integrity, 1 << 20));
    std::string version = wheel_meta["Wheel-Version"];
    if (version.empty()) {
        throw Error(ErrorKind::integrity,
                    "wheel " + wheel + ": " + dist_info + "/WHEEL has no Wheel-Version");
    }
    if (version.substr(0, version.find('.')) != "1") {
        throw Error(ErrorKind::integrity, "wheel " + wheel + " has Wheel-Version " + version +
                                              "; ocibake installs version 1.x wheels");
    }
    std::string pure(detail::trim(wheel_meta["Root-Is-Purelib"], detail::ascii_spaces));
    std::transform(pure.begin(), pure.end(), pure.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    bool purelib = pure == "true";
    const std::string& root = purelib ? scheme_.purelib : scheme_.platlib;
    const std::string site = root; // where .dist-info goes, RECORD paths are relative to it

    std::string data_dir;
    {
        std::string stem = dist_info.substr(0, dist_info.size() - 10);
        data_dir = stem + ".data";
    }

    struct Row {
        std::string path;
        std::string hash;
        std::string size;
    };
    std::vector<Row> rows;
    auto add_row = [&](const std::string& image_path, const std::string& hash, std::uint64_t size) {
        rows.push_back({relative_to(image_path, site), hash, std::to_string(size)});
    };
    // Every directory an installed file needs, so that its mode and owner never depend
    // on the unpacker: in a venv all of them below the venv's root (which is ocibake's),
    // in the system's site-packages those below the scheme directory (the ones above,
    // /usr/local/lib for one, are the base image's and keep its modes).
    auto add_dirs = [&](const std::string& image_path, const std::string& below) {
        const std::string& from =
            !scheme_.venv.empty() && image_path.starts_with(scheme_.venv + "/") ? scheme_.venv
                                                                                : below;
        for (const auto& d : parents_below(image_path, from)) {
            if (dirs_.insert(d).second && !builder_.has(d)) {
                builder_.add_directory(d);
            }
        }
    };
    auto add_content = [&](const std::string& image_path, std::string content, std::uint32_t mode,
                           const std::string& below) {
        add(image_path, wheel);
        add_dirs(image_path, below);
        Digest d = sha256_of(content);
        add_row(image_path, "sha256=" + record_hash(d), content.size());
        builder_.add_content(image_path, std::move(content), mode, 0, 0, wheel);
    };

    const std::string record = dist_info + "/RECORD";
    for (const auto& m : members) {
        if (m.path == record || m.path == record + ".jws" || m.path == record + ".p7s") {
            continue; // RECORD is rewritten; its signatures would no longer hold
        }
        std::string target;
        std::string below;
        bool script = false;
        if (m.path.starts_with(data_dir + "/")) {
            std::string rest = m.path.substr(data_dir.size() + 1);
            std::size_t slash = rest.find('/');
            std::string key = rest.substr(0, slash);
            std::string rel = slash == std::string::npos ? "" : rest.substr(slash + 1);
            if (rel.empty()) {
                throw Error(ErrorKind::integrity,
                            "wheel " + wheel + ": " + m.path + " is not inside a scheme directory");
            }
            if (key == "purelib") {
                below = scheme_.purelib;
            } else if (key == "platlib") {
                below = scheme_.platlib;
            } else if (key == "scripts") {
                below = scheme_.scripts;
                script = true;
                if (rel.find('/') != std::string::npos) {
                    throw Error(ErrorKind::integrity, "wheel " + wheel + ": script " + m.path +
                                                          " is in a subdirectory of scripts/");
                }
            } else if (key == "headers") {
                below = scheme_.headers + "/" + project_name(files, dist_info, uw.name);
            } else if (key == "data") {
                below = scheme_.data;
            } else {
                throw Error(ErrorKind::integrity,
                            "wheel " + wheel + ": " + m.path +
                                " is in an unknown .data directory '" + key +
                                "' (purelib, platlib, scripts, headers, data)");
            }
            target = join_image(below, rel);
        } else {
            below = root;
            target = join_image(root, m.path);
        }
        if (ocibake::detail::whiteout_component(m.path)) {
            throw Error(ErrorKind::input, "wheel " + wheel + ": member '" + m.path + "': " +
                                              ocibake::detail::whiteout_refusal(
                                                  target.substr(target.find_first_not_of('/'))));
        }
        if (script) {
            std::string content = detail::read_file(files / m.path, ErrorKind::io, 256 << 20);
            if (content.starts_with("#!python")) {
                std::size_t eol = content.find('\n');
                std::string first = content.substr(0, eol);
                std::string rest = eol == std::string::npos ? "" : content.substr(eol + 1);
                std::string args = first.substr(first.starts_with("#!pythonw") ? 9 : 8);
                if (!args.empty() && args.back() == '\r') {
                    args.pop_back();
                }
                std::string line = shebang(scheme_.interpreter);
                if (!args.empty() && line.starts_with("#!" + scheme_.interpreter + "\n")) {
                    line = "#!" + scheme_.interpreter + args + "\n";
                }
                content = line + rest;
            }
            add_content(target, std::move(content), 0755, scheme_.scripts);
            // (the scripts directory itself is the venv's or the system's)
            continue;
        }
        add(target, wheel);
        if (below != scheme_.data || !scheme_.venv.empty()) {
            add_dirs(target, below);
        }
        builder_.add(tree_entry(target, files / m.path, m, wheel));
        rows.push_back({relative_to(target, site), m.hash, std::to_string(m.size)});
    }

    // Entry points -> launchers.
    std::error_code ec;
    fs::path eps = files / dist_info / "entry_points.txt";
    if (fs::exists(eps, ec)) {
        for (const auto& ep :
             script_entry_points(detail::read_file(eps, ErrorKind::integrity, 16 << 20), wheel)) {
            add_content(scheme_.scripts + "/" + ep.name,
                        launcher_script(scheme_.interpreter, ep.module, ep.attr), 0755,
                        scheme_.scripts);
        }
    }

    std::string dist_dir = site + "/" + dist_info;
    add_content(dist_dir + "/INSTALLER", "ocibake\n", 0644, root);
    add_content(dist_dir + "/REQUESTED", "", 0644, root);
    if (!direct_url.empty()) {
        json du = {
            {"url", std::string(direct_url)},
            {"archive_info",
             {{"hash", "sha256=" + uw.sha256.hex()}, {"hashes", {{"sha256", uw.sha256.hex()}}}}}};
        add_content(dist_dir + "/direct_url.json", du.dump(), 0644, root);
    }

    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.path < b.path; });
    std::string text;
    for (const auto& r : rows) {
        text += csv_field(r.path) + "," + r.hash + "," + r.size + "\n";
    }
    text += csv_field(dist_info + "/RECORD") + ",,\n";
    add(dist_dir + "/RECORD", wheel);
    builder_.add_content(dist_dir + "/RECORD", std::move(text), 0644, 0, 0, wheel);
    dists_.insert(dist);
}

} // namespace ocibake::python
