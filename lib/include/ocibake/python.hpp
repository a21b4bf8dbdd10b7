// ocibake: Python wheels into layers, without pip.
//
//     ocibake::python::Target target{3, 11, ocibake::python::Glibc{2, 36}, "x86_64"};
//     auto tree = ocibake::python::unpack_wheel(store, "numpy-2.0.0-cp311-...whl", digest);
//     ocibake::python::Installer installer(ocibake::python::venv_scheme("/opt/venv", target),
//                                          builder);
//     installer.install(tree);
//     installer.finish();   // RECORDs, launchers and directories go into the builder
//
// What it reads: wheel files (the binary distribution format), requirements.txt files
// with hashes as pip-compile and `uv pip compile --generate-hashes` write them, PEP 751
// pylock.toml files, and PEP 691 (JSON) / PEP 503 (HTML) simple indexes. docs/python.md
// describes the behaviour and the decisions; every error names the file, the line, the
// wheel or the member at fault.
#pragma once

#include "ocibake/cas.hpp"
#include "ocibake/digest.hpp"
#include "ocibake/error.hpp"
#include "ocibake/http.hpp"
#include "ocibake/layer.hpp"
#include "ocibake/lock.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake::python {

// ---- names, versions, tags -----------------------------------------------------------

/// PEP 503 normalisation: runs of '-', '_', '.' become one '-', lowercased.
std::string normalize_name(std::string_view name);

/// Compares two PEP 440 versions (<0, 0, >0). Epochs, release segments, pre/post/dev
/// releases and local labels are ordered as PEP 440 says. Error(input) for text that is
/// not a version.
int compare_versions(std::string_view a, std::string_view b);

/// PEP 440 `==` without wildcards: equal versions, where a candidate's local label is
/// ignored when `wanted` has none ("2.7.0" matches "2.7.0+cu128").
bool version_matches(std::string_view wanted, std::string_view candidate);

/// A wheel file name: {distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl,
/// each tag part possibly a '.'-separated set.
struct WheelFilename {
    std::string filename;
    std::string distribution; ///< as written in the name (escaped: '-' -> '_')
    std::string version;
    std::string build;
    std::vector<std::string> python_tags;
    std::vector<std::string> abi_tags;
    std::vector<std::string> platform_tags;

    /// Error(input) naming the file when it is not a wheel file name.
    static WheelFilename parse(std::string_view filename);
    /// Every "python-abi-platform" tag the file declares.
    std::vector<std::string> tags() const;
};

/// glibc version of the image (manylinux_2_NN platforms).
struct Glibc {
    int major = 2;
    int minor = 0;
    bool operator==(const Glibc&) const = default;
};

/// The Python and system the wheels must fit: CPython major.minor, glibc, architecture.
struct Target {
    int python_major = 3;
    int python_minor = 11;
    std::optional<Glibc> glibc; ///< none: only platform-independent wheels fit
    std::string machine = "x86_64";

    /// "3.11"
    std::string python_version() const;
    /// "CPython 3.11, glibc 2.36, x86_64"
    std::string str() const;
    /// Tags this target installs, best first (as packaging.tags.sys_tags orders them).
    std::vector<std::string> supported_tags() const;
    bool operator==(const Target&) const = default;
};

/// The machine name for an OCI architecture ("amd64" -> "x86_64", "arm64" -> "aarch64").
std::string machine_for(std::string_view oci_architecture);

/// Position of the wheel's best tag in `supported` (lower is better), or nullopt when no
/// tag of the wheel fits.
std::optional<std::size_t> tag_rank(const WheelFilename& wheel,
                                    const std::vector<std::string>& supported);

/// Error(input) when no tag of the wheel fits `target`, naming the wheel, its tags and
/// the target.
void check_compatible(const WheelFilename& wheel, const Target& target);

// ---- PEP 508 markers -------------------------------------------------------------------

/// Marker variables for a target (python_version, sys_platform, platform_machine, ...).
std::map<std::string, std::string> marker_environment(const Target& target);

/// Evaluates a PEP 508 environment marker. Error(input) for a marker that does not parse,
/// naming `where`.
bool evaluate_marker(std::string_view marker, const std::map<std::string, std::string>& env,
                     std::string_view where = {});

// ---- inputs: requirements.txt, pylock.toml -----------------------------------------------

/// One pinned requirement of a requirements file.
struct Requirement {
    std::string name;    ///< as written
    std::string version; ///< the `==` pin ("" for a direct URL)
    std::string url;     ///< a direct URL (`name @ url`), else ""
    std::string marker;  ///< "" when none
    std::vector<Digest> hashes;
    SourceLocation where; ///< the requirement's line
};

struct Requirements {
    std::vector<Requirement> items;
    std::string index_url; ///< --index-url / -i ("" when not given)
    std::vector<std::string> extra_index_urls;
    std::vector<std::string> trusted_hosts;
};

/// Parses a requirements file as pip does (comments, `\` continuations, options, `-r`
/// includes relative to the file). Every requirement must be pinned with `==` (or be a
/// direct URL) and carry --hash=sha256: values, or the error says how to make a hashed
/// lock. `display` names the file in messages.
Requirements read_requirements(const std::filesystem::path& file, const std::string& display);
Requirements parse_requirements(std::string_view text, const std::filesystem::path& file,
                                const std::string& display);

/// One file of a pylock.toml package.
struct PylockFile {
    std::string name; ///< the file name
    std::string url;  ///< or
    std::string path; ///< relative to the lock file, made absolute
    std::optional<std::uint64_t> size;
    Digest sha256;
    SourceLocation where;
};

struct PylockPackage {
    std::string name;
    std::string version;
    std::string marker;
    std::string index;
    std::vector<PylockFile> wheels;
    std::string other_source; ///< "sdist", "vcs", "directory" or "archive" when no wheels
    SourceLocation where;
};

/// Reads a PEP 751 pylock.toml (lock-version 1.x). Error(recipe) at file:line:col.
std::vector<PylockPackage> read_pylock(const std::filesystem::path& file,
                                       const std::string& display);

// ---- simple indexes (PEP 503 HTML, PEP 691 JSON) ------------------------------------------

struct IndexFile {
    std::string filename;
    std::string url; ///< absolute
    Digest sha256;   ///< empty when the index gives none
    std::optional<std::uint64_t> size;
    std::string requires_python;
    bool yanked = false;
};

/// `ref` resolved against `base` (RFC 3986), fragment dropped.
std::string resolve_url(std::string_view base, std::string_view ref);

/// Parses a PEP 691 JSON project page; relative URLs resolve against `page_url`.
std::vector<IndexFile> parse_simple_json(std::string_view body, std::string_view page_url);
/// Parses a PEP 503 HTML project page (anchors, `#sha256=` fragments, data-* attributes).
std::vector<IndexFile> parse_simple_html(std::string_view body, std::string_view page_url);

/// The files an index lists for a project: GET <index>/<normalized name>/ asking for JSON
/// first, HTML otherwise. Error(input) naming the URL when the project is unknown (404).
std::vector<IndexFile> list_project_files(http::Client& client, std::string_view index_url,
                                          std::string_view project);

// ---- what the image holds --------------------------------------------------------------

/// What decides the target in an image: its Python interpreters and its glibc.
struct ImageFacts {
    std::map<std::string, std::string> pythons; ///< "3.11" -> "/usr/bin/python3.11"
    std::optional<Glibc> glibc;
    bool dist_packages = false;      ///< Debian's layout (/usr/lib/python3/dist-packages)
    std::set<std::string> whiteouts; ///< interpreters a layer deleted
    /// Applies a later layer's facts over these.
    void merge(const ImageFacts& later);
};

/// Scans a layer of the store for interpreters (usr/bin/python3.X,
/// usr/local/bin/python3.X) and glibc (libc.so.6: the GLIBC_2.N versions it defines, or a
/// libc-2.N.so name), through the one verified layer reader (its blob digest and diffID
/// are checked; a corrupt cached blob is dropped). Remembered per blob in the cache.
ImageFacts scan_layer(Store& store, const LayerResult& layer);
/// The same for a layer's planned entries (host files are read for libc.so.6).
ImageFacts scan_entries(const std::vector<LayerEntry>& entries);

// ---- locking: inputs -> one wheel each ---------------------------------------------------

/// Where a lock looks and what it fits.
struct LockContext {
    Target target;
    http::Client* client = nullptr;
    Store* store = nullptr; ///< downloads land here when a size is unknown
    /// Indexes to ask when a requirements file names none.
    std::string default_index = "https://pypi.org/simple";
    std::vector<std::string> extra_indexes;
    /// Local wheel paths are written relative to this folder (the lock file's).
    std::filesystem::path lock_dir;
};

/// Every requirement whose marker holds for the target becomes one locked wheel: the index
/// files whose sha256 is among the requirement's hashes, of the right name and version,
/// the one whose tags fit the target best. All problems (unknown project, no file with
/// the hash, only an sdist, no fitting wheel) are reported together in one Error(input).
std::vector<LockedWheel> lock_requirements(const Requirements& requirements,
                                           const LockContext& context);

/// The pylock's packages whose marker holds: the best-fitting of each package's wheels.
std::vector<LockedWheel> lock_pylock(const std::vector<PylockPackage>& packages,
                                     const LockContext& context);

/// The wheel's file, fetched into the store when needed (verified against sha256 and
/// size); local wheels (`path`) resolve against `lock_dir` and are hashed. Returns the
/// path to read it from.
std::filesystem::path fetch_wheel(Store& store, http::Client& client, const LockedWheel& wheel,
                                  const std::filesystem::path& lock_dir);

// ---- installing ------------------------------------------------------------------------

/// Where a wheel's parts go (image paths, absolute).
struct Scheme {
    std::string purelib;
    std::string platlib;
    std::string scripts;
    std::string headers; ///< headers of distribution X go to <headers>/X
    std::string data;
    std::string interpreter; ///< what `#!python` and launchers run
    std::string venv;        ///< the venv's root, "" for a system install
};

/// A venv at `venv` for the target: lib/pythonX.Y/site-packages, bin/python.
Scheme venv_scheme(std::string_view venv, const Target& target);
/// The system site-packages: `interpreter` is the image's python3.X. Debian's layout
/// (`dist_packages`) puts wheels in /usr/local/lib/python3.X/dist-packages, the
/// python.org layout in <prefix>/lib/python3.X/site-packages.
Scheme system_scheme(std::string_view interpreter, const Target& target, bool dist_packages);

/// The venv itself: pyvenv.cfg, bin/python -> `base_interpreter`, python3, python3.X,
/// lib64 -> lib, empty site-packages and include directories.
void add_venv(LayerBuilder& builder, std::string_view venv, std::string_view base_interpreter,
              const Target& target);

/// A wheel unpacked into the cache, every member verified against RECORD.
struct UnpackedWheel {
    std::filesystem::path tree; ///< <cache>/trees/wheel-<sha256 hex>
    WheelFilename name;
    Digest sha256; ///< of the wheel file
};

/// Unpacks `wheel` (whose sha256 is `digest`) into the cache once: zip members are read
/// streaming with libarchive, hashed and sized, and compared with RECORD before the tree
/// is published; paths that would escape (absolute, "..", links) are refused. A tree
/// already in the cache is reused. Error(integrity) / Error(input) naming the wheel and
/// the member.
UnpackedWheel unpack_wheel(Store& store, const std::filesystem::path& wheel, const Digest& digest,
                           std::string_view filename = {});

/// Installs wheels into a LayerBuilder per the wheel specification. Several installers
/// may share one venv across layers: each only adds the files of its own wheels.
class Installer {
public:
    Installer(Scheme scheme, LayerBuilder& builder);

    /// Paths already installed below this scheme by earlier layers (conflicts are errors).
    void set_installed_before(std::map<std::string, std::string> paths_to_wheel);

    /// Adds one unpacked wheel's entries. `direct_url`: the URL of a direct-URL
    /// requirement (written to direct_url.json), else "".
    void install(const UnpackedWheel& wheel, std::string_view direct_url = {});

    /// Image paths this installer added (-> the wheel file that installed them).
    const std::map<std::string, std::string>& installed() const noexcept { return paths_; }
    /// Normalised distribution names installed.
    const std::set<std::string>& distributions() const noexcept { return dists_; }

private:
    void add(const std::string& path, const std::string& wheel);

    Scheme scheme_;
    LayerBuilder& builder_;
    std::map<std::string, std::string> before_;
    std::map<std::string, std::string> paths_;
    std::set<std::string> dirs_;
    std::set<std::string> dists_;
};

/// The console-script launcher pypa/installer writes for `module:attr`.
std::string launcher_script(std::string_view interpreter, std::string_view module,
                            std::string_view attr);

/// urlsafe base64 without padding (RECORD's hash encoding).
std::string record_hash(const Digest& digest);

} // namespace ocibake::python
