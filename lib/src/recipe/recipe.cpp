// ocibake: recipes. TOML (toml++) -> the checked model of recipe.hpp.
//
// A Loader reads the top-level file and, depth first, every fragment it includes. Each
// file's includes are merged before the file's own values, so "later wins" falls out of
// the order in which values are applied: fragments in include order, then the file
// that includes them. Every table is read through a list of Fields (key -> setter), so
// the keys a table accepts and the keys it reads are one list. Checks that need the
// merged recipe (levels against the compression in effect, layer names, the default
// image name) run once at the end. docs/recipe.md is the user-facing reference.

#include "ocibake/recipe.hpp"

#include "recipe/read.hpp"

#include "common/fs.hpp"
#include "common/regex.hpp"
#include "common/text.hpp"
#include "common/toml.hpp"
#include "ocibake/registry.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <fcntl.h>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unistd.h>
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
    return {file.display, region.begin.line, region.begin.column};
}

[[noreturn]] void fail(const SourceLocation& where, std::string summary, std::string hint) {
    throw RecipeError(ErrorKind::recipe, where, std::move(summary), std::move(hint));
}

/// A recipe value quoted in a message: escaped and cut (detail::printable()).
std::string in_quotes(std::string_view text) {
    return "'" + detail::printable(text) + "'";
}

std::string join(std::span<const std::string_view> items, std::string_view separator) {
    std::string out;
    for (std::string_view item : items) {
        if (!out.empty()) {
            out += separator;
        }
        out += item;
    }
    return out;
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

constexpr std::string_view name_rules =
    "use lowercase letters and digits, with single '.', '_' or '-' between them; '/' "
    "separates path components";

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

// ---- tables ------------------------------------------------------------------------

} // namespace ocibake::detail::recipe_read

namespace ocibake {
namespace {

using namespace detail::recipe_read;
namespace fs = std::filesystem;

// ---- [[layer.copy]] ------------------------------------------------------------------

std::array<Field<CopyItem>, 11> copy_fields() {
    return {{
        {"src",
         [](CopyItem& c, const Value& v) {
             c.src = resolve(v.file, as_nonempty_string(v));
             c.src_where = v.where();
         }},
        {"dst",
         [](CopyItem& c, const Value& v) {
             c.dst = as_image_path(v, true);
             c.dst_where = v.where();
         }},
        {"include", [](CopyItem& c, const Value& v) { c.options.include = texts(as_strings(v)); }},
        {"exclude", [](CopyItem& c, const Value& v) { c.options.exclude = texts(as_strings(v)); }},
        {"mode", [](CopyItem& c, const Value& v) { c.options.file_mode = as_mode(v); }},
        {"dir_mode", [](CopyItem& c, const Value& v) { c.options.dir_mode = as_mode(v); }},
        {"uid", [](CopyItem& c, const Value& v) { c.options.uid = as_id(v); }},
        {"gid", [](CopyItem& c, const Value& v) { c.options.gid = as_id(v); }},
        {"preserve_modes",
         [](CopyItem& c, const Value& v) { c.options.preserve_modes = as_bool(v); }},
        {"xattrs", [](CopyItem& c, const Value& v) { c.options.xattrs = as_bool(v); }},
        {"follow_symlinks",
         [](CopyItem& c, const Value& v) { c.options.follow_symlinks = as_bool(v); }},
    }};
}

CopyItem read_copy(const Section& section) {
    CopyItem item;
    item.where = section.where();
    item.dst_where = section.where();
    read_fields(section, item, copy_fields());
    if (!section.get("src")) {
        section.missing(in_quotes("src"),
                        "the host file or directory to copy, relative to this file");
    }
    return item;
}

// ---- [[layer.files]] -----------------------------------------------------------------

std::array<Field<FileItem>, 8> files_fields() {
    return {{
        {"path",
         [](FileItem& f, const Value& v) {
             f.path = as_image_path(v, false);
             f.path_where = v.where();
         }},
        {"type", [](FileItem&, const Value&) {}}, // read first, see read_files()
        {"src",
         [](FileItem& f, const Value& v) {
             f.src = resolve(v.file, as_nonempty_string(v));
             f.src_where = v.where();
         }},
        {"content", [](FileItem& f, const Value& v) { f.content = as_string(v); }},
        {"target", [](FileItem& f, const Value& v) { f.target = as_nonempty_string(v); }},
        {"mode", [](FileItem& f, const Value& v) { f.mode = as_mode(v); }},
        {"uid", [](FileItem& f, const Value& v) { f.uid = as_id(v); }},
        {"gid", [](FileItem& f, const Value& v) { f.gid = as_id(v); }},
    }};
}

/// A `type` of [[layer.files]] and the keys it takes.
struct FilesType {
    std::string_view name;
    EntryType type;
    std::span<const std::string_view> keys;
};

FilesType files_type(const Section& section) {
    static constexpr std::array<std::string_view, 7> file_keys{"path", "type", "src", "content",
                                                               "mode", "uid",  "gid"};
    static constexpr std::array<std::string_view, 5> dir_keys{"path", "type", "mode", "uid", "gid"};
    static constexpr std::array<std::string_view, 5> symlink_keys{"path", "type", "target", "uid",
                                                                  "gid"};
    static constexpr std::array<std::string_view, 3> hardlink_keys{"path", "type", "target"};
    const std::array<FilesType, 5> types{{
        {"file", EntryType::file, file_keys},
        {"dir", EntryType::directory, dir_keys},
        {"symlink", EntryType::symlink, symlink_keys},
        {"hardlink", EntryType::hardlink, hardlink_keys},
        {"fifo", EntryType::fifo, dir_keys},
    }};
    const Value* value = section.get("type");
    if (value == nullptr) {
        return types[0];
    }
    std::string text = as_string(*value);
    for (const FilesType& type : types) {
        if (type.name == text) {
            return type;
        }
    }
    fail(value->where(),
         "'type' must be one of file, dir, symlink, hardlink, fifo, not " + in_quotes(text));
}

void check_files_keys(const Section& section, const FilesType& type) {
    for (const Value& value : section.values()) {
        if (std::find(type.keys.begin(), type.keys.end(), value.name) == type.keys.end()) {
            fail(value.key_where(),
                 in_quotes(value.name) + " is not allowed for type " + in_quotes(type.name),
                 "type " + in_quotes(type.name) + " takes: " + join(type.keys, ", "));
        }
    }
}

void check_file_source(const Section& section) {
    const Value* src = section.get("src");
    const Value* content = section.get("content");
    if (src && content) {
        const Value* second = std::max(src, content); // values() is in text order
        fail(second->where(), "'src' and 'content' are mutually exclusive",
             "use 'src' for a host file or 'content' for inline text");
    }
    if (!src && !content) {
        section.missing("'src' or 'content'",
                        "a file needs 'src' (a host file) or 'content' (inline text)");
    }
}

void check_files_target(const Section& section, const FileItem& item) {
    const Value* target = section.get("target");
    if (target == nullptr) {
        section.missing(in_quotes("target"), item.type == EntryType::symlink
                                                 ? "a symlink needs the path it points to"
                                                 : "a hard link needs the image path of its file");
    }
    if (item.type == EntryType::hardlink) {
        as_image_path(*target, false);
    }
}

FileItem read_files(const Section& section) {
    section.allow_only(keys_of(files_fields()));
    FilesType type = files_type(section);
    check_files_keys(section, type);
    FileItem item;
    item.where = section.where();
    item.type = type.type;
    read_fields(section, item, files_fields());
    if (!section.get("path")) {
        section.missing(in_quotes("path"),
                        "the image path of the entry, e.g. path = \"/etc/motd\"");
    }
    if (item.type == EntryType::file) {
        check_file_source(section);
    }
    if (item.type == EntryType::symlink || item.type == EntryType::hardlink) {
        check_files_target(section, item);
    }
    return item;
}

// ---- [[layer]] -------------------------------------------------------------------------

/// A layer being read, with what the final checks need.
struct LayerDraft {
    LayerSpec spec;
    std::optional<SourceLocation> name_where; ///< set when the name was written
    std::optional<std::int64_t> level;
    SourceLocation level_where;
};

// ---- [layer.python] -------------------------------------------------------------------

/// How messages name a host path written in `file`: joined to the file's display folder.
std::string display_of(const FileContext& file, std::string_view text) {
    if (!text.empty() && text.front() == '/') {
        return std::string(text);
    }
    return (fs::path(file.display).parent_path() / fs::path(text)).lexically_normal().string();
}

/// "3.11": a major.minor Python version.
std::string as_python_version(const Value& value) {
    std::string text = as_string(value);
    std::size_t dot = text.find('.');
    bool ok = dot != std::string::npos && dot > 0 && dot + 1 < text.size() &&
              text.find_first_not_of("0123456789.") == std::string::npos &&
              text.find('.', dot + 1) == std::string::npos;
    if (!ok) {
        fail(value.where(), in_quotes(value.name) + " " + in_quotes(text) + " is not like \"3.11\"",
             "the target Python as major.minor");
    }
    return text;
}

std::vector<apt::PackageRequest> as_packages(const Value& value) {
    std::vector<apt::PackageRequest> out;
    for (const Located& item : as_strings(value)) {
        std::string why;
        std::optional<apt::PackageRequest> request = apt::parse_request(item.text, &why);
        if (!request) {
            fail(item.where, "'packages' entry " + in_quotes(item.text) + ": " + why,
                 "write \"name\", \"name=version\" or \"name:arch\", e.g. "
                 "\"openssh-server=1:9.2p1-2+deb12u3\"");
        }
        request->where = item.where;
        auto same = std::find_if(out.begin(), out.end(), [&](const apt::PackageRequest& r) {
            return r.name == request->name && r.arch == request->arch;
        });
        if (same != out.end()) {
            fail(item.where, "package " + in_quotes(request->name) + " is listed twice",
                 "first listed at " + same->where.str());
        }
        out.push_back(std::move(*request));
    }
    return out;
}

/// A user or group name as shadow's tools accept it: [a-z_][a-z0-9_-]*[$]?, 1..32.
std::string as_account_name(const Value& value) {
    std::string name = as_string(value);
    bool ok = !name.empty() && name.size() <= 32 &&
              ((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_');
    for (std::size_t i = 0; ok && i < name.size(); ++i) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
             (c == '$' && i + 1 == name.size());
    }
    if (!ok) {
        fail(value.where(),
             in_quotes(value.name) + " " + in_quotes(name) + " is not a user or group name",
             "lowercase letters, digits, '_' and '-', starting with a letter or '_', at most 32");
    }
    return name;
}

std::vector<std::string> as_account_names(const Value& value) {
    std::vector<std::string> out;
    const auto* array = value.node.as_array();
    if (array == nullptr) {
        wrong_type(value, "an array of strings");
    }
    for (const toml::node& item : *array) {
        out.push_back(as_account_name(Value{item, value.name, value.file}));
    }
    return out;
}

/// A field of /etc/passwd: no ':' and no newline.
std::string as_passwd_field(const Value& value, bool absolute) {
    std::string text = absolute ? as_absolute_path(value) : as_string(value);
    if (text.find_first_of(":\n") != std::string::npos) {
        fail(value.where(), in_quotes(value.name) + " must not contain ':' or a newline");
    }
    return text;
}

std::array<Field<PythonSpec>, 9> python_fields() {
    return {{
        {"requirements",
         [](PythonSpec& p, const Value& v) {
             std::string text = as_nonempty_string(v);
             p.requirements = resolve(v.file, text);
             p.requirements_display = display_of(v.file, text);
             p.requirements_where = v.where();
         }},
        {"pylock",
         [](PythonSpec& p, const Value& v) {
             std::string text = as_nonempty_string(v);
             p.pylock = resolve(v.file, text);
             p.pylock_display = display_of(v.file, text);
             p.pylock_where = v.where();
         }},
        {"wheels",
         [](PythonSpec& p, const Value& v) {
             for (const Located& w : as_strings(v)) {
                 if (!w.text.ends_with(".whl")) {
                     fail(w.where, "'wheels' entry " + in_quotes(w.text) + " is not a .whl file");
                 }
                 p.wheels.push_back(resolve(v.file, w.text));
                 p.wheels_where.push_back(w.where);
             }
         }},
        {"venv",
         [](PythonSpec& p, const Value& v) {
             p.venv = as_absolute_path(v);
             as_image_path(v, false);
             p.venv_where = v.where();
         }},
        {"python",
         [](PythonSpec& p, const Value& v) {
             p.python = as_python_version(v);
             p.python_where = v.where();
         }},
        {"glibc",
         [](PythonSpec& p, const Value& v) {
             std::string text = as_string(v);
             if (text != "none" && (text.find_first_not_of("0123456789.") != std::string::npos ||
                                    !text.starts_with("2.") || text.size() < 3)) {
                 fail(v.where(),
                      "'glibc' " + in_quotes(text) + " is not like \"2.36\" or \"none\"");
             }
             p.glibc = text;
         }},
        {"interpreter",
         [](PythonSpec& p, const Value& v) {
             p.interpreter = as_absolute_path(v);
             as_image_path(v, false);
         }},
        {"index_url", [](PythonSpec& p, const Value& v) { p.index_url = as_nonempty_string(v); }},
        {"extra_index_urls",
         [](PythonSpec& p, const Value& v) { p.extra_index_urls = texts(as_strings(v)); }},
    }};
}

PythonSpec read_python(const Section& section) {
    PythonSpec spec;
    spec.where = section.where();
    read_fields(section, spec, python_fields());
    if (!section.get("requirements") && !section.get("pylock") && !section.get("wheels")) {
        section.missing(
            "'requirements', 'pylock' or 'wheels'",
            "requirements = \"requirements.txt\" (hashed, as pip-compile "
            "--generate-hashes writes it), pylock = \"pylock.toml\", or wheels = [...]");
    }
    if (section.get("requirements") && section.get("pylock")) {
        fail(section.get("pylock")->where(), "'requirements' and 'pylock' are mutually exclusive",
             "one lock of Python packages per layer; use another layer for the other");
    }
    return spec;
}

std::array<Field<apt::Account>, 8> account_fields() {
    return {{
        {"name", [](apt::Account& a, const Value& v) { a.name = as_account_name(v); }},
        {"uid", [](apt::Account& a, const Value& v) { a.uid = as_id(v); }},
        {"gid", [](apt::Account& a, const Value& v) { a.gid = as_id(v); }},
        {"group", [](apt::Account& a, const Value& v) { a.group = as_account_name(v); }},
        {"groups", [](apt::Account& a, const Value& v) { a.groups = as_account_names(v); }},
        {"home", [](apt::Account& a, const Value& v) { a.home = as_passwd_field(v, true); }},
        {"shell", [](apt::Account& a, const Value& v) { a.shell = as_passwd_field(v, true); }},
        {"comment",
         [](apt::Account& a, const Value& v) {
             a.comment = as_passwd_field(v, false);
             if (a.comment.find(',') != std::string::npos) {
                 // GECOS subfields are separated by ','; one free-text field is enough here.
                 fail(v.where(), "'comment' must not contain ','");
             }
         }},
    }};
}

std::array<Field<apt::Group>, 3> group_fields() {
    return {{
        {"name", [](apt::Group& g, const Value& v) { g.name = as_account_name(v); }},
        {"gid", [](apt::Group& g, const Value& v) { g.gid = as_id(v); }},
        {"members", [](apt::Group& g, const Value& v) { g.members = as_account_names(v); }},
    }};
}

std::array<Field<apt::AlternativeChoice>, 4> alternative_fields() {
    return {{
        {"name",
         [](apt::AlternativeChoice& a, const Value& v) {
             a.name = as_nonempty_string(v);
             if (a.name.find_first_of("/ \t\n") != std::string::npos) {
                 fail(v.where(), "'name' " + in_quotes(a.name) +
                                     " is not an alternative name (no '/' or spaces)");
             }
         }},
        {"path",
         [](apt::AlternativeChoice& a, const Value& v) { a.path = as_passwd_field(v, true); }},
        {"link",
         [](apt::AlternativeChoice& a, const Value& v) { a.link = as_passwd_field(v, true); }},
        {"priority",
         [](apt::AlternativeChoice& a, const Value& v) {
             a.priority = static_cast<int>(as_integer_in(v, -1000000, 1000000));
         }},
    }};
}

template <typename Item, std::size_t N>
std::vector<Item> read_items(const Value& v, const std::string& label, const std::string& hint,
                             const std::array<Field<Item>, N>& fields,
                             std::initializer_list<std::pair<const char*, const char*>> required) {
    std::vector<Item> out;
    for (const toml::table* table : as_tables(v, hint)) {
        Section section(*table, label, v.file);
        Item item;
        item.where = section.where();
        read_fields(section, item, fields);
        for (const auto& [key, why] : required) {
            if (!section.get(key)) {
                section.missing(in_quotes(key), why);
            }
        }
        out.push_back(std::move(item));
    }
    return out;
}

std::array<Field<LayerDraft>, 16> layer_fields() {

    return {{
        {"name",
         [](LayerDraft& l, const Value& v) {
             l.spec.name = as_nonempty_string(v);
             l.name_where = v.where();
         }},
        {"comment", [](LayerDraft& l, const Value& v) { l.spec.comment = as_string(v); }},
        {"compression",
         [](LayerDraft& l, const Value& v) { l.spec.compression = as_compression(v); }},
        {"level",
         [](LayerDraft& l, const Value& v) {
             l.level = as_integer(v);
             l.level_where = v.where();
         }},
        {"copy",
         [](LayerDraft& l, const Value& v) {
             for (const toml::table* table :
                  as_tables(v, "write [[layer.copy]] (two brackets) for each copy")) {
                 l.spec.copies.push_back(read_copy(Section(*table, "[[layer.copy]]", v.file)));
             }
         }},
        {"files",
         [](LayerDraft& l, const Value& v) {
             for (const toml::table* table :
                  as_tables(v, "write [[layer.files]] (two brackets) for each entry")) {
                 l.spec.files.push_back(read_files(Section(*table, "[[layer.files]]", v.file)));
             }
         }},
        {"archive",
         [](LayerDraft& l, const Value& v) {
             for (const toml::table* table :
                  as_tables(v, "write [[layer.archive]] (two brackets) for each archive")) {
                 l.spec.archives.push_back(
                     read_archive(Section(*table, "[[layer.archive]]", v.file)));
             }
         }},
        {"nvidia",
         [](LayerDraft& l, const Value& v) {
             for (const toml::table* table :
                  as_tables(v, "write [[layer.nvidia]] (two brackets) for each manifest")) {
                 l.spec.nvidia.push_back(read_nvidia(Section(*table, "[[layer.nvidia]]", v.file)));
             }
         }},
        {"python",
         [](LayerDraft& l, const Value& v) {
             l.spec.python = read_python(Section(as_table(v), "[layer.python]", v.file));
         }},
        {"packages",
         [](LayerDraft& l, const Value& v) {
             l.spec.packages = as_packages(v);
             l.spec.packages_where = v.where();
         }},
        {"recommends", [](LayerDraft& l, const Value& v) { l.spec.recommends = as_bool(v); }},
        {"ldconfig", [](LayerDraft& l, const Value& v) { l.spec.ldconfig = as_bool(v); }},
        {"split", [](LayerDraft& l, const Value& v) { l.spec.split = as_bool(v); }},
        {"account",
         [](LayerDraft& l, const Value& v) {
             l.spec.accounts = read_items<apt::Account>(
                 v, "[[layer.account]]", "write [[layer.account]] (two brackets) for each user",
                 account_fields(),
                 {{"name", "the user's name, e.g. name = \"sshd\""},
                  {"uid", "a fixed user id, e.g. uid = 100"}});
         }},
        {"group",
         [](LayerDraft& l, const Value& v) {
             l.spec.groups = read_items<apt::Group>(
                 v, "[[layer.group]]", "write [[layer.group]] (two brackets) for each group",
                 group_fields(),
                 {{"name", "the group's name"}, {"gid", "a fixed group id, e.g. gid = 101"}});
         }},
        {"alternative",
         [](LayerDraft& l, const Value& v) {
             l.spec.alternatives = read_items<apt::AlternativeChoice>(
                 v, "[[layer.alternative]]",
                 "write [[layer.alternative]] (two brackets) for each choice", alternative_fields(),
                 {{"name", "the alternative's name, as update-alternatives --display shows it"},
                  {"path", "the path the alternative should point to"}});
         }},
    }};
}

// ---- [[apt.source]] -------------------------------------------------------------------

/// A source being read, with what the final checks need.
struct SourceDraft {
    apt::SourceSpec spec;
    std::optional<SourceLocation> name_where;
    const Value* components = nullptr;
    const Value* keyring = nullptr;
    const Value* trusted = nullptr;
    bool suites_seen = false;
    std::optional<SourceLocation> snapshot_derived; ///< where `snapshot = true` is written
};

/// The root of an archive (a mirror, a snapshot service): http:// or https://, a host, no
/// query or fragment; a trailing '/' dropped.
std::string archive_url(std::string url, const SourceLocation& where, const std::string& key,
                        const char* example) {
    std::string_view rest = url.starts_with("https://")  ? std::string_view(url).substr(8)
                            : url.starts_with("http://") ? std::string_view(url).substr(7)
                                                         : std::string_view();
    if (rest.empty() || rest.front() == '/' || url.find_first_of("?# ") != std::string::npos) {
        fail(where,
             in_quotes(key) + " " + in_quotes(url) +
                 " is not an http:// or https:// URL of an archive's root",
             std::string("e.g. \"") + example + "\"");
    }
    while (url.ends_with('/')) {
        url.pop_back();
    }
    return url;
}

std::vector<std::string> nonempty_texts(const Value& value) {
    std::vector<std::string> out;
    for (const Located& item : as_strings(value)) {
        if (item.text.empty()) {
            fail(item.where, in_quotes(value.name) + " entries must not be empty");
        }
        out.push_back(item.text);
    }
    return out;
}

std::array<Field<SourceDraft>, 10> source_fields() {
    return {{
        {"name",
         [](SourceDraft& s, const Value& v) {
             s.spec.name = as_nonempty_string(v);
             s.name_where = v.where();
         }},
        {"url",
         [](SourceDraft& s, const Value& v) {
             std::string url = as_nonempty_string(v);
             if (!url.starts_with("http://") && !url.starts_with("https://")) {
                 fail(v.where(), "'url' " + in_quotes(url) + " is not an http:// or https:// URL",
                      "write the repository's root, e.g. \"http://deb.debian.org/debian\"");
             }
             while (url.ends_with('/') && url.size() > 8) {
                 url.pop_back();
             }
             s.spec.url = url;
         }},
        {"suites",
         [](SourceDraft& s, const Value& v) {
             s.spec.suites = nonempty_texts(v);
             if (s.spec.suites.empty()) {
                 fail(v.where(), "'suites' must not be empty",
                      "write suites = [\"bookworm\"], or [\"/\"] for a flat repository");
             }
             s.suites_seen = true;
         }},
        {"components",
         [](SourceDraft& s, const Value& v) {
             s.spec.components = nonempty_texts(v);
             s.components = &v;
         }},
        {"architectures",
         [](SourceDraft& s, const Value& v) { s.spec.architectures = nonempty_texts(v); }},
        {"keyring",
         [](SourceDraft& s, const Value& v) {
             s.spec.keyring = resolve(v.file, as_nonempty_string(v));
             s.spec.keyring_where = v.where();
             s.keyring = &v;
         }},
        {"priority",
         [](SourceDraft& s, const Value& v) {
             s.spec.priority = static_cast<int>(as_integer_in(v, -10000, 10000));
         }},
        {"trusted",
         [](SourceDraft& s, const Value& v) {
             s.spec.trusted = as_bool(v);
             s.trusted = &v;
         }},
        {"mirrors",
         [](SourceDraft& s, const Value& v) {
             s.spec.mirrors.clear();
             for (const Located& item : as_strings(v)) {
                 s.spec.mirrors.push_back(archive_url(item.text, item.where, "mirrors",
                                                      "http://ftp.de.debian.org/debian"));
             }
         }},
        {"snapshot",
         [](SourceDraft& s, const Value& v) {
             s.snapshot_derived.reset();
             if (const auto* flag = v.node.as_boolean()) {
                 s.spec.snapshot = flag->get() ? std::nullopt : std::optional<std::string>("");
                 if (flag->get()) {
                     s.snapshot_derived = v.where();
                 }
                 return;
             }
             if (!v.node.is_string()) {
                 wrong_type(v, "a URL or false",
                            "write the service's URL for this archive, e.g. "
                            "\"https://snapshot.debian.org/archive/debian\", or false");
             }
             s.spec.snapshot = archive_url(as_nonempty_string(v), v.where(), "snapshot",
                                           "https://snapshot.debian.org/archive/debian");
         }},
    }};
}

SourceDraft read_source(const Section& section) {
    SourceDraft draft;
    draft.spec.where = section.where();
    read_fields(section, draft, source_fields());
    if (draft.spec.url.empty()) {
        section.missing(in_quotes("url"), "the repository's root, e.g. url = "
                                          "\"http://deb.debian.org/debian\"");
    }
    if (!draft.suites_seen) {
        section.missing(in_quotes("suites"),
                        "e.g. suites = [\"bookworm\"], or [\"/\"] for a flat repository");
    }
    bool all_flat = std::all_of(draft.spec.suites.begin(), draft.spec.suites.end(),
                                [](const std::string& suite) { return suite.ends_with('/'); });
    if (draft.components == nullptr) {
        if (!all_flat) {
            draft.spec.components = {"main"};
        }
    } else if (all_flat && !draft.spec.components.empty()) {
        fail(draft.components->where(),
             "'components' is not used by a flat repository (every suite ends in '/')",
             "leave out 'components' for a repository listed as `deb URL /`");
    }
    if (draft.spec.trusted && draft.keyring) {
        fail(draft.keyring->where(), "'keyring' and 'trusted = true' are mutually exclusive",
             "trusted = true turns signature checks off; keep only one of them");
    }
    if (!draft.spec.trusted && !draft.keyring) {
        section.missing(in_quotes("keyring"),
                        "the OpenPGP keyring that signs the repository, relative to this file "
                        "(or trusted = true for an unsigned repository)");
    }
    if (draft.snapshot_derived && apt::snapshot_service_for(draft.spec.url).empty()) {
        fail(*draft.snapshot_derived,
             "no snapshot service is known for " + in_quotes(draft.spec.url),
             "write the service's URL (snapshot = \"https://...\"), or leave 'snapshot' out");
    }
    // The values belong to `section`, which ends here.
    draft.components = draft.keyring = draft.trusted = nullptr;
    return draft;
}

std::array<Field<std::vector<SourceDraft>>, 1> apt_fields() {
    return {{
        {"source",
         [](std::vector<SourceDraft>& sources, const Value& v) {
             for (const toml::table* table :
                  as_tables(v, "write [[apt.source]] (two brackets) for each source")) {
                 sources.push_back(read_source(Section(*table, "[[apt.source]]", v.file)));
             }
         }},
    }};
}

// ---- [[test]] --------------------------------------------------------------------------

/// A test being read, with what the final checks need.
struct TestDraft {
    TestSpec spec;
    std::optional<SourceLocation> name_where;
    std::vector<Located> after; ///< `after`, checked once every test has its name
};

/// Where byte `offset` of the pattern `text` is: its own column when the string is
/// written on one line as it reads (no escapes), otherwise where the string starts.
SourceLocation pattern_where(const FileContext& file, const toml::source_region& region,
                             std::string_view text, std::size_t offset) {
    SourceLocation where = locate(file, region);
    bool verbatim = region.begin.line == region.end.line &&
                    region.end.column == region.begin.column + text.size() + 2 &&
                    std::all_of(text.begin(), text.end(),
                                [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    if (verbatim && offset < text.size()) {
        where.column += static_cast<std::uint32_t>(1 + offset);
    }
    return where;
}

/// A pattern as messages quote it: cut after 80 bytes (at a character boundary).
std::string quoted_pattern(std::string_view text) {
    constexpr std::size_t shown = 80;
    if (text.size() <= shown) {
        return in_quotes(text);
    }
    std::size_t cut = shown - 3;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
        --cut;
    }
    return in_quotes(std::string(text.substr(0, cut)) + "...");
}

/// A regular expression, or an array of them (all must match). Each is compiled here, so
/// that what the harness cannot match (detail::Regex) is a recipe error at its position.
std::vector<TestPattern> as_patterns(const Value& value) {
    std::vector<const toml::node*> nodes;
    if (value.node.is_string()) {
        nodes.push_back(&value.node);
    } else if (value.node.is_array()) {
        as_strings(value); // every element is a string
        for (const toml::node& item : *value.node.as_array()) {
            nodes.push_back(&item);
        }
    } else {
        wrong_type(value, "a string or an array of strings");
    }
    std::vector<TestPattern> out;
    for (const toml::node* node : nodes) {
        const std::string& text = node->as_string()->get();
        try {
            detail::Regex::compile(text);
        } catch (const detail::RegexError& e) {
            using Why = detail::RegexError::Why;
            fail(pattern_where(value.file, node->source(), text, e.offset()),
                 in_quotes(value.name) + " " + quoted_pattern(text) +
                     (e.why() == Why::invalid       ? " is not a valid regular expression: "
                      : e.why() == Why::unsupported ? " is not supported: "
                                                    : " is too large: ") +
                     e.reason(),
                 "patterns are ECMAScript regular expressions (as in JavaScript) without "
                 "backreferences and lookaround; see docs/recipe.md");
        }
        out.push_back({text, locate(value.file, node->source())});
    }
    return out;
}

std::int64_t as_seconds(const Value& value, std::int64_t low) {
    return as_integer_in(value, low, 86400);
}

void merge_strings(std::map<std::string, std::string>& out, const Value& value, bool env);

std::vector<std::pair<std::string, std::string>> as_env_table(const Value& value) {
    std::map<std::string, std::string> env;
    merge_strings(env, value, true);
    return {env.begin(), env.end()};
}

std::array<Field<TestDraft>, 35> test_fields() {
    return {{
        {"name",
         [](TestDraft& t, const Value& v) {
             t.spec.name = as_nonempty_string(v);
             t.name_where = v.where();
         }},
        {"type", [](TestDraft&, const Value&) {}}, // read first, see read_test()
        {"gpu", [](TestDraft& t, const Value& v) { t.spec.gpu = as_bool(v); }},
        {"timeout", [](TestDraft& t, const Value& v) { t.spec.timeout = as_seconds(v, 1); }},
        {"after", [](TestDraft& t, const Value& v) { t.after = as_strings(v); }},
        {"serial", [](TestDraft& t, const Value& v) { t.spec.serial = as_bool(v); }},
        {"args",
         [](TestDraft& t, const Value& v) {
             t.spec.args = texts(as_strings(v));
             if (t.spec.args->empty()) {
                 fail(v.where(), "'args' must not be empty");
             }
         }},
        {"shell", [](TestDraft& t, const Value& v) { t.spec.shell = as_nonempty_string(v); }},
        {"env", [](TestDraft& t, const Value& v) { t.spec.env = as_env_table(v); }},
        {"exit_code",
         [](TestDraft& t, const Value& v) {
             t.spec.exit_code = static_cast<int>(as_integer_in(v, 0, 255));
         }},
        {"stdout", [](TestDraft& t, const Value& v) { t.spec.stdout_match = as_patterns(v); }},
        {"stderr", [](TestDraft& t, const Value& v) { t.spec.stderr_match = as_patterns(v); }},
        {"stdout_not", [](TestDraft& t, const Value& v) { t.spec.stdout_not = as_patterns(v); }},
        {"stderr_not", [](TestDraft& t, const Value& v) { t.spec.stderr_not = as_patterns(v); }},
        {"distinct", [](TestDraft& t, const Value& v) { t.spec.distinct = as_bool(v); }},
        {"path", [](TestDraft& t, const Value& v) { t.spec.path = as_image_path(v, false); }},
        {"exists", [](TestDraft& t, const Value& v) { t.spec.exists = as_bool(v); }},
        {"file_type",
         [](TestDraft& t, const Value& v) {
             std::string text = as_string(v);
             if (text == "file") {
                 t.spec.file_type = EntryType::file;
             } else if (text == "dir") {
                 t.spec.file_type = EntryType::directory;
             } else if (text == "symlink") {
                 t.spec.file_type = EntryType::symlink;
             } else {
                 fail(v.where(),
                      "'file_type' must be one of file, dir, symlink, not " + in_quotes(text));
             }
         }},
        {"mode", [](TestDraft& t, const Value& v) { t.spec.mode = as_mode(v); }},
        {"uid", [](TestDraft& t, const Value& v) { t.spec.uid = as_id(v); }},
        {"gid", [](TestDraft& t, const Value& v) { t.spec.gid = as_id(v); }},
        {"contains", [](TestDraft& t, const Value& v) { t.spec.contains = as_patterns(v); }},
        {"target", [](TestDraft& t, const Value& v) { t.spec.target = as_nonempty_string(v); }},
        {"entrypoint",
         [](TestDraft& t, const Value& v) { t.spec.entrypoint = texts(as_strings(v)); }},
        {"cmd", [](TestDraft& t, const Value& v) { t.spec.cmd = texts(as_strings(v)); }},
        {"exposed_ports", [](TestDraft& t, const Value& v) { t.spec.exposed_ports = as_ports(v); }},
        {"user", [](TestDraft& t, const Value& v) { t.spec.user = as_string(v); }},
        {"workdir", [](TestDraft& t, const Value& v) { t.spec.workdir = as_string(v); }},
        {"port",
         [](TestDraft& t, const Value& v) {
             t.spec.port = static_cast<std::uint16_t>(as_integer_in(v, 1, 65535));
         }},
        {"http_path",
         [](TestDraft& t, const Value& v) {
             std::string path = as_string(v);
             if (!path.starts_with('/')) {
                 fail(v.where(), "'http_path' must start with '/'");
             }
             t.spec.http_path = path;
         }},
        {"http_status",
         [](TestDraft& t, const Value& v) {
             t.spec.http_status = static_cast<int>(as_integer_in(v, 100, 599));
         }},
        {"http_body", [](TestDraft& t, const Value& v) { t.spec.http_body = as_patterns(v); }},
        {"ready_timeout",
         [](TestDraft& t, const Value& v) { t.spec.ready_timeout = as_seconds(v, 1); }},
        {"stop_timeout",
         [](TestDraft& t, const Value& v) { t.spec.stop_timeout = as_seconds(v, 0); }},
        {"comment", [](TestDraft&, const Value& v) { as_string(v); }},
    }};
}

/// A `type` of [[test]] and the keys it takes.
struct TestKind {
    std::string_view name;
    TestType type;
    std::span<const std::string_view> keys;
};

TestKind test_kind(const Section& section) {
    static constexpr std::array<std::string_view, 16> command_keys{
        "name",  "type", "gpu",    "timeout", "comment",    "after",      "serial",    "args",
        "shell", "env",  "stdout", "stderr",  "stdout_not", "stderr_not", "exit_code", "distinct"};
    static constexpr std::array<std::string_view, 15> file_keys{
        "name",   "type",      "gpu",  "timeout", "comment", "after",    "serial", "path",
        "exists", "file_type", "mode", "uid",     "gid",     "contains", "target"};
    static constexpr std::array<std::string_view, 13> metadata_keys{
        "name", "type",       "gpu", "timeout",       "comment", "after",  "serial",
        "env",  "entrypoint", "cmd", "exposed_ports", "user",    "workdir"};
    static constexpr std::array<std::string_view, 15> service_keys{
        "name",      "type",        "gpu",       "timeout",       "comment",
        "after",     "serial",      "args",      "env",           "port",
        "http_path", "http_status", "http_body", "ready_timeout", "stop_timeout"};
    const std::array<TestKind, 4> kinds{{
        {"command", TestType::command, command_keys},
        {"file", TestType::file, file_keys},
        {"metadata", TestType::metadata, metadata_keys},
        {"service", TestType::service, service_keys},
    }};
    const Value* value = section.get("type");
    if (value == nullptr) {
        return kinds[0];
    }
    std::string text = as_string(*value);
    for (const TestKind& kind : kinds) {
        if (kind.name == text) {
            return kind;
        }
    }
    fail(value->where(),
         "'type' must be one of command, file, metadata, service, not " + in_quotes(text));
}

TestDraft read_test(const Section& section) {
    auto fields = test_fields();
    section.allow_only(keys_of(fields));
    TestKind kind = test_kind(section);
    for (const Value& value : section.values()) {
        if (std::find(kind.keys.begin(), kind.keys.end(), value.name) == kind.keys.end()) {
            fail(value.key_where(),
                 in_quotes(value.name) + " is not allowed in a test of type " +
                     in_quotes(kind.name),
                 "type " + in_quotes(kind.name) + " takes: " + join(kind.keys, ", "));
        }
    }
    TestDraft test;
    test.spec.where = section.where();
    test.spec.type = kind.type;
    read_fields(section, test, fields);
    const TestSpec& t = test.spec;
    switch (t.type) {
    case TestType::command:
        if (section.get("args") && section.get("shell")) {
            const Value* second = std::max(section.get("args"), section.get("shell"));
            fail(second->key_where(), "'args' and 'shell' are mutually exclusive",
                 "'args' is the argv; 'shell' is run with /bin/sh -c");
        }
        if (!t.args && !t.shell) {
            section.missing("'args' or 'shell'",
                            "args = [\"/bin/prog\", \"--version\"] or shell = \"prog | wc -l\"");
        }
        break;
    case TestType::file:
        if (!section.get("path")) {
            section.missing(in_quotes("path"),
                            "the image path to check, e.g. path = \"/etc/motd\"");
        }
        if (!t.exists) {
            for (std::string_view key : {"file_type", "mode", "uid", "gid", "contains", "target"}) {
                if (const Value* v = section.get(key)) {
                    fail(v->key_where(),
                         in_quotes(key) + " cannot be checked on a path that must not exist");
                }
            }
        }
        if (t.target && t.file_type && *t.file_type != EntryType::symlink) {
            fail(section.get("target")->key_where(),
                 "'target' is only for file_type = \"symlink\"");
        }
        break;
    case TestType::metadata:
        if (!t.entrypoint && !t.cmd && !t.user && !t.workdir && t.env.empty() &&
            t.exposed_ports.empty()) {
            section.missing("at least one of 'env', 'entrypoint', 'cmd', 'exposed_ports', 'user', "
                            "'workdir'");
        }
        break;
    case TestType::service:
        if (!section.get("port")) {
            section.missing(in_quotes("port"), "the TCP port the service listens on");
        }
        if (!t.http_path && (section.get("http_status") || section.get("http_body"))) {
            test.spec.http_path = "/";
        }
        break;
    }
    return test;
}

// ---- the merged recipe -----------------------------------------------------------------

/// Everything merged so far, in the order values are applied (later wins).
struct Merge {
    Recipe recipe;
    bool named = false;
    std::optional<std::int64_t> build_level;
    SourceLocation build_level_where;
    std::map<std::string, std::string> env;
    std::map<std::string, std::string> labels;
    std::set<std::string> ports;
    std::set<std::string> volumes;
    std::vector<LayerDraft> layers;
    std::vector<TestDraft> tests;
    std::vector<SourceDraft> sources;
};

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

std::array<Field<Merge>, 10> config_fields() {
    return {{
        {"entrypoint",
         [](Merge& m, const Value& v) { m.recipe.config.entrypoint = texts(as_strings(v)); }},
        {"cmd", [](Merge& m, const Value& v) { m.recipe.config.cmd = texts(as_strings(v)); }},
        {"env", [](Merge& m, const Value& v) { merge_strings(m.env, v, true); }},
        {"user", [](Merge& m, const Value& v) { m.recipe.config.user = as_string(v); }},
        {"workdir",
         [](Merge& m, const Value& v) { m.recipe.config.workdir = as_absolute_path(v); }},
        {"stop_signal",
         [](Merge& m, const Value& v) { m.recipe.config.stop_signal = as_nonempty_string(v); }},
        {"exposed_ports",
         [](Merge& m, const Value& v) {
             for (std::string& port : as_ports(v)) {
                 m.ports.insert(std::move(port));
             }
         }},
        {"volumes",
         [](Merge& m, const Value& v) {
             for (const Located& volume : as_strings(v)) {
                 if (!volume.text.starts_with('/')) {
                     fail(volume.where, "'volumes' entry " + in_quotes(volume.text) +
                                            " must be an absolute path");
                 }
                 m.volumes.insert(volume.text);
             }
         }},
        {"labels", [](Merge& m, const Value& v) { merge_strings(m.labels, v, false); }},
        {"author", [](Merge& m, const Value& v) { m.recipe.config.author = as_string(v); }},
    }};
}

std::array<Field<Merge>, 5> build_fields() {
    return {{
        {"compression",
         [](Merge& m, const Value& v) { m.recipe.build.compression = as_compression(v); }},
        {"level",
         [](Merge& m, const Value& v) {
             m.build_level = as_integer(v);
             m.build_level_where = v.where();
         }},
        {"source_date_epoch",
         [](Merge& m, const Value& v) {
             std::int64_t epoch = as_integer(v);
             if (epoch < 0) {
                 out_of_range(v, std::to_string(epoch), "0 or more");
             }
             m.recipe.build.source_date_epoch = epoch;
         }},
        {"max_layers",
         [](Merge& m, const Value& v) {
             m.recipe.build.max_layers =
                 static_cast<std::size_t>(as_integer_in(v, 2, static_cast<std::int64_t>(1000)));
         }},
        {"cache",
         [](Merge& m, const Value& v) {
             std::string text = as_string(v);
             try {
                 registry::Reference::parse(text);
             } catch (const Error& e) {
                 fail(v.where(), std::string("'cache': ") + e.what(),
                      "write registry/repository, e.g. \"registry.example.com/ci/cache\"");
             }
             m.recipe.build.cache = text;
             m.recipe.build.cache_where = v.where();
         }},
    }};
}

/// "oci:<dir>[:<tag>]" (dir up to the first ':' after "oci:").
BaseSpec oci_base(const Value& value, const std::string& image) {
    std::string_view rest = std::string_view(image).substr(4);
    std::size_t colon = rest.find(':');
    BaseSpec base;
    base.where = value.where();
    base.image = image;
    if (rest.substr(0, colon).empty()) {
        fail(value.where(), "'image' " + in_quotes(image) + " names no directory",
             "write \"oci:<dir>\" or \"oci:<dir>:<tag>\"");
    }
    base.layout = resolve(value.file, rest.substr(0, colon));
    if (colon != std::string_view::npos) {
        base.tag = std::string(rest.substr(colon + 1));
        if (base.tag.empty()) {
            fail(value.where(), "'image' " + in_quotes(image) + " has an empty tag",
                 "write \"oci:<dir>:<tag>\", or leave out ':' to use the layout's only image");
        }
    }
    return base;
}

std::array<Field<Merge>, 2> base_fields() {
    return {{
        {"ref",
         [](Merge& m, const Value& v) {
             std::string text = as_string(v);
             try {
                 m.recipe.base.ref = registry::Reference::parse(text).str();
             } catch (const Error& e) {
                 fail(v.where(), std::string("'ref': ") + e.what(),
                      "write registry/repository:tag, e.g. \"ubuntu:24.04\" or "
                      "\"ghcr.io/org/img:1\"");
             }
             m.recipe.base.image.clear();
             m.recipe.base.layout.clear();
             m.recipe.base.tag.clear();
             m.recipe.base.where = v.where();
         }},
        {"image",
         [](Merge& m, const Value& v) {
             std::string image = as_string(v);
             if (image.starts_with("oci:")) {
                 m.recipe.base = oci_base(v, image);
             } else if (image == "scratch") {
                 m.recipe.base.ref.clear();
                 m.recipe.base.image = "scratch";
                 m.recipe.base.layout.clear();
                 m.recipe.base.tag.clear();
                 m.recipe.base.where = v.where();
             } else {
                 fail(v.where(),
                      "'image' must be \"scratch\" or \"oci:<dir>[:<tag>]\", not " +
                          in_quotes(image),
                      "for an image in a registry write ref = \"" + image + "\"");
             }
         }},
    }};
}

/// Where a top-level key that belongs in a table goes ("" when it is not one).
std::string_view home_of(std::string_view key) {
    auto in = [&](const auto& fields) {
        return std::any_of(fields.begin(), fields.end(),
                           [&](const auto& field) { return field.key == key; });
    };
    if (in(config_fields())) {
        return "[config]";
    }
    if (in(build_fields())) {
        return "[build]";
    }
    if (in(base_fields())) {
        return "[base]";
    }
    return {};
}

std::array<Field<Merge>, 10> top_fields() {
    return {{
        {"include", [](Merge&, const Value&) {}}, // read before the rest, see Loader::read()
        {"name",
         [](Merge& m, const Value& v) {
             m.recipe.name = as_image_name(v);
             m.named = true;
         }},
        {"tag", [](Merge& m, const Value& v) { m.recipe.tag = as_tag(v); }},
        {"platform", [](Merge& m, const Value& v) { m.recipe.platform = as_platform(v); }},
        {"base",
         [](Merge& m, const Value& v) {
             read_fields(Section(as_table(v), "[base]", v.file), m, base_fields());
         }},
        {"build",
         [](Merge& m, const Value& v) {
             read_fields(Section(as_table(v), "[build]", v.file), m, build_fields());
         }},
        {"config",
         [](Merge& m, const Value& v) {
             read_fields(Section(as_table(v), "[config]", v.file), m, config_fields());
         }},
        {"layer",
         [](Merge& m, const Value& v) {
             for (const toml::table* table :
                  as_tables(v, "start each layer with [[layer]] (two brackets), then its "
                               "[[layer.copy]] and [[layer.files]]")) {
                 Section section(*table, "[[layer]]", v.file);
                 LayerDraft layer;
                 layer.spec.where = section.where();
                 read_fields(section, layer, layer_fields());
                 m.layers.push_back(std::move(layer));
             }
         }},
        {"test",
         [](Merge& m, const Value& v) {
             for (const toml::table* table :
                  as_tables(v, "write [[test]] (two brackets) for each test")) {
                 m.tests.push_back(read_test(Section(*table, "[[test]]", v.file)));
             }
         }},
        {"apt",
         [](Merge& m, const Value& v) {
             read_fields(Section(as_table(v), "[apt]", v.file), m.sources, apt_fields());
         }},
    }};
}

// ---- checks on the merged recipe -------------------------------------------------------

/// Throws when `level` is outside the range of `compression` (none takes any level).
void check_level(std::int64_t level, Compression compression, const SourceLocation& where,
                 std::string hint = {}) {
    if (compression == Compression::none) {
        return;
    }
    std::int64_t high = compression == Compression::gzip ? 12 : 19;
    if (level < 1 || level > high) {
        fail(where,
             "'level' " + std::to_string(level) + " is out of range for " + to_string(compression) +
                 " (1.." + std::to_string(high) + ")",
             std::move(hint));
    }
}

int to_int(std::int64_t level) {
    return static_cast<int>(std::clamp<std::int64_t>(level, INT_MIN, INT_MAX));
}

void check_levels(Merge& m) {
    Compression build = m.recipe.build.compression;
    if (m.build_level) {
        check_level(*m.build_level, build, m.build_level_where);
        m.recipe.build.level = to_int(*m.build_level);
    }
    for (LayerDraft& layer : m.layers) {
        Compression compression = layer.spec.compression.value_or(build);
        if (layer.level) {
            check_level(*layer.level, compression, layer.level_where);
            layer.spec.level = to_int(*layer.level);
        }
        // A layer that picks another compression without a level gets that compression's
        // default level: [build].level was chosen for [build].compression.
    }
}

/// Default names ("layer-<n>"), then uniqueness.
void name_layers(Merge& m) {
    std::map<std::string, const LayerDraft*> seen;
    for (std::size_t i = 0; i < m.layers.size(); ++i) {
        LayerDraft& layer = m.layers[i];
        if (!layer.name_where) {
            layer.spec.name = "layer-" + std::to_string(i + 1);
        }
        auto [first, fresh] = seen.emplace(layer.spec.name, &layer);
        if (!fresh) {
            const LayerDraft& other = *first->second;
            fail(layer.name_where.value_or(layer.spec.where),
                 "layer name " + in_quotes(layer.spec.name) + " is used twice",
                 other.name_where
                     ? "first used at " + other.name_where->str()
                     : "the layer at " + other.spec.where.str() + " has this name by default");
        }
    }
}

/// Default names ("test-<n>"), then uniqueness.
void name_tests(Merge& m) {
    std::map<std::string, const TestDraft*> seen;
    for (std::size_t i = 0; i < m.tests.size(); ++i) {
        TestDraft& test = m.tests[i];
        if (!test.name_where) {
            test.spec.name = "test-" + std::to_string(i + 1);
        }
        auto [first, fresh] = seen.emplace(test.spec.name, &test);
        if (!fresh) {
            const TestDraft& other = *first->second;
            fail(test.name_where.value_or(test.spec.where),
                 "test name " + in_quotes(test.spec.name) + " is used twice",
                 other.name_where
                     ? "first used at " + other.name_where->str()
                     : "the test at " + other.spec.where.str() + " has this name by default");
        }
    }
    // `after` names tests before this one: the order is the recipe's, so there is no cycle.
    for (TestDraft& test : m.tests) {
        for (const Located& name : test.after) {
            if (name.text == test.spec.name) {
                fail(name.where, "test " + in_quotes(test.spec.name) + " names itself in 'after'");
            }
            auto it = seen.find(name.text);
            if (it == seen.end() || it->second > &test) {
                fail(name.where,
                     "'after' names " + in_quotes(name.text) +
                         (it == seen.end() ? ", which is no test of this recipe"
                                           : ", which comes later in the recipe"),
                     "a test can only wait for tests before it (included fragments' tests come "
                     "first)");
            }
            test.spec.after.push_back(name.text);
        }
    }
}

void default_name(Merge& m, const FileContext& top) {
    if (m.named) {
        return;
    }
    std::string name = top.absolute.stem().string();
    std::transform(name.begin(), name.end(), name.begin(), [](char c) {
        return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    });
    if (!valid_image_name(name)) {
        fail(SourceLocation{top.display, 0, 0},
             "image name " + in_quotes(name) + " (from the file name) is not valid",
             "set 'name' in the recipe; " + std::string(name_rules));
    }
    m.recipe.name = std::move(name);
}

/// Default source names ("source-<n>"), their uniqueness, and sources for packages.
void check_sources(Merge& m) {
    std::map<std::string, const SourceDraft*> seen;
    for (std::size_t i = 0; i < m.sources.size(); ++i) {
        SourceDraft& source = m.sources[i];
        if (!source.name_where) {
            source.spec.name = "source-" + std::to_string(i + 1);
        }
        auto [first, fresh] = seen.emplace(source.spec.name, &source);
        if (!fresh) {
            fail(source.name_where.value_or(source.spec.where),
                 "apt source name " + in_quotes(source.spec.name) + " is used twice",
                 "first used at " +
                     first->second->name_where.value_or(first->second->spec.where).str());
        }
        m.recipe.apt_sources.push_back(source.spec);
    }
    if (!m.sources.empty()) {
        return;
    }
    for (const LayerDraft& layer : m.layers) {
        if (!layer.spec.packages.empty()) {
            fail(layer.spec.packages_where,
                 "layer " + in_quotes(layer.spec.name) +
                     " lists packages, but the recipe has "
                     "no [[apt.source]]",
                 "add [[apt.source]] with url, suites, components and keyring (docs/apt.md)");
        }
    }
}

Recipe finish(Merge& m, const FileContext& top) {
    check_levels(m);
    name_layers(m);
    name_tests(m);
    check_sources(m);
    default_name(m, top);
    Recipe& recipe = m.recipe;
    recipe.file = top.absolute;
    recipe.where = SourceLocation{top.display, 0, 0};
    recipe.config.env.assign(m.env.begin(), m.env.end());
    recipe.config.labels.assign(m.labels.begin(), m.labels.end());
    recipe.config.exposed_ports.assign(m.ports.begin(), m.ports.end());
    recipe.config.volumes.assign(m.volumes.begin(), m.volumes.end());
    for (LayerDraft& layer : m.layers) {
        recipe.layers.push_back(std::move(layer.spec));
    }
    for (TestDraft& test : m.tests) {
        recipe.tests.push_back(std::move(test.spec));
    }
    return std::move(recipe);
}

// ---- includes ------------------------------------------------------------------------

std::string include_hint(const Value& value) {
    const auto* text = value.node.as_string();
    return "write include = [\"" + (text ? text->get() : std::string("file.toml")) + "\"]";
}

/// Reads a recipe and its fragments into one Merge.
class Loader {
public:
    Recipe load(const fs::path& file, std::optional<std::string_view> text) {
        FileContext top{file.string(), fs::absolute(file).lexically_normal()};
        std::string read;
        if (!text) {
            read = read_text(top.absolute, SourceLocation{top.display, 0, 0}, "recipe");
            text = read;
        }
        enter(top, *text);
        return finish(merge_, top);
    }

private:
    struct Open {
        fs::path identity;
        std::string display;
    };

    static fs::path identity(const fs::path& path) {
        std::error_code ec;
        fs::path canonical = fs::weakly_canonical(path, ec);
        return ec ? path : canonical;
    }

    void enter(const FileContext& file, std::string_view text) {
        fs::path id = identity(file.absolute);
        open_.push_back({id, file.display});
        merge_.recipe.sources.push_back(file.absolute);
        read(file, text);
        open_.pop_back();
        done_.insert(id);
    }

    void read(const FileContext& file, std::string_view text) {
        toml::table table = detail::parse_toml(text, file.display);
        Section top(table, "the top level", file);
        top.allow_only(keys_of(top_fields()), home_of);
        if (const Value* includes = top.get("include")) {
            for (const Located& item : as_strings(*includes, include_hint(*includes))) {
                include(file, item);
            }
        }
        read_fields(top, merge_, top_fields(), home_of);
    }

    void include(const FileContext& from, const Located& item) {
        if (item.text.empty()) {
            fail(item.where, "'include' entries must not be empty");
        }
        FileContext file{
            (fs::path(from.display).parent_path() / item.text).lexically_normal().string(),
            resolve(from, item.text)};
        fs::path id = identity(file.absolute);
        auto cycle = std::find_if(open_.begin(), open_.end(),
                                  [&](const Open& open) { return open.identity == id; });
        if (cycle != open_.end()) {
            std::string chain;
            for (auto it = cycle; it != open_.end(); ++it) {
                chain += it->display + " -> ";
            }
            fail(item.where, "include cycle: " + chain + file.display,
                 "a file cannot include itself, directly or through other fragments");
        }
        if (done_.contains(id)) {
            return; // already merged (included twice, e.g. by two fragments)
        }
        std::string text =
            read_text(file.absolute, item.where, "include " + in_quotes(file.display));
        enter(file, text);
    }

    Merge merge_;
    std::vector<Open> open_;
    std::set<fs::path> done_;
};

} // namespace

const char* to_string(TestType type) noexcept {
    switch (type) {
    case TestType::command:
        return "command";
    case TestType::file:
        return "file";
    case TestType::metadata:
        return "metadata";
    case TestType::service:
        return "service";
    }
    return "command";
}

Recipe load_recipe(const std::filesystem::path& file) {
    return Loader().load(file, std::nullopt);
}

Recipe parse_recipe(std::string_view text, const std::filesystem::path& file) {
    return Loader().load(file, text);
}

} // namespace ocibake
