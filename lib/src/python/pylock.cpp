// PEP 751 pylock.toml: packages and their wheel files (name, url or path, size, hashes).
#include "python/pylock.hpp"
#include "common/fs.hpp"
#include "common/toml.hpp"
#include "ocibake/python.hpp"

#include <toml++/toml.h>

#include <cctype>

namespace ocibake::python {

namespace fs = std::filesystem;

namespace {

class PylockReader {
public:
    PylockReader(const fs::path& file, std::string display)
        : file_(file), display_(std::move(display)) {}

    std::vector<PylockPackage> read() {
        std::string text;
        try {
            text = detail::read_file(file_, ErrorKind::input, 256 << 20);
        } catch (const Error& e) {
            throw RecipeError(ErrorKind::input, SourceLocation{display_, 0, 0},
                              std::string("cannot read pylock: ") + e.what());
        }
        return parse(text);
    }

    std::vector<PylockPackage> parse(std::string_view text) {
        toml::table root = detail::parse_toml(text, display_);
        const toml::node* version = root.get("lock-version");
        if (version == nullptr || !version->is_string()) {
            fail(root, "a pylock file needs lock-version = \"1.0\"");
        }
        std::string v = version->as_string()->get();
        if (!v.starts_with("1.")) {
            fail(*version, "lock-version " + v + " is not supported (1.x is)");
        }
        std::vector<PylockPackage> out;
        const toml::node* packages = root.get("packages");
        if (packages == nullptr) {
            return out;
        }
        const toml::array* array = packages->as_array();
        if (array == nullptr) {
            fail(*packages, "'packages' must be an array of tables ([[packages]])");
        }
        for (const toml::node& node : *array) {
            const toml::table* table = node.as_table();
            if (table == nullptr) {
                fail(node, "'packages' must hold only tables");
            }
            out.push_back(package(*table));
        }
        return out;
    }

private:
    SourceLocation at(const toml::source_region& r) const {
        return detail::toml_location(display_, r);
    }

    [[noreturn]] void fail(const toml::node& node, std::string why) const {
        throw RecipeError(ErrorKind::recipe, at(node.source()), std::move(why));
    }

    std::string text(const toml::table& t, const char* key, bool required) const {
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
        return n->as_string()->get();
    }

    PylockFile file(const toml::table& t, const std::string& package) const {
        PylockFile f;
        f.where = at(t.source());
        f.url = text(t, "url", false);
        f.path = text(t, "path", false);
        f.name = text(t, "name", false);
        if (f.url.empty() && f.path.empty()) {
            fail(t, "a file of package '" + package + "' needs 'url' or 'path'");
        }
        if (!f.path.empty()) {
            f.path = (file_.parent_path() / f.path).lexically_normal().string();
        }
        if (f.name.empty()) {
            std::string from = f.url.empty() ? f.path : f.url.substr(0, f.url.find_first_of("?#"));
            f.name = from.substr(from.rfind('/') + 1);
            // %2B and friends in URLs
            std::string decoded;
            for (std::size_t i = 0; i < f.name.size(); ++i) {
                if (f.name[i] == '%' && i + 2 < f.name.size() &&
                    std::isxdigit(static_cast<unsigned char>(f.name[i + 1])) &&
                    std::isxdigit(static_cast<unsigned char>(f.name[i + 2]))) {
                    decoded += static_cast<char>(std::stoi(f.name.substr(i + 1, 2), nullptr, 16));
                    i += 2;
                } else {
                    decoded += f.name[i];
                }
            }
            f.name = decoded;
        }
        if (const toml::node* size = t.get("size")) {
            if (!size->is_integer() || size->as_integer()->get() < 0) {
                fail(*size, "'size' must be a non-negative integer");
            }
            f.size = static_cast<std::uint64_t>(size->as_integer()->get());
        }
        const toml::node* hashes = t.get("hashes");
        const toml::table* ht = hashes ? hashes->as_table() : nullptr;
        if (ht == nullptr) {
            fail(hashes ? *hashes : static_cast<const toml::node&>(t),
                 "file " + f.name + " of package '" + package +
                     "' needs hashes = {sha256 = \"...\"}");
        }
        const toml::node* sha = ht->get("sha256");
        if (sha == nullptr || !sha->is_string()) {
            fail(*ht, "file " + f.name + " has no sha256 hash; ocibake checks sha256");
        }
        f.sha256 = Digest::try_parse("sha256:" + sha->as_string()->get());
        if (!f.sha256) {
            fail(*sha, "'" + sha->as_string()->get() + "' is not a sha256 digest (64 hex digits)");
        }
        return f;
    }

    PylockPackage package(const toml::table& t) const {
        PylockPackage p;
        p.where = at(t.source());
        p.name = text(t, "name", true);
        p.version = text(t, "version", false);
        p.marker = text(t, "marker", false);
        p.index = text(t, "index", false);
        if (const toml::node* wheels = t.get("wheels")) {
            const toml::array* array = wheels->as_array();
            if (array == nullptr) {
                fail(*wheels, "'wheels' must be an array of tables");
            }
            for (const toml::node& w : *array) {
                if (!w.is_table()) {
                    fail(w, "'wheels' must hold only tables");
                }
                p.wheels.push_back(file(*w.as_table(), p.name));
            }
        }
        if (p.wheels.empty()) {
            for (const char* other : {"sdist", "vcs", "directory", "archive"}) {
                if (t.get(other)) {
                    p.other_source = other;
                }
            }
        }
        return p;
    }

    fs::path file_;
    std::string display_;
};

} // namespace

std::vector<PylockPackage> read_pylock(const fs::path& file, const std::string& display) {
    return PylockReader(file, display).read();
}

} // namespace ocibake::python

namespace ocibake::detail {

std::vector<python::PylockPackage>
parse_pylock(std::string_view text, const std::filesystem::path& file, const std::string& display) {
    return python::PylockReader(file, display).parse(text);
}

} // namespace ocibake::detail
