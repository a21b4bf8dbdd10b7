// The [[layer.archive]] and [[layer.nvidia]] part of locks and builds: each layer's
// archives pinned (url, size, sha256), fetched once into the store while they are
// hashed, unpacked once into the cache and placed in the layer (layer/archive_input.hpp).
#include "bake/archive_layers.hpp"
#include "common/libcrypto.hpp"

#include "bake/nvidia_manifest.hpp"
#include "common/fs.hpp"
#include "common/strings.hpp"
#include "digest/evp.hpp"
#include "layer/archive_input.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <memory>

namespace ocibake::detail {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t max_manifest_size = 16 << 20;

/// Incremental sha512 (for archives whose publisher states only that).
class Sha512 {
public:
    Sha512() : ctx_(libcrypto().EVP_MD_CTX_new()) {
        if (!ctx_ ||
            libcrypto().EVP_DigestInit_ex(ctx_.get(), libcrypto().EVP_sha512(), nullptr) != 1) {
            throw Error(ErrorKind::io, "sha512: cannot start a digest");
        }
    }
    void update(const char* data, std::size_t n) {
        libcrypto().EVP_DigestUpdate(ctx_.get(), data, n);
    }
    std::string hex() {
        unsigned char out[64];
        unsigned int len = 0;
        libcrypto().EVP_DigestFinal_ex(ctx_.get(), out, &len);
        return hex_lower(out, len);
    }

private:
    EvpMdCtx ctx_;
};

http::Client client_for(const BuildOptions& options) {
    return http::Client(options.registry.http);
}

[[noreturn]] void rethrow_at(const SourceLocation& where, const Error& e,
                             const std::string& hint = {}) {
    if (dynamic_cast<const RecipeError*>(&e) != nullptr) {
        throw;
    }
    throw RecipeError(e.kind(), where, e.what(), hint);
}

/// For an archive that is an installer package's payload and could not be fetched (not
/// one that was fetched and did not match): the switch that builds without it.
std::string stand_in_hint(const std::string& satisfies, const Error& e) {
    if (satisfies.empty() || e.kind() == ErrorKind::integrity) {
        return {};
    }
    return "this is the payload of the installer package " + satisfies +
           "; where it cannot be fetched, build with `--stand-in " + satisfies +
           "=ARCHIVE`: a local archive of the same layout in its place, which the build "
           "output and the image's label org.ocibake.stand-in." +
           satisfies + " then state (docs/recipe.md, stand-ins)";
}

/// Downloads `url` into the store, hashing it (sha256, and sha512 when `sha512` is
/// wanted) as it streams. Nothing is stored unless the digests are the expected ones.
LockedArchive fetch(Store& store, http::Client& client, const std::string& url,
                    const Digest& sha256, const std::string& sha512,
                    std::optional<std::uint64_t> size) {
    std::string shown = http::redact_url(url);
    BlobWriter blob = store.new_blob();
    Sha256 hash;
    std::optional<Sha512> hash512;
    if (!sha512.empty()) {
        hash512.emplace();
    }
    http::Request request;
    request.url = url;
    try {
        client.download(
            request,
            [&](const char* data, std::size_t n) {
                blob.write(data, n);
                hash.update(data, n);
                if (hash512) {
                    hash512->update(data, n);
                }
            },
            size);
    } catch (const Error& e) {
        throw Error(e.kind(), "archive " + shown + ": " + e.what());
    }
    LockedArchive out;
    out.url = url;
    out.size = blob.size();
    out.sha256 = hash.finish();
    out.sha512 = sha512;
    if (sha256 && out.sha256 != sha256) {
        throw Error(ErrorKind::integrity,
                    "archive " + shown + " does not match its digest: " + "expected " +
                        sha256.str() + ", got " + out.sha256.str() + " (" +
                        std::to_string(out.size) + " bytes); nothing was stored");
    }
    if (hash512) {
        std::string got = hash512->hex();
        if (got != sha512) {
            throw Error(ErrorKind::integrity,
                        "archive " + shown + " does not match its digest: expected sha512:" +
                            sha512 + ", got sha512:" + got + " (" + std::to_string(out.size) +
                            " bytes); nothing was stored");
        }
    }
    blob.commit(out.sha256);
    return out;
}

/// The locked archive's bytes in the store (fetched when missing), kept alive for gc.
void ensure_fetched(Store& store, http::Client& client, const LockedArchive& a) {
    if (store.blob_size(a.sha256) != a.size) {
        fetch(store, client, a.url, a.sha256, a.sha512, a.size);
    }
    nlohmann::json keep = {a.sha256.str()};
    store.put_record("archive", a.sha256.hex(), keep.dump());
}

std::string platform_of(const Recipe& recipe, const NvidiaItem& n) {
    if (!n.platform.empty()) {
        return n.platform;
    }
    const std::string& arch = recipe.platform.architecture;
    if (arch == "amd64") {
        return "linux-x86_64";
    }
    if (arch == "arm64") {
        return "linux-sbsa";
    }
    if (arch == "ppc64le") {
        return "linux-ppc64le";
    }
    throw RecipeError(ErrorKind::recipe, n.where,
                      "NVIDIA publishes no archives for " + recipe.platform.str(),
                      "state the platform: platform = \"linux-x86_64\"");
}

std::string triplet_of(const std::string& platform) {
    if (platform == "linux-x86_64") {
        return "x86_64-linux-gnu";
    }
    if (platform == "linux-ppc64le") {
        return "powerpc64le-linux-gnu";
    }
    return "aarch64-linux-gnu";
}

/// What one layer asks for, in the lock's order.
struct Want {
    const ArchiveItem* archive = nullptr;
    const NvidiaItem* nvidia = nullptr;
    std::string component;
    std::string platform;

    bool answered_by(const LockedArchive& a) const {
        if (archive != nullptr) {
            return a.manifest.empty() && a.url == archive->url &&
                   (!archive->sha256 || a.sha256 == archive->sha256) && a.sha512 == archive->sha512;
        }
        return a.manifest == nvidia->manifest && a.component == component &&
               a.platform == platform &&
               (nvidia->cuda_variant.empty() || a.variant == nvidia->cuda_variant);
    }
    const SourceLocation& where() const { return archive ? archive->where : nvidia->where; }
    const std::string& satisfies() const {
        return archive ? archive->satisfies : nvidia->satisfies;
    }
};

std::vector<Want> wants_of(const Recipe& recipe, const LayerSpec& layer) {
    std::vector<Want> out;
    for (const ArchiveItem& a : layer.archives) {
        out.push_back({&a, nullptr, {}, {}});
    }
    for (const NvidiaItem& n : layer.nvidia) {
        std::string platform = platform_of(recipe, n);
        for (const std::string& c : n.components) {
            out.push_back({nullptr, &n, c, platform});
        }
    }
    return out;
}

const LockedArchiveLayer* find_layer(const std::vector<LockedArchiveLayer>& layers,
                                     const std::string& name) {
    auto it = std::find_if(layers.begin(), layers.end(),
                           [&](const LockedArchiveLayer& l) { return l.layer == name; });
    return it == layers.end() ? nullptr : &*it;
}

bool answers(const std::vector<Want>& wants, const LockedArchiveLayer& locked) {
    if (wants.size() != locked.files.size()) {
        return false;
    }
    for (std::size_t i = 0; i < wants.size(); ++i) {
        if (!wants[i].answered_by(locked.files[i])) {
            return false;
        }
    }
    return true;
}

class Locker {
public:
    explicit Locker(const ArchiveContext& c) : c_(c), client_(client_for(c.options)) {}

    LockedArchiveLayer lock(const LayerSpec& layer) {
        LockedArchiveLayer out;
        out.layer = layer.name;
        for (const Want& w : wants_of(c_.recipe, layer)) {
            try {
                out.files.push_back(w.archive ? lock_archive(*w.archive) : lock_component(w));
            } catch (const Error& e) {
                rethrow_at(w.archive ? w.archive->digest_where : w.nvidia->manifest_where, e,
                           stand_in_hint(w.satisfies(), e));
            }
        }
        return out;
    }

private:
    LockedArchive lock_archive(const ArchiveItem& a) {
        return fetch(c_.store, client_, a.url, a.sha256, a.sha512, std::nullopt);
    }

    LockedArchive lock_component(const Want& w) {
        const NvidiaItem& n = *w.nvidia;
        const RedistManifest& m = manifest(n.manifest);
        const RedistArchive& r =
            select_redist(m, http::redact_url(n.manifest), w.component, w.platform, n.cuda_variant);
        LockedArchive out;
        out.url = redist_url(n.manifest, r.relative_path);
        out.size = r.size;
        out.sha256 = r.sha256;
        out.manifest = n.manifest;
        out.component = w.component;
        out.version = m.components.at(w.component).version;
        out.platform = w.platform;
        const RedistComponent& rc = m.components.at(w.component);
        if (rc.variants.count(w.platform) != 0) {
            out.variant = n.cuda_variant;
        }
        return out;
    }

    const RedistManifest& manifest(const std::string& url) {
        auto it = manifests_.find(url);
        if (it != manifests_.end()) {
            return it->second;
        }
        std::string text;
        http::Request request;
        request.url = url;
        try {
            client_.download(request, [&](const char* data, std::size_t n) {
                if (text.size() + n > max_manifest_size) {
                    throw Error(ErrorKind::input, "NVIDIA manifest " + http::redact_url(url) +
                                                      " is larger than 16 MiB");
                }
                text.append(data, n);
            });
        } catch (const Error& e) {
            std::string what = e.what();
            if (what.rfind("NVIDIA manifest ", 0) == 0) {
                throw;
            }
            throw Error(e.kind(), "NVIDIA manifest " + http::redact_url(url) + ": " + what);
        }
        return manifests_.emplace(url, parse_redistrib(text, http::redact_url(url))).first->second;
    }

    const ArchiveContext& c_;
    http::Client client_;
    std::map<std::string, RedistManifest> manifests_;
};

/// Where a [[layer.nvidia]] component goes, per its layout.
ArchivePlacement nvidia_placement(const NvidiaItem& n, const std::string& component,
                                  const std::string& platform) {
    ArchivePlacement p;
    p.strip = 1;
    p.origin = n.where.str();
    if (n.layout == "nvidia") {
        p.dst = "/usr/local/cuda-" + n.cuda_version;
        p.renames = {{"lib", "lib64"}};
        return p;
    }
    std::string triplet = triplet_of(platform);
    p.dst = "/";
    p.renames = {{"lib", "usr/lib/" + triplet},
                 {"include", "usr/include"},
                 {"bin", "usr/bin"},
                 {"LICENSE", "usr/share/doc/" + component + "/LICENSE"}};
    p.options.include = {"usr/lib/" + triplet + "/**",
                         "usr/include/**",
                         "usr/bin/**",
                         "usr/share/doc/" + component + "/**",
                         "usr/lib/" + triplet,
                         "usr/include",
                         "usr/bin"};
    return p;
}

/// The entries of the nvidia layout that belong to no archive: the `cuda` symlink and
/// the linker's configuration.
void add_nvidia_layout(LayerBuilder& b, const NvidiaItem& n) {
    if (n.layout != "nvidia") {
        return;
    }
    std::string dir = "cuda-" + n.cuda_version;
    std::string conf = "/etc/ld.so.conf.d/" + dir + ".conf";
    if (!b.has("usr/local/cuda")) {
        b.add_symlink("/usr/local/cuda", dir, 0, 0, n.where.str());
    }
    b.add_content(conf, "/usr/local/" + dir + "/lib64\n", 0644, 0, 0, n.where.str());
}

std::vector<LayerEntry> layer_entries(const ArchiveContext& c, http::Client& client,
                                      const LayerSpec& layer, const LockedArchiveLayer& locked,
                                      unsigned threads) {
    LayerBuilder b(threads);
    std::vector<Want> wants = wants_of(c.recipe, layer);
    for (std::size_t i = 0; i < wants.size(); ++i) {
        const Want& w = wants[i];
        const LockedArchive& a = locked.files[i];
        try {
            ensure_fetched(c.store, client, a);
            UnpackedArchive unpacked = unpack_archive(c.store, a.sha256, http::redact_url(a.url));
            if (w.archive != nullptr) {
                ArchivePlacement p;
                p.strip = w.archive->strip;
                p.dst = w.archive->dst;
                p.options = w.archive->options;
                p.origin = w.archive->where.str();
                add_archive(b, unpacked, p);
            } else {
                add_archive(b, unpacked, nvidia_placement(*w.nvidia, w.component, w.platform));
            }
        } catch (const Error& e) {
            rethrow_at(w.where(), e, stand_in_hint(w.satisfies(), e));
        }
    }
    for (const NvidiaItem& n : layer.nvidia) {
        add_nvidia_layout(b, n);
    }
    return b.finish();
}

/// The stand-in of `layer` (BuildOptions::stand_ins), or nullptr.
const StandIn* stand_in_for(const std::vector<StandIn>& stand_ins, const LayerSpec& layer) {
    auto it = std::find_if(stand_ins.begin(), stand_ins.end(),
                           [&](const StandIn& s) { return s.layer == layer.name; });
    return it == stand_ins.end() ? nullptr : &*it;
}

/// A layer whose archives a stand-in replaces: the stand-in placed as each of them would
/// be (so it must have their layout), the nvidia layout's own entries, and a note.
std::vector<LayerEntry> stand_in_entries(const ArchiveContext& c, const LayerSpec& layer,
                                         const StandIn& s, unsigned threads) {
    LayerBuilder b(threads);
    try {
        Digest d = c.store.put_file(s.file, s.sha256);
        nlohmann::json keep = {d.str()};
        c.store.put_record("archive", d.hex(), keep.dump());
        UnpackedArchive unpacked =
            unpack_archive(c.store, d, "stand-in " + s.file.filename().string());
        for (const ArchiveItem& a : layer.archives) {
            ArchivePlacement p;
            p.strip = a.strip;
            p.dst = a.dst;
            p.options = a.options;
            p.origin = a.where.str();
            add_archive(b, unpacked, p);
        }
        for (const NvidiaItem& n : layer.nvidia) {
            add_archive(b, unpacked,
                        nvidia_placement(n, n.components.front(), platform_of(c.recipe, n)));
            add_nvidia_layout(b, n);
        }
    } catch (const Error& e) {
        rethrow_at(s.where, e);
    }
    b.add_content("/usr/share/doc/ocibake/stand-in/" + s.package,
                  "This image holds a stand-in for the payload of " + s.package + ": " + s.label() +
                      ", in place of " + s.replaces +
                      ". It is not the real archive: built with --stand-in for tests.\n",
                  0644, 0, 0, s.where.str());
    return b.finish();
}

} // namespace

bool has_archive_layers(const Recipe& recipe) {
    return std::any_of(recipe.layers.begin(), recipe.layers.end(),
                       [](const LayerSpec& l) { return !l.archives.empty() || !l.nvidia.empty(); });
}

std::vector<std::pair<std::string, SourceLocation>> satisfied_installers(const LayerSpec& layer) {
    std::vector<std::pair<std::string, SourceLocation>> out;
    for (const ArchiveItem& a : layer.archives) {
        if (!a.satisfies.empty()) {
            out.emplace_back(a.satisfies, a.satisfies_where);
        }
    }
    for (const NvidiaItem& n : layer.nvidia) {
        if (!n.satisfies.empty()) {
            out.emplace_back(n.satisfies, n.satisfies_where);
        }
    }
    return out;
}

std::vector<StandIn> resolve_stand_ins(const Recipe& recipe, const BuildOptions& options) {
    std::vector<StandIn> out;
    for (const auto& [package, file] : options.stand_ins) {
        std::string flag = "--stand-in " + package + "=" + file.string();
        std::vector<std::string> said; // what the recipe's archives satisfy, for the message
        std::size_t found = 0;
        for (const LayerSpec& layer : recipe.layers) {
            std::string replaces, other;
            SourceLocation where;
            for (const auto& [name, at] : satisfied_installers(layer)) {
                if (name == package) {
                    where = at;
                }
                said.push_back(name);
            }
            if (!where.known()) {
                continue;
            }
            auto append = [](std::string& to, const std::string& what) {
                to += (to.empty() ? "" : ", ") + what;
            };
            for (const ArchiveItem& a : layer.archives) {
                append(a.satisfies == package ? replaces : other, http::redact_url(a.url));
            }
            for (const NvidiaItem& n : layer.nvidia) {
                std::string what = http::redact_url(n.manifest) + " (";
                for (std::size_t i = 0; i < n.components.size(); ++i) {
                    what += (i ? ", " : "") + n.components[i];
                }
                append(n.satisfies == package ? replaces : other, what + ")");
            }
            if (!other.empty()) {
                throw Error(ErrorKind::usage,
                            flag + ": layer '" + layer.name + "' (" + layer.where.str() +
                                ") also has archives that are not " + package + "'s payload (" +
                                other +
                                "); a stand-in replaces a layer's archives whole: put the "
                                "payload in a layer of its own");
            }
            if (!fs::is_regular_file(file)) {
                throw Error(ErrorKind::input, flag + ": no such file");
            }
            ++found;
            StandIn s;
            s.package = package;
            s.layer = layer.name;
            s.where = where;
            s.file = file;
            s.sha256 = sha256_of_file(file);
            s.size = fs::file_size(file);
            s.replaces = replaces;
            out.push_back(std::move(s));
        }
        if (found == 0) {
            std::sort(said.begin(), said.end());
            said.erase(std::unique(said.begin(), said.end()), said.end());
            std::string list;
            for (const std::string& name : said) {
                list += (list.empty() ? "" : ", ") + name;
            }
            throw Error(
                ErrorKind::usage,
                flag + ": no [[layer.archive]] or [[layer.nvidia]] of " + recipe.file.string() +
                    " says satisfies = \"" + package + "\" (" +
                    (list.empty() ? std::string("none says satisfies") : "they satisfy: " + list) +
                    ")");
        }
    }
    std::sort(out.begin(), out.end(), [&](const StandIn& a, const StandIn& b) {
        auto index = [&](const std::string& name) {
            return std::find_if(recipe.layers.begin(), recipe.layers.end(),
                                [&](const LayerSpec& l) { return l.name == name; }) -
                   recipe.layers.begin();
        };
        return index(a.layer) < index(b.layer);
    });
    return out;
}

std::vector<LockedArchiveLayer> lock_archive_layers(const ArchiveContext& c,
                                                    const std::vector<LockedArchiveLayer>& old) {
    std::vector<LockedArchiveLayer> out;
    std::optional<Locker> locker;
    std::vector<StandIn> stand_ins = resolve_stand_ins(c.recipe, c.options);
    for (const LayerSpec& layer : c.recipe.layers) {
        if (layer.archives.empty() && layer.nvidia.empty()) {
            continue;
        }
        if (stand_in_for(stand_ins, layer) != nullptr) {
            // Neither locked nor checked: the file's entry, if any, stays as it is.
            if (const LockedArchiveLayer* pinned = find_layer(old, layer.name)) {
                out.push_back(*pinned);
            }
            continue;
        }
        auto kept = std::find_if(old.begin(), old.end(), [&](const LockedArchiveLayer& l) {
            return l.layer == layer.name && answers(wants_of(c.recipe, layer), l);
        });
        if (kept != old.end()) {
            out.push_back(*kept);
            continue;
        }
        if (!locker) {
            locker.emplace(c);
        }
        out.push_back(locker->lock(layer));
    }
    return out;
}

std::vector<std::vector<LayerEntry>> plan_archive_layers(const ArchiveContext& c, bool& written) {
    std::vector<std::vector<LayerEntry>> out(c.recipe.layers.size());
    if (!has_archive_layers(c.recipe)) {
        return out;
    }
    fs::path lock_file =
        c.options.lock_file.empty() ? lock_path_for(c.recipe.file) : c.options.lock_file;
    Lock lock = read_lock(lock_file).value_or(Lock{});
    std::vector<StandIn> stand_ins = resolve_stand_ins(c.recipe, c.options);
    std::vector<LockedArchiveLayer> fresh;
    if (c.options.update_lock) {
        fresh = lock_archive_layers(c, lock.archives); // as `ocibake lock --update` does
    } else {
        for (const LayerSpec& layer : c.recipe.layers) {
            const LockedArchiveLayer* pinned = lock.archives_for(layer.name);
            if (stand_in_for(stand_ins, layer) != nullptr) {
                continue;
            }
            if (pinned != nullptr && !answers(wants_of(c.recipe, layer), *pinned)) {
                throw RecipeError(ErrorKind::recipe, pinned->where,
                                  "the lock's archives for layer '" + layer.name +
                                      "' are not what the recipe asks for (" + layer.where.str() +
                                      ")",
                                  "run `ocibake lock " + c.recipe.file.string() +
                                      "` to pin them again, or build with --update-lock");
            }
        }
        fresh = lock_archive_layers(c, lock.archives);
    }
    if (!(fresh == lock.archives)) {
        lock.archives = fresh;
        write_lock(lock_file, lock, c.recipe.file.filename().string());
        written = true;
    }
    http::Client client = client_for(c.options);
    unsigned threads = c.options.threads;
    for (std::size_t i = 0; i < c.recipe.layers.size(); ++i) {
        const LayerSpec& layer = c.recipe.layers[i];
        if (const StandIn* s = stand_in_for(stand_ins, layer)) {
            out[i] = stand_in_entries(c, layer, *s, threads);
        } else if (const LockedArchiveLayer* locked = lock.archives_for(layer.name)) {
            out[i] = layer_entries(c, client, layer, *locked, threads);
        }
    }
    return out;
}

} // namespace ocibake::detail

std::string ocibake::StandIn::label() const {
    return sha256.str() + " " + file.filename().string();
}
