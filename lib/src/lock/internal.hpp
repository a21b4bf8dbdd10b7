// Internal: the lock file's parser on its own (read_lock() reads the file, then this).
#pragma once

#include "ocibake/lock.hpp"

#include <filesystem>
#include <string_view>

namespace ocibake::detail {

/// Parses lock text as if read from `path` (which names it in errors). Errors are
/// RecipeErrors at the lock file's line and column.
Lock parse_lock(std::string_view text, const std::filesystem::path& path);

} // namespace ocibake::detail
