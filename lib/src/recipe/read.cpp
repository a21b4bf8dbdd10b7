// ocibake: the recipe's located reader: values with their file:line:col, checked for type
// and form (recipe/read.hpp). Every table of a recipe is read through these.
#include "recipe/read.hpp"

#include "common/fs.hpp"
#include "common/text.hpp"
#include "common/toml.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ocibake::detail::recipe_read {

namespace fs = std::filesystem;

constexpr std::size_t max_recipe_size = 16 << 20;
constexpr std::int64_t max_id = 4294967294;     // uid/gid: 2^32 - 2 (2^32 - 1 is "no id")
constexpr std::int64_t max_mode = 07777;        // permission bits with setuid/setgid/sticky
constexpr std::size_t max_suggest_distance = 2; // for "did you mean"

// ---- files, locations, errors ------------------------------------------------------

SourceLocation locate(const FileContext& file, const toml::source_region& region) {
    return detail::toml_location(file.display, region);
}

[[noreturn]] void fail(const SourceLocation& where, std::string summary, std::string hint) {
    throw RecipeError(ErrorKind::recipe, where, std::move(summary), std::move(hint));
}

/// A recipe value quoted in a message: escaped and cut (detail::printable()).
std::string in_quotes(std::string_view text) {
    return "'" + detail::printable(text) + "'";
}

/// A host path named in `file`: absolute, lexically normal, no trailing slash.
fs::path resolve(const FileContext& file, std::string_view text) {
    fs::path out = (file.absolute.parent_path() / fs::path(text)).lexically_normal();
    if (out.has_relative_path() && !out.has_filename()) {
        out = out.parent_path();
    }
    return out;
}

/// Whole file; RecipeError(input) at `where` when it cannot be read, is not a regular file
/// (a FIFO would block forever) or is larger than max_recipe_size.
std::string read_text(const fs::path& path, const SourceLocation& where, const std::string& what) {
    std::string why;
    detail::UniqueFd fd = detail::open_regular(path, why);
    if (!fd) {
        throw RecipeError(ErrorKind::input, where, "cannot read " + what + ": " + why);
    }
    std::string text;
    bool complete = false;
    try {
        complete = detail::read_all(fd.get(), path, ErrorKind::input, max_recipe_size, text);
    } catch (const Error& e) {
        throw RecipeError(ErrorKind::input, where, e.what());
    }
    if (!complete) {
        throw RecipeError(ErrorKind::input, where, what + " is larger than 16 MiB",
                          "a recipe holds settings: put large content in a file and copy it");
    }
    return text;
}

// ---- suggestions for unknown keys --------------------------------------------------

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) {
        d[i][0] = i;
    }
    for (std::size_t j = 0; j <= b.size(); ++j) {
        d[0][j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
            }
        }
    }
    return d[a.size()][b.size()];
}

bool shares_prefix(std::string_view a, std::string_view b) {
    std::string_view shorter = a.size() < b.size() ? a : b;
    std::string_view longer = a.size() < b.size() ? b : a;
    return shorter.size() >= 3 && longer.substr(0, shorter.size()) == shorter;
}

/// The allowed key closest to `key`: edit distance <= 2 (and less than the key's
/// length), else one being a prefix of the other.
std::optional<std::string_view> nearest_key(std::string_view key,
                                            std::span<const std::string_view> allowed) {
    std::optional<std::string_view> best;
    std::size_t best_distance = max_suggest_distance + 1;
    for (std::string_view candidate : allowed) {
        std::size_t distance = edit_distance(key, candidate);
        if (distance < best_distance && distance < key.size()) {
            best = candidate;
            best_distance = distance;
        }
    }
    if (best) {
        return best;
    }
    for (std::string_view candidate : allowed) {
        if (shares_prefix(key, candidate)) {
            return candidate;
        }
    }
    return std::nullopt;
}

// ---- values ------------------------------------------------------------------------

const char* type_phrase(toml::node_type type) noexcept {
    switch (type) {
    case toml::node_type::table:
        return "a table";
    case toml::node_type::array:
        return "an array";
    case toml::node_type::string:
        return "a string";
    case toml::node_type::integer:
        return "an integer";
    case toml::node_type::floating_point:
        return "a float";
    case toml::node_type::boolean:
        return "a boolean";
    case toml::node_type::date:
        return "a date";
    case toml::node_type::time:
        return "a time";
    case toml::node_type::date_time:
        return "a date-time";
    case toml::node_type::none:
        break;
    }
    return "nothing";
}

[[noreturn]] void wrong_type(const Value& value, std::string_view expected, std::string hint) {
    fail(value.where(),
         in_quotes(value.name) + " must be " + std::string(expected) + ", not " +
             type_phrase(value.node.type()),
         std::move(hint));
}

/// For an element of an array (or a value of a table of strings).
[[noreturn]] void wrong_element(const Value& element, std::string_view expected) {
    fail(element.where(), in_quotes(element.name) + " must hold only " + std::string(expected) +
                              ", not " + type_phrase(element.node.type()));
}

[[noreturn]] void out_of_range(const Value& value, std::string_view shown, std::string_view range) {
    fail(value.where(), in_quotes(value.name) + " " + std::string(shown) + " is out of range (" +
                            std::string(range) + ")");
}

std::string as_string(const Value& value) {
    if (const auto* text = value.node.as_string()) {
        return text->get();
    }
    wrong_type(value, "a string");
}

std::string as_nonempty_string(const Value& value) {
    std::string text = as_string(value);
    if (text.empty()) {
        fail(value.where(), in_quotes(value.name) + " must not be empty");
    }
    return text;
}

std::int64_t as_integer(const Value& value) {
    if (const auto* number = value.node.as_integer()) {
        return number->get();
    }
    wrong_type(value, "an integer");
}

std::int64_t as_integer_in(const Value& value, std::int64_t low, std::int64_t high) {
    std::int64_t number = as_integer(value);
    if (number < low || number > high) {
        out_of_range(value, std::to_string(number),
                     std::to_string(low) + ".." + std::to_string(high));
    }
    return number;
}

std::uint32_t as_id(const Value& value) {
    return static_cast<std::uint32_t>(as_integer_in(value, 0, max_id));
}

bool as_bool(const Value& value) {
    if (const auto* flag = value.node.as_boolean()) {
        return flag->get();
    }
    wrong_type(value, "a boolean");
}

const toml::table& as_table(const Value& value) {
    if (const auto* table = value.node.as_table()) {
        return *table;
    }
    wrong_type(value, "a table");
}

std::vector<Located> as_strings(const Value& value, std::string hint) {
    const auto* array = value.node.as_array();
    if (array == nullptr) {
        wrong_type(value, "an array of strings", std::move(hint));
    }
    std::vector<Located> out;
    for (const toml::node& item : *array) {
        Value element{item, value.name, value.file};
        if (!item.is_string()) {
            wrong_element(element, "strings");
        }
        out.push_back({item.as_string()->get(), element.where()});
    }
    return out;
}

std::vector<std::string> texts(const std::vector<Located>& items) {
    std::vector<std::string> out;
    for (const Located& item : items) {
        out.push_back(item.text);
    }
    return out;
}

/// An array of tables (`[[header]]` or an array of inline tables).
std::vector<const toml::table*> as_tables(const Value& value, std::string hint) {
    const auto* array = value.node.as_array();
    if (array == nullptr) {
        wrong_type(value, "an array of tables", std::move(hint));
    }
    std::vector<const toml::table*> out;
    for (const toml::node& item : *array) {
        if (!item.is_table()) {
            wrong_element(Value{item, value.name, value.file}, "tables");
        }
        out.push_back(item.as_table());
    }
    return out;
}

std::string octal(std::int64_t number) {
    std::string digits;
    do {
        digits.insert(digits.begin(), static_cast<char>('0' + number % 8));
        number /= 8;
    } while (number > 0);
    return digits;
}

/// How an integer was written: none (decimal), binary, octal or hexadecimal.
toml::value_flags integer_format(const toml::value<std::int64_t>& integer) {
    return integer.flags() & toml::value_flags::format_as_hexadecimal; // the two format bits
}

/// A mode written in decimal (or hex, binary): `mode = 644` is 0o1204, never what was meant.
[[noreturn]] void mode_not_octal(const Value& value, const toml::value<std::int64_t>& integer) {
    std::string decimal = std::to_string(integer.get());
    bool digits_look_octal = integer_format(integer) == toml::value_flags::none &&
                             decimal.find_first_of("89") == std::string::npos;
    std::string meant = digits_look_octal ? decimal : octal(integer.get());
    fail(value.where(), in_quotes(value.name) + " " + decimal + " is not written in octal",
         "write 0o" + meant + " (a TOML octal integer) or \"0" + meant + "\"");
}

std::uint32_t mode_from_integer(const Value& value, const toml::value<std::int64_t>& integer) {
    std::int64_t number = integer.get();
    if (integer_format(integer) != toml::value_flags::format_as_octal && number >= 8) {
        mode_not_octal(value, integer);
    }
    if (number < 0 || number > max_mode) {
        out_of_range(value, number < 0 ? std::to_string(number) : "0o" + octal(number),
                     "0..0o7777");
    }
    return static_cast<std::uint32_t>(number);
}

std::uint32_t mode_from_string(const Value& value, std::string_view text) {
    std::string_view digits = text.starts_with("0o") ? text.substr(2) : text;
    if (digits.empty() || digits.find_first_not_of("01234567") != std::string_view::npos) {
        fail(value.where(),
             in_quotes(value.name) + " " + in_quotes(text) + " is not an octal number",
             "write an octal string like \"0644\" or a TOML octal integer like 0o644");
    }
    std::int64_t number = 0;
    for (char digit : digits) {
        number = number * 8 + (digit - '0');
        if (number > max_mode) {
            out_of_range(value, in_quotes(text), "0..0o7777");
        }
    }
    return static_cast<std::uint32_t>(number);
}

/// A permission mode: a TOML octal integer (0o644) or an octal string ("0644").
std::uint32_t as_mode(const Value& value) {
    if (const auto* integer = value.node.as_integer()) {
        return mode_from_integer(value, *integer);
    }
    if (const auto* text = value.node.as_string()) {
        return mode_from_string(value, text->get());
    }
    wrong_type(value, "an integer or an octal string");
}

Compression as_compression(const Value& value) {
    std::string text = as_string(value);
    if (auto compression = parse_compression(text)) {
        return *compression;
    }
    fail(value.where(),
         in_quotes(value.name) + " must be one of gzip, zstd, none, not " + in_quotes(text));
}

/// An image path that normalize_image_path() accepts; the text is kept as written.
std::string as_image_path(const Value& value, bool allow_root) {
    std::string text = as_string(value);
    try {
        normalize_image_path(text, "", allow_root);
    } catch (const Error& e) {
        fail(value.where(), in_quotes(value.name) + " " + e.what());
    }
    return text;
}

std::string as_absolute_path(const Value& value) {
    std::string text = as_string(value);
    if (!text.starts_with('/')) {
        fail(value.where(), in_quotes(value.name) + " must be an absolute path");
    }
    return text;
}

// ---- names, tags, ports --------------------------------------------------------------

bool lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/// [a-z0-9]+([._-][a-z0-9]+)*
bool valid_name_component(std::string_view part) {
    bool after_separator = true;
    for (char c : part) {
        if (lower_alnum(c)) {
            after_separator = false;
        } else if ((c == '.' || c == '_' || c == '-') && !after_separator) {
            after_separator = true;
        } else {
            return false;
        }
    }
    return !after_separator;
}

bool valid_image_name(std::string_view name) {
    for (;;) {
        std::size_t slash = name.find('/');
        if (!valid_name_component(name.substr(0, slash))) {
            return false;
        }
        if (slash == std::string_view::npos) {
            return true;
        }
        name.remove_prefix(slash + 1);
    }
}

/// [A-Za-z0-9_][A-Za-z0-9._-]{0,127}
bool valid_tag(std::string_view tag) {
    auto word = [](char c) { return (c >= 'A' && c <= 'Z') || lower_alnum(c) || c == '_'; };
    if (tag.empty() || tag.size() > 128 || !word(tag.front())) {
        return false;
    }
    return std::all_of(tag.begin(), tag.end(),
                       [&](char c) { return word(c) || c == '.' || c == '-'; });
}

std::string as_image_name(const Value& value) {
    std::string name = as_string(value);
    if (!valid_image_name(name)) {
        fail(value.where(),
             in_quotes(value.name) + " " + in_quotes(name) + " is not a valid image name",
             std::string(name_rules));
    }
    return name;
}

std::string as_tag(const Value& value) {
    std::string tag = as_string(value);
    if (!valid_tag(tag)) {
        fail(value.where(), in_quotes(value.name) + " " + in_quotes(tag) + " is not a valid tag",
             "up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'");
    }
    return tag;
}

oci::Platform as_platform(const Value& value) {
    std::string text = as_string(value);
    try {
        return oci::Platform::parse(text);
    } catch (const Error& e) {
        fail(value.where(), in_quotes(value.name) + ": " + e.what());
    }
}

constexpr std::string_view port_forms = "write 8080, \"8080/tcp\", \"53/udp\" or \"9/sctp\"";

std::string port_from_integer(const Value& element, std::int64_t port) {
    if (port < 1 || port > 65535) {
        fail(element.where(), in_quotes(element.name) + " entry " + std::to_string(port) +
                                  " is out of range (1..65535)");
    }
    return std::to_string(port) + "/tcp";
}

std::string port_from_string(const Value& element, std::string_view text) {
    std::size_t slash = text.find('/');
    std::string_view number = text.substr(0, slash);
    std::string_view protocol = slash == std::string_view::npos ? "tcp" : text.substr(slash + 1);
    std::string entry = in_quotes(element.name) + " entry " + in_quotes(text);
    if (number.empty() || number.size() > 5 ||
        number.find_first_not_of("0123456789") != std::string_view::npos) {
        fail(element.where(), entry + " is not a port number", std::string(port_forms));
    }
    if (protocol != "tcp" && protocol != "udp" && protocol != "sctp") {
        fail(element.where(), entry + " has an unknown protocol " + in_quotes(protocol),
             "use tcp, udp or sctp");
    }
    int port = std::stoi(std::string(number));
    if (port < 1 || port > 65535) {
        fail(element.where(), entry + " is out of range (1..65535)");
    }
    return std::to_string(port) + "/" + std::string(protocol);
}

/// Ports as "N/tcp" | "N/udp" | "N/sctp", from strings or integers.
std::vector<std::string> as_ports(const Value& value) {
    const auto* array = value.node.as_array();
    if (array == nullptr) {
        wrong_type(value, "an array of strings or integers");
    }
    std::vector<std::string> out;
    for (const toml::node& item : *array) {
        Value element{item, value.name, value.file};
        if (const auto* integer = item.as_integer()) {
            out.push_back(port_from_integer(element, integer->get()));
        } else if (const auto* text = item.as_string()) {
            out.push_back(port_from_string(element, text->get()));
        } else {
            wrong_element(element, "strings or integers");
        }
    }
    return out;
}

/// Keys of a table of strings (env, labels) into `out`, later wins.
void merge_strings(std::map<std::string, std::string>& out, const Value& value, bool env) {
    Section table(as_table(value), in_quotes(value.name), value.file);
    for (const Value& entry : table.values()) {
        Value element{entry.node, value.name, value.file, entry.key};
        if (entry.name.empty()) {
            fail(entry.key_where(), in_quotes(value.name) + " keys must not be empty");
        }
        if (env && entry.name.find('=') != std::string::npos) {
            fail(entry.key_where(),
                 in_quotes(value.name) + " key " + in_quotes(entry.name) + " must not contain '='");
        }
        if (!entry.node.is_string()) {
            wrong_element(element, "strings");
        }
        out[entry.name] = entry.node.as_string()->get();
    }
}

} // namespace ocibake::detail::recipe_read
