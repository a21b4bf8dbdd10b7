#include "ocibake/registry.hpp"

#include <cctype>

namespace ocibake::registry {

namespace {

[[noreturn]] void bad(std::string_view text, const std::string& why) {
    throw Error(ErrorKind::usage, "invalid image reference '" + std::string(text) + "': " + why);
}

bool lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// A path component: [a-z0-9]+ ( ( '.' | '_' | '__' | '-'+ ) [a-z0-9]+ )*
bool valid_component(std::string_view c) {
    std::size_t i = 0;
    for (;;) {
        std::size_t run = i;
        while (i < c.size() && lower_alnum(c[i])) {
            ++i;
        }
        if (i == run) {
            return false; // a separator must be followed by letters or digits
        }
        if (i == c.size()) {
            return true;
        }
        if (c[i] == '.') {
            ++i;
        } else if (c[i] == '_') {
            i += (i + 1 < c.size() && c[i + 1] == '_') ? 2 : 1;
        } else if (c[i] == '-') {
            while (i < c.size() && c[i] == '-') {
                ++i;
            }
        } else {
            return false;
        }
    }
}

bool valid_tag(std::string_view t) {
    if (t.empty() || t.size() > 128) {
        return false;
    }
    auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    if (!word(t.front())) {
        return false;
    }
    for (char c : t) {
        if (!word(c) && c != '.' && c != '-') {
            return false;
        }
    }
    return true;
}

} // namespace

Reference Reference::parse(std::string_view text) {
    Reference ref;
    std::string_view rest = text;
    if (auto at = rest.find('@'); at != std::string_view::npos) {
        ref.digest = Digest::try_parse(rest.substr(at + 1));
        if (!ref.digest) {
            bad(text, "the part after '@' must be sha256:<64 lowercase hex>");
        }
        rest = rest.substr(0, at);
    }
    // The tag: after the last ':' that follows the last '/'.
    std::size_t slash = rest.rfind('/');
    std::size_t colon = rest.rfind(':');
    if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
        ref.tag = std::string(rest.substr(colon + 1));
        rest = rest.substr(0, colon);
        if (!valid_tag(ref.tag)) {
            bad(text, "tag '" + ref.tag + "' must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
        }
    }
    std::size_t first = rest.find('/');
    std::string_view head = rest.substr(0, first);
    bool has_registry = first != std::string_view::npos &&
                        (head.find('.') != std::string_view::npos ||
                         head.find(':') != std::string_view::npos || head == "localhost");
    if (has_registry) {
        ref.registry = std::string(head);
        ref.repository = std::string(rest.substr(first + 1));
    } else {
        ref.registry = "docker.io";
        ref.repository = std::string(rest);
    }
    if (ref.registry == "index.docker.io" || ref.registry == "registry-1.docker.io") {
        ref.registry = "docker.io";
    }
    if (ref.registry == "docker.io" && ref.repository.find('/') == std::string::npos) {
        ref.repository = "library/" + ref.repository;
    }
    if (ref.repository.empty()) {
        bad(text, "no repository");
    }
    std::size_t start = 0;
    while (start <= ref.repository.size()) {
        std::size_t end = ref.repository.find('/', start);
        if (end == std::string::npos) {
            end = ref.repository.size();
        }
        if (!valid_component(std::string_view(ref.repository).substr(start, end - start))) {
            bad(text, "repository '" + ref.repository +
                          "' must be lowercase letters and digits, separated by '.', '_', '__', "
                          "'-' or '/'");
        }
        start = end + 1;
    }
    return ref;
}

std::string Reference::str() const {
    std::string out = registry + "/" + repository;
    if (!tag.empty()) {
        out += ":" + tag;
    }
    if (digest) {
        out += "@" + digest.str();
    }
    return out;
}

std::string Reference::api_host() const {
    return registry == "docker.io" ? "registry-1.docker.io" : registry;
}

std::string Reference::manifest_ref() const {
    if (digest) {
        return digest.str();
    }
    return tag.empty() ? "latest" : tag;
}

} // namespace ocibake::registry
