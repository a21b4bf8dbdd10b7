#include "bake/apt_layers.hpp"

#include "apt/fetch.hpp"
#include "apt/installer.hpp"
#include "bake/archive_layers.hpp"

#include "common/text.hpp"

#include <algorithm>
#include <optional>
#include <set>

namespace ocibake::detail {

namespace {

std::vector<std::string> request_texts(const LayerSpec& spec) {
    std::vector<std::string> out;
    for (const apt::PackageRequest& r : spec.packages) {
        out.push_back(r.str());
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string list_text(const std::vector<std::string>& items) {
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
        out += (i ? ", " : "") + items[i];
    }
    return out + "]";
}

/// What the resolution of the sources depends on: where they are and what they offer
/// (not their names, nor the keyring's place).
Digest sources_fingerprint(const Recipe& recipe) {
    Sha256 h;
    std::string native = apt_native_arch(recipe);
    auto field = [&](const std::string& s) {
        std::uint64_t n = s.size();
        h.update(&n, sizeof n);
        h.update(s);
    };
    field("ocibake apt-sources 1");
    for (const apt::SourceSpec& s : recipe.apt_sources) {
        field(s.url);
        for (const auto* list : {&s.suites, &s.components}) {
            field(std::to_string(list->size()));
            for (const std::string& item : *list) {
                field(item);
            }
        }
        std::vector<std::string> archs =
            s.architectures.empty() ? std::vector<std::string>{native} : s.architectures;
        field(std::to_string(archs.size()));
        for (const std::string& a : archs) {
            field(a);
        }
        field(std::to_string(s.priority));
        field(s.trusted ? "trusted" : "signed");
    }
    return h.finish();
}

/// What layer k was resolved against: the base's dpkg status and the packages the apt
/// layers before it install.
Digest below_fingerprint(const apt::ImageFacts& base, const std::vector<LockedAptLayer>& before) {
    Sha256 h;
    h.update("ocibake apt-below 1\n");
    h.update(sha256_of(base.file("var/lib/dpkg/status")).str() + "\n");
    for (const LockedAptLayer& layer : before) {
        for (const LockedPackage& p : layer.installs) {
            h.update(p.name + " " + p.version + " " + p.arch + " " + p.sha256.str() + "\n");
        }
    }
    return h.finish();
}

std::vector<apt::InstalledPackage> installed_below(const apt::Index& index,
                                                   const apt::ImageFacts& base,
                                                   const std::vector<LockedAptLayer>& before) {
    std::vector<apt::InstalledPackage> out =
        apt::parse_status(base.file("var/lib/dpkg/status"), "/var/lib/dpkg/status of the base");
    for (const LockedAptLayer& layer : before) {
        for (const LockedPackage& p : layer.installs) {
            // Newer versions replace what is below.
            std::erase_if(out, [&](const apt::InstalledPackage& i) {
                return i.name == p.name && (i.arch == p.arch || i.multi_arch != "same");
            });
            apt::InstalledPackage i;
            i.name = p.name;
            i.version = p.version;
            i.arch = p.arch;
            if (const apt::Candidate* c = index.find(p.name, p.version, p.arch)) {
                i.multi_arch = c->multi_arch;
                i.provides = c->provides;
            }
            out.push_back(std::move(i));
        }
    }
    return out;
}

class Resolution {
public:
    Resolution(const Recipe& recipe, Store& store, const BuildOptions& options)
        : recipe_(recipe), store_(store), options_(options) {}

    /// Resolves one layer; `prefer` are versions to keep where they still fit.
    LockedAptLayer resolve(const LayerSpec& spec, const apt::ImageFacts& base,
                           const std::vector<LockedAptLayer>& before,
                           std::vector<LockedPackage> prefer = {}) {
        const apt::Index& idx = index();
        LockedAptLayer out;
        out.layer = spec.name;
        out.packages = request_texts(spec);
        out.recommends = spec.recommends;
        out.sources = sources_fingerprint(recipe_);
        out.below = below_fingerprint(base, before);
        out.releases = idx.releases;
        apt::ResolveOptions ro;
        ro.recommends = spec.recommends;
        ro.prefer = std::move(prefer);
        try {
            out.installs = apt::resolve(idx, spec.packages, ro, installed_below(idx, base, before));
        } catch (const Error& e) {
            throw RecipeError(e.kind(), spec.packages_where,
                              "layer '" + spec.name + "': " + e.what());
        }
        check_installers(spec, out, idx);
        return out;
    }

    const apt::Index& index() {
        if (!index_) {
            http::Client client = apt_client(recipe_, options_);
            index_ =
                apt::fetch_index(store_, client, recipe_.apt_sources, apt_native_arch(recipe_));
        }
        return *index_;
    }

private:
    /// Refuses an installer package (apt/installer.hpp) whose payload no archive of the
    /// recipe says it provides (`satisfies`).
    void check_installers(const LayerSpec& spec, const LockedAptLayer& layer,
                          const apt::Index& idx) {
        std::set<std::string> satisfied;
        for (const LayerSpec& l : recipe_.layers) {
            for (const auto& [name, where] : satisfied_installers(l)) {
                satisfied.insert(name);
            }
        }
        const auto& listed = apt::detail::listed_installers();
        for (const LockedPackage& p : layer.installs) {
            bool named = std::find(listed.begin(), listed.end(), p.name) != listed.end();
            const apt::Candidate* c = idx.find(p.name, p.version, p.arch);
            if (satisfied.count(p.name) != 0 ||
                (!named && (c == nullptr || !apt::detail::may_download(*c)))) {
                continue;
            }
            http::Client client = apt_client(recipe_, options_);
            apt::detail::fetch_deb(store_, client, p);
            std::optional<apt::detail::InstallerFinding> f = apt::detail::inspect_installer(
                store_, p.sha256, p.name, p.version, apt_native_arch(recipe_), named);
            if (f) {
                refuse_installer(spec, *f);
            }
        }
    }

    [[noreturn]] static void refuse_installer(const LayerSpec& spec,
                                              const apt::detail::InstallerFinding& f) {
        std::string what = "layer '" + spec.name + "': package " + f.package + " " + f.version +
                           " is an installer: " + f.evidence +
                           ", and ocibake runs no maintainer scripts, so the image would "
                           "have nothing of its payload";
        std::string example = "url = \"https://...\"\n  sha256 = \"...\"";
        if (!f.downloads.empty()) {
            what += "; it would have downloaded";
            for (const apt::detail::InstallerDownload& d : f.downloads) {
                what += " " + d.url + (d.checksum.empty() ? "" : " (" + d.checksum + ")");
            }
            const apt::detail::InstallerDownload& d = f.downloads.front();
            std::string algo = d.checksum.starts_with("sha512:") ? "sha512" : "sha256";
            example = "url = \"" + d.url + "\"\n  " + algo + " = \"" +
                      (d.checksum.empty() ? std::string("...") : d.checksum.substr(7)) + "\"";
        }
        throw RecipeError(ErrorKind::input, spec.packages_where, what,
                          "provide the payload in the recipe and say so:\n  [[layer.archive]]\n  " +
                              example + "\n  strip = 1\n  dst = \"...\"\n  satisfies = \"" +
                              f.package + "\"\n(or a [[layer.nvidia]] with satisfies = \"" +
                              f.package + "\"; see docs/apt.md, installer packages)");
    }

    const Recipe& recipe_;
    Store& store_;
    const BuildOptions& options_;
    std::optional<apt::Index> index_;
};

/// Why a lock entry no longer answers the recipe ("" when it does).
std::string stale_reason(const LayerSpec& spec, const LockedAptLayer& entry, const Digest& sources,
                         const Digest& below) {
    std::vector<std::string> asked = request_texts(spec);
    if (entry.packages != asked || entry.recommends != spec.recommends) {
        std::string lock_side =
            list_text(entry.packages) + (entry.recommends ? " with recommends" : "");
        std::string recipe_side = list_text(asked) + (spec.recommends ? " with recommends" : "");
        return "the lock pins the packages of layer '" + spec.name + "' for " + lock_side +
               ", but the recipe asks for " + recipe_side + " at " + spec.packages_where.str();
    }
    if (entry.sources != sources) {
        return "the lock resolved the packages of layer '" + spec.name +
               "' from other apt sources than the recipe's [[apt.source]] (url, suites, "
               "components, architectures or priority changed)";
    }
    if (entry.below != below) {
        return "the lock resolved the packages of layer '" + spec.name +
               "' against other installed packages: the base image's dpkg database or an "
               "earlier layer's packages changed";
    }
    return {};
}

/// What read_lock() cannot know, checked for a layer's pinned packages before any is used:
/// each URL is below one of the recipe's [[apt.source]] URLs (where the resolver found
/// it), and a package already in the cache has the size the lock pins (a cold build checks
/// the size as it downloads; a warm one would otherwise never look).
void check_pinned(const Recipe& recipe, const Store& store, const LockedAptLayer& entry,
                  const std::string& hint) {
    for (const LockedPackage& p : entry.installs) {
        bool below =
            std::any_of(recipe.apt_sources.begin(), recipe.apt_sources.end(),
                        [&](const apt::SourceSpec& s) { return p.url.starts_with(s.url + "/"); });
        if (!below) {
            throw RecipeError(ErrorKind::recipe, p.where,
                              "package " + p.name + " (" + p.arch + ") of layer '" + entry.layer +
                                  "': the url " + detail::printable(p.url) +
                                  " is not below the url of any [[apt.source]] of the recipe",
                              hint);
        }
        std::optional<std::uint64_t> size = store.blob_size(p.sha256);
        if (size && *size != p.size) {
            throw RecipeError(ErrorKind::integrity, p.where,
                              "package " + p.name + " (" + p.arch + ") of layer '" + entry.layer +
                                  "': the lock pins " + std::to_string(p.size) +
                                  " bytes, but the file of its sha256 (" + p.sha256.str() +
                                  ", in the cache) has " + std::to_string(*size),
                              hint);
        }
    }
}

} // namespace

bool has_apt_layers(const Recipe& recipe) {
    return std::any_of(recipe.layers.begin(), recipe.layers.end(),
                       [](const LayerSpec& l) { return !l.packages.empty(); });
}

bool uses_image_below(const Recipe& recipe) {
    return std::any_of(recipe.layers.begin(), recipe.layers.end(),
                       [](const LayerSpec& l) { return l.uses_image_below(); });
}

std::string apt_native_arch(const Recipe& recipe) {
    return apt::dpkg_architecture(recipe.platform.architecture, recipe.platform.variant);
}

http::Client apt_client(const Recipe& recipe, const BuildOptions& options) {
    http::Options o = options.registry.http;
    auto allow = [&](const std::string& url) {
        if (url.starts_with("http://")) {
            o.insecure_hosts.push_back(http::host_of(url));
        }
    };
    for (const apt::SourceSpec& s : recipe.apt_sources) {
        allow(s.url);
        // Mirrors and snapshots too: what they serve is checked against the lock's sha256.
        for (const std::string& mirror : s.mirrors) {
            allow(mirror);
        }
        allow(s.snapshot.value_or(""));
    }
    return http::Client(o);
}

void keep_release_dates(std::vector<LockedAptLayer>& fresh,
                        const std::vector<LockedAptLayer>& old) {
    for (LockedAptLayer& layer : fresh) {
        for (const LockedAptLayer& before : old) {
            if (before.layer == layer.layer && !before.releases.empty() &&
                before.packages == layer.packages && before.recommends == layer.recommends &&
                before.sources == layer.sources && before.below == layer.below &&
                before.installs == layer.installs) {
                layer.releases = before.releases;
            }
        }
    }
}

std::unique_ptr<apt::detail::Fallbacks> apt_fallbacks(const Recipe& recipe,
                                                      const std::vector<LockedAptLayer>& locked) {
    auto out = std::make_unique<apt::detail::Fallbacks>();
    for (const LockedAptLayer& layer : locked) {
        for (const LockedPackage& p : layer.installs) {
            // The source the package came from: the longest url it is below.
            const apt::SourceSpec* source = nullptr;
            for (const apt::SourceSpec& s : recipe.apt_sources) {
                if (p.url.starts_with(s.url + "/") &&
                    (source == nullptr || s.url.size() > source->url.size())) {
                    source = &s;
                }
            }
            if (source != nullptr) {
                out->add(p.sha256, apt::fallback_places(*source, layer.releases, p));
            }
        }
    }
    return out;
}

struct AptLocker::Impl {
    Impl(const Recipe& r, Store& s, const BuildOptions& o, const apt::ImageFacts& b)
        : recipe(r), resolution(r, s, o), base(b) {}
    const Recipe& recipe;
    Resolution resolution;
    const apt::ImageFacts& base;
};

AptLocker::AptLocker(const Recipe& recipe, Store& store, const BuildOptions& options,
                     const apt::ImageFacts& base)
    : impl_(std::make_unique<Impl>(recipe, store, options, base)) {}

AptLocker::~AptLocker() = default;

std::vector<LockedAptLayer>
AptLocker::lock(const std::vector<LockedAptLayer>& old, bool keep_current,
                const std::function<bool(const LockedPackage&)>& may_move) {
    Digest sources = sources_fingerprint(impl_->recipe);
    std::vector<LockedAptLayer> out;
    for (const LayerSpec& spec : impl_->recipe.layers) {
        if (spec.packages.empty()) {
            continue;
        }
        auto entry = std::find_if(old.begin(), old.end(),
                                  [&](const LockedAptLayer& l) { return l.layer == spec.name; });
        if (entry == old.end()) {
            out.push_back(impl_->resolution.resolve(spec, impl_->base, out));
            continue;
        }
        if (keep_current &&
            stale_reason(spec, *entry, sources, below_fingerprint(impl_->base, out)).empty()) {
            out.push_back(*entry);
            continue;
        }
        std::vector<LockedPackage> prefer;
        for (const LockedPackage& p : entry->installs) {
            if (!may_move || !may_move(p)) {
                prefer.push_back(p);
            }
        }
        out.push_back(impl_->resolution.resolve(spec, impl_->base, out, std::move(prefer)));
    }
    return out;
}

const apt::Candidate* AptLocker::offered(const LockedPackage& p) {
    return impl_->resolution.index().find(p.name, p.version, p.arch);
}

std::vector<LockedAptLayer> locked_apt_layers(const Recipe& recipe, Store& store,
                                              const BuildOptions& options,
                                              const apt::ImageFacts& base,
                                              const std::filesystem::path& lock_file,
                                              bool& written) {
    Lock lock = read_lock(lock_file).value_or(Lock{});
    Resolution resolution(recipe, store, options);
    Digest sources = sources_fingerprint(recipe);
    std::string hint = "run `ocibake lock " + recipe.file.string() +
                       "` to resolve the packages again (a build without --locked does it too)";
    std::vector<LockedAptLayer> out;
    bool changed = false;
    for (const LayerSpec& spec : recipe.layers) {
        if (spec.packages.empty()) {
            continue;
        }
        auto entry = std::find_if(lock.apt.begin(), lock.apt.end(),
                                  [&](const LockedAptLayer& l) { return l.layer == spec.name; });
        if (entry == lock.apt.end() && options.locked) {
            throw RecipeError(ErrorKind::recipe, spec.packages_where,
                              "the lock " + lock_file.string() +
                                  " has no entry for the packages of layer '" + spec.name +
                                  "', and --locked forbids adding one",
                              hint);
        }
        if (entry == lock.apt.end() || options.update_lock) {
            out.push_back(resolution.resolve(spec, base, out));
            if (entry != lock.apt.end()) {
                keep_release_dates(out, {*entry});
            }
            changed = true;
            continue;
        }
        if (std::string why = stale_reason(spec, *entry, sources, below_fingerprint(base, out));
            !why.empty()) {
            throw RecipeError(ErrorKind::recipe, entry->where, why, hint);
        }
        check_pinned(recipe, store, *entry, hint);
        out.push_back(*entry);
    }
    if (changed) {
        lock.apt = out;
        write_lock(lock_file, lock, recipe.file.filename().string());
        written = true;
    }
    return out;
}

ImageSplit split_image(const Recipe& recipe, const std::vector<LockedAptLayer>& locked,
                       const std::vector<bool>& own_entries, std::size_t base_layers) {
    ImageSplit out;
    auto installs = [&](const LayerSpec& spec) -> const std::vector<LockedPackage>* {
        for (const LockedAptLayer& l : locked) {
            if (l.layer == spec.name) {
                return &l.installs;
            }
        }
        return nullptr;
    };
    // The parts of every layer with packages, split as finely as the budget allows.
    out.parts.resize(recipe.layers.size());
    for (;;) {
        std::size_t count = base_layers + 1; // the state layer
        bool splits = false;
        for (std::size_t k = 0; k < recipe.layers.size(); ++k) {
            const LayerSpec& spec = recipe.layers[k];
            const std::vector<LockedPackage>* packages = installs(spec);
            out.parts[k] =
                packages ? apt::detail::split_packages(spec.name, *packages, spec.split, out.split)
                         : std::vector<apt::detail::PartPlan>{};
            splits = splits || out.parts[k].size() > 1;
            count += out.parts[k].empty() ? 1 : out.parts[k].size() + (own_entries[k] ? 1 : 0);
        }
        if (count <= recipe.build.max_layers) {
            break;
        }
        if (!splits) {
            throw Error(ErrorKind::input,
                        recipe.file.string() + ": the image would have " + std::to_string(count) +
                            " layers (" + std::to_string(base_layers) +
                            " of the base, 1 for the state), more than [build] max_layers = " +
                            std::to_string(recipe.build.max_layers) +
                            " even with every layer's packages in one layer");
        }
        out.split.threshold *= 2;
        out.split.modulus *= 2;
    }
    return out;
}

ImagePlan plan_image(const Recipe& recipe, const std::vector<LockedAptLayer>& locked,
                     std::vector<std::vector<LayerEntry>> entries,
                     const std::vector<LayerOptions>& options, const LayerOptions& state,
                     std::size_t base_layers) {
    using apt::detail::ImageItem;
    ImagePlan plan;
    for (const LayerSpec& spec : recipe.layers) {
        apt::detail::StateDecl decl;
        decl.accounts = spec.accounts;
        decl.groups = spec.groups;
        decl.alternatives = spec.alternatives;
        decl.ldconfig = spec.ldconfig || !spec.nvidia.empty(); // NVIDIA's libraries are loadable
        decl.uses_image_below = spec.uses_image_below();
        plan.layers.push_back(std::move(decl));
    }
    std::vector<bool> own_entries;
    for (const std::vector<LayerEntry>& e : entries) {
        own_entries.push_back(!e.empty());
    }
    ImageSplit split = split_image(recipe, locked, own_entries, base_layers);
    plan.split = split.split;
    std::vector<std::vector<apt::detail::PartPlan>>& parts = split.parts;
    for (std::size_t k = 0; k < recipe.layers.size(); ++k) {
        const LayerSpec& spec = recipe.layers[k];
        for (apt::detail::PartPlan& part : parts[k]) {
            ImageItem item;
            item.kind = ImageItem::Kind::part;
            item.name = std::move(part.name);
            item.layer = k;
            item.packages = std::move(part.packages);
            item.options = options[k];
            plan.items.push_back(std::move(item));
        }
        if (parts[k].empty() || !entries[k].empty()) {
            ImageItem item;
            item.kind = ImageItem::Kind::entries;
            item.name = parts[k].empty() ? spec.name : spec.name + "/files";
            item.layer = k;
            item.entries = std::move(entries[k]);
            item.options = options[k];
            plan.items.push_back(std::move(item));
        }
    }
    ImageItem top;
    top.kind = ImageItem::Kind::state;
    top.name = "state";
    top.layer = recipe.layers.size();
    top.options = state;
    plan.items.push_back(std::move(top));
    return plan;
}

} // namespace ocibake::detail
