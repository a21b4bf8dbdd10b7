// Debian versions (deb-version(7)) and relationship fields (deb-control(5)).
//
// The comparison is dpkg's own algorithm (lib/dpkg/version.c: dpkg_version_compare and
// verrevcmp), written again here and tested against `dpkg --compare-versions`.
#include "apt/internal.hpp"
#include "common/names.hpp"
#include "ocibake/apt.hpp"

#include <cctype>

namespace ocibake::apt {

using detail::trim;

namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

struct Parts {
    std::uint64_t epoch = 0;
    std::string_view upstream;
    std::string_view revision;
};

// As dpkg's parseversion(): leading and trailing spaces dropped, the epoch before the
// first ':', the revision after the last '-'.
Parts split(std::string_view v) {
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) {
        v.remove_prefix(1);
    }
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) {
        v.remove_suffix(1);
    }
    Parts p;
    std::size_t colon = v.find(':');
    if (colon != std::string_view::npos) {
        for (char c : v.substr(0, colon)) {
            if (!is_digit(c)) {
                break;
            }
            p.epoch = p.epoch * 10 + static_cast<std::uint64_t>(c - '0');
            if (p.epoch > 0x7fffffff) {
                p.epoch = 0x7fffffff;
            }
        }
        v.remove_prefix(colon + 1);
    }
    std::size_t dash = v.rfind('-');
    if (dash != std::string_view::npos) {
        p.revision = v.substr(dash + 1);
        v = v.substr(0, dash);
    }
    p.upstream = v;
    return p;
}

// dpkg's order(): '~' sorts before everything, even the end; then the end and digits;
// then letters; then every other character.
int order(int c) {
    if (is_digit(static_cast<char>(c))) {
        return 0;
    }
    if (is_alpha(static_cast<char>(c))) {
        return c;
    }
    if (c == '~') {
        return -1;
    }
    if (c != 0) {
        return c + 256;
    }
    return 0;
}

int verrevcmp(std::string_view a, std::string_view b) {
    std::size_t i = 0, j = 0;
    auto at = [](std::string_view s, std::size_t k) -> int {
        return k < s.size() ? static_cast<unsigned char>(s[k]) : 0;
    };
    while (i < a.size() || j < b.size()) {
        int first_diff = 0;
        while ((i < a.size() && !is_digit(a[i])) || (j < b.size() && !is_digit(b[j]))) {
            int ac = order(at(a, i));
            int bc = order(at(b, j));
            if (ac != bc) {
                return ac - bc;
            }
            ++i;
            ++j;
        }
        while (i < a.size() && a[i] == '0') {
            ++i;
        }
        while (j < b.size() && b[j] == '0') {
            ++j;
        }
        while (i < a.size() && j < b.size() && is_digit(a[i]) && is_digit(b[j])) {
            if (first_diff == 0) {
                first_diff = a[i] - b[j];
            }
            ++i;
            ++j;
        }
        if (i < a.size() && is_digit(a[i])) {
            return 1;
        }
        if (j < b.size() && is_digit(b[j])) {
            return -1;
        }
        if (first_diff != 0) {
            return first_diff;
        }
    }
    return 0;
}

bool name_char(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' ||
           c == '-' || c == '.' || c == '_';
}

} // namespace

int compare_versions(std::string_view a, std::string_view b) {
    Parts x = split(a);
    Parts y = split(b);
    if (x.epoch != y.epoch) {
        return x.epoch > y.epoch ? 1 : -1;
    }
    if (int r = verrevcmp(x.upstream, y.upstream); r != 0) {
        return r;
    }
    return verrevcmp(x.revision, y.revision);
}

std::string version_problem(std::string_view version) {
    if (version.empty()) {
        return "the version is empty";
    }
    if (version.find_first_of(" \t\n") != std::string_view::npos) {
        return "a version has no spaces";
    }
    std::size_t colon = version.find(':');
    if (colon != std::string_view::npos) {
        std::string_view epoch = version.substr(0, colon);
        if (epoch.empty()) {
            return "the epoch (before ':') is empty";
        }
        for (char c : epoch) {
            if (!is_digit(c)) {
                return "the epoch (before ':') is not a number";
            }
        }
        version.remove_prefix(colon + 1);
    }
    std::size_t dash = version.rfind('-');
    std::string_view upstream = dash == std::string_view::npos ? version : version.substr(0, dash);
    std::string_view revision =
        dash == std::string_view::npos ? std::string_view() : version.substr(dash + 1);
    if (upstream.empty()) {
        return "nothing before the revision";
    }
    if (dash != std::string_view::npos && revision.empty()) {
        return "the revision (after the last '-') is empty";
    }
    if (!is_digit(upstream.front())) {
        return "the version must start with a digit";
    }
    for (char c : upstream) {
        if (!is_digit(c) && !is_alpha(c) && c != '.' && c != '+' && c != '-' && c != '~' &&
            c != ':') {
            return std::string("the character '") + c + "' is not allowed in a version";
        }
    }
    for (char c : revision) {
        if (!is_digit(c) && !is_alpha(c) && c != '.' && c != '+' && c != '~') {
            return std::string("the character '") + c + "' is not allowed in a revision";
        }
    }
    return {};
}

constexpr ocibake::detail::Named<Op> op_names[] = {
    {Op::any, ""}, {Op::lt, "<<"}, {Op::le, "<="}, {Op::eq, "="}, {Op::ge, ">="}, {Op::gt, ">>"},
};

const char* to_string(Op op) noexcept {
    return ocibake::detail::name_of(op_names, op, "");
}

bool satisfies(std::string_view version, Op op, std::string_view wanted) {
    if (op == Op::any) {
        return true;
    }
    int c = compare_versions(version, wanted);
    switch (op) {
    case Op::lt:
        return c < 0;
    case Op::le:
        return c <= 0;
    case Op::eq:
        return c == 0;
    case Op::ge:
        return c >= 0;
    case Op::gt:
        return c > 0;
    case Op::any:
        break;
    }
    return true;
}

std::string Relation::str() const {
    std::string out = name;
    if (!arch.empty()) {
        out += ":" + arch;
    }
    if (op != Op::any) {
        out += " (" + std::string(to_string(op)) + " " + version + ")";
    }
    return out;
}

std::vector<Dependency> parse_relations(std::string_view text, std::string_view origin) {
    auto bad = [&](std::string_view item, const std::string& why) {
        return Error(ErrorKind::integrity, std::string(origin) + ": malformed relation '" +
                                               std::string(trim(item)) + "': " + why);
    };
    std::vector<Dependency> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t comma = text.find(',', start);
        std::string_view group = text.substr(
            start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
        start = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
        if (trim(group).empty()) {
            continue; // a trailing comma, or an empty field
        }
        Dependency dep;
        std::size_t alt_start = 0;
        while (alt_start <= group.size()) {
            std::size_t bar = group.find('|', alt_start);
            std::string_view item =
                group.substr(alt_start, bar == std::string_view::npos ? std::string_view::npos
                                                                      : bar - alt_start);
            alt_start = bar == std::string_view::npos ? group.size() + 1 : bar + 1;
            std::string_view s = trim(item);
            Relation r;
            std::size_t k = 0;
            while (k < s.size() && name_char(s[k])) {
                ++k;
            }
            if (k == 0) {
                throw bad(item, "no package name");
            }
            r.name = std::string(s.substr(0, k));
            std::string_view rest = s.substr(k);
            if (!rest.empty() && rest.front() == ':') {
                std::size_t a = 1;
                while (a < rest.size() && (name_char(rest[a]))) {
                    ++a;
                }
                r.arch = std::string(rest.substr(1, a - 1));
                if (r.arch.empty()) {
                    throw bad(item, "no architecture after ':'");
                }
                rest = rest.substr(a);
            }
            rest = trim(rest);
            if (!rest.empty() && rest.front() == '(') {
                std::size_t close = rest.find(')');
                if (close == std::string_view::npos) {
                    throw bad(item, "no ')'");
                }
                std::string_view inner = trim(rest.substr(1, close - 1));
                rest = trim(rest.substr(close + 1));
                std::size_t o = 0;
                while (o < inner.size() &&
                       (inner[o] == '<' || inner[o] == '>' || inner[o] == '=')) {
                    ++o;
                }
                std::string_view op = inner.substr(0, o);
                if (op == "<<") {
                    r.op = Op::lt;
                } else if (op == "<=" || op == "<") { // "<" is the obsolete spelling of "<="
                    r.op = Op::le;
                } else if (op == "=") {
                    r.op = Op::eq;
                } else if (op == ">=" || op == ">") { // likewise for ">="
                    r.op = Op::ge;
                } else if (op == ">>") {
                    r.op = Op::gt;
                } else {
                    throw bad(item, "unknown operator '" + std::string(op) + "'");
                }
                r.version = std::string(trim(inner.substr(o)));
                if (r.version.empty()) {
                    throw bad(item, "no version after the operator");
                }
            }
            // Architecture restrictions and build profiles ("[amd64]", "<!nocheck>") appear in
            // source packages only; a binary index never has them.
            if (!rest.empty()) {
                throw bad(item, "unexpected '" + std::string(rest) + "'");
            }
            dep.push_back(std::move(r));
        }
        out.push_back(std::move(dep));
    }
    return out;
}

} // namespace ocibake::apt
