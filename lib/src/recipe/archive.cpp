// ocibake: the recipe's [[layer.archive]] and [[layer.nvidia]] tables (docs/recipe.md).
//
// Only the form of each value is checked here; the archives are fetched and checked
// against their digests when the recipe is locked or built (build/archive_layers.cpp).
#include "common/text.hpp"
#include "layer/glob.hpp"
#include "ocibake/recipe.hpp"
#include "recipe/tables.hpp"

#include <algorithm>
#include <array>

namespace ocibake::detail::recipe_read {

namespace {

bool lower_hex(std::string_view text) {
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string as_url(const Value& v) {
    std::string url = as_nonempty_string(v);
    if (!url.starts_with("https://") && !url.starts_with("http://")) {
        fail(v.where(), in_quotes(v.name) + " " + in_quotes(url) + " is not an http(s) URL",
             "write the full URL: \"https://host/path/file.tar.xz\"");
    }
    if (url.find_first_of(" \t\r\n") != std::string::npos) {
        fail(v.where(), in_quotes(v.name) + " " + in_quotes(url) + " holds white space");
    }
    return url;
}

std::vector<std::string> as_globs(const Value& v) {
    std::vector<std::string> out;
    for (const Located& g : as_strings(v)) {
        try {
            Glob check(g.text);
        } catch (const Error& e) {
            fail(g.where, in_quotes(v.name) + " " + e.what());
        }
        out.push_back(g.text);
    }
    return out;
}

/// A Debian package name (what `satisfies` names).
std::string as_package_name(const Value& v) {
    std::string name = as_nonempty_string(v);
    bool ok = name.size() >= 2 && std::isalnum(static_cast<unsigned char>(name[0])) &&
              std::all_of(name.begin(), name.end(), [](char c) {
                  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
                         c == '.';
              });
    if (!ok) {
        fail(v.where(), in_quotes(v.name) + " " + in_quotes(name) + " is not a Debian package name",
             "the installer package whose payload this is, e.g. satisfies = \"nvidia-cudnn\"");
    }
    return name;
}

std::array<Field<ArchiveItem>, 13> archive_fields() {
    return {{
        {"url",
         [](ArchiveItem& a, const Value& v) {
             a.url = as_url(v);
             a.url_where = v.where();
         }},
        {"sha256",
         [](ArchiveItem& a, const Value& v) {
             std::string text = as_nonempty_string(v);
             std::string hex = text.starts_with("sha256:") ? text.substr(7) : text;
             if (hex.size() != 64 || !lower_hex(hex)) {
                 fail(v.where(), "'sha256' " + in_quotes(text) + " is not a sha256 digest",
                      "64 lowercase hex digits, as sha256sum prints them (\"sha256:\" may "
                      "come first)");
             }
             a.sha256 = Digest::parse("sha256:" + hex);
             a.digest_where = v.where();
         }},
        {"sha512",
         [](ArchiveItem& a, const Value& v) {
             std::string text = as_nonempty_string(v);
             std::string hex = text.starts_with("sha512:") ? text.substr(7) : text;
             if (hex.size() != 128 || !lower_hex(hex)) {
                 fail(v.where(), "'sha512' " + in_quotes(text) + " is not a sha512 digest",
                      "128 lowercase hex digits, as sha512sum prints them");
             }
             a.sha512 = hex;
             if (!a.sha256) {
                 a.digest_where = v.where();
             }
         }},
        {"strip",
         [](ArchiveItem& a, const Value& v) {
             a.strip = static_cast<std::uint32_t>(as_integer_in(v, 0, 64));
         }},
        {"dst",
         [](ArchiveItem& a, const Value& v) {
             a.dst = as_image_path(v, true);
             a.dst_where = v.where();
         }},
        {"include", [](ArchiveItem& a, const Value& v) { a.options.include = as_globs(v); }},
        {"exclude", [](ArchiveItem& a, const Value& v) { a.options.exclude = as_globs(v); }},
        {"mode", [](ArchiveItem& a, const Value& v) { a.options.file_mode = as_mode(v); }},
        {"dir_mode", [](ArchiveItem& a, const Value& v) { a.options.dir_mode = as_mode(v); }},
        {"uid", [](ArchiveItem& a, const Value& v) { a.options.uid = as_id(v); }},
        {"gid", [](ArchiveItem& a, const Value& v) { a.options.gid = as_id(v); }},
        {"preserve_modes",
         [](ArchiveItem& a, const Value& v) { a.options.preserve_modes = as_bool(v); }},
        {"satisfies",
         [](ArchiveItem& a, const Value& v) {
             a.satisfies = as_package_name(v);
             a.satisfies_where = v.where();
         }},
    }};
}

/// "12.4.1" -> "12.4"; "" when the text is not two dotted numbers or more.
std::string major_minor(std::string_view version) {
    std::size_t dot = version.find('.');
    if (dot == std::string_view::npos || dot == 0) {
        return {};
    }
    std::size_t end = version.find('.', dot + 1);
    std::string_view out = version.substr(0, end);
    bool ok = std::all_of(out.begin(), out.end(), [](char c) {
        return c == '.' || std::isdigit(static_cast<unsigned char>(c));
    });
    return ok && out.size() > dot + 1 ? std::string(out) : std::string();
}

std::string as_dotted(const Value& v) {
    std::string text = as_nonempty_string(v);
    bool ok = std::isdigit(static_cast<unsigned char>(text.front())) &&
              std::isdigit(static_cast<unsigned char>(text.back())) &&
              text.find("..") == std::string::npos &&
              std::all_of(text.begin(), text.end(), [](char c) {
                  return c == '.' || std::isdigit(static_cast<unsigned char>(c));
              });
    if (!ok) {
        fail(v.where(), in_quotes(v.name) + " " + in_quotes(text) + " is not a dotted version",
             "numbers and dots, e.g. \"12.4.1\"");
    }
    return text;
}

std::string as_word(const Value& v, std::string_view what) {
    std::string text = as_nonempty_string(v);
    bool ok = std::all_of(text.begin(), text.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    });
    if (!ok) {
        fail(v.where(), in_quotes(v.name) + " " + in_quotes(text) + " is not " + std::string(what));
    }
    return text;
}

std::array<Field<NvidiaItem>, 10> nvidia_fields() {
    return {{
        {"manifest",
         [](NvidiaItem& n, const Value& v) {
             n.manifest = as_url(v);
             n.manifest_where = v.where();
         }},
        {"product",
         [](NvidiaItem& n, const Value& v) { n.product = as_word(v, "a product name"); }},
        {"version", [](NvidiaItem& n, const Value& v) { n.version = as_dotted(v); }},
        {"components",
         [](NvidiaItem& n, const Value& v) {
             n.components.clear();
             for (const Located& c : as_strings(v)) {
                 if (c.text.empty() || !std::all_of(c.text.begin(), c.text.end(), [](char ch) {
                         return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' ||
                                ch == '-';
                     })) {
                     fail(c.where, "'components' " + in_quotes(c.text) +
                                       " is not a component name (cuda_cudart, libcublas, "
                                       "cudnn...)");
                 }
                 if (std::find(n.components.begin(), n.components.end(), c.text) !=
                     n.components.end()) {
                     fail(c.where, "'components' names " + in_quotes(c.text) + " twice");
                 }
                 n.components.push_back(c.text);
             }
             n.components_where = v.where();
         }},
        {"platform",
         [](NvidiaItem& n, const Value& v) {
             static constexpr std::array<std::string_view, 4> known = {
                 "linux-x86_64", "linux-sbsa", "linux-aarch64", "linux-ppc64le"};
             n.platform = as_nonempty_string(v);
             if (std::find(known.begin(), known.end(), n.platform) == known.end()) {
                 fail(v.where(), "'platform' " + in_quotes(n.platform) + " is not one of " +
                                     join(known, ", "));
             }
             n.platform_where = v.where();
         }},
        {"cuda_variant",
         [](NvidiaItem& n, const Value& v) {
             n.cuda_variant = as_word(v, "a CUDA variant (\"cuda12\")");
             if (!n.cuda_variant.starts_with("cuda")) {
                 fail(v.where(),
                      "'cuda_variant' " + in_quotes(n.cuda_variant) + " is not a CUDA variant",
                      "as the manifest names it: \"cuda12\"");
             }
         }},
        {"layout",
         [](NvidiaItem& n, const Value& v) {
             n.layout = as_nonempty_string(v);
             if (n.layout != "nvidia" && n.layout != "debian") {
                 fail(v.where(), "'layout' " + in_quotes(n.layout) + " is not nvidia or debian",
                      "nvidia: /usr/local/cuda-X.Y/{lib64,include,bin}; debian: "
                      "/usr/lib/<triplet>, /usr/include, /usr/bin");
             }
             n.layout_where = v.where();
         }},
        {"cuda_version",
         [](NvidiaItem& n, const Value& v) {
             n.cuda_version = major_minor(as_dotted(v));
             if (n.cuda_version.empty()) {
                 fail(v.where(), "'cuda_version' must be major.minor, e.g. \"12.4\"");
             }
         }},
        {"satisfies",
         [](NvidiaItem& n, const Value& v) {
             n.satisfies = as_package_name(v);
             n.satisfies_where = v.where();
         }},
    }};
}

} // namespace

ArchiveItem read_archive(const Section& section) {
    ArchiveItem item;
    item.where = section.where();
    item.dst_where = section.where();
    read_fields(section, item, archive_fields());
    if (!section.get("url")) {
        section.missing(in_quotes("url"), "where the archive is downloaded from");
    }
    if (!section.get("sha256") && !section.get("sha512")) {
        section.missing("'sha256' or 'sha512'",
                        "the archive's digest, as its publisher states it: an archive is "
                        "never used unchecked");
    }
    return item;
}

NvidiaItem read_nvidia(const Section& section) {
    NvidiaItem item;
    item.where = section.where();
    read_fields(section, item, nvidia_fields());
    bool by_name = section.get("product") != nullptr || section.get("version") != nullptr;
    if (section.get("manifest") && by_name) {
        fail(section.get("product") ? section.get("product")->key_where()
                                    : section.get("version")->key_where(),
             "[[layer.nvidia]] takes 'manifest' or 'product' and 'version', not both");
    }
    if (!section.get("manifest")) {
        if (item.product.empty() || item.version.empty()) {
            section.missing("'manifest', or 'product' and 'version'",
                            "product = \"cudnn\" and version = \"9.0.0\" name "
                            "https://developer.download.nvidia.com/compute/cudnn/redist/"
                            "redistrib_9.0.0.json");
        }
        item.manifest = "https://developer.download.nvidia.com/compute/" + item.product +
                        "/redist/redistrib_" + item.version + ".json";
        item.manifest_where = section.get("product")->where();
    }
    if (item.components.empty()) {
        section.missing("'components'",
                        "the manifest's components, e.g. components = [\"cuda_cudart\", "
                        "\"libcublas\"]");
    }
    if (item.layout == "nvidia" && item.cuda_version.empty()) {
        if (item.product == "cuda") {
            item.cuda_version = major_minor(item.version);
        } else {
            section.missing("'cuda_version'",
                            "the nvidia layout installs into /usr/local/cuda-X.Y: say which, "
                            "e.g. cuda_version = \"12.4\" (or layout = \"debian\")");
        }
    }
    return item;
}

} // namespace ocibake::detail::recipe_read
