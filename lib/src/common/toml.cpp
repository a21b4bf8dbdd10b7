#include "common/toml.hpp"

#include "common/text.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

namespace ocibake::detail {

namespace {

/// Thrown inside the scan when the limit is crossed.
struct TooDeep {
    std::uint32_t line;
    std::uint32_t column;
};

/// Thrown inside the scan at a table header whose first key is missing (`[` then a newline
/// or a comment). toml++ 3.3's parser asserts on that text when built with assertions (a
/// sanitizer or debug build aborts) and reports it without them: this says it in both.
struct NoHeaderKey {
    std::uint32_t line;
    std::uint32_t column;
    char seen;
};

/// A one-pass lexer that knows just enough TOML to count nesting: strings, comments,
/// headers, dotted keys, arrays and inline tables. No recursion: open arrays and inline
/// tables are on an explicit stack.
class DepthScan {
public:
    DepthScan(std::string_view text, std::size_t limit) : s_(text), limit_(limit) {}

    std::size_t deepest() const { return deepest_; }

    void run() {
        while (!done()) {
            skip_blank(true);
            if (done()) {
                break;
            }
            std::size_t before = i_;
            if (peek() == '[') {
                header();
            } else {
                key_value(table_depth_);
            }
            if (i_ == before) {
                step(); // never stall on malformed text
            }
        }
    }

private:
    struct Open {
        char kind;         ///< '[' (array) or '{' (inline table)
        std::size_t depth; ///< the container's own depth
    };

    bool done() const { return i_ >= s_.size(); }
    char peek(std::size_t ahead = 0) const {
        return i_ + ahead < s_.size() ? s_[i_ + ahead] : '\0';
    }
    bool at(std::string_view token) const { return s_.substr(i_).starts_with(token); }

    void step() {
        char c = s_[i_++];
        if (c == '\n') {
            ++line_;
            column_ = 1;
        } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
            ++column_; // one per code point, not per byte
        }
    }

    /// A node at `depth` starts here.
    void check(std::size_t depth) {
        if (depth > limit_) {
            throw TooDeep{line_, column_};
        }
        deepest_ = std::max(deepest_, depth);
    }

    /// Spaces and tabs; with `lines`, also newlines and comments.
    void skip_blank(bool lines) {
        while (!done()) {
            char c = peek();
            if (c == ' ' || c == '\t' || (lines && (c == '\n' || c == '\r'))) {
                step();
            } else if (lines && c == '#') {
                while (!done() && peek() != '\n') {
                    step();
                }
            } else {
                return;
            }
        }
    }

    /// A string starting here ('"', '\'', or their triple forms).
    void skip_string() {
        char quote = peek();
        std::string_view triple = quote == '"' ? "\"\"\"" : "'''";
        if (at(triple)) {
            for (int k = 0; k < 3; ++k) {
                step();
            }
            while (!done()) {
                if (quote == '"' && peek() == '\\') {
                    step();
                    if (!done()) {
                        step();
                    }
                } else if (at(triple)) {
                    for (int k = 0; k < 3; ++k) {
                        step();
                    }
                    // Up to two quotes may end the content right before the delimiter.
                    for (int k = 0; k < 2 && peek() == quote; ++k) {
                        step();
                    }
                    return;
                } else {
                    step();
                }
            }
            return;
        }
        step();
        while (!done() && peek() != '\n') {
            if (quote == '"' && peek() == '\\') {
                step();
                if (!done() && peek() != '\n') {
                    step();
                }
            } else if (peek() == quote) {
                step();
                return;
            } else {
                step();
            }
        }
    }

    /// One part of a key (bare, or quoted): its text as written, quotes dropped (escapes
    /// are not decoded: see header()).
    std::string_view simple_key() {
        std::size_t begin = i_;
        if (peek() == '"' || peek() == '\'') {
            skip_string();
            std::string_view quoted = s_.substr(begin, i_ - begin);
            return quoted.size() >= 2 ? quoted.substr(1, quoted.size() - 2) : quoted;
        }
        while (!done()) {
            char c = peek();
            if (c == ' ' || c == '\t' || c == '.' || c == '=' || c == ']' || c == '}' || c == ',' ||
                c == '\n' || c == '\r' || c == '#' || c == '"' || c == '\'') {
                break;
            }
            step();
        }
        return s_.substr(begin, i_ - begin);
    }

    /// A dotted key whose first part sits at depth base + 1: its number of parts, each
    /// checked as it is read.
    std::size_t key_parts(std::size_t base) {
        std::size_t parts = 0;
        for (;;) {
            skip_blank(false);
            check(base + parts + 1);
            simple_key();
            ++parts;
            skip_blank(false);
            if (peek() != '.') {
                return parts;
            }
            step();
        }
    }

    /// `[a.b]` or `[[a.b]]`: sets the depth of the keys that follow. A part that names an
    /// array of tables (an earlier `[[...]]`) takes two levels: the array and its last
    /// table. Paths are compared as written: a key spelt two ways (`a`, `"\u0061"`) is
    /// missed, so the depth of crafted text may be undercounted, by at most half (each
    /// part adds at most two levels).
    void header() {
        bool array = peek(1) == '[';
        step();
        if (array) {
            step();
        }
        skip_blank(false);
        if (char c = peek(); !done() && !(std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                                          c == '-' || c == '"' || c == '\'')) {
            throw NoHeaderKey{line_, column_, c};
        }
        std::string path;
        std::size_t depth = 0;
        for (;;) {
            skip_blank(false);
            check(depth + 1);
            std::string_view part = simple_key();
            depth += 1;
            path.append(part.data(), part.size());
            skip_blank(false);
            if (peek() != '.') {
                break;
            }
            step();
            if (arrays_.contains(path)) {
                depth += 1; // into the array's last table
            }
            path += '\n'; // cannot appear in a valid key
        }
        if (array) {
            depth += 1;
            arrays_.insert(path);
        }
        table_depth_ = depth;
        check(table_depth_);
        skip_blank(false);
        for (int k = 0; k < (array ? 2 : 1) && peek() == ']'; ++k) {
            step();
        }
    }

    void key_value(std::size_t base) {
        std::size_t depth = base + key_parts(base);
        skip_blank(false);
        if (peek() == '=') {
            step();
        }
        value(depth);
    }

    /// A value whose node sits at `depth`, with every array and inline table inside it.
    void value(std::size_t depth) {
        open_.clear();
        for (;;) {
            skip_blank(!open_.empty());
            if (done()) {
                return;
            }
            char c = peek();
            if (c == '[' || c == '{') {
                check(depth);
                open_.push_back({c, depth});
                step();
                skip_blank(true);
                if (peek() != ']' && peek() != '}') {
                    if (c == '[') {
                        depth += 1;
                    } else {
                        depth += key_parts(depth);
                        skip_blank(false);
                        if (peek() == '=') {
                            step();
                        }
                    }
                    continue;
                }
                // Empty: the closing bracket is read below.
            } else if (c == '"' || c == '\'') {
                check(depth);
                skip_string();
            } else {
                check(depth);
                // A number, boolean or date (a date may hold one space).
                while (!done()) {
                    char d = peek();
                    if (d == ',' || d == ']' || d == '}' || d == '\n' || d == '\r' || d == '#') {
                        break;
                    }
                    step();
                }
            }
            // After an item: a separator or closing brackets.
            for (;;) {
                if (open_.empty()) {
                    return;
                }
                skip_blank(true);
                if (done()) {
                    return;
                }
                char d = peek();
                if (d == ']' || d == '}') {
                    step();
                    open_.pop_back();
                    continue;
                }
                if (d != ',') {
                    return; // malformed: toml++ stops here
                }
                step();
                skip_blank(true);
                const Open& top = open_.back();
                if (top.kind == '[') {
                    if (peek() == ']') {
                        continue; // a trailing comma
                    }
                    depth = top.depth + 1;
                } else {
                    depth = top.depth + key_parts(top.depth);
                    skip_blank(false);
                    if (peek() == '=') {
                        step();
                    }
                }
                break;
            }
        }
    }

    std::string_view s_;
    std::size_t i_ = 0;
    std::uint32_t line_ = 1;
    std::uint32_t column_ = 1;
    std::size_t limit_;
    std::size_t deepest_ = 0;
    std::size_t table_depth_ = 0;
    std::vector<Open> open_;
    std::unordered_set<std::string> arrays_; ///< the paths of `[[...]]` headers
};

} // namespace

std::size_t toml_depth(std::string_view text) {
    DepthScan scan(text, SIZE_MAX);
    try {
        scan.run();
    } catch (const NoHeaderKey&) {
        // Not TOML: the depth up to there.
    }
    return scan.deepest();
}

std::optional<std::pair<std::uint32_t, std::uint32_t>> too_deep(std::string_view text) {
    try {
        DepthScan(text, max_toml_depth).run();
    } catch (const TooDeep& at) {
        return std::pair{at.line, at.column};
    } catch (const NoHeaderKey&) {
        // Not TOML: parse_toml says where.
    }
    return std::nullopt;
}

toml::table parse_toml(std::string_view text, const std::string& display, const std::string& hint) {
    try {
        DepthScan(text, max_toml_depth).run();
    } catch (const TooDeep& at) {
        throw RecipeError(ErrorKind::recipe, SourceLocation{display, at.line, at.column},
                          "nested more than " + std::to_string(max_toml_depth) +
                              " levels deep (table headers, dotted keys, arrays and inline "
                              "tables together)",
                          hint);
    } catch (const NoHeaderKey& at) {
        std::string seen = at.seen == '\n'   ? "a newline"
                           : at.seen == '\r' ? "a carriage return"
                           : at.seen == '#'  ? "a comment"
                                             : "'" + printable(std::string(1, at.seen)) + "'";
        throw RecipeError(ErrorKind::recipe, SourceLocation{display, at.line, at.column},
                          "a table header needs a key on its line, saw " + seen, hint);
    }
    try {
        return toml::parse(text, std::string_view(display));
    } catch (const toml::parse_error& e) {
        const toml::source_position& at = e.source().begin;
        throw RecipeError(ErrorKind::recipe, SourceLocation{display, at.line, at.column},
                          std::string(e.description()), hint);
    }
}

SourceLocation toml_location(std::string file, const toml::source_region& region) {
    return {std::move(file), static_cast<std::uint32_t>(region.begin.line),
            static_cast<std::uint32_t>(region.begin.column)};
}

} // namespace ocibake::detail
