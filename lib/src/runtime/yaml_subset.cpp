// The YAML subset of CDI specs (see yaml_subset.hpp), read a line at a time: a block is
// the run of lines indented as its first line; a sequence entry's content ("- key: v")
// becomes a line of its own, indented where that content starts.
#include "runtime/yaml_subset.hpp"

#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <vector>

namespace ocibake::detail {

YamlError::YamlError(std::size_t line, std::size_t column, const std::string& message)
    : std::runtime_error(std::to_string(line) + ":" + std::to_string(column) + ": " + message),
      line_(line), column_(column), message_(message) {}

namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxDepth = 64;
const std::string kOutside = " (outside the YAML subset read here)";

bool blank(char c) {
    return c == ' ' || c == '\t';
}
bool flow_indicator(char c) {
    return c == ',' || c == '[' || c == ']' || c == '{' || c == '}';
}

/// A line with content (not blank, not only a comment).
struct Line {
    std::size_t number = 0; ///< 1-based
    std::size_t indent = 0; ///< columns before `text`
    std::string_view text;  ///< from the first character after the indentation
};

[[noreturn]] void fail(const Line& line, std::size_t pos, const std::string& message) {
    throw YamlError(line.number, line.indent + pos + 1, message);
}

/// What is at `pos`, quoted for a message: the rest of the line (up to 30 characters).
std::string found_at(std::string_view text, std::size_t pos) {
    if (pos >= text.size()) {
        return "the end of the line";
    }
    std::string_view rest = text.substr(pos);
    return "'" + std::string(rest.substr(0, 30)) + (rest.size() > 30 ? "...'" : "'");
}

/// The word at `pos` (up to a blank or a flow indicator), quoted for a message.
std::string word_at(std::string_view text, std::size_t pos) {
    std::size_t end = pos + 1;
    while (end < text.size() && !blank(text[end]) && !flow_indicator(text[end])) {
        ++end;
    }
    return "'" + std::string(text.substr(pos, end - pos)) + "'";
}

std::string_view trim_right(std::string_view s) {
    while (!s.empty() && blank(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

/// "-" or "- ...": a block sequence entry.
bool is_entry(std::string_view text) {
    return text[0] == '-' && (text.size() == 1 || blank(text[1]));
}

/// Why no node may start at `pos` (in a flow sequence when `flow`); nullopt when a plain
/// scalar may start there (or a quoted scalar or a flow collection, checked before).
std::optional<std::string> bad_start(std::string_view t, std::size_t pos, bool flow) {
    char c = t[pos];
    bool spaced = pos + 1 == t.size() || blank(t[pos + 1]) || (flow && flow_indicator(t[pos + 1]));
    switch (c) {
    case '&':
        return "found an anchor " + word_at(t, pos) + kOutside;
    case '*':
        return "found an alias " + word_at(t, pos) + kOutside;
    case '!':
        return "found a tag " + word_at(t, pos) + kOutside;
    case '|':
    case '>':
        return "found a block scalar " + word_at(t, pos) + kOutside;
    case '[':
    case '{':
        return "found a nested flow collection " + found_at(t, pos) + kOutside;
    case '?': // in a flow sequence, PyYAML (YAML 1.1) takes "?x" for a key too
        return spaced || flow ? "found a complex key " + found_at(t, pos) + kOutside
                              : std::optional<std::string>();
    case '-':
        return spaced ? "found a sequence entry " + found_at(t, pos) +
                            " where a value was expected (a block sequence starts on a line "
                            "of its own)"
                      : std::optional<std::string>();
    case ':':
        return spaced ? "found " + found_at(t, pos) + " where a key was expected"
                      : std::optional<std::string>();
    case ',':
    case ']':
    case '}':
    case '#':
    case '%':
    case '@':
    case '`':
        return "found " + found_at(t, pos) + ", which cannot start a plain scalar";
    default:
        return std::nullopt;
    }
}

/// Where a plain scalar starting at `pos` ends: at ": " (a key's end), at " #" (a
/// comment), at a flow indicator in a flow sequence, or at the end of the line.
std::size_t plain_end(std::string_view t, std::size_t pos, bool flow) {
    for (std::size_t i = pos; i < t.size(); ++i) {
        char c = t[i];
        if (c == ':' &&
            (i + 1 == t.size() || blank(t[i + 1]) || (flow && flow_indicator(t[i + 1])))) {
            return i;
        }
        if ((c == '#' && i > 0 && blank(t[i - 1])) || (flow && flow_indicator(c))) {
            return i;
        }
    }
    return t.size();
}

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

/// One escape of a double-quoted scalar; `pos` is at the backslash and moves past it.
void escape(const Line& line, std::size_t& pos, std::string& out) {
    std::string_view t = line.text;
    if (pos + 1 == t.size()) {
        fail(line, pos,
             "found '\\' at the end of the line (multi-line scalars are outside "
             "the YAML subset read here)");
    }
    static constexpr std::string_view from = "\\\"/0abtnvfre ";
    static constexpr std::string_view to{"\\\"/\0\a\b\t\n\v\f\r\x1b ", from.size()};
    char e = t[pos + 1];
    if (std::size_t k = from.find(e); k != std::string_view::npos) {
        out += to[k];
        pos += 2;
        return;
    }
    std::size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
    if (digits == 0) {
        fail(line, pos, "found an unknown escape '\\" + std::string(1, e) + "'");
    }
    std::uint32_t cp = 0;
    std::string_view hex = t.substr(pos + 2, digits);
    auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), cp, 16);
    if (hex.size() != digits || ec != std::errc() || end != hex.data() + hex.size()) {
        fail(line, pos,
             "found " + found_at(t, pos) + ", expected " + std::to_string(digits) +
                 " hex digits after '\\" + std::string(1, e) + "'");
    }
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
        fail(line, pos, "found " + found_at(t, pos) + ", which is not a Unicode character");
    }
    append_utf8(out, cp);
    pos += 2 + digits;
}

/// A quoted scalar at `pos` (its opening quote); `pos` moves past its closing quote.
std::string quoted(const Line& line, std::size_t& pos) {
    std::string_view t = line.text;
    const char quote = t[pos];
    const std::size_t open = pos++;
    std::string out;
    while (true) {
        if (pos == t.size()) {
            fail(line, open,
                 "found a quoted scalar that does not end on its line (multi-line "
                 "scalars are outside the YAML subset read here)");
        }
        char c = t[pos];
        if (c == quote && quote == '\'' && pos + 1 < t.size() && t[pos + 1] == '\'') {
            out += '\'';
            pos += 2;
        } else if (c == quote) {
            ++pos;
            return out;
        } else if (c == '\\' && quote == '"') {
            escape(line, pos, out);
        } else {
            out += c;
            ++pos;
        }
    }
}

bool all_digits(std::string_view s, int base) {
    for (char c : s) {
        bool ok = base == 16  ? std::isxdigit(static_cast<unsigned char>(c)) != 0
                  : base == 8 ? c >= '0' && c <= '7'
                              : c >= '0' && c <= '9';
        if (!ok) {
            return false;
        }
    }
    return !s.empty();
}

/// YAML 1.2 core schema floats: [-+]? ( \.[0-9]+ | [0-9]+ ( \.[0-9]* )? ) ( [eE][-+]?[0-9]+ )?
bool core_float(std::string_view s) {
    std::size_t i = 0;
    auto digits = [&] {
        std::size_t from = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            ++i;
        }
        return i - from;
    };
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) {
        ++i;
    }
    std::size_t whole = digits();
    std::size_t fraction = 0;
    if (i < s.size() && s[i] == '.') {
        ++i;
        fraction = digits();
    }
    if (whole == 0 && fraction == 0) {
        return false;
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < s.size() && (s[i] == '-' || s[i] == '+')) {
            ++i;
        }
        if (digits() == 0) {
            return false;
        }
    }
    return i == s.size();
}

/// A plain scalar, typed by YAML 1.2's core schema; `pos` is where it starts (for messages).
json typed(const Line& line, std::size_t pos, std::string_view s) {
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
        return nullptr;
    }
    if (s == "true" || s == "True" || s == "TRUE") {
        return true;
    }
    if (s == "false" || s == "False" || s == "FALSE") {
        return false;
    }
    const bool negative = s[0] == '-';
    std::string_view number = s.substr(s[0] == '-' || s[0] == '+' ? 1 : 0);
    int base = 10;
    if (s.starts_with("0o") || s.starts_with("0x")) {
        base = s[1] == 'o' ? 8 : 16;
        number = s.substr(2);
    }
    if (all_digits(number, base)) {
        std::uint64_t value = 0;
        auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value, base);
        const std::uint64_t most_negative =
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1;
        if (ec != std::errc() || (negative && value > most_negative)) {
            fail(line, pos, "found the integer '" + std::string(s) + "', which is out of range");
        }
        if (negative) {
            return static_cast<std::int64_t>(0 - value);
        }
        return value;
    }
    std::string_view magnitude = s.substr(s[0] == '-' || s[0] == '+' ? 1 : 0);
    if (magnitude == ".inf" || magnitude == ".Inf" || magnitude == ".INF") {
        return negative ? -std::numeric_limits<double>::infinity()
                        : std::numeric_limits<double>::infinity();
    }
    if (s == ".nan" || s == ".NaN" || s == ".NAN") {
        return std::numeric_limits<double>::quiet_NaN();
    }
    if (core_float(s)) {
        std::string_view digits = s.substr(s[0] == '+' ? 1 : 0);
        double value = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
        if (ec != std::errc() || end != digits.data() + digits.size()) {
            fail(line, pos, "found the number '" + std::string(s) + "', which is out of range");
        }
        return value;
    }
    return std::string(s);
}

/// After a value: nothing, or a comment.
void end_of_line(const Line& line, std::size_t pos) {
    std::string_view t = line.text;
    while (pos < t.size() && blank(t[pos])) {
        ++pos;
    }
    if (pos < t.size() && !(t[pos] == '#' && blank(t[pos - 1]))) {
        fail(line, pos, "found " + found_at(t, pos) + " after the value");
    }
}

/// "[a, 'b', 3]" at `pos`, on one line; `pos` moves past the ']'.
json flow_sequence(const Line& line, std::size_t& pos) {
    std::string_view t = line.text;
    const std::size_t open = pos++;
    auto skip_blanks = [&] {
        while (pos < t.size() && blank(t[pos])) {
            ++pos;
        }
        if (pos == t.size() || t[pos] == '#') {
            fail(line, open,
                 "found a '[' that is not closed on its line (multi-line flow "
                 "sequences are outside the YAML subset read here)");
        }
    };
    json out = json::array();
    skip_blanks();
    while (t[pos] != ']') {
        if (t[pos] == '"' || t[pos] == '\'') {
            out.push_back(quoted(line, pos));
        } else if (t[pos] == ',') {
            fail(line, pos, "found ',' where an item of the flow sequence was expected");
        } else if (auto why = bad_start(t, pos, true)) {
            fail(line, pos, *why);
        } else {
            std::size_t end = plain_end(t, pos, true);
            if (end < t.size() && t[end] == ':') {
                fail(line, end,
                     "found " + found_at(t, end) +
                         " in a flow sequence (flow mappings are "
                         "outside the YAML subset read here)");
            }
            out.push_back(typed(line, pos, trim_right(t.substr(pos, end - pos))));
            pos = end;
        }
        skip_blanks();
        if (t[pos] == ',') {
            ++pos;
            skip_blanks();
        } else if (t[pos] != ']') {
            fail(line, pos, "found " + found_at(t, pos) + " where ',' or ']' was expected");
        }
    }
    ++pos;
    return out;
}

/// A value that stands on its line, from `pos`: a scalar, a flow sequence, or `{}`.
json inline_value(const Line& line, std::size_t pos) {
    std::string_view t = line.text;
    json out;
    if (t[pos] == '[') {
        out = flow_sequence(line, pos);
    } else if (t[pos] == '{') {
        const std::size_t open = pos++;
        while (pos < t.size() && blank(t[pos])) {
            ++pos;
        }
        if (pos == t.size()) {
            fail(line, open, "found a '{' that is not closed on its line");
        }
        if (t[pos] != '}') {
            fail(line, pos,
                 "found " + found_at(t, pos) +
                     " in a flow mapping (flow mappings with content "
                     "are outside the YAML subset read here)");
        }
        ++pos;
        out = json::object();
    } else if (t[pos] == '"' || t[pos] == '\'') {
        out = quoted(line, pos);
    } else if (auto why = bad_start(t, pos, false)) {
        fail(line, pos, *why);
    } else {
        std::size_t end = plain_end(t, pos, false);
        if (end < t.size() && t[end] == ':') {
            fail(line, end,
                 "found " + found_at(t, end) +
                     " inside a plain scalar (a mapping cannot start on its key's line: quote "
                     "the value, or move the mapping to the lines below)");
        }
        out = typed(line, pos, trim_right(t.substr(pos, end - pos)));
        pos = end;
    }
    end_of_line(line, pos);
    return out;
}

/// A mapping key at the start of the line ("key:", "'key':", "\"key\":"): the key, with
/// `pos` just past its ':'; nullopt when the line holds no key.
std::optional<std::string> key_of(const Line& line, std::size_t& pos) {
    std::string_view t = line.text;
    std::size_t at = 0;
    std::string key;
    if (t[0] == '"' || t[0] == '\'') {
        key = quoted(line, at);
        while (at < t.size() && blank(t[at])) {
            ++at;
        }
        if (at == t.size() || t[at] != ':' || (at + 1 < t.size() && !blank(t[at + 1]))) {
            return std::nullopt;
        }
    } else {
        if (t[0] == '[' || t[0] == '{' || bad_start(t, 0, false)) {
            return std::nullopt;
        }
        at = plain_end(t, 0, false);
        if (at == t.size() || t[at] != ':') {
            return std::nullopt;
        }
        // Typed as a value would be; JSON has only string keys.
        std::string_view text = trim_right(t.substr(0, at));
        json typed_key = typed(line, 0, text);
        if (typed_key.is_null() || typed_key.is_number_float()) {
            fail(line, 0,
                 "found the key '" + std::string(text) + "', which is " +
                     (typed_key.is_null() ? "null" : "a float") + " (quote it for a string)");
        }
        key = typed_key.is_string() ? typed_key.get<std::string>() : typed_key.dump();
    }
    pos = at + 1;
    return key;
}

class Reader {
public:
    explicit Reader(std::string_view text);
    json document();

private:
    std::vector<Line> lines_;
    std::size_t next_ = 0; ///< the line to read next
    std::size_t depth_ = 0;

    json node(std::size_t indent);
    json mapping(std::size_t indent);
    json sequence(std::size_t indent);
    json below(std::size_t indent, bool sequence_here);
    [[noreturn]] void deeper(const Line& line) const {
        fail(line, 0,
             "found " + found_at(line.text, 0) +
                 " indented deeper than its block (multi-line scalars are outside the YAML "
                 "subset read here)");
    }
};

/// Splits the text into lines with content; handles "---", "...", tabs and directives.
Reader::Reader(std::string_view text) {
    if (text.starts_with("\xEF\xBB\xBF")) {
        text.remove_prefix(3); // a byte order mark
    }
    bool begun = false; // a "---" or content was seen
    bool ended = false; // a "..." was seen
    for (std::size_t number = 1; !text.empty(); ++number) {
        std::size_t eol = text.find('\n');
        Line line;
        line.number = number;
        std::string_view raw = text.substr(0, eol);
        text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
        if (raw.ends_with('\r')) {
            raw.remove_suffix(1);
        }
        std::size_t first = raw.find_first_not_of(" \t");
        if (first == std::string_view::npos || raw[first] == '#') {
            continue; // blank, or only a comment
        }
        line.indent = raw.find_first_not_of(' ');
        line.text = raw.substr(line.indent);
        if (line.text[0] == '\t') {
            fail(line, 0, "found a tab in the indentation (YAML indents with spaces)");
        }
        std::string_view marker = line.text.substr(0, 3);
        if (line.indent == 0 && (marker == "---" || marker == "...") &&
            (line.text.size() == 3 || blank(line.text[3]))) {
            std::size_t rest = line.text.find_first_not_of(" \t", 3);
            if (rest != std::string_view::npos && line.text[rest] != '#') {
                fail(line, rest,
                     "found " + found_at(line.text, rest) + " after '" + std::string(marker) +
                         "' (content on a document marker's line is outside the YAML subset "
                         "read here)");
            }
            if (marker == "---" && begun) {
                fail(line, 0,
                     "found a second document ('---'): multi-document streams are "
                     "outside the YAML subset read here");
            }
            begun = true;
            ended = ended || marker == "...";
            continue;
        }
        if (ended) {
            fail(line, 0,
                 "found " + found_at(line.text, 0) +
                     " after the document's end ('...'): multi-document streams are outside "
                     "the YAML subset read here");
        }
        if (line.indent == 0 && line.text[0] == '%') {
            fail(line, 0, "found a directive " + word_at(line.text, 0) + kOutside);
        }
        begun = true;
        lines_.push_back(line);
    }
}

json Reader::document() {
    if (lines_.empty()) {
        return nullptr;
    }
    json doc = node(lines_[0].indent);
    if (next_ < lines_.size()) {
        const Line& line = lines_[next_];
        fail(line, 0,
             "found " + found_at(line.text, 0) + " after the document's top-level " +
                 (doc.is_object()  ? "mapping"
                  : doc.is_array() ? "sequence"
                                   : "value"));
    }
    return doc;
}

/// The block (or single-line value) that starts on the next line, indented `indent`.
json Reader::node(std::size_t indent) {
    const Line& line = lines_[next_];
    if (++depth_ > kMaxDepth) {
        fail(line, 0, "found nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    std::size_t pos = 0;
    json out;
    if (is_entry(line.text)) {
        out = sequence(indent);
    } else if (key_of(line, pos)) {
        out = mapping(indent);
    } else {
        out = inline_value(line, 0);
        ++next_;
    }
    --depth_;
    return out;
}

/// After "key:" or "-" with nothing more on the line: the block below, more indented; for
/// a key also a sequence at the key's own indentation; else null.
json Reader::below(std::size_t indent, bool sequence_here) {
    if (next_ < lines_.size()) {
        const Line& line = lines_[next_];
        if (line.indent > indent ||
            (sequence_here && line.indent == indent && is_entry(line.text))) {
            return node(line.indent);
        }
    }
    return nullptr;
}

json Reader::mapping(std::size_t indent) {
    json out = json::object();
    std::map<std::string, std::size_t> seen; // key -> its line
    while (next_ < lines_.size() && lines_[next_].indent >= indent) {
        const Line& line = lines_[next_];
        if (line.indent > indent) {
            deeper(line);
        }
        std::size_t pos = 0;
        std::optional<std::string> key = is_entry(line.text) ? std::nullopt : key_of(line, pos);
        char c = line.text[0];
        if (!key && !is_entry(line.text) && c != '[' && c != '{' && c != '"' && c != '\'') {
            if (auto why = bad_start(line.text, 0, false)) {
                fail(line, 0, *why); // an anchor, a tag, a complex key...
            }
        }
        if (!key) {
            fail(line, 0,
                 "found " + found_at(line.text, 0) + " where a 'key: value' line was expected");
        }
        auto [first, fresh] = seen.emplace(*key, line.number);
        if (!fresh) {
            fail(line, 0,
                 "found the key '" + *key + "' a second time (first on line " +
                     std::to_string(first->second) + ")");
        }
        while (pos < line.text.size() && blank(line.text[pos])) {
            ++pos;
        }
        if (pos < line.text.size() && line.text[pos] != '#') {
            out[*key] = inline_value(line, pos);
            ++next_;
        } else {
            ++next_;
            out[*key] = below(indent, true);
        }
    }
    return out;
}

json Reader::sequence(std::size_t indent) {
    json out = json::array();
    while (next_ < lines_.size() && lines_[next_].indent >= indent) {
        Line& line = lines_[next_];
        if (line.indent > indent) {
            deeper(line);
        }
        if (!is_entry(line.text)) {
            break;
        }
        std::size_t pos = 1;
        while (pos < line.text.size() && line.text[pos] == ' ') {
            ++pos;
        }
        if (pos < line.text.size() && line.text[pos] == '\t') {
            fail(line, pos, "found a tab in the indentation (YAML indents with spaces)");
        }
        if (pos == line.text.size() || line.text[pos] == '#') {
            ++next_;
            out.push_back(below(indent, false));
            continue;
        }
        // The entry's content is read as a line of its own, indented where it starts, so a
        // mapping's further keys align with its first.
        line.indent += pos;
        line.text.remove_prefix(pos);
        out.push_back(node(line.indent));
    }
    return out;
}

} // namespace

json parse_yaml_subset(std::string_view text) {
    Reader reader(text);
    return reader.document();
}

} // namespace ocibake::detail
