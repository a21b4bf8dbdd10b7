// `ocibake run`'s network under runc, as a Docker user expects it: the default private
// namespace reaches out through slirp4netns (an HTTP server on the host, reached at the
// host's own address, not through -p; a name resolved by the host's DNS server, here a
// one-name server of the test's on 127.0.0.77 behind a bind-mounted /etc/resolv.conf),
// --network none stays loopback only, a missing slirp4netns is said; ports published
// over UDP, with -P (the image's exposed ports), and kept by a detached container
// (`ocibake ps` shows them, stop releases them).
#include "support/checks.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <regex>
#include <string>
#include <thread>

using ocibake::test::busybox_image;
using ocibake::test::CommandResult;
using ocibake::test::ReadyProcess;
using ocibake::test::run;
using ocibake::test::ScratchDir;
using ocibake::test::wait_for_file;
using ocibake::test::write_file;
namespace fs = std::filesystem;

namespace {

/// busybox with the applets used here, the host's /usr reachable (`-v /usr:/usr:ro` runs
/// the host's python3 inside), and ports 80/tcp and 5353/udp exposed.
fs::path net_image(const ScratchDir& dir) {
    ocibake::test::require_program("slirp4netns", "slirp4netns");
    ocibake::test::require_program("curl", "curl");
    std::string extra = "[config]\nexposed_ports = [80, \"5353/udp\"]\n"
                        "[[layer]]\nname = \"net\"\n"
                        "[[layer.files]]\npath = \"/lib\"\ntype = \"symlink\"\ntarget = "
                        "\"usr/lib\"\n"
                        "[[layer.files]]\npath = \"/lib64\"\ntype = \"symlink\"\ntarget = "
                        "\"usr/lib64\"\n";
    for (const char* applet : {"wget", "nslookup", "httpd", "mkdir", "touch", "sleep", "seq", "cut",
                               "tr", "sed", "true"}) {
        extra += "[[layer.files]]\npath = \"/bin/" + std::string(applet) +
                 "\"\ntype = \"symlink\"\ntarget = \"busybox\"\n";
    }
    return busybox_image(dir, extra);
}

std::string fixture(const char* name) {
    return (ocibake::test::source_dir() / "tests/fixtures/network" / name).string();
}

/// `ocibake run --cache-dir CACHE ARGS...` with `env` added.
CommandResult ocibake_run(const ScratchDir& dir, const std::vector<std::string>& args,
                          std::vector<std::string> env = {}) {
    std::vector<std::string> argv = {ocibake::test::cli().string(), "run", "--cache-dir",
                                     (dir / "cache").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    env.push_back("TMPDIR=" + dir.path().string());
    env.push_back("OCIBAKE_STATE_DIR=" + (dir / "state").string());
    return run(argv, env);
}

CommandResult cli_of(const ScratchDir& dir, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {ocibake::test::cli().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, {"OCIBAKE_STATE_DIR=" + (dir / "state").string()});
}

/// The host's first IPv4 address that is not loopback: what a container reaches the host
/// at (Docker's containers use the bridge's; slirp4netns reaches every host address).
std::string host_address() {
    ifaddrs* all = nullptr;
    REQUIRE(::getifaddrs(&all) == 0);
    std::string found;
    for (ifaddrs* i = all; i != nullptr && found.empty(); i = i->ifa_next) {
        if (i->ifa_addr != nullptr && i->ifa_addr->sa_family == AF_INET) {
            auto* a = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
            if ((ntohl(a->sin_addr.s_addr) >> 24) != 127) {
                char text[INET_ADDRSTRLEN];
                found = ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
            }
        }
    }
    ::freeifaddrs(all);
    return found;
}

/// The network interfaces the container has, one a line ("lo\ntap0\n").
const char* kInterfaces = "sed 1,2d /proc/net/dev | cut -d: -f1 | tr -d ' '";

/// True when 0.0.0.0:port can be bound (tcp or udp): nothing holds it any more.
bool port_is_free(std::uint16_t port, bool udp) {
    int fd = ::socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    int one = 1; // a connection closed just now leaves TIME_WAIT, not a listener
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

/// Sends `text` to 127.0.0.1:port over UDP from a socket of its own; the answer ("" after
/// 5 s without one).
std::string udp_ask(std::uint16_t port, const std::string& text) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string answer;
    // The first datagram may come before the server in the container is up: ask again.
    for (int attempt = 0; attempt < 10 && answer.empty(); ++attempt) {
        ::sendto(fd, text.data(), text.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 500) == 1) {
            char buf[512];
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            answer.assign(buf, static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
        }
    }
    ::close(fd);
    return answer;
}

} // namespace

TEST_CASE("ocibake run reaches the host and resolves a name through slirp4netns") {
    ScratchDir dir("run-net-out");
    net_image(dir);
    std::string ip = host_address();
    REQUIRE(!ip.empty()); // the container reaches the host there, not at its loopback
    ReadyProcess services({"python3", fixture("host_services.py"), "db.test.internal", "10.9.8.7"},
                          "the host's HTTP and DNS servers");
    std::string port = services.ready_line().substr(6);
    std::string url = "http://" + ip + ":" + port + "/";
    // The host's resolver is the test's DNS server (slirp4netns forwards to what the
    // host's /etc/resolv.conf names), in a mount namespace of this run's own.
    fs::path resolv = write_file(dir / "resolv.conf", "search test.internal\n"
                                                      "nameserver 127.0.0.77\n");
    std::string script = std::string(kInterfaces) +
                         "; cat /etc/resolv.conf; "
                         "nslookup db.test.internal; wget -qO- " +
                         url + "; echo wget=$?";
    std::string cmd = "mount --bind '" + resolv.string() + "' /etc/resolv.conf && exec '" +
                      ocibake::test::cli().string() + "' run --cache-dir '" +
                      (dir / "cache").string() + "' '" + (dir / "img").string() + "' sh -c \"$0\"";
    CommandResult r =
        run({"unshare", "-m", "sh", "-c", cmd, script}, {"TMPDIR=" + dir.path().string()});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.err == "");
    CHECK(r.out.starts_with("lo\ntap0\nsearch test.internal\nnameserver 10.0.2.3\n"));
    CHECK(r.out.find("Name:\tdb.test.internal\nAddress: 10.9.8.7\n") != std::string::npos);
    CHECK(r.out.ends_with("from-host\nwget=0\n"));

    // --network none: loopback only, the host out of reach.
    r = ocibake_run(dir, {"--network", "none", (dir / "img").string(), "sh", "-c",
                          std::string(kInterfaces) + "; wget -qO- -T 5 " + url +
                              " 2>/dev/null || echo unreachable"});
    CHECK(r.exit_code == 0);
    CHECK(r.err == "");
    CHECK(r.out == "lo\nunreachable\n");
}

TEST_CASE("ocibake run without slirp4netns says so and runs with loopback only") {
    ScratchDir dir("run-net-missing");
    net_image(dir);
    // runc is in /usr/sbin, slirp4netns in /usr/bin.
    REQUIRE(!fs::exists("/usr/sbin/slirp4netns"));
    CommandResult r = ocibake_run(dir, {(dir / "img").string(), "sh", "-c", kInterfaces},
                                  {"PATH=/usr/sbin:/sbin"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "lo\n");
    CHECK(r.err == "ocibake: warning: no outbound network for the container, loopback only "
                   "(published ports still work): slirp4netns is not installed (not found on "
                   "PATH; Debian package 'slirp4netns'); install it (apt-get install "
                   "slirp4netns) or use --network host\n");
}

TEST_CASE("ocibake run -d keeps its published ports: tcp and udp and ps and stop") {
    ScratchDir dir("run-net-detach");
    net_image(dir);
    fs::create_directories(dir / "sync");
    CommandResult r = ocibake_run(
        dir, {"-d", "--name", "svc", "-p", "127.0.0.1::80", "-p", "127.0.0.1::5353/udp", "-v",
              "/usr:/usr:ro", "-v", fixture("udp_echo.py") + ":/udp_echo.py:ro", "-v",
              (dir / "sync").string() + ":/sync", (dir / "img").string(), "sh", "-c",
              "mkdir /www && echo hello > /www/index.html && httpd -p 80 -h /www && "
              "exec python3 /udp_echo.py 5353 /sync/ready"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    // The picked host ports, as `docker port` prints them.
    std::smatch m;
    std::string err = r.err;
    REQUIRE(std::regex_search(err, m,
                              std::regex("^80/tcp -> 127\\.0\\.0\\.1:([0-9]+)\\n5353/udp -> "
                                         "127\\.0\\.0\\.1:([0-9]+)\\n$")));
    auto tcp = static_cast<std::uint16_t>(std::stoi(m[1]));
    auto udp = static_cast<std::uint16_t>(std::stoi(m[2]));
    REQUIRE(wait_for_file(dir / "sync/ready"));
    // `ocibake run -d` has exited: the container's monitor relays.
    CommandResult page =
        run({"curl", "-sS", "-m", "20", "http://127.0.0.1:" + std::to_string(tcp) + "/index.html"});
    CHECK(page.out == "hello\n");
    // Two clients over UDP, each answered on its own socket.
    CHECK(udp_ask(udp, "one") == "echo:one");
    CHECK(udp_ask(udp, "two") == "echo:two");

    CommandResult ps = cli_of(dir, {"ps"});
    CHECK(ps.out.find("127.0.0.1:" + std::to_string(tcp) + "->80/tcp, 127.0.0.1:" +
                      std::to_string(udp) + "->5353/udp\n") != std::string::npos);
    auto json = nlohmann::json::parse(cli_of(dir, {"ps", "--json"}).out);
    CHECK(json["containers"][0]["ports"] ==
          nlohmann::json::array({"127.0.0.1:" + std::to_string(tcp) + "->80/tcp",
                                 "127.0.0.1:" + std::to_string(udp) + "->5353/udp"}));

    CHECK(cli_of(dir, {"stop", "-t", "2", "svc"}).exit_code == 0);
    CHECK(port_is_free(tcp, false)); // the monitor is gone, its sockets with it
    CHECK(port_is_free(udp, true));
    CHECK(cli_of(dir, {"rm", "svc"}).exit_code == 0);
}

TEST_CASE("ocibake run -P publishes the image's exposed ports on free host ports") {
    ScratchDir dir("run-net-all");
    net_image(dir);
    CommandResult r =
        ocibake_run(dir, {"-d", "--rm", "--name", "all", "-P", (dir / "img").string(), "sh", "-c",
                          "mkdir /www && echo all > /www/index.html && "
                          "exec httpd -f -p 80 -h /www"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    std::smatch m;
    std::string err = r.err;
    // Every address, IPv4 and IPv6 (where the host has it), as `docker port` prints them.
    REQUIRE(std::regex_search(err, m, std::regex("^80/tcp -> 0\\.0\\.0\\.0:([0-9]+)\\n")));
    std::string tcp = m[1];
    CHECK(err.find("5353/udp -> 0.0.0.0:") != std::string::npos);
    if (fs::exists("/proc/net/if_inet6")) {
        CHECK(err.find("80/tcp -> [::]:" + tcp + "\n") != std::string::npos);
    }
    CommandResult page;
    for (int i = 0; i < 50 && page.out != "all\n"; ++i) { // httpd may not listen yet
        page = run({"curl", "-sS", "-m", "20", "http://127.0.0.1:" + tcp + "/index.html"});
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(page.out == "all\n");
    CHECK(cli_of(dir, {"ps"}).out.find("0.0.0.0:" + tcp + "->80/tcp") != std::string::npos);
    CHECK(cli_of(dir, {"stop", "-t", "2", "all"}).exit_code == 0);
    CHECK(port_is_free(static_cast<std::uint16_t>(std::stoi(tcp)), false));
}
