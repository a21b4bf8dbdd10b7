// The resolver: requests -> the packages to install, deterministically.
//
// Requests are taken in sorted order; each selected package's Pre-Depends, Depends (and
// Recommends when asked) are visited breadth first. A dependency already satisfied by a
// selected or installed package needs nothing; otherwise its alternatives are tried in
// the order written, each with its candidates best first (source priority, then version),
// real packages before providers of a virtual name, and the first one that does not
// conflict is selected. Multi-Arch rules are dpkg's (lib/dpkg/depcon.c, archsatisfied).
// What cannot be satisfied is reported with the chain of dependencies that led to it.
// Preferred versions (a lock's pins) are tried before the others; resolve() drops the
// preferences that make a resolution fail, a few related ones at a time.
#include "apt/internal.hpp"
#include "common/strings.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <utility>

namespace ocibake::apt {

namespace {

/// A package that satisfies relations: a candidate from the index, or one installed.
struct Pkg {
    const std::string* name;
    const std::string* version;
    const std::string* arch;
    const std::string* multi_arch;
    const std::vector<Relation>* provides;
};

Pkg pkg_of(const Candidate& c) {
    return {&c.name, &c.version, &c.arch, &c.multi_arch, &c.provides};
}
Pkg pkg_of(const InstalledPackage& p) {
    return {&p.name, &p.version, &p.arch, &p.multi_arch, &p.provides};
}

/// dpkg's archsatisfied(): may a package of `arch`/`multi_arch` satisfy a relation
/// written by a package of `depender_arch` with the qualifier `qualifier`?
bool arch_ok(const std::string& native, const std::string& depender_arch,
             const std::string& qualifier, const std::string& arch, const std::string& multi_arch) {
    if (multi_arch == "foreign") {
        return true;
    }
    std::string want = qualifier.empty() ? depender_arch : qualifier;
    if (want == "native") {
        want = native;
    }
    if (want == "any") {
        return multi_arch == "allowed";
    }
    if (want == arch) {
        return true;
    }
    return (want == native && arch == "all") || (arch == native && want == "all");
}

/// Does `p` match `r` by name and version, directly or by Provides (architecture aside)?
bool matches(const Relation& r, const Pkg& p) {
    if (*p.name == r.name && satisfies(*p.version, r.op, r.version)) {
        return true;
    }
    for (const Relation& provided : *p.provides) {
        if (provided.name != r.name) {
            continue;
        }
        if (r.op == Op::any) {
            return true;
        }
        // A versioned relation is met only by a versioned Provides (= version).
        if (provided.op == Op::eq && satisfies(provided.version, r.op, r.version)) {
            return true;
        }
    }
    return false;
}

/// Does `p` satisfy `r` (written by a package of `depender_arch`)?
bool satisfies_relation(const std::string& native, const std::string& depender_arch,
                        const Relation& r, const Pkg& p) {
    return arch_ok(native, depender_arch, r.arch, *p.arch, *p.multi_arch) && matches(r, p);
}

std::string dependency_text(const Dependency& dep) {
    std::vector<std::string> parts;
    for (const Relation& r : dep) {
        parts.push_back(r.str());
    }
    return ocibake::detail::join(parts, " | ");
}

int priority_rank(const std::string& priority) {
    static const char* order[] = {"required", "important", "standard", "optional", "extra"};
    for (int i = 0; i < 5; ++i) {
        if (priority == order[i]) {
            return i;
        }
    }
    return 5;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        prev[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

/// "name version arch": how a preference is looked up.
std::string key_of(std::string_view name, std::string_view version, std::string_view arch) {
    std::string out(name);
    out += ' ';
    out += version;
    out += ' ';
    out += arch;
    return out;
}

class Resolver {
public:
    Resolver(const Index& index, const ResolveOptions& options,
             const std::vector<InstalledPackage>& installed,
             const std::set<std::string>& preferred = {})
        : index_(index), options_(options), installed_(installed), preferred_(preferred) {}

    /// After run() failed: the packages involved in the failure (see blockers_).
    const std::set<std::string>& culprits() const { return blockers_; }

    std::vector<LockedPackage> run(std::vector<PackageRequest> requests) {
        std::sort(
            requests.begin(), requests.end(), [](const PackageRequest& a, const PackageRequest& b) {
                return std::tie(a.name, a.arch, a.version) < std::tie(b.name, b.arch, b.version);
            });
        for (const PackageRequest& request : requests) {
            take_request(request);
        }
        while (!queue_.empty()) {
            std::size_t id = queue_.front();
            queue_.pop_front();
            visit(id);
        }
        std::vector<LockedPackage> out;
        for (const Selected& s : selected_) {
            const Candidate& c = *s.candidate;
            LockedPackage p;
            p.name = c.name;
            p.version = c.version;
            p.arch = c.arch;
            p.source = c.source;
            p.url = c.url;
            p.size = c.size;
            p.sha256 = c.sha256;
            out.push_back(std::move(p));
        }
        std::sort(out.begin(), out.end(), [](const LockedPackage& a, const LockedPackage& b) {
            return std::tie(a.name, a.arch) < std::tie(b.name, b.arch);
        });
        return out;
    }

private:
    struct Selected {
        const Candidate* candidate;
        std::optional<std::size_t> parent; ///< the package whose dependency chose this one
        std::string because;               ///< that dependency, as written
        SourceLocation requested_at;       ///< for requests
    };

    const std::string& native() const { return index_.native_arch; }

    bool preferred(const Candidate& c) const {
        return !preferred_.empty() && preferred_.count(key_of(c.name, c.version, c.arch)) != 0;
    }

    /// `options` with the preferred candidates first (the order otherwise kept).
    void preferred_first(std::vector<const Candidate*>& options) const {
        std::stable_partition(options.begin(), options.end(),
                              [&](const Candidate* c) { return preferred(*c); });
    }

    /// The architecture a package's own relations are written for.
    std::string depender_arch(const Candidate& c) const {
        return c.arch == "all" ? native() : c.arch;
    }

    std::string chain(std::optional<std::size_t> id) const {
        std::vector<std::string> parts;
        while (id) {
            const Selected& s = selected_[*id];
            std::string part = s.candidate->name + " " + s.candidate->version;
            if (!s.parent && s.requested_at.known()) {
                part += " (asked for at " + s.requested_at.str() + ")";
            }
            parts.push_back(part);
            id = s.parent;
        }
        std::reverse(parts.begin(), parts.end());
        return ocibake::detail::join(parts, " -> ");
    }

    [[noreturn]] void unsatisfiable(std::size_t id, const std::string& what,
                                    const std::string& why) const {
        throw Error(ErrorKind::input, "cannot install " + chain(id) + ": " +
                                          selected_[id].candidate->name + " " + what + ", but " +
                                          why);
    }

    std::vector<std::string> near_names(const std::string& name) const {
        std::vector<std::pair<std::size_t, std::string>> scored;
        for (const std::string& n : index_.names()) {
            std::size_t d = edit_distance(name, n);
            bool related = d <= 2 || (name.size() >= 4 && n.find(name) != std::string::npos &&
                                      n.size() <= name.size() + 8);
            if (related && d < name.size()) {
                scored.emplace_back(d, n);
            }
        }
        std::sort(scored.begin(), scored.end());
        std::vector<std::string> out;
        for (std::size_t i = 0; i < scored.size() && i < 5; ++i) {
            out.push_back(scored[i].second);
        }
        return out;
    }

    bool is_installed_satisfying(const std::string& depender, const Relation& r) const {
        return std::any_of(installed_.begin(), installed_.end(), [&](const InstalledPackage& p) {
            return !replaced(p) && satisfies_relation(native(), depender, r, pkg_of(p));
        });
    }

    /// An installed package that this resolution installs another version of.
    bool replaced(const InstalledPackage& p) const {
        for (const Selected& s : selected_) {
            if (s.candidate->name == p.name &&
                (s.candidate->multi_arch != "same" || s.candidate->arch == p.arch)) {
                return true;
            }
        }
        return false;
    }

    std::optional<std::size_t> selected_satisfying(const std::string& depender,
                                                   const Relation& r) const {
        for (std::size_t i = 0; i < selected_.size(); ++i) {
            if (satisfies_relation(native(), depender, r, pkg_of(*selected_[i].candidate))) {
                return i;
            }
        }
        return std::nullopt;
    }

    /// A selected package of the same name (and, for Multi-Arch: same, architecture).
    std::optional<std::size_t> selected_instance(const Candidate& c) const {
        for (std::size_t i = 0; i < selected_.size(); ++i) {
            const Candidate& s = *selected_[i].candidate;
            if (s.name == c.name && (c.multi_arch != "same" || s.arch == c.arch)) {
                return i;
            }
        }
        return std::nullopt;
    }

    /// Why `c` cannot join the selection (it conflicts or breaks), or "". Conflicts and
    /// Breaks name packages of any architecture; a package never conflicts with itself
    /// (nor through a virtual name it provides itself).
    std::string conflict_of(const Candidate& c) {
        auto hit = [](const Candidate& by, const Pkg& other) -> std::string {
            if (by.name == *other.name) {
                return {};
            }
            for (const auto* rels : {&by.conflicts, &by.breaks}) {
                for (const Dependency& dep : *rels) {
                    for (const Relation& r : dep) {
                        if (matches(r, other)) {
                            return std::string(rels == &by.conflicts ? "conflicts with "
                                                                     : "breaks ") +
                                   r.str();
                        }
                    }
                }
            }
            return {};
        };
        for (const Selected& s : selected_) {
            const Candidate& o = *s.candidate;
            if (std::string why = hit(c, pkg_of(o)); !why.empty()) {
                blocked_by(static_cast<std::size_t>(&s - selected_.data()));
                return c.name + " " + c.version + " " + why + ", and " + o.name + " " + o.version +
                       " is being installed";
            }
            if (std::string why = hit(o, pkg_of(c)); !why.empty()) {
                blocked_by(static_cast<std::size_t>(&s - selected_.data()));
                return o.name + " " + o.version + " (being installed) " + why;
            }
        }
        for (const InstalledPackage& p : installed_) {
            if (replaced(p) || p.name == c.name) {
                continue;
            }
            if (std::string why = hit(c, pkg_of(p)); !why.empty()) {
                return c.name + " " + c.version + " " + why + ", and " + p.name + " " + p.version +
                       " is installed";
            }
        }
        return {};
    }

    /// Records a selected package that stands in the way, and the chain that selected it.
    void blocked_by(std::size_t id) {
        for (std::optional<std::size_t> at = id; at; at = selected_[*at].parent) {
            blockers_.insert(selected_[*at].candidate->name);
        }
    }

    std::size_t select(const Candidate& c, std::optional<std::size_t> parent, std::string because,
                       SourceLocation where = {}) {
        selected_.push_back({&c, parent, std::move(because), std::move(where)});
        queue_.push_back(selected_.size() - 1);
        return selected_.size() - 1;
    }

    void take_request(const PackageRequest& request) {
        blockers_.clear();
        blockers_.insert(request.name);
        std::string arch = request.arch.empty() ? native() : request.arch;
        std::string at = request.where.known() ? " (asked for at " + request.where.str() + ")" : "";
        std::vector<const Candidate*> versions = index_.versions(request.name);
        std::vector<const Candidate*> fitting;
        for (const Candidate* c : versions) {
            if (c->arch == arch || c->arch == "all") {
                fitting.push_back(c);
            }
        }
        if (versions.empty()) {
            std::vector<const Candidate*> providers = index_.providers(request.name);
            std::set<std::string> names;
            for (const Candidate* p : providers) {
                names.insert(p->name);
            }
            if (names.size() == 1) {
                // As apt does: a virtual package with one provider means that provider.
                PackageRequest real = request;
                real.name = *names.begin();
                real.version.clear();
                take_request(real);
                return;
            }
            if (!names.empty()) {
                throw Error(ErrorKind::input,
                            "package '" + request.name + "'" + at +
                                " is virtual: it is provided by " +
                                ocibake::detail::join(
                                    std::vector<std::string>(names.begin(), names.end()), ", ") +
                                "; name the one to install");
            }
            std::vector<std::string> near = near_names(request.name);
            throw Error(ErrorKind::input,
                        "unknown package '" + request.name + "'" + at + ": no apt source has it" +
                            (near.empty()
                                 ? std::string()
                                 : " (did you mean " + ocibake::detail::join(near, ", ") + "?)"));
        }
        if (fitting.empty()) {
            std::set<std::string> archs;
            for (const Candidate* c : versions) {
                archs.insert(c->arch);
            }
            throw Error(ErrorKind::input,
                        "package '" + request.name + "'" + at + " is not available for " + arch +
                            " (the sources have it for " +
                            ocibake::detail::join(
                                std::vector<std::string>(archs.begin(), archs.end()), ", ") +
                            ")");
        }
        const Candidate* chosen = nullptr;
        if (!request.version.empty()) {
            for (const Candidate* c : fitting) {
                if (compare_versions(c->version, request.version) == 0) {
                    chosen = c;
                    break;
                }
            }
            if (chosen == nullptr) {
                std::vector<std::string> have;
                for (const Candidate* c : fitting) {
                    have.push_back(c->version);
                }
                throw Error(ErrorKind::input, "package '" + request.name + "'" + at +
                                                  ": no apt source has version " + request.version +
                                                  " (they have " +
                                                  ocibake::detail::join(have, ", ") + ")");
            }
        } else {
            preferred_first(fitting);
            chosen = fitting.front();
        }
        // Already in the image at that version (or at all, when no version is asked for).
        for (const InstalledPackage& p : installed_) {
            if (p.name == chosen->name && (p.arch == chosen->arch || p.arch == "all" ||
                                           chosen->arch == "all" || p.multi_arch != "same")) {
                if (request.version.empty() || compare_versions(p.version, request.version) == 0) {
                    return;
                }
            }
        }
        if (auto existing = selected_instance(*chosen)) {
            const Candidate& s = *selected_[*existing].candidate;
            if (&s == chosen) {
                return;
            }
            blocked_by(*existing);
            throw Error(ErrorKind::input, "package '" + request.name + "'" + at +
                                              " is asked for at version " + chosen->version +
                                              ", but " + chain(existing) + " needs version " +
                                              s.version);
        }
        std::string conflict = conflict_of(*chosen);
        if (!conflict.empty()) {
            throw Error(ErrorKind::input, "cannot install " + request.name + at + ": " + conflict);
        }
        select(*chosen, std::nullopt, {}, request.where);
    }

    /// What the index offers for one alternative, in the order to try.
    std::vector<const Candidate*> options_for(const std::string& depender, const Relation& r,
                                              std::string& why_not) const {
        std::vector<const Candidate*> out;
        std::vector<const Candidate*> versions = index_.versions(r.name);
        std::vector<std::string> wrong_version, wrong_arch;
        for (const Candidate* c : versions) {
            if (satisfies_relation(native(), depender, r, pkg_of(*c))) {
                out.push_back(c);
            } else if (!arch_ok(native(), depender, r.arch, c->arch, c->multi_arch)) {
                wrong_arch.push_back(c->version + " (" + c->arch + ")");
            } else {
                wrong_version.push_back(c->version);
            }
        }
        std::vector<const Candidate*> providers;
        for (const Candidate* c : index_.providers(r.name)) {
            if (c->name != r.name && satisfies_relation(native(), depender, r, pkg_of(*c))) {
                providers.push_back(c);
            }
        }
        std::stable_sort(providers.begin(), providers.end(),
                         [](const Candidate* a, const Candidate* b) {
                             int pa = priority_rank(a->priority), pb = priority_rank(b->priority);
                             if (pa != pb) {
                                 return pa < pb;
                             }
                             return a->name < b->name;
                         });
        out.insert(out.end(), providers.begin(), providers.end());
        preferred_first(out);
        if (out.empty()) {
            if (!wrong_version.empty()) {
                why_not = "the sources have " + r.name + " " +
                          ocibake::detail::join(wrong_version, ", ") + " only";
            } else if (!wrong_arch.empty()) {
                why_not = "the sources have " + r.name + " " +
                          ocibake::detail::join(wrong_arch, ", ") +
                          ", which cannot satisfy a dependency of a " + depender + " package";
            } else {
                why_not = "no apt source has " + r.name;
            }
        }
        return out;
    }

    /// Could `c` be installed, looking `depth` levels down its Pre-Depends and Depends?
    /// Alternatives whose own dependencies cannot be met are passed over for the next.
    bool viable(const Candidate& c, int depth) const {
        if (depth == 0) {
            return true;
        }
        std::string depender = depender_arch(c);
        for (const auto* deps : {&c.pre_depends, &c.depends}) {
            for (const Dependency& dep : *deps) {
                bool ok = false;
                for (const Relation& r : dep) {
                    if (selected_satisfying(depender, r) || is_installed_satisfying(depender, r)) {
                        ok = true;
                        break;
                    }
                    std::string ignored;
                    for (const Candidate* o : options_for(depender, r, ignored)) {
                        if (o != &c && viable(*o, depth - 1)) {
                            ok = true;
                            break;
                        }
                    }
                    if (ok) {
                        break;
                    }
                }
                if (!ok) {
                    return false;
                }
            }
        }
        return true;
    }

    /// Satisfies one dependency of package `id`. Returns false when it cannot.
    bool satisfy(std::size_t id, const Dependency& dep, bool required) {
        const Candidate& c = *selected_[id].candidate;
        blockers_.clear();
        blocked_by(id); // the package whose dependency this is, and its chain
        std::string depender = depender_arch(c);
        for (const Relation& r : dep) {
            if (selected_satisfying(depender, r) || is_installed_satisfying(depender, r)) {
                return true;
            }
        }
        // A preferred candidate of any alternative first (what the lock chose stays
        // chosen, even where an earlier alternative has become possible).
        if (!preferred_.empty()) {
            for (const Relation& r : dep) {
                std::string ignored;
                for (const Candidate* o : options_for(depender, r, ignored)) {
                    if (preferred(*o) && !selected_instance(*o) && conflict_of(*o).empty() &&
                        viable(*o, 2)) {
                        select(*o, id, dependency_text(dep));
                        return true;
                    }
                }
            }
        }
        // First the alternatives whose own dependencies look satisfiable; failing that,
        // the first one that can be selected at all, so that the error names what is
        // missing further down.
        std::vector<std::string> reasons;
        const Candidate* fallback = nullptr;
        for (const Relation& r : dep) {
            std::string why_not;
            std::vector<const Candidate*> options = options_for(depender, r, why_not);
            for (const Candidate* o : options) {
                if (auto existing = selected_instance(*o)) {
                    const Candidate& s = *selected_[*existing].candidate;
                    blocked_by(*existing);
                    why_not = chain(existing) + " is selected, not " + o->name + " " + o->version +
                              (s.version == o->version ? " (" + o->arch + ")" : "");
                    continue;
                }
                std::string conflict = conflict_of(*o);
                if (!conflict.empty()) {
                    why_not = conflict;
                    continue;
                }
                if (!viable(*o, 2)) {
                    if (fallback == nullptr) {
                        fallback = o;
                    }
                    continue;
                }
                select(*o, id, dependency_text(dep));
                return true;
            }
            reasons.push_back(why_not);
        }
        if (fallback != nullptr && required) {
            select(*fallback, id, dependency_text(dep));
            return true;
        }
        if (required) {
            std::string what = "depends on " + dependency_text(dep);
            unsatisfiable(id, what, ocibake::detail::join(reasons, "; and "));
        }
        return false;
    }

    void visit(std::size_t id) {
        const Candidate& c = *selected_[id].candidate;
        for (const Dependency& dep : c.pre_depends) {
            satisfy(id, dep, true);
        }
        for (const Dependency& dep : c.depends) {
            satisfy(id, dep, true);
        }
        if (options_.recommends) {
            for (const Dependency& dep : c.recommends) {
                satisfy(id, dep, false); // as apt: a recommendation that cannot be met is skipped
            }
        }
    }

    const Index& index_;
    const ResolveOptions& options_;
    const std::vector<InstalledPackage>& installed_;
    const std::set<std::string>& preferred_;
    std::vector<Selected> selected_;
    /// The packages involved in the last request or dependency looked at: the package
    /// whose request or dependency it is and the selected packages that stood in its way,
    /// each with the chain of packages that selected it. When the resolution fails there,
    /// the preferences worth dropping.
    std::set<std::string> blockers_;
    std::deque<std::size_t> queue_;
};

} // namespace

std::vector<LockedPackage> resolve(const Index& index, const std::vector<PackageRequest>& requests,
                                   const ResolveOptions& options,
                                   const std::vector<InstalledPackage>& installed) {
    if (options.prefer.empty()) {
        return Resolver(index, options, installed).run(requests);
    }
    std::set<std::string> preferred_names;
    for (const LockedPackage& p : options.prefer) {
        preferred_names.insert(p.name);
    }
    // Preferences of the packages in `dropped` are not used: each failed attempt drops
    // those of the preferred packages involved in its failure, until one resolves.
    std::set<std::string> dropped;
    while (true) {
        std::set<std::string> keys;
        for (const LockedPackage& p : options.prefer) {
            if (dropped.count(p.name) == 0) {
                keys.insert(key_of(p.name, p.version, p.arch));
            }
        }
        Resolver attempt(index, options, installed, keys);
        try {
            return attempt.run(requests);
        } catch (const Error& e) {
            std::size_t before = dropped.size();
            for (const std::string& name : attempt.culprits()) {
                if (preferred_names.count(name) != 0) {
                    dropped.insert(name);
                }
            }
            if (dropped.size() == before) {
                // Nothing left to drop: no resolution exists at all (said as a resolution
                // without preferences says it). Should one exist (a preference that acted
                // without being in any chain of the failure), the pins cannot be kept.
                Resolver(index, options, installed).run(requests);
                throw Error(e.kind(), "cannot keep the locked versions of the packages that are "
                                      "not being updated: " +
                                          std::string(e.what()));
            }
        }
    }
}

} // namespace ocibake::apt
