#include "apt/planner.hpp"

#include "apt/decode.hpp"
#include "apt/paths.hpp"

namespace ocibake::apt::detail {

namespace {

std::string strip_slashes(const std::string& line) {
    return line.substr(std::min(line.size(), line.find_first_not_of('/')));
}

} // namespace

PartPlanner::PartPlanner(const std::vector<LockedPackage>& packages, PartFacts& facts)
    : facts_(facts), packages_(packages.size()) {
    for (std::size_t i = 0; i < packages.size(); ++i) {
        packages_[i].lock = &packages[i];
    }
    outcome_.unwritten.resize(packages.size());
}

std::string PartPlanner::what(const Package& p) const {
    return describe(*p.lock) + " (" + p.lock->url + ")";
}

void PartPlanner::begin(std::size_t i, PackageMeta meta) {
    Package& u = packages_[i];
    const LockedPackage& lock = *u.lock;
    if (meta.name != lock.name || meta.arch != lock.arch || meta.version != lock.version) {
        throw Error(ErrorKind::integrity, what(u) + ": its control file says " + meta.name + " " +
                                              meta.version + " (" + meta.arch + ")");
    }
    u.meta = std::move(meta);
    u.list = {"/."};
    u.begun = true;
}

[[noreturn]] void PartPlanner::conflict(const Package& u, const std::string& dpkg,
                                        const std::string& other) const {
    throw Error(ErrorKind::input, what(u) + " ships /" + dpkg + ", which " + other +
                                      " ships too; dpkg refuses this unless one declares "
                                      "Replaces on the other");
}

/// A path of the part may not lie below a symlink (of the part or the image below) or a
/// file of the part: dpkg would write through the link (out of its root for one like /tmp
/// or ../../tmp), `ocibake run` refuses it, other unpackers resolve it each their own way.
/// (The top-level links of a merged /usr are not met here: land() has already put the
/// path where they point.)
void PartPlanner::check_parents(const Package& u, const std::string& dpkg,
                                const std::string& path) {
    std::string why;
    for (std::size_t slash = path.find('/'); slash != std::string::npos && why.empty();
         slash = path.find('/', slash + 1)) {
        std::string parent = path.substr(0, slash);
        if (auto own = owners_.find(parent); own != owners_.end()) {
            if (own->second.directory) {
                continue; // the part makes it a directory
            }
            const Package& other = packages_[own->second.package];
            if (auto link = layer_links_.find(parent); link != layer_links_.end()) {
                why = "/" + parent + ", which " + describe(*other.lock) +
                      " ships as a symlink to '" + link->second + "'";
            } else {
                why = "/" + parent + ", which " + describe(*other.lock) + " ships as a file";
            }
        } else if (auto link = facts_.symlink(parent)) {
            std::optional<OwnerFact> owner = facts_.owner(parent);
            if (owner && owner->same_layer) {
                why = "/" + parent + ", which " + owner->describe() + " ships as a symlink to '" +
                      *link + "'";
            } else {
                why = "/" + parent + ", a symlink to '" + *link + "' in the image below";
            }
        }
    }
    if (!why.empty()) {
        throw Error(ErrorKind::input,
                    what(u) + ": data.tar: /" + dpkg + " lies below " + why +
                        "; a layer may not write through a symlink (its consumers would not "
                        "agree where the file goes): refused");
    }
}

/// A file of package `u` over one a package below owns. Below the recipe layer (dpkg's
/// rules for installed packages): allowed when it is the same package (another version,
/// or another architecture's instance of a Multi-Arch: same one) or when `u` Replaces
/// that package; not written (false) when that package Replaces `u`; refused otherwise.
/// A package of a lower part of the same recipe layer is met as within one layer: it
/// Replaces, is replaced, or conflicts.
bool PartPlanner::below_owner(Package& u, const std::string& dpkg, const std::string& path) {
    if (auto d = facts_.diversion("/" + dpkg); d && d->by != u.meta.name) {
        throw Error(ErrorKind::input,
                    what(u) + " ships /" + dpkg + ", which the base image diverts to " + d->to +
                        " (dpkg-divert, by " + d->by + "); ocibake does not apply diversions");
    }
    std::optional<OwnerFact> other = facts_.owner(path);
    if (!other) {
        return true;
    }
    if (!other->same_layer) {
        if (other->name == u.meta.name) {
            return true;
        }
        if (other->dpkg != dpkg) {
            // The same file by another name (/bin/x and /usr/bin/x on a merged /usr):
            // dpkg compares names and does not see the overlap; neither do we refuse it.
            return true;
        }
    }
    if (replaces(u.meta.replaces, other->name, other->version)) {
        taken_[other->key].insert(path);
        return true;
    }
    if (replaces(other->replaces, u.meta.name, u.meta.version)) {
        return false; // dpkg: "Replaced by files in installed package"
    }
    if (other->same_layer) {
        conflict(u, dpkg, other->describe());
    }
    throw Error(ErrorKind::input, what(u) + " ships /" + dpkg + ", which " + other->describe() +
                                      ", installed in " +
                                      (other->base ? "the base image" : "an earlier apt layer") +
                                      " owns; dpkg refuses this unless one declares Replaces on "
                                      "the other");
}

Placement PartPlanner::place(std::size_t i, const EntryShape& e) {
    Package& u = packages_[i];
    if (!u.begun) {
        throw Error(ErrorKind::internal, what(u) + ": no control file");
    }
    Placement out;
    if (e.dpkg.empty()) {
        return out; // the root
    }
    u.list.push_back("/" + e.dpkg);
    std::string path = land(e.dpkg, facts_.links());
    if (path.empty()) {
        return out; // a top-level directory that is a symlink below (merged /usr)
    }
    out.path = path;
    check_parents(u, e.dpkg, path);
    bool directory = e.kind == EntryShape::Kind::directory;
    auto owner = owners_.find(path);
    if (directory) {
        if (owner != owners_.end()) {
            if (!owner->second.directory) {
                conflict(u, e.dpkg, describe(*packages_[owner->second.package].lock));
            }
            return out; // shared between packages of the part: the first one's metadata
        }
        if (auto other = facts_.owner(path); other && other->same_layer) {
            conflict(u, e.dpkg, other->describe());
        }
        owners_[path] = {i, true};
        if (facts_.dir_below(path)) {
            return out; // dpkg leaves an existing directory as it is
        }
        outcome_.dirs.emplace(path, u.meta.key());
        out.write = true;
        return out;
    }
    if (owner != owners_.end()) {
        Package& other = packages_[owner->second.package];
        if (owner->second.directory) {
            conflict(u, e.dpkg, describe(*other.lock));
        }
        if (other.meta.name == u.meta.name && u.meta.multi_arch == "same") {
            return out; // Multi-Arch: same instances share identical files
        }
        if (replaces(u.meta.replaces, other.meta.name, other.meta.version)) {
            other.lost.insert(path);
            owner->second.package = i;
        } else if (replaces(other.meta.replaces, u.meta.name, u.meta.version)) {
            u.lost.insert(path);
            u.skipped.insert(path);
            return out;
        } else {
            conflict(u, e.dpkg, describe(*other.lock));
        }
    } else {
        if (auto dir = facts_.layer_dir(path)) {
            conflict(u, e.dpkg, dir->describe());
        }
        if (!below_owner(u, e.dpkg, path)) {
            u.lost.insert(path);
            u.skipped.insert(path);
            return out;
        }
        owners_[path] = {i, false};
    }
    layer_links_.erase(path);
    outcome_.symlinks.erase(path);
    outcome_.files[path] = {u.meta.key(), e.dpkg};
    if (e.kind == EntryShape::Kind::symlink) {
        layer_links_[path] = e.link;
        outcome_.symlinks[path] = e.link;
    }
    if (e.kind == EntryShape::Kind::hardlink) {
        out.link_target = land(e.link, facts_.links());
        auto target = owners_.find(out.link_target);
        if (target == owners_.end() || target->second.package != i || target->second.directory) {
            throw Error(ErrorKind::input, what(u) + ": data.tar: /" + e.dpkg +
                                              " is a hard link to " + e.link +
                                              ", which the package does not have");
        }
    }
    out.write = true;
    return out;
}

PartOutcome PartPlanner::finish() {
    std::set<std::string> written_info;
    for (Package& u : packages_) {
        if (!u.begun) {
            throw Error(ErrorKind::integrity, what(u) + ": the package is empty");
        }
        std::string prefix = "var/lib/dpkg/info/" + u.meta.key() + ".";
        PartOutcome::Installed installed;
        installed.meta = u.meta;
        installed.info.insert(prefix + "list");
        for (const std::string& member : u.meta.members) {
            installed.info.insert(prefix + member);
        }
        for (const std::string& line : u.list) {
            if (!u.lost.count(land(strip_slashes(line), facts_.links()))) {
                installed.list.push_back(line);
            }
        }
        written_info.insert(installed.info.begin(), installed.info.end());
        outcome_.installed.push_back(std::move(installed));
    }
    // Packages below that a package of the part installs again (another version, or over
    // another architecture's instance): what only they had is whited out.
    std::map<std::string, DpkgPackage> again;
    for (const Package& u : packages_) {
        for (DpkgPackage& p : facts_.installed(u.meta.name)) {
            if (p.key == u.meta.key() || u.meta.multi_arch != "same") {
                again.emplace(p.key, std::move(p));
            }
        }
    }
    std::set<std::string> whiteouts;
    for (const auto& [key, p] : again) {
        outcome_.removed.insert(key);
        const std::set<std::string>& taken = taken_[key];
        for (const std::string& line : p.list) {
            std::string path = land(strip_slashes(line), facts_.links());
            if (path.empty() || owners_.count(path) || taken.count(path)) {
                continue; // the part writes it again, or another package took it
            }
            std::optional<OwnerFact> owner = facts_.owner(path);
            if (owner && owner->key == key) {
                whiteouts.insert(path); // a directory, or another package's, stays
            }
        }
        for (const std::string& file : p.info) {
            if (!written_info.count(file)) {
                whiteouts.insert(file);
            }
        }
    }
    // Packages below that lost files to the part: their lists without them.
    for (const auto& [key, paths] : taken_) {
        if (again.count(key) || paths.empty()) {
            continue;
        }
        std::vector<std::string> list;
        for (const std::string& line : facts_.package(key).list) {
            if (!paths.count(land(strip_slashes(line), facts_.links()))) {
                list.push_back(line);
            }
        }
        outcome_.lists[key] = std::move(list);
    }
    outcome_.whiteouts = std::move(whiteouts);
    for (std::size_t i = 0; i < packages_.size(); ++i) {
        outcome_.unwritten[i] = packages_[i].skipped;
    }
    return std::move(outcome_);
}

} // namespace ocibake::apt::detail
