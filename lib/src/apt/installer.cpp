// Installer packages: found by name (a documented list) or by reading their scripts, and
// what they would have downloaded (see installer.hpp).
#include "apt/installer.hpp"

#include "apt/deb.hpp"
#include "common/strings.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace ocibake::apt::detail {

namespace {

constexpr std::size_t max_program_size = 1 << 20; // a helper script read for downloads

bool word_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
}

/// Whether `word` occurs in `text` as a whole word.
bool has_word(std::string_view text, std::string_view word) {
    for (std::size_t at = text.find(word); at != std::string_view::npos;
         at = text.find(word, at + 1)) {
        bool before = at == 0 || (!word_char(text[at - 1]) && text[at - 1] != '$');
        bool after = at + word.size() == text.size() || !word_char(text[at + word.size()]);
        if (before && after) {
            return true;
        }
    }
    return false;
}

/// Shell assignments NAME=value (value unquoted, "..." or '...'), one per line.
std::map<std::string, std::string> assignments(std::string_view text) {
    std::map<std::string, std::string> out;
    for (std::string_view line : ocibake::detail::split_views(text, '\n')) {
        std::size_t first = line.find_first_not_of(" \t");
        if (first == std::string_view::npos) {
            continue;
        }
        line.remove_prefix(first);
        std::size_t eq = line.find('=');
        if (eq == std::string_view::npos || eq == 0 ||
            !std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(eq), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
            })) {
            continue;
        }
        std::string_view value = line.substr(eq + 1);
        if (!value.empty() && (value.front() == '"' || value.front() == '\'')) {
            std::size_t close = value.find(value.front(), 1);
            value = value.substr(1, close == std::string_view::npos ? close : close - 1);
        } else {
            value = value.substr(0, value.find_first_of(" \t;#"));
        }
        out[std::string(line.substr(0, eq))] = std::string(value);
    }
    return out;
}

bool archive_url(std::string_view url) {
    for (std::string_view ext : {".tar.xz", ".tar.gz", ".tgz", ".tar.bz2", ".tar.zst", ".zip",
                                 ".run", ".exe", ".cab", ".deb", ".bin", ".tar"}) {
        if (url.ends_with(ext)) {
            return true;
        }
    }
    return false;
}

bool hex_of_size(std::string_view text, std::size_t size) {
    return text.size() == size && std::all_of(text.begin(), text.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

/// The candidate names a script may run a program of the package by.
std::string base_name(std::string_view path) {
    std::size_t slash = path.rfind('/');
    return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

bool program_dir(std::string_view path) {
    for (std::string_view dir : {"./usr/sbin/", "./usr/bin/", "./sbin/", "./bin/", "./usr/lib/",
                                 "./usr/libexec/", "./usr/share/"}) {
        if (path.starts_with(dir)) {
            return true;
        }
    }
    return false;
}

} // namespace

const std::vector<std::string_view>& listed_installers() {
    // Kept in docs/apt.md too. Each downloads its payload in a maintainer script.
    static const std::vector<std::string_view> names = {
        "nvidia-cudnn",
        "ttf-mscorefonts-installer",
        "firmware-b43-installer",
        "firmware-b43legacy-installer",
        "steam-installer",
        "flashplugin-nonfree",
        "dropbox",
        "oracle-java8-installer",
    };
    return names;
}

bool may_download(const Candidate& c) {
    const auto& listed = listed_installers();
    if (std::find(listed.begin(), listed.end(), c.name) != listed.end() ||
        c.name.ends_with("-installer")) {
        return true;
    }
    for (const auto* field : {&c.pre_depends, &c.depends}) {
        for (const Dependency& d : *field) {
            for (const Relation& r : d) {
                if (r.name == "wget" || r.name == "curl") {
                    return true;
                }
            }
        }
    }
    return false;
}

bool runs_downloader(std::string_view script) {
    return has_word(script, "wget") || has_word(script, "curl");
}

std::vector<InstallerDownload> stated_downloads(std::string_view script, std::string_view arch) {
    std::vector<InstallerDownload> out;
    std::map<std::string, std::string> vars = assignments(script);
    std::string suffix = "_" + std::string(arch);
    for (const auto& [name, value] : vars) {
        if (!(name.starts_with("URL") && name.ends_with(suffix)) ||
            !(value.starts_with("https://") || value.starts_with("http://"))) {
            continue;
        }
        InstallerDownload d;
        d.url = value;
        for (const auto& [algo, size] : {std::pair<const char*, std::size_t>{"SHA512", 128},
                                         std::pair<const char*, std::size_t>{"SHA256", 64}}) {
            auto it = vars.find(std::string(algo) + name.substr(3));
            if (d.checksum.empty() && it != vars.end() && hex_of_size(it->second, size)) {
                d.checksum = (size == 128 ? "sha512:" : "sha256:") + it->second;
            }
        }
        out.push_back(std::move(d));
    }
    if (!out.empty()) {
        return out;
    }
    std::set<std::string> seen;
    for (std::size_t at = script.find("http"); at != std::string_view::npos;
         at = script.find("http", at + 1)) {
        std::string_view rest = script.substr(at);
        if (!rest.starts_with("https://") && !rest.starts_with("http://")) {
            continue;
        }
        std::string_view url = rest.substr(0, rest.find_first_of(" \t\r\n\"'`;)<>|&$"));
        if (archive_url(url) && seen.insert(std::string(url)).second) {
            out.push_back({std::string(url), ""});
        }
    }
    return out;
}

std::optional<InstallerFinding> inspect_installer(const Store& store, const Digest& deb,
                                                  const std::string& name,
                                                  const std::string& version,
                                                  const std::string& arch, bool listed) {
    DebReader reader(store, deb, "package " + name + " " + version);
    std::map<std::string, ControlFile> control = reader.control();
    InstallerFinding f;
    f.package = name;
    f.version = version;
    std::string texts;
    std::vector<std::pair<std::string, std::string>> scripts; // script name -> text
    for (const char* script : {"preinst", "postinst", "config"}) {
        auto it = control.find(script);
        if (it != control.end()) {
            scripts.emplace_back(script, it->second.content);
            texts += it->second.content + "\n";
            if (f.evidence.empty() && runs_downloader(it->second.content)) {
                f.evidence = std::string("its ") + script + " runs wget or curl";
            }
        }
    }
    // Programs of the package that a script runs by name (update-nvidia-cudnn).
    DebEntry entry;
    while (reader.next(entry)) {
        if (entry.type != DebEntry::Type::file || !program_dir(entry.path) ||
            entry.size > max_program_size || (entry.mode & 0111) == 0) {
            continue;
        }
        std::string program = base_name(entry.path);
        auto caller = std::find_if(scripts.begin(), scripts.end(),
                                   [&](const auto& s) { return has_word(s.second, program); });
        if (caller == scripts.end()) {
            continue;
        }
        std::string text;
        char buffer[1 << 14];
        for (std::size_t n; (n = reader.read(buffer, sizeof buffer)) != 0;) {
            text.append(buffer, n);
        }
        texts += text + "\n";
        if (f.evidence.empty() && runs_downloader(text)) {
            f.evidence = "its " + caller->first + " runs " + entry.path.substr(1) +
                         ", which downloads with wget or curl";
        }
    }
    if (f.evidence.empty()) {
        if (!listed) {
            return std::nullopt;
        }
        f.evidence = "it is on ocibake's list of installer packages (docs/apt.md)";
    }
    f.downloads = stated_downloads(texts, arch);
    return f;
}

} // namespace ocibake::apt::detail
