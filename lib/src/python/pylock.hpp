// Internal: the pylock.toml parser on its own (read_pylock() reads the file, then this).
#pragma once

#include "ocibake/python.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake::detail {

/// Parses pylock text as if read from `file` (relative wheel paths resolve against its
/// folder); `display` names it in errors. Error(recipe) at file:line:col.
std::vector<python::PylockPackage>
parse_pylock(std::string_view text, const std::filesystem::path& file, const std::string& display);

} // namespace ocibake::detail
