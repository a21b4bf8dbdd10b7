// `ocibake lock`, `lock --update` and `outdated`: the lock made again, keeping or moving
// its pins (docs/lock.md), compared with the lock it replaces, and what the image will
// rebuild because of it.
#include "ocibake/build.hpp"

#include "bake/apt_layers.hpp"
#include "bake/archive_layers.hpp"
#include "bake/python_layers.hpp"
#include "bake/steps.hpp"
#include "common/thread_pool.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <set>

namespace ocibake {

bool LockDiff::security() const noexcept {
    return std::any_of(changes.begin(), changes.end(),
                       [](const LockChange& c) { return c.security; });
}

namespace {

/// What `--only` names: apt packages or their source packages, wheels, or the base.
class Selection {
public:
    Selection(const Recipe& recipe, const std::vector<std::string>& only, const Lock& old,
              const std::filesystem::path& lock_file)
        : recipe_(recipe) {
        for (const std::string& name : only) {
            names_.insert(name);
            names_.insert(python::normalize_name(name));
        }
        for (const std::string& name : only) {
            if (!matches_anything(name, old)) {
                throw Error(ErrorKind::usage,
                            "--only " + name + ": the lock " + lock_file.string() +
                                " pins no apt package, source package or wheel of that name, "
                                "and no base of that reference");
            }
        }
    }

    bool everything() const noexcept { return names_.empty(); }

    bool package(const LockedPackage& p) const {
        return everything() || names_.count(p.name) != 0 || names_.count(p.source) != 0;
    }
    bool wheel(const LockedWheel& w) const {
        return everything() || names_.count(python::normalize_name(w.name)) != 0;
    }
    bool base() const { return everything() || base_named_; }

    /// Some apt package (or wheel) of the lock is named.
    bool any_package(const Lock& lock) const {
        for (const LockedAptLayer& l : lock.apt) {
            for (const LockedPackage& p : l.installs) {
                if (package(p)) {
                    return true;
                }
            }
        }
        return false;
    }
    bool any_wheel(const Lock& lock) const {
        for (const LockedPython& l : lock.python) {
            for (const LockedWheel& w : l.wheels) {
                if (wheel(w)) {
                    return true;
                }
            }
        }
        return false;
    }

private:
    bool matches_anything(const std::string& name, const Lock& old) {
        bool any = false;
        for (const LockedAptLayer& l : old.apt) {
            for (const LockedPackage& p : l.installs) {
                any = any || p.name == name || p.source == name;
            }
        }
        for (const LockedPython& l : old.python) {
            for (const LockedWheel& w : l.wheels) {
                any = any || w.name == python::normalize_name(name);
            }
        }
        if (!recipe_.base.ref.empty()) {
            std::string ref;
            try {
                ref = registry::Reference::parse(name).str();
            } catch (const Error&) {
            }
            if (name == recipe_.base.ref || ref == recipe_.base.ref) {
                base_named_ = true;
                any = true;
            }
        }
        return any;
    }

    const Recipe& recipe_;
    std::set<std::string> names_;
    bool base_named_ = false;
};

std::string key_of(const LockedPackage& p) {
    return p.name + ":" + p.arch;
}

/// Why an apt package moves though nothing asked it to ("" when something did).
class AptReasons {
public:
    AptReasons(detail::AptLocker& locker, const LayerSpec& spec, const LockedAptLayer* before,
               const LockedAptLayer& after)
        : locker_(locker), spec_(spec), after_(after) {
        if (before != nullptr) {
            for (const LockedPackage& p : before->installs) {
                old_[p.name] = &p;
            }
        }
        for (const LockedPackage& p : after.installs) {
            auto it = old_.find(p.name);
            if (it == old_.end() || it->second->version != p.version) {
                moved_.push_back(&p);
            }
        }
    }

    std::string added(const LockedPackage& p) const {
        for (const apt::PackageRequest& r : spec_.packages) {
            if (r.name == p.name) {
                return "layer '" + spec_.name + "' asks for it";
            }
        }
        for (const LockedPackage& q : after_.installs) {
            const apt::Candidate* c = locker_.offered(q);
            if (c == nullptr || q.name == p.name) {
                continue;
            }
            for (const auto* deps : {&c->pre_depends, &c->depends}) {
                for (const apt::Dependency& dep : *deps) {
                    for (const apt::Relation& r : dep) {
                        if (r.name == p.name) {
                            return "a new dependency: " + q.name + " " + q.version +
                                   " depends on " + r.str();
                        }
                    }
                }
            }
        }
        return "a new dependency";
    }

    std::string moved(const LockedPackage& was, const LockedPackage& now) const {
        if (locker_.offered(was) == nullptr) {
            return "the apt sources no longer offer " + was.name + " " + was.version;
        }
        // A package that moves needs the new version (or breaks the old one).
        for (const LockedPackage* q : moved_) {
            const apt::Candidate* c = locker_.offered(*q);
            if (c == nullptr || q->name == now.name) {
                continue;
            }
            for (const auto* deps : {&c->pre_depends, &c->depends}) {
                for (const apt::Dependency& dep : *deps) {
                    for (const apt::Relation& r : dep) {
                        if (r.name == now.name && !apt::satisfies(was.version, r.op, r.version)) {
                            return "needed by " + q->name + " " + q->version +
                                   ", which depends on " + r.str();
                        }
                    }
                }
            }
            for (const auto* deps : {&c->breaks, &c->conflicts}) {
                for (const apt::Dependency& dep : *deps) {
                    for (const apt::Relation& r : dep) {
                        if (r.name == now.name && apt::satisfies(was.version, r.op, r.version)) {
                            return q->name + " " + q->version +
                                   (deps == &c->breaks ? " breaks " : " conflicts with ") + r.str();
                        }
                    }
                }
            }
        }
        // The old version needs the old version of a package that moves.
        const apt::Candidate* old = locker_.offered(was);
        for (const auto* deps : {&old->pre_depends, &old->depends}) {
            for (const apt::Dependency& dep : *deps) {
                for (const apt::Relation& r : dep) {
                    for (const LockedPackage* q : moved_) {
                        if (r.name == q->name && !apt::satisfies(q->version, r.op, r.version)) {
                            return was.name + " " + was.version + " depends on " + r.str() +
                                   ", and " + q->name + " moves to " + q->version;
                        }
                    }
                }
            }
        }
        return "moves with the packages that are updated";
    }

private:
    detail::AptLocker& locker_;
    const LayerSpec& spec_;
    const LockedAptLayer& after_;
    std::map<std::string, const LockedPackage*> old_;
    std::vector<const LockedPackage*> moved_;
};

const LayerSpec& spec_of(const Recipe& recipe, const std::string& layer) {
    for (const LayerSpec& spec : recipe.layers) {
        if (spec.name == layer) {
            return spec;
        }
    }
    throw Error(ErrorKind::internal, "no layer '" + layer + "' in the recipe");
}

/// The entries of two maps by key, in key order: each key of either, with its entry on
/// each side (nullptr where it is absent) when the two differ.
template <typename T>
std::vector<std::pair<const T*, const T*>>
changed_pairs(const std::map<std::string, const T*>& was,
              const std::map<std::string, const T*>& now) {
    std::set<std::string> keys;
    for (const auto& [k, e] : was) {
        keys.insert(k);
    }
    for (const auto& [k, e] : now) {
        keys.insert(k);
    }
    std::vector<std::pair<const T*, const T*>> out;
    for (const std::string& k : keys) {
        auto a = was.find(k);
        auto b = now.find(k);
        const T* before = a == was.end() ? nullptr : a->second;
        const T* after = b == now.end() ? nullptr : b->second;
        if (before == nullptr || after == nullptr || !(*before == *after)) {
            out.emplace_back(before, after);
        }
    }
    return out;
}

/// The apt part of the diff: one change per package that differs, by name and arch.
void diff_apt(const Recipe& recipe, const Lock& before, const Lock& after,
              detail::AptLocker* locker, const std::function<bool(const LockedPackage&)>& freed,
              std::vector<LockChange>& out) {
    for (const LockedAptLayer& layer : after.apt) {
        const LockedAptLayer* old = nullptr;
        for (const LockedAptLayer& l : before.apt) {
            if (l.layer == layer.layer) {
                old = &l;
            }
        }
        std::map<std::string, const LockedPackage*> was, now;
        if (old != nullptr) {
            for (const LockedPackage& p : old->installs) {
                was[key_of(p)] = &p;
            }
        }
        for (const LockedPackage& p : layer.installs) {
            now[key_of(p)] = &p;
        }
        std::optional<AptReasons> reasons;
        for (const auto& [a, b] : changed_pairs(was, now)) {
            if (!reasons) {
                reasons.emplace(*locker, spec_of(recipe, layer.layer), old, layer);
            }
            LockChange c;
            c.kind = LockChange::Kind::apt;
            c.layer = layer.layer;
            const LockedPackage& any = b != nullptr ? *b : *a;
            c.name = any.name;
            c.arch = any.arch;
            c.source = any.source;
            c.from = a != nullptr ? a->version : "";
            c.to = b != nullptr ? b->version : "";
            if (b != nullptr) {
                c.size = b->size;
                const apt::Candidate* offered = locker->offered(*b);
                c.security = offered != nullptr && offered->security;
            }
            if (b == nullptr) {
                c.reason = "no longer needed";
            } else if (a == nullptr) {
                c.reason = reasons->added(*b);
            } else if (a->version == b->version) {
                c.reason = "the same version, another file (" + b->sha256.str() + ")";
            } else if (!freed || !freed(*a)) {
                c.reason = reasons->moved(*a, *b);
            }
            out.push_back(std::move(c));
        }
    }
    // Layers whose packages all leave (the recipe no longer lists packages there).
    for (const LockedAptLayer& old : before.apt) {
        bool kept = std::any_of(after.apt.begin(), after.apt.end(),
                                [&](const LockedAptLayer& l) { return l.layer == old.layer; });
        if (kept) {
            continue;
        }
        for (const LockedPackage& p : old.installs) {
            LockChange c;
            c.layer = old.layer;
            c.name = p.name;
            c.arch = p.arch;
            c.source = p.source;
            c.from = p.version;
            c.reason = "the recipe no longer installs packages in layer '" + old.layer + "'";
            out.push_back(std::move(c));
        }
    }
}

/// The Python part of the diff: one change per wheel that differs, by name.
void diff_python(const Recipe& recipe, const Lock& before, const Lock& after,
                 const std::function<bool(const LockedWheel&)>& freed,
                 std::vector<LockChange>& out) {
    auto input_of = [&](const std::string& layer) {
        for (const LayerSpec& spec : recipe.layers) {
            if (spec.name == layer && spec.python) {
                return spec.python->requirements.empty() ? spec.python->pylock_display
                                                         : spec.python->requirements_display;
            }
        }
        return std::string("the recipe");
    };
    auto by_name = [](const LockedPython* l) {
        std::map<std::string, const LockedWheel*> out;
        if (l != nullptr) {
            for (const LockedWheel& w : l->wheels) {
                out[w.name] = &w;
            }
        }
        return out;
    };
    std::set<std::string> layers;
    for (const LockedPython& l : before.python) {
        layers.insert(l.layer);
    }
    for (const LockedPython& l : after.python) {
        layers.insert(l.layer);
    }
    for (const LayerSpec& spec : recipe.layers) {
        if (layers.count(spec.name) == 0) {
            continue;
        }
        auto was = by_name(before.python_for(spec.name));
        auto now = by_name(after.python_for(spec.name));
        for (const auto& [a, b] : changed_pairs(was, now)) {
            LockChange c;
            c.kind = LockChange::Kind::wheel;
            c.layer = spec.name;
            c.name = (b != nullptr ? b : a)->name;
            c.from = a != nullptr ? a->version : "";
            c.to = b != nullptr ? b->version : "";
            if (b != nullptr) {
                c.file = b->file;
                c.size = b->size;
            }
            if (b == nullptr) {
                c.reason = input_of(spec.name) + " no longer asks for it";
            } else if (a == nullptr) {
                c.reason = input_of(spec.name) + " asks for it";
            } else if (!freed || !freed(*a)) {
                c.reason = input_of(spec.name) + " no longer allows " + a->file;
            } else if (a->version == b->version) {
                c.reason = "another file: " + b->file;
            }
            out.push_back(std::move(c));
        }
    }
}

/// The archives whose pins move, arrive or leave, layer by layer in the recipe's order: an
/// NVIDIA component is known by its name, any other archive by its URL.
void diff_archives(const Recipe& recipe, const Lock& before, const Lock& after,
                   std::vector<LockChange>& out) {
    auto key_of = [](const LockedArchive& a) {
        return a.component.empty() ? "url " + a.url : "component " + a.component;
    };
    auto by_key = [&](const LockedArchiveLayer* l) {
        std::map<std::string, const LockedArchive*> m;
        if (l != nullptr) {
            for (const LockedArchive& a : l->files) {
                m.emplace(key_of(a), &a);
            }
        }
        return m;
    };
    auto digest_text = [](const LockedArchive& a) {
        return "sha256:" + a.sha256.hex().substr(0, 12);
    };
    for (const LayerSpec& spec : recipe.layers) {
        auto was = by_key(before.archives_for(spec.name));
        auto now = by_key(after.archives_for(spec.name));
        for (const auto& [a, b] : changed_pairs(was, now)) {
            const LockedArchive& any = b != nullptr ? *b : *a;
            LockChange c;
            c.kind = LockChange::Kind::archive;
            c.layer = spec.name;
            c.name = any.component.empty() ? std::filesystem::path(any.url).filename().string()
                                           : any.component;
            c.from = a == nullptr ? "" : a->version.empty() ? digest_text(*a) : a->version;
            c.to = b == nullptr ? "" : b->version.empty() ? digest_text(*b) : b->version;
            if (a != nullptr && b != nullptr && c.from == c.to) {
                c.from = digest_text(*a); // the same version, another file
                c.to = digest_text(*b);
            }
            if (b != nullptr) {
                c.file = b->url;
                c.size = b->size;
            }
            if (b == nullptr) {
                c.reason = "the recipe no longer names it";
            } else if (a == nullptr) {
                c.reason = "the recipe names it";
            } else if (!b->manifest.empty()) {
                c.reason = "as " + b->manifest + " lists it";
            } else {
                c.reason = a->url == b->url ? "the recipe names another digest"
                                            : "the recipe names another file";
            }
            out.push_back(std::move(c));
        }
    }
}

/// The layers of the base as a lock pins it (a layout base as it is; none for scratch).
std::vector<LayerResult> base_layers_of(Store& store, const Recipe& recipe,
                                        const std::optional<LockedBase>& pinned,
                                        const BuildOptions& options) {
    if (pinned) {
        return registry::load_registry_base(store, registry::Reference::parse(pinned->ref),
                                            pinned->manifest, recipe.platform, options.registry)
            .layers;
    }
    if (!recipe.base.scratch() && recipe.base.ref.empty()) {
        return load_oci_layout(store, recipe.base.layout, recipe.base.tag, recipe.platform).layers;
    }
    return {};
}

/// The base's layers before and after, as far as they are known (an old base that is gone
/// from its registry has none: every layer of the new one is new).
struct BaseLayers {
    std::vector<LayerResult> before;
    std::vector<LayerResult> after;
};

BaseLayers base_layers(Store& store, const Recipe& recipe, const Lock& before, const Lock& after,
                       bool moved, const BuildOptions& options) {
    BaseLayers out;
    try {
        out.after = base_layers_of(store, recipe, after.base, options);
    } catch (const RecipeError&) {
        throw;
    } catch (const Error& e) {
        detail::rethrow_at(recipe.base.where, e);
    }
    if (!moved) {
        out.before = out.after;
        return out;
    }
    if (!before.base) {
        return out; // a first lock: every layer is new
    }
    try {
        out.before = base_layers_of(store, recipe, before.base, options);
    } catch (const Error&) {
        // The old base is gone: every layer of the new one is new.
    }
    return out;
}

/// A part's packages as its key sees them (name, version, arch, sha256: not the URL).
bool same_packages(const std::vector<LockedPackage>& a, const std::vector<LockedPackage>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](const LockedPackage& x, const LockedPackage& y) {
                          return x.name == y.name && x.version == y.version && x.arch == y.arch &&
                                 x.sha256 == y.sha256;
                      });
}

std::string change_text(const LockChange& c) {
    return c.name + " " + (c.from.empty() ? "-" : c.from) + " -> " + (c.to.empty() ? "-" : c.to);
}

/// Why a group of changes moves a layer: the one change, or how many ("3 packages").
std::string changes_text(const std::vector<const LockChange*>& changes, const char* many) {
    if (changes.size() == 1) {
        return change_text(*changes.front());
    }
    return std::to_string(changes.size()) + " " + many + " change";
}

/// The layers of the new image whose digests change, and what a pull fetches for them,
/// predicted from the locks alone (docs/lock.md):
///
/// - the base: its layers the old base did not have (their digests and sizes are known);
/// - when some layer is built on the image below (the image is made of parts and a state
///   layer, docs/apt.md): each part whose packages (name, version, arch, sha256) differ
///   from the old lock's part of that name, found by splitting both locks as a build
///   does; the layer of a recipe layer's own files and wheels when a wheel changes; the
///   state layer when an apt package or the base changes (the dpkg status does);
/// - otherwise: each Python layer whose wheels change.
///
/// A part is keyed on the facts of the image below that it uses (a path it shares with a
/// package below, a package it upgrades): one whose packages stay but whose facts change
/// is not predicted (the build's comparison shows it). Nor is the state layer on a wheel
/// change (it changes only when the wheel's files change what ldconfig finds).
std::vector<LayerForecast> forecast(const Recipe& recipe, const Lock& before, const Lock& after,
                                    const LockDiff& diff, const BaseLayers& base) {
    std::vector<LayerForecast> out;
    if (diff.base) {
        std::set<Digest> had;
        for (const LayerResult& l : base.before) {
            had.insert(l.descriptor.digest);
        }
        for (const LayerResult& l : base.after) {
            if (had.count(l.descriptor.digest) == 0) {
                LayerForecast f;
                f.name = "base";
                f.why = "a layer of the new base";
                f.bytes = static_cast<std::uint64_t>(l.descriptor.size);
                f.digest = l.descriptor.digest;
                out.push_back(std::move(f));
            }
        }
    }
    auto changes_of = [&](const std::string& layer, LockChange::Kind kind) {
        std::vector<const LockChange*> v;
        for (const LockChange& c : diff.changes) {
            if (c.layer == layer && c.kind == kind) {
                v.push_back(&c);
            }
        }
        return v;
    };
    // The layer of a recipe layer's own entries: its archives (NVIDIA components included)
    // and wheels, whose sizes stand for its size.
    auto own_entries_layer = [&](const LayerSpec& spec, const std::string& name) {
        std::vector<const LockChange*> wheels = changes_of(spec.name, LockChange::Kind::wheel);
        std::vector<const LockChange*> archives = changes_of(spec.name, LockChange::Kind::archive);
        if (wheels.empty() && archives.empty()) {
            return;
        }
        LayerForecast f;
        f.name = name;
        f.layer = spec.name;
        if (archives.empty()) {
            f.why = changes_text(wheels, "wheels");
        } else if (wheels.empty()) {
            f.why = changes_text(archives, "archives");
        } else {
            f.why = changes_text(archives, "archives") + "; " + changes_text(wheels, "wheels");
        }
        std::uint64_t bytes = 0;
        if (const LockedPython* l = after.python_for(spec.name)) {
            for (const LockedWheel& w : l->wheels) {
                bytes += w.size;
            }
        }
        if (const LockedArchiveLayer* l = after.archives_for(spec.name)) {
            for (const LockedArchive& a : l->files) {
                bytes += a.size;
            }
        }
        f.bytes = bytes;
        out.push_back(std::move(f));
    };
    if (!detail::uses_image_below(recipe)) {
        for (const LayerSpec& spec : recipe.layers) {
            own_entries_layer(spec, spec.name);
        }
        return out;
    }
    std::vector<bool> own_entries;
    for (const LayerSpec& spec : recipe.layers) {
        own_entries.push_back(!spec.copies.empty() || !spec.files.empty() ||
                              spec.python.has_value() || !spec.archives.empty() ||
                              !spec.nvidia.empty());
    }
    detail::ImageSplit now = detail::split_image(recipe, after.apt, own_entries, base.after.size());
    detail::ImageSplit was;
    try {
        was = detail::split_image(recipe, before.apt, own_entries, base.before.size());
    } catch (const Error&) {
        // The old lock did not fit the budget: every part of the new one is new.
        was.parts.assign(recipe.layers.size(), {});
    }
    bool apt_changes = false;
    for (std::size_t k = 0; k < recipe.layers.size(); ++k) {
        const LayerSpec& spec = recipe.layers[k];
        std::vector<const LockChange*> packages = changes_of(spec.name, LockChange::Kind::apt);
        apt_changes = apt_changes || !packages.empty();
        for (const apt::detail::PartPlan& part : now.parts[k]) {
            auto old =
                std::find_if(was.parts[k].begin(), was.parts[k].end(),
                             [&](const apt::detail::PartPlan& p) { return p.name == part.name; });
            if (old != was.parts[k].end() && same_packages(old->packages, part.packages)) {
                continue;
            }
            std::vector<const LockChange*> in_part;
            for (const LockChange* c : packages) {
                if (std::any_of(part.packages.begin(), part.packages.end(),
                                [&](const LockedPackage& p) {
                                    return p.name == c->name && p.arch == c->arch;
                                })) {
                    in_part.push_back(c);
                }
            }
            LayerForecast f;
            f.name = part.name;
            f.layer = spec.name;
            f.why = !in_part.empty() ? changes_text(in_part, "packages")
                    : old == was.parts[k].end()
                        ? "a new part (the split of the layer's packages moved)"
                        : "its packages are grouped anew (the split of the layer's packages "
                          "moved)";
            std::uint64_t bytes = 0;
            for (const LockedPackage& p : part.packages) {
                bytes += p.size;
            }
            f.bytes = bytes;
            out.push_back(std::move(f));
        }
        own_entries_layer(spec, now.parts[k].empty() ? spec.name : spec.name + "/files");
    }
    if (apt_changes || diff.base) {
        LayerForecast f;
        f.name = "state";
        f.why = apt_changes ? "the dpkg status changes (whole-image state)"
                            : "the base's dpkg status may change (whole-image state)";
        out.push_back(std::move(f));
    }
    return out;
}

/// The base image's facts for the apt layers (the base as the new lock pins it).
apt::ImageFacts lock_base_facts(Store& store, const Recipe& recipe,
                                const std::optional<LockedBase>& pinned,
                                const BuildOptions& options) {
    if (recipe.base.scratch()) {
        return {};
    }
    try {
        SourceImage base =
            pinned
                ? registry::load_registry_base(store, registry::Reference::parse(pinned->ref),
                                               pinned->manifest, recipe.platform, options.registry)
                : load_oci_layout(store, recipe.base.layout, recipe.base.tag, recipe.platform);
        return detail::base_facts(store, base.layers, base.remote_blobs, options);
    } catch (const RecipeError&) {
        throw;
    } catch (const Error& e) {
        detail::rethrow_at(recipe.base.where, e);
    }
}

/// The base's layer blobs for the Python planner (the base as the new lock pins it).
std::vector<LayerResult> lock_base_layers(Store& store, const Recipe& recipe,
                                          const std::optional<LockedBase>& pinned,
                                          const BuildOptions& options) {
    Image image;
    try {
        SourceImage base;
        if (pinned) {
            base =
                registry::load_registry_base(store, registry::Reference::parse(pinned->ref),
                                             pinned->manifest, recipe.platform, options.registry);
        } else if (!recipe.base.scratch()) {
            base = load_oci_layout(store, recipe.base.layout, recipe.base.tag, recipe.platform);
        }
        image.remote_blobs = base.remote_blobs;
        for (const auto& layer : base.layers) {
            image.layers.push_back({layer, std::nullopt});
        }
        return detail::local_base_layers(store, image, options);
    } catch (const RecipeError&) {
        throw;
    } catch (const Error& e) {
        detail::rethrow_at(recipe.base.where, e);
    }
}

} // namespace

LockResult lock_recipe(const Recipe& recipe, const BuildOptions& options,
                       const LockOptions& lock_options) {
    const LockOptions& lo = lock_options;
    if (!lo.update && (!lo.only.empty() || lo.security_only)) {
        throw Error(ErrorKind::usage, "--only and --security-only choose what --update moves: "
                                      "give --update too");
    }
    LockResult result;
    result.file = detail::lock_file_of(recipe, options);
    std::optional<Lock> old;
    try {
        old = read_lock(result.file);
    } catch (const RecipeError& e) {
        if (e.kind() != ErrorKind::recipe || lo.dry_run) {
            throw;
        }
        // A lock that does not parse is what `ocibake lock` remakes: it is replaced.
    }
    const Lock before = old.value_or(Lock{});
    Selection only(recipe, lo.only, before, result.file);
    // What may move: everything (--update), what --only names, or (--security-only)
    // the sources with a security update, found below.
    bool moving = lo.update;
    Lock lock;
    Store store(options.cache_dir.empty() ? Store::default_root() : options.cache_dir);

    if (!recipe.base.ref.empty()) {
        bool current = before.base && before.base->ref == recipe.base.ref &&
                       before.base->platform == recipe.platform.str();
        bool move = moving && !lo.security_only && only.base();
        lock.base = current && !move ? *before.base : detail::resolve_base(recipe, options);
    }

    std::optional<detail::AptLocker> locker;
    apt::ImageFacts facts;
    std::function<bool(const LockedPackage&)> apt_freed;
    if (detail::has_apt_layers(recipe)) {
        facts = lock_base_facts(store, recipe, lock.base, options);
        locker.emplace(recipe, store, options, facts);
        bool keep =
            !moving || (!lo.security_only && !only.everything() && !only.any_package(before));
        if (keep) {
            lock.apt = locker->lock(before.apt, true, nullptr);
        } else if (lo.security_only) {
            // Where every package would go; the sources whose new version a security suite
            // offers (and that --only names) move, with what must move with them.
            std::vector<LockedAptLayer> fresh =
                locker->lock(before.apt, false, [](const LockedPackage&) { return true; });
            Lock all = before;
            all.apt = fresh;
            std::vector<LockChange> changes;
            diff_apt(recipe, before, all, &*locker, nullptr, changes);
            auto secure = std::make_shared<std::set<std::string>>();
            for (const LockChange& c : changes) {
                LockedPackage p;
                p.name = c.name;
                p.source = c.source;
                if (c.security && only.package(p)) {
                    secure->insert(c.source);
                }
            }
            apt_freed = [secure](const LockedPackage& p) { return secure->count(p.source) != 0; };
            lock.apt = locker->lock(before.apt, false, apt_freed);
        } else {
            apt_freed = [&only](const LockedPackage& p) { return only.package(p); };
            lock.apt = locker->lock(before.apt, false, apt_freed);
        }
        // A layer resolved again to the same packages keeps the Release Dates it recorded,
        // so that locking again without a change leaves the lock's text as it was.
        detail::keep_release_dates(lock.apt, before.apt);
    }

    std::function<bool(const LockedWheel&)> wheel_freed;
    if (detail::has_python_layers(recipe)) {
        unsigned threads = detail::resolve_threads(options.threads);
        detail::PythonContext context{
            recipe,
            options,
            store,
            [&] { return lock_base_layers(store, recipe, lock.base, options); },
            [&](const LayerSpec& spec) { return detail::plan_layer(spec, threads); },
            &lock.apt};
        bool keep = !moving || lo.security_only || (!only.everything() && !only.any_wheel(before));
        if (!keep) {
            wheel_freed = [&only](const LockedWheel& w) { return only.wheel(w); };
        }
        lock.python = detail::lock_python_layers(context, before.python, keep, wheel_freed);
    }

    if (detail::has_archive_layers(recipe)) {
        // Nothing of an archive moves while the recipe stays: it names the digest, or a
        // versioned NVIDIA manifest. An entry that still answers the recipe is kept.
        lock.archives = detail::lock_archive_layers({recipe, options, store}, before.archives);
    }
    result.stand_ins = detail::resolve_stand_ins(recipe, options);

    result.lock = lock;
    result.changed = !old || !(*old == lock);
    LockDiff& diff = result.diff;
    if (lock.base && !(before.base && before.base->manifest == lock.base->manifest &&
                       before.base->ref == lock.base->ref)) {
        BaseChange b;
        b.ref = lock.base->ref;
        b.platform = lock.base->platform;
        if (before.base) {
            b.from = before.base->manifest;
        }
        b.to = lock.base->manifest;
        diff.base = b;
    }
    diff_apt(recipe, before, lock, locker ? &*locker : nullptr, apt_freed, diff.changes);
    diff_python(recipe, before, lock, wheel_freed, diff.changes);
    diff_archives(recipe, before, lock, diff.changes);
    if (!diff.empty()) {
        BaseLayers base = base_layers(store, recipe, before, lock, diff.base.has_value(), options);
        diff.layers = forecast(recipe, before, lock, diff, base);
        if (diff.base) {
            for (const LayerForecast& f : diff.layers) {
                diff.base->new_layer_bytes += f.name == "base" ? f.bytes.value_or(0) : 0;
            }
        }
    }
    for (const LayerForecast& f : diff.layers) {
        diff.pull_bytes += f.bytes.value_or(0);
    }
    if (result.changed && !lo.dry_run) {
        write_lock(result.file, lock, recipe.file.filename().string());
        result.written = true;
    }
    return result;
}

} // namespace ocibake
