// ocibake: recipes (TOML) -> a checked model.
//
// load_recipe() parses the file and every fragment it includes, checks the schema (no
// unknown keys, right types, sane values) and resolves relative paths against the file
// that wrote them. Each error is a RecipeError whose message shows file:line:col, the
// line and a caret, and a hint. docs/recipe.md is the reference of every key.
#pragma once

#include "ocibake/apt.hpp"
#include "ocibake/error.hpp"
#include "ocibake/layer.hpp"
#include "ocibake/oci.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ocibake {

/// `[[layer.copy]]`: a host file or directory tree copied into the image.
struct CopyItem {
    SourceLocation where;      ///< the [[layer.copy]] table
    std::filesystem::path src; ///< absolute (resolved against the file that named it)
    SourceLocation src_where;  ///< the `src` value
    std::string dst = "/";     ///< image path as written
    SourceLocation dst_where;
    CopyOptions options;
};

/// `[[layer.files]]`: one entry stated in full (a file from src or inline content, a
/// directory, a symlink, a hard link).
struct FileItem {
    SourceLocation where;
    std::string path; ///< image path as written
    SourceLocation path_where;
    EntryType type = EntryType::file;
    std::filesystem::path src; ///< for files; absolute; empty when `content` is used
    SourceLocation src_where;
    std::optional<std::string> content;
    std::string target; ///< symlink target / hard link target
    std::optional<std::uint32_t> mode;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
};

/// `[layer.python]`: wheels installed into a venv or the system site-packages
/// (docs/python.md). Paths are absolute; `*_display` name them as messages do.
struct PythonSpec {
    SourceLocation where;
    std::filesystem::path requirements; ///< a hashed requirements.txt, or empty
    std::string requirements_display;
    SourceLocation requirements_where;
    std::filesystem::path pylock; ///< a PEP 751 pylock.toml, or empty
    std::string pylock_display;
    SourceLocation pylock_where;
    std::vector<std::filesystem::path> wheels; ///< local wheel files
    std::vector<SourceLocation> wheels_where;
    std::string venv; ///< image path of the venv; "" = the system site-packages
    SourceLocation venv_where;
    std::optional<std::string> python;      ///< "3.11"; else read from the image
    std::optional<std::string> glibc;       ///< "2.36" or "none"; else read from the image
    std::optional<std::string> interpreter; ///< the image's python3.X; else found
    SourceLocation python_where;
    std::string index_url; ///< when the requirements name none ("" = https://pypi.org/simple)
    std::vector<std::string> extra_index_urls;
};

/// `[[layer.archive]]`: a tar or zip archive fetched by URL, checked against the digest
/// the recipe states, and unpacked into the layer (docs/recipe.md).
struct ArchiveItem {
    SourceLocation where;
    std::string url;
    SourceLocation url_where;
    Digest sha256;      ///< empty when only `sha512` is stated
    std::string sha512; ///< 128 lowercase hex digits, or ""
    SourceLocation digest_where;
    std::uint32_t strip = 0; ///< leading path components dropped (as tar --strip-components)
    std::string dst = "/";   ///< image path the archive's (stripped) paths go below
    SourceLocation dst_where;
    /// include, exclude (on the path after `strip`), mode, dir_mode, uid, gid,
    /// preserve_modes; xattrs and follow_symlinks are not used.
    CopyOptions options;
    /// An installer package (docs/apt.md) whose payload this archive is, or "".
    std::string satisfies;
    SourceLocation satisfies_where;
    /// What the first component of a path (after `strip`) becomes: {"lib", "lib64"} puts
    /// lib/x at dst/lib64/x. Set by [[layer.nvidia]]'s layouts; not a recipe key.
    std::vector<std::pair<std::string, std::string>> renames;
};

/// `[[layer.nvidia]]`: NVIDIA redistributable components by name, resolved from a
/// redistrib_<version>.json manifest when the recipe is locked (docs/recipe.md).
struct NvidiaItem {
    SourceLocation where;
    std::string manifest; ///< the manifest's URL (stated, or from product and version)
    SourceLocation manifest_where;
    std::string product; ///< "cuda", "cudnn", ... ("" when `manifest` is stated)
    std::string version; ///< the manifest's version ("12.4.1")
    std::vector<std::string> components;
    SourceLocation components_where;
    std::string platform; ///< "linux-x86_64", "linux-sbsa"...; "" = the recipe's platform
    SourceLocation platform_where;
    std::string cuda_variant;      ///< "cuda12", for manifests with an entry per CUDA major
    std::string layout = "nvidia"; ///< "nvidia" (/usr/local/cuda-X.Y) or "debian"
    SourceLocation layout_where;
    std::string cuda_version; ///< "12.4": the nvidia layout's /usr/local/cuda-12.4
    std::string satisfies;    ///< an installer package whose payload this is, or ""
    SourceLocation satisfies_where;
};

struct LayerSpec {
    SourceLocation where;
    std::string name;    ///< unique in the recipe; default "layer-<n>" (1-based)
    std::string comment; ///< history comment
    std::optional<Compression> compression;
    std::optional<int> level;
    std::vector<CopyItem> copies;     ///< applied first, in order
    std::vector<FileItem> files;      ///< applied after the copies, in order
    std::optional<PythonSpec> python; ///< applied last
    /// Archives, and NVIDIA components (each installed as an archive): applied before the
    /// copies, in order.
    std::vector<ArchiveItem> archives;
    std::vector<NvidiaItem> nvidia;
    /// Debian packages to install (`packages`), from the recipe's apt sources; see
    /// docs/apt.md. Their files come first; copies and files are applied over them.
    std::vector<apt::PackageRequest> packages;
    SourceLocation packages_where; ///< the `packages` value
    bool recommends = false;       ///< install Recommends too
    /// What the packages' scripts would have done, stated (docs/apt.md): users, groups,
    /// update-alternatives choices. Written over the image below, into this layer.
    std::vector<apt::Account> accounts;
    std::vector<apt::Group> groups;
    std::vector<apt::AlternativeChoice> alternatives;
    /// `ldconfig = true`: ld.so.cache is written for the image (as when packages add
    /// libraries), with this layer's own libraries in it.
    bool ldconfig = false;
    /// `split = false`: the packages stay in one layer instead of parts (docs/apt.md).
    bool split = true;
    /// True when the layer is built on what is below it (packages, accounts, groups,
    /// alternatives, ldconfig), not from its own entries alone.
    bool uses_image_below() const {
        return !packages.empty() || !accounts.empty() || !groups.empty() || !alternatives.empty() ||
               ldconfig || !nvidia.empty();
    }
};

/// `[config]`: the image's run configuration. Unset fields keep the base's values.
struct ConfigSpec {
    std::optional<std::vector<std::string>> entrypoint;
    std::optional<std::vector<std::string>> cmd;
    std::vector<std::pair<std::string, std::string>> env; ///< sorted by key
    std::optional<std::string> user;
    std::optional<std::string> workdir;
    std::optional<std::string> stop_signal;
    std::vector<std::string> exposed_ports; ///< normalised ("8888/tcp")
    std::vector<std::string> volumes;
    std::vector<std::pair<std::string, std::string>> labels; ///< sorted by key
    std::string author;
};

/// `[base]`
struct BaseSpec {
    SourceLocation where;
    /// "scratch", or "oci:<dir>[:<tag>]" with dir resolved against the recipe; "" when
    /// the base comes from a registry (`ref`).
    std::string image = "scratch";
    /// A registry reference, normalised ("docker.io/library/ubuntu:24.04"); its digest is
    /// pinned in the recipe's lock file.
    std::string ref;
    bool scratch() const noexcept { return image == "scratch" && ref.empty(); }
    std::filesystem::path layout; ///< for oci: bases (absolute)
    std::string tag;              ///< for oci: bases ("" = the only manifest)
};

/// `[build]`: defaults for every layer.
struct BuildSpec {
    Compression compression = Compression::gzip;
    int level = -1;
    std::optional<std::int64_t> source_date_epoch;
    /// The most layers the image may have (the base's, the parts, the others, the state
    /// layer): packages are grouped into fewer parts to stay within it (docs/apt.md).
    std::size_t max_layers = 100;
    /// `cache = "registry/repository[:tag]"`: the remote layer cache a build reads
    /// (--cache-from's default; docs/cache.md). Empty: none.
    std::string cache;
    SourceLocation cache_where;
};

/// What a `[[test]]` checks.
enum class TestType {
    command,  ///< runs a command in the image: exit code, stdout, stderr
    file,     ///< a path in the image: exists, type, mode, owner, contents
    metadata, ///< the image config: env, entrypoint, cmd, ports, user, workdir
    service,  ///< starts the image's service: a TCP port, an HTTP answer, a clean stop
};
const char* to_string(TestType type) noexcept;

/// A regular expression (ECMAScript, `^`/`$` at line ends), checked when the recipe is
/// read.
struct TestPattern {
    std::string regex;
    SourceLocation where;
};

/// `[[test]]`: one check of the built image (docs/recipe.md lists every key).
struct TestSpec {
    SourceLocation where;
    std::string name; ///< unique; default "test-<n>" (1-based)
    TestType type = TestType::command;
    bool gpu = false;          ///< needs a GPU: skipped (never passed) without one
    std::int64_t timeout = 60; ///< seconds for the whole test
    /// Tests (earlier in the merged recipe) that must have finished before this one starts.
    std::vector<std::string> after;
    bool serial = false; ///< runs with no other test at the same time

    // command and service
    std::optional<std::vector<std::string>> args; ///< replaces entrypoint + cmd
    std::optional<std::string> shell;             ///< command: run with /bin/sh -c
    /// command, service: set in the container. metadata: expected values.
    std::vector<std::pair<std::string, std::string>> env;

    // command
    int exit_code = 0;
    std::vector<TestPattern> stdout_match;
    std::vector<TestPattern> stderr_match;
    std::vector<TestPattern> stdout_not;
    std::vector<TestPattern> stderr_not;
    /// Run in two fresh containers: both must pass, and their stdouts must differ (what
    /// each container makes for itself, such as SSH host keys).
    bool distinct = false;

    // file
    std::string path; ///< image path, as written
    bool exists = true;
    std::optional<EntryType> file_type; ///< file, directory or symlink
    std::optional<std::uint32_t> mode;
    std::optional<std::uint32_t> uid;
    std::optional<std::uint32_t> gid;
    std::vector<TestPattern> contains;
    std::optional<std::string> target; ///< a symlink's target

    // metadata
    std::optional<std::vector<std::string>> entrypoint;
    std::optional<std::vector<std::string>> cmd;
    std::vector<std::string> exposed_ports; ///< normalised ("8080/tcp"); each must be exposed
    std::optional<std::string> user;
    std::optional<std::string> workdir;

    // service
    std::uint16_t port = 0;
    std::optional<std::string> http_path; ///< set when an HTTP check is asked for
    int http_status = 200;
    std::vector<TestPattern> http_body;
    std::int64_t ready_timeout = 30; ///< seconds until the port must accept
    std::int64_t stop_timeout = 10;  ///< seconds the service gets to stop after its signal
};

struct Recipe {
    std::filesystem::path file; ///< absolute path of the recipe
    SourceLocation where;       ///< the recipe as it was named (line 0), for messages
    std::string name;           ///< image name; default: the file's stem
    std::string tag = "latest";
    BaseSpec base;
    oci::Platform platform;
    ConfigSpec config;
    BuildSpec build;
    std::vector<LayerSpec> layers; ///< included fragments' layers first, in include order
    std::vector<TestSpec> tests;   ///< likewise: fragments' tests first
    /// `[[apt.source]]`: where the layers' packages come from (fragments' first).
    std::vector<apt::SourceSpec> apt_sources;
    /// Every file read: the recipe and its fragments (absolute), in the order read.
    std::vector<std::filesystem::path> sources;
};

/// Reads and checks a recipe and its includes. Throws RecipeError (kind recipe, or input
/// when a file cannot be read).
Recipe load_recipe(const std::filesystem::path& file);

/// Parses recipe text as if read from `file` (includes resolve against file's folder).
Recipe parse_recipe(std::string_view text, const std::filesystem::path& file);

} // namespace ocibake
