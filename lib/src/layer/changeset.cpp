#include "layer/changeset.hpp"

namespace ocibake::detail {

namespace {

constexpr std::string_view kWhiteout = ".wh.";
constexpr std::string_view kOpaque = ".wh..wh..opq";
constexpr std::string_view kReserved = ".wh..wh.";

} // namespace

std::vector<std::string> split_path(std::string_view path) {
    std::vector<std::string> out;
    while (!path.empty()) {
        std::size_t slash = path.find('/');
        std::string_view part = path.substr(0, slash);
        if (!part.empty() && part != ".") {
            out.emplace_back(part);
        }
        if (slash == std::string_view::npos) {
            break;
        }
        path.remove_prefix(slash + 1);
    }
    return out;
}

std::string in_quotes(std::string_view text) {
    return "'" + std::string(text) + "'";
}

std::optional<std::string> clean_relative_path(std::string_view path) {
    if (path.starts_with('/')) {
        return std::nullopt;
    }
    std::string out;
    for (const std::string& part : split_path(path)) {
        if (part == "..") {
            return std::nullopt;
        }
        out += (out.empty() ? "" : "/") + part;
    }
    return out;
}

EntryName classify_entry(std::string_view raw, const std::string& label) {
    std::optional<std::string> path = clean_relative_path(raw);
    if (!path) {
        throw Error(ErrorKind::input,
                    label + ": entry " + in_quotes(raw) + " escapes the image root");
    }
    EntryName out;
    out.path = std::move(*path);
    if (out.path.empty()) {
        out.kind = EntryName::Kind::root;
        return out;
    }
    std::size_t slash = out.path.rfind('/');
    std::string dir = slash == std::string::npos ? "" : out.path.substr(0, slash);
    std::string_view base = std::string_view(out.path).substr(slash + 1);
    if (!base.starts_with(kWhiteout)) {
        out.kind = EntryName::Kind::plain;
        return out;
    }
    if (base == kOpaque) {
        out.kind = EntryName::Kind::opaque;
        out.victim = dir;
        return out;
    }
    if (base.starts_with(kReserved)) {
        out.kind = EntryName::Kind::reserved;
        return out;
    }
    std::string_view name = base.substr(kWhiteout.size());
    if (name.empty() || name == "." || name == "..") {
        throw Error(ErrorKind::input, label + ": whiteout " + in_quotes(out.path) +
                                          " would delete " + in_quotes(name) +
                                          ": a whiteout must name an entry of its directory");
    }
    out.kind = EntryName::Kind::whiteout;
    out.victim = (dir.empty() ? "" : dir + "/") + std::string(name);
    return out;
}

std::optional<std::string> whiteout_component(std::string_view path) {
    for (std::string& part : split_path(path)) {
        if (std::string_view(part).starts_with(kWhiteout)) {
            return std::move(part);
        }
    }
    return std::nullopt;
}

std::string whiteout_meaning(std::string_view path) {
    std::string dir;
    for (const std::string& part : split_path(path)) {
        if (!std::string_view(part).starts_with(kWhiteout)) {
            dir += "/" + part;
            continue;
        }
        if (part == kOpaque) {
            return "would empty " + (dir.empty() ? std::string("/") : dir) + " of the image below";
        }
        if (std::string_view(part).starts_with(kReserved)) {
            return "is a name reserved for whiteouts";
        }
        return "would delete " + dir + "/" + part.substr(kWhiteout.size()) + " of the image below";
    }
    return "is not a whiteout";
}

std::string whiteout_refusal(std::string_view path) {
    return "image path /" + std::string(path) + " " + whiteout_meaning(path) +
           ": in an OCI layer a name starting with '.wh.' is a deletion, so no file may carry "
           "it; refused";
}

} // namespace ocibake::detail
