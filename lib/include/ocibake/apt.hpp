// ocibake: Debian and Ubuntu packages (apt repositories) without apt or dpkg.
//
//     ocibake::apt::Index index = ocibake::apt::fetch_index(store, client, sources, "amd64");
//     auto packages = ocibake::apt::resolve(index, {ocibake::apt::parse_request("python3")},
//                                           {}, installed);
//
// What it does, as apt would: Release files are verified with `gpgv` against the source's
// keyring (never our own crypto) and their Valid-Until checked; Packages indexes are
// fetched (by hash when the Release offers it), checked against the Release's SHA256
// list and kept in the store; the resolver follows Pre-Depends and Depends (Recommends on
// request) with alternatives, version relations (dpkg's ordering, deb-version(7)),
// Provides, Multi-Arch and Architecture: all, skipping what the base already has, and
// choosing deterministically. docs/apt.md describes the rules and the errors.
#pragma once

#include "ocibake/cas.hpp"
#include "ocibake/digest.hpp"
#include "ocibake/error.hpp"
#include "ocibake/http.hpp"
#include "ocibake/lock.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ocibake::apt {

// ---- versions and relations ----------------------------------------------------------

/// Compares two Debian versions ([epoch:]upstream[-revision]) exactly as dpkg does
/// (deb-version(7)): < 0, 0 or > 0. Invalid versions compare as dpkg would parse them.
int compare_versions(std::string_view a, std::string_view b);

/// Empty when `version` is a valid Debian version, else why not.
std::string version_problem(std::string_view version);

/// A version relation operator, as written in control files.
enum class Op { any, lt, le, eq, ge, gt };
/// "<<", "<=", "=", ">=", ">>" ("" for any).
const char* to_string(Op op) noexcept;
/// True when `version` satisfies `op wanted` (any: always).
bool satisfies(std::string_view version, Op op, std::string_view wanted);

/// One possibility of a dependency: `name[:arch] [(op version)]`.
struct Relation {
    std::string name;
    std::string arch; ///< qualifier: "", "any", "native" or an architecture
    Op op = Op::any;
    std::string version;
    /// "name:arch (op version)" as control files write it.
    std::string str() const;
};
/// A dependency: alternatives separated by '|'.
using Dependency = std::vector<Relation>;

/// Parses a relationship field ("a (>= 1) | b, c:any"). Error(integrity) naming `origin`.
std::vector<Dependency> parse_relations(std::string_view text, std::string_view origin);

// ---- deb822 (control files, Release, Packages, status) -------------------------------

/// One paragraph: fields in the order written. Names compare case-insensitively; a
/// value keeps its continuation lines ("first line\n second line").
struct Paragraph {
    std::vector<std::pair<std::string, std::string>> fields;
    std::uint32_t line = 0; ///< where it starts (1-based)

    /// The field's value, or nullopt.
    std::optional<std::string_view> find(std::string_view name) const;
    /// The field's value, or "".
    std::string_view get(std::string_view name) const;
};

/// Parses deb822 text. Error(integrity) naming `origin` and the line of a malformed line.
std::vector<Paragraph> parse_paragraphs(std::string_view text, std::string_view origin);

// ---- repositories --------------------------------------------------------------------

/// One `[[apt.source]]` of a recipe: where packages come from and how it is trusted.
struct SourceSpec {
    SourceLocation where;
    std::string name; ///< for messages; default "source-<n>"
    std::string url;  ///< without a trailing '/'
    /// Suites ("bookworm"), or a path ending in '/' for a flat repository ("/", "x86_64/").
    std::vector<std::string> suites;
    std::vector<std::string> components;    ///< empty for flat repositories
    std::vector<std::string> architectures; ///< empty: the image's architecture
    std::filesystem::path keyring;          ///< absolute; a binary or armored OpenPGP keyring
    SourceLocation keyring_where;           ///< where the recipe names the keyring
    int priority = 500;
    bool trusted = false; ///< no signature check (a repository without one)
    /// Copies of the same archive (same layout, no trailing '/'): a locked .deb its url no
    /// longer has is looked for at `<mirror>/<its path below url>`, in this order.
    std::vector<std::string> mirrors;
    /// The snapshot service for this archive, without a trailing '/': nullopt derives it
    /// from `url` for the well-known archives (snapshot_service_for()); "" is none
    /// (`snapshot = false`).
    std::optional<std::string> snapshot;
};

/// The snapshot service of a well-known archive (either scheme): deb.debian.org/debian ->
/// "https://snapshot.debian.org/archive/debian" (debian-security, debian-ports likewise,
/// security.debian.org/debian-security too), archive.ubuntu.com/ubuntu (and its country
/// mirrors) and security.ubuntu.com/ubuntu -> "https://snapshot.ubuntu.com/ubuntu",
/// ports.ubuntu.com/ubuntu-ports -> "https://snapshot.ubuntu.com/ubuntu-ports". "" for
/// any other URL.
std::string snapshot_service_for(std::string_view url);

/// A place a locked .deb is looked for when its url no longer has it (docs/apt.md).
struct DebPlace {
    enum class Kind {
        file,    ///< `url` is the file itself (a mirror; a snapshot by date)
        by_hash, ///< a snapshot.debian.org-like service at `url` (its root), asked through
                 ///< /mr/binary/NAME/VERSION/binfiles for the file's sha1, then /file/SHA1
    };
    Kind kind = Kind::file;
    std::string url;

    bool operator==(const DebPlace&) const = default;
};

/// Where `package` is looked for after its url, in order: the source's mirrors, then its
/// snapshot service by date (the latest Release Date `releases` records for the source's
/// url; none when they record none) and, for a service at `<root>/archive/<name>`
/// (snapshot.debian.org's scheme), by hash at `<root>`. `source` is the [[apt.source]]
/// whose url the package's url is below.
std::vector<DebPlace> fallback_places(const SourceSpec& source,
                                      const std::vector<LockedRelease>& releases,
                                      const LockedPackage& package);

/// "20250111T101207Z": a time as snapshot services name their runs (UTC).
std::string snapshot_time(std::int64_t seconds);

/// A locked .deb that its url no longer had, and where it was fetched from instead.
struct FetchedElsewhere {
    std::string name, version, arch;
    Digest sha256;
    std::string url;    ///< the lock's
    std::string answer; ///< what the url answered ("HTTP 404 Not Found")
    bool gone = false;  ///< the url said the file is not there (HTTP 404 or 410)
    /// Places tried before the one that had it, and what each answered.
    std::vector<std::pair<std::string, std::string>> tried;
    std::string fetched_from; ///< the URL that served the bytes (after redirects)

    bool operator==(const FetchedElsewhere&) const = default;
};

/// A Release file's fields that matter here.
struct Release {
    std::string suite;
    std::string codename;
    std::string label;                       ///< Label: ("Debian-Security")
    std::optional<std::int64_t> date;        ///< seconds since 1970
    std::optional<std::int64_t> valid_until; ///< seconds since 1970
    bool by_hash = false;                    ///< Acquire-By-Hash: yes
    bool all_in_arch_indexes = false;        ///< No-Support-for-Architecture-all: Packages
    std::vector<std::string> architectures;
    std::vector<std::string> components;
    struct File {
        std::string path; ///< relative to the Release's directory
        std::uint64_t size = 0;
        Digest sha256;
    };
    std::vector<File> files; ///< the SHA256 list
};

/// Parses a Release file (the payload of InRelease). Error(integrity) naming `origin`.
Release parse_release(std::string_view text, std::string_view origin);

/// Whether the Release offers `component`: listed in its Components (or no Components
/// field), or listed with a prefix, as Debian's security archive lists "updates/main"
/// for the `main` whose indexes it names main/... (apt accepts it so too).
bool has_component(const Release& release, std::string_view component);

/// Whether a suite carries security updates: its name as the recipe writes it, or the
/// Release's Suite or Codename, ends in "-security" (bookworm-security, noble-security)
/// or "/updates" (Debian's name before 11: buster/updates), or its Label says
/// "security" (Debian's "Debian-Security"), in any case.
bool security_suite(std::string_view suite, const Release& release);

/// Parses an RFC 2822 date as Release files write it ("Sat, 10 Jun 2023 08:50:22 UTC").
std::optional<std::int64_t> parse_date(std::string_view text);

/// The dpkg architecture for an OCI platform architecture ("amd64" -> "amd64", "arm64" ->
/// "arm64", "arm" v7 -> "armhf", "386" -> "i386", "ppc64le" -> "ppc64el").
std::string dpkg_architecture(std::string_view oci_arch, std::string_view variant = {});

/// A package as an index offers it.
struct Candidate {
    std::string name;
    std::string version;
    std::string arch;       ///< an architecture or "all"
    std::string multi_arch; ///< "", "same", "foreign", "allowed"
    std::string source;     ///< the source package name
    std::string priority;   ///< Priority: required, important, ...
    bool essential = false;
    std::vector<Dependency> pre_depends, depends, recommends, conflicts, breaks;
    std::vector<Relation> provides;
    std::string url; ///< of the .deb
    std::uint64_t size = 0;
    Digest sha256;
    int source_priority = 500;
    std::size_t source_index = 0; ///< which SourceSpec (for ordering)
    std::string origin;           ///< "source 'name' suite/component" for messages
    /// A security suite offers this version (security_suite()), whichever suite it was
    /// read from first.
    bool security = false;
};

/// Every package the sources offer, with lookup by name and by provided name.
class Index {
public:
    Index();
    ~Index();
    Index(Index&&) noexcept;
    Index& operator=(Index&&) noexcept;

    /// Adds the packages of one Packages index. `base_url` is what Filename is relative to.
    /// `security`: the index is a security suite's (a version offered by several suites
    /// is kept once, from the first, and is a security update when any of them is one).
    void add_packages(std::string_view text, std::string_view origin, const std::string& base_url,
                      int source_priority, std::size_t source_index,
                      const std::vector<std::string>& architectures, bool security = false);

    /// Versions of `name` (any architecture), best first: source priority, then version,
    /// then source order.
    std::vector<const Candidate*> versions(std::string_view name) const;
    /// Packages that provide `name` (Provides), in name order.
    std::vector<const Candidate*> providers(std::string_view name) const;
    /// The package `name` at `version` for `arch`, or nullptr.
    const Candidate* find(std::string_view name, std::string_view version,
                          std::string_view arch) const;
    /// Every package name, sorted (for "did you mean").
    std::vector<std::string> names() const;
    std::size_t size() const noexcept;

    /// The native architecture (the image's) and every architecture indexed.
    std::string native_arch;
    std::vector<std::string> architectures;
    /// Every source's suites whose Release has a Date, in the sources' order: when the
    /// packages were resolved (for the lock).
    std::vector<LockedRelease> releases;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// How indexes are fetched.
struct FetchOptions {
    /// Now, in seconds since 1970, for Valid-Until (nullopt: the system clock).
    std::optional<std::int64_t> now;
    /// The `gpgv` program.
    std::string gpgv = "gpgv";
};

/// Fetches and verifies every source's Release and Packages indexes. Indexes are kept in
/// the store by digest, so an unchanged index is never fetched twice. Errors name the
/// source (its recipe position) and the URL: a bad signature or unknown key, an expired
/// Release, an index missing from the Release or not matching its hash.
Index fetch_index(Store& store, http::Client& client, const std::vector<SourceSpec>& sources,
                  const std::string& native_arch, const FetchOptions& options = {});

// ---- the image below ------------------------------------------------------------------

/// What ldconfig reads from a shared library.
struct LibraryInfo {
    std::string soname;          ///< "" when it has none
    std::int32_t flags = 0;      ///< ldconfig's FLAG_* values (0x0303: x86-64, libc6)
    std::uint32_t osversion = 0; ///< from the GNU ABI tag note
    bool operator==(const LibraryInfo&) const = default;
};

/// What the packages of a layer are added to: read from the layers below it (the base
/// image's), whiteouts applied. Paths are image paths without the leading '/'.
struct ImageFacts {
    /// Contents of the files that matter: var/lib/dpkg/status, diversions, info/*.list,
    /// etc/passwd, group, shadow, gshadow, etc/ld.so.conf and etc/ld.so.conf.d/*,
    /// var/lib/dpkg/alternatives/*.
    std::map<std::string, std::string> files;
    /// Symlinks at the top level ("bin" -> "usr/bin" on a merged-/usr image).
    std::map<std::string, std::string> links;
    /// Every directory (a package's directories that exist already are not written again,
    /// as dpkg leaves existing directories alone).
    std::set<std::string> dirs;
    /// Every symlink (path -> target, verbatim).
    std::map<std::string, std::string> symlinks;
    /// Every regular file with a library name (lib*.so*, ld-*.so*) that is an ELF shared
    /// object, and what ldconfig reads from it.
    std::map<std::string, LibraryInfo> libraries;
    /// The files in var/lib/dpkg/info (paths): what an upgraded package leaves behind.
    std::set<std::string> dpkg_info;

    /// A file's content, or "".
    std::string file(const std::string& path) const;
    /// sha256 over everything above: what a layer resolved against these facts depends on.
    Digest fingerprint() const;
};

/// Reads the facts from layer blobs in the store (gzip, zstd or plain tar), bottom first;
/// remembered in the store, keyed by the layers' digests. `fetch` (when given) is called
/// first when the facts must be read from the blobs (no record has them): it brings the
/// blobs into the store.
ImageFacts read_image_facts(Store& store, const std::vector<Digest>& layers,
                            const std::function<void()>& fetch = {});

// ---- what maintainer scripts would have done -------------------------------------------

/// A user a layer adds (`[[layer.account]]`): a line in /etc/passwd and /etc/shadow, its
/// primary group (made when missing), membership of supplementary groups.
struct Account {
    SourceLocation where;
    std::string name;
    std::uint32_t uid = 0;
    std::optional<std::uint32_t> gid; ///< the primary group's id; default: that group's, or uid
    std::string group;                ///< the primary group; default: the account's name
    std::vector<std::string> groups;  ///< supplementary groups (they must exist)
    std::string home = "/nonexistent";
    std::string shell = "/usr/sbin/nologin";
    std::string comment;
};

/// A group a layer adds (`[[layer.group]]`).
struct Group {
    SourceLocation where;
    std::string name;
    std::uint32_t gid = 0;
    std::vector<std::string> members;
};

/// `[[layer.alternative]]`: the path an update-alternatives group points to (manual
/// mode), or an alternative no package script declares (with `link` and `priority`).
struct AlternativeChoice {
    SourceLocation where;
    std::string name; ///< "editor", "libblas.so.3-x86_64-linux-gnu"
    std::string path; ///< the alternative chosen
    std::string link; ///< the generic link; "" when the packages declare it
    int priority = 0;
};

// ---- installed packages and resolution ------------------------------------------------

/// A package the image already has (a dpkg status stanza that is installed).
struct InstalledPackage {
    std::string name;
    std::string version;
    std::string arch;
    std::string multi_arch;
    std::vector<Relation> provides;
};

/// The installed packages of a dpkg status file.
std::vector<InstalledPackage> parse_status(std::string_view text, std::string_view origin);

/// One package a layer asks for: `name[:arch][=version]`.
struct PackageRequest {
    std::string name;
    std::string arch;    ///< "" = the native architecture
    std::string version; ///< "" = the best candidate
    SourceLocation where;
    std::string str() const;
};

/// Parses `name[:arch][=version]`; nullopt with `why` set when malformed.
std::optional<PackageRequest> parse_request(std::string_view text, std::string* why = nullptr);

struct ResolveOptions {
    bool recommends = false;
    /// Versions to keep (a lock's pins: name, version, arch): where one of them fits a
    /// request or a dependency, it is taken before the best candidate, so that what is
    /// not being updated stays as it was. When the resolution fails with them (a package
    /// that moves needs a newer one, or a kept one needs the old version of a package
    /// that moves), the preferences of the packages involved in the failure (the one
    /// whose request or dependency could not be met, and the selected packages that stood
    /// in its way) are dropped, and it is tried again, until it succeeds (docs/lock.md).
    std::vector<LockedPackage> prefer;
};

/// Resolves the requests to the packages to install (sorted by name, then architecture),
/// minus what `installed` already satisfies. Error(input) explaining what failed: an
/// unknown package (with near names), a version the sources do not have, or the chain of
/// dependencies that cannot be satisfied (said as a resolution without preferences says
/// it).
std::vector<LockedPackage> resolve(const Index& index, const std::vector<PackageRequest>& requests,
                                   const ResolveOptions& options,
                                   const std::vector<InstalledPackage>& installed);

} // namespace ocibake::apt
