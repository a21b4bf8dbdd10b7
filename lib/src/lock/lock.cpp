#include "ocibake/lock.hpp"

#include "common/fs.hpp"
#include "lock/internal.hpp"

#include <toml++/toml.h>

#include <cstdio>

namespace ocibake {

namespace fs = std::filesystem;

namespace {

SourceLocation at(const fs::path& file, const toml::source_region& r) {
    return {file.string(), static_cast<std::uint32_t>(r.begin.line),
            static_cast<std::uint32_t>(r.begin.column)};
}

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

template <typename Fail>
std::string string_of(const toml::table& t, const char* key, bool required, Fail& fail) {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
        if (required) {
            fail(t, std::string("needs '") + key + "'");
        }
        return {};
    }
    if (!n->is_string()) {
        fail(*n, std::string("'") + key + "' must be a string");
    }
    return n->value<std::string>().value_or("");
}

template <typename Fail>
LockedPython read_python(const fs::path& path, const toml::table& t, Fail& fail) {
    LockedPython p;
    p.where = at(path, t.source());
    p.layer = string_of(t, "layer", true, fail);
    p.python = string_of(t, "python", true, fail);
    p.glibc = string_of(t, "glibc", false, fail);
    p.machine = string_of(t, "machine", true, fail);
    if (const toml::node* wheels = t.get("wheel")) {
        const toml::array* array = wheels->as_array();
        if (array == nullptr) {
            fail(*wheels, "'wheel' must be an array of tables ([[python.wheel]])");
        }
        for (const toml::node& node : *array) {
            const toml::table* w = node.as_table();
            if (w == nullptr) {
                fail(node, "'wheel' must hold only tables");
            }
            LockedWheel lw;
            lw.where = at(path, w->source());
            lw.name = string_of(*w, "name", true, fail);
            lw.version = string_of(*w, "version", true, fail);
            lw.file = string_of(*w, "file", true, fail);
            lw.url = string_of(*w, "url", false, fail);
            lw.path = string_of(*w, "path", false, fail);
            if (lw.url.empty() == lw.path.empty()) {
                fail(*w, "[[python.wheel]] needs one of 'url' and 'path'");
            }
            const toml::node* size = w->get("size");
            if (size == nullptr || !size->is_integer() || size->as_integer()->get() < 0) {
                fail(size ? *size : static_cast<const toml::node&>(*w),
                     "'size' must be a non-negative integer");
            }
            lw.size = static_cast<std::uint64_t>(size->as_integer()->get());
            std::string digest = string_of(*w, "sha256", true, fail);
            lw.sha256 = Digest::try_parse(digest);
            if (!lw.sha256) {
                fail(*w->get("sha256"), "'sha256' is not a sha256 digest");
            }
            if (const toml::node* direct = w->get("direct")) {
                if (!direct->is_boolean()) {
                    fail(*direct, "'direct' must be a boolean");
                }
                lw.direct = direct->as_boolean()->get();
            }
            p.wheels.push_back(std::move(lw));
        }
    }
    return p;
}

/// Reads the string, integer and digest keys of one lock table, with errors at the value.
class Fields {
public:
    Fields(const fs::path& path, const toml::table& table, std::string label)
        : path_(path), table_(table), label_(std::move(label)) {}

    [[noreturn]] void fail(const toml::node& node, const std::string& why) const {
        throw RecipeError(ErrorKind::recipe, at(path_, node.source()), why,
                          "run `ocibake lock` to remake the lock");
    }
    const toml::node& need(const char* key) const {
        const toml::node* n = table_.get(key);
        if (n == nullptr) {
            fail(table_, label_ + " needs '" + key + "'");
        }
        return *n;
    }
    std::string text(const char* key) const {
        const toml::node& n = need(key);
        if (!n.is_string()) {
            fail(n, std::string("'") + key + "' must be a string");
        }
        return n.value<std::string>().value_or("");
    }
    std::uint64_t number(const char* key) const {
        const toml::node& n = need(key);
        auto v = n.value_exact<std::int64_t>(); // value<>() converts a float (UB past int64)
        if (!n.is_integer() || !v || *v < 0) {
            fail(n, std::string("'") + key + "' must be an integer, 0 or more");
        }
        return static_cast<std::uint64_t>(*v);
    }
    bool flag(const char* key) const {
        const toml::node& n = need(key);
        if (!n.is_boolean()) {
            fail(n, std::string("'") + key + "' must be a boolean");
        }
        return n.value<bool>().value_or(false);
    }
    Digest digest(const char* key) const {
        std::string t = text(key);
        Digest d = Digest::try_parse(t);
        if (!d) {
            fail(need(key), std::string("'") + key + "' is not a sha256 digest");
        }
        return d;
    }
    std::vector<std::string> texts(const char* key) const {
        const toml::node& n = need(key);
        const toml::array* a = n.as_array();
        if (a == nullptr) {
            fail(n, std::string("'") + key + "' must be an array of strings");
        }
        std::vector<std::string> out;
        for (const toml::node& item : *a) {
            if (!item.is_string()) {
                fail(item, std::string("'") + key + "' must hold only strings");
            }
            out.push_back(item.value<std::string>().value_or(""));
        }
        return out;
    }

private:
    const fs::path& path_;
    const toml::table& table_;
    std::string label_;
};

LockedAptLayer read_apt_layer(const fs::path& path, const toml::table& table) {
    Fields f(path, table, "[[apt]]");
    LockedAptLayer layer;
    layer.where = at(path, table.source());
    layer.layer = f.text("layer");
    layer.packages = f.texts("packages");
    layer.recommends = f.flag("recommends");
    layer.sources = f.digest("sources");
    layer.below = f.digest("below");
    if (const toml::node* packages = table.get("package")) {
        const toml::array* items = packages->as_array();
        if (items == nullptr) {
            f.fail(*packages, "'package' must be an array of tables ([[apt.package]])");
        }
        for (const toml::node& node : *items) {
            const toml::table* t = node.as_table();
            if (t == nullptr) {
                f.fail(node, "'package' must hold tables");
            }
            Fields p(path, *t, "[[apt.package]]");
            LockedPackage pkg;
            pkg.where = at(path, t->source());
            pkg.name = p.text("name");
            pkg.version = p.text("version");
            pkg.arch = p.text("arch");
            pkg.source = p.text("source");
            pkg.url = p.text("url");
            pkg.size = p.number("size");
            pkg.sha256 = p.digest("sha256");
            layer.installs.push_back(std::move(pkg));
        }
    }
    return layer;
}

} // namespace

fs::path lock_path_for(const fs::path& recipe) {
    fs::path p = recipe;
    p.replace_extension(".lock");
    return p;
}

std::optional<Lock> read_lock(const fs::path& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        return std::nullopt;
    }
    return detail::parse_lock(detail::read_file(path, ErrorKind::input, 64 << 20), path);
}

Lock detail::parse_lock(std::string_view text, const fs::path& path) {
    toml::table table;
    try {
        table = toml::parse(text, path.string());
    } catch (const toml::parse_error& e) {
        throw RecipeError(ErrorKind::recipe, at(path, e.source()), std::string(e.description()),
                          "the lock is made by `ocibake lock`; run it again");
    }
    auto fail = [&](const toml::node& node, const std::string& why) {
        throw RecipeError(ErrorKind::recipe, at(path, node.source()), why,
                          "run `ocibake lock` to remake the lock");
    };
    Lock lock;
    auto version = table["version"].value_exact<std::int64_t>();
    if (!version || *version != lock_format_version) {
        throw RecipeError(ErrorKind::recipe, SourceLocation{path.string(), 1, 1},
                          "lock format version " +
                              (version ? std::to_string(*version) : std::string("(none)")) +
                              " is not " + std::to_string(lock_format_version),
                          "run `ocibake lock` with this ocibake to remake the lock");
    }
    if (const toml::table* base = table["base"].as_table()) {
        LockedBase b;
        b.where = at(path, base->source());
        auto text_of = [&](const char* key, bool required) {
            const toml::node* n = base->get(key);
            if (n == nullptr) {
                if (required) {
                    fail(*base, std::string("[base] needs '") + key + "'");
                }
                return std::string();
            }
            if (!n->is_string()) {
                fail(*n, std::string("'") + key + "' must be a string");
            }
            return n->value<std::string>().value_or("");
        };
        auto digest_of = [&](const char* key, bool required) {
            std::string t = text_of(key, required);
            if (t.empty()) {
                return Digest();
            }
            Digest d = Digest::try_parse(t);
            if (!d) {
                fail(*base->get(key), std::string("'") + key + "' is not a sha256 digest");
            }
            return d;
        };
        b.ref = text_of("ref", true);
        b.platform = text_of("platform", true);
        b.index = digest_of("index", false);
        b.manifest = digest_of("manifest", true);
        lock.base = b;
    }
    if (const toml::node* python = table.get("python")) {
        const toml::array* entries = python->as_array();
        if (entries == nullptr) {
            fail(*python, "'python' must be an array of tables ([[python]])");
        }
        for (const toml::node& node : *entries) {
            const toml::table* t = node.as_table();
            if (t == nullptr) {
                fail(node, "'python' must hold only tables");
            }
            lock.python.push_back(read_python(path, *t, fail));
        }
    }
    if (const toml::node* apt = table.get("apt")) {
        const toml::array* layers = apt->as_array();
        if (layers == nullptr) {
            fail(*apt, "'apt' must be an array of tables ([[apt]])");
        }
        for (const toml::node& node : *layers) {
            const toml::table* t = node.as_table();
            if (t == nullptr) {
                fail(node, "'apt' must hold tables");
            }
            lock.apt.push_back(read_apt_layer(path, *t));
        }
    }
    return lock;
}

const LockedPython* Lock::python_for(const std::string& layer) const {
    for (const auto& p : python) {
        if (p.layer == layer) {
            return &p;
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
        for (const LockedPackage& p : layer.installs) {
            out += "\n[[apt.package]]\nname = " + quoted(p.name) +
                   "\nversion = " + quoted(p.version) + "\narch = " + quoted(p.arch) +
                   "\nsource = " + quoted(p.source) + "\nurl = " + quoted(p.url) +
                   "\nsize = " + std::to_string(p.size) + "\nsha256 = " + quoted(p.sha256.str()) +
                   "\n";
        }
    }
    return out;
}

void write_lock(const fs::path& path, const Lock& lock, const std::string& recipe_name) {
    detail::atomic_write_file(path, to_text(lock, recipe_name));
}

} // namespace ocibake
