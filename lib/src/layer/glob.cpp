#include "layer/glob.hpp"

#include "common/strings.hpp"
#include "ocibake/error.hpp"

namespace ocibake::detail {

namespace {

// The non-empty components of `path`.
std::vector<std::string_view> path_parts(std::string_view path) {
    std::vector<std::string_view> out = split_views(path, '/');
    std::erase(out, std::string_view());
    return out;
}

// Matches one bracket expression at p[pi] == '['; advances pi past it.
bool match_class(std::string_view p, std::size_t& pi, unsigned char c) {
    std::size_t i = pi + 1;
    bool negate = i < p.size() && (p[i] == '!' || p[i] == '^');
    if (negate) {
        ++i;
    }
    bool found = false;
    bool first = true;
    while (i < p.size() && (p[i] != ']' || first)) {
        first = false;
        unsigned char lo = static_cast<unsigned char>(p[i]);
        if (lo == '\\' && i + 1 < p.size()) {
            lo = static_cast<unsigned char>(p[++i]);
        }
        unsigned char hi = lo;
        if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
            hi = static_cast<unsigned char>(p[i + 2]);
            i += 2;
        }
        if (c >= lo && c <= hi) {
            found = true;
        }
        ++i;
    }
    pi = i + 1; // past ']'
    return found != negate;
}

bool match_component(std::string_view p, std::string_view s) {
    std::size_t pi = 0, si = 0;
    std::size_t star_p = std::string_view::npos, star_s = 0;
    while (si < s.size()) {
        if (pi < p.size() && p[pi] == '*') {
            star_p = ++pi;
            star_s = si;
            continue;
        }
        if (pi < p.size()) {
            unsigned char c = static_cast<unsigned char>(s[si]);
            if (p[pi] == '?') {
                ++pi;
                ++si;
                continue;
            }
            if (p[pi] == '[') {
                std::size_t next = pi;
                if (match_class(p, next, c)) {
                    pi = next;
                    ++si;
                    continue;
                }
            } else {
                std::size_t lit = pi;
                if (p[lit] == '\\' && lit + 1 < p.size()) {
                    ++lit;
                }
                if (static_cast<unsigned char>(p[lit]) == c) {
                    pi = lit + 1;
                    ++si;
                    continue;
                }
            }
        }
        if (star_p == std::string_view::npos) {
            return false;
        }
        pi = star_p;
        si = ++star_s;
    }
    while (pi < p.size() && p[pi] == '*') {
        ++pi;
    }
    return pi == p.size();
}

bool match_parts(const std::vector<std::string>& pat, std::size_t pi,
                 const std::vector<std::string_view>& path, std::size_t si) {
    while (pi < pat.size()) {
        if (pat[pi] == "**") {
            for (std::size_t k = si; k <= path.size(); ++k) {
                if (match_parts(pat, pi + 1, path, k)) {
                    return true;
                }
            }
            return false;
        }
        if (si >= path.size() || !match_component(pat[pi], path[si])) {
            return false;
        }
        ++pi;
        ++si;
    }
    return si == path.size();
}

// Could the pattern still match a path that starts with `path` (a directory prefix)?
bool prefix_parts(const std::vector<std::string>& pat, std::size_t pi,
                  const std::vector<std::string_view>& path, std::size_t si) {
    while (si < path.size()) {
        if (pi >= pat.size()) {
            return false;
        }
        if (pat[pi] == "**") {
            return true;
        }
        if (!match_component(pat[pi], path[si])) {
            return false;
        }
        ++pi;
        ++si;
    }
    return pi < pat.size();
}

} // namespace

Glob::Glob(std::string_view pattern) : pattern_(pattern) {
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '\\') {
            if (i + 1 == pattern.size()) {
                throw Error(ErrorKind::usage, "glob '" + pattern_ + "' ends with a lone '\\'");
            }
            ++i;
        } else if (pattern[i] == '[') {
            std::size_t j = i + 1;
            if (j < pattern.size() && (pattern[j] == '!' || pattern[j] == '^')) {
                ++j;
            }
            if (j < pattern.size() && pattern[j] == ']') {
                ++j;
            }
            while (j < pattern.size() && pattern[j] != ']') {
                ++j;
            }
            if (j >= pattern.size()) {
                throw Error(ErrorKind::usage, "glob '" + pattern_ + "' has an unclosed '['");
            }
            i = j;
        }
    }
    for (auto part : path_parts(pattern)) {
        if (part != ".") {
            parts_.emplace_back(part);
        }
    }
}

bool Glob::matches(std::string_view path) const {
    return match_parts(parts_, 0, path_parts(path), 0);
}

bool Glob::could_match_below(std::string_view dir) const {
    return prefix_parts(parts_, 0, path_parts(dir), 0);
}

bool matches_any(const std::vector<Glob>& globs, std::string_view path) {
    for (const auto& g : globs) {
        if (g.matches(path)) {
            return true;
        }
    }
    return false;
}

} // namespace ocibake::detail
