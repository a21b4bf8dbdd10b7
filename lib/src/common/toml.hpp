// Internal: the one way ocibake parses TOML (recipes and fragments, lock files, pylock.toml).
// Not installed.
//
// toml++ builds one nested node per table of a header or a dotted key, per array and per
// inline table, and frees them recursively: a header of 50,000 parts (100 KB of text)
// overflows the stack. So the text's nesting is bounded before toml++ sees it, by a scan
// that runs in linear time with a constant stack.
#pragma once

#include "ocibake/error.hpp"

#include <toml++/toml.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace ocibake::detail {

/// How deeply a TOML text may nest: the parts of a table header (`[a.b.c]` is 3 deep, an
/// array of tables `[[a.b]]` 3), plus the parts of a dotted key, plus each array and
/// inline table around a value. Real files nest 2 to 5 deep; toml++ stops arrays and
/// inline tables alone at 256, and its recursion overflows an 8 MiB stack near 30,000.
inline constexpr std::size_t max_toml_depth = 128;

/// Where `text` first nests deeper than max_toml_depth (1-based line and column, in code
/// points as toml++ counts them), or nullopt. Correct for valid TOML; on malformed text it
/// may stop early or misread what follows the first error, which toml++ then reports.
std::optional<std::pair<std::uint32_t, std::uint32_t>> too_deep(std::string_view text);

/// The depth of the deepest node of valid TOML `text` (the root table is 0, `a = 1` is 1),
/// by the same scan. For tests.
std::size_t toml_depth(std::string_view text);

/// Where `region` starts: `file` (as messages name it), line and column (1-based, in code
/// points, as toml++ counts them). Every error about a parsed value is placed by this
/// (recipes, lock files, pylock.toml).
SourceLocation toml_location(std::string file, const toml::source_region& region);

/// toml::parse of `text` after the depth check. A syntax error, or a nesting deeper than
/// max_toml_depth, throws RecipeError(recipe) at `display`:line:col with `hint`.
toml::table parse_toml(std::string_view text, const std::string& display,
                       const std::string& hint = {});

} // namespace ocibake::detail
