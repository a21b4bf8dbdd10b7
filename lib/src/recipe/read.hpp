// Internal: how recipe tables are read (recipe.cpp, archive.cpp): values with their
// source locations, tables whose keys are checked against a list of Fields, and the
// typed readers every table shares. Errors are RecipeErrors at the value.
#pragma once

#include "ocibake/error.hpp"
#include "ocibake/layer.hpp"
#include "ocibake/recipe.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ocibake::detail::recipe_read {

/// A recipe file being read: how messages name it and where its relative paths start.
struct FileContext {
    std::string display; ///< as given (top level) or joined to the includer's (fragments)
    std::filesystem::path absolute; ///< absolute, lexically normal
};

SourceLocation locate(const FileContext& file, const toml::source_region& region);
[[noreturn]] void fail(const SourceLocation& where, std::string summary, std::string hint = {});
/// A recipe value quoted in a message: escaped and cut (detail::printable()).
std::string in_quotes(std::string_view text);
std::string join(std::span<const std::string_view> items, std::string_view separator);
/// A host path named in `file`: absolute, lexically normal, no trailing slash.
std::filesystem::path resolve(const FileContext& file, std::string_view text);
/// The allowed key closest to `key`, for "did you mean".
std::optional<std::string_view> nearest_key(std::string_view key,
                                            std::span<const std::string_view> allowed);

/// A value in a recipe, with what a message about it needs.
struct Value {
    const toml::node& node;
    std::string name;               ///< how messages name it ("uid", "env")
    const FileContext& file;        ///< the file that wrote it
    const toml::key* key = nullptr; ///< the key (none for array elements)

    SourceLocation where() const { return locate(file, node.source()); }
    SourceLocation key_where() const { return key ? locate(file, key->source()) : where(); }
};

/// A string with the location of its value.
struct Located {
    std::string text;
    SourceLocation where;
};

[[noreturn]] void wrong_type(const Value& value, std::string_view expected, std::string hint = {});
std::string as_string(const Value& value);
std::string as_nonempty_string(const Value& value);
std::int64_t as_integer(const Value& value);
std::int64_t as_integer_in(const Value& value, std::int64_t low, std::int64_t high);
std::uint32_t as_id(const Value& value);
bool as_bool(const Value& value);
const toml::table& as_table(const Value& value);
std::vector<Located> as_strings(const Value& value, std::string hint = {});
std::vector<std::string> texts(const std::vector<Located>& items);
std::vector<const toml::table*> as_tables(const Value& value, std::string hint);
/// A mode: an octal integer or an octal string (docs/recipe.md).
std::uint32_t as_mode(const Value& value);
/// An image path that normalize_image_path() accepts; the text is kept as written.
std::string as_image_path(const Value& value, bool allow_root);

/// A TOML table being read, named as messages name it ("[config]", "the top level").
class Section {
public:
    Section(const toml::table& table, std::string label, const FileContext& file)
        : table_(table), label_(std::move(label)), file_(file) {
        std::vector<std::pair<const toml::key*, const toml::node*>> entries;
        for (auto&& [key, node] : table) {
            entries.emplace_back(&key, &node);
        }
        // toml++ keeps keys sorted; messages follow the order of the text.
        std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
            const auto& x = a.first->source().begin;
            const auto& y = b.first->source().begin;
            return std::pair(x.line, x.column) < std::pair(y.line, y.column);
        });
        for (const auto& [key, node] : entries) {
            values_.push_back(Value{*node, std::string(key->str()), file, key});
        }
    }

    SourceLocation where() const { return locate(file_, table_.source()); }
    /// Every key and value, in the order of the text.
    const std::vector<Value>& values() const noexcept { return values_; }

    const Value* get(std::string_view key) const {
        auto it = std::find_if(values_.begin(), values_.end(),
                               [&](const Value& v) { return v.name == key; });
        return it == values_.end() ? nullptr : &*it;
    }

    /// Throws for the first key (in text order) that is not in `allowed`.
    void allow_only(std::span<const std::string_view> allowed,
                    std::string_view (*home)(std::string_view) = nullptr) const {
        for (const Value& value : values_) {
            if (std::find(allowed.begin(), allowed.end(), value.name) == allowed.end()) {
                std::string_view elsewhere = home ? home(value.name) : std::string_view();
                fail(value.key_where(), "unknown key " + in_quotes(value.name) + " in " + label_,
                     elsewhere.empty()
                         ? unknown_key_hint(value.name, allowed)
                         : in_quotes(value.name) + " belongs in " + std::string(elsewhere));
            }
        }
    }

    /// `what`: the missing keys, quoted ("'path'", "'src' or 'content'").
    [[noreturn]] void missing(std::string_view what, std::string hint = {}) const {
        fail(where(), label_ + " needs " + std::string(what), std::move(hint));
    }

private:
    static std::string unknown_key_hint(std::string_view key,
                                        std::span<const std::string_view> allowed) {
        if (auto nearest = nearest_key(key, allowed)) {
            return "did you mean " + in_quotes(*nearest) + "?";
        }
        return "allowed keys: " + join(allowed, ", ");
    }

    const toml::table& table_;
    std::string label_;
    const FileContext& file_;
    std::vector<Value> values_;
};

/// One key of a table and what reading it does to `Target`.
template <typename Target>
struct Field {
    std::string_view key;
    void (*apply)(Target&, const Value&);
};

template <typename Target, std::size_t N>
std::array<std::string_view, N> keys_of(const std::array<Field<Target>, N>& fields) {
    std::array<std::string_view, N> keys{};
    std::transform(fields.begin(), fields.end(), keys.begin(),
                   [](const Field<Target>& f) { return f.key; });
    return keys;
}

/// Checks the section's keys against `fields`, then applies each value in text order.
template <typename Target, std::size_t N>
void read_fields(const Section& section, Target& target, const std::array<Field<Target>, N>& fields,
                 std::string_view (*home)(std::string_view) = nullptr) {
    section.allow_only(keys_of(fields), home);
    for (const Value& value : section.values()) {
        auto field = std::find_if(fields.begin(), fields.end(),
                                  [&](const Field<Target>& f) { return f.key == value.name; });
        field->apply(target, value);
    }
}

/// `[[layer.archive]]` (recipe/archive.cpp).
ArchiveItem read_archive(const Section& section);
/// `[[layer.nvidia]]` (recipe/archive.cpp): `manifest` made from product and version when
/// not stated.
NvidiaItem read_nvidia(const Section& section);

} // namespace ocibake::detail::recipe_read
