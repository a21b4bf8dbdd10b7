// Internal: how recipe tables are read (recipe.cpp, archive.cpp): values with their
// source locations, tables whose keys are checked against a list of Fields, and the
// typed readers every table shares. Errors are RecipeErrors at the value.
#pragma once

#include "common/strings.hpp"
#include "ocibake/error.hpp"
#include "ocibake/layer.hpp"
#include "ocibake/oci.hpp"
#include "ocibake/recipe.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
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
/// A host path named in `file`: absolute, lexically normal, no trailing slash.
std::filesystem::path resolve(const FileContext& file, std::string_view text);
/// The allowed key closest to `key`, for "did you mean".
std::optional<std::string_view> nearest_key(std::string_view key,
                                            std::span<const std::string_view> allowed);
/// Whole file; RecipeError(input) at `where` when it cannot be read, is not a regular file
/// (a FIFO would block forever) or is larger than 16 MiB.
std::string read_text(const std::filesystem::path& path, const SourceLocation& where,
                      const std::string& what);

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
/// For an element of an array (or a value of a table of strings).
[[noreturn]] void wrong_element(const Value& element, std::string_view expected);
[[noreturn]] void out_of_range(const Value& value, std::string_view shown, std::string_view range);
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
std::string as_absolute_path(const Value& value);
Compression as_compression(const Value& value);
/// Keys of a table of strings (env, labels) into `out`, later wins; `env`: no '=' in keys.
void merge_strings(std::map<std::string, std::string>& out, const Value& value, bool env);

/// How an image name may be written (for hints).
inline constexpr std::string_view name_rules =
    "use lowercase letters and digits, with single '.', '_' or '-' between them; '/' "
    "separates path components";
/// [a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*
bool valid_image_name(std::string_view name);
std::string as_image_name(const Value& value);
std::string as_tag(const Value& value);
oci::Platform as_platform(const Value& value);
/// Ports as "N/tcp" | "N/udp" | "N/sctp", from strings or integers.
std::vector<std::string> as_ports(const Value& value);

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

/// A value of a table's `type` key (`[[layer.files]]`, `[[test]]`) and the keys a table of
/// that type takes.
template <typename Type>
struct TypeKeys {
    std::string_view name;
    Type type;
    std::span<const std::string_view> keys;
};

/// The entry of `types` that the section's `type` names (the first when it has none), after
/// checking that each of its keys is one that type takes (`refusal` says where it is not:
/// "is not allowed for type", "is not allowed in a test of type").
template <typename Type, std::size_t N>
const TypeKeys<Type>& read_type(const Section& section, const std::array<TypeKeys<Type>, N>& types,
                                std::string_view refusal) {
    const TypeKeys<Type>* type = &types[0];
    if (const Value* value = section.get("type")) {
        std::string text = as_string(*value);
        auto named = std::find_if(types.begin(), types.end(),
                                  [&](const TypeKeys<Type>& t) { return t.name == text; });
        if (named == types.end()) {
            std::vector<std::string_view> names;
            for (const TypeKeys<Type>& t : types) {
                names.push_back(t.name);
            }
            fail(value->where(),
                 "'type' must be one of " + join(names, ", ") + ", not " + in_quotes(text));
        }
        type = &*named;
    }
    for (const Value& value : section.values()) {
        if (std::find(type->keys.begin(), type->keys.end(), value.name) == type->keys.end()) {
            fail(value.key_where(),
                 in_quotes(value.name) + " " + std::string(refusal) + " " + in_quotes(type->name),
                 "type " + in_quotes(type->name) + " takes: " + join(type->keys, ", "));
        }
    }
    return *type;
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

} // namespace ocibake::detail::recipe_read
