// The values of `docker run`'s flags that ocibake takes as Docker does: `--ulimit`,
// `--shm-size` and `--hostname`.
#include "ocibake/error.hpp"
#include "ocibake/runtime.hpp"

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <utility>

namespace ocibake {

namespace {

/// Docker's names (github.com/docker/go-units, ulimit.go) and the rlimits they set.
constexpr std::array<std::pair<std::string_view, std::string_view>, 15> kUlimits = {{
    {"core", "RLIMIT_CORE"},
    {"cpu", "RLIMIT_CPU"},
    {"data", "RLIMIT_DATA"},
    {"fsize", "RLIMIT_FSIZE"},
    {"locks", "RLIMIT_LOCKS"},
    {"memlock", "RLIMIT_MEMLOCK"},
    {"msgqueue", "RLIMIT_MSGQUEUE"},
    {"nice", "RLIMIT_NICE"},
    {"nofile", "RLIMIT_NOFILE"},
    {"nproc", "RLIMIT_NPROC"},
    {"rss", "RLIMIT_RSS"},
    {"rtprio", "RLIMIT_RTPRIO"},
    {"rttime", "RLIMIT_RTTIME"},
    {"sigpending", "RLIMIT_SIGPENDING"},
    {"stack", "RLIMIT_STACK"},
}};

std::uint64_t ulimit_value(std::string_view value, std::string_view text) {
    if (value == "-1") {
        return Rlimit::unlimited;
    }
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (value.empty() || ec != std::errc() || end != value.data() + value.size()) {
        throw Error(ErrorKind::usage, "--ulimit '" + std::string(text) + "': '" +
                                          std::string(value) +
                                          "' is not a number (or -1 for unlimited)");
    }
    return v;
}

std::string limit_text(std::uint64_t v) {
    return v == Rlimit::unlimited ? "unlimited" : std::to_string(v);
}

} // namespace

Rlimit Rlimit::parse(std::string_view text) {
    std::size_t eq = text.find('=');
    if (eq == std::string_view::npos) {
        throw Error(ErrorKind::usage, "--ulimit '" + std::string(text) +
                                          "' must be NAME=SOFT[:HARD] (e.g. nofile=1024:65536)");
    }
    std::string_view name = text.substr(0, eq);
    Rlimit r;
    for (const auto& [docker, rlimit] : kUlimits) {
        if (docker == name) {
            r.type = rlimit;
        }
    }
    if (r.type.empty()) {
        std::string names;
        for (const auto& [docker, rlimit] : kUlimits) {
            names += (names.empty() ? "" : ", ") + std::string(docker);
        }
        throw Error(ErrorKind::usage, "--ulimit '" + std::string(text) + "': unknown limit '" +
                                          std::string(name) + "' (one of " + names + ")");
    }
    std::string_view values = text.substr(eq + 1);
    std::size_t colon = values.find(':');
    r.soft = ulimit_value(values.substr(0, colon), text);
    r.hard =
        colon == std::string_view::npos ? r.soft : ulimit_value(values.substr(colon + 1), text);
    if (r.soft > r.hard) {
        throw Error(ErrorKind::usage, "--ulimit '" + std::string(text) +
                                          "': the soft limit must not be above the hard limit (" +
                                          limit_text(r.soft) + " > " + limit_text(r.hard) + ")");
    }
    return r;
}

std::uint64_t parse_size(std::string_view text, std::string_view flag) {
    auto bad = [&] {
        return Error(ErrorKind::usage,
                     std::string(flag) + " '" + std::string(text) +
                         "' is not a size (a number and a unit: b, k, m, g, t, p; e.g. 8g)");
    };
    std::size_t i = 0;
    while (i < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
        ++i;
    }
    std::string_view number = text.substr(0, i);
    if (number.empty() || number.front() == '.' || number.back() == '.' ||
        number.find("..") != std::string_view::npos || number.find('.') != number.rfind('.')) {
        throw bad();
    }
    std::string_view unit = text.substr(i);
    if (unit.starts_with(' ')) {
        unit.remove_prefix(1);
    }
    double scale = 1;
    static constexpr std::string_view kUnits = "kmgtp";
    if (!unit.empty()) {
        std::size_t at =
            kUnits.find(static_cast<char>(std::tolower(static_cast<unsigned char>(unit[0]))));
        if (at != std::string_view::npos) {
            scale = std::pow(1024.0, static_cast<double>(at + 1));
            unit.remove_prefix(1);
            if (!unit.empty() && (unit[0] == 'i' || unit[0] == 'I')) {
                unit.remove_prefix(1);
            }
        }
        if (!unit.empty() && (unit[0] == 'b' || unit[0] == 'B')) {
            unit.remove_prefix(1);
        }
        if (!unit.empty()) {
            throw bad();
        }
    }
    double value = std::stod(std::string(number)) * scale;
    if (!(value < 1.8e19)) {
        throw bad();
    }
    return static_cast<std::uint64_t>(value);
}

void check_hostname(std::string_view name) {
    auto bad = [&](const char* why) {
        return Error(ErrorKind::usage,
                     "--hostname '" + std::string(name) + "' is not a valid hostname: " + why);
    };
    if (name.empty() || name.size() > 253) {
        throw bad("it must have 1 to 253 characters");
    }
    std::size_t start = 0;
    while (start <= name.size()) {
        std::size_t dot = name.find('.', start);
        std::string_view label =
            name.substr(start, dot == std::string_view::npos ? dot : dot - start);
        if (label.empty() || label.size() > 63) {
            throw bad("each dot-separated label must have 1 to 63 characters");
        }
        for (char c : label) {
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') {
                throw bad("only letters, digits, '-' and '.' are allowed");
            }
        }
        if (label.front() == '-' || label.back() == '-') {
            throw bad("a label must not begin or end with '-'");
        }
        if (dot == std::string_view::npos) {
            break;
        }
        start = dot + 1;
    }
}

} // namespace ocibake
