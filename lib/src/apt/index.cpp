// Repository metadata: Release files verified with gpgv, Packages indexes verified
// against them, every package in one Index.
#include "apt/internal.hpp"
#include "common/fs.hpp"
#include "common/number.hpp"
#include "common/text.hpp"
#include "common/time.hpp"

#include <algorithm>
#include <ctime>
#include <deque>
#include <optional>
#include <set>
#include <unordered_map>

namespace ocibake::apt {

using detail::trim;

namespace fs = std::filesystem;

struct Index::Impl {
    std::deque<Candidate> all;
    std::unordered_map<std::string, std::vector<std::size_t>> by_name;
    std::unordered_map<std::string, std::vector<std::size_t>> by_provides;
    /// "name version arch" -> its place in `all`: the first source wins.
    std::unordered_map<std::string, std::size_t> seen;

    /// The candidates `by` (by_name or by_provides) lists under `name`, in the order added.
    std::vector<const Candidate*>
    listed(const std::unordered_map<std::string, std::vector<std::size_t>>& by,
           std::string_view name) const {
        std::vector<const Candidate*> out;
        auto it = by.find(std::string(name));
        if (it != by.end()) {
            for (std::size_t id : it->second) {
                out.push_back(&all[id]);
            }
        }
        return out;
    }
};

Index::Index() : impl_(std::make_unique<Impl>()) {}
Index::~Index() = default;
Index::Index(Index&&) noexcept = default;
Index& Index::operator=(Index&&) noexcept = default;

namespace {

/// A Filename as a URL path: bytes outside RFC 3986's pchar set (and '%') escaped, as
/// apt quotes them ("openssh-client_1%3a9.2p1_amd64.deb" is fetched as ..._1%253a9.2p1...).
std::string url_path(std::string_view path) {
    return ocibake::detail::percent_encode(path, "-._~/+:@!$&'()*,;=");
}

} // namespace

void Index::add_packages(std::string_view text, std::string_view origin,
                         const std::string& base_url, int source_priority, std::size_t source_index,
                         const std::vector<std::string>& architectures, bool security) {
    detail::for_each_paragraph(text, origin, [&](const detail::RawParagraph& p) {
        std::string_view arch = trim(p.get("Architecture"));
        if (arch != "all" &&
            std::find(architectures.begin(), architectures.end(), arch) == architectures.end()) {
            return;
        }
        std::string_view filename = trim(p.get("Filename"));
        std::string_view sha = trim(p.get("SHA256"));
        std::string_view size = trim(p.get("Size"));
        std::string_view name = trim(p.get("Package"));
        std::string_view version = trim(p.get("Version"));
        if (name.empty() || version.empty() || filename.empty() || sha.empty() || size.empty()) {
            return; // not installable from here (no file, or no SHA256 to check it with)
        }
        std::string key = std::string(name) + " " + std::string(version) + " " + std::string(arch);
        if (auto first = impl_->seen.find(key); first != impl_->seen.end()) {
            impl_->all[first->second].security |= security;
            return;
        }
        std::string where = std::string(origin) + ":" + std::to_string(p.line);
        Candidate c;
        c.name = std::string(name);
        c.version = std::string(version);
        c.arch = std::string(arch);
        c.multi_arch = std::string(trim(p.get("Multi-Arch")));
        std::string_view source = trim(p.get("Source"));
        c.source = source.empty() ? c.name : std::string(source.substr(0, source.find(' ')));
        c.priority = std::string(trim(p.get("Priority")));
        c.essential = trim(p.get("Essential")) == "yes";
        c.pre_depends = parse_relations(p.get("Pre-Depends"), where);
        c.depends = parse_relations(p.get("Depends"), where);
        c.recommends = parse_relations(p.get("Recommends"), where);
        c.conflicts = parse_relations(p.get("Conflicts"), where);
        c.breaks = parse_relations(p.get("Breaks"), where);
        for (auto& dep : parse_relations(p.get("Provides"), where)) {
            for (auto& r : dep) {
                c.provides.push_back(std::move(r));
            }
        }
        while (filename.starts_with("./")) {
            filename.remove_prefix(2);
        }
        c.url = base_url + "/" + url_path(filename);
        c.sha256 = Digest::try_parse("sha256:" + std::string(sha));
        std::optional<std::uint64_t> bytes = ocibake::detail::parse_decimal<std::uint64_t>(size);
        if (!c.sha256 || !bytes) {
            throw Error(ErrorKind::integrity,
                        where + ": package " + c.name + " has a malformed SHA256 or Size");
        }
        c.size = *bytes;
        c.source_priority = source_priority;
        c.source_index = source_index;
        c.origin = std::string(origin);
        c.security = security;
        std::size_t id = impl_->all.size();
        impl_->seen.emplace(key, id);
        impl_->all.push_back(std::move(c));
        const Candidate& added = impl_->all.back();
        impl_->by_name[added.name].push_back(id);
        for (const Relation& r : added.provides) {
            impl_->by_provides[r.name].push_back(id);
        }
    });
}

std::vector<const Candidate*> Index::versions(std::string_view name) const {
    std::vector<const Candidate*> out = impl_->listed(impl_->by_name, name);
    std::stable_sort(out.begin(), out.end(), [](const Candidate* a, const Candidate* b) {
        if (a->source_priority != b->source_priority) {
            return a->source_priority > b->source_priority;
        }
        int c = compare_versions(a->version, b->version);
        if (c != 0) {
            return c > 0;
        }
        if (a->source_index != b->source_index) {
            return a->source_index < b->source_index;
        }
        return a->arch < b->arch;
    });
    return out;
}

std::vector<const Candidate*> Index::providers(std::string_view name) const {
    std::vector<const Candidate*> out = impl_->listed(impl_->by_provides, name);
    std::stable_sort(out.begin(), out.end(), [](const Candidate* a, const Candidate* b) {
        if (a->name != b->name) {
            return a->name < b->name;
        }
        return compare_versions(a->version, b->version) > 0;
    });
    return out;
}

const Candidate* Index::find(std::string_view name, std::string_view version,
                             std::string_view arch) const {
    for (const Candidate* c : impl_->listed(impl_->by_name, name)) {
        if (c->version == version && c->arch == arch) {
            return c;
        }
    }
    return nullptr;
}

std::vector<std::string> Index::names() const {
    std::vector<std::string> out;
    out.reserve(impl_->by_name.size());
    for (const auto& [name, ids] : impl_->by_name) {
        out.push_back(name);
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::size_t Index::size() const noexcept {
    return impl_->all.size();
}

// ---- fetching -------------------------------------------------------------------------

namespace {

std::string describe(const SourceSpec& s) {
    std::string out = "apt source '" + s.name + "'";
    if (s.where.known()) {
        out += " (" + s.where.str() + ")";
    }
    return out;
}

bool not_found(const http::HttpError& e) {
    return e.status() == 404 || e.status() == 410;
}

std::string fetch_text(http::Client& client, const std::string& url) {
    http::Request r;
    r.url = url;
    std::string body;
    client.download(r, [&](const char* data, std::size_t size) {
        if (body.size() + size > (std::size_t(256) << 20)) {
            throw Error(ErrorKind::integrity, url + ": larger than 256 MiB");
        }
        body.append(data, size);
    });
    return body;
}

std::string date_text(std::int64_t t) {
    return ocibake::detail::utc_text(t, "%a, %d %b %Y %H:%M:%S UTC");
}

/// A suite's directory URL (with a trailing '/'), and whether it is flat.
std::pair<std::string, bool> suite_dir(const SourceSpec& s, const std::string& suite) {
    if (suite.ends_with('/')) {
        std::string path = suite == "/" ? "" : suite;
        while (path.starts_with('/')) {
            path.erase(0, 1);
        }
        return {s.url + "/" + path, true};
    }
    return {s.url + "/dists/" + suite + "/", false};
}

/// The text at `url`, or nullopt where the server has none (404 or 410, in `status`);
/// another HTTP error as `who`'s.
std::optional<std::string> fetch_if_there(http::Client& client, const std::string& url,
                                          const std::string& who, int& status) {
    try {
        return fetch_text(client, url);
    } catch (const http::HttpError& e) {
        if (!not_found(e)) {
            throw Error(e.kind(), who + ": " + e.what());
        }
        status = e.status();
        return std::nullopt;
    }
}

/// Fetches and verifies dir/InRelease (or Release + Release.gpg): the Release text.
std::string fetch_release(Store& store, http::Client& client, const SourceSpec& s,
                          const std::string& dir, const FetchOptions& options) {
    std::string who = describe(s);
    ocibake::detail::TempDir tmp(store.temp_path("apt-release"));
    fs::create_directories(tmp.path());
    int status = 0;
    if (auto in_release = fetch_if_there(client, dir + "InRelease", who, status)) {
        if (s.trusted) {
            return detail::clearsigned_text(*in_release);
        }
        fs::path file = tmp.path() / "InRelease";
        ocibake::detail::atomic_write_file(file, *in_release, 0600, false);
        return detail::gpg_verify(options.gpgv, s.keyring, file, {}, tmp.path(),
                                  who + ": " + dir + "InRelease");
    }
    auto release = fetch_if_there(client, dir + "Release", who, status);
    if (!release) {
        throw Error(ErrorKind::input, who + ": " + dir +
                                          " has no InRelease or Release file (HTTP " +
                                          std::to_string(status) + "): is the url or suite wrong?");
    }
    if (s.trusted) {
        return *release;
    }
    auto signature = fetch_if_there(client, dir + "Release.gpg", who, status);
    if (!signature) {
        throw Error(ErrorKind::integrity,
                    who + ": " + dir +
                        "Release is not signed (no InRelease, no Release.gpg): refused; "
                        "set trusted = true on the source to use it unsigned");
    }
    fs::path file = tmp.path() / "Release";
    fs::path sig = tmp.path() / "Release.gpg";
    ocibake::detail::atomic_write_file(file, *release, 0600, false);
    ocibake::detail::atomic_write_file(sig, *signature, 0600, false);
    return detail::gpg_verify(options.gpgv, s.keyring, file, sig, tmp.path(),
                              who + ": " + dir + "Release");
}

/// The best listed variant of `path` (xz, gz, then plain).
const Release::File* pick_index(const Release& r, const std::string& path) {
    for (const char* ext : {".xz", ".gz", ""}) {
        for (const Release::File& f : r.files) {
            if (f.path == path + ext) {
                return &f;
            }
        }
    }
    return nullptr;
}

/// An index file's bytes: from the store when it has them (they are named by digest),
/// else downloaded (by hash when offered), verified and kept.
std::string fetch_index_file(Store& store, http::Client& client, const std::string& who,
                             const std::string& dir, const Release& release,
                             const Release::File& file) {
    // Downloads `url` into the store, held to the Release's size and sha256; false when it
    // is not there (404, 410) and `missing_ok`.
    auto download = [&](const std::string& url, bool missing_ok) {
        BlobWriter blob = store.new_blob();
        http::Request r;
        r.url = url;
        try {
            client.download(
                r, [&](const char* data, std::size_t size) { blob.write(data, size); }, file.size);
            blob.commit(file.sha256);
        } catch (const Error& e) {
            auto* http = dynamic_cast<const http::HttpError*>(&e);
            if (missing_ok && http != nullptr && (http->status() == 404 || http->status() == 410)) {
                return false;
            }
            std::string msg = e.what();
            if (e.kind() == ErrorKind::integrity && msg.find("expected") != std::string::npos) {
                msg = url + ": its size or SHA256 does not match the Release (" +
                      std::to_string(file.size) + " bytes, " + file.sha256.str() + "): " + msg;
            }
            throw Error(e.kind(), who + ": " + msg);
        }
        return true;
    };
    if (!store.has_blob(file.sha256)) {
        bool got = false;
        if (release.by_hash) {
            // A by-hash copy the archive lacks (bookworm-security has none for its binary-all
            // indexes) is fetched by its name instead, as apt does.
            std::size_t slash = file.path.rfind('/');
            std::string parent = slash == std::string::npos ? "" : file.path.substr(0, slash + 1);
            got = download(dir + parent + "by-hash/SHA256/" + file.sha256.hex(), true);
        }
        if (!got) {
            download(dir + file.path, false);
        }
    }
    return store.read_blob(file.sha256, std::size_t(1) << 30);
}

} // namespace

Index fetch_index(Store& store, http::Client& client, const std::vector<SourceSpec>& sources,
                  const std::string& native_arch, const FetchOptions& options) {
    Index index;
    index.native_arch = native_arch;
    index.architectures = {native_arch};
    // A keyring that cannot be read is the recipe's mistake: said at the recipe's line
    // before anything is downloaded.
    for (const SourceSpec& s : sources) {
        std::string why;
        if (!s.trusted && !ocibake::detail::open_regular(s.keyring, why)) {
            throw RecipeError(ErrorKind::input, s.keyring_where.known() ? s.keyring_where : s.where,
                              "cannot read keyring '" +
                                  ocibake::detail::printable(s.keyring.string(), 4096) +
                                  "': " + why,
                              "a relative path starts at the folder of the file that names it");
        }
    }
    std::int64_t now = options.now.value_or(static_cast<std::int64_t>(std::time(nullptr)));
    for (std::size_t i = 0; i < sources.size(); ++i) {
        const SourceSpec& s = sources[i];
        std::string who = describe(s);
        std::vector<std::string> archs =
            s.architectures.empty() ? std::vector<std::string>{native_arch} : s.architectures;
        for (const std::string& a : archs) {
            if (std::find(index.architectures.begin(), index.architectures.end(), a) ==
                index.architectures.end()) {
                index.architectures.push_back(a);
            }
        }
        for (const std::string& suite : s.suites) {
            auto [dir, flat] = suite_dir(s, suite);
            std::string text = fetch_release(store, client, s, dir, options);
            Release release = parse_release(text, dir + (s.trusted ? "Release" : "InRelease"));
            if (release.valid_until && now > *release.valid_until) {
                throw Error(ErrorKind::integrity,
                            who + ": " + dir + "InRelease expired on " +
                                date_text(*release.valid_until) +
                                " (Valid-Until): the mirror is stale, or the clock is wrong");
            }
            if (release.date) {
                index.releases.push_back({s.url, suite, *release.date, {}});
            }
            std::vector<std::pair<std::string, std::string>> wanted; // (path, label)
            if (flat) {
                wanted.emplace_back("Packages", suite);
            } else {
                for (const std::string& component : s.components) {
                    if (!has_component(release, component)) {
                        throw Error(
                            ErrorKind::input, who + ": suite " + suite + " has no component '" +
                                                  component + "' (it has: " +
                                                  [&] {
                                                      std::string list;
                                                      for (const auto& c : release.components) {
                                                          list += (list.empty() ? "" : ", ") + c;
                                                      }
                                                      return list;
                                                  }() +
                                                  ")");
                    }
                    std::vector<std::string> index_archs = archs;
                    // binary-all is read when the Release names "all" among its
                    // Architectures, as apt does (bookworm-security has binary-all files but
                    // not "all": its arch indexes hold those packages).
                    bool all_listed =
                        pick_index(release, component + "/binary-all/Packages") &&
                        (release.architectures.empty() ||
                         std::find(release.architectures.begin(), release.architectures.end(),
                                   "all") != release.architectures.end());
                    if (all_listed && !release.all_in_arch_indexes) {
                        index_archs.push_back("all");
                    }
                    for (const std::string& a : index_archs) {
                        wanted.emplace_back(component + "/binary-" + a + "/Packages",
                                            suite + "/" + component + " " + a);
                    }
                }
            }
            for (const auto& [path, label] : wanted) {
                const Release::File* file = pick_index(release, path);
                if (file == nullptr) {
                    throw Error(ErrorKind::input, who + ": " + dir + "InRelease lists no " + path +
                                                      " index (.xz, .gz or plain)");
                }
                std::string raw = fetch_index_file(store, client, who, dir, release, *file);
                std::string packages = detail::decompress(raw, dir + file->path);
                std::string base = flat ? dir.substr(0, dir.size() - 1) : s.url;
                index.add_packages(packages, "source '" + s.name + "' " + label, base, s.priority,
                                   i, archs, security_suite(suite, release));
            }
        }
    }
    return index;
}

} // namespace ocibake::apt
