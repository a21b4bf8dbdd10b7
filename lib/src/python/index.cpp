// The simple repository API: PEP 691 JSON and PEP 503 HTML project pages.
#include "common/json_number.hpp"
#include "common/strings.hpp"
#include "ocibake/python.hpp"

#include <nlohmann/json.hpp>

#include <cctype>

namespace ocibake::python {

namespace {

using json = nlohmann::json;

constexpr std::string_view json_type = "application/vnd.pypi.simple.v1+json";

/// scheme://authority of a URL ("" when it has none).
std::string origin_of(std::string_view url) {
    std::size_t scheme = url.find("://");
    if (scheme == std::string_view::npos) {
        return {};
    }
    std::size_t path = url.find('/', scheme + 3);
    return std::string(url.substr(0, path));
}

/// Removes "." and ".." segments (RFC 3986 5.2.4).
std::string remove_dots(std::string_view path) {
    std::vector<std::string> out;
    std::size_t start = 1;
    bool trailing = false;
    while (start <= path.size()) {
        std::size_t slash = path.find('/', start);
        std::string seg(path.substr(start, slash - start));
        trailing = false;
        if (seg == "..") {
            if (!out.empty()) {
                out.pop_back();
            }
            trailing = true;
        } else if (seg == ".") {
            trailing = true;
        } else {
            out.push_back(seg);
        }
        if (slash == std::string_view::npos) {
            break;
        }
        start = slash + 1;
    }
    std::string result;
    for (const auto& s : out) {
        result += "/" + s;
    }
    if (trailing || result.empty()) {
        result += "/";
    }
    return result;
}

std::string html_unescape(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '&') {
            out += s[i];
            continue;
        }
        // Entities are short: looking further for the ';' would make a run of '&' quadratic.
        std::size_t semi = s.substr(0, i + 12).find(';', i);
        if (semi == std::string_view::npos || semi - i > 10) {
            out += s[i];
            continue;
        }
        std::string_view ent = s.substr(i + 1, semi - i - 1);
        if (ent == "amp") {
            out += '&';
        } else if (ent == "lt") {
            out += '<';
        } else if (ent == "gt") {
            out += '>';
        } else if (ent == "quot") {
            out += '"';
        } else if (ent == "apos" || ent == "#39" || ent == "#x27") {
            out += '\'';
        } else if (!ent.empty() && ent[0] == '#') {
            try {
                long code = ent.size() > 1 && (ent[1] == 'x' || ent[1] == 'X')
                                ? std::stol(std::string(ent.substr(2)), nullptr, 16)
                                : std::stol(std::string(ent.substr(1)));
                if (code > 0 && code < 128) {
                    out += static_cast<char>(code);
                } else {
                    out += std::string(s.substr(i, semi - i + 1));
                }
            } catch (const std::exception&) {
                out += std::string(s.substr(i, semi - i + 1));
            }
        } else {
            out += std::string(s.substr(i, semi - i + 1));
        }
        i = semi;
    }
    return out;
}

std::string percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() &&
            std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
            out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::string filename_of_url(std::string_view url) {
    std::string_view path = url.substr(0, url.find_first_of("?#"));
    return percent_decode(path.substr(path.rfind('/') + 1));
}

/// Attributes of one HTML start tag (names lower-cased, values unescaped).
std::map<std::string, std::string> attributes(std::string_view tag) {
    std::map<std::string, std::string> out;
    std::size_t i = 0;
    while (i < tag.size() && !std::isspace(static_cast<unsigned char>(tag[i]))) {
        ++i; // the tag name
    }
    while (i < tag.size()) {
        while (i < tag.size() &&
               (std::isspace(static_cast<unsigned char>(tag[i])) || tag[i] == '/')) {
            ++i;
        }
        std::size_t start = i;
        while (i < tag.size() && tag[i] != '=' &&
               !std::isspace(static_cast<unsigned char>(tag[i])) && tag[i] != '/') {
            ++i;
        }
        std::string name = detail::ascii_lower(std::string(tag.substr(start, i - start)));
        if (name.empty()) {
            ++i;
            continue;
        }
        while (i < tag.size() && std::isspace(static_cast<unsigned char>(tag[i]))) {
            ++i;
        }
        std::string value;
        if (i < tag.size() && tag[i] == '=') {
            ++i;
            while (i < tag.size() && std::isspace(static_cast<unsigned char>(tag[i]))) {
                ++i;
            }
            if (i < tag.size() && (tag[i] == '"' || tag[i] == '\'')) {
                char q = tag[i++];
                std::size_t end = tag.find(q, i);
                value = std::string(tag.substr(i, end - i));
                i = end == std::string_view::npos ? tag.size() : end + 1;
            } else {
                std::size_t vstart = i;
                while (i < tag.size() && !std::isspace(static_cast<unsigned char>(tag[i]))) {
                    ++i;
                }
                value = std::string(tag.substr(vstart, i - vstart));
            }
        }
        out[name] = html_unescape(value);
    }
    return out;
}

} // namespace

std::string resolve_url(std::string_view base, std::string_view ref) {
    std::string r(ref.substr(0, ref.find('#')));
    if (r.find("://") != std::string::npos && r.find("://") < r.find_first_of("/?")) {
        return r;
    }
    std::string base_no_frag(base.substr(0, base.find_first_of("?#")));
    std::string origin = origin_of(base_no_frag);
    if (r.starts_with("//")) {
        return base_no_frag.substr(0, base_no_frag.find("://") + 1) + r;
    }
    if (r.empty()) {
        return base_no_frag;
    }
    std::string query;
    if (std::size_t q = r.find('?'); q != std::string::npos) {
        query = r.substr(q);
        r = r.substr(0, q);
    }
    std::string path;
    if (r.starts_with("/")) {
        path = r;
    } else {
        std::string base_path = base_no_frag.substr(origin.size());
        if (base_path.empty()) {
            base_path = "/";
        }
        path = base_path.substr(0, base_path.rfind('/') + 1) + r;
    }
    return origin + remove_dots(path) + query;
}

std::vector<IndexFile> parse_simple_json(std::string_view body, std::string_view page_url) {
    std::vector<IndexFile> out;
    json j;
    try {
        j = json::parse(body);
    } catch (const json::exception& e) {
        throw Error(ErrorKind::integrity,
                    "index page " + http::redact_url(page_url) + " is not valid JSON: " + e.what());
    }
    try {
        std::string version = j.at("meta").at("api-version").get<std::string>();
        if (!version.starts_with("1.")) {
            throw Error(ErrorKind::integrity, "index page " + http::redact_url(page_url) +
                                                  " speaks API version " + version +
                                                  "; ocibake reads 1.x");
        }
        for (const auto& f : j.at("files")) {
            IndexFile file;
            file.filename = f.at("filename").get<std::string>();
            file.url = resolve_url(page_url, f.at("url").get<std::string>());
            if (f.contains("hashes") && f["hashes"].contains("sha256")) {
                file.sha256 = Digest::try_parse(
                    "sha256:" + detail::ascii_lower(f["hashes"]["sha256"].get<std::string>()));
            }
            if (f.contains("size") && f["size"].is_number_unsigned()) {
                file.size = ocibake::detail::json_integer<std::uint64_t>(f["size"]);
            }
            if (f.contains("requires-python") && f["requires-python"].is_string()) {
                file.requires_python = f["requires-python"].get<std::string>();
            }
            if (f.contains("yanked")) {
                file.yanked = f["yanked"].is_string() ||
                              (f["yanked"].is_boolean() && f["yanked"].get<bool>());
            }
            out.push_back(std::move(file));
        }
    } catch (const json::exception& e) {
        throw Error(ErrorKind::integrity, "index page " + http::redact_url(page_url) +
                                              " is not a PEP 691 project page: " + e.what());
    }
    return out;
}

std::vector<IndexFile> parse_simple_html(std::string_view body, std::string_view page_url) {
    std::vector<IndexFile> out;
    std::string base(page_url);
    std::string lowered = detail::ascii_lower(std::string(body));
    std::size_t pos = 0;
    while ((pos = lowered.find('<', pos)) != std::string::npos) {
        std::size_t end = lowered.find('>', pos);
        if (end == std::string::npos) {
            break;
        }
        std::string_view tag = std::string_view(body).substr(pos + 1, end - pos - 1);
        std::string name =
            detail::ascii_lower(std::string(tag.substr(0, tag.find_first_of(" \t\r\n/"))));
        if (name == "base") {
            auto attrs = attributes(tag);
            if (attrs.count("href")) {
                base = resolve_url(page_url, attrs["href"]);
            }
        } else if (name == "a") {
            auto attrs = attributes(tag);
            // The anchor's text runs to the next tag (its </a>). Up to "</a" instead, every
            // anchor of a page that never closes them took the rest of the page as its
            // name: quadratic time and memory (100 KB of "<a href=x>" took 25 s).
            std::size_t close = lowered.find('<', end);
            std::string text = html_unescape(std::string(body.substr(
                end + 1, (close == std::string::npos ? body.size() : close) - end - 1)));
            if (attrs.count("href")) {
                IndexFile file;
                std::string href = attrs["href"];
                file.url = resolve_url(base, href);
                std::string trimmed;
                for (char c : text) {
                    if (!std::isspace(static_cast<unsigned char>(c))) {
                        trimmed += c;
                    }
                }
                file.filename = trimmed.empty() ? filename_of_url(href) : trimmed;
                if (std::size_t frag = href.find("#sha256="); frag != std::string::npos) {
                    file.sha256 = Digest::try_parse("sha256:" +
                                                    detail::ascii_lower(href.substr(frag + 8, 64)));
                }
                file.requires_python = attrs["data-requires-python"];
                file.yanked = attrs.count("data-yanked") != 0;
                out.push_back(std::move(file));
            }
        }
        pos = end + 1;
    }
    return out;
}

std::vector<IndexFile> list_project_files(http::Client& client, std::string_view index_url,
                                          std::string_view project) {
    std::string base(index_url);
    while (base.ends_with('/')) {
        base.pop_back();
    }
    std::string url = base + "/" + normalize_name(project) + "/";
    http::Request request;
    request.url = url;
    request.headers = {
        {"Accept",
         std::string(json_type) + ", application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"}};
    request.accept = {200, 404};
    http::Response response = client.send(request);
    if (response.status == 404) {
        throw Error(ErrorKind::input, "the index " + http::redact_url(base) + " has no project '" +
                                          std::string(project) + "' (" + http::redact_url(url) +
                                          " answered 404)");
    }
    std::string type = detail::ascii_lower(response.header("content-type"));
    std::string page = response.url.empty() ? url : response.url;
    if (type.starts_with(json_type)) {
        return parse_simple_json(response.body, page);
    }
    return parse_simple_html(response.body, page);
}

} // namespace ocibake::python
