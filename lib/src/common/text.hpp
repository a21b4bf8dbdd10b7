// Internal: text from outside (a recipe's values and lines, file names) made safe to print
// in a message. Not installed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ocibake::detail {

/// How many code points of a value a message quotes before it cuts it ("...").
inline constexpr std::size_t max_quoted_chars = 200;

/// `text` as a message may show it: control characters as \xNN (a tab as \t), bytes that
/// are not UTF-8 as \xNN, and code points that reorder or hide text (C1 controls, bidi
/// overrides and isolates, line separators) as \uNNNN. Cut after `max_chars` code points,
/// marked with "...". Nothing a terminal would act on passes through.
std::string printable(std::string_view text, std::size_t max_chars = max_quoted_chars);

/// printable() for a whole message: keeps newlines and tabs (a message may have several
/// lines), never cuts.
std::string printable_message(std::string_view text);

/// One source line quoted under a diagnostic, and the caret line under it.
struct Excerpt {
    std::string text;  ///< escaped like printable() (tabs kept); "..." where it was cut
    std::string caret; ///< blanks (tabs where the line has tabs), then '^'
};

/// The part of `line` around `column` (1-based, in code points, as toml++ counts them),
/// at most `width` code points wide: a 15 MB line is quoted as a window with "..." at the
/// cut ends. `cut_after` says that `line` was itself cut short of the real line.
Excerpt excerpt(std::string_view line, std::uint32_t column, bool cut_after = false,
                std::size_t width = 120);

/// True when `text` is UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool valid_utf8(std::string_view text);

} // namespace ocibake::detail
