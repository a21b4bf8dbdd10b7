#include "common/text.hpp"

#include <algorithm>
#include <cstdio>

namespace ocibake::detail {

namespace {

/// One code point of a text (or one byte that is not UTF-8), as a message shows it.
struct Glyph {
    std::size_t bytes = 1; ///< how many bytes of the text it takes
    bool escaped = false;  ///< shown as an escape (`shown`), not as itself
    bool tab = false;
    char shown[8] = {};
};

std::uint32_t continuation(unsigned char c) {
    return (c & 0xC0) == 0x80 ? c & 0x3F : 0xFFFFFFFF;
}

/// Code points shown escaped: C1 controls, and those that reorder or hide text.
bool hidden(std::uint32_t cp) {
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F ||
           (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF;
}

/// The glyph at text[pos] (pos < size).
Glyph glyph_at(std::string_view text, std::size_t pos) {
    Glyph g;
    auto c = static_cast<unsigned char>(text[pos]);
    auto escape_byte = [&] {
        g.bytes = 1;
        g.escaped = true;
        std::snprintf(g.shown, sizeof g.shown, "\\x%02x", static_cast<unsigned char>(text[pos]));
        return g;
    };
    if (c == '\t') {
        g.tab = true;
        return g;
    }
    if (c < 0x20 || c == 0x7F) {
        return escape_byte();
    }
    if (c < 0x80) {
        return g;
    }
    // The shortest-form rules of RFC 3629 (no overlongs, no surrogates, <= U+10FFFF).
    std::size_t need;
    std::uint32_t cp;
    unsigned char low = 0x80, high = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        cp = c & 0x0F;
        low = c == 0xE0 ? 0xA0 : 0x80;
        high = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        cp = c & 0x07;
        low = c == 0xF0 ? 0x90 : 0x80;
        high = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return escape_byte();
    }
    if (pos + need >= text.size()) {
        return escape_byte();
    }
    auto second = static_cast<unsigned char>(text[pos + 1]);
    if (second < low || second > high) {
        return escape_byte();
    }
    for (std::size_t k = 1; k <= need; ++k) {
        std::uint32_t bits = continuation(static_cast<unsigned char>(text[pos + k]));
        if (bits == 0xFFFFFFFF) {
            return escape_byte();
        }
        cp = (cp << 6) | bits;
    }
    g.bytes = need + 1;
    if (hidden(cp)) {
        g.escaped = true;
        std::snprintf(g.shown, sizeof g.shown, "\\u%04x", static_cast<unsigned>(cp));
    }
    return g;
}

/// Appends the glyph at text[pos] as shown; `keep_tabs` shows a tab as itself.
void append(std::string& out, std::string_view text, std::size_t pos, const Glyph& g,
            bool keep_tabs) {
    if (g.tab) {
        out += keep_tabs ? "\t" : "\\t";
    } else if (g.escaped) {
        out += g.shown;
    } else {
        out.append(text.substr(pos, g.bytes));
    }
}

} // namespace

std::string printable(std::string_view text, std::size_t max_chars) {
    std::string out;
    std::size_t count = 0;
    for (std::size_t pos = 0; pos < text.size(); ++count) {
        if (count == max_chars) {
            return out + "...";
        }
        Glyph g = glyph_at(text, pos);
        append(out, text, pos, g, false);
        pos += g.bytes;
    }
    return out;
}

std::string printable_message(std::string_view text) {
    std::string out;
    for (std::size_t pos = 0; pos < text.size();) {
        if (text[pos] == '\n') {
            out += '\n';
            ++pos;
            continue;
        }
        Glyph g = glyph_at(text, pos);
        append(out, text, pos, g, true);
        pos += g.bytes;
    }
    return out;
}

Excerpt excerpt(std::string_view line, std::uint32_t column, bool cut_after, std::size_t width) {
    std::size_t total = 0;
    for (std::size_t pos = 0; pos < line.size(); ++total) {
        pos += glyph_at(line, pos).bytes;
    }
    std::size_t caret = column > 0 ? std::min<std::size_t>(column - 1, total) : 0;
    std::size_t first = 0;
    std::size_t last = total; // one past
    if (total > width) {
        first = caret > width / 2 ? caret - width / 2 : 0;
        last = std::min(total, first + width);
        first = last - std::min(width, last);
    }
    Excerpt out;
    if (first > 0) {
        out.text = "...";
        out.caret = "   ";
    }
    std::size_t index = 0;
    for (std::size_t pos = 0; pos < line.size() && index < last; ++index) {
        Glyph g = glyph_at(line, pos);
        if (index >= first) {
            append(out.text, line, pos, g, true);
            if (index < caret) {
                if (g.tab) {
                    out.caret += '\t';
                } else {
                    out.caret.append(g.escaped ? std::char_traits<char>::length(g.shown) : 1, ' ');
                }
            }
        }
        pos += g.bytes;
    }
    if (last < total || cut_after) {
        out.text += "...";
    }
    out.caret += '^';
    return out;
}

/// True when `text` is UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool valid_utf8(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
        unsigned char c = byte(i);
        std::size_t n = c < 0x80         ? 1
                        : (c >> 5) == 6  ? 2
                        : (c >> 4) == 14 ? 3
                        : (c >> 3) == 30 ? 4
                                         : 0;
        if (n == 0 || i + n > text.size()) {
            return false;
        }
        std::uint32_t cp = n == 1 ? c : c & (0x7f >> n);
        for (std::size_t k = 1; k < n; ++k) {
            if ((byte(i + k) & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (byte(i + k) & 0x3f);
        }
        static constexpr std::uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += n;
    }
    return true;
}

} // namespace ocibake::detail
