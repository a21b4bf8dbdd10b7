// NVIDIA's redistrib JSON manifests (see nvidia_manifest.hpp).
#include "bake/nvidia_manifest.hpp"
#include "common/json_number.hpp"

#include "common/text.hpp"
#include "ocibake/error.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace ocibake::detail {

namespace {

using json = nlohmann::json;

[[noreturn]] void bad(const std::string& url, const std::string& where, const std::string& why) {
    throw Error(ErrorKind::input, "NVIDIA manifest " + url + ": " + where + " " + why);
}

std::string relative_path_problem(std::string_view p) {
    if (p.empty()) {
        return "is empty";
    }
    if (p.front() == '/') {
        return "is absolute";
    }
    if (p.find("://") != std::string_view::npos ||
        p.find_first_of("?#\\") != std::string_view::npos) {
        return "is not a plain relative path";
    }
    if (std::any_of(p.begin(), p.end(),
                    [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
        return "holds white space or a control character";
    }
    std::size_t start = 0;
    while (start <= p.size()) {
        std::size_t end = p.find('/', start);
        std::string_view part = p.substr(start, end == std::string_view::npos ? end : end - start);
        if (part == ".." || part == "." || part.empty()) {
            return "has an empty, '.' or '..' component";
        }
        if (end == std::string_view::npos) {
            break;
        }
        start = end + 1;
    }
    return {};
}

RedistArchive read_archive(const json& j, const std::string& url, const std::string& where) {
    if (!j.is_object()) {
        bad(url, where, "is not an object");
    }
    RedistArchive a;
    auto rp = j.find("relative_path");
    if (rp == j.end() || !rp->is_string()) {
        bad(url, where, "has no \"relative_path\" string");
    }
    a.relative_path = rp->get<std::string>();
    if (std::string why = relative_path_problem(a.relative_path); !why.empty()) {
        bad(url, where + ".relative_path '" + printable(a.relative_path) + "'", why);
    }
    auto sha = j.find("sha256");
    std::string hex = sha != j.end() && sha->is_string() ? sha->get<std::string>() : "";
    a.sha256 = Digest::try_parse("sha256:" + hex);
    if (!a.sha256) {
        bad(url, where + ".sha256", "is not 64 lowercase hex digits");
    }
    auto size = j.find("size");
    if (size == j.end()) {
        bad(url, where, "has no \"size\"");
    }
    if (size->is_number_unsigned()) {
        a.size = ocibake::detail::json_integer<std::uint64_t>(*size);
    } else {
        std::string digits = size->is_string() ? size->get<std::string>() : "";
        if (digits.empty() || digits.size() > 15 ||
            !std::all_of(digits.begin(), digits.end(),
                         [](char c) { return c >= '0' && c <= '9'; })) {
            bad(url, where + ".size", "is not a size in bytes");
        }
        a.size = std::stoull(digits);
    }
    return a;
}

bool is_variant_map(const json& platform) {
    if (!platform.is_object() || platform.contains("relative_path")) {
        return false;
    }
    return std::all_of(platform.items().begin(), platform.items().end(),
                       [](const auto& kv) { return kv.key().starts_with("cuda"); });
}

RedistComponent read_component(const json& j, const std::string& url, const std::string& name) {
    RedistComponent c;
    auto version = j.find("version");
    if (version == j.end() || !version->is_string() || version->get<std::string>().empty()) {
        bad(url, name, "has no \"version\" string");
    }
    c.version = version->get<std::string>();
    for (const auto& [key, value] : j.items()) {
        if (key == "name" || key == "license" || key == "license_path" || key == "version" ||
            key == "cuda_variant" || !value.is_object()) {
            continue;
        }
        std::string where = name + "." + printable(key);
        if (is_variant_map(value)) {
            for (const auto& [variant, archive] : value.items()) {
                c.variants[key][variant] = read_archive(archive, url, where + "." + variant);
            }
        } else {
            c.archives[key] = read_archive(value, url, where);
        }
    }
    return c;
}

std::string keys_of(const auto& map) {
    std::string out;
    for (const auto& [key, value] : map) {
        out += (out.empty() ? "" : ", ") + key;
    }
    return out.empty() ? "none" : out;
}

} // namespace

RedistManifest parse_redistrib(std::string_view text, const std::string& url) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        throw Error(ErrorKind::input, "NVIDIA manifest " + url + " is not a JSON object");
    }
    RedistManifest m;
    for (const auto& [key, value] : j.items()) {
        if (key == "release_label" || key == "release_product" || key == "release_date") {
            if (!value.is_string()) {
                bad(url, key, "is not a string");
            }
            if (key == "release_label") {
                m.release_label = value.get<std::string>();
            } else if (key == "release_product") {
                m.release_product = value.get<std::string>();
            }
            continue;
        }
        if (!value.is_object()) {
            bad(url, printable(key), "is not an object");
        }
        m.components[key] = read_component(value, url, printable(key));
    }
    if (m.components.empty()) {
        throw Error(ErrorKind::input, "NVIDIA manifest " + url + " lists no components");
    }
    return m;
}

const RedistArchive& select_redist(const RedistManifest& m, const std::string& url,
                                   const std::string& component, const std::string& platform,
                                   const std::string& variant) {
    auto c = m.components.find(component);
    if (c == m.components.end()) {
        throw Error(ErrorKind::input, "NVIDIA manifest " + url + " has no component '" + component +
                                          "' (it has: " + keys_of(m.components) + ")");
    }
    const RedistComponent& rc = c->second;
    if (auto v = rc.variants.find(platform); v != rc.variants.end()) {
        if (variant.empty()) {
            throw Error(ErrorKind::input, "NVIDIA manifest " + url + ": '" + component +
                                              "' has an archive per CUDA variant (" +
                                              keys_of(v->second) +
                                              "): say which with cuda_variant = \"" +
                                              v->second.rbegin()->first + "\"");
        }
        auto a = v->second.find(variant);
        if (a == v->second.end()) {
            throw Error(ErrorKind::input, "NVIDIA manifest " + url + ": '" + component +
                                              "' has no " + variant + " archive for " + platform +
                                              " (it has: " + keys_of(v->second) + ")");
        }
        return a->second;
    }
    auto a = rc.archives.find(platform);
    if (a == rc.archives.end()) {
        std::map<std::string, int> platforms;
        for (const auto& [p, x] : rc.archives) {
            platforms[p] = 0;
        }
        for (const auto& [p, x] : rc.variants) {
            platforms[p] = 0;
        }
        throw Error(ErrorKind::input, "NVIDIA manifest " + url + ": '" + component +
                                          "' has no archive for " + platform +
                                          " (it has: " + keys_of(platforms) + ")");
    }
    return a->second;
}

std::string redist_url(const std::string& manifest_url, const std::string& relative_path) {
    std::string base = manifest_url.substr(0, manifest_url.find_first_of("?#"));
    return base.substr(0, base.rfind('/') + 1) + relative_path;
}

} // namespace ocibake::detail
