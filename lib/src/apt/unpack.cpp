// A layer of Debian packages: .debs downloaded into the store, their data.tar streamed
// into the layer (decoded in parallel, apt/decode.hpp, written in a fixed order), then
// the dpkg database.
#include "apt/deb.hpp"
#include "apt/decode.hpp"
#include "apt/dpkg_db.hpp"
#include "apt/effects.hpp"
#include "apt/fetch.hpp"
#include "apt/internal.hpp"
#include "apt/layer.hpp"
#include "apt/md5.hpp"
#include "apt/paths.hpp"
#include "common/fs.hpp"
#include "common/thread_pool.hpp"
#include "layer/changeset.hpp"
#include "layer/pipeline.hpp"

#include <algorithm>
#include <fcntl.h>
#include <future>
#include <mutex>
#include <set>

namespace ocibake::apt::detail {

namespace {

using ocibake::detail::Buffer;
using ocibake::detail::BufferPool;
using ocibake::detail::ChunkStream;
using ocibake::detail::TarWriter;

// ---- control data -------------------------------------------------------------------------

struct Unpacked {
    const LockedPackage* lock = nullptr;
    std::map<std::string, ControlFile> control;
    std::vector<std::pair<std::string, std::string>> fields; ///< of the control file
    std::string name, arch, multi_arch;
    std::vector<Dependency> replaces;
    std::set<std::string> conffiles;                  ///< dpkg paths
    std::map<std::string, std::string> conffile_md5s; ///< dpkg path -> md5
    std::vector<std::string> list;                    ///< dpkg paths, in the package's order
    std::set<std::string> lost;                       ///< paths another package took over
    DebInfo info;                                     ///< what later layers need of it

    std::string id() const { return multi_arch == "same" ? name + ":" + arch : name; }
    std::string field(std::string_view key) const {
        for (const auto& [k, v] : fields) {
            if (k.size() == key.size() &&
                std::equal(k.begin(), k.end(), key.begin(),
                           [](char a, char b) { return ascii_lower(a) == ascii_lower(b); })) {
                return v;
            }
        }
        return {};
    }
};

void take_control(Unpacked& u, std::map<std::string, ControlFile> control) {
    u.control = std::move(control);
    const std::string what = describe(*u.lock);
    const std::string& text = u.control.at("control").content;
    bool first = true;
    for_each_paragraph(text, what + ": control", [&](const RawParagraph& p) {
        if (!first) {
            return;
        }
        first = false;
        for (const auto& [k, v] : p.fields) {
            u.fields.emplace_back(std::string(k), std::string(v));
        }
    });
    u.name = u.field("Package");
    u.arch = u.field("Architecture");
    u.multi_arch = u.field("Multi-Arch");
    if (u.name != u.lock->name || u.arch != u.lock->arch || u.field("Version") != u.lock->version) {
        throw Error(ErrorKind::integrity, what + " (" + u.lock->url + "): its control file says " +
                                              u.name + " " + u.field("Version") + " (" + u.arch +
                                              ")");
    }
    u.replaces = parse_relations(u.field("Replaces"), what + ": Replaces");
    if (auto it = u.control.find("conffiles"); it != u.control.end()) {
        for (const std::string& line : words(it->second.content)) {
            if (line.starts_with('/')) {
                u.conffiles.insert(line);
            }
        }
    }
}

/// Does a package with these Replaces replace `name` at `version`?
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

bool replaces(const Unpacked& by, const Unpacked& other) {
    return replaces(by.replaces, other.name, other.lock->version);
}

/// A package the image below has installed (the base's, or an earlier apt layer's).
struct BelowPackage {
    std::string key; ///< as the dpkg database names it: name, or name:arch
    std::string name, version, arch, multi_arch;
    std::vector<Dependency> replaces;
    std::string where;             ///< "the base image", "an earlier apt layer"
    std::vector<std::string> list; ///< its info/KEY.list lines, in order
    /// An earlier apt layer's package: its other info/KEY.<member> files.
    std::vector<std::string> info_members;
    bool base = false;
    bool gone = false;          ///< an earlier apt layer installed it again
    std::set<std::string> lost; ///< landed paths a package of this layer took over
    std::string describe() const {
        return "package " + name + " " + version + " (" + arch + "), installed in " + where;
    }
};

/// The dpkg status stanza of an installed package.
std::string stanza_of(const Unpacked& u) {
    return stanza_text(u.name, u.fields, u.conffile_md5s);
}

/// Splits a status file into stanzas keyed like dpkg's database (name, or name:arch for
// ---- the layer key --------------------------------------------------------------------------

Digest layer_key(const AptLayerPlan& plan, const LayerOptions& options) {
    Sha256 h;
    auto field = [&](const std::string& s) {
        std::uint64_t n = s.size();
        h.update(&n, sizeof n);
        h.update(s);
    };
    field("ocibake apt-layer 6"); // bumped whenever what an apt layer holds changes
    field(std::to_string(layer_format_version));
    field(std::to_string(options.source_date_epoch));
    for (const auto* list : {&plan.packages, &plan.earlier}) {
        field(std::to_string(list->size()));
        for (const LockedPackage& p : *list) {
            field(p.name + " " + p.version + " " + p.arch + " " + p.sha256.str());
        }
    }
    field(plan.below.fingerprint().str());
    field(plan.arch);
    field(plan.generator);
    field(plan.ldconfig ? "ldconfig" : "-");
    auto accounts = [&](const std::vector<Account>& list, const std::vector<Group>& groups) {
        field(std::to_string(list.size()));
        for (const Account& a : list) {
            field(a.name + ":" + std::to_string(a.uid) + ":" +
                  (a.gid ? std::to_string(*a.gid) : std::string("-")) + ":" + a.group + ":" +
                  a.home + ":" + a.shell + ":" + a.comment);
            for (const std::string& g : a.groups) {
                field(g);
            }
        }
        field(std::to_string(groups.size()));
        for (const Group& g : groups) {
            field(g.name + ":" + std::to_string(g.gid));
            for (const std::string& m : g.members) {
                field(m);
            }
        }
    };
    accounts(plan.accounts, plan.groups);
    field(std::to_string(plan.earlier_accounts.size()));
    for (const auto& e : plan.earlier_accounts) {
        field(std::to_string(e.packages.size())); // (their digests are in `earlier` above)
        accounts(e.accounts, e.groups);
    }
    field(std::to_string(plan.alternatives.size()));
    for (const AlternativeChoice& a : plan.alternatives) {
        field(a.name + " " + a.path + " " + a.link + " " + std::to_string(a.priority));
    }
    field(std::to_string(plan.extra.size()));
    for (const LayerEntry& e : plan.extra) {
        field(e.path);
        field(std::to_string(static_cast<int>(e.type)) + " " + std::to_string(e.mode) + " " +
              std::to_string(e.uid) + " " + std::to_string(e.gid) + " " + std::to_string(e.size) +
              " " + std::to_string(e.dev_major) + " " + std::to_string(e.dev_minor));
        field(e.link_target);
        for (const auto& [k, v] : e.xattrs) {
            field(k);
            field(v);
        }
        if (e.type == EntryType::file) {
            if (e.source.empty()) {
                field(sha256_of(e.content).str());
            } else {
                field(e.source);
                field(std::to_string(e.identity.device) + " " + std::to_string(e.identity.inode) +
                      " " + std::to_string(e.identity.mtime_ns) + " " +
                      std::to_string(e.identity.ctime_ns));
            }
        }
    }
    return h.finish();
}

/// Files whose content the scripts' effects need: the linker's configuration and
/// base-passwd's master files.
bool keeps_content(const std::string& dpkg_path) {
    return dpkg_path == "etc/ld.so.conf" || dpkg_path.starts_with("etc/ld.so.conf.d/") ||
           dpkg_path == "usr/share/base-passwd/passwd.master" ||
           dpkg_path == "usr/share/base-passwd/group.master" ||
           (dpkg_path.starts_with("usr/share/ca-certificates/") && dpkg_path.ends_with(".crt"));
}

ImageNode node_of(const DebEntry& e) {
    ImageNode n;
    switch (e.type) {
    case DebEntry::Type::directory:
        n.type = ImageNode::Type::directory;
        break;
    case DebEntry::Type::symlink:
        n.type = ImageNode::Type::symlink;
        n.target = e.link;
        break;
    case DebEntry::Type::file:
    case DebEntry::Type::hardlink:
        n.type = ImageNode::Type::file;
        break;
    default:
        n.type = ImageNode::Type::other;
        break;
    }
    return n;
}

// ---- infos being made ---------------------------------------------------------------------------

/// The infos of packages that a layer build of this process is unpacking now. A later
/// layer needs the infos of the earlier layers' packages; layers are built in parallel, so
/// without this it would decode those packages a second time (xz: the costly part) while
/// their own layer decodes them. It waits for them instead.
class InfoBoard {
public:
    using Future = std::shared_future<std::optional<DebInfo>>;

    static InfoBoard& instance() {
        static InfoBoard board;
        return board;
    }

    /// Registers the packages nobody has registered; returns the keys this caller must
    /// publish (or abandon).
    std::vector<std::string> claim(const std::vector<LockedPackage>& packages,
                                   const std::string& arch) {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<std::string> mine;
        for (const LockedPackage& p : packages) {
            std::string key = key_of(p, arch);
            if (entries_.count(key) == 0) {
                Entry& e = entries_[key];
                e.future = e.promise.get_future().share();
                mine.push_back(key);
            }
        }
        return mine;
    }

    std::optional<Future> find(const LockedPackage& p, const std::string& arch) {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = entries_.find(key_of(p, arch));
        if (it == entries_.end()) {
            return std::nullopt;
        }
        return it->second.future;
    }

    /// Fulfils a claimed key (nullopt: the claimer failed; waiters decode by themselves).
    void publish(const std::string& key, std::optional<DebInfo> info) {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = entries_.find(key);
        if (it != entries_.end() && !it->second.published) {
            it->second.published = true;
            it->second.promise.set_value(std::move(info));
        }
    }

    /// Forgets claimed keys (their infos are in the store's records by then).
    void drop(const std::vector<std::string>& keys) {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const std::string& key : keys) {
            auto it = entries_.find(key);
            if (it != entries_.end()) {
                if (!it->second.published) {
                    it->second.promise.set_value(std::nullopt);
                }
                entries_.erase(it);
            }
        }
    }

    static std::string key_of(const LockedPackage& p, const std::string& arch) {
        return p.sha256.hex() + " " + arch;
    }

private:
    struct Entry {
        std::promise<std::optional<DebInfo>> promise;
        Future future;
        bool published = false;
    };
    std::mutex mutex_;
    std::map<std::string, Entry> entries_;
};

/// Publishes a build's claimed infos as they are made; abandons the rest when it ends.
class InfoClaims {
public:
    InfoClaims(const std::vector<LockedPackage>& packages, const std::string& arch)
        : arch_(arch), keys_(InfoBoard::instance().claim(packages, arch)) {}
    ~InfoClaims() { InfoBoard::instance().drop(keys_); }
    InfoClaims(const InfoClaims&) = delete;
    InfoClaims& operator=(const InfoClaims&) = delete;

    void publish(const LockedPackage& p, const DebInfo& info) {
        std::string key = InfoBoard::key_of(p, arch_);
        if (std::find(keys_.begin(), keys_.end(), key) != keys_.end()) {
            InfoBoard::instance().publish(key, info);
        }
    }

private:
    std::string arch_;
    std::vector<std::string> keys_;
};

// ---- the writer -------------------------------------------------------------------------------

class LayerWriter {
public:
    LayerWriter(const Store& store, const AptLayerPlan& plan, unsigned threads)
        : store_(store), plan_(plan), threads_(threads), buffers_(kDataChunk) {}

    /// Infos of the earlier apt layers' packages (their stanzas are merged into the status,
    /// their files are part of what the scripts' effects see).
    std::vector<DebInfo> earlier_;
    /// When each package is in the store (nullptr: all are).
    const std::vector<std::shared_future<void>>* ready_ = nullptr;
    /// Where this layer's package infos are published as soon as they are complete.
    InfoClaims* claims_ = nullptr;

    void write(TarWriter& tar, ChunkStream& stream) {
        index_below();
        unpacked_.resize(plan_.packages.size());
        if (!plan_.packages.empty()) {
            Decoders decoders(store_, plan_.packages, threads_, buffers_, ready_);
            for (std::size_t i = 0; i < plan_.packages.size(); ++i) {
                unpacked_[i].lock = &plan_.packages[i];
                unpack(i, decoders.reach(i), tar, stream);
            }
        }
        for (Unpacked& u : unpacked_) {
            u.info.stanza = stanza_of(u);
            if (auto it = u.control.find("postinst"); it != u.control.end()) {
                u.info.alternatives = parse_alternatives(it->second.content);
            }
            u.info.control.clear();
            for (const auto& [name, member] : u.control) {
                if (name != "control") {
                    u.info.control.push_back(name);
                }
            }
            if (claims_ != nullptr) {
                claims_->publish(*u.lock, u.info); // later layers waiting for it go on
            }
        }
        std::vector<LayerEntry> more = database();
        std::vector<LayerEntry> effects = scripts_effects();
        more.insert(more.end(), std::make_move_iterator(effects.begin()),
                    std::make_move_iterator(effects.end()));
        std::vector<LayerEntry> changes = below_changes(more);
        more.insert(more.end(), std::make_move_iterator(changes.begin()),
                    std::make_move_iterator(changes.end()));
        std::sort(more.begin(), more.end(),
                  [](const LayerEntry& a, const LayerEntry& b) { return a.path < b.path; });
        for (const LayerEntry& e : more) {
            tar.add(e);
        }
        for (const LayerEntry& e : plan_.extra) {
            tar.add(e);
        }
    }

    /// After write(): each package's info, by the .deb's digest.
    std::map<Digest, const DebInfo*> infos() const {
        std::map<Digest, const DebInfo*> out;
        for (const Unpacked& u : unpacked_) {
            out[u.lock->sha256] = &u.info;
        }
        return out;
    }

private:
    struct Owner {
        std::size_t package;
        bool directory;
    };

    /// The packages of the image below and the files they own (not their directories),
    /// as dpkg's database says: the base's status and info/*.list, then the earlier apt
    /// layers' packages (which replace a base package of the same name).
    void index_below() {
        auto parse = [&](const std::string& stanza, const std::string& origin, BelowPackage& p) {
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
            return installed;
        };
        for (const auto& [key, stanza] : stanzas_of(plan_.below.file("var/lib/dpkg/status"))) {
            BelowPackage p;
            if (!parse(stanza, "the base image's /var/lib/dpkg/status: " + key, p)) {
                continue;
            }
            p.key = key;
            p.base = true;
            p.where = "the base image";
            p.list = lines_of(plan_.below.file("var/lib/dpkg/info/" + key + ".list"));
            below_.push_back(std::move(p));
        }
        std::vector<std::set<std::string>> directories(below_.size());
        for (const DebInfo& info : earlier_) {
            BelowPackage p;
            parse(info.stanza, "an earlier apt layer's package", p);
            p.key = p.multi_arch == "same" ? p.name + ":" + p.arch : p.name;
            p.where = "an earlier apt layer";
            p.info_members = info.control;
            p.list.push_back("/.");
            std::set<std::string> dirs;
            for (const auto& [dpkg, node] : info.nodes) {
                p.list.push_back("/" + dpkg);
                if (node.type == ImageNode::Type::directory) {
                    dirs.insert(dpkg);
                }
            }
            for (BelowPackage& old : below_) {
                if (old.name == p.name && (old.key == p.key || p.multi_arch != "same")) {
                    old.gone = true;
                }
            }
            below_.push_back(std::move(p));
            directories.push_back(std::move(dirs));
        }
        for (std::size_t k = 0; k < below_.size(); ++k) {
            const BelowPackage& p = below_[k];
            if (p.gone) {
                continue;
            }
            for (const std::string& line : p.list) {
                std::string dpkg = line.substr(line.find_first_not_of('/') == std::string::npos
                                                   ? line.size()
                                                   : line.find_first_not_of('/'));
                std::string path = land(dpkg, plan_.below.links);
                if (path.empty() || path == "." || plan_.below.dirs.count(path) ||
                    directories[k].count(dpkg)) {
                    continue;
                }
                below_owner_[path] = {k, dpkg};
            }
        }
        diversions_ = diversions_of(plan_.below.file("var/lib/dpkg/diversions"));
        // The symlinks of the image below: the base's, then the earlier apt layers'.
        below_links_ = plan_.below.symlinks;
        for (const DebInfo& info : earlier_) {
            for (const auto& [dpkg, node] : info.nodes) {
                std::string path = land(dpkg, plan_.below.links);
                if (path.empty()) {
                    continue;
                }
                if (node.type == ImageNode::Type::symlink) {
                    below_links_[path] = node.target;
                } else {
                    below_links_.erase(path);
                }
            }
        }
    }

    /// A path of this layer may not lie below a symlink (of this layer or the image
    /// below) or a file of this layer: dpkg would write through the link (out of its root
    /// for one like /tmp or ../../tmp), `ocibake run` refuses it, other unpackers resolve
    /// it each their own way. (The top-level links of a merged /usr are not met here:
    /// land() has already put the path where they point.) Returns the reason, or "".
    std::string below_non_directory(const std::string& path) const {
        for (std::size_t slash = path.find('/'); slash != std::string::npos;
             slash = path.find('/', slash + 1)) {
            std::string parent = path.substr(0, slash);
            if (auto own = owners_.find(parent); own != owners_.end()) {
                if (own->second.directory) {
                    continue; // this layer makes it a directory
                }
                const Unpacked& other = unpacked_[own->second.package];
                if (auto link = layer_links_.find(parent); link != layer_links_.end()) {
                    return "/" + parent + ", which " + describe(*other.lock) +
                           " ships as a symlink to '" + link->second + "'";
                }
                return "/" + parent + ", which " + describe(*other.lock) + " ships as a file";
            }
            if (auto link = below_links_.find(parent); link != below_links_.end()) {
                return "/" + parent + ", a symlink to '" + link->second + "' in the image below";
            }
        }
        return {};
    }

    void check_parents(const Unpacked& u, const std::string& dpkg, const std::string& path) const {
        std::string why = below_non_directory(path);
        if (!why.empty()) {
            throw Error(ErrorKind::input,
                        describe(*u.lock) + " (" + u.lock->url + "): data.tar: /" + dpkg +
                            " lies below " + why +
                            "; a layer may not write through a symlink (its consumers would "
                            "not agree where the file goes): refused");
        }
    }

    /// A file of package `u` over one a package of the image below owns: allowed when it
    /// is the same package (another version, or another architecture's instance of a
    /// Multi-Arch: same one) or when `u` Replaces that package; not written (false) when
    /// that package Replaces `u`; refused otherwise, as dpkg refuses it.
    bool below_owner(const Unpacked& u, const std::string& dpkg, const std::string& path) {
        if (auto d = diversions_.find("/" + dpkg);
            d != diversions_.end() && d->second.by != u.name) {
            throw Error(ErrorKind::input, describe(*u.lock) + " (" + u.lock->url + ") ships /" +
                                              dpkg + ", which the base image diverts to " +
                                              d->second.to + " (dpkg-divert, by " + d->second.by +
                                              "); ocibake does not apply diversions");
        }
        auto it = below_owner_.find(path);
        if (it == below_owner_.end()) {
            return true;
        }
        BelowPackage& other = below_[it->second.package];
        if (other.name == u.name) {
            return true;
        }
        if (it->second.dpkg != dpkg) {
            // The same file by another name (/bin/x and /usr/bin/x on a merged /usr):
            // dpkg compares names and does not see the overlap; neither do we refuse it.
            return true;
        }
        if (replaces(u.replaces, other.name, other.version)) {
            other.lost.insert(path);
            return true;
        }
        if (replaces(other.replaces, u.name, u.lock->version)) {
            return false; // dpkg: "Replaced by files in installed package"
        }
        throw Error(ErrorKind::input, describe(*u.lock) + " (" + u.lock->url + ") ships /" + dpkg +
                                          ", which " + other.describe() +
                                          " owns; dpkg refuses this unless one declares "
                                          "Replaces on the other");
    }

    /// What packages of this layer that install a package of the image below again leave
    /// behind: whiteouts for the old version's files the new one does not have (unless a
    /// package of this layer writes them) and for its dpkg info files; and the lists of the
    /// packages below that lost files to this layer, without them.
    std::vector<LayerEntry> below_changes(const std::vector<LayerEntry>& others) {
        std::vector<LayerEntry> out;
        std::set<std::string> whiteouts;
        std::set<std::string> written_info;
        std::set<std::string> written; // by the database and the scripts' effects
        for (const LayerEntry& e : others) {
            written.insert(e.path);
        }
        for (const Unpacked& u : unpacked_) {
            std::string info = "var/lib/dpkg/info/" + u.id() + ".";
            written_info.insert(info + "list");
            for (const auto& [name, member] : u.control) {
                if (name != "control") {
                    written_info.insert(info + name);
                }
            }
        }
        for (BelowPackage& p : below_) {
            if (p.gone) {
                continue;
            }
            const Unpacked* again = nullptr;
            for (const Unpacked& u : unpacked_) {
                if (u.name == p.name && (u.id() == p.key || u.multi_arch != "same")) {
                    again = &u;
                }
            }
            if (again != nullptr) {
                for (const std::string& line : p.list) {
                    std::string dpkg =
                        line.substr(std::min(line.size(), line.find_first_not_of('/')));
                    std::string path = land(dpkg, plan_.below.links);
                    auto owner = below_owner_.find(path);
                    if (path.empty() || owner == below_owner_.end() ||
                        &below_[owner->second.package] != &p || owners_.count(path) ||
                        p.lost.count(path)) {
                        continue; // a directory, another package's, or written again
                    }
                    whiteouts.insert(path);
                }
                for (const std::string& member : p.info_members) {
                    // An earlier apt layer's version: its own info files, as it wrote them.
                    std::string file = "var/lib/dpkg/info/" + p.key + "." + member;
                    if (!written_info.count(file)) {
                        whiteouts.insert(file);
                    }
                }
                if (p.base) {
                    std::string prefix = "var/lib/dpkg/info/" + p.key + ".";
                    for (auto it = plan_.below.dpkg_info.lower_bound(prefix);
                         it != plan_.below.dpkg_info.end() && it->starts_with(prefix); ++it) {
                        // "name." is also the start of "name.foo.list": a name has no dots
                        // after the key only when the rest is one of dpkg's suffixes.
                        if (it->find('.', prefix.size()) == std::string::npos &&
                            !written_info.count(*it)) {
                            whiteouts.insert(*it);
                        }
                    }
                }
                continue;
            }
            if (p.lost.empty()) {
                continue;
            }
            std::string list;
            for (const std::string& line : p.list) {
                std::string dpkg = line.substr(std::min(line.size(), line.find_first_not_of('/')));
                if (!p.lost.count(land(dpkg, plan_.below.links))) {
                    list += line + "\n";
                }
            }
            LayerEntry e;
            e.path = "var/lib/dpkg/info/" + p.key + ".list";
            e.type = EntryType::file;
            e.mode = 0644;
            e.size = list.size();
            e.content = std::move(list);
            out.push_back(std::move(e));
        }
        for (const std::string& path : whiteouts) {
            if (written.count(path)) {
                continue;
            }
            LayerEntry e;
            e.path = path;
            e.type = EntryType::whiteout;
            e.mode = 0;
            out.push_back(std::move(e));
        }
        return out;
    }

    [[noreturn]] void conflict(const Unpacked& u, const std::string& path, const Owner& owner) {
        const Unpacked& other = unpacked_[owner.package];
        throw Error(ErrorKind::input, describe(*u.lock) + " (" + u.lock->url + ") ships " + path +
                                          ", which " + describe(*other.lock) +
                                          " ships too; dpkg refuses this unless one " +
                                          "declares Replaces on the other");
    }

    void unpack(std::size_t i, Channel& channel, TarWriter& tar, ChunkStream& stream) {
        Unpacked& u = unpacked_[i];
        Event event;
        bool writing = false;
        std::uint64_t left = 0, size = 0;
        std::string conffile; // the dpkg path of the file being written, when a conffile
        Md5 md5;
        std::optional<ElfScanner> elf;
        std::string* content = nullptr; // a file whose content is kept
        ImageNode* node = nullptr;
        auto end_file = [&] {
            if (writing) {
                tar.pad(size);
            }
            if (!conffile.empty()) {
                u.conffile_md5s[conffile] = md5.finish_hex();
                conffile.clear();
            }
            if (elf) {
                node->elf = elf->finish();
                elf.reset();
            }
            content = nullptr;
            writing = false;
        };
        while (channel.pop(event)) {
            switch (event.kind) {
            case Event::Kind::control:
                take_control(u, std::move(event.control));
                break;
            case Event::Kind::entry: {
                if (u.fields.empty()) {
                    throw Error(ErrorKind::internal, describe(*u.lock) + ": no control file");
                }
                const DebEntry& e = event.entry;
                std::string dpkg = clean_path(e.path, describe(*u.lock) + " (" + u.lock->url + ")");
                if (ocibake::detail::whiteout_component(dpkg)) {
                    throw Error(ErrorKind::input,
                                describe(*u.lock) + " (" + u.lock->url +
                                    "): data.tar: " + ocibake::detail::whiteout_refusal(dpkg) +
                                    " (dpkg would make a file of that name; an image cannot)");
                }
                std::string dpkg_path = dpkg.empty() ? "/." : "/" + dpkg;
                u.list.push_back(dpkg_path);
                writing = entry(i, u, e, dpkg, tar);
                left = size = e.size;
                if (!dpkg.empty()) {
                    u.info.nodes.emplace_back(dpkg, node_of(e));
                    node = &u.info.nodes.back().second;
                    if (e.type == DebEntry::Type::hardlink) {
                        std::string target =
                            clean_path(e.link, describe(*u.lock) + " (" + u.lock->url + ")");
                        for (const auto& [p, n] : u.info.nodes) {
                            if (p == target) {
                                node->elf = n.elf;
                                node->content = n.content;
                            }
                        }
                    }
                }
                if (e.type == DebEntry::Type::file) {
                    if (u.conffiles.count(dpkg_path)) {
                        conffile = dpkg_path;
                    }
                    std::string name = dpkg.substr(dpkg.rfind('/') + 1);
                    if (is_library_name(name)) {
                        elf.emplace(e.size);
                    }
                    if (keeps_content(dpkg)) {
                        content = &node->content;
                    }
                }
                if (left == 0) {
                    end_file();
                }
                break;
            }
            case Event::Kind::data:
                if (writing) {
                    stream.append(event.data.data.get(), event.data.size);
                }
                if (!conffile.empty()) {
                    md5.update(event.data.data.get(), event.data.size);
                }
                if (elf) {
                    elf->feed(event.data.data.get(), event.data.size);
                }
                if (content != nullptr && content->size() < (1u << 20)) {
                    content->append(event.data.data.get(), event.data.size);
                }
                left -= std::min<std::uint64_t>(left, event.data.size);
                buffers_.put(std::move(event.data));
                if (left == 0) {
                    end_file();
                }
                break;
            }
        }
        if (u.fields.empty()) {
            throw Error(ErrorKind::integrity, describe(*u.lock) + ": the package is empty");
        }
    }

    /// Writes one data.tar entry (its header; the data follows). False when it is not
    /// written: the root, a directory the image has, a file another package keeps.
    bool entry(std::size_t i, Unpacked& u, const DebEntry& e, const std::string& dpkg,
               TarWriter& tar) {
        if (dpkg.empty()) {
            return false;
        }
        std::string path = land(dpkg, plan_.below.links);
        if (path.empty()) {
            return false; // a top-level directory that is a symlink below (merged /usr)
        }
        check_parents(u, dpkg, path);
        bool directory = e.type == DebEntry::Type::directory;
        auto owner = owners_.find(path);
        if (directory) {
            if (owner != owners_.end()) {
                if (!owner->second.directory) {
                    conflict(u, "/" + dpkg, owner->second);
                }
                return false; // shared between packages: the first one's metadata
            }
            owners_[path] = {i, true};
            if (plan_.below.dirs.count(path)) {
                return false; // dpkg leaves an existing directory as it is
            }
        } else if (owner != owners_.end()) {
            Unpacked& other = unpacked_[owner->second.package];
            if (owner->second.directory) {
                conflict(u, "/" + dpkg, owner->second);
            }
            if (other.name == u.name && u.multi_arch == "same") {
                return false; // Multi-Arch: same instances share identical files
            }
            if (replaces(u, other)) {
                other.lost.insert("/" + dpkg);
                owner->second.package = i;
            } else if (replaces(other, u)) {
                u.lost.insert("/" + dpkg);
                return false;
            } else {
                conflict(u, "/" + dpkg, owner->second);
            }
        } else {
            if (!below_owner(u, dpkg, path)) {
                u.lost.insert("/" + dpkg);
                return false;
            }
            owners_[path] = {i, false};
        }
        layer_links_.erase(path);
        if (e.type == DebEntry::Type::symlink) {
            layer_links_[path] = e.link;
        }
        LayerEntry le;
        le.path = path;
        le.mode = e.mode;
        le.uid = e.uid;
        le.gid = e.gid;
        le.dev_major = e.dev_major;
        le.dev_minor = e.dev_minor;
        switch (e.type) {
        case DebEntry::Type::file:
            le.type = EntryType::file;
            le.size = e.size;
            tar.add_header(le);
            return true;
        case DebEntry::Type::directory:
            le.type = EntryType::directory;
            break;
        case DebEntry::Type::symlink:
            le.type = EntryType::symlink;
            le.link_target = e.link;
            break;
        case DebEntry::Type::hardlink: {
            le.type = EntryType::hardlink;
            le.link_target = land(clean_path(e.link, describe(*u.lock) + " (" + u.lock->url + ")"),
                                  plan_.below.links);
            auto target = owners_.find(le.link_target);
            if (target == owners_.end() || target->second.package != i ||
                target->second.directory) {
                throw Error(ErrorKind::input, describe(*u.lock) + " (" + u.lock->url +
                                                  "): data.tar: /" + dpkg + " is a hard link to " +
                                                  e.link + ", which the package does not have");
            }
            break;
        }
        case DebEntry::Type::fifo:
            le.type = EntryType::fifo;
            break;
        case DebEntry::Type::char_device:
            le.type = EntryType::char_device;
            break;
        case DebEntry::Type::block_device:
            le.type = EntryType::block_device;
            break;
        }
        tar.add(le);
        return false;
    }

    /// The dpkg database: status, and the info files of this layer's packages.
    std::vector<LayerEntry> database() {
        std::vector<LayerEntry> db;
        if (unpacked_.empty()) {
            return db;
        }
        auto file = [&](std::string path, std::string content, std::uint32_t mode = 0644) {
            LayerEntry e;
            e.path = std::move(path);
            e.type = EntryType::file;
            e.mode = mode;
            e.size = content.size();
            e.content = std::move(content);
            db.push_back(std::move(e));
        };
        std::map<std::string, std::string> status =
            stanzas_of(plan_.below.file("var/lib/dpkg/status"));
        for (const DebInfo& info : earlier_) {
            for (auto& [key, text] : stanzas_of(info.stanza)) {
                status[key] = text;
            }
        }
        for (const Unpacked& u : unpacked_) {
            // A package installed over another architecture's instance replaces it.
            status.erase(u.name);
            status[u.id()] = u.info.stanza;
            std::string info = "var/lib/dpkg/info/" + u.id() + ".";
            std::string list;
            for (const std::string& p : u.list) {
                if (!u.lost.count(p)) {
                    list += p + "\n";
                }
            }
            file(info + "list", list);
            for (const auto& [name, member] : u.control) {
                if (name == "control") {
                    continue;
                }
                file(info + name, member.content, member.mode);
            }
        }
        std::string text;
        for (const auto& [key, stanza] : status) {
            text += stanza + "\n";
        }
        file("var/lib/dpkg/status", text);
        file("var/lib/dpkg/info/format", "1\n");
        return db;
    }

    /// The image as the effects see it: below, the earlier apt layers, this layer.
    ImageView view(bool& adds_libraries) {
        ImageView view = view_of(plan_.below);
        auto apply = [&](const DebInfo& info, bool ours) {
            for (const auto& [dpkg, node] : info.nodes) {
                std::string path = land(dpkg, plan_.below.links);
                if (path.empty()) {
                    continue;
                }
                std::string name = path.substr(path.rfind('/') + 1);
                if (ours && node.type != ImageNode::Type::directory &&
                    (is_library_name(name) || path == "etc/ld.so.conf" ||
                     path.starts_with("etc/ld.so.conf.d/"))) {
                    adds_libraries = true;
                }
                put_node(view, path, node);
            }
        };
        for (const DebInfo& info : earlier_) {
            apply(info, false);
        }
        for (const Unpacked& u : unpacked_) {
            apply(u.info, true);
        }
        for (const LayerEntry& e : plan_.extra) {
            ImageNode node;
            std::string name = e.path.substr(e.path.rfind('/') + 1);
            bool config = e.path == "etc/ld.so.conf" || e.path.starts_with("etc/ld.so.conf.d/");
            switch (e.type) {
            case EntryType::directory:
                node.type = ImageNode::Type::directory;
                break;
            case EntryType::symlink:
                node.type = ImageNode::Type::symlink;
                node.target = e.link_target;
                break;
            case EntryType::file:
            case EntryType::hardlink: {
                node.type = ImageNode::Type::file;
                if (e.type == EntryType::file && config) {
                    node.content =
                        e.source.empty()
                            ? e.content
                            : ocibake::detail::read_file(e.source, ErrorKind::input, 1u << 20);
                } else if (e.type == EntryType::file && is_library_name(name)) {
                    ElfScanner scan(e.size);
                    if (e.source.empty()) {
                        scan.feed(e.content.data(), e.content.size());
                    } else {
                        // Streamed: a library may be hundreds of megabytes.
                        ocibake::detail::UniqueFd fd = ocibake::detail::open_file(
                            e.source, O_RDONLY | O_CLOEXEC, ErrorKind::input);
                        std::string chunk(1u << 20, '\0');
                        for (;;) {
                            std::size_t n = ocibake::detail::read_some(
                                fd.get(), chunk.data(), chunk.size(), e.source, ErrorKind::input);
                            if (n == 0) {
                                break;
                            }
                            scan.feed(chunk.data(), n);
                        }
                    }
                    node.elf = scan.finish();
                }
                break;
            }
            default:
                node.type = ImageNode::Type::other;
                break;
            }
            if (e.type != EntryType::directory && (config || is_library_name(name))) {
                adds_libraries = true;
            }
            put_node(view, e.path, node);
        }
        return view;
    }

    std::vector<LayerEntry> scripts_effects() {
        bool adds_libraries = false;
        ImageView image = view(adds_libraries);
        std::vector<LayerEntry> out;
        // base-passwd's masters, when its postinst would copy them.
        auto masters_of = [](const DebInfo& info, std::map<std::string, std::string>& masters) {
            for (const auto& [path, node] : info.nodes) {
                if (path.starts_with("usr/share/base-passwd/")) {
                    masters[path] = node.content;
                }
            }
        };
        // The account files as the earlier layers left them: each one's accounts (and
        // base-passwd's masters, where it installed base-passwd) over the one before.
        ImageFacts below = plan_.below;
        for (const auto& earlier : plan_.earlier_accounts) {
            std::map<std::string, std::string> masters;
            for (const LockedPackage& p : earlier.packages) {
                if (p.name != "base-passwd") {
                    continue; // the masters are base-passwd's
                }
                // earlier_ holds the infos of plan_.earlier, in its order.
                for (std::size_t i = 0; i < plan_.earlier.size() && i < earlier_.size(); ++i) {
                    if (plan_.earlier[i].sha256 == p.sha256) {
                        masters_of(earlier_[i], masters);
                    }
                }
            }
            for (const LayerEntry& e :
                 account_entries(below, image, masters, earlier.accounts, earlier.groups)) {
                below.files[e.path] = e.content;
            }
        }
        std::map<std::string, std::string> masters;
        for (const Unpacked& u : unpacked_) {
            if (u.name == "base-passwd") {
                masters_of(u.info, masters);
            }
        }
        std::vector<LayerEntry> accounts =
            account_entries(below, image, masters, plan_.accounts, plan_.groups);
        out.insert(out.end(), accounts.begin(), accounts.end());
        // Alternatives this layer's packages declare, with the earlier layers' of the same
        // names (the groups are written whole).
        std::vector<AltDecl> declared;
        std::set<std::string> names;
        for (const Unpacked& u : unpacked_) {
            for (const AltDecl& d : u.info.alternatives) {
                declared.push_back(d);
                names.insert(d.name);
            }
        }
        for (const AlternativeChoice& c : plan_.alternatives) {
            names.insert(c.name);
        }
        for (const DebInfo& info : earlier_) {
            for (const AltDecl& d : info.alternatives) {
                if (names.count(d.name)) {
                    declared.push_back(d);
                }
            }
        }
        std::vector<LayerEntry> alts = alternative_entries(plan_.below, image, declared,
                                                           plan_.alternatives, plan_.below.links);
        for (LayerEntry& e : alts) {
            e.path = land(e.path, plan_.below.links);
            if (e.type == EntryType::symlink) {
                ImageNode n;
                n.type = ImageNode::Type::symlink;
                n.target = e.link_target;
                put_node(image, e.path, n);
            }
            out.push_back(std::move(e));
        }
        // ca-certificates' postinst: update-ca-certificates.
        bool ca_certificates =
            std::any_of(unpacked_.begin(), unpacked_.end(),
                        [](const Unpacked& u) { return u.name == "ca-certificates"; });
        if (ca_certificates) {
            for (LayerEntry& e : ca_certificate_entries(plan_.below, image)) {
                out.push_back(std::move(e));
            }
        }
        // ld.so.cache, when the layer adds libraries or linker configuration to an image
        // with glibc's linker configuration (libc-bin's trigger runs ldconfig then).
        if ((adds_libraries && image.count("etc/ld.so.conf")) || plan_.ldconfig) {
            LdCache cache = make_ld_cache(image, plan_.arch, plan_.generator);
            LayerEntry e;
            e.path = "etc/ld.so.cache";
            e.type = EntryType::file;
            e.mode = 0644;
            e.size = cache.bytes.size();
            e.content = std::move(cache.bytes);
            out.push_back(std::move(e));
            for (const auto& [path, target] : cache.links) {
                LayerEntry link;
                link.path = path;
                link.type = EntryType::symlink;
                link.mode = 0777;
                link.link_target = target;
                out.push_back(std::move(link));
            }
        }
        // One entry per path: a later effect replaces an earlier one.
        std::map<std::string, LayerEntry> unique;
        for (LayerEntry& e : out) {
            unique[e.path] = std::move(e);
        }
        std::vector<LayerEntry> result;
        for (auto& [path, e] : unique) {
            result.push_back(std::move(e));
        }
        return result;
    }

    const Store& store_;
    const AptLayerPlan& plan_;
    unsigned threads_;
    BufferPool buffers_;
    std::vector<Unpacked> unpacked_;
    std::map<std::string, Owner> owners_;
    std::vector<BelowPackage> below_;
    struct BelowOwner {
        std::size_t package; ///< below_ index
        std::string dpkg;    ///< the path as the package names it
    };
    std::map<std::string, BelowOwner> below_owner_; ///< landed path -> its owner
    std::map<std::string, Diversion> diversions_;   ///< dpkg path -> where it goes
    /// Symlinks this layer's packages write (landed path -> target).
    std::map<std::string, std::string> layer_links_;
    /// Symlinks of the image below: the base's and the earlier apt layers' (path -> target).
    std::map<std::string, std::string> below_links_;
};

/// Infos of the packages earlier apt layers install: from the record each unpacking
/// leaves, or (when the record is missing) by unpacking the package into a stream that
/// is dropped.
std::vector<DebInfo> earlier_infos(Store& store, const std::vector<LockedPackage>& earlier,
                                   const std::string& arch) {
    std::vector<DebInfo> out;
    for (const LockedPackage& p : earlier) {
        if (auto text = store.get_record("apt-deb", p.sha256.hex())) {
            if (auto info = deb_info_from_json(*text)) {
                out.push_back(std::move(*info));
                continue;
            }
        }
        // Being unpacked by an earlier layer's build right now: wait for its info.
        if (auto being_made = InfoBoard::instance().find(p, arch)) {
            if (std::optional<DebInfo> info = being_made->get()) {
                out.push_back(std::move(*info));
                continue;
            }
        }
        AptLayerPlan plan;
        plan.packages = {p};
        plan.arch = arch;
        LayerWriter writer(store, plan, 1);
        BufferPool pool(kDataChunk);
        ChunkStream sink(pool, [&](Buffer&& b) { pool.put(std::move(b)); });
        TarWriter tar(sink, 0);
        writer.write(tar, sink);
        const DebInfo& info = *writer.infos().at(p.sha256);
        store.put_record("apt-deb", p.sha256.hex(), to_json(info));
        out.push_back(info);
    }
    return out;
}

} // namespace

LayerResult build_apt_layer(Store& store, http::Client& client, const AptLayerPlan& plan,
                            const LayerOptions& options, ocibake::detail::ThreadPool* pool,
                            CacheStatus* status, Progress* progress) {
    Digest key = layer_key(plan, options);
    if (auto text = store.get_record("apt-layer", key.hex())) {
        Digest diff_id = Digest::try_parse(*text);
        if (diff_id) {
            if (auto hit = ocibake::detail::find_layer_blob(store, diff_id, options)) {
                if (status) {
                    *status = CacheStatus::hit;
                }
                return *hit;
            }
        }
    }
    fetch_debs(store, client, plan.earlier, 8, plan.fallbacks);
    // This layer's packages download while the first ones are decoded.
    ocibake::detail::ThreadPool downloads(8);
    std::vector<std::shared_future<void>> ready =
        start_fetches(store, client, plan.packages, downloads, plan.fallbacks);
    unsigned threads = ocibake::detail::resolve_threads(options.threads);
    LayerWriter writer(store, plan, threads);
    writer.earlier_ = earlier_infos(store, plan.earlier, plan.arch);
    // Claimed as soon as this build waits for nobody, so that the layers after this one
    // wait for these infos rather than decode the packages again. A build never waits
    // while it holds claims it has not published, so no two builds (of one recipe, or of
    // two running in one process) can wait for each other.
    InfoClaims claims(plan.packages, plan.arch);
    writer.ready_ = &ready;
    writer.claims_ = &claims;
    std::uint64_t total = 0;
    for (const LockedPackage& p : plan.packages) {
        total += p.size * 4; // a guess, for progress only
    }
    LayerResult result = ocibake::detail::write_layer_stream(
        store, options, pool, progress, plan.name, total,
        [&](TarWriter& tar, ChunkStream& stream) { writer.write(tar, stream); });
    ocibake::detail::remember_layer_blob(store, result, options);
    store.put_record("apt-layer", key.hex(), result.diff_id.str());
    for (const auto& [digest, info] : writer.infos()) {
        store.put_record("apt-deb", digest.hex(), to_json(*info));
    }
    if (status) {
        *status = CacheStatus::built;
    }
    return result;
}

} // namespace ocibake::apt::detail
