// NVIDIA GPUs for containers: a CDI spec's container edits, or discovery of the device
// nodes and driver files (libnvidia-container's lists, by capability).
#include "ocibake/gpu.hpp"
#include "common/json_number.hpp"
#include "common/process.hpp"
#include "common/strings.hpp"
#include "runtime/rootfs.hpp"
#include "runtime/yaml_subset.hpp"

#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <sstream>

namespace ocibake {

namespace fs = std::filesystem;

namespace {

constexpr const char* kLibraryDir = "/usr/local/nvidia/lib64";
constexpr const char* kLdConf = "etc/ld.so.conf.d/00-ocibake-nvidia.conf";
constexpr const char* kCdiKind = "nvidia.com/gpu";

struct Capability {
    std::string_view name;
    std::vector<std::string_view> libraries; ///< stems; a trailing '*' matches any suffix
    std::vector<std::string_view> binaries;
};

/// libnvidia-container's lists (FLAGSHIP-FACTS.md, "Giving a container the GPU").
const std::array<Capability, 5>& capabilities() {
    static const std::array<Capability, 5> table{{
        {"utility",
         {"libnvidia-ml", "libnvidia-cfg"},
         {"nvidia-smi", "nvidia-debugdump", "nvidia-persistenced"}},
        {"compute",
         {"libcuda", "libcudadebugger", "libnvidia-ptxjitcompiler", "libnvidia-nvvm",
          "libnvidia-gpucomp", "libnvidia-allocator", "libnvidia-opencl", "libnvidia-pkcs11*"},
         {"nvidia-cuda-mps-control", "nvidia-cuda-mps-server"}},
        {"video",
         {"libvdpau_nvidia", "libnvidia-encode", "libnvidia-opticalflow", "libnvcuvid"},
         {}},
        {"graphics",
         {"libnvidia-eglcore", "libnvidia-glcore", "libnvidia-tls", "libnvidia-glsi",
          "libnvidia-rtcore", "libnvoptix", "libGLX_nvidia", "libEGL_nvidia", "libGLESv2_nvidia",
          "libGLESv1_CM_nvidia", "libnvidia-glvkspirv"},
         {}},
        {"ngx", {"libnvidia-ngx"}, {}},
    }};
    return table;
}

#if defined(__x86_64__)
constexpr std::string_view kLdconfigArch = "x86-64";
#elif defined(__aarch64__)
constexpr std::string_view kLdconfigArch = "AArch64";
#else
constexpr std::string_view kLdconfigArch = "";
#endif

/// A host path below the root ("/dev/nvidia0" under "/tmp/fake" -> "/tmp/fake/dev/nvidia0").
fs::path under(const GpuHost& host, std::string_view path) {
    std::size_t skip = path.find_first_not_of('/');
    return host.root / (skip == std::string_view::npos ? "" : path.substr(skip));
}

std::optional<std::string> env_of(const std::vector<std::string>& env, std::string_view key) {
    for (const std::string& e : env) {
        if (e.size() > key.size() && e.compare(0, key.size(), key) == 0 && e[key.size()] == '=') {
            return e.substr(key.size() + 1);
        }
    }
    return std::nullopt;
}

std::vector<std::string> split_list(std::string_view text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t comma = text.find(',', start);
        std::string item(text.substr(start, comma - start));
        item.erase(0, item.find_first_not_of(" \t"));
        item.erase(item.find_last_not_of(" \t") + 1);
        if (!item.empty()) {
            out.push_back(item);
        }
        if (comma == std::string_view::npos) {
            break;
        }
        start = comma + 1;
    }
    return out;
}

/// What the container asks for, before looking at the host.
struct Selection {
    bool any = false;
    bool all = false;
    std::vector<std::string> ids;
    std::string why_none;
};

Selection select(const GpuRequest& request, const std::vector<std::string>& env) {
    Selection s;
    if (request.kind == GpuRequest::Kind::none) {
        s.why_none = "--gpus none";
        return s;
    }
    if (request.kind == GpuRequest::Kind::list) {
        s.any = true;
        s.ids = request.ids;
        return s;
    }
    std::optional<std::string> visible = env_of(env, "NVIDIA_VISIBLE_DEVICES");
    if (!visible) {
        s.any = s.all = true;
        return s;
    }
    std::vector<std::string> ids = split_list(*visible);
    if (ids.empty() || ids == std::vector<std::string>{"void"} ||
        ids == std::vector<std::string>{"none"}) {
        s.why_none = "NVIDIA_VISIBLE_DEVICES=" + *visible + " gives it none";
        return s;
    }
    s.any = true;
    s.all = ids == std::vector<std::string>{"all"};
    if (!s.all) {
        s.ids = ids;
    }
    return s;
}

/// The driver capabilities asked for: NVIDIA_DRIVER_CAPABILITIES, "utility" when unset.
std::vector<std::string> wanted_capabilities(const std::vector<std::string>& env) {
    std::optional<std::string> text = env_of(env, "NVIDIA_DRIVER_CAPABILITIES");
    std::vector<std::string> caps = split_list(text.value_or(""));
    if (caps.empty()) {
        return {"utility"};
    }
    if (std::find(caps.begin(), caps.end(), "all") != caps.end()) {
        caps.clear();
        for (const Capability& c : capabilities()) {
            caps.emplace_back(c.name);
        }
    }
    return caps;
}

DeviceNode node_of(const GpuHost& host, std::string_view path, const struct stat& st) {
    DeviceNode d;
    d.path = std::string(path);
    d.host_path = under(host, path).string();
    d.type = S_ISBLK(st.st_mode) ? 'b' : 'c';
    d.major = major(st.st_rdev);
    d.minor = minor(st.st_rdev);
    d.file_mode = 0666;
    return d;
}

std::optional<struct stat> char_device(const fs::path& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISCHR(st.st_mode)) {
        return std::nullopt;
    }
    return st;
}

// ---- libraries ----------------------------------------------------------------------------

/// "libcuda.so.1" matches stem "libcuda"; "libnvidia-pkcs11-openssl3.so.1" matches
/// "libnvidia-pkcs11*". Returns the file's own stem (the part before ".so.").
std::optional<std::string> stem_match(std::string_view file, std::string_view stem) {
    std::size_t so = file.find(".so.");
    if (so == std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view own = file.substr(0, so);
    if (stem.ends_with('*') ? own.starts_with(stem.substr(0, stem.size() - 1)) : own == stem) {
        return std::string(own);
    }
    return std::nullopt;
}

/// "libcuda.so.1": one version number, the soname the loader asks for.
bool soname_like(std::string_view file) {
    std::size_t so = file.find(".so.");
    std::string_view version = file.substr(so + 4);
    return !version.empty() && version.find_first_not_of("0123456789") == std::string_view::npos;
}

/// Library candidates on the host, best first: `ldconfig -p`'s entries for this
/// architecture, then the driver directories' files.
std::vector<fs::path> library_candidates(const GpuHost& host) {
    std::vector<fs::path> out;
    std::string listing;
    if (host.ldconfig_listing) {
        listing = *host.ldconfig_listing;
    } else if (host.root == "/") {
        for (const char* ldconfig : {"/sbin/ldconfig", "/usr/sbin/ldconfig"}) {
            if (::access(ldconfig, X_OK) != 0) {
                continue;
            }
            std::string why; // a listing that cannot be made is an empty one
            if (auto run = detail::try_run_program({ldconfig, "-p"}, {}, why)) {
                listing = std::move(run->out);
            }
            break;
        }
    }
    std::istringstream lines(listing);
    std::string line;
    while (std::getline(lines, line)) {
        std::size_t arrow = line.find(" => ");
        std::size_t open = line.find(" (");
        std::size_t close = line.find(')', open);
        if (arrow == std::string::npos || open == std::string::npos || close == std::string::npos) {
            continue;
        }
        std::string flags = line.substr(open + 2, close - open - 2);
        if (!kLdconfigArch.empty() && flags.find(kLdconfigArch) == std::string::npos) {
            continue; // another architecture's copy (i386 libraries on amd64)
        }
        fs::path path = under(host, line.substr(arrow + 4));
        std::error_code ec;
        if (fs::exists(path, ec)) {
            out.push_back(path);
        }
    }
    for (const std::string& dir : host.library_dirs) {
        std::error_code ec;
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(under(host, dir), ec)) {
            if (e.path().filename().string().find(".so.") != std::string::npos) {
                files.push_back(e.path());
            }
        }
        std::sort(files.begin(), files.end());
        out.insert(out.end(), files.begin(), files.end());
    }
    return out;
}

/// The real file behind `path`, when it stays below the root (else `path` itself).
fs::path real_file(const GpuHost& host, const fs::path& path) {
    std::error_code ec;
    fs::path real = fs::canonical(path, ec);
    fs::path root = fs::canonical(host.root, ec);
    if (ec || real.empty()) {
        return path;
    }
    auto rel = real.lexically_relative(root);
    return rel.empty() || rel.native().starts_with("..") ? path : real;
}

Mount read_only(std::string host, std::string container) {
    Mount m = Mount::bind(std::move(host), std::move(container), true);
    m.options.push_back("nosuid");
    m.options.push_back("nodev");
    return m;
}

void discover_driver(const GpuHost& host, const std::vector<std::string>& caps, GpuEdits& edits) {
    std::vector<fs::path> candidates = library_candidates(host);
    std::set<std::string> mounted;
    for (const std::string& cap : caps) {
        auto it = std::find_if(capabilities().begin(), capabilities().end(),
                               [&](const Capability& c) { return c.name == cap; });
        if (it == capabilities().end()) {
            edits.missing.push_back("capability '" + cap + "' (unknown, ignored)");
            continue;
        }
        for (std::string_view stem : it->libraries) {
            // Best candidate per file stem: a soname (libcuda.so.1) over a full version.
            std::map<std::string, fs::path> best;
            for (const fs::path& c : candidates) {
                std::string file = c.filename().string();
                std::optional<std::string> own = stem_match(file, stem);
                if (!own) {
                    continue;
                }
                auto [at, fresh] = best.emplace(*own, c);
                if (!fresh && !soname_like(at->second.filename().string()) && soname_like(file)) {
                    at->second = c;
                }
            }
            if (best.empty()) {
                edits.missing.push_back(std::string(stem) + " (" + cap + ")");
            }
            for (const auto& [own, path] : best) {
                std::string target = std::string(kLibraryDir) + "/" + path.filename().string();
                if (mounted.insert(target).second) {
                    edits.mounts.push_back(read_only(real_file(host, path).string(), target));
                }
            }
        }
        for (std::string_view name : it->binaries) {
            bool found = false;
            for (const std::string& dir : host.binary_dirs) {
                fs::path path = under(host, dir) / name;
                if (::access(path.c_str(), X_OK) == 0) {
                    std::string target = "/usr/bin/" + std::string(name);
                    if (mounted.insert(target).second) {
                        edits.mounts.push_back(read_only(real_file(host, path).string(), target));
                    }
                    found = true;
                    break;
                }
            }
            if (!found) {
                edits.missing.push_back(std::string(name) + " (" + cap + ")");
            }
        }
    }
    edits.library_dirs.push_back(kLibraryDir);
}

/// Device nodes and driver files found on the host; nullopt without /dev/nvidiaN.
std::optional<GpuEdits> discover(const GpuHost& host, const Selection& sel,
                                 const std::vector<std::string>& env, std::string source) {
    std::map<unsigned, struct stat> gpus;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(under(host, "/dev"), ec)) {
        std::string name = e.path().filename().string();
        std::string digits = name.substr(std::min<std::size_t>(6, name.size()));
        if (!name.starts_with("nvidia") || digits.empty() ||
            digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 4) {
            continue;
        }
        if (auto st = char_device(e.path())) {
            gpus[static_cast<unsigned>(std::stoul(digits))] = *st;
        }
    }
    if (gpus.empty()) {
        return std::nullopt;
    }
    GpuEdits edits;
    edits.source = std::move(source);
    std::vector<unsigned> chosen;
    if (sel.all) {
        for (const auto& [index, st] : gpus) {
            chosen.push_back(index);
        }
    } else {
        std::vector<std::string> have;
        for (const auto& [index, st] : gpus) {
            have.push_back(std::to_string(index));
        }
        for (const std::string& id : sel.ids) {
            bool number = !id.empty() && id.size() < 5 &&
                          id.find_first_not_of("0123456789") == std::string::npos;
            if (!number) {
                throw Error(ErrorKind::usage,
                            "GPU '" + id +
                                "': without a CDI spec, GPUs are named by index (this host has: " +
                                detail::join(have, ", ") + ")");
            }
            unsigned index = static_cast<unsigned>(std::stoul(id));
            if (gpus.count(index) == 0) {
                throw Error(ErrorKind::usage, "GPU " + id + " is not on this host (it has: " +
                                                  detail::join(have, ", ") + ")");
            }
            if (std::find(chosen.begin(), chosen.end(), index) == chosen.end()) {
                chosen.push_back(index);
            }
        }
    }
    for (unsigned index : chosen) {
        std::string path = "/dev/nvidia" + std::to_string(index);
        edits.device_nodes.push_back(node_of(host, path, gpus[index]));
        edits.devices.push_back(std::to_string(index));
    }
    for (const char* control :
         {"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"}) {
        if (auto st = char_device(under(host, control))) {
            edits.device_nodes.push_back(node_of(host, control, *st));
        }
    }
    std::vector<fs::path> caps;
    for (const auto& e : fs::directory_iterator(under(host, "/dev/nvidia-caps"), ec)) {
        caps.push_back(e.path());
    }
    std::sort(caps.begin(), caps.end());
    for (const fs::path& cap : caps) {
        if (auto st = char_device(cap)) {
            edits.device_nodes.push_back(
                node_of(host, "/dev/nvidia-caps/" + cap.filename().string(), *st));
        }
    }
    discover_driver(host, wanted_capabilities(env), edits);
    return edits;
}

// ---- CDI ------------------------------------------------------------------------------------

struct CdiSpec {
    fs::path file;
    nlohmann::json doc;
};

/// `at` follows the file name: ":LINE:COLUMN" for a YAML error.
[[noreturn]] void bad_spec(const CdiSpec& spec, const std::string& why,
                           const std::string& at = "") {
    throw Error(ErrorKind::runtime, "CDI spec " + spec.file.string() + at + ": " + why);
}

[[noreturn]] void stale(const CdiSpec& spec, const std::string& missing, const std::string& what) {
    throw Error(ErrorKind::runtime,
                "CDI spec " + spec.file.string() + " is stale: " + missing + " (" + what +
                    ") does not exist\nhint: regenerate it after a driver update: nvidia-ctk "
                    "cdi generate --output=" +
                    spec.file.string());
}

std::vector<std::string> strings_of(const CdiSpec& spec, const nlohmann::json& j, const char* key) {
    std::vector<std::string> out;
    if (!j.contains(key)) {
        return out;
    }
    if (!j[key].is_array()) {
        bad_spec(spec, std::string("'") + key + "' must be an array of strings");
    }
    for (const auto& item : j[key]) {
        if (!item.is_string()) {
            bad_spec(spec, std::string("'") + key + "' must be an array of strings");
        }
        out.push_back(item.get<std::string>());
    }
    return out;
}

/// Adds one containerEdits object to `edits`, checking that every host file it names
/// exists. `what` names its origin in messages ("device '0'", "the spec").
void add_cdi_edits(const GpuHost& host, const CdiSpec& spec, const nlohmann::json& j,
                   const std::string& what, GpuEdits& edits) {
    if (j.is_null()) {
        return;
    }
    if (!j.is_object()) {
        bad_spec(spec, "containerEdits of " + what + " must be an object");
    }
    for (const std::string& e : strings_of(spec, j, "env")) {
        edits.env.push_back(e);
    }
    for (const auto& n : j.value("deviceNodes", nlohmann::json::array())) {
        std::string path = n.value("path", "");
        if (path.empty()) {
            bad_spec(spec, "a deviceNode of " + what + " has no 'path'");
        }
        fs::path host_path = under(host, n.value("hostPath", path));
        struct stat st;
        if (::stat(host_path.c_str(), &st) != 0) {
            stale(spec, host_path.string(), what);
        }
        DeviceNode d = node_of(host, path, st);
        d.host_path = host_path.string();
        std::string type = n.value("type", std::string(1, d.type));
        d.type = type == "b" ? 'b' : 'c';
        d.major = n.value("major", d.major);
        d.minor = n.value("minor", d.minor);
        d.file_mode = n.value("fileMode", d.file_mode);
        d.uid = n.value("uid", 0u);
        d.gid = n.value("gid", 0u);
        edits.device_nodes.push_back(d);
    }
    for (const auto& m : j.value("mounts", nlohmann::json::array())) {
        std::string host_path = m.value("hostPath", "");
        std::string container_path = m.value("containerPath", "");
        if (host_path.empty() || container_path.empty()) {
            bad_spec(spec, "a mount of " + what + " needs 'hostPath' and 'containerPath'");
        }
        fs::path source = under(host, host_path);
        std::error_code ec;
        if (!fs::exists(source, ec)) {
            stale(spec, source.string(), what);
        }
        Mount mount;
        mount.source = source.string();
        mount.destination = container_path;
        mount.type = m.value("type", "bind");
        mount.options = strings_of(spec, m, "options");
        edits.mounts.push_back(mount);
    }
    for (const auto& h : j.value("hooks", nlohmann::json::array())) {
        Hook hook;
        hook.when = h.value("hookName", "");
        hook.path = h.value("path", "");
        if (hook.when.empty() || hook.path.empty()) {
            bad_spec(spec, "a hook of " + what + " needs 'hookName' and 'path'");
        }
        if (::access(under(host, hook.path).c_str(), X_OK) != 0) {
            stale(spec, under(host, hook.path).string(), what);
        }
        hook.args = strings_of(spec, h, "args");
        hook.env = strings_of(spec, h, "env");
        if (h.contains("timeout") && h["timeout"].is_number_integer()) {
            hook.timeout = ocibake::detail::json_integer_if<int>(h["timeout"]);
            if (!hook.timeout) {
                bad_spec(spec, "a hook of " + what +
                                   " has a timeout past any int: " + h["timeout"].dump());
            }
        }
        edits.hooks.push_back(hook);
    }
    for (const auto& g : j.value("additionalGIDs", nlohmann::json::array())) {
        if (g.is_number_unsigned()) {
            std::optional<std::uint32_t> gid = ocibake::detail::json_integer_if<std::uint32_t>(g);
            if (!gid) {
                bad_spec(spec, what + " has an additional GID past 2^32-1: " + g.dump());
            }
            edits.additional_gids.push_back(*gid);
        }
    }
}

/// The first CDI spec of kind nvidia.com/gpu in the CDI directories (in order, each one's
/// files by name): JSON (.json) or YAML (.yaml, .yml; the subset of yaml_subset.hpp).
std::optional<CdiSpec> find_cdi_spec(const GpuHost& host) {
    for (const std::string& dir : host.cdi_dirs) {
        std::error_code ec;
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(under(host, dir), ec)) {
            files.push_back(e.path());
        }
        std::sort(files.begin(), files.end());
        for (const fs::path& file : files) {
            std::string ext = file.extension().string();
            bool yaml = ext == ".yaml" || ext == ".yml";
            if (!yaml && ext != ".json") {
                continue;
            }
            CdiSpec spec;
            spec.file = file;
            std::ifstream in(file);
            if (yaml) {
                std::string text{std::istreambuf_iterator<char>(in),
                                 std::istreambuf_iterator<char>()};
                if (!in.is_open() || in.bad()) {
                    bad_spec(spec, "cannot be read");
                }
                try {
                    spec.doc = detail::parse_yaml_subset(text);
                } catch (const detail::YamlError& e) {
                    bad_spec(spec, e.message(),
                             ":" + std::to_string(e.line()) + ":" + std::to_string(e.column()));
                }
            } else {
                try {
                    spec.doc = nlohmann::json::parse(in);
                } catch (const std::exception& e) {
                    bad_spec(spec, std::string("not JSON: ") + e.what());
                }
            }
            if (spec.doc.is_object() && spec.doc.contains("kind") && spec.doc["kind"] == kCdiKind) {
                return spec;
            }
        }
    }
    return std::nullopt;
}

GpuEdits from_cdi(const GpuHost& host, const CdiSpec& spec, const Selection& sel) {
    GpuEdits edits;
    edits.source = "CDI spec " + spec.file.string();
    if (!spec.doc.contains("cdiVersion") || !spec.doc["cdiVersion"].is_string()) {
        bad_spec(spec, "it has no 'cdiVersion'");
    }
    const nlohmann::json devices = spec.doc.value("devices", nlohmann::json::array());
    if (!devices.is_array() || devices.empty()) {
        bad_spec(spec, "it lists no devices");
    }
    std::map<std::string, const nlohmann::json*> by_name;
    std::vector<std::string> names;
    for (const auto& d : devices) {
        if (d.is_object() && d.contains("name") && !d["name"].is_string()) {
            bad_spec(spec, "a device's 'name' must be a string, not " + d["name"].dump() +
                               " (in YAML, quote it: name: \"0\")");
        }
        std::string name = d.value("name", "");
        if (name.empty()) {
            bad_spec(spec, "a device has no 'name'");
        }
        by_name[name] = &d;
        names.push_back(name);
    }
    std::vector<std::string> chosen;
    if (sel.all) {
        if (by_name.count("all")) {
            chosen = {"all"};
        } else {
            chosen = names;
        }
    } else {
        for (const std::string& id : sel.ids) {
            if (by_name.count(id) == 0) {
                throw Error(ErrorKind::usage,
                            "GPU '" + id + "' is not in CDI spec " + spec.file.string() +
                                " (its devices: " + detail::join(names, ", ") + ")");
            }
            chosen.push_back(id);
        }
    }
    add_cdi_edits(host, spec, spec.doc.value("containerEdits", nlohmann::json()), "the spec",
                  edits);
    for (const std::string& name : chosen) {
        add_cdi_edits(host, spec, by_name[name]->value("containerEdits", nlohmann::json()),
                      "device '" + name + "'", edits);
        edits.devices.push_back(name);
    }
    return edits;
}

std::optional<fs::path> host_program(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::string dirs = std::string(path ? path : "") + ":/usr/sbin:/sbin:/usr/bin:/bin";
    std::stringstream ss(dirs);
    std::string dir;
    while (std::getline(ss, dir, ':')) {
        if (!dir.empty() && ::access((fs::path(dir) / name).c_str(), X_OK) == 0) {
            return fs::path(dir) / name;
        }
    }
    return std::nullopt;
}

} // namespace

GpuRequest GpuRequest::parse(std::string_view text) {
    GpuRequest r;
    if (text == "all") {
        return r;
    }
    if (text == "none") {
        r.kind = Kind::none;
        return r;
    }
    r.kind = Kind::list;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t comma = text.find(',', start);
        std::string_view item = text.substr(start, comma - start);
        if (item.empty() || item.find_first_of(" \t") != std::string_view::npos) {
            throw Error(ErrorKind::usage, "--gpus '" + std::string(text) +
                                              "' must be all, none, or a list of GPUs like 0,1");
        }
        r.ids.emplace_back(item);
        if (comma == std::string_view::npos) {
            break;
        }
        start = comma + 1;
    }
    return r;
}

std::string GpuRequest::str() const {
    switch (kind) {
    case Kind::all:
        return "all";
    case Kind::none:
        return "none";
    case Kind::list:
        break;
    }
    return detail::join(ids, ",");
}

std::string GpuEdits::summary() const {
    return std::string(devices.size() == 1 ? "GPU " : "GPUs ") + detail::join(devices, ",") + " (" +
           source + ": " + std::to_string(device_nodes.size()) + " device nodes, " +
           std::to_string(mounts.size()) + " driver files)";
}

std::optional<GpuEdits> find_gpus(const GpuHost& host, const GpuRequest& request,
                                  const std::vector<std::string>& env) {
    Selection sel = select(request, env);
    if (!sel.any) {
        return std::nullopt;
    }
    if (std::optional<CdiSpec> spec = find_cdi_spec(host)) {
        try {
            return from_cdi(host, *spec, sel);
        } catch (const nlohmann::json::exception& e) {
            // A field of the wrong type ("fileMode": "0660"): the spec's fault, named.
            bad_spec(*spec, std::string("a field has the wrong type: ") + e.what());
        }
    }
    return discover(host, sel, env, "discovery");
}

std::string no_gpu_reason(const GpuHost& host, const GpuRequest& request,
                          const std::vector<std::string>& env) {
    Selection sel = select(request, env);
    if (!sel.any) {
        return sel.why_none;
    }
    std::string where = host.root == "/" ? "" : " under " + host.root.string();
    return "none found on this host (no CDI spec of kind nvidia.com/gpu in " +
           detail::join(host.cdi_dirs, ", ") + ", no /dev/nvidia0" + where + ")";
}

void apply_gpu_edits(const GpuEdits& edits, const Bundle& bundle, ContainerSpec& spec) {
    spec.devices.insert(spec.devices.end(), edits.device_nodes.begin(), edits.device_nodes.end());
    spec.mounts.insert(spec.mounts.end(), edits.mounts.begin(), edits.mounts.end());
    for (const std::string& kv : edits.env) {
        std::size_t eq = kv.find('=');
        spec.set_env(kv.substr(0, eq), eq == std::string::npos ? "" : kv.substr(eq + 1));
    }
    spec.hooks.insert(spec.hooks.end(), edits.hooks.begin(), edits.hooks.end());
    for (std::uint32_t gid : edits.additional_gids) {
        if (std::find(spec.additional_gids.begin(), spec.additional_gids.end(), gid) ==
            spec.additional_gids.end()) {
            spec.additional_gids.push_back(gid);
        }
    }
    if (edits.library_dirs.empty()) {
        return;
    }
    // Loadable: an ld.so.conf.d entry, and the image's own ldconfig run over the rootfs
    // before the process starts (the runtime's createContainer hook runs after the mounts,
    // as root, while the root file system is still writable).
    fs::path rootfs = bundle.root_of(spec);
    detail::RootDir root(rootfs);
    root.write_file(kLdConf, detail::join(edits.library_dirs, "\n") + "\n", 0644);
    std::optional<std::string> ldconfig;
    for (const char* candidate : {"sbin/ldconfig", "usr/sbin/ldconfig"}) {
        auto at = root.resolve(candidate, true);
        auto st = at ? detail::RootDir::stat_at(*at) : std::nullopt;
        if (st && S_ISREG(st->st_mode)) {
            ldconfig = "/" + std::string(candidate);
            break;
        }
    }
    std::optional<fs::path> chroot = host_program("chroot");
    if (ldconfig && chroot) {
        Hook hook;
        hook.when = "createContainer";
        hook.path = chroot->string();
        hook.args = {"chroot", rootfs.string(), *ldconfig};
        hook.args.insert(hook.args.end(), edits.library_dirs.begin(), edits.library_dirs.end());
        hook.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
        hook.timeout = 60;
        spec.hooks.push_back(hook);
        return;
    }
    std::string path = detail::join(edits.library_dirs, ":");
    std::optional<std::string> old = spec.env_value("LD_LIBRARY_PATH");
    spec.set_env("LD_LIBRARY_PATH", old && !old->empty() ? path + ":" + *old : path);
}

} // namespace ocibake
