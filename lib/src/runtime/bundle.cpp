// The runtime bundle: an unpacked image, the container's settings from the image config,
// and config.json per the OCI runtime spec.
#include "common/text.hpp"
#include "ocibake/runtime.hpp"
#include "runtime/rootfs.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ocibake {

namespace fs = std::filesystem;
using detail::RootDir;

namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's default capability set.
constexpr const char* kCapabilities[] = {
    "CAP_AUDIT_WRITE", "CAP_CHOWN",   "CAP_DAC_OVERRIDE",     "CAP_FOWNER",     "CAP_FSETID",
    "CAP_KILL",        "CAP_MKNOD",   "CAP_NET_BIND_SERVICE", "CAP_NET_RAW",    "CAP_SETFCAP",
    "CAP_SETGID",      "CAP_SETPCAP", "CAP_SETUID",           "CAP_SYS_CHROOT",
};

constexpr const char* kMaskedPaths[] = {
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
};

constexpr const char* kReadonlyPaths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

std::optional<std::uint32_t> parse_id(std::string_view text) {
    std::uint32_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
        return std::nullopt;
    }
    return value;
}

std::vector<std::string> split_fields(const std::string& line) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        std::size_t colon = line.find(':', start);
        out.push_back(line.substr(start, colon - start));
        if (colon == std::string::npos) {
            return out;
        }
        start = colon + 1;
    }
}

std::vector<std::vector<std::string>> read_table(const RootDir& root, std::string_view path) {
    std::vector<std::vector<std::string>> rows;
    std::optional<std::string> text = root.read_file(path, 16 << 20);
    if (!text) {
        return rows;
    }
    std::size_t start = 0;
    while (start < text->size()) {
        std::size_t end = text->find('\n', start);
        std::string line = text->substr(start, end - start);
        start = end == std::string::npos ? text->size() : end + 1;
        if (!line.empty() && line[0] != '#') {
            rows.push_back(split_fields(line));
        }
    }
    return rows;
}

struct ResolvedUser {
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::vector<std::uint32_t> additional_gids;
    std::string home = "/";
};

/// "", "name", "uid", "name:group", "uid:gid", ... against the image's passwd and group.
ResolvedUser resolve_user(const RootDir& root, const std::string& user) {
    ResolvedUser out;
    if (user.empty()) {
        return out;
    }
    std::size_t colon = user.find(':');
    std::string who = user.substr(0, colon);
    std::optional<std::string> group;
    if (colon != std::string::npos) {
        group = user.substr(colon + 1);
    }
    auto passwd = read_table(root, "etc/passwd");
    std::optional<std::uint32_t> uid = parse_id(who);
    const std::vector<std::string>* entry = nullptr;
    for (const auto& row : passwd) {
        if (row.size() < 7) {
            continue;
        }
        if ((uid && parse_id(row[2]) == uid) || (!uid && row[0] == who)) {
            entry = &row;
            break;
        }
    }
    if (!uid && entry == nullptr) {
        throw Error(ErrorKind::input, "user '" + who + "' is not in the image's /etc/passwd");
    }
    out.uid = uid ? *uid : parse_id((*entry)[2]).value_or(0);
    if (entry != nullptr) {
        out.gid = parse_id((*entry)[3]).value_or(0);
        if (!(*entry)[5].empty()) {
            out.home = (*entry)[5];
        }
    }
    auto groups = read_table(root, "etc/group");
    if (group) {
        std::optional<std::uint32_t> gid = parse_id(*group);
        if (!gid) {
            for (const auto& row : groups) {
                if (row.size() >= 3 && row[0] == *group) {
                    gid = parse_id(row[2]);
                    break;
                }
            }
        }
        if (!gid) {
            throw Error(ErrorKind::input,
                        "group '" + *group + "' is not in the image's /etc/group");
        }
        out.gid = *gid;
    }
    // Supplementary groups: those that list the user by name (as Docker does).
    if (entry != nullptr) {
        const std::string& name = (*entry)[0];
        for (const auto& row : groups) {
            if (row.size() < 4) {
                continue;
            }
            std::size_t start = 0;
            const std::string& members = row[3];
            while (start <= members.size()) {
                std::size_t comma = members.find(',', start);
                if (members.substr(start, comma - start) == name) {
                    if (auto gid = parse_id(row[2]); gid && *gid != out.gid) {
                        out.additional_gids.push_back(*gid);
                    }
                    break;
                }
                if (comma == std::string::npos) {
                    break;
                }
                start = comma + 1;
            }
        }
    }
    return out;
}

void set_env_in(std::vector<std::string>& env, std::string_view key, std::string_view value) {
    std::string entry = std::string(key) + "=" + std::string(value);
    for (std::string& e : env) {
        if (e.size() > key.size() && e.compare(0, key.size(), key) == 0 && e[key.size()] == '=') {
            e = std::move(entry);
            return;
        }
    }
    env.push_back(std::move(entry));
}

std::optional<std::string> env_in(const std::vector<std::string>& env, std::string_view key) {
    for (const std::string& e : env) {
        if (e.size() > key.size() && e.compare(0, key.size(), key) == 0 && e[key.size()] == '=') {
            return e.substr(key.size() + 1);
        }
    }
    return std::nullopt;
}

void write_text(const fs::path& path, std::string_view text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!out) {
        throw Error(ErrorKind::io, "cannot write " + path.string());
    }
}

nlohmann::ordered_json mount_json(const Mount& m) {
    nlohmann::ordered_json j = {
        {"destination", m.destination}, {"type", m.type}, {"source", m.source}};
    if (!m.options.empty()) {
        j["options"] = m.options;
    }
    return j;
}

} // namespace

// ---- Mount ---------------------------------------------------------------------------

Mount Mount::bind(std::string host, std::string container, bool read_only) {
    Mount m;
    m.destination = std::move(container);
    m.source = std::move(host);
    m.type = "bind";
    m.options = {"rbind", "rprivate"};
    if (read_only) {
        m.options.push_back("ro");
    }
    return m;
}

Mount Mount::parse_volume(std::string_view text) {
    std::string spec(text);
    std::size_t first = spec.find(':');
    if (first == std::string::npos || first == 0) {
        throw Error(ErrorKind::usage, "volume '" + spec + "' must be HOST:CONTAINER[:ro|:rw]");
    }
    std::string host = spec.substr(0, first);
    std::string rest = spec.substr(first + 1);
    bool read_only = false;
    std::size_t second = rest.find(':');
    if (second != std::string::npos) {
        std::string mode = rest.substr(second + 1);
        if (mode != "ro" && mode != "rw") {
            throw Error(ErrorKind::usage,
                        "volume '" + spec + "': mode '" + mode + "' must be ro or rw");
        }
        read_only = mode == "ro";
        rest = rest.substr(0, second);
    }
    if (!rest.starts_with('/')) {
        throw Error(ErrorKind::usage, "volume '" + spec + "': the container path must be absolute");
    }
    std::error_code ec;
    fs::path absolute = fs::absolute(host, ec).lexically_normal();
    if (ec || !fs::exists(absolute, ec)) {
        throw Error(ErrorKind::usage,
                    "volume '" + spec + "': " + absolute.string() + " does not exist");
    }
    return bind(absolute.string(), rest, read_only);
}

// ---- ContainerSpec ---------------------------------------------------------------------

void ContainerSpec::set_env(std::string_view key, std::string_view value) {
    set_env_in(env, key, value);
}

std::optional<std::string> ContainerSpec::env_value(std::string_view key) const {
    return env_in(env, key);
}

namespace {

/// The JSON pointer of the first string (key or value) in `j` that is not UTF-8, with the
/// string written printably; "" when every string is.
std::string first_non_utf8(const nlohmann::ordered_json& j, const std::string& at) {
    if (j.is_string()) {
        const auto& text = j.get_ref<const std::string&>();
        return detail::valid_utf8(text)
                   ? ""
                   : (at.empty() ? "/" : at) + " (\"" + detail::printable(text) + "\")";
    }
    if (j.is_object()) {
        for (const auto& [key, value] : j.items()) {
            if (!detail::valid_utf8(key)) {
                return at + " key \"" + detail::printable(key) + "\"";
            }
            if (std::string where = first_non_utf8(value, at + "/" + key); !where.empty()) {
                return where;
            }
        }
    }
    if (j.is_array()) {
        for (std::size_t i = 0; i < j.size(); ++i) {
            if (std::string where = first_non_utf8(j[i], at + "/" + std::to_string(i));
                !where.empty()) {
                return where;
            }
        }
    }
    return "";
}

} // namespace

std::string runtime_config_json(const ContainerSpec& spec) {
    using json = nlohmann::ordered_json;
    json caps = json::array();
    for (const char* c : kCapabilities) {
        caps.push_back(c);
    }
    // A non-root process gets the bounding set only, as with Docker.
    json effective = spec.uid == 0 ? caps : json::array();
    json user = {{"uid", spec.uid}, {"gid", spec.gid}};
    if (!spec.additional_gids.empty()) {
        user["additionalGids"] = spec.additional_gids;
    }
    json process = {
        {"terminal", spec.terminal},
        {"user", user},
        {"args", spec.args},
        {"env", spec.env},
        {"cwd", spec.cwd},
        {"capabilities", {{"bounding", caps}, {"effective", effective}, {"permitted", effective}}},
        {"noNewPrivileges", false},
    };
    // The container's terminal starts at this terminal's size (as `docker run -t` does):
    // the runtime sizes it before the process starts. Its own first resize comes only
    // after the start (runc 1.1), so a command that reads its size at once saw 0x0.
    winsize ws{};
    if (spec.terminal &&
        (::ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 ||
         ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) &&
        ws.ws_row > 0 && ws.ws_col > 0) {
        process["consoleSize"] = {{"height", ws.ws_row}, {"width", ws.ws_col}};
    }
    if (!spec.rlimits.empty()) {
        json rlimits = json::array();
        for (const Rlimit& r : spec.rlimits) {
            rlimits.push_back({{"type", r.type}, {"hard", r.hard}, {"soft", r.soft}});
        }
        process["rlimits"] = rlimits;
    }

    json mounts = json::array();
    mounts.push_back({{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}});
    mounts.push_back({{"destination", "/dev"},
                      {"type", "tmpfs"},
                      {"source", "tmpfs"},
                      {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}});
    mounts.push_back(
        {{"destination", "/dev/pts"},
         {"type", "devpts"},
         {"source", "devpts"},
         {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}});
    if (spec.host_ipc) { // `--ipc host`: the host's /dev/shm, as Docker mounts it
        mounts.push_back({{"destination", "/dev/shm"},
                          {"type", "bind"},
                          {"source", "/dev/shm"},
                          {"options", {"rbind", "nosuid", "noexec", "nodev"}}});
    } else {
        mounts.push_back({{"destination", "/dev/shm"},
                          {"type", "tmpfs"},
                          {"source", "shm"},
                          {"options",
                           {"nosuid", "noexec", "nodev", "mode=1777",
                            "size=" + std::to_string(spec.shm_size)}}});
    }
    mounts.push_back({{"destination", "/dev/mqueue"},
                      {"type", "mqueue"},
                      {"source", "mqueue"},
                      {"options", {"nosuid", "noexec", "nodev"}}});
    mounts.push_back({{"destination", "/sys"},
                      {"type", "sysfs"},
                      {"source", "sysfs"},
                      {"options", {"nosuid", "noexec", "nodev", "ro"}}});
    mounts.push_back({{"destination", "/sys/fs/cgroup"},
                      {"type", "cgroup"},
                      {"source", "cgroup"},
                      {"options", {"nosuid", "noexec", "nodev", "relatime", "ro"}}});
    for (const Mount& m : spec.mounts) {
        mounts.push_back(mount_json(m));
    }

    json namespaces = json::array();
    for (const char* ns : {"pid", "ipc", "uts", "mount"}) {
        if (!(spec.host_ipc && std::string_view(ns) == "ipc")) {
            namespaces.push_back({{"type", ns}});
        }
    }
    if (spec.network == Network::none) {
        json net = {{"type", "network"}};
        if (!spec.network_namespace.empty()) {
            net["path"] = spec.network_namespace;
        }
        namespaces.push_back(net);
    }
    json devices = json::array();
    json rules = json::array({{{"allow", false}, {"access", "rwm"}}});
    for (const DeviceNode& d : spec.devices) {
        devices.push_back({{"path", d.path},
                           {"type", std::string(1, d.type)},
                           {"major", d.major},
                           {"minor", d.minor},
                           {"fileMode", d.file_mode},
                           {"uid", d.uid},
                           {"gid", d.gid}});
        rules.push_back({{"allow", true},
                         {"type", std::string(1, d.type)},
                         {"major", d.major},
                         {"minor", d.minor},
                         {"access", "rwm"}});
    }
    json linux = {{"namespaces", namespaces},
                  {"resources", {{"devices", rules}}},
                  {"maskedPaths", kMaskedPaths},
                  {"readonlyPaths", kReadonlyPaths}};
    if (!devices.empty()) {
        linux["devices"] = devices;
    }

    json config = {{"ociVersion", "1.0.2"},
                   {"process", process},
                   {"root", {{"path", spec.root_path}, {"readonly", spec.read_only_root}}},
                   {"hostname", spec.hostname},
                   {"mounts", mounts}};
    if (!spec.hooks.empty()) {
        json hooks = json::object();
        for (const Hook& h : spec.hooks) {
            json hook = {{"path", h.path}};
            if (!h.args.empty()) {
                hook["args"] = h.args;
            }
            if (!h.env.empty()) {
                hook["env"] = h.env;
            }
            if (h.timeout) {
                hook["timeout"] = *h.timeout;
            }
            hooks[h.when].push_back(hook);
        }
        config["hooks"] = hooks;
    }
    config["linux"] = linux;
    // A runtime config is JSON, so UTF-8; a value from the image (a home directory in its
    // /etc/passwd) or from the command line may not be. Say which, rather than let the
    // serializer throw something that is no ocibake::Error (found by fuzz_layer).
    if (std::string where = first_non_utf8(config, ""); !where.empty()) {
        throw Error(ErrorKind::input, "the container's runtime config cannot be written: " + where +
                                          " is not UTF-8 (it comes from the image's "
                                          "/etc/passwd or /etc/group, or from the command line)");
    }
    return config.dump(2) + "\n";
}

// ---- Bundle ----------------------------------------------------------------------------

fs::path new_bundle_path() {
    const char* tmp = std::getenv("TMPDIR");
    fs::path parent = tmp != nullptr && *tmp != '\0' ? fs::path(tmp) : fs::path("/var/tmp");
    return parent / ("ocibake-bundle-" + detail::random_suffix().substr(0, 8));
}

Bundle Bundle::at(const fs::path& dir, oci::ImageConfig config, const fs::path& rootfs) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    Bundle bundle(fs::absolute(dir).lexically_normal(), std::move(config));
    bundle.rootfs_ = rootfs;
    return bundle;
}

Bundle Bundle::create(const Store& store, const SourceImage& image, const fs::path& dir_in,
                      const Interrupt* interrupt) {
    fs::path dir = fs::absolute(dir_in).lexically_normal();
    std::error_code ec;
    if (fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::is_empty(dir, ec))) {
        throw Error(ErrorKind::io, "bundle directory " + dir.string() + " exists and is not empty");
    }
    fs::create_directories(dir, ec);
    if (ec) {
        throw Error(ErrorKind::io, "cannot create " + dir.string() + ": " + ec.message());
    }
    ::chmod(dir.c_str(), 0700);
    unpack_image(store, image, dir / "rootfs", interrupt);
    return Bundle(dir, image.config);
}

ContainerSpec Bundle::spec_for(const ContainerOverrides& o) const {
    const oci::ContainerConfig& c = config_.config;
    RootDir root(rootfs());
    ContainerSpec spec;
    if (o.args) {
        spec.args = *o.args;
    } else {
        spec.args = c.entrypoint.value_or(std::vector<std::string>{});
        const auto& cmd = o.cmd ? o.cmd : c.cmd;
        if (cmd) {
            spec.args.insert(spec.args.end(), cmd->begin(), cmd->end());
        }
    }
    if (spec.args.empty()) {
        throw Error(ErrorKind::input,
                    "the image has no entrypoint or cmd, and no command was given");
    }
    spec.env = c.env;
    for (const std::string& kv : o.env) {
        std::size_t eq = kv.find('=');
        spec.set_env(kv.substr(0, eq), eq == std::string::npos ? "" : kv.substr(eq + 1));
    }
    ResolvedUser user = resolve_user(root, o.user.value_or(c.user));
    spec.uid = user.uid;
    spec.gid = user.gid;
    spec.additional_gids = user.additional_gids;
    if (!spec.env_value("PATH")) {
        spec.set_env("PATH", kDefaultPath);
    }
    if (!spec.env_value("HOME")) {
        spec.set_env("HOME", user.home);
    }
    spec.cwd = o.workdir.value_or(c.working_dir.empty() ? "/" : c.working_dir);
    if (!spec.cwd.starts_with('/')) {
        throw Error(ErrorKind::usage, "the working directory '" + spec.cwd +
                                          "' is invalid: it must be an absolute path");
    }
    spec.terminal = o.terminal;
    if (spec.terminal && !spec.env_value("TERM")) {
        spec.set_env("TERM", "xterm");
    }
    spec.read_only_root = o.read_only_root;
    spec.network = o.network;
    spec.network_namespace = o.network_namespace;
    if (o.hostname) {
        check_hostname(*o.hostname);
        spec.hostname = *o.hostname;
    }
    if (o.shm_size) {
        spec.shm_size = *o.shm_size;
    }
    spec.host_ipc = o.host_ipc;
    spec.rlimits = o.rlimits;
    spec.set_env("HOSTNAME", spec.hostname);

    // The hostname must resolve (torchrun and NCCL hang otherwise): /etc/hosts and
    // /etc/hostname are ours, in the root (o.etc_in_root) or the bundle's mounted over the
    // image's, as Docker does.
    auto place = [&](const std::string& name, const std::string& text) {
        if (o.etc_in_root && !o.read_only_root) {
            std::string path = "etc/" + name;
            auto at = root.parent(path, detail::Symlinks::scoped, false, path);
            auto st = at ? detail::RootDir::stat_at(*at) : std::nullopt;
            if (at && (!st || S_ISREG(st->st_mode))) {
                try {
                    root.write_file(path, text, 0644);
                    return;
                } catch (const Error&) {
                } // mounted instead
            }
        }
        std::error_code made;
        fs::create_directories(dir_ / "etc", made);
        write_text(dir_ / "etc" / name, text);
        spec.mounts.push_back(Mount::bind((dir_ / "etc" / name).string(), "/etc/" + name, false));
    };
    place("hosts", "127.0.0.1\tlocalhost " + spec.hostname +
                       "\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    place("hostname", spec.hostname + "\n");
    std::error_code ec;
    if ((spec.network == Network::host && fs::exists("/etc/resolv.conf", ec)) || o.resolv_conf) {
        std::string text;
        if (o.resolv_conf && spec.network != Network::host) {
            text = *o.resolv_conf;
        } else {
            std::ifstream in("/etc/resolv.conf", std::ios::binary);
            text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        }
        place("resolv.conf", text);
    }
    spec.mounts.insert(spec.mounts.end(), o.mounts.begin(), o.mounts.end());
    return spec;
}

fs::path Bundle::root_of(const ContainerSpec& spec) const {
    fs::path root(spec.root_path);
    return root.is_absolute() ? root : dir_ / root;
}

void Bundle::write_config(const ContainerSpec& spec) const {
    detail::atomic_write_file(dir_ / "config.json", runtime_config_json(spec), 0600, false);
}

} // namespace ocibake
