// Internal: the image below a part, as dpkg sees it, and the facts of it that a part uses.
//
// ImageModel starts from the base image's facts (its dpkg database, directories,
// symlinks, diversions, top-level links) and is advanced by every item of the image in
// order: a part's outcome (its packages installed, the files they own, what they took
// over or replaced), or a layer's own entries. A part never reads the model directly:
// it asks PartFacts, which answers from the model and keeps every answer. Those answers
// are all the part knows of the image below, so the part's bytes are a function of its
// packages and of them; their digest is in the part's cache key (docs/apt.md).
#pragma once

#include "apt/dpkg_db.hpp"
#include "ocibake/apt.hpp"
#include "ocibake/layer.hpp"

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ocibake::apt::detail {

/// Length-prefixed fields hashed for a cache key.
class KeyHasher {
public:
    void field(const std::string& s);
    void number(std::uint64_t n) { field(std::to_string(n)); }
    Digest finish() { return h_.finish(); }

private:
    Sha256 h_;
};

/// Does a package with these Replaces replace `name` at `version`?
bool replaces(const std::vector<Dependency>& by, const std::string& name,
              const std::string& version);

/// A package installed in the image: what its dpkg database files say.
struct DpkgPackage {
    std::string key; ///< as the database names it: name, or name:arch (Multi-Arch: same)
    std::string name, version, arch, multi_arch;
    std::vector<Dependency> replaces;
    std::vector<std::string> list; ///< its info/KEY.list lines as the image has them
    std::set<std::string> info;    ///< its var/lib/dpkg/info/KEY.* files in the image
    bool base = false;             ///< installed in the base image
    std::size_t layer = 0;         ///< else: the recipe layer that installed it
};

/// A package's control data as a part reads it (from its control file or its record).
struct PackageMeta {
    std::string name, version, arch, multi_arch;
    std::vector<std::pair<std::string, std::string>> fields; ///< of the control file
    std::vector<Dependency> replaces;
    std::vector<std::string> members; ///< control members besides `control` (md5sums, ...)
    std::string key() const { return multi_arch == "same" ? name + ":" + arch : name; }
};

/// What a part did to the image: ImageModel::commit() applies it for the items above.
struct PartOutcome {
    struct Installed {
        PackageMeta meta;
        std::vector<std::string> list; ///< its .list lines, as the part writes them
        std::set<std::string> info;    ///< its info files
    };
    std::vector<Installed> installed;
    /// Landed paths of files (not directories) the part writes, and their owners' keys
    /// and dpkg names.
    std::map<std::string, std::pair<std::string, std::string>> files;
    std::map<std::string, std::string> symlinks; ///< written symlinks: path -> target
    std::map<std::string, std::string> dirs;     ///< written directories -> their package
    std::set<std::string> whiteouts;             ///< landed paths deleted
    std::set<std::string> removed;               ///< keys of packages it installed again
    /// Packages below that lost files to the part: key -> their .list lines now.
    std::map<std::string, std::vector<std::string>> lists;
    /// Per package of the part: landed paths of its files not written (another
    /// package's stay), for the state layer's view.
    std::vector<std::set<std::string>> unwritten;
};

class ImageModel;

/// The owner of a file below, as a part needs to know it.
struct OwnerFact {
    std::string key, name, version, arch;
    std::string dpkg;                 ///< the path as the owner's .list names it
    std::vector<Dependency> replaces; ///< the owner's Replaces
    bool base = false;                ///< installed in the base image
    bool same_layer = false;          ///< a package of a lower part of the same recipe layer
    std::string describe() const;
};

/// Every answer the image below gave a part. Recording (with a model) or replaying
/// (detached: a question not asked before is an Error(internal)).
class PartFacts {
public:
    explicit PartFacts(const ImageModel* model) : model_(model) {}

    /// The base's top-level symlinks (a merged /usr).
    const std::map<std::string, std::string>& links();
    /// Is `path` a directory in the image below the recipe layer (base, earlier layers)?
    bool dir_below(const std::string& path);
    /// The package of a lower part of this recipe layer that has a directory at `path`.
    std::optional<OwnerFact> layer_dir(const std::string& path);
    /// The target of a symlink at `path` in the image below.
    std::optional<std::string> symlink(const std::string& path);
    /// The package that owns the file at `path` (a landed path) below.
    std::optional<OwnerFact> owner(const std::string& path);
    /// The diversion of `dpkg_path` ("/usr/bin/x").
    std::optional<Diversion> diversion(const std::string& dpkg_path);
    /// Installed packages named `name` (any architecture).
    std::vector<DpkgPackage> installed(const std::string& name);
    /// An installed package (one an owner() answer named).
    DpkgPackage package(const std::string& key);

    /// Stops consulting the model: later questions must have been asked before.
    void detach() noexcept { model_ = nullptr; }
    /// The answers, canonically (sorted), hashed.
    Digest digest() const;

private:
    const ImageModel& model(const char* what) const;
    const ImageModel* model_;
    std::optional<std::map<std::string, std::string>> links_;
    std::map<std::string, bool> dir_below_;
    std::map<std::string, std::optional<OwnerFact>> layer_dir_;
    std::map<std::string, std::optional<std::string>> symlink_;
    std::map<std::string, std::optional<OwnerFact>> owner_;
    std::map<std::string, std::optional<Diversion>> diversion_;
    std::map<std::string, std::vector<DpkgPackage>> installed_;
    std::map<std::string, DpkgPackage> package_;
};

/// The image below the next item, as dpkg's rules see it.
class ImageModel {
public:
    /// The base image, from its layers' facts.
    explicit ImageModel(const ImageFacts& base);

    /// The items of recipe layer `layer` come next: directories of the items before are
    /// now "below the recipe layer".
    void begin_layer(std::size_t layer);
    /// A part of the current recipe layer is done.
    void commit(const PartOutcome& outcome);
    /// A layer's own entries (copies, files, wheels) are done.
    void commit(const std::vector<LayerEntry>& entries);

    const std::map<std::string, std::string>& links() const { return links_; }
    bool dir_below(const std::string& path) const { return dirs_.count(path) > 0; }
    std::optional<OwnerFact> layer_dir(const std::string& path) const;
    std::optional<std::string> symlink(const std::string& path) const;
    std::optional<OwnerFact> owner(const std::string& path) const;
    std::optional<Diversion> diversion(const std::string& dpkg_path) const;
    std::vector<DpkgPackage> installed(const std::string& name) const;
    std::optional<DpkgPackage> package(const std::string& key) const;

private:
    struct Owner {
        std::string key;  ///< the package
        std::string dpkg; ///< the path as its .list names it
    };
    OwnerFact fact_of(const DpkgPackage& p, const std::string& dpkg) const;
    void forget(const std::string& path);

    std::map<std::string, std::string> links_;
    std::map<std::string, Diversion> diversions_;
    std::map<std::string, DpkgPackage> packages_; ///< by key
    std::map<std::string, Owner> owners_;         ///< landed file path -> its package
    std::set<std::string> dirs_;                  ///< of the base and the earlier layers
    /// Directories the current recipe layer's parts wrote: path -> the package ("" for a
    /// layer's own entry).
    std::map<std::string, std::string> layer_dirs_;
    std::map<std::string, std::string> symlinks_; ///< path -> target
    std::size_t layer_ = 0;
};

} // namespace ocibake::apt::detail
