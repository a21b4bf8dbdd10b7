#include "ocibake/lock.hpp"

#include "common/fs.hpp"
#include "common/toml.hpp"

#include <toml++/toml.h>

#include "common/text.hpp"
#include "common/time.hpp"
#include "ocibake/apt.hpp"
#include "ocibake/oci.hpp"
#include "ocibake/python.hpp"
#include "ocibake/registry.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <string_view>
#include <utility>

namespace ocibake {

namespace fs = std::filesystem;

namespace {

std::string quoted(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned char>(c));
            out += escaped;
            continue;
        }
        out += c;
    }
    return out + "\"";
}

// ---- reading: every key of every table checked, errors at the value --------------------

constexpr std::string_view remake_hint = "run `ocibake lock` to remake the lock";

bool lower_digit(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/// Printable ASCII without spaces (what URLs are made of).
bool plain_ascii(std::string_view text) {
    return std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

/// A Debian package name (deb-control(5)): lowercase letters, digits, '+', '-', '.';
/// at least two, starting with a letter or digit.
std::string package_name_problem(std::string_view name) {
    bool ok = name.size() >= 2 && lower_digit(name.front()) &&
              std::all_of(name.begin(), name.end(), [](char c) {
                  return lower_digit(c) || c == '+' || c == '-' || c == '.';
              });
    return ok ? std::string()
              : "is not a Debian package name (lowercase letters, digits, '+', '-' and '.', "
                "starting with a letter or digit)";
}

std::string arch_problem(std::string_view arch) {
    bool ok = lower_digit(arch.front()) && std::all_of(arch.begin(), arch.end(), [](char c) {
                  return lower_digit(c) || c == '-';
              });
    return ok ? std::string() : "is not a Debian architecture (e.g. amd64, arm64, all)";
}

std::string url_problem(std::string_view url) {
    std::string_view rest = url.starts_with("https://")  ? url.substr(8)
                            : url.starts_with("http://") ? url.substr(7)
                                                         : std::string_view();
    if (rest.empty() || !plain_ascii(url)) {
        return "is not an http:// or https:// URL";
    }
    if (rest.find_first_of("/?#") == 0) {
        return "names no host";
    }
    return {};
}

/// "3.11", "2.36".
std::string dotted_number_problem(std::string_view text) {
    std::size_t dot = text.find('.');
    auto digits = [](std::string_view part) {
        return !part.empty() && part.size() <= 9 &&
               std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    bool ok = dot != std::string_view::npos && digits(text.substr(0, dot)) &&
              digits(text.substr(dot + 1));
    return ok ? std::string() : "is not MAJOR.MINOR (e.g. \"3.11\")";
}

std::string machine_problem(std::string_view machine) {
    bool ok = std::all_of(machine.begin(), machine.end(),
                          [](char c) { return lower_digit(c) || c == '_'; });
    return ok ? std::string() : "is not a machine name (e.g. x86_64, aarch64)";
}

/// `why` unless `text` is what T::parse() reads and T::str() writes back unchanged.
template <typename T>
std::string round_trip_problem(std::string_view text, std::string_view why) {
    try {
        if (T::parse(text).str() == text) {
            return {};
        }
    } catch (const Error&) {
    }
    return std::string(why);
}

std::string ref_problem(std::string_view ref) {
    return round_trip_problem<registry::Reference>(
        ref, "is not a normalised image reference (e.g. \"docker.io/library/debian:12\")");
}

std::string platform_problem(std::string_view platform) {
    return round_trip_problem<oci::Platform>(platform, "is not a platform (os/arch[/variant])");
}

std::string debian_version_problem(std::string_view version) {
    std::string why = apt::version_problem(version);
    return why.empty() ? why : "is not a Debian version: " + why;
}

std::string request_problem(std::string_view request) {
    std::string why;
    return apt::parse_request(request, &why) ? std::string() : "is not a package request: " + why;
}

std::string suite_problem(std::string_view suite) {
    return plain_ascii(suite) ? std::string()
                              : "is not a suite (printable ASCII without spaces, e.g. bookworm)";
}

std::string time_problem(std::string_view text) {
    return parse_lock_time(text) ? std::string()
                                 : "is not a UTC time of the form 2025-01-11T10:12:07Z";
}

std::string wheel_path_problem(std::string_view path) {
    return path.starts_with('/') ? "must be relative to the lock file's folder" : std::string();
}

/// One table of the lock: its keys checked against a list, each value read with its type
/// and form checked, every error at the value (or at the table for a missing key).
class Table {
public:
    using Check = std::string (*)(std::string_view);

    Table(const fs::path& path, const toml::table& table, std::string label)
        : path_(path), table_(table), label_(std::move(label)) {}

    [[noreturn]] void fail(const toml::node& node, const std::string& why) const {
        throw RecipeError(ErrorKind::recipe, detail::toml_location(path_.string(), node.source()),
                          why, std::string(remake_hint));
    }

    SourceLocation where() const { return detail::toml_location(path_.string(), table_.source()); }

    void allow_only(std::initializer_list<std::string_view> keys) const {
        for (const auto& [key, node] : table_) {
            if (std::find(keys.begin(), keys.end(), key.str()) == keys.end()) {
                throw RecipeError(ErrorKind::recipe,
                                  detail::toml_location(path_.string(), key.source()),
                                  "unknown key '" + detail::printable(key.str()) + "' in " + label_,
                                  std::string(remake_hint));
            }
        }
    }

    const toml::node* find(const char* key) const { return table_.get(key); }

    const toml::node& need(const char* key) const {
        const toml::node* n = table_.get(key);
        if (n == nullptr) {
            fail(table_, label_ + " needs '" + key + "'");
        }
        return *n;
    }

    /// A non-empty string without control characters; with `check`, its form checked.
    std::string text(const char* key, Check check = nullptr) const {
        return text_of(need(key), key, check);
    }
    std::optional<std::string> optional_text(const char* key, Check check = nullptr) const {
        const toml::node* n = table_.get(key);
        if (n == nullptr) {
            return std::nullopt;
        }
        return text_of(*n, key, check);
    }

    std::uint64_t size(const char* key) const {
        const toml::node& n = need(key);
        const auto* v = n.as_integer();
        if (v == nullptr || v->get() < 0) {
            fail(n, std::string("'") + key + "' must be an integer, 0 or more" + not_this(n));
        }
        return static_cast<std::uint64_t>(v->get());
    }

    bool flag(const toml::node& n, const char* key) const {
        if (!n.is_boolean()) {
            fail(n, std::string("'") + key + "' must be true or false" + not_this(n));
        }
        return n.as_boolean()->get();
    }
    bool flag(const char* key) const { return flag(need(key), key); }

    Digest digest(const char* key) const { return digest_of(need(key), key); }
    Digest optional_digest(const char* key) const {
        const toml::node* n = table_.get(key);
        return n == nullptr ? Digest() : digest_of(*n, key);
    }

    std::vector<std::string> texts(const char* key, Check check = nullptr) const {
        const toml::node& n = need(key);
        const toml::array* a = n.as_array();
        if (a == nullptr) {
            fail(n, std::string("'") + key + "' must be an array of strings" + not_this(n));
        }
        std::vector<std::string> out;
        for (const toml::node& item : *a) {
            out.push_back(text_of(item, key, check, true));
        }
        return out;
    }

    /// The tables of an array of tables (`[[KEY]]`); none when the key is absent.
    std::vector<const toml::table*> tables(const char* key, const std::string& form) const {
        std::vector<const toml::table*> out;
        const toml::node* n = table_.get(key);
        if (n == nullptr) {
            return out;
        }
        const toml::array* a = n->as_array();
        if (a == nullptr) {
            fail(*n, std::string("'") + key + "' must be an array of tables (" + form + ")" +
                         not_this(*n));
        }
        for (const toml::node& item : *a) {
            const toml::table* t = item.as_table();
            if (t == nullptr) {
                fail(item, std::string("'") + key + "' must hold only tables (" + form + ")" +
                               not_this(item));
            }
            out.push_back(t);
        }
        return out;
    }

private:
    static std::string not_this(const toml::node& n) {
        if (const auto* s = n.as_string()) {
            return ", not '" + detail::printable(s->get()) + "'";
        }
        if (const auto* i = n.as_integer()) {
            return ", not " + std::to_string(i->get());
        }
        switch (n.type()) {
        case toml::node_type::table:
            return ", not a table";
        case toml::node_type::array:
            return ", not an array";
        case toml::node_type::floating_point:
            return ", not a float";
        case toml::node_type::boolean:
            return ", not a boolean";
        case toml::node_type::date:
        case toml::node_type::time:
        case toml::node_type::date_time:
            return ", not a date or time";
        default:
            return {};
        }
    }

    std::string text_of(const toml::node& n, const char* key, Check check,
                        bool element = false) const {
        const auto* s = n.as_string();
        if (s == nullptr) {
            fail(n, std::string("'") + key +
                        (element ? "' must hold only strings" : "' must be a string") +
                        not_this(n));
        }
        const std::string& value = s->get();
        if (value.empty()) {
            fail(n, std::string("'") + key + "' must not be empty");
        }
        if (std::any_of(value.begin(), value.end(),
                        [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
            fail(n, std::string("'") + key + "' '" + detail::printable(value) +
                        "' holds a control character");
        }
        if (check != nullptr) {
            if (std::string why = check(value); !why.empty()) {
                fail(n, std::string("'") + key + "' '" + detail::printable(value) + "' " + why);
            }
        }
        return value;
    }

    Digest digest_of(const toml::node& n, const char* key) const {
        std::string t = text_of(n, key, nullptr);
        Digest d = Digest::try_parse(t);
        if (!d) {
            fail(n, std::string("'") + key + "' '" + detail::printable(t) +
                        "' is not a sha256 digest (\"sha256:\" and 64 lowercase hex digits)");
        }
        return d;
    }

    const fs::path& path_;
    const toml::table& table_;
    std::string label_;
};

LockedBase read_base(const fs::path& path, const toml::table& t) {
    Table f(path, t, "[base]");
    f.allow_only({"ref", "platform", "index", "manifest"});
    LockedBase b;
    b.where = f.where();
    b.ref = f.text("ref", ref_problem);
    b.platform = f.text("platform", platform_problem);
    b.index = f.optional_digest("index");
    b.manifest = f.digest("manifest");
    return b;
}

LockedWheel read_wheel(const fs::path& path, const toml::table& t) {
    Table f(path, t, "[[python.wheel]]");
    f.allow_only({"name", "version", "file", "url", "path", "size", "sha256", "direct"});
    LockedWheel w;
    w.where = f.where();
    w.name = f.text("name");
    w.version = f.text("version");
    w.file = f.text("file");
    std::optional<python::WheelFilename> parsed;
    try {
        parsed = python::WheelFilename::parse(w.file);
    } catch (const Error&) {
        f.fail(f.need("file"),
               "'file' '" + detail::printable(w.file) + "' is not a wheel's file name");
    }
    std::string name = python::normalize_name(parsed->distribution);
    if (name != w.name) {
        f.fail(f.need("name"), "'name' '" + detail::printable(w.name) + "' is not the name of " +
                                   detail::printable(w.file) + " ('" + detail::printable(name) +
                                   "')");
    }
    if (parsed->version != w.version) {
        f.fail(f.need("version"), "'version' '" + detail::printable(w.version) +
                                      "' is not the version of " + detail::printable(w.file) +
                                      " ('" + detail::printable(parsed->version) + "')");
    }
    std::optional<std::string> url = f.optional_text("url", url_problem);
    std::optional<std::string> local = f.optional_text("path", wheel_path_problem);
    if (url.has_value() == local.has_value()) {
        f.fail(t, "[[python.wheel]] needs one of 'url' and 'path'");
    }
    w.url = url.value_or("");
    w.path = local.value_or("");
    w.size = f.size("size");
    w.sha256 = f.digest("sha256");
    if (const toml::node* direct = f.find("direct")) {
        w.direct = f.flag(*direct, "direct");
        if (w.direct && w.url.empty()) {
            f.fail(*direct, "'direct' is for a wheel named by a URL, and this one has a 'path'");
        }
    }
    return w;
}

LockedPython read_python(const fs::path& path, const toml::table& t) {
    Table f(path, t, "[[python]]");
    f.allow_only({"layer", "python", "glibc", "machine", "wheel"});
    LockedPython p;
    p.where = f.where();
    p.layer = f.text("layer");
    p.python = f.text("python", dotted_number_problem);
    p.glibc = f.optional_text("glibc", dotted_number_problem).value_or("");
    p.machine = f.text("machine", machine_problem);
    std::map<std::string, SourceLocation> seen;
    for (const toml::table* table : f.tables("wheel", "[[python.wheel]]")) {
        LockedWheel w = read_wheel(path, *table);
        auto [first, fresh] = seen.emplace(w.name, w.where);
        if (!fresh) {
            throw RecipeError(ErrorKind::recipe, w.where,
                              "wheel '" + w.name + "' is pinned twice for layer '" +
                                  detail::printable(p.layer) + "' (first at " +
                                  first->second.str() + ")",
                              std::string(remake_hint));
        }
        p.wheels.push_back(std::move(w));
    }
    return p;
}

std::string sha512_problem(std::string_view hex) {
    bool ok = hex.size() == 128 && std::all_of(hex.begin(), hex.end(), [](char c) {
                  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
              });
    return ok ? std::string() : "is not 128 lowercase hex digits";
}

LockedArchive read_archive_file(const fs::path& path, const toml::table& t) {
    Table f(path, t, "[[archive.file]]");
    f.allow_only({"url", "size", "sha256", "sha512", "manifest", "component", "version", "platform",
                  "variant"});
    LockedArchive a;
    a.where = f.where();
    a.url = f.text("url", url_problem);
    a.size = f.size("size");
    a.sha256 = f.digest("sha256");
    a.sha512 = f.optional_text("sha512", sha512_problem).value_or("");
    a.manifest = f.optional_text("manifest", url_problem).value_or("");
    a.component = f.optional_text("component").value_or("");
    a.version = f.optional_text("version").value_or("");
    a.platform = f.optional_text("platform").value_or("");
    a.variant = f.optional_text("variant").value_or("");
    if (!a.manifest.empty() && (a.component.empty() || a.version.empty() || a.platform.empty())) {
        f.fail(t, "[[archive.file]] with a 'manifest' needs 'component', 'version' and "
                  "'platform'");
    }
    if (a.manifest.empty() &&
        (!a.component.empty() || !a.version.empty() || !a.platform.empty() || !a.variant.empty())) {
        f.fail(t, "[[archive.file]] has 'component', 'version', 'platform' or 'variant' "
                  "without 'manifest'");
    }
    return a;
}

LockedArchiveLayer read_archive_layer(const fs::path& path, const toml::table& t) {
    Table f(path, t, "[[archive]]");
    f.allow_only({"layer", "file"});
    LockedArchiveLayer l;
    l.where = f.where();
    l.layer = f.text("layer");
    for (const toml::table* table : f.tables("file", "[[archive.file]]")) {
        l.files.push_back(read_archive_file(path, *table));
    }
    return l;
}

LockedPackage read_package(const fs::path& path, const toml::table& t) {
    Table p(path, t, "[[apt.package]]");
    p.allow_only({"name", "version", "arch", "source", "url", "size", "sha256"});
    LockedPackage pkg;
    pkg.where = p.where();
    pkg.name = p.text("name", package_name_problem);
    pkg.version = p.text("version", debian_version_problem);
    pkg.arch = p.text("arch", arch_problem);
    pkg.source = p.text("source", package_name_problem);
    pkg.url = p.text("url", url_problem);
    pkg.size = p.size("size");
    pkg.sha256 = p.digest("sha256");
    return pkg;
}

LockedRelease read_release(const fs::path& path, const toml::table& t) {
    Table r(path, t, "[[apt.release]]");
    r.allow_only({"url", "suite", "date"});
    LockedRelease release;
    release.where = r.where();
    release.url = r.text("url", url_problem);
    release.suite = r.text("suite", suite_problem);
    release.date = *parse_lock_time(r.text("date", time_problem));
    return release;
}

LockedAptLayer read_apt_layer(const fs::path& path, const toml::table& table) {
    Table f(path, table, "[[apt]]");
    f.allow_only({"layer", "packages", "recommends", "sources", "below", "release", "package"});
    LockedAptLayer layer;
    layer.where = f.where();
    layer.layer = f.text("layer");
    layer.packages = f.texts("packages", request_problem);
    layer.recommends = f.flag("recommends");
    layer.sources = f.digest("sources");
    layer.below = f.digest("below");
    std::map<std::pair<std::string, std::string>, SourceLocation> suites;
    for (const toml::table* t : f.tables("release", "[[apt.release]]")) {
        LockedRelease release = read_release(path, *t);
        auto [first, fresh] = suites.emplace(std::pair(release.url, release.suite), release.where);
        if (!fresh) {
            throw RecipeError(
                ErrorKind::recipe, release.where,
                "suite " + detail::printable(release.suite) + " of " +
                    detail::printable(release.url) + " is recorded twice for layer '" +
                    detail::printable(layer.layer) + "' (first at " + first->second.str() + ")",
                std::string(remake_hint));
        }
        layer.releases.push_back(std::move(release));
    }
    std::map<std::pair<std::string, std::string>, SourceLocation> seen;
    for (const toml::table* t : f.tables("package", "[[apt.package]]")) {
        LockedPackage pkg = read_package(path, *t);
        auto [first, fresh] = seen.emplace(std::pair(pkg.name, pkg.arch), pkg.where);
        if (!fresh) {
            throw RecipeError(ErrorKind::recipe, pkg.where,
                              "package " + pkg.name + " (" + pkg.arch +
                                  ") is pinned twice for layer '" + detail::printable(layer.layer) +
                                  "' (first at " + first->second.str() + ")",
                              std::string(remake_hint));
        }
        layer.installs.push_back(std::move(pkg));
    }
    return layer;
}

/// A second entry for one layer.
template <typename Entry>
void check_unique_layers(const std::vector<Entry>& entries, const char* form) {
    std::map<std::string, SourceLocation> seen;
    for (const Entry& e : entries) {
        auto [first, fresh] = seen.emplace(e.layer, e.where);
        if (!fresh) {
            throw RecipeError(ErrorKind::recipe, e.where,
                              "layer '" + detail::printable(e.layer) + "' has two " + form +
                                  " entries (first at " + first->second.str() + ")",
                              std::string(remake_hint));
        }
    }
}

} // namespace

std::string lock_time_text(std::int64_t seconds) {
    return detail::utc_text(seconds, "%Y-%m-%dT%H:%M:%SZ");
}

std::optional<std::int64_t> parse_lock_time(std::string_view text) {
    // YYYY-MM-DDTHH:MM:SSZ, nothing else (no offsets, no fractions).
    static constexpr std::string_view form = "dddd-dd-ddTdd:dd:ddZ";
    if (text.size() != form.size()) {
        return std::nullopt;
    }
    for (std::size_t i = 0; i < form.size(); ++i) {
        bool digit = text[i] >= '0' && text[i] <= '9';
        if (form[i] == 'd' ? !digit : text[i] != form[i]) {
            return std::nullopt;
        }
    }
    auto number = [&](std::size_t at, std::size_t n) {
        int v = 0;
        for (std::size_t i = at; i < at + n; ++i) {
            v = v * 10 + (text[i] - '0');
        }
        return v;
    };
    std::tm tm{};
    tm.tm_year = number(0, 4) - 1900;
    tm.tm_mon = number(5, 2) - 1;
    tm.tm_mday = number(8, 2);
    tm.tm_hour = number(11, 2);
    tm.tm_min = number(14, 2);
    tm.tm_sec = number(17, 2);
    std::int64_t seconds = static_cast<std::int64_t>(::timegm(&tm));
    // timegm() normalises (Feb 30 -> Mar 2): a real time gives back its own text.
    if (seconds < 0 || lock_time_text(seconds) != text) {
        return std::nullopt;
    }
    return seconds;
}

fs::path lock_path_for(const fs::path& recipe) {
    fs::path p = recipe;
    p.replace_extension(".lock");
    return p;
}

Lock parse_lock(std::string_view text, const fs::path& path) {
    toml::table table =
        detail::parse_toml(text, path.string(), "the lock is made by `ocibake lock`; run it again");
    Table top(path, table, "the lock");
    const toml::node* version = table.get("version");
    const toml::value<std::int64_t>* number = version ? version->as_integer() : nullptr;
    if (number == nullptr || number->get() != lock_format_version) {
        std::string found = number    ? std::to_string(number->get())
                            : version ? std::string("(not an integer)")
                                      : std::string("(none)");
        throw RecipeError(ErrorKind::recipe,
                          version ? detail::toml_location(path.string(), version->source())
                                  : SourceLocation{path.string(), 1, 1},
                          "lock format version " + found + " is not " +
                              std::to_string(lock_format_version),
                          "run `ocibake lock` with this ocibake to remake the lock");
    }
    top.allow_only({"version", "base", "python", "apt", "archive"});
    Lock lock;
    if (const toml::node* base = table.get("base")) {
        const toml::table* t = base->as_table();
        if (t == nullptr) {
            top.fail(*base, "'base' must be a table ([base])");
        }
        lock.base = read_base(path, *t);
    }
    for (const toml::table* t : top.tables("python", "[[python]]")) {
        lock.python.push_back(read_python(path, *t));
    }
    check_unique_layers(lock.python, "[[python]]");
    for (const toml::table* t : top.tables("apt", "[[apt]]")) {
        lock.apt.push_back(read_apt_layer(path, *t));
    }
    check_unique_layers(lock.apt, "[[apt]]");
    for (const toml::table* t : top.tables("archive", "[[archive]]")) {
        lock.archives.push_back(read_archive_layer(path, *t));
    }
    check_unique_layers(lock.archives, "[[archive]]");
    return lock;
}

std::optional<Lock> read_lock(const fs::path& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        return std::nullopt;
    }
    return parse_lock(detail::read_file(path, ErrorKind::input, 64 << 20), path);
}

const LockedPython* Lock::python_for(const std::string& layer) const {
    for (const auto& p : python) {
        if (p.layer == layer) {
            return &p;
        }
    }
    return nullptr;
}

const LockedArchiveLayer* Lock::archives_for(const std::string& layer) const {
    for (const auto& a : archives) {
        if (a.layer == layer) {
            return &a;
        }
    }
    return nullptr;
}

std::string to_text(const Lock& lock, const std::string& recipe_name) {
    std::string out = "# ocibake lock for " + recipe_name +
                      ": every remote input, pinned by digest.\n"
                      "# Made by `ocibake lock`; commit it, do not edit it.\n"
                      "version = " +
                      std::to_string(lock_format_version) + "\n";
    if (lock.base) {
        const LockedBase& b = *lock.base;
        out += "\n[base]\nref = " + quoted(b.ref) + "\nplatform = " + quoted(b.platform) + "\n";
        if (b.index) {
            out += "index = " + quoted(b.index.str()) + "\n";
        }
        out += "manifest = " + quoted(b.manifest.str()) + "\n";
    }
    for (const LockedPython& p : lock.python) {
        out += "\n[[python]]\nlayer = " + quoted(p.layer) + "\npython = " + quoted(p.python) + "\n";
        if (!p.glibc.empty()) {
            out += "glibc = " + quoted(p.glibc) + "\n";
        }
        out += "machine = " + quoted(p.machine) + "\n";
        for (const LockedWheel& w : p.wheels) {
            out += "\n  [[python.wheel]]\n  name = " + quoted(w.name) +
                   "\n  version = " + quoted(w.version) + "\n  file = " + quoted(w.file) + "\n";
            out += w.url.empty() ? "  path = " + quoted(w.path) + "\n"
                                 : "  url = " + quoted(w.url) + "\n";
            out += "  size = " + std::to_string(w.size) + "\n  sha256 = " + quoted(w.sha256.str()) +
                   "\n";
            if (w.direct) {
                out += "  direct = true\n";
            }
        }
    }
    for (const LockedAptLayer& layer : lock.apt) {
        out += "\n[[apt]]\nlayer = " + quoted(layer.layer) + "\npackages = [";
        for (std::size_t i = 0; i < layer.packages.size(); ++i) {
            out += (i ? ", " : "") + quoted(layer.packages[i]);
        }
        out += "]\nrecommends = " + std::string(layer.recommends ? "true" : "false") +
               "\nsources = " + quoted(layer.sources.str()) +
               "\nbelow = " + quoted(layer.below.str()) + "\n";
        for (const LockedRelease& r : layer.releases) {
            out += "\n[[apt.release]]\nurl = " + quoted(r.url) + "\nsuite = " + quoted(r.suite) +
                   "\ndate = " + quoted(lock_time_text(r.date)) + "\n";
        }
        for (const LockedPackage& p : layer.installs) {
            out += "\n[[apt.package]]\nname = " + quoted(p.name) +
                   "\nversion = " + quoted(p.version) + "\narch = " + quoted(p.arch) +
                   "\nsource = " + quoted(p.source) + "\nurl = " + quoted(p.url) +
                   "\nsize = " + std::to_string(p.size) + "\nsha256 = " + quoted(p.sha256.str()) +
                   "\n";
        }
    }
    for (const LockedArchiveLayer& l : lock.archives) {
        out += "\n[[archive]]\nlayer = " + quoted(l.layer) + "\n";
        for (const LockedArchive& a : l.files) {
            out += "\n  [[archive.file]]\n  url = " + quoted(a.url) +
                   "\n  size = " + std::to_string(a.size) +
                   "\n  sha256 = " + quoted(a.sha256.str()) + "\n";
            if (!a.sha512.empty()) {
                out += "  sha512 = " + quoted(a.sha512) + "\n";
            }
            if (!a.manifest.empty()) {
                out += "  manifest = " + quoted(a.manifest) +
                       "\n  component = " + quoted(a.component) +
                       "\n  version = " + quoted(a.version) +
                       "\n  platform = " + quoted(a.platform) + "\n";
                if (!a.variant.empty()) {
                    out += "  variant = " + quoted(a.variant) + "\n";
                }
            }
        }
    }
    return out;
}

void write_lock(const fs::path& path, const Lock& lock, const std::string& recipe_name) {
    detail::atomic_write_file(path, to_text(lock, recipe_name));
}

} // namespace ocibake
