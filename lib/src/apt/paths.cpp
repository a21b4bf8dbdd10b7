#include "apt/paths.hpp"

#include "common/strings.hpp"
#include "ocibake/error.hpp"

namespace ocibake::apt::detail {

std::string clean_path(std::string_view raw, const std::string& what) {
    std::string out;
    for (std::string_view part : ocibake::detail::split_views(raw, '/')) {
        if (part.empty() || part == ".") {
            continue;
        }
        if (part == "..") {
            throw Error(ErrorKind::input,
                        what + ": data.tar: '" + std::string(raw) + "' climbs out of the root");
        }
        if (!out.empty()) {
            out += '/';
        }
        out += part;
    }
    return out;
}

std::string land(const std::string& path, const std::map<std::string, std::string>& links) {
    std::size_t slash = path.find('/');
    std::string top = path.substr(0, slash);
    auto it = links.find(top);
    if (it == links.end()) {
        return path;
    }
    std::string target = it->second;
    while (target.starts_with('/')) {
        target.erase(0, 1);
    }
    while (target.ends_with('/')) {
        target.pop_back();
    }
    if (target.empty() || target.find("..") != std::string::npos || target.starts_with("./")) {
        return path; // not a plain link inside the image: leave it to the unpacker
    }
    if (slash == std::string::npos) {
        return "";
    }
    return target + path.substr(slash);
}

} // namespace ocibake::apt::detail
