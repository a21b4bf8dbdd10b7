// Internal: a reader for a small subset of YAML, enough for CDI specs (those `nvidia-ctk cdi
// generate` writes and those written by hand), turning one document into JSON. It is not
// a YAML library: whatever lies outside the subset is an error naming its line and column,
// never a guess.
//
// Read: an optional leading `---` and trailing `...`; comments (`#` at a line's start or
// after whitespace, not inside quotes); block mappings (`key: value`, `key:` and a
// more-indented block below); block sequences (`- item`, `- key: value` whose further keys
// align with the first, and a sequence at the indentation of its parent key); flow
// sequences of scalars on one line (`[ro, nosuid, "bind"]`), `[]` and `{}`; plain,
// 'single-quoted' ('' for ') and "double-quoted" scalars (escapes \\ \" \/ \0 \a \b \t \n
// \v \f \r \e \xXX \uXXXX \UXXXXXXXX) on one line.
//
// Plain scalars are typed as YAML 1.2's core schema does: null (`~`, `null`, nothing),
// booleans (`true`, `false`), integers (decimal, `0o` octal, `0x` hex), floats (`1.5`,
// `1e3`, `.inf`, `.nan`); anything else is a string (`0.5.0`, `yes`). Quoted scalars are
// strings. JSON keys are strings: a plain key that is an integer or a boolean is written as
// JSON writes it (`0x10` is "16"); a null or float key is an error.
//
// Refused: anchors `&`, aliases `*`, tags `!`, block scalars `|` `>`, directives `%`,
// multi-document streams, complex keys `?`, flow mappings with content, nested or
// multi-line flow collections, multi-line scalars, tabs in indentation, duplicate keys.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ocibake::detail {

/// A document that is not YAML, or not in the subset. what() is "LINE:COLUMN: MESSAGE";
/// the message says what was found there ("found an alias '*gpu' (...)").
class YamlError : public std::runtime_error {
public:
    YamlError(std::size_t line, std::size_t column, const std::string& message);
    std::size_t line() const noexcept { return line_; }     ///< 1-based
    std::size_t column() const noexcept { return column_; } ///< 1-based, in bytes
    const std::string& message() const noexcept { return message_; }

private:
    std::size_t line_;
    std::size_t column_;
    std::string message_;
};

/// The document in `text` as JSON (null for an empty document). Throws YamlError.
nlohmann::json parse_yaml_subset(std::string_view text);

} // namespace ocibake::detail
