// Internal: dpkg's rules for one part's packages: where each data.tar entry lands, whether
// the part writes it, what the part changes of the packages below.
//
// The planner reads only the entries' shapes (path, type, link target) and the packages'
// control data, and asks the image below through PartFacts. Fed from the packages
// themselves while a part is written, or from their records to find a part's key
// without decoding anything, it asks the same questions and decides the same way.
#pragma once

#include "apt/model.hpp"
#include "ocibake/lock.hpp"

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace ocibake::apt::detail {

/// One data.tar entry as dpkg's rules see it.
struct EntryShape {
    std::string dpkg; ///< the cleaned path ("usr/bin/x"; "" for the root)
    enum class Kind { directory, file, symlink, hardlink, other } kind = Kind::file;
    std::string link; ///< a symlink's target; a hard link's (cleaned) target path
};

/// Where an entry goes.
struct Placement {
    bool write = false;
    std::string path;        ///< landed (where the link of a merged /usr puts it)
    std::string link_target; ///< a hard link's landed target
};

class PartPlanner {
public:
    /// `packages` in the part's order (each must outlive the planner).
    PartPlanner(const std::vector<LockedPackage>& packages, PartFacts& facts);

    /// Package `i`'s control data, before its entries. Error(integrity) when it is not the
    /// package the lock pins.
    void begin(std::size_t i, PackageMeta meta);
    /// Places one entry of package `i`. Throws dpkg's refusals (Error(input)): a file
    /// another package has (without Replaces), a path below a symlink, a diverted path.
    Placement place(std::size_t i, const EntryShape& entry);
    /// After every package: what the part did (its packages' lists, the whiteouts and
    /// rewritten lists of the packages below it installs again or takes files from).
    PartOutcome finish();

    const PackageMeta& meta(std::size_t i) const { return packages_[i].meta; }

private:
    struct Package {
        const LockedPackage* lock = nullptr;
        PackageMeta meta;
        std::vector<std::string> list; ///< dpkg paths ("/usr/bin/x"), "/." first
        std::set<std::string> lost;    ///< landed paths of its files another package keeps
        std::set<std::string> skipped; ///< landed paths of its files not written
        bool begun = false;
    };
    struct Owner {
        std::size_t package;
        bool directory;
    };

    std::string what(const Package& p) const;
    [[noreturn]] void conflict(const Package& u, const std::string& dpkg,
                               const std::string& other) const;
    void check_parents(const Package& u, const std::string& dpkg, const std::string& path);
    bool below_owner(Package& u, const std::string& dpkg, const std::string& path);

    PartFacts& facts_;
    std::vector<Package> packages_;
    std::map<std::string, Owner> owners_;            ///< landed path -> package of the part
    std::map<std::string, std::string> layer_links_; ///< the part's symlinks: path -> target
    /// Packages below that lose files to the part: key -> landed paths.
    std::map<std::string, std::set<std::string>> taken_;
    PartOutcome outcome_;
};

} // namespace ocibake::apt::detail
