// `ocibake run` with Docker's flags, under runc: arguments parsed as `docker run` parses
// them, --shm-size, --ipc host, --ulimit, --user with a volume, --workdir, --hostname, and
// ports published with -p (a busybox httpd in the container, reached from the host over
// real sockets). Images are built by ocibake from the host's static busybox.
#include "ocibake/runtime.hpp"
#include "support/checks.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

using namespace ocibake::test;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

/// busybox with the applets these tests use, no entrypoint, and a user `app` (1000).
fs::path busybox_image(const ScratchDir& dir) {
    require_program("curl", "curl");
    std::string extra =
        "[config]\ncmd = [\"echo\", \"from-cmd\"]\n"
        "[[layer]]\nname = \"more\"\n"
        "[[layer.files]]\npath = \"/etc/passwd\"\ncontent = "
        "\"root:x:0:0:root:/root:/bin/sh\\napp:x:1000:1000::/home/app:/bin/sh\\n\"\n";
    for (const char* applet :
         {"df", "hostname", "httpd", "touch", "printf", "mkdir", "sleep", "stat", "readlink", "dd",
          "sha256sum", "pwd", "true", "seq", "grep", "sed", "tr", "cut"}) {
        extra += "[[layer.files]]\npath = \"/bin/" + std::string(applet) +
                 "\"\ntype = \"symlink\"\ntarget = \"busybox\"\n";
    }
    return ocibake::test::busybox_image(dir, extra);
}

/// `ocibake run --cache-dir CACHE ARGS...` (ARGS name the image where the test wants it).
CommandResult ocibake_run(const ScratchDir& dir, const std::vector<std::string>& args) {
    return run_container(dir / "cache", args, {"TMPDIR=" + dir.path().string()});
}

/// What `ocibake run ARGS` says on stderr when it refuses them as a usage error (exit code 2).
std::string refused(const ScratchDir& dir, const std::vector<std::string>& args) {
    CommandResult r = ocibake_run(dir, args);
    CHECK(r.exit_code == 2);
    return r.err;
}

/// A shell script for the container: serve /www on port 80 with busybox httpd, say
/// "ready" in the shared /sync volume, wait (at most 60 s) for the host's "go", then end.
std::string serve_until_go(const std::string& before) {
    return "mkdir -p /www && " + before +
           " && httpd -p 80 -h /www && touch /sync/ready && "
           "for i in $(seq 600); do [ -e /sync/go ] && break; sleep 0.1; done";
}

/// Connects to 127.0.0.1:port; -1 when refused.
int connect_to(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

/// True when 0.0.0.0:port can be bound (nothing holds it any more).
bool port_is_free(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd, 1) == 0;
    ::close(fd);
    return ok;
}

} // namespace

TEST_CASE("ocibake run: options before the image and the command after it as docker run") {
    ScratchDir dir("run-args");
    busybox_image(dir);
    std::string img = (dir / "img").string();
    write_file(dir / "data/listed.txt", "x");
    std::string vol = (dir / "data").string() + ":/data:ro";

    // -e and -v before the image no longer swallow it; every word after it is the command,
    // words starting with '-' included (they were "not expected" before).
    CommandResult r =
        ocibake_run(dir, {"-e", "A=1", "-v", vol, img, "sh", "-c", "echo $A; ls /data"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "1\nlisted.txt\n");
    r = ocibake_run(dir, {"-v", vol, img, "ls", "-a", "/data"});
    CHECK(r.out == ".\n..\nlisted.txt\n");
    // Words after the image that look like ocibake's options are the command's.
    r = ocibake_run(dir, {img, "printf", "%s|", "-e", "X=1", "-v", "--rm", "-p"});
    CHECK(r.out == "-e|X=1|-v|--rm|-p|");
    // `--` is optional: after the options, or after the image.
    r = ocibake_run(dir, {"-e", "A=2", "--", img, "sh", "-c", "echo $A"});
    CHECK(r.out == "2\n");
    r = ocibake_run(dir, {"-e", "A=3", img, "--", "sh", "-c", "echo $A"});
    CHECK(r.out == "3\n");
    // docs/cli.md's example, the older form: options between the image and `--`.
    r = ocibake_run(dir, {img, "-v", vol, "-e", "A=4", "--", "sh", "-c", "echo $A; ls /data"});
    CHECK(r.out == "4\nlisted.txt\n");
    // No command: the image's cmd.
    CHECK(ocibake_run(dir, {img}).out == "from-cmd\n");

    CHECK(refused(dir, {"-e", "A=1"}) ==
          "ocibake: error: ocibake run needs an IMAGE: ocibake run [OPTIONS] IMAGE "
          "[COMMAND [ARG...]]\n");
    CHECK(refused(dir, {"--no-such-flag", img}).find("--no-such-flag") != std::string::npos);
}

TEST_CASE("ocibake run --shm-size and --ipc host are seen by df /dev/shm") {
    ScratchDir dir("run-shm");
    busybox_image(dir);
    std::string img = (dir / "img").string();
    const std::string df = "df -k /dev/shm | sed -n 2p | tr -s ' ' | cut -d' ' -f2";
    CHECK(ocibake_run(dir, {img, "sh", "-c", df}).out == "65536\n"); // Docker's 64m
    CHECK(ocibake_run(dir, {"--shm-size", "8g", img, "sh", "-c", df}).out == "8388608\n");
    CHECK(ocibake_run(dir, {"--shm-size=1.5G", img, "sh", "-c", df}).out == "1572864\n");
    CHECK(refused(dir, {"--shm-size", "8x", img, "true"}) ==
          "ocibake: error: --shm-size '8x' is not a size (a number and a unit: b, k, "
          "m, g, t, p; e.g. 8g)\n");

    // --ipc host: the host's IPC namespace and its /dev/shm.
    std::string host_ipc = fs::read_symlink("/proc/self/ns/ipc").string();
    CommandResult r = ocibake_run(dir, {"--ipc", "host", img, "readlink", "/proc/self/ns/ipc"});
    CHECK(r.out == host_ipc + "\n");
    CHECK(ocibake_run(dir, {img, "readlink", "/proc/self/ns/ipc"}).out != host_ipc + "\n");
    write_file("/dev/shm/ocibake-test-ipc-" + std::to_string(::getpid()), "shared");
    r = ocibake_run(
        dir, {"--ipc=host", img, "cat", "/dev/shm/ocibake-test-ipc-" + std::to_string(::getpid())});
    fs::remove("/dev/shm/ocibake-test-ipc-" + std::to_string(::getpid()));
    CHECK(r.out == "shared");
}

TEST_CASE("ocibake run --ulimit is seen by ulimit in the container") {
    ScratchDir dir("run-ulimit");
    busybox_image(dir);
    std::string img = (dir / "img").string();
    CommandResult r = ocibake_run(dir, {"--ulimit", "nofile=512:2048", "--ulimit", "nproc=300", img,
                                        "sh", "-c", "ulimit -n; ulimit -Hn; ulimit -u"});
    INFO(r.err);
    CHECK(r.out == "512\n2048\n300\n");
    r = ocibake_run(dir, {"--ulimit", "core=-1", img, "sh", "-c", "ulimit -c; ulimit -Hc"});
    CHECK(r.out == "unlimited\nunlimited\n");
    CHECK(refused(dir, {"--ulimit", "nofile=4096:1024", img, "true"}) ==
          "ocibake: error: --ulimit 'nofile=4096:1024': the soft limit must not be "
          "above the hard limit (4096 > 1024)\n");
}

TEST_CASE("ocibake run -v: files are written as the container's user and --user picks it") {
    ScratchDir dir("run-user");
    busybox_image(dir);
    std::string img = (dir / "img").string();
    fs::path ws = dir / "ws";
    fs::create_directories(ws);
    REQUIRE(::chown(ws.c_str(), 0, 0) == 0);
    ::chmod(ws.c_str(), 0755);
    std::string vol = ws.string() + ":/workspace";

    // The image's user (app, 1000) cannot write to a directory of root's: said before it runs.
    CommandResult r = ocibake_run(dir, {"-u", "app", "-v", vol, img, "touch", "/workspace/a"});
    CHECK(r.exit_code == 1);
    CHECK(r.err == "ocibake: warning: -v " + ws.string() +
                       ":/workspace: the container runs as 1000:1000, which cannot write to " +
                       ws.string() +
                       " (owned by 0:0, mode 0755; a volume keeps the host's owners): run as its "
                       "owner (--user 0:0) or give it to 1000:1000 (chown 1000:1000 " +
                       ws.string() + ")\ntouch: /workspace/a: Permission denied\n");

    // --user UID:GID of the directory's owner (on a desktop: $(id -u):$(id -g)), even one
    // the image does not know: the files are that owner's on the host.
    REQUIRE(::chown(ws.c_str(), 4321, 4322) == 0);
    r = ocibake_run(dir, {"--user", "4321:4322", "-v", vol, "-w", "/workspace", img, "sh", "-c",
                          "touch made && id -u && id -g && echo $HOME"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
    CHECK(r.out == "4321\n4322\n/\n");
    struct stat st = {};
    REQUIRE(::stat((ws / "made").c_str(), &st) == 0);
    CHECK(st.st_uid == 4321);
    CHECK(st.st_gid == 4322);
}

TEST_CASE("ocibake run --workdir and --hostname") {
    ScratchDir dir("run-wd");
    busybox_image(dir);
    std::string img = (dir / "img").string();
    // A missing working directory is made, as Docker does.
    CHECK(ocibake_run(dir, {"-w", "/not/yet", img, "pwd"}).out == "/not/yet\n");
    CHECK(refused(dir, {"--workdir", "rel", img, "pwd"}) ==
          "ocibake: error: the working directory 'rel' is invalid: it must be an "
          "absolute path\n");

    // The hostname resolves in the container (torchrun looks it up): /etc/hosts has it.
    CommandResult r =
        ocibake_run(dir, {"-h", "trainer-0", img, "sh", "-c",
                          "hostname; echo $HOSTNAME; hostname -i; grep trainer-0 /etc/hosts"});
    CHECK(r.out == "trainer-0\ntrainer-0\n127.0.0.1\n127.0.0.1\tlocalhost trainer-0\n");
    CHECK(refused(dir, {"--hostname", "bad name", img, "true"}) ==
          "ocibake: error: --hostname 'bad name' is not a valid hostname: only "
          "letters, digits, '-' and '.' are allowed\n");
}

TEST_CASE("ocibake run -p: a server in the container is reached from the host") {
    ScratchDir dir("run-publish");
    busybox_image(dir);
    fs::create_directories(dir / "sync");
    auto port = static_cast<std::uint16_t>(free_port());
    std::string url = "http://127.0.0.1:" + std::to_string(port);
    CommandResult r;
    std::thread ocibake([&] {
        r = ocibake_run(dir,
                        {"-p", std::to_string(port) + ":80", "-v",
                         (dir / "sync").string() + ":/sync", (dir / "img").string(), "sh", "-c",
                         serve_until_go("echo hello > /www/index.html && dd if=/dev/urandom "
                                        "of=/www/big bs=1M count=4 2>/dev/null") +
                             " && sha256sum /www/big"});
    });
    bool ready = wait_for_file(dir / "sync/ready");
    CommandResult page, big, v6;
    if (ready) {
        page = run({"curl", "-sS", "-m", "20", url + "/index.html"});
        big = run({"curl", "-sS", "-m", "60", url + "/big", "-o", (dir / "big").string()});
        // Docker's default: every address, IPv6 too (where the host has it).
        v6 = run({"curl", "-sS", "-m", "20", "http://[::1]:" + std::to_string(port) + "/"});
    }
    write_file(dir / "sync/go", "");
    ocibake.join();
    INFO(r.err);
    REQUIRE(ready);
    CHECK(page.out == "hello\n");
    CHECK(big.exit_code == 0);
    CHECK(r.exit_code == 0);
    // 4 MiB through the forwarder, byte for byte.
    CommandResult local = run({"sha256sum", (dir / "big").string()});
    CHECK(local.out.substr(0, 64) == r.out.substr(0, 64));
    if (fs::exists("/proc/net/if_inet6")) {
        CHECK(v6.out == "hello\n");
    }
    CHECK(port_is_free(port)); // the run is over: its sockets are closed
}

TEST_CASE("ocibake run -p: a busy host port is an error before anything runs") {
    ScratchDir dir("run-busy");
    busybox_image(dir);
    int holder = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    socklen_t len = sizeof a;
    REQUIRE(::bind(holder, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(holder, 1) == 0);
    ::getsockname(holder, reinterpret_cast<sockaddr*>(&a), &len);
    std::string port = std::to_string(ntohs(a.sin_port));
    CommandResult r = ocibake_run(dir, {"-p", port + ":80", (dir / "img").string(), "true"});
    ::close(holder);
    CHECK(r.exit_code == 5);
    CHECK(r.err == "ocibake: error: -p " + port + ":80: 0.0.0.0:" + port +
                       " is in use by another program (pick another host port: -p OTHER:80)\n");
    // Nothing was unpacked.
    for (const auto& e : fs::directory_iterator(dir.path())) {
        CHECK(e.path().filename().string().rfind("ocibake-bundle-", 0) != 0);
    }

    r = ocibake_run(dir, {"-p", "53/sctp", (dir / "img").string(), "true"});
    CHECK(r.exit_code == 2);
    CHECK(r.err == "ocibake: error: -p '53/sctp': protocol 'sctp' is not supported (tcp or udp) "
                   "(the form is [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp])\n");
    r = ocibake_run(dir, {"--network", "none", "-p", "8080:80", (dir / "img").string(), "true"});
    CHECK(r.exit_code == 2);
    CHECK(r.err == "ocibake: error: -p 8080:80: --network none has no network to publish into "
                   "(loopback only); leave --network out\n");
    r = ocibake_run(dir, {"--network", "host", "-p", "8080:80", (dir / "img").string(), "true"});
    CHECK(r.exit_code == 0);
    CHECK(r.err == "WARNING: Published ports are discarded when using host network mode\n");
}

TEST_CASE("ocibake run -p: the forwarder ends when the container does") {
    ScratchDir dir("run-end");
    busybox_image(dir);
    fs::create_directories(dir / "sync");
    auto port = static_cast<std::uint16_t>(free_port());
    CommandResult r;
    Clock::time_point ended;
    std::thread ocibake([&] {
        r = ocibake_run(dir, {"-p", "127.0.0.1:" + std::to_string(port) + ":80", "-v",
                              (dir / "sync").string() + ":/sync", (dir / "img").string(), "sh",
                              "-c", serve_until_go("true")});
        ended = Clock::now();
    });
    bool ready = wait_for_file(dir / "sync/ready");
    // An idle connection, relayed to httpd, open when the container ends.
    int idle = ready ? connect_to(port) : -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    Clock::time_point go = Clock::now();
    write_file(dir / "sync/go", "");
    ocibake.join();
    REQUIRE(ready);
    REQUIRE(idle >= 0);
    CHECK(r.exit_code == 0);
    CHECK(ended - go < std::chrono::seconds(15)); // the open connection held nothing up
    // The host side of the connection is closed (EOF or reset), not left hanging.
    pollfd p = {idle, POLLIN, 0};
    CHECK(::poll(&p, 1, 5000) == 1);
    char byte = 0;
    CHECK(::recv(idle, &byte, 1, 0) <= 0);
    ::close(idle);
    CHECK(port_is_free(port));
    CHECK(connect_to(port) == -1); // nobody listens there any more
}
