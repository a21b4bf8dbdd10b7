// Names, PEP 440 versions, wheel file names and compatibility tags.
#include "ocibake/python.hpp"

#include "common/strings.hpp"
#include "common/text.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <tuple>

namespace ocibake::python {

namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

/// A parsed PEP 440 version, comparable.
struct Version {
    long long epoch = 0;
    std::vector<long long> release;
    // pre: (-1 none) 0 a, 1 b, 2 rc
    int pre_kind = -1;
    long long pre = 0;
    long long post = -1;
    long long dev = -1;
    std::string local;
};

long long number(std::string_view text, std::size_t& i) {
    long long v = 0;
    std::size_t start = i;
    while (i < text.size() && is_digit(text[i])) {
        v = v * 10 + (text[i] - '0');
        ++i;
        if (v > (1LL << 50)) {
            break;
        }
    }
    if (i == start) {
        return -1;
    }
    return v;
}

bool skip_sep(std::string_view t, std::size_t& i) {
    if (i < t.size() && (t[i] == '.' || t[i] == '-' || t[i] == '_')) {
        ++i;
        return true;
    }
    return false;
}

bool starts(std::string_view t, std::size_t i, std::string_view word) {
    return t.substr(i, word.size()) == word;
}

std::optional<Version> parse_version(std::string_view text) {
    std::string t = detail::ascii_lower(text);
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) {
        t.pop_back();
    }
    std::size_t i = 0;
    while (i < t.size() && std::isspace(static_cast<unsigned char>(t[i]))) {
        ++i;
    }
    if (i < t.size() && t[i] == 'v') {
        ++i;
    }
    Version v;
    std::size_t save = i;
    long long first = number(t, i);
    if (first < 0) {
        return std::nullopt;
    }
    if (i < t.size() && t[i] == '!') {
        v.epoch = first;
        ++i;
    } else {
        i = save;
    }
    for (;;) {
        long long part = number(t, i);
        if (part < 0) {
            return std::nullopt;
        }
        v.release.push_back(part);
        if (i + 1 < t.size() && t[i] == '.' && is_digit(t[i + 1])) {
            ++i;
            continue;
        }
        break;
    }
    // pre-release
    {
        std::size_t j = i;
        skip_sep(t, j);
        static const std::pair<std::string_view, int> pres[] = {
            {"alpha", 0}, {"beta", 1}, {"preview", 2}, {"pre", 2},
            {"rc", 2},    {"a", 0},    {"b", 1},       {"c", 2}};
        for (const auto& [word, kind] : pres) {
            if (starts(t, j, word)) {
                j += word.size();
                skip_sep(t, j);
                long long n = number(t, j);
                v.pre_kind = kind;
                v.pre = n < 0 ? 0 : n;
                i = j;
                break;
            }
        }
    }
    // post-release
    {
        std::size_t j = i;
        if (j < t.size() && t[j] == '-' && j + 1 < t.size() && is_digit(t[j + 1])) {
            ++j;
            v.post = number(t, j);
            i = j;
        } else {
            skip_sep(t, j);
            for (std::string_view word : {"post", "rev", "r"}) {
                if (starts(t, j, word)) {
                    j += word.size();
                    skip_sep(t, j);
                    long long n = number(t, j);
                    v.post = n < 0 ? 0 : n;
                    i = j;
                    break;
                }
            }
        }
    }
    // dev-release
    {
        std::size_t j = i;
        skip_sep(t, j);
        if (starts(t, j, "dev")) {
            j += 3;
            skip_sep(t, j);
            long long n = number(t, j);
            v.dev = n < 0 ? 0 : n;
            i = j;
        }
    }
    if (i < t.size() && t[i] == '+') {
        v.local = t.substr(i + 1);
        if (v.local.empty()) {
            return std::nullopt;
        }
        for (char c : v.local) {
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
                  c == '_')) {
                return std::nullopt;
            }
        }
        i = t.size();
    }
    if (i != t.size()) {
        return std::nullopt;
    }
    return v;
}

Version must_parse(std::string_view text) {
    auto v = parse_version(text);
    if (!v) {
        throw Error(ErrorKind::input, "'" + std::string(text) + "' is not a PEP 440 version");
    }
    return *v;
}

int compare_local(const std::string& a, const std::string& b) {
    auto pa = detail::split(a, '.');
    auto pb = detail::split(b, '.');
    for (std::size_t i = 0; i < std::min(pa.size(), pb.size()); ++i) {
        bool na = !pa[i].empty() && std::all_of(pa[i].begin(), pa[i].end(), is_digit);
        bool nb = !pb[i].empty() && std::all_of(pb[i].begin(), pb[i].end(), is_digit);
        if (na && nb) {
            // Compared as numbers of any length, without converting them (std::stoll
            // threw out_of_range past 19 digits): leading zeros off, then length, digits.
            std::string_view x = pa[i], y = pb[i];
            x.remove_prefix(std::min(x.find_first_not_of('0'), x.size()));
            y.remove_prefix(std::min(y.find_first_not_of('0'), y.size()));
            if (x.size() != y.size()) {
                return x.size() < y.size() ? -1 : 1;
            }
            if (x != y) {
                return x < y ? -1 : 1;
            }
        } else if (na != nb) {
            return na ? 1 : -1; // numeric segments sort after alphanumeric ones
        } else if (pa[i] != pb[i]) {
            return pa[i] < pb[i] ? -1 : 1;
        }
    }
    return pa.size() == pb.size() ? 0 : (pa.size() < pb.size() ? -1 : 1);
}

int compare(const Version& a, const Version& b, bool with_local) {
    if (a.epoch != b.epoch) {
        return a.epoch < b.epoch ? -1 : 1;
    }
    std::size_t n = std::max(a.release.size(), b.release.size());
    for (std::size_t i = 0; i < n; ++i) {
        long long x = i < a.release.size() ? a.release[i] : 0;
        long long y = i < b.release.size() ? b.release[i] : 0;
        if (x != y) {
            return x < y ? -1 : 1;
        }
    }
    // Order within one release: dev-only < pre < final < post. A key per PEP 440 / packaging.
    auto key = [](const Version& v) {
        // (pre_kind_or_sentinel, pre, post, dev)
        long long pk = v.pre_kind >= 0 ? v.pre_kind : 3; // final sorts after pre-releases
        if (v.pre_kind < 0 && v.post < 0 && v.dev >= 0) {
            pk = -1; // 1.0.dev1 < 1.0a1
        }
        long long post = v.post;
        long long dev = v.dev >= 0 ? v.dev : (1LL << 60);
        return std::make_tuple(pk, v.pre, post, dev);
    };
    auto ka = key(a);
    auto kb = key(b);
    if (ka != kb) {
        return ka < kb ? -1 : 1;
    }
    if (!with_local) {
        return 0;
    }
    if (a.local.empty() || b.local.empty()) {
        return a.local.empty() == b.local.empty() ? 0 : (a.local.empty() ? -1 : 1);
    }
    return compare_local(a.local, b.local);
}

bool valid_tag_part(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
    });
}

} // namespace

std::string normalize_name(std::string_view name) {
    std::string out;
    bool in_run = false;
    for (char c : name) {
        if (c == '-' || c == '_' || c == '.') {
            if (!in_run) {
                out += '-';
            }
            in_run = true;
        } else {
            out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            in_run = false;
        }
    }
    return out;
}

int compare_versions(std::string_view a, std::string_view b) {
    return compare(must_parse(a), must_parse(b), true);
}

bool version_matches(std::string_view wanted, std::string_view candidate) {
    auto w = parse_version(wanted);
    auto c = parse_version(candidate);
    if (!w || !c) {
        return detail::ascii_lower(wanted) == detail::ascii_lower(candidate);
    }
    return compare(*w, *c, !w->local.empty()) == 0;
}

WheelFilename WheelFilename::parse(std::string_view filename) {
    auto bad = [&](const std::string& why) {
        return Error(ErrorKind::input, "'" + detail::printable(filename) +
                                           "' is not a wheel file name (" + why + ")");
    };
    if (!filename.ends_with(".whl")) {
        throw bad("it does not end in .whl");
    }
    auto parts = detail::split(filename.substr(0, filename.size() - 4), '-');
    if (parts.size() != 5 && parts.size() != 6) {
        throw bad("it needs name-version[-build]-python-abi-platform");
    }
    WheelFilename w;
    w.filename = std::string(filename);
    w.distribution = parts[0];
    w.version = parts[1];
    if (parts.size() == 6) {
        w.build = parts[2];
        if (w.build.empty() || !is_digit(w.build[0])) {
            throw bad("the build tag must start with a digit");
        }
    }
    std::size_t t = parts.size() - 3;
    if (w.distribution.empty() || w.version.empty()) {
        throw bad("empty name or version");
    }
    // The binary distribution format escapes both: runs of other characters become '_'.
    auto only = [](std::string_view text, std::string_view extra) {
        return std::all_of(text.begin(), text.end(), [&](char c) {
            auto u = static_cast<unsigned char>(c);
            return (u < 0x80 && std::isalnum(u) != 0) || extra.find(c) != std::string_view::npos;
        });
    };
    if (!only(w.distribution, "_.")) {
        throw bad("the name may hold only ASCII letters, digits, '_' and '.'");
    }
    if (!only(w.version, "_.!+")) {
        throw bad("the version may hold only ASCII letters, digits, '_', '.', '!' and '+'");
    }
    for (std::size_t i = t; i < parts.size(); ++i) {
        if (!valid_tag_part(parts[i])) {
            throw bad("bad tag '" + parts[i] + "'");
        }
    }
    w.python_tags = detail::split(parts[t], '.');
    w.abi_tags = detail::split(parts[t + 1], '.');
    w.platform_tags = detail::split(parts[t + 2], '.');
    return w;
}

std::vector<std::string> WheelFilename::tags() const {
    std::vector<std::string> out;
    for (const auto& p : python_tags) {
        for (const auto& a : abi_tags) {
            for (const auto& pl : platform_tags) {
                out.push_back(p + "-" + a + "-" + pl);
            }
        }
    }
    return out;
}

std::string Target::python_version() const {
    return std::to_string(python_major) + "." + std::to_string(python_minor);
}

std::string Target::str() const {
    std::string out = "CPython " + python_version();
    out += glibc ? ", glibc " + std::to_string(glibc->major) + "." + std::to_string(glibc->minor)
                 : ", no glibc";
    return out + ", " + machine;
}

std::string machine_for(std::string_view arch) {
    if (arch == "amd64") {
        return "x86_64";
    }
    if (arch == "arm64") {
        return "aarch64";
    }
    if (arch == "386") {
        return "i686";
    }
    if (arch == "ppc64le" || arch == "s390x" || arch == "riscv64") {
        return std::string(arch);
    }
    return std::string(arch);
}

std::vector<std::string> Target::supported_tags() const {
    // Platforms, best first: manylinux_2_G ... manylinux_2_5 (with the legacy aliases right
    // after the version they stand for), then linux_<machine>.
    std::vector<std::string> platforms;
    if (glibc && glibc->major == 2) {
        for (int minor = glibc->minor; minor >= 0; --minor) {
            if (minor < 17 && machine != "x86_64" && machine != "i686") {
                break; // manylinux for other architectures starts at 2.17
            }
            if (minor < 5) {
                break;
            }
            platforms.push_back("manylinux_2_" + std::to_string(minor) + "_" + machine);
            if (minor == 17) {
                platforms.push_back("manylinux2014_" + machine);
            } else if (minor == 12 && (machine == "x86_64" || machine == "i686")) {
                platforms.push_back("manylinux2010_" + machine);
            } else if (minor == 5 && (machine == "x86_64" || machine == "i686")) {
                platforms.push_back("manylinux1_" + machine);
            }
        }
    }
    platforms.push_back("linux_" + machine);

    std::string cp = "cp" + std::to_string(python_major) + std::to_string(python_minor);
    std::vector<std::string> out;
    for (const auto& p : platforms) {
        out.push_back(cp + "-" + cp + "-" + p);
    }
    for (const auto& p : platforms) {
        out.push_back(cp + "-abi3-" + p);
    }
    for (const auto& p : platforms) {
        out.push_back(cp + "-none-" + p);
    }
    for (int minor = python_minor - 1; minor >= 2; --minor) {
        for (const auto& p : platforms) {
            out.push_back("cp" + std::to_string(python_major) + std::to_string(minor) + "-abi3-" +
                          p);
        }
    }
    auto py = [&](int minor) {
        return "py" + std::to_string(python_major) + (minor >= 0 ? std::to_string(minor) : "");
    };
    std::vector<std::string> pys{py(python_minor), py(-1)};
    for (int minor = python_minor - 1; minor >= 0; --minor) {
        pys.push_back(py(minor));
    }
    for (const auto& v : pys) {
        for (const auto& p : platforms) {
            out.push_back(v + "-none-" + p);
        }
    }
    out.push_back(cp + "-none-any");
    for (const auto& v : pys) {
        out.push_back(v + "-none-any");
    }
    return out;
}

std::optional<std::size_t> tag_rank(const WheelFilename& wheel,
                                    const std::vector<std::string>& supported) {
    std::optional<std::size_t> best;
    for (const auto& tag : wheel.tags()) {
        auto it = std::find(supported.begin(), supported.end(), tag);
        if (it != supported.end()) {
            std::size_t rank = static_cast<std::size_t>(it - supported.begin());
            if (!best || rank < *best) {
                best = rank;
            }
        }
    }
    return best;
}

void check_compatible(const WheelFilename& wheel, const Target& target) {
    if (tag_rank(wheel, target.supported_tags())) {
        return;
    }
    std::string tags;
    for (const auto& t : wheel.tags()) {
        tags += (tags.empty() ? "" : ", ") + t;
    }
    throw Error(ErrorKind::input, "wheel " + wheel.filename + " does not fit " + target.str() +
                                      " (its tags: " + tags + ")");
}

} // namespace ocibake::python
