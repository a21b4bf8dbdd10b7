#include "ocibake/lock.hpp"

#include "common/fs.hpp"

#include <toml++/toml.h>

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
        out += c;
    }
    return out + "\"";
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
    std::string text = detail::read_file(path, ErrorKind::input, 64 << 20);
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
    auto version = table["version"].value<std::int64_t>();
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
    return lock;
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
    return out;
}

void write_lock(const fs::path& path, const Lock& lock, const std::string& recipe_name) {
    detail::atomic_write_file(path, to_text(lock, recipe_name));
}

} // namespace ocibake
