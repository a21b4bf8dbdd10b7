// Internal: the string helpers every module uses (trim, split, join, ASCII case), written
// once. None depends on the locale. Not installed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ocibake::detail {

/// Space, tab, CR and LF: what trim() drops unless told otherwise.
inline constexpr std::string_view blanks = " \t\r\n";
/// What std::isspace() takes in the C locale (blanks, and vertical tab and form feed).
inline constexpr std::string_view ascii_spaces = " \t\n\v\f\r";

/// `text` without its leading and trailing characters of `chars`.
std::string_view trim(std::string_view text, std::string_view chars = blanks) noexcept;

/// 'A'..'Z' as 'a'..'z'; every other byte as it is.
char ascii_lower(char c) noexcept;
/// `text` with ascii_lower() applied to each byte.
std::string ascii_lower(std::string_view text);
/// `a` and `b` equal but for ASCII case.
bool ascii_iequals(std::string_view a, std::string_view b) noexcept;

/// The parts of `text` between the `separator`s: n separators make n + 1 parts, empty
/// ones included ("a..b" split at '.' is "a", "", "b"; "" is one empty part).
std::vector<std::string> split(std::string_view text, char separator);
/// split() as views into `text`.
std::vector<std::string_view> split_views(std::string_view text, char separator);

/// RFC 3986's unreserved characters besides letters and digits.
inline constexpr std::string_view url_unreserved = "-._~";

/// `text` percent-encoded: every byte but an ASCII letter, digit or one of `keep` as %XX
/// (uppercase hex).
std::string percent_encode(std::string_view text, std::string_view keep = url_unreserved);

/// `size` bytes as lowercase hex, two digits a byte.
std::string hex_lower(const unsigned char* bytes, std::size_t size);

/// `items` (strings or string views) with `separator` between each two.
template <typename Range>
std::string join(const Range& items, std::string_view separator) {
    std::string out;
    bool first = true;
    for (const auto& item : items) {
        if (!first) {
            out += separator;
        }
        out += item;
        first = false;
    }
    return out;
}

} // namespace ocibake::detail
