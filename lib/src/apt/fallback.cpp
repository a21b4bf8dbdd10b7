// Where a locked .deb is looked for when its url no longer has it: the source's mirrors,
// then its snapshot service, by date and by hash (docs/apt.md). Pure functions of the
// recipe's source and the lock; nothing here touches the network.
#include "common/time.hpp"
#include "ocibake/apt.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace ocibake::apt {

namespace {

/// "host" (lower-cased) and "/path" of an http(s) URL; empty host for anything else or a
/// URL with a port, user info, query or fragment (never a well-known archive).
std::pair<std::string, std::string> host_and_path(std::string_view url) {
    std::string_view rest = url.starts_with("https://")  ? url.substr(8)
                            : url.starts_with("http://") ? url.substr(7)
                                                         : std::string_view();
    if (rest.empty() || rest.find_first_of("?#@") != std::string_view::npos) {
        return {};
    }
    std::size_t slash = rest.find('/');
    std::string host(rest.substr(0, slash));
    std::string path(slash == std::string_view::npos ? "" : rest.substr(slash));
    if (host.find(':') != std::string::npos) {
        return {};
    }
    std::transform(host.begin(), host.end(), host.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    while (path.ends_with('/')) {
        path.pop_back();
    }
    return {host, path};
}

/// "xx.archive.ubuntu.com" style: one label, then `suffix`.
bool one_label_before(const std::string& host, std::string_view suffix) {
    if (!host.ends_with(suffix) || host.size() == suffix.size()) {
        return false;
    }
    std::string_view label(host.data(), host.size() - suffix.size());
    return label.find('.') == std::string_view::npos;
}

} // namespace

std::string snapshot_service_for(std::string_view url) {
    auto [host, path] = host_and_path(url);
    if (host.empty()) {
        return {};
    }
    bool debian_mirror =
        host == "deb.debian.org" || host == "ftp.debian.org" || host == "http.debian.net" ||
        // ftp.<country>.debian.org
        (host.starts_with("ftp.") && one_label_before(host.substr(4), ".debian.org"));
    static constexpr std::array<std::string_view, 4> debian_archives = {
        "debian", "debian-security", "debian-ports", "debian-debug"};
    if (debian_mirror) {
        for (std::string_view archive : debian_archives) {
            if (path == "/" + std::string(archive)) {
                return "https://snapshot.debian.org/archive/" + std::string(archive);
            }
        }
        return {};
    }
    if (host == "security.debian.org" && (path == "/debian-security" || path.empty())) {
        return "https://snapshot.debian.org/archive/debian-security";
    }
    if ((host == "archive.ubuntu.com" || host == "security.ubuntu.com" ||
         one_label_before(host, ".archive.ubuntu.com")) &&
        path == "/ubuntu") {
        return "https://snapshot.ubuntu.com/ubuntu";
    }
    if (host == "ports.ubuntu.com" && path == "/ubuntu-ports") {
        return "https://snapshot.ubuntu.com/ubuntu-ports";
    }
    return {};
}

std::string snapshot_time(std::int64_t seconds) {
    return ocibake::detail::utc_text(seconds, "%Y%m%dT%H%M%SZ");
}

std::vector<DebPlace> fallback_places(const SourceSpec& source,
                                      const std::vector<LockedRelease>& releases,
                                      const LockedPackage& package) {
    std::vector<DebPlace> out;
    std::string prefix = source.url + "/";
    if (!package.url.starts_with(prefix) || package.url.size() == prefix.size()) {
        return out;
    }
    std::string below = package.url.substr(prefix.size());
    for (const std::string& mirror : source.mirrors) {
        out.push_back({DebPlace::Kind::file, mirror + "/" + below});
    }
    std::string service = source.snapshot.value_or(snapshot_service_for(source.url));
    if (service.empty()) {
        return out;
    }
    // The archive as it was at the latest Release of this source the lock records: every
    // suite's packages were in its pool from their suite's Date until the lock was made.
    std::optional<std::int64_t> date;
    for (const LockedRelease& r : releases) {
        if (r.url == source.url && (!date || r.date > *date)) {
            date = r.date;
        }
    }
    if (date) {
        out.push_back({DebPlace::Kind::file, service + "/" + snapshot_time(*date) + "/" + below});
    }
    // snapshot.debian.org's scheme: <root>/archive/<name>, with /mr/ and /file/ at <root>.
    std::size_t archive = service.rfind("/archive/");
    if (archive != std::string::npos && archive > service.find("://") + 2 &&
        service.find('/', archive + 9) == std::string::npos && service.size() > archive + 9) {
        out.push_back({DebPlace::Kind::by_hash, service.substr(0, archive)});
    }
    return out;
}

} // namespace ocibake::apt
