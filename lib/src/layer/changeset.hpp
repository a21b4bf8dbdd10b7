// Internal: the OCI layer changeset rules, written once for every reader of layers.
//
// How the entries of a layer's tar change the tree below it (whiteouts, opaque
// directories, entries replacing what was there) and which entries are refused:
// names that escape the root, whiteouts that name no entry, hard links out of the
// root, paths through a symlink that leaves the root. `ocibake run` applies a layer to
// a directory (runtime/unpack.cpp); `build` applies a base image's layers to a model of
// the tree to check them (layer/check.cpp). Both are a Changeset over a Target: what
// one refuses, the other refuses with the same message.
#pragma once

#include "common/libarchive.hpp"
#include "ocibake/error.hpp"

#include <archive_entry.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ocibake::detail {

/// How symlinks met on the way are treated.
enum class Symlinks {
    /// Unpacking: a symlink among the parents is followed only when its target is
    /// relative and stays inside the root. An absolute target, or one that climbs above
    /// the root, is refused with Error(input). A file in place of a directory likewise.
    strict,
    /// Reading the tree as the container sees it (chroot semantics): absolute targets
    /// start at the root and ".." stops there. Never leaves the root.
    scoped,
};

/// Normalises a path from a layer or a recipe: "./usr//bin/" -> "usr/bin"; "" for the
/// root itself. nullopt when it is absolute or has a ".." component.
std::optional<std::string> clean_relative_path(std::string_view path);

/// The components of a path, without empty and "." ones ("a//./b" -> {"a", "b"}).
std::vector<std::string> split_path(std::string_view path);

std::string in_quotes(std::string_view text);

/// What a layer entry's name asks for.
struct EntryName {
    enum class Kind {
        root,     ///< the root itself ("./"): its metadata is the runtime's
        plain,    ///< an entry to write at `path`
        whiteout, ///< ".wh.NAME": deletes `victim` of the layers below
        opaque,   ///< ".wh..wh..opq": empties the directory `victim` of the layers below
        reserved, ///< another ".wh..wh." name (AUFS bookkeeping): carries nothing
    };
    Kind kind = Kind::plain;
    std::string path;   ///< the clean path of the entry
    std::string victim; ///< whiteout: the path deleted; opaque: the directory emptied
};

/// Reads an entry name by the changeset rules. Error(input), starting with `label`, for
/// a name that escapes the root (absolute, "..") and for a whiteout that names no entry
/// of its directory (".wh.", ".wh..", ".wh...": the last would delete the directory
/// itself, or its parent).
EntryName classify_entry(std::string_view raw, const std::string& label);

/// The first component of a clean path whose name starts with ".wh." (an OCI layer
/// cannot hold such a name: every runtime reads it as a deletion), or nullopt.
std::optional<std::string> whiteout_component(std::string_view path);

/// "would delete /etc/passwd of the image below", "would empty /etc of the image below":
/// what a path with a ".wh." component means to a runtime (for producers' messages).
std::string whiteout_meaning(std::string_view path);

/// "image path /etc/.wh.passwd would delete /etc/passwd of the image below: ...": why a
/// producer's path with a ".wh." component is refused (callers put their origin first).
std::string whiteout_refusal(std::string_view path);

/// What a node met on a walk is.
struct NodeInfo {
    enum class Type { missing, directory, symlink, other };
    Type type = Type::missing;
    std::string target; ///< a symlink's target, verbatim
};

/// Resolves `path` (relative, clean) one component at a time in `tree`, never letting
/// a symlink lead out of the root. Every component but the last is resolved; the last
/// too when `follow_final` is set. `create` makes missing directories on the way;
/// without it a missing one gives nullopt. `what` starts error messages. Returns the
/// directory that holds the last component, and its name ("." for a directory itself).
///
/// Tree provides (nullptr as a `const Dir*` is the root):
///   using Dir = ...;                                       movable
///   NodeInfo look(const Dir* at, const std::string& name, const std::string& what);
///   void make_dir(const Dir* at, const std::string& name, const std::string& what);
///   Dir enter(const Dir* at, const std::string& name, const std::string& what);
///   Dir hold(const Dir* at);                               a handle for the result
template <class Tree>
std::optional<std::pair<typename Tree::Dir, std::string>>
walk_tree(Tree& tree, std::string_view path, Symlinks mode, bool create, bool follow_final,
          const std::string& what) {
    constexpr int kMaxSymlinks = 40; // as the kernel's MAXSYMLINKS
    using Dir = typename Tree::Dir;
    std::deque<std::string> pending;
    for (std::string& part : split_path(path)) {
        pending.push_back(std::move(part));
    }
    // Directories entered so far below the root, and their names (for messages).
    std::vector<Dir> stack;
    std::vector<std::string> names;
    auto current = [&]() -> const Dir* { return stack.empty() ? nullptr : &stack.back(); };
    auto here = [&](const std::string& name) {
        std::string out;
        for (const std::string& n : names) {
            out += n + "/";
        }
        return in_quotes(out + name);
    };
    auto at = [&](std::string name) {
        return std::optional<std::pair<Dir, std::string>>(std::in_place, tree.hold(current()),
                                                          std::move(name));
    };
    int links = 0;
    while (!pending.empty()) {
        std::string name = std::move(pending.front());
        pending.pop_front();
        if (name == "..") {
            if (stack.empty()) {
                if (mode == Symlinks::strict) {
                    throw Error(ErrorKind::input,
                                what + ": a symlink on the way climbs above the image root");
                }
                continue; // scoped: ".." of the root is the root
            }
            stack.pop_back();
            names.pop_back();
            continue;
        }
        bool last = pending.empty();
        if (last && !follow_final) {
            return at(name);
        }
        NodeInfo node = tree.look(current(), name, what + ": cannot stat " + here(name));
        if (node.type == NodeInfo::Type::missing) {
            if (last) {
                return at(name);
            }
            if (!create) {
                return std::nullopt;
            }
            tree.make_dir(current(), name, what + ": cannot create " + here(name));
            node = tree.look(current(), name, what + ": cannot stat " + here(name));
        }
        if (node.type == NodeInfo::Type::symlink) {
            if (++links > kMaxSymlinks) {
                throw Error(ErrorKind::input,
                            what + ": too many levels of symbolic links at " + here(name));
            }
            if (node.target.starts_with('/')) {
                if (mode == Symlinks::strict) {
                    throw Error(ErrorKind::input, what + ": " + here(name) + " is a symlink to " +
                                                      in_quotes(node.target) +
                                                      ", outside the image root");
                }
                stack.clear();
                names.clear();
            }
            std::vector<std::string> parts = split_path(node.target);
            pending.insert(pending.begin(), parts.begin(), parts.end());
            if (last && parts.empty()) {
                // A link to "/" (or "."): the location is the directory it names.
                return at(".");
            }
            continue;
        }
        if (node.type == NodeInfo::Type::directory) {
            if (last) {
                return at(name);
            }
            stack.push_back(tree.enter(current(), name, what + ": cannot open " + here(name)));
            names.push_back(name);
            continue;
        }
        if (last) {
            return at(name);
        }
        if (mode == Symlinks::strict) {
            throw Error(ErrorKind::input, what + ": " + here(name) + " is not a directory");
        }
        return std::nullopt;
    }
    // The path named the root itself (or resolved to it).
    return at(".");
}

/// Counts of one layer's entries.
struct ChangeCounts {
    std::uint64_t entries = 0;   ///< tar entries applied (whiteouts included)
    std::uint64_t bytes = 0;     ///< file bytes written
    std::uint64_t whiteouts = 0; ///< `.wh.` and opaque markers applied
};

/// Applies one layer's entries to a Target, by the changeset rules. The Target does
/// what the rules decide; the decisions and the refusals are all here.
///
/// Target provides:
///   using Location = ...;                       a name in a directory
///   std::optional<Location> parent(std::string_view path, bool create, const std::string& what);
///       walk_tree(..., Symlinks::strict, create, false, what) over its tree
///   Location root();                            the root directory itself
///   NodeInfo::Type type_at(const Location&);    lstat: never follows a final symlink
///   void remove(const Location&, const std::string& what);     the node and all below
///   void make_directory(const Location&, const std::string& what);
///   void empty_directory(const Location&, const std::string& dir,
///                        const std::set<std::string>& keep, const std::string& what);
///       removes every child of the directory `dir` whose path is not in `keep`
///   std::uint64_t add(const Location&, const std::string& path, archive_entry*,
///                     const std::string& what);  a directory, file, symlink or special
///                                               node; returns the file bytes written
///   void link(const Location& at, const Location& from, const std::string& target,
///             const std::string& what);         a hard link at `at` to `from`
///
/// A Target that holds one layer apart from the layers below (the unpacked-layer store,
/// for overlayfs) also provides these, and is then told of whiteouts instead of applying
/// them (a whiteout its own layer's entries spare is never told):
///   void mark_whiteout(const std::string& victim, const std::string& what);
///   void mark_opaque(const std::string& dir, const std::string& what);
template <class Target>
class Changeset {
public:
    /// `label` names the layer in messages ("layer 2 (sha256:…)").
    Changeset(Target& target, std::string label) : target_(target), label_(std::move(label)) {}

    void apply(archive_entry* entry, ChangeCounts& counts) {
        const char* raw = libarchive().archive_entry_pathname(entry);
        EntryName name = classify_entry(raw ? raw : "", label_);
        ++counts.entries;
        switch (name.kind) {
        case EntryName::Kind::root:
            return;
        case EntryName::Kind::reserved:
            ++counts.whiteouts;
            return;
        case EntryName::Kind::opaque:
            ++counts.whiteouts;
            opaque(name.victim, label_ + ": whiteout " + in_quotes(name.path));
            return;
        case EntryName::Kind::whiteout:
            ++counts.whiteouts;
            whiteout(name.victim, label_ + ": whiteout " + in_quotes(name.path));
            return;
        case EntryName::Kind::plain:
            break;
        }
        const std::string& path = name.path;
        std::string what = label_ + ": entry " + in_quotes(path);
        auto at = target_.parent(path, true, what);
        if (const char* link = libarchive().archive_entry_hardlink(entry)) {
            hardlink(*at, path, link, what);
        } else {
            switch (libarchive().archive_entry_filetype(entry)) {
            case AE_IFDIR:
            case AE_IFREG:
            case AE_IFLNK:
            case AE_IFCHR:
            case AE_IFBLK:
            case AE_IFIFO:
                counts.bytes += target_.add(*at, path, entry, what);
                break;
            default:
                return; // sockets and unknown types are not part of an image
            }
        }
        added_.insert(path);
    }

private:
    void whiteout(const std::string& victim, const std::string& what) {
        if (added_.count(victim) != 0) {
            return; // a whiteout hides only what lower layers have
        }
        if constexpr (requires { target_.mark_whiteout(victim, what); }) {
            target_.mark_whiteout(victim, what); // a layer kept apart (overlayfs): recorded
            return;
        }
        auto at = target_.parent(victim, false, what);
        if (at) {
            target_.remove(*at, what);
        }
    }

    void opaque(const std::string& dir, const std::string& what) {
        if constexpr (requires { target_.mark_opaque(dir, what); }) {
            target_.mark_opaque(dir, what); // a layer kept apart (overlayfs): recorded
            return;
        }
        auto at = dir.empty() ? std::optional(target_.root()) : target_.parent(dir, true, what);
        switch (target_.type_at(*at)) {
        case NodeInfo::Type::missing:
            target_.make_directory(*at, what);
            return;
        case NodeInfo::Type::directory:
            target_.empty_directory(*at, dir, added_, what);
            return;
        default:
            throw Error(ErrorKind::input, what + ": " + in_quotes(dir) + " is not a directory");
        }
    }

    void hardlink(const typename Target::Location& at, const std::string& path, const char* link,
                  const std::string& what) {
        std::optional<std::string> target = clean_relative_path(link);
        if (!target || target->empty()) {
            throw Error(ErrorKind::input, what + ": hard link to " + in_quotes(link) +
                                              " points outside the image root");
        }
        if (*target == path) {
            return;
        }
        auto from = target_.parent(*target, false, what);
        NodeInfo::Type type = from ? target_.type_at(*from) : NodeInfo::Type::missing;
        if (type == NodeInfo::Type::missing) {
            throw Error(ErrorKind::input,
                        what + ": hard link to " + in_quotes(*target) + ", which does not exist");
        }
        if (type == NodeInfo::Type::directory) {
            throw Error(ErrorKind::input,
                        what + ": hard link to " + in_quotes(*target) + ", which is a directory");
        }
        target_.link(at, *from, *target, what);
    }

    Target& target_;
    std::string label_;
    std::set<std::string> added_; ///< paths this layer wrote (whiteouts spare them)
};

} // namespace ocibake::detail
