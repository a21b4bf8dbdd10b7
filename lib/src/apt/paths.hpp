// Internal: package paths as dpkg names them, and where they land in an image.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace ocibake::apt::detail {

/// "./usr/bin/x" -> "usr/bin/x"; "" for the root. Error(input) naming `what` for a path
/// that climbs out.
std::string clean_path(std::string_view raw, const std::string& what);

/// Where a package path lands in the image below: below a top-level symlink of the base
/// (a merged /usr: bin -> usr/bin), it lands where the link points. The link itself
/// ("bin") maps to "" (not written: the directory entry would replace the link).
std::string land(const std::string& path, const std::map<std::string, std::string>& links);

} // namespace ocibake::apt::detail
