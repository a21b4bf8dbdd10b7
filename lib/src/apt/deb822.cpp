// deb822 text (deb822(5)): control files, Release files, Packages indexes, dpkg status.
#include "apt/internal.hpp"
#include "common/number.hpp"
#include "ocibake/apt.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>

namespace ocibake::apt {

using detail::trim;

namespace detail {

std::vector<std::string> words(std::string_view text) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n')) {
            ++i;
        }
        std::size_t start = i;
        while (i < text.size() && text[i] != ' ' && text[i] != '\t' && text[i] != '\n') {
            ++i;
        }
        if (i > start) {
            out.emplace_back(text.substr(start, i - start));
        }
    }
    return out;
}

void for_each_paragraph(std::string_view text, std::string_view origin,
                        const std::function<void(const RawParagraph&)>& fn) {
    RawParagraph p;
    std::uint32_t line_no = 0;
    std::size_t pos = 0;
    auto flush = [&] {
        if (!p.fields.empty()) {
            fn(p);
        }
        p.fields.clear();
        p.line = 0;
    };
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        std::string_view line = text.substr(pos, end - pos);
        std::size_t line_start = pos;
        pos = end + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (trim(line).empty()) {
            flush();
            continue;
        }
        if (line.front() == '#') {
            continue;
        }
        if (line.front() == ' ' || line.front() == '\t') {
            if (p.fields.empty()) {
                throw Error(ErrorKind::integrity, std::string(origin) + ":" +
                                                      std::to_string(line_no) +
                                                      ": a continuation line outside a field");
            }
            // The value grows to include this line (views into `text` stay contiguous). A
            // value whose first line is empty starts with the newline ("\n /etc/x ...").
            std::string_view& value = p.fields.back().second;
            const char* begin = value.empty() ? text.data() + line_start - 1 : value.data();
            value = std::string_view(
                begin, static_cast<std::size_t>(text.data() + line_start + line.size() - begin));
            continue;
        }
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            throw Error(ErrorKind::integrity, std::string(origin) + ":" + std::to_string(line_no) +
                                                  ": not a 'Field: value' line: '" +
                                                  std::string(line.substr(0, 80)) + "'");
        }
        if (p.fields.empty()) {
            p.line = line_no;
        }
        std::string_view name = line.substr(0, colon);
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
            value.remove_prefix(1);
        }
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
            value.remove_suffix(1);
        }
        p.fields.emplace_back(name, value);
    }
    flush();
}

std::string_view RawParagraph::get(std::string_view name) const {
    for (const auto& [k, v] : fields) {
        if (ocibake::detail::ascii_iequals(k, name)) {
            return v;
        }
    }
    return {};
}

bool RawParagraph::has(std::string_view name) const {
    return std::any_of(fields.begin(), fields.end(), [&](const auto& f) {
        return ocibake::detail::ascii_iequals(f.first, name);
    });
}

} // namespace detail

std::optional<std::string_view> Paragraph::find(std::string_view name) const {
    for (const auto& [k, v] : fields) {
        if (ocibake::detail::ascii_iequals(k, name)) {
            return std::string_view(v);
        }
    }
    return std::nullopt;
}

std::string_view Paragraph::get(std::string_view name) const {
    return find(name).value_or(std::string_view());
}

std::vector<Paragraph> parse_paragraphs(std::string_view text, std::string_view origin) {
    std::vector<Paragraph> out;
    detail::for_each_paragraph(text, origin, [&](const detail::RawParagraph& raw) {
        Paragraph p;
        p.line = raw.line;
        for (const auto& [k, v] : raw.fields) {
            p.fields.emplace_back(std::string(k), std::string(v));
        }
        out.push_back(std::move(p));
    });
    return out;
}

std::optional<std::int64_t> parse_date(std::string_view text) {
    // "Sat, 10 Jun 2023 08:50:22 UTC" | "... +0000" | "... GMT"; the weekday is optional.
    std::string s(trim(text));
    std::size_t comma = s.find(',');
    if (comma != std::string::npos) {
        s = s.substr(comma + 1);
    }
    std::tm tm{};
    char month[4] = {};
    char zone[16] = {};
    int day = 0, year = 0, hour = 0, minute = 0, second = 0;
    int n = std::sscanf(s.c_str(), " %d %3s %d %d:%d:%d %15s", &day, month, &year, &hour, &minute,
                        &second, zone);
    if (n < 6) {
        return std::nullopt;
    }
    static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int mon = -1;
    for (int i = 0; i < 12; ++i) {
        if (std::strcmp(months[i], month) == 0) {
            mon = i;
        }
    }
    if (mon < 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
        return std::nullopt;
    }
    tm.tm_year = year - 1900;
    tm.tm_mon = mon;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    std::int64_t t = static_cast<std::int64_t>(::timegm(&tm));
    std::string z = n == 7 ? zone : "UTC";
    if ((z.size() == 5) && (z[0] == '+' || z[0] == '-')) {
        int hh = (z[1] - '0') * 10 + (z[2] - '0');
        int mm = (z[3] - '0') * 10 + (z[4] - '0');
        std::int64_t offset = hh * 3600 + mm * 60;
        t -= z[0] == '+' ? offset : -offset;
    } else if (z != "UTC" && z != "GMT" && z != "Z") {
        return std::nullopt;
    }
    return t;
}

bool security_suite(std::string_view suite, const Release& release) {
    auto lower = [](std::string_view s) {
        std::string out(s);
        for (char& c : out) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        return out;
    };
    for (std::string_view name :
         {suite, std::string_view(release.suite), std::string_view(release.codename)}) {
        std::string n = lower(trim(name));
        if (n.ends_with("-security") || n.ends_with("/updates")) {
            return true;
        }
    }
    return lower(release.label).find("security") != std::string::npos;
}

Release parse_release(std::string_view text, std::string_view origin) {
    Release r;
    bool found = false;
    detail::for_each_paragraph(text, origin, [&](const detail::RawParagraph& p) {
        if (found) {
            return;
        }
        found = true;
        r.suite = std::string(p.get("Suite"));
        r.codename = std::string(p.get("Codename"));
        r.label = std::string(trim(p.get("Label")));
        if (p.has("Date")) {
            r.date = parse_date(p.get("Date"));
        }
        if (p.has("Valid-Until")) {
            r.valid_until = parse_date(p.get("Valid-Until"));
            if (!r.valid_until) {
                throw Error(ErrorKind::integrity, std::string(origin) + ": Valid-Until '" +
                                                      std::string(p.get("Valid-Until")) +
                                                      "' is not a date");
            }
        }
        r.by_hash = ocibake::detail::ascii_iequals(trim(p.get("Acquire-By-Hash")), "yes");
        r.all_in_arch_indexes = ocibake::detail::ascii_iequals(
            trim(p.get("No-Support-for-Architecture-all")), "Packages");
        r.architectures = detail::words(p.get("Architectures"));
        r.components = detail::words(p.get("Components"));
        std::string_view list = p.get("SHA256");
        std::size_t pos = 0;
        while (pos < list.size()) {
            std::size_t end = list.find('\n', pos);
            std::string_view line = list.substr(
                pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
            pos = end == std::string_view::npos ? list.size() : end + 1;
            std::vector<std::string> w = detail::words(line);
            if (w.empty()) {
                continue;
            }
            if (w.size() != 3) {
                throw Error(ErrorKind::integrity, std::string(origin) +
                                                      ": malformed SHA256 line '" +
                                                      std::string(trim(line)) + "'");
            }
            Release::File f;
            f.sha256 = Digest::try_parse("sha256:" + w[0]);
            std::optional<std::uint64_t> size = ocibake::detail::parse_decimal<std::uint64_t>(w[1]);
            if (!f.sha256 || !size) {
                throw Error(ErrorKind::integrity, std::string(origin) +
                                                      ": malformed SHA256 line '" +
                                                      std::string(trim(line)) + "'");
            }
            f.size = *size;
            f.path = w[2];
            r.files.push_back(std::move(f));
        }
    });
    if (!found) {
        throw Error(ErrorKind::integrity, std::string(origin) + ": the Release file is empty");
    }
    return r;
}

bool has_component(const Release& release, std::string_view component) {
    if (release.components.empty()) {
        return true;
    }
    return std::any_of(
        release.components.begin(), release.components.end(), [&](const std::string& c) {
            return c == component || (c.size() > component.size() && c.ends_with(component) &&
                                      c[c.size() - component.size() - 1] == '/');
        });
}

std::string dpkg_architecture(std::string_view arch, std::string_view variant) {
    if (arch == "arm") {
        return variant == "v5" ? "armel" : "armhf";
    }
    if (arch == "386") {
        return "i386";
    }
    if (arch == "ppc64le") {
        return "ppc64el";
    }
    if (arch == "mips64le") {
        return "mips64el";
    }
    return std::string(arch); // amd64, arm64, s390x, riscv64, ...
}

std::vector<InstalledPackage> parse_status(std::string_view text, std::string_view origin) {
    std::vector<InstalledPackage> out;
    detail::for_each_paragraph(text, origin, [&](const detail::RawParagraph& p) {
        // "Status: want flag status": only a package whose status is "installed" counts
        // (half-installed, config-files and not-installed ones do not satisfy anything).
        std::vector<std::string> status = detail::words(p.get("Status"));
        if (status.size() != 3 || status[2] != "installed") {
            return;
        }
        InstalledPackage pkg;
        pkg.name = std::string(trim(p.get("Package")));
        pkg.version = std::string(trim(p.get("Version")));
        pkg.arch = std::string(trim(p.get("Architecture")));
        pkg.multi_arch = std::string(trim(p.get("Multi-Arch")));
        std::string where = std::string(origin) + ":" + std::to_string(p.line);
        for (auto& dep : parse_relations(p.get("Provides"), where)) {
            for (auto& r : dep) {
                pkg.provides.push_back(std::move(r));
            }
        }
        out.push_back(std::move(pkg));
    });
    return out;
}

std::string PackageRequest::str() const {
    std::string out = name;
    if (!arch.empty()) {
        out += ":" + arch;
    }
    if (!version.empty()) {
        out += "=" + version;
    }
    return out;
}

std::optional<PackageRequest> parse_request(std::string_view text, std::string* why) {
    auto fail = [&](std::string reason) -> std::optional<PackageRequest> {
        if (why) {
            *why = std::move(reason);
        }
        return std::nullopt;
    };
    PackageRequest r;
    std::size_t eq = text.find('=');
    std::string_view head = text.substr(0, eq);
    if (eq != std::string_view::npos) {
        r.version = std::string(text.substr(eq + 1));
        std::string problem = version_problem(r.version);
        if (!problem.empty()) {
            return fail("version '" + r.version + "': " + problem);
        }
    }
    std::size_t colon = head.find(':');
    r.name = std::string(head.substr(0, colon));
    if (colon != std::string_view::npos) {
        r.arch = std::string(head.substr(colon + 1));
        if (r.arch.empty() || r.arch.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") !=
                                  std::string::npos) {
            return fail("'" + r.arch + "' is not an architecture");
        }
    }
    // Package names: lowercase letters, digits, '+', '-', '.'; at least two characters,
    // starting with a letter or digit (Debian Policy 5.6.1).
    if (r.name.size() < 2) {
        return fail("a package name has at least two characters");
    }
    auto ok = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
    };
    if (!std::all_of(r.name.begin(), r.name.end(), ok) ||
        !((r.name[0] >= 'a' && r.name[0] <= 'z') || (r.name[0] >= '0' && r.name[0] <= '9'))) {
        return fail("'" + r.name +
                    "' is not a package name (lowercase letters, digits, '+', '-', '.')");
    }
    return r;
}

} // namespace ocibake::apt
