// What the layers below an apt layer hold that the layer depends on: the dpkg database,
// the account files, the linker configuration, the alternatives, and the top-level
// symlinks of a merged /usr. Read from the layer blobs with whiteouts applied.
#include "apt/archive.hpp"
#include "apt/internal.hpp"
#include "apt/ldcache.hpp"
#include "common/json_number.hpp"
#include "common/libarchive.hpp"
#include "layer/reader.hpp"

#include <nlohmann/json.hpp>

#include <exception>

namespace ocibake::apt {

namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxFactFile = 64u << 20;

bool wanted(const std::string& path) {
    static const char* exact[] = {"var/lib/dpkg/status",
                                  "etc/passwd",
                                  "etc/group",
                                  "etc/shadow",
                                  "etc/gshadow",
                                  "etc/ld.so.conf",
                                  "etc/ca-certificates.conf",
                                  "var/lib/dpkg/diversions"};
    for (const char* e : exact) {
        if (path == e) {
            return true;
        }
    }
    return path.starts_with("etc/ld.so.conf.d/") ||
           path.starts_with("var/lib/dpkg/alternatives/") ||
           (path.starts_with("var/lib/dpkg/info/") && path.ends_with(".list"));
}

constexpr std::string_view kInfoDir = "var/lib/dpkg/info/";

/// Removes `path` and everything below it from a set.
void erase_set_tree(std::set<std::string>& set, const std::string& path) {
    set.erase(path);
    std::string prefix = path.empty() ? "" : path + "/";
    for (auto it = set.lower_bound(prefix); it != set.end() && it->starts_with(prefix);) {
        it = set.erase(it);
    }
}

std::string clean(std::string path) {
    while (path.starts_with("./")) {
        path.erase(0, 2);
    }
    while (path.starts_with('/')) {
        path.erase(0, 1);
    }
    while (path.ends_with('/')) {
        path.pop_back();
    }
    return path;
}

/// Removes `path` and everything below it.
template <typename Map>
void erase_tree(Map& map, const std::string& path) {
    map.erase(path);
    std::string prefix = path.empty() ? "" : path + "/";
    for (auto it = map.lower_bound(prefix); it != map.end() && it->first.starts_with(prefix);) {
        it = map.erase(it);
    }
}

/// Applies one entry of a layer (in layer order) to `facts`; `what` names the layer.
void apply_entry(archive* a, archive_entry* entry, const std::string& what, ImageFacts& facts) {
    std::string path = clean(libarchive().archive_entry_pathname(entry));
    std::size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "" : path.substr(0, slash);
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    if (base == ".wh..wh..opq") {
        std::string prefix = dir.empty() ? "" : dir;
        for (auto it = facts.dirs.lower_bound(prefix + "/");
             it != facts.dirs.end() && it->starts_with(prefix + "/");) {
            it = facts.dirs.erase(it);
        }
        for (auto* map : {&facts.files, &facts.links, &facts.symlinks}) {
            auto keep = map->find(prefix);
            std::optional<std::string> self;
            if (keep != map->end()) {
                self = keep->second;
            }
            erase_tree(*map, prefix);
            if (self) {
                (*map)[prefix] = *self; // the directory itself stays
            }
        }
        for (auto it = facts.libraries.lower_bound(prefix + "/");
             it != facts.libraries.end() && it->first.starts_with(prefix + "/");) {
            it = facts.libraries.erase(it);
        }
        for (auto it = facts.dpkg_info.lower_bound(prefix + "/");
             it != facts.dpkg_info.end() && it->starts_with(prefix + "/");) {
            it = facts.dpkg_info.erase(it);
        }
        return;
    }
    if (base.starts_with(".wh.")) {
        std::string gone = (dir.empty() ? "" : dir + "/") + base.substr(4);
        erase_tree(facts.files, gone);
        erase_tree(facts.links, gone);
        erase_tree(facts.symlinks, gone);
        erase_tree(facts.libraries, gone);
        erase_set_tree(facts.dpkg_info, gone);
        facts.dirs.erase(gone);
        for (auto it = facts.dirs.lower_bound(gone + "/");
             it != facts.dirs.end() && it->starts_with(gone + "/");) {
            it = facts.dirs.erase(it);
        }
        return;
    }
    facts.files.erase(path);
    facts.links.erase(path);
    facts.symlinks.erase(path);
    facts.libraries.erase(path);
    erase_set_tree(facts.dpkg_info, path);
    mode_t type = libarchive().archive_entry_filetype(entry);
    if (type != AE_IFDIR && path.starts_with(kInfoDir) &&
        path.find('/', kInfoDir.size()) == std::string::npos) {
        facts.dpkg_info.insert(path);
    }
    if (type == AE_IFDIR) {
        if (!path.empty()) {
            facts.dirs.insert(path);
        }
    } else {
        facts.dirs.erase(path);
    }
    std::string base_name = path.substr(path.rfind('/') + 1);
    if (type == AE_IFLNK) {
        std::string target = libarchive().archive_entry_symlink(entry)
                                 ? libarchive().archive_entry_symlink(entry)
                                 : "";
        facts.symlinks[path] = target;
        if (path.find('/') == std::string::npos) {
            facts.links[path] = target;
        }
    } else if (type == AE_IFREG && libarchive().archive_entry_hardlink(entry) == nullptr &&
               detail::is_library_name(base_name)) {
        la_int64_t size = libarchive().archive_entry_size(entry);
        detail::ElfScanner scan(size > 0 ? static_cast<std::uint64_t>(size) : 0);
        char buffer[1 << 16];
        for (;;) {
            la_ssize_t n = libarchive().archive_read_data(a, buffer, sizeof buffer);
            if (n < 0) {
                detail::check_archive(a, static_cast<int>(n), what + ": /" + path);
                continue;
            }
            if (n == 0) {
                break;
            }
            scan.feed(buffer, static_cast<std::size_t>(n));
        }
        if (auto elf = scan.finish()) {
            facts.libraries[path] = {elf->soname, elf->flags, elf->osversion};
        }
    } else if (type == AE_IFREG && libarchive().archive_entry_hardlink(entry) != nullptr &&
               detail::is_library_name(base_name)) {
        auto target = facts.libraries.find(clean(libarchive().archive_entry_hardlink(entry)));
        if (target != facts.libraries.end()) {
            facts.libraries[path] = target->second;
        }
    } else if (type == AE_IFREG && wanted(path)) {
        const char* hardlink = libarchive().archive_entry_hardlink(entry);
        if (hardlink != nullptr) {
            auto target = facts.files.find(clean(hardlink));
            if (target != facts.files.end()) {
                facts.files[path] = target->second;
            }
            return;
        }
        la_int64_t size = libarchive().archive_entry_size(entry);
        if (size < 0 || static_cast<std::uint64_t>(size) > kMaxFactFile) {
            throw Error(ErrorKind::integrity,
                        what + ": /" + path + " is larger than 64 MiB; not a " + base);
        }
        std::string content(static_cast<std::size_t>(size), '\0');
        std::size_t done = 0;
        while (done < content.size()) {
            la_ssize_t n =
                libarchive().archive_read_data(a, content.data() + done, content.size() - done);
            if (n < 0) {
                detail::check_archive(a, static_cast<int>(n), what + ": /" + path);
                continue;
            }
            if (n == 0) {
                break;
            }
            done += static_cast<std::size_t>(n);
        }
        content.resize(done);
        facts.files[path] = std::move(content);
    }
}

void apply_layer(const Store& store, const LayerResult& layer, ImageFacts& facts) {
    std::string what = "layer " + layer.descriptor.digest.str();
    ocibake::detail::read_layer(store, layer, what, [&](archive* a, archive_entry* entry) {
        apply_entry(a, entry, what, facts);
    });
}

} // namespace

std::string ImageFacts::file(const std::string& path) const {
    auto it = files.find(path);
    return it == files.end() ? std::string() : it->second;
}

Digest ImageFacts::fingerprint() const {
    Sha256 h;
    auto field = [&](const std::string& s) {
        std::uint64_t n = s.size();
        h.update(&n, sizeof n);
        h.update(s);
    };
    field("ocibake image-facts 4");
    for (const auto* map : {&files, &links}) {
        field(std::to_string(map->size()));
        for (const auto& [k, v] : *map) {
            field(k);
            field(v);
        }
    }
    field(std::to_string(dirs.size()));
    for (const auto& d : dirs) {
        field(d);
    }
    field(std::to_string(symlinks.size()));
    for (const auto& [k, v] : symlinks) {
        field(k);
        field(v);
    }
    field(std::to_string(dpkg_info.size()));
    for (const auto& p : dpkg_info) {
        field(p);
    }
    field(std::to_string(libraries.size()));
    for (const auto& [k, v] : libraries) {
        field(k);
        field(v.soname + " " + std::to_string(v.flags) + " " + std::to_string(v.osversion));
    }
    return h.finish();
}

ImageFacts read_image_facts(Store& store, const std::vector<LayerResult>& layers,
                            const std::function<void()>& fetch) {
    Sha256 key;
    key.update("ocibake image-facts 4\n");
    for (const LayerResult& l : layers) {
        key.update(l.descriptor.digest.str() + "\n");
    }
    std::string record_key = key.finish().hex();
    if (auto text = store.get_record("apt-image", record_key)) {
        try {
            json j = json::parse(*text);
            ImageFacts facts;
            facts.files = j.at("files").get<std::map<std::string, std::string>>();
            facts.links = j.at("links").get<std::map<std::string, std::string>>();
            facts.dirs = j.at("dirs").get<std::set<std::string>>();
            facts.symlinks = j.at("symlinks").get<std::map<std::string, std::string>>();
            facts.dpkg_info = j.at("dpkg_info").get<std::set<std::string>>();
            for (const auto& [path, lib] : j.at("libraries").items()) {
                facts.libraries[path] = {lib.at(0).get<std::string>(),
                                         ocibake::detail::json_integer<std::int32_t>(lib.at(1)),
                                         ocibake::detail::json_integer<std::uint32_t>(lib.at(2))};
            }
            return facts;
        } catch (const std::exception&) {
            // a damaged record is a miss
        }
    }
    if (fetch) {
        fetch();
    }
    ImageFacts facts;
    for (const LayerResult& l : layers) {
        apply_layer(store, l, facts);
    }
    json libs = json::object();
    for (const auto& [path, lib] : facts.libraries) {
        libs[path] = json::array({lib.soname, lib.flags, lib.osversion});
    }
    json j = {{"files", facts.files},         {"links", facts.links},
              {"dirs", facts.dirs},           {"symlinks", facts.symlinks},
              {"dpkg_info", facts.dpkg_info}, {"libraries", std::move(libs)}};
    // JSON text needs UTF-8: a file that is not cannot be recorded, and the record is
    // skipped (it is only a cache; the layers are read again next time).
    try {
        store.put_record("apt-image", record_key, j.dump());
    } catch (const json::exception&) {
    }
    return facts;
}

} // namespace ocibake::apt
