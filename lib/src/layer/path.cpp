#include "ocibake/layer.hpp"

#include "common/strings.hpp"
#include "common/text.hpp"

#include <vector>

namespace ocibake {

std::string normalize_image_path(std::string_view path, std::string_view origin, bool allow_root) {
    auto fail = [&](const std::string& why) -> Error {
        std::string msg = origin.empty() ? std::string() : std::string(origin) + ": ";
        return Error(ErrorKind::input, msg + "image path '" + detail::printable(path) + "' " + why);
    };
    if (path.find('\0') != std::string_view::npos) {
        throw fail("contains a NUL byte");
    }
    std::vector<std::string_view> parts;
    for (std::string_view part : detail::split_views(path, '/')) {
        if (part == "..") {
            if (parts.empty()) {
                throw fail("escapes the image root");
            }
            parts.pop_back();
        } else if (!part.empty() && part != ".") {
            parts.push_back(part);
        }
    }
    std::string out = detail::join(parts, "/");
    if (out.empty() && !allow_root) {
        throw fail("names the image root itself");
    }
    return out;
}

} // namespace ocibake
