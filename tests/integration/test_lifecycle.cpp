// The unpacked-layer store and the container lifecycle under real runc and real overlayfs:
// whiteouts as overlayfs reads them, layers shared by runs and kept by gc while in use,
// signals forwarded, `ocibake run` killed at each phase leaving nothing behind, and
// run -d / ps / exec / logs / stop / rm.
#include "ocibake/image.hpp"
#include "ocibake/layer.hpp"
#include "support/checks.hpp"
#include "support/tar.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>

using namespace ocibake;
using namespace ocibake::test;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<std::string> env_of(const ScratchDir& dir) {
    return {"TMPDIR=" + dir.path().string(), "OCIBAKE_STATE_DIR=" + (dir / "state").string()};
}

CommandResult cli_of(const ScratchDir& dir, std::vector<std::string> args) {
    return run_cli(std::move(args), {}, env_of(dir));
}

/// `ocibake run` of dir/img with `args` after the image.
CommandResult ocibake_run(const ScratchDir& dir, std::vector<std::string> args) {
    args.insert(args.begin(), (dir / "img").string());
    return run_container(dir / "cache", args, env_of(dir));
}

/// The store's unpacked layers (directory names).
std::set<std::string> unpacked(const ScratchDir& dir) {
    std::set<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir / "cache/unpacked", ec)) {
        out.insert(e.path().filename().string());
    }
    return out;
}

/// What a run can leave behind: bundles, mounts below the scratch dir, runc containers of
/// ours, state entries, unfinished layers. Empty when nothing is left.
std::string leftovers(const ScratchDir& dir) {
    std::string out;
    for (const auto& e : fs::directory_iterator(dir.path())) {
        if (e.path().filename().string().starts_with("ocibake-bundle-")) {
            out += "bundle " + e.path().string() + "\n";
        }
    }
    std::string mounts = read_file("/proc/self/mountinfo");
    if (mounts.find(" " + dir.path().string() + "/") != std::string::npos) {
        out += "a mount below " + dir.path().string() + "\n";
    }
    // Runtime containers whose bundle is below this test's directory (tests run in
    // parallel: other tests' containers are theirs).
    CommandResult runc = run({"runc", "list"});
    std::size_t at = 0;
    while (at < runc.out.size()) {
        std::size_t end = runc.out.find('\n', at);
        std::string line = runc.out.substr(at, end - at);
        at = end == std::string::npos ? runc.out.size() : end + 1;
        if (line.find(" " + dir.path().string() + "/") != std::string::npos) {
            out += "runc container " + line + "\n";
        }
    }
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir / "state", ec)) {
        std::string name = e.path().filename().string();
        if (name != "names" && !name.starts_with("runtime-ok-")) {
            out += "state entry " + e.path().string() + "\n";
        }
    }
    for (const auto& e : fs::directory_iterator(dir / "cache/unpacked/tmp", ec)) {
        out += "unfinished layer " + e.path().string() + "\n";
    }
    for (const auto& e : fs::directory_iterator(dir / "cache/leases", ec)) {
        out += "lease " + e.path().string() + "\n";
    }
    // Processes started from this test's bundles (the runtime, the container's).
    for (const auto& p : fs::directory_iterator("/proc", ec)) {
        std::string pid = p.path().filename().string();
        if (pid.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        std::string cmdline;
        try {
            cmdline = read_file(p.path() / "cmdline");
        } catch (...) {
            continue; // gone meanwhile
        }
        if (cmdline.find(dir.path().string() + "/ocibake-bundle-") != std::string::npos) {
            out += "process " + pid + "\n";
        }
    }
    return out;
}

/// `ocibake` started in the background, its stdout on a pipe.
struct Background {
    pid_t pid = -1;
    int out = -1;

    Background(const ScratchDir& dir, std::vector<std::string> args) {
        std::vector<std::string> argv = cli_argv(std::move(args), {});
        std::vector<std::string> env = env_of(dir);
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
        pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::dup2(fds[1], 1);
            int null = ::open("/dev/null", O_RDWR);
            ::dup2(null, 0);
            exec_in_child(argv, env);
        }
        ::close(fds[1]);
        out = fds[0];
    }
    ~Background() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        ::close(out);
    }
    /// Reads stdout until `text` shows up, for at most `limit`.
    bool wait_for(const std::string& text, std::chrono::seconds limit) {
        std::string seen;
        auto end = Clock::now() + limit;
        char buf[4096];
        while (Clock::now() < end && seen.find(text) == std::string::npos) {
            pollfd p{out, POLLIN, 0};
            if (::poll(&p, 1, 100) > 0) {
                ssize_t n = ::read(out, buf, sizeof buf);
                if (n <= 0) {
                    break;
                }
                seen.append(buf, static_cast<std::size_t>(n));
            }
        }
        return seen.find(text) != std::string::npos;
    }
    /// Its exit code (128 + N when killed by N), waiting at most `limit`.
    int wait(std::chrono::seconds limit) {
        auto end = Clock::now() + limit;
        int status = 0;
        while (Clock::now() < end) {
            if (::waitpid(pid, &status, WNOHANG) == pid) {
                pid = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return -1;
    }
};

/// Waits (at most 60 s) for a layer to be in the middle of its unpacking.
bool unpacking(const ScratchDir& dir) {
    auto end = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < end) {
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(dir / "cache/unpacked/tmp", ec)) {
            if (fs::exists(e.path() / "root/data/f100")) {
                return true;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
}

} // namespace

TEST_CASE(
    "the layer store: whiteouts as overlayfs devices and xattrs and what the container sees") {
    ScratchDir dir("store");
    busybox_image(dir,
                  "[[layer]]\nname = \"www\"\n  [[layer.files]]\n  path = \"/www/index.html\"\n"
                  "  content = \"hi\\n\"\n  [[layer.files]]\n  path = \"/www/old.txt\"\n"
                  "  content = \"old\\n\"\n");
    // A layer of whiteouts over it, as another tool would write it.
    Store store(dir / "cache");
    BuiltImage built = write_with_layer(store, dir / "img",
                                        marker_tar({"bin/.wh.ls", "www/.wh..wh..opq", "www/new.txt",
                                                    ".wh.gone/", "gone/", "gone/x"}),
                                        dir / "img");

    CommandResult r = ocibake_run(
        dir, {"--", "/bin/busybox", "sh", "-c", "ls -a /www; test -e /bin/ls || echo ls-gone"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out == ".\n..\nnew.txt\nls-gone\n");
    CHECK(r.err.empty()); // an overlay: no fallback line

    fs::path layer = dir / "cache/unpacked" / built.layers.back().diff_id.hex() / "root";
    struct stat st;
    REQUIRE(::lstat((layer / "bin/ls").c_str(), &st) == 0);
    CHECK(S_ISCHR(st.st_mode));
    CHECK(st.st_rdev == makedev(0, 0));
    char value[8] = {};
    CHECK(::lgetxattr((layer / "www").c_str(), "trusted.overlay.opaque", value, sizeof value) == 1);
    CHECK(std::string(value) == "y");
    // Deleted, then made again in the same layer: opaque, so nothing below shows.
    CHECK(::lgetxattr((layer / "gone").c_str(), "trusted.overlay.opaque", value, sizeof value) ==
          1);
    CHECK(leftovers(dir) == "");
}

TEST_CASE("the second run of an image makes its flat lower: the same tree in one lower layer") {
    ScratchDir dir("flat");
    busybox_image(dir,
                  "[[layer]]\nname = \"www\"\n  [[layer.files]]\n  path = \"/www/index.html\"\n"
                  "  content = \"hi\\n\"\n  [[layer.files]]\n  path = \"/www/old.txt\"\n"
                  "  content = \"old\\n\"\n  [[layer.files]]\n  path = \"/bin/tool\"\n"
                  "  content = \"v1\\n\"\n  mode = \"0750\"\n");
    BuiltImage built = [&] {
        Store store(dir / "cache"); // its lock released before gc below
        return write_with_layer(store, dir / "img",
                                marker_tar({"bin/.wh.ls", "www/.wh..wh..opq", "www/new.txt",
                                            ".wh.gone/", "gone/", "gone/x", "bin/tool"}),
                                dir / "img");
    }();
    REQUIRE(built.layers.size() == 3);
    // What the container sees, but for the link counts (a flat lower's files have one
    // more) and /etc (written on every run).
    std::vector<std::string> look = {
        "--", "/bin/busybox", "sh", "-c",
        "cd / && busybox find bin www gone -exec busybox stat -c '%n %f %u %g %Y' {} + | "
        "busybox sort && busybox md5sum /www/* /bin/tool /gone/x"};
    auto flats = [&] {
        std::set<std::string> out;
        for (const std::string& name : unpacked(dir)) {
            if (name.starts_with("flat-")) {
                out.insert(name);
            }
        }
        return out;
    };

    CommandResult stacked = ocibake_run(dir, look); // the first run: 3 lower layers
    INFO(stacked.err);
    REQUIRE(stacked.exit_code == 0);
    CHECK(stacked.out.find("\nwww/new.txt 81a4 0 0 ") != std::string::npos);
    CHECK(stacked.out.find("www/old.txt") == std::string::npos);
    CHECK(stacked.out.find("bin/ls ") == std::string::npos);
    CHECK(stacked.out.find("\nbin/tool 81a4 0 0 ") != std::string::npos);
    CHECK(flats().empty());

    CommandResult second = ocibake_run(dir, look); // makes the flat lower, runs on it
    INFO(second.err);
    REQUIRE(second.exit_code == 0);
    CHECK(second.err.empty());
    CHECK(second.out == stacked.out);
    std::set<std::string> made = flats();
    REQUIRE(made.size() == 1);
    fs::path flat = dir / "cache/unpacked" / *made.begin() / "root";
    fs::path top = dir / "cache/unpacked" / built.layers.back().diff_id.hex() / "root";
    struct stat in_flat {
    }, in_layer{};
    REQUIRE(::lstat((flat / "bin/tool").c_str(), &in_flat) == 0);
    REQUIRE(::lstat((top / "bin/tool").c_str(), &in_layer) == 0);
    CHECK(in_flat.st_ino == in_layer.st_ino); // a hard link to the topmost layer's file
    CHECK_FALSE(fs::exists(fs::symlink_status(flat / "bin/ls"))); // no whiteout device
    CHECK_FALSE(fs::exists(flat / "www/old.txt"));                // opaque applied
    char value[8] = {};
    CHECK(::lgetxattr((flat / "www").c_str(), "trusted.overlay.opaque", value, sizeof value) < 0);
    CHECK(leftovers(dir) == "");

    // Its name ends with the boot's id (it is not synced): one of another boot is never
    // used, and goes when this boot's is made.
    std::string name = *made.begin();
    fs::path other_boot =
        dir / "cache/unpacked" / (name.substr(0, name.rfind('-') + 1) + "0000000000000000");
    fs::create_directories(other_boot / "root");
    fs::remove_all(dir / "cache/unpacked" / name);
    CHECK(ocibake_run(dir, look).out == stacked.out);
    CHECK(flats() == made);

    // Later runs mount it alone: the lease of a running container names it.
    CommandResult r = ocibake_run(dir, {"-d", "--name", "f", "--", "/bin/busybox", "sh", "-c",
                                        "trap 'exit 0' TERM; while :; do sleep 0.1; done"});
    REQUIRE(r.exit_code == 0);
    std::string leases;
    for (const auto& e : fs::directory_iterator(dir / "cache/leases")) {
        leases += read_file(e.path());
    }
    CHECK(leases.find("layer " + *made.begin() + "\n") != std::string::npos);
    CHECK(leases.find("layer " + built.layers.back().diff_id.hex()) == std::string::npos);
    CHECK(cli_of(dir, {"stop", "f"}).exit_code == 0);
    CHECK(cli_of(dir, {"rm", "f"}).exit_code == 0);
    CHECK(ocibake_run(dir, look).out == stacked.out);

    // gc removes it with the layers once unused.
    CommandResult gc =
        cli_of(dir, {"cache", "gc", "--max-age", "0", "--cache-dir", (dir / "cache").string()});
    CHECK(gc.exit_code == 0);
    CHECK(unpacked(dir) == std::set<std::string>{"tmp"});

    // A flat lower that cannot be made is said, and the run goes on with the layers stacked.
    // (Unpacked again: the directories the layers made up have new times.)
    CommandResult restacked = ocibake_run(dir, look); // no flat lower yet
    REQUIRE(restacked.exit_code == 0);
    REQUIRE(run({"chattr", "+i", (dir / "cache/unpacked/tmp").string()}).exit_code == 0);
    CommandResult refused = ocibake_run(dir, look);
    run({"chattr", "-i", (dir / "cache/unpacked/tmp").string()});
    CHECK(refused.exit_code == 0);
    CHECK(refused.out == restacked.out);
    CHECK(refused.err.find("ocibake: the layers stay stacked (no flat lower): cannot create ") !=
          std::string::npos);
    CHECK(flats().empty());
    CHECK(leftovers(dir) == "");
}

TEST_CASE("the layer store: a layer is unpacked once and shared by concurrent runs") {
    ScratchDir dir("store");
    busybox_image(dir, "");
    {
        Background a(dir, {"run", "--cache-dir", (dir / "cache").string(), (dir / "img").string(),
                           "--", "/bin/busybox", "echo", "a"});
        Background b(dir, {"run", "--cache-dir", (dir / "cache").string(), (dir / "img").string(),
                           "--", "/bin/busybox", "echo", "b"});
        CHECK(a.wait(std::chrono::seconds(60)) == 0);
        CHECK(b.wait(std::chrono::seconds(60)) == 0);
    }
    std::set<std::string> layers = unpacked(dir);
    REQUIRE(layers.size() == 2); // one layer, and tmp/ (empty: checked by leftovers())
    REQUIRE(layers.count("tmp") == 1);
    fs::path one = dir / "cache/unpacked" / *layers.begin();
    struct stat before;
    REQUIRE(::stat(one.c_str(), &before) == 0);
    CommandResult r = ocibake_run(dir, {"--", "/bin/busybox", "true"});
    CHECK(r.exit_code == 0);
    struct stat after;
    REQUIRE(::stat(one.c_str(), &after) == 0);
    CHECK(after.st_ino == before.st_ino); // the same directory: not unpacked again
    CHECK(leftovers(dir) == "");
}

TEST_CASE("cache gc keeps the unpacked layers a running container uses and removes them after") {
    ScratchDir dir("store");
    busybox_image(dir, "");
    CommandResult r = ocibake_run(dir, {"-d", "--name", "keep", "--", "/bin/busybox", "sh", "-c",
                                        "trap 'exit 0' TERM; while :; do sleep 0.1; done"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CommandResult gc =
        cli_of(dir, {"cache", "gc", "--max-age", "0", "--cache-dir", (dir / "cache").string()});
    CHECK(gc.exit_code == 0);
    CHECK(unpacked(dir).size() == 2); // its layer and tmp/
    CHECK(cli_of(dir, {"stop", "keep"}).exit_code == 0);
    gc = cli_of(dir, {"cache", "gc", "--max-age", "0", "--cache-dir", (dir / "cache").string()});
    CHECK(gc.exit_code == 0);
    CHECK(gc.out.find(" 1 unpacked layers;") != std::string::npos);
    CHECK(unpacked(dir) == std::set<std::string>{"tmp"});
    CHECK(cli_of(dir, {"rm", "keep"}).exit_code == 0);
    CHECK(leftovers(dir) == "");

    // A lease whose process is gone (a run killed with SIGKILL before its mount) is
    // removed; one of a live process keeps its layer.
    REQUIRE(ocibake_run(dir, {"--", "/bin/busybox", "true"}).exit_code == 0);
    std::set<std::string> layers = unpacked(dir);
    layers.erase("tmp");
    REQUIRE(layers.size() == 1);
    write_file(dir / "cache/leases/gone", "pid 999999999\nstart 1\nmount \nlayer x\n");
    std::string self = std::to_string(::getpid());
    std::string stat = read_file("/proc/self/stat");
    std::string start; // field 22 of /proc/PID/stat, counted after the command's ')'
    {
        std::size_t at = stat.rfind(')') + 2;
        for (int field = 3; field < 22; ++field) {
            at = stat.find(' ', at) + 1;
        }
        start = stat.substr(at, stat.find(' ', at) - at);
    }
    write_file(dir / "cache/leases/live",
               "pid " + self + "\nstart " + start + "\nmount \nlayer " + *layers.begin() + "\n");
    gc = cli_of(
        dir, {"cache", "gc", "--max-age", "0", "--json", "--cache-dir", (dir / "cache").string()});
    CHECK(gc.exit_code == 0);
    CHECK(gc.out.find("\"leases_removed\": 1") != std::string::npos);
    CHECK(gc.out.find("\"unpacked_layers_removed\": 0") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "cache/leases/gone"));
    CHECK(unpacked(dir).count(*layers.begin()) == 1);
    fs::remove(dir / "cache/leases/live");
    gc = cli_of(dir, {"cache", "gc", "--max-age", "0", "--cache-dir", (dir / "cache").string()});
    CHECK(unpacked(dir) == std::set<std::string>{"tmp"});
}

TEST_CASE("ocibake run killed while unpacking leaves nothing and no partial layer") {
    ScratchDir dir("kill");
    // Many small files: an unpack that lasts long enough to be caught in the middle.
    for (int i = 0; i < 20000; ++i) {
        write_file(dir / ("data/f" + std::to_string(i)), std::to_string(i));
    }
    busybox_image(dir, "[[layer]]\nname = \"data\"\n  [[layer.copy]]\n  src = \"" +
                           (dir / "data").string() + "\"\n  dst = \"/data\"\n");
    fs::remove_all(dir / "data");
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
        INFO("signal " << sig);
        fs::remove_all(dir / "cache/unpacked");
        Background run_it(dir, {"run", "--cache-dir", (dir / "cache").string(),
                                (dir / "img").string(), "--", "/bin/busybox", "true"});
        REQUIRE(unpacking(dir));
        ::kill(run_it.pid, sig);
        CHECK(run_it.wait(std::chrono::seconds(30)) == 128 + sig);
        CHECK(leftovers(dir) == "");
        // The busybox layer may have finished; the data layer must not be there half-made.
        for (const std::string& name : unpacked(dir)) {
            if (name != "tmp") {
                CHECK_FALSE(fs::exists(dir / "cache/unpacked" / name / "root/data"));
            }
        }
    }
}

TEST_CASE(
    "ocibake run killed after the start: the signal reaches the container and nothing is left") {
    ScratchDir dir("kill");
    busybox_image(dir, "");
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
        INFO("signal " << sig);
        Background run_it(dir, {"run", "--cache-dir", (dir / "cache").string(),
                                (dir / "img").string(), "--", "/bin/busybox", "sh", "-c",
                                "trap 'echo got-it; exit 7' INT TERM HUP; echo started; "
                                "while :; do sleep 0.1; done"});
        REQUIRE(run_it.wait_for("started", std::chrono::seconds(60)));
        ::kill(run_it.pid, sig);
        CHECK(run_it.wait_for("got-it", std::chrono::seconds(10)));
        CHECK(run_it.wait(std::chrono::seconds(30)) == 7); // the container's own exit code
        CHECK(leftovers(dir) == "");
    }
    // A container that ignores the signal: a second one kills it at once.
    Background stubborn(dir, {"run", "--cache-dir", (dir / "cache").string(),
                              (dir / "img").string(), "--", "/bin/busybox", "sh", "-c",
                              "trap '' TERM; echo started; while :; do sleep 0.1; done"});
    REQUIRE(stubborn.wait_for("started", std::chrono::seconds(60)));
    ::kill(stubborn.pid, SIGTERM);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::kill(stubborn.pid, SIGTERM);
    CHECK(stubborn.wait(std::chrono::seconds(10)) == 128 + SIGKILL);
    CHECK(leftovers(dir) == "");
}

TEST_CASE("ocibake run killed while the container starts leaves nothing") {
    ScratchDir dir("kill");
    busybox_image(dir, "");
    // A runtime that is slow to start the container: the root is mounted, config.json
    // written, the lease taken and the state entry made when the signal comes.
    fs::path slow =
        write_file(dir / "slow-runc",
                   "#!/bin/sh\ncase \" $* \" in *ocibake-bundle-*) echo \"$*\" >>'" +
                       (dir / "starting").string() + "'; sleep 2;; esac\nexec runc \"$@\"\n");
    fs::permissions(slow, fs::perms::owner_all);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
        INFO("signal " << sig);
        fs::remove(dir / "starting");
        Background run_it(dir, {"run", "--runtime", slow.string(), "--cache-dir",
                                (dir / "cache").string(), (dir / "img").string(), "--",
                                "/bin/busybox", "sh", "-c", "echo started; sleep 30"});
        auto end = Clock::now() + std::chrono::seconds(60);
        while (!fs::exists(dir / "starting") && Clock::now() < end) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        REQUIRE(fs::exists(dir / "starting"));
        CHECK(leftovers(dir) != ""); // what the kill must clean up is there
        ::kill(run_it.pid, sig);
        CHECK(run_it.wait(std::chrono::seconds(30)) == 128 + sig);
        CHECK_FALSE(run_it.wait_for("started", std::chrono::seconds(0)));
        CHECK(leftovers(dir) == "");
    }
}

TEST_CASE("ocibake run on a terminal shows unpacking progress and on a pipe does not") {
    ScratchDir dir("progress");
    busybox_image(dir, "[[layer]]\nname = \"www\"\n  [[layer.files]]\n  path = \"/www/a\"\n"
                       "  content = \"a\\n\"\n");
    CommandResult tty =
        run_on_terminal(cli_argv({"run", "--cache-dir", (dir / "cache").string(),
                                  (dir / "img").string(), "--", "/bin/busybox", "true"},
                                 {}),
                        env_of(dir));
    INFO(tty.out << tty.err);
    CHECK(tty.exit_code == 0);
    CHECK(tty.out.find("unpacking layers: 2/2 done") != std::string::npos);
    fs::remove_all(dir / "cache/unpacked");
    CommandResult pipe = ocibake_run(dir, {"--", "/bin/busybox", "true"});
    CHECK(pipe.exit_code == 0);
    CHECK(pipe.err == "");
    CHECK(unpacked(dir).size() == 3); // unpacked again: two layers and tmp/
    CHECK(leftovers(dir) == "");
}

TEST_CASE("run -d then ps and exec and logs and stop and rm") {
    ScratchDir dir("detach");
    busybox_image(dir, "");
    CommandResult r = ocibake_run(dir, {"-d", "--name", "web", "--", "/bin/busybox", "sh", "-c",
                                        "echo hello; echo oops >&2; trap 'exit 3' TERM; "
                                        "while :; do sleep 0.1; done"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    std::string id = r.out.substr(0, r.out.find('\n'));
    CHECK(id.size() == 12);

    r = cli_of(dir, {"ps"});
    CHECK(r.out.find(id + "  web") != std::string::npos);
    CHECK(r.out.find("running") != std::string::npos);
    r = cli_of(dir, {"exec", "web", "--", "/bin/busybox", "cat", "/etc/hostname"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "ocibake\n");
    r = cli_of(dir, {"logs", "web"});
    CHECK(r.out == "hello\n");
    CHECK(r.err == "oops\n");
    // A name is unique.
    r = ocibake_run(dir, {"-d", "--name", "web", "--", "/bin/busybox", "true"});
    CHECK(r.exit_code == 2);
    CHECK(r.err == "ocibake: error: the container name 'web' is in use by container " + id +
                       ": remove it (ocibake rm web) or pick another --name\n");

    CHECK(cli_of(dir, {"stop", "web"}).exit_code == 0);
    r = cli_of(dir, {"ps", "-a"});
    CHECK(r.out.find("exited (3)") != std::string::npos);
    CHECK(cli_of(dir, {"ps"}).out.find(id) == std::string::npos);
    CHECK(cli_of(dir, {"logs", "web"}).out == "hello\n"); // kept until rm
    CHECK(cli_of(dir, {"rm", "web"}).exit_code == 0);
    CHECK(cli_of(dir, {"ps", "-a"}).out.find(id) == std::string::npos);

    // --rm: gone once it exits.
    r = ocibake_run(dir, {"-d", "--rm", "--name", "brief", "--", "/bin/busybox", "sh", "-c",
                          "trap 'exit 0' TERM; while :; do sleep 0.1; done"});
    REQUIRE(r.exit_code == 0);
    CHECK(cli_of(dir, {"stop", "brief"}).exit_code == 0);
    CHECK(cli_of(dir, {"ps", "-a"}).out.find("brief") == std::string::npos);
    CHECK(leftovers(dir) == "");
}
