#include "apt/model.hpp"

#include "apt/internal.hpp"
#include "apt/paths.hpp"

namespace ocibake::apt::detail {

void KeyHasher::field(const std::string& s) {
    std::uint64_t n = s.size();
    h_.update(&n, sizeof n);
    h_.update(s);
}

bool replaces(const std::vector<Dependency>& by, const std::string& name,
              const std::string& version) {
    for (const Dependency& dep : by) {
        for (const Relation& r : dep) {
            if (r.name == name && satisfies(version, r.op, r.version)) {
                return true;
            }
        }
    }
    return false;
}

namespace {

std::string relations_text(const std::vector<Dependency>& deps) {
    std::string out;
    for (const Dependency& dep : deps) {
        out += out.empty() ? "" : ", ";
        for (std::size_t i = 0; i < dep.size(); ++i) {
            out += (i ? " | " : "") + dep[i].str();
        }
    }
    return out;
}

void hash_package(KeyHasher& h, const DpkgPackage& p) {
    h.field(p.key);
    h.field(p.name + " " + p.version + " " + p.arch + " " + p.multi_arch);
    h.field(relations_text(p.replaces));
    h.number(p.list.size());
    for (const std::string& line : p.list) {
        h.field(line);
    }
    h.number(p.info.size());
    for (const std::string& file : p.info) {
        h.field(file);
    }
}

void hash_owner(KeyHasher& h, const std::optional<OwnerFact>& o) {
    if (!o) {
        h.field("-");
        return;
    }
    h.field(o->key);
    h.field(o->name + " " + o->version + " " + o->arch);
    h.field(o->dpkg);
    h.field(relations_text(o->replaces));
    h.field(o->base ? "base" : o->same_layer ? "same layer" : "below");
}

} // namespace

std::string OwnerFact::describe() const {
    return "package " + name + " " + version + " (" + arch + ")";
}

// ---- PartFacts --------------------------------------------------------------------------

const ImageModel& PartFacts::model(const char* what) const {
    if (model_ == nullptr) {
        throw Error(ErrorKind::internal,
                    std::string("a part asked the image below about ") + what +
                        " when writing that it did not ask when planning (its package's record "
                        "does not match the package)");
    }
    return *model_;
}

const std::map<std::string, std::string>& PartFacts::links() {
    if (!links_) {
        links_ = model("its top-level links").links();
    }
    return *links_;
}

bool PartFacts::dir_below(const std::string& path) {
    auto it = dir_below_.find(path);
    if (it == dir_below_.end()) {
        it = dir_below_.emplace(path, model(path.c_str()).dir_below(path)).first;
    }
    return it->second;
}

std::optional<OwnerFact> PartFacts::layer_dir(const std::string& path) {
    auto it = layer_dir_.find(path);
    if (it == layer_dir_.end()) {
        it = layer_dir_.emplace(path, model(path.c_str()).layer_dir(path)).first;
    }
    return it->second;
}

std::optional<std::string> PartFacts::symlink(const std::string& path) {
    auto it = symlink_.find(path);
    if (it == symlink_.end()) {
        it = symlink_.emplace(path, model(path.c_str()).symlink(path)).first;
    }
    return it->second;
}

std::optional<OwnerFact> PartFacts::owner(const std::string& path) {
    auto it = owner_.find(path);
    if (it == owner_.end()) {
        it = owner_.emplace(path, model(path.c_str()).owner(path)).first;
    }
    return it->second;
}

std::optional<Diversion> PartFacts::diversion(const std::string& dpkg_path) {
    auto it = diversion_.find(dpkg_path);
    if (it == diversion_.end()) {
        it = diversion_.emplace(dpkg_path, model(dpkg_path.c_str()).diversion(dpkg_path)).first;
    }
    return it->second;
}

std::vector<DpkgPackage> PartFacts::installed(const std::string& name) {
    auto it = installed_.find(name);
    if (it == installed_.end()) {
        it = installed_.emplace(name, model(name.c_str()).installed(name)).first;
    }
    return it->second;
}

DpkgPackage PartFacts::package(const std::string& key) {
    auto it = package_.find(key);
    if (it == package_.end()) {
        std::optional<DpkgPackage> p = model(key.c_str()).package(key);
        if (!p) {
            throw Error(ErrorKind::internal, "package " + key + " is not installed below");
        }
        it = package_.emplace(key, std::move(*p)).first;
    }
    return it->second;
}

Digest PartFacts::digest() const {
    KeyHasher h;
    h.field("ocibake part-facts 1");
    const std::map<std::string, std::string> none;
    const auto& links = links_ ? *links_ : none;
    h.number(links_ ? links.size() + 1 : 0);
    for (const auto& [k, v] : links) {
        h.field(k);
        h.field(v);
    }
    h.number(dir_below_.size());
    for (const auto& [path, dir] : dir_below_) {
        h.field(path);
        h.field(dir ? "dir" : "-");
    }
    h.number(layer_dir_.size());
    for (const auto& [path, o] : layer_dir_) {
        h.field(path);
        hash_owner(h, o);
    }
    h.number(symlink_.size());
    for (const auto& [path, target] : symlink_) {
        h.field(path);
        h.field(target ? "-> " + *target : "-");
    }
    h.number(owner_.size());
    for (const auto& [path, o] : owner_) {
        h.field(path);
        hash_owner(h, o);
    }
    h.number(diversion_.size());
    for (const auto& [path, d] : diversion_) {
        h.field(path);
        h.field(d ? d->to + " " + d->by : "-");
    }
    h.number(installed_.size());
    for (const auto& [name, list] : installed_) {
        h.field(name);
        h.number(list.size());
        for (const DpkgPackage& p : list) {
            hash_package(h, p);
        }
    }
    h.number(package_.size());
    for (const auto& [key, p] : package_) {
        hash_package(h, p);
    }
    return h.finish();
}

// ---- ImageModel -------------------------------------------------------------------------

ImageModel::ImageModel(const ImageFacts& base)
    : links_(base.links), diversions_(diversions_of(base.file("var/lib/dpkg/diversions"))),
      dirs_(base.dirs), symlinks_(base.symlinks) {
    for (const auto& [key, stanza] : stanzas_of(base.file("var/lib/dpkg/status"))) {
        std::string origin = "the base image's /var/lib/dpkg/status: " + key;
        DpkgPackage p;
        bool installed = false;
        for_each_paragraph(stanza, origin, [&](const RawParagraph& r) {
            std::vector<std::string> status = words(r.get("Status"));
            installed = status.size() == 3 && status[2] == "installed";
            p.name = std::string(trim(r.get("Package")));
            p.version = std::string(trim(r.get("Version")));
            p.arch = std::string(trim(r.get("Architecture")));
            p.multi_arch = std::string(trim(r.get("Multi-Arch")));
            p.replaces = parse_relations(r.get("Replaces"), origin + ": Replaces");
        });
        if (!installed) {
            continue;
        }
        p.key = key;
        p.base = true;
        p.list = lines_of(base.file("var/lib/dpkg/info/" + key + ".list"));
        std::string prefix = "var/lib/dpkg/info/" + key + ".";
        for (auto it = base.dpkg_info.lower_bound(prefix);
             it != base.dpkg_info.end() && it->starts_with(prefix); ++it) {
            // "name." is also the start of "name.foo.list": a name has no dots after the
            // key only when the rest is one of dpkg's suffixes.
            if (it->find('.', prefix.size()) == std::string::npos) {
                p.info.insert(*it);
            }
        }
        packages_[key] = std::move(p);
    }
    for (const auto& [key, p] : packages_) {
        for (const std::string& line : p.list) {
            std::string dpkg = line.substr(std::min(line.size(), line.find_first_not_of('/')));
            std::string path = land(dpkg, links_);
            if (path.empty() || path == "." || dirs_.count(path)) {
                continue;
            }
            owners_[path] = {key, dpkg};
        }
    }
}

void ImageModel::begin_layer(std::size_t layer) {
    if (layer == layer_) {
        return;
    }
    for (const auto& [path, key] : layer_dirs_) {
        dirs_.insert(path);
    }
    layer_dirs_.clear();
    layer_ = layer;
}

void ImageModel::forget(const std::string& path) {
    owners_.erase(path);
    symlinks_.erase(path);
    dirs_.erase(path);
    layer_dirs_.erase(path);
}

void ImageModel::commit(const PartOutcome& outcome) {
    for (const std::string& key : outcome.removed) {
        packages_.erase(key);
    }
    for (const auto& [key, lines] : outcome.lists) {
        if (auto it = packages_.find(key); it != packages_.end()) {
            it->second.list = lines;
        }
    }
    for (const PartOutcome::Installed& i : outcome.installed) {
        DpkgPackage p;
        p.key = i.meta.key();
        p.name = i.meta.name;
        p.version = i.meta.version;
        p.arch = i.meta.arch;
        p.multi_arch = i.meta.multi_arch;
        p.replaces = i.meta.replaces;
        p.list = i.list;
        p.info = i.info;
        p.layer = layer_;
        packages_[p.key] = std::move(p);
    }
    for (const std::string& path : outcome.whiteouts) {
        forget(path);
    }
    for (const auto& [path, owner] : outcome.files) {
        forget(path);
        owners_[path] = {owner.first, owner.second};
    }
    for (const auto& [path, target] : outcome.symlinks) {
        symlinks_[path] = target;
    }
    for (const auto& [path, key] : outcome.dirs) {
        owners_.erase(path);
        symlinks_.erase(path);
        if (!dirs_.count(path)) {
            layer_dirs_.emplace(path, key);
        }
    }
}

void ImageModel::commit(const std::vector<LayerEntry>& entries) {
    for (const LayerEntry& e : entries) {
        switch (e.type) {
        case EntryType::directory:
            symlinks_.erase(e.path);
            if (!dirs_.count(e.path)) {
                layer_dirs_.emplace(e.path, "");
            }
            break;
        case EntryType::symlink:
            dirs_.erase(e.path);
            layer_dirs_.erase(e.path);
            symlinks_[e.path] = e.link_target;
            break;
        case EntryType::whiteout:
            forget(e.path);
            break;
        default:
            // A file over a package's file: dpkg still thinks the package owns it.
            dirs_.erase(e.path);
            layer_dirs_.erase(e.path);
            symlinks_.erase(e.path);
            break;
        }
    }
}

OwnerFact ImageModel::fact_of(const DpkgPackage& p, const std::string& dpkg) const {
    OwnerFact f;
    f.key = p.key;
    f.name = p.name;
    f.version = p.version;
    f.arch = p.arch;
    f.dpkg = dpkg;
    f.replaces = p.replaces;
    f.base = p.base;
    f.same_layer = !p.base && p.layer == layer_;
    return f;
}

std::optional<OwnerFact> ImageModel::layer_dir(const std::string& path) const {
    auto it = layer_dirs_.find(path);
    if (it == layer_dirs_.end() || it->second.empty()) {
        return std::nullopt;
    }
    auto p = packages_.find(it->second);
    if (p == packages_.end()) {
        return std::nullopt;
    }
    return fact_of(p->second, path);
}

std::optional<std::string> ImageModel::symlink(const std::string& path) const {
    auto it = symlinks_.find(path);
    if (it == symlinks_.end()) {
        return std::nullopt;
    }
    return it->second;
}

std::optional<OwnerFact> ImageModel::owner(const std::string& path) const {
    auto it = owners_.find(path);
    if (it == owners_.end()) {
        return std::nullopt;
    }
    auto p = packages_.find(it->second.key);
    if (p == packages_.end()) {
        return std::nullopt;
    }
    return fact_of(p->second, it->second.dpkg);
}

std::optional<Diversion> ImageModel::diversion(const std::string& dpkg_path) const {
    auto it = diversions_.find(dpkg_path);
    if (it == diversions_.end()) {
        return std::nullopt;
    }
    return it->second;
}

std::vector<DpkgPackage> ImageModel::installed(const std::string& name) const {
    std::vector<DpkgPackage> out;
    for (const auto& [key, p] : packages_) {
        if (p.name == name) {
            out.push_back(p);
        }
    }
    return out;
}

std::optional<DpkgPackage> ImageModel::package(const std::string& key) const {
    auto it = packages_.find(key);
    if (it == packages_.end()) {
        return std::nullopt;
    }
    return it->second;
}

} // namespace ocibake::apt::detail
