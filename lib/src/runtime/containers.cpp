// The state directory of containers and what `ocibake ps`, `stop`, `exec`, `logs` and `rm`
// do with it.
#include "common/fs.hpp"
#include "common/json_number.hpp"
#include "common/time.hpp"
#include "runtime/rootfs.hpp"
#include "runtime/state.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <ctime>
#include <optional>
#include <system_error>
#include <thread>

namespace ocibake {

namespace fs = std::filesystem;
using detail::ContainerState;

namespace detail {

std::string runtime_id(const std::string& id) {
    return "ocibake-" + id;
}

fs::path entry_dir(const fs::path& state_dir, const std::string& id) {
    return state_dir / id;
}

std::string utc_now() {
    return detail::utc_text(std::time(nullptr), "%Y-%m-%dT%H:%M:%SZ");
}

void write_state(const fs::path& state_dir, const ContainerState& s) {
    nlohmann::ordered_json j = {{"version", 1},
                                {"id", s.id},
                                {"name", s.name},
                                {"image", s.image},
                                {"command", s.command},
                                {"created", s.created},
                                {"status", s.status},
                                {"owner_pid", s.owner_pid},
                                {"owner_start", s.owner_start},
                                {"pid", s.pid},
                                {"runtime", s.runtime},
                                {"bundle", s.bundle},
                                {"cache", s.cache},
                                {"stop_signal", s.stop_signal},
                                {"detached", s.detached},
                                {"remove", s.remove},
                                {"ports", s.ports}};
    if (s.exit_code) {
        j["exit_code"] = *s.exit_code;
    }
    fs::path dir = entry_dir(state_dir, s.id);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
        throw Error(ErrorKind::io, "cannot create " + dir.string() + ": " + ec.message());
    }
    atomic_write_file(dir / "state.json", j.dump(2) + "\n", 0600, false);
}

std::optional<ContainerState> read_state(const fs::path& state_dir, const std::string& id) {
    std::string text;
    try {
        text = read_file(entry_dir(state_dir, id) / "state.json", ErrorKind::io, 1 << 20);
        auto j = nlohmann::json::parse(text);
        if (j.value("version", 0) != 1) {
            return std::nullopt;
        }
        ContainerState s;
        s.id = j.value("id", id);
        s.name = j.value("name", "");
        s.image = j.value("image", "");
        s.command = j.value("command", std::vector<std::string>{});
        s.created = j.value("created", "");
        s.status = j.value("status", "");
        if (j.contains("exit_code")) {
            s.exit_code = ocibake::detail::json_integer<int>(j["exit_code"]);
        }
        s.owner_pid = j.value("owner_pid", 0);
        s.owner_start = j.value("owner_start", std::uint64_t{0});
        s.pid = j.value("pid", 0);
        s.runtime = j.value("runtime", "");
        s.bundle = j.value("bundle", "");
        s.cache = j.value("cache", "");
        s.stop_signal = j.value("stop_signal", "");
        s.detached = j.value("detached", false);
        s.remove = j.value("remove", true);
        s.ports = j.value("ports", std::vector<std::string>{});
        return s;
    } catch (const std::exception&) {
        return std::nullopt; // missing, being written, or not ours
    }
}

void claim_name(const fs::path& state_dir, const std::string& name, const std::string& id) {
    if (name.empty() || name.find('/') != std::string::npos || name.starts_with('.')) {
        throw Error(ErrorKind::usage, "container name '" + name + "' is not valid");
    }
    fs::path dir = state_dir / "names";
    std::error_code ec;
    fs::create_directories(dir, ec);
    for (int attempt = 0; attempt < 2; ++attempt) {
        UniqueFd fd(::open((dir / name).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (fd) {
            write_all(fd.get(), id.data(), id.size(), (dir / name).string());
            return;
        }
        if (errno != EEXIST) {
            throw_errno(ErrorKind::io, "cannot create " + (dir / name).string(), errno);
        }
        std::string holder;
        try {
            holder = read_file(dir / name, ErrorKind::io, 256);
        } catch (const Error&) {
        }
        if (!holder.empty() && fs::exists(entry_dir(state_dir, holder), ec)) {
            throw Error(ErrorKind::usage,
                        "the container name '" + name + "' is in use by container " + holder +
                            ": remove it (ocibake rm " + name + ") or pick another --name");
        }
        fs::remove(dir / name, ec); // its container is gone
    }
    throw Error(ErrorKind::usage, "the container name '" + name + "' is in use");
}

void remove_entry(const fs::path& state_dir, const ContainerState& s) {
    std::error_code ec;
    if (!s.name.empty()) {
        // Not read_file(): a name already gone is the usual case here, and the first
        // exception a process throws costs half a millisecond of unwinder setup.
        std::string holder, why;
        fs::path name_file = state_dir / "names" / s.name;
        if (UniqueFd fd = open_regular(name_file, why)) {
            try {
                read_all(fd.get(), name_file, ErrorKind::io, 256, holder);
            } catch (const Error&) {
                holder.clear();
            }
        }
        if (holder == s.id) {
            fs::remove(state_dir / "names" / s.name, ec);
        }
    }
    fs::remove_all(entry_dir(state_dir, s.id), ec);
}

void tear_down(const ContainerState& s) {
    if (!s.runtime.empty()) {
        OciRuntime(s.runtime, "").delete_container(runtime_id(s.id));
    }
    std::error_code ec;
    if (!s.bundle.empty()) {
        fs::path bundle = s.bundle;
        fs::path rootfs = bundle / "rootfs";
        if (is_mounted(rootfs)) {
            // The unmount waits out an RCU grace period (2-5 ms on our VMs, a sixth of a
            // warm run's own time): what of the bundle the overlay does not use goes
            // meanwhile (config.json, etc/hosts, ...), on a second thread.
            auto outside_root = [&bundle] {
                std::error_code e;
                for (const auto& entry : fs::directory_iterator(bundle, e)) {
                    std::string name = entry.path().filename().string();
                    if (name != "rootfs" && name != "upper" && name != "work") {
                        fs::remove_all(entry.path(), e);
                    }
                }
            };
            std::optional<std::thread> helper;
            try {
                helper.emplace(outside_root);
            } catch (const std::system_error&) {
            }
            ::umount2(rootfs.c_str(), MNT_DETACH);
            if (helper) {
                helper->join();
            }
        }
        // By file descriptor, one unlinkat per entry (std::filesystem::remove_all also
        // stats each one); never following a symlink the container left in its upper
        // directory.
        try {
            remove_at(AT_FDCWD, bundle.string(), "the bundle " + bundle.string());
        } catch (const Error&) {
            fs::remove_all(bundle, ec);
        }
    }
    if (!s.cache.empty()) {
        // The store's lease (Store::drop_lease), without taking the store's lock: a gc
        // running now must not make a container's end wait.
        fs::remove(fs::path(s.cache) / "leases" / s.id, ec);
    }
}

} // namespace detail

namespace {

bool owner_alive(const ContainerState& s) {
    return detail::process_alive(s.owner_pid, s.owner_start);
}

ContainerInfo info_of(const ContainerState& s) {
    ContainerInfo i;
    i.id = s.id;
    i.name = s.name;
    i.image = s.image;
    i.command = s.command;
    i.created = s.created;
    i.status = s.status;
    if ((s.status == "running" || s.status == "creating") && !owner_alive(s)) {
        i.status = "dead";
    }
    i.exit_code = s.exit_code;
    i.detached = s.detached;
    i.bundle = s.bundle;
    i.ports = s.ports;
    return i;
}

/// Waits up to `limit` for `pid` (started at `start`) to end; true when it did.
bool wait_gone(int pid, std::uint64_t start, std::chrono::milliseconds limit) {
    detail::UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!fd || !detail::process_alive(pid, start)) {
        return !detail::process_alive(pid, start);
    }
    pollfd p{fd.get(), POLLIN, 0};
    int rc;
    do {
        rc = ::poll(&p, 1, static_cast<int>(limit.count()));
    } while (rc < 0 && errno == EINTR);
    return rc > 0;
}

ContainerState state_of(const fs::path& state_dir, const std::string& name_or_id) {
    ContainerInfo info = find_container(state_dir, name_or_id);
    auto s = detail::read_state(state_dir, info.id);
    if (!s) {
        throw Error(ErrorKind::usage, "no such container: " + name_or_id);
    }
    return *s;
}

} // namespace

fs::path default_state_dir() {
    if (const char* dir = std::getenv("OCIBAKE_STATE_DIR"); dir != nullptr && *dir != '\0') {
        return dir;
    }
    return "/run/ocibake";
}

std::vector<ContainerInfo> list_containers(const fs::path& state_dir) {
    std::vector<ContainerInfo> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(state_dir, ec)) {
        std::string id = entry.path().filename().string();
        if (id == "names") {
            continue;
        }
        if (auto s = detail::read_state(state_dir, id)) {
            out.push_back(info_of(*s));
        }
    }
    std::sort(out.begin(), out.end(), [](const ContainerInfo& a, const ContainerInfo& b) {
        return a.created != b.created ? a.created < b.created : a.id < b.id;
    });
    return out;
}

ContainerInfo find_container(const fs::path& state_dir, const std::string& name_or_id) {
    std::vector<ContainerInfo> all = list_containers(state_dir);
    for (const ContainerInfo& c : all) {
        if (c.name == name_or_id || c.id == name_or_id) {
            return c;
        }
    }
    const ContainerInfo* found = nullptr;
    for (const ContainerInfo& c : all) {
        if (!name_or_id.empty() && c.id.starts_with(name_or_id)) {
            if (found != nullptr) {
                throw Error(ErrorKind::usage, "container id prefix '" + name_or_id +
                                                  "' is ambiguous: give more of it");
            }
            found = &c;
        }
    }
    if (found == nullptr) {
        throw Error(ErrorKind::usage, "no such container: " + name_or_id + " (in " +
                                          state_dir.string() + "; see ocibake ps -a)");
    }
    return *found;
}

void stop_container(const fs::path& state_dir, const std::string& name_or_id,
                    std::chrono::seconds timeout) {
    ContainerState s = state_of(state_dir, name_or_id);
    if (!owner_alive(s)) {
        return; // exited already (or dead: `ocibake rm` cleans up)
    }
    OciRuntime runtime(s.runtime, "");
    std::string rid = detail::runtime_id(s.id);
    runtime.kill_container(rid, s.stop_signal.empty() ? "TERM" : s.stop_signal);
    if (wait_gone(s.owner_pid, s.owner_start, timeout)) {
        return;
    }
    runtime.kill_container(rid, "KILL");
    if (!wait_gone(s.owner_pid, s.owner_start, std::chrono::seconds(10))) {
        throw Error(ErrorKind::runtime, "container " + s.id + " (" + s.name +
                                            ") did not end within 10s of SIGKILL; its owner, "
                                            "process " +
                                            std::to_string(s.owner_pid) + ", still runs");
    }
}

int exec_in_container(const fs::path& state_dir, const std::string& name_or_id,
                      const std::vector<std::string>& args, bool terminal) {
    ContainerState s = state_of(state_dir, name_or_id);
    if (s.status != "running" || !owner_alive(s)) {
        throw Error(ErrorKind::usage, "container " + name_or_id + " is not running");
    }
    return OciRuntime(s.runtime, "").exec_attached(detail::runtime_id(s.id), args, terminal);
}

std::pair<fs::path, fs::path> container_logs(const fs::path& state_dir,
                                             const std::string& name_or_id) {
    ContainerState s = state_of(state_dir, name_or_id);
    if (!s.detached) {
        throw Error(ErrorKind::usage,
                    "container " + name_or_id + " runs attached: its output went to its terminal");
    }
    fs::path dir = detail::entry_dir(state_dir, s.id);
    return {dir / "stdout", dir / "stderr"};
}

void remove_container(const fs::path& state_dir, const std::string& name_or_id, bool force) {
    ContainerState s = state_of(state_dir, name_or_id);
    if (owner_alive(s)) {
        if (!force) {
            throw Error(ErrorKind::usage, "container " + name_or_id +
                                              " is running: stop it first (ocibake stop " +
                                              name_or_id + ") or use rm -f");
        }
        stop_container(state_dir, s.id, std::chrono::seconds(0));
    }
    detail::tear_down(s); // a dead one's leftovers; nothing for one that exited cleanly
    detail::remove_entry(state_dir, s);
}

} // namespace ocibake
