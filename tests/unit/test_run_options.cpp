// The values of `ocibake run`'s Docker flags (-p, --ulimit, --shm-size, --hostname), and
// what they put into config.json. The flags themselves, under runc: test_run_flags.
#include "ocibake/network.hpp"
#include "ocibake/runtime.hpp"
#include "support/checks.hpp"

#include <nlohmann/json.hpp>

#include <string>

using namespace ocibake;
using namespace ocibake::test;

TEST_CASE("publish Docker's forms of a published port") {
    PortMapping m = PortMapping::parse("8888:80");
    CHECK(m.host_ip.empty()); // every address, as Docker
    CHECK(m.host_port == 8888);
    CHECK(m.container_port == 80);
    CHECK(m.str() == "0.0.0.0:8888:80/tcp");

    m = PortMapping::parse("80");
    CHECK(m.host_port == 0); // a port the kernel picks
    CHECK(m.container_port == 80);
    m = PortMapping::parse("127.0.0.1:8080:80/tcp");
    CHECK(m.host_ip == "127.0.0.1");
    CHECK(m.host_port == 8080);
    m = PortMapping::parse("127.0.0.1::80");
    CHECK(m.host_ip == "127.0.0.1");
    CHECK(m.host_port == 0);
    m = PortMapping::parse("[::1]:8080:80");
    CHECK(m.host_ip == "::1");
    CHECK(m.host_port == 8080);
    CHECK(m.container_port == 80);
    CHECK(m.str() == "[::1]:8080:80/tcp");

    m = PortMapping::parse("127.0.0.1:5353:53/udp");
    CHECK(m.protocol == "udp");
    CHECK(m.host_port == 5353);
    CHECK(m.container_port == 53);
    CHECK(m.str() == "127.0.0.1:5353:53/udp");
    CHECK(PortMapping::parse("53/udp").host_port == 0);
    CHECK(PortMapping::parse("80").protocol == "tcp");
    PublishedPort p{"0.0.0.0:41235", 41235, 80, true, "tcp"};
    CHECK(p.docker_port() == "80/tcp -> 0.0.0.0:41235");
    CHECK(p.docker_ps() == "0.0.0.0:41235->80/tcp");
}

TEST_CASE("publish what is refused and why") {
    const std::string form = " (the form is [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp])";
    auto what = [](const char* text) {
        auto c = error_of([&] { PortMapping::parse(text); });
        CHECK(c.kind == ErrorKind::usage);
        return c.what;
    };
    CHECK(what("53:53/sctp") ==
          "-p '53:53/sctp': protocol 'sctp' is not supported (tcp or udp)" + form);
    CHECK(what("8000-8010:8000-8010") ==
          "-p '8000-8010:8000-8010': port ranges are not supported; publish each port with its "
          "own -p" +
              form);
    CHECK(what("8080:0") ==
          "-p '8080:0': container port '0' is not a port number (1-65535)" + form);
    CHECK(what("70000:80") ==
          "-p '70000:80': host port '70000' is not a port number (1-65535)" + form);
    CHECK(what("http:80") ==
          "-p 'http:80': host port 'http' is not a port number (1-65535)" + form);
    CHECK(what("localhost:80:80") ==
          "-p 'localhost:80:80': 'localhost' is not an IP address" + form);
    CHECK(what("::1:80:80") ==
          "-p '::1:80:80': an IPv6 address must be in brackets: [ADDRESS]" + form);
    CHECK(what(":80") ==
          "-p ':80': an empty host port needs an address before it (IP::PORT)" + form);
    CHECK(what("") == "-p '': container port '' is not a port number (1-65535)" + form);
}

TEST_CASE("ulimit NAME=SOFT[:HARD] as Docker") {
    Rlimit r = Rlimit::parse("nofile=1024:65536");
    CHECK(r.type == "RLIMIT_NOFILE");
    CHECK(r.soft == 1024);
    CHECK(r.hard == 65536);
    r = Rlimit::parse("nproc=512");
    CHECK(r.type == "RLIMIT_NPROC");
    CHECK(r.hard == 512); // HARD defaults to SOFT
    r = Rlimit::parse("memlock=-1:-1");
    CHECK(r.soft == Rlimit::unlimited);
    CHECK(r.hard == Rlimit::unlimited);
    CHECK(Rlimit::parse("stack=67108864:-1").hard == Rlimit::unlimited);

    CHECK(error_of([] { Rlimit::parse("nofile"); }).what ==
          "--ulimit 'nofile' must be NAME=SOFT[:HARD] (e.g. nofile=1024:65536)");
    CHECK(error_of([] { Rlimit::parse("files=10"); }).what ==
          "--ulimit 'files=10': unknown limit 'files' (one of core, cpu, data, fsize, locks, "
          "memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack)");
    CHECK(error_of([] { Rlimit::parse("nofile=2048:1024"); }).what ==
          "--ulimit 'nofile=2048:1024': the soft limit must not be above the hard limit (2048 > "
          "1024)");
    CHECK(error_of([] { Rlimit::parse("nofile=-1:1024"); }).what ==
          "--ulimit 'nofile=-1:1024': the soft limit must not be above the hard limit "
          "(unlimited > 1024)");
    CHECK(error_of([] { Rlimit::parse("nofile=lots"); }).what ==
          "--ulimit 'nofile=lots': 'lots' is not a number (or -1 for unlimited)");
    CHECK(error_of([] { Rlimit::parse("nofile=-2"); }).kind == ErrorKind::usage);
}

TEST_CASE("shm size Docker's size syntax (binary units)") {
    CHECK(parse_size("64m", "--shm-size") == 64ull << 20);
    CHECK(parse_size("8g", "--shm-size") == 8ull << 30);
    CHECK(parse_size("8G", "--shm-size") == 8ull << 30);
    CHECK(parse_size("8GiB", "--shm-size") == 8ull << 30);
    CHECK(parse_size("8gb", "--shm-size") == 8ull << 30);
    CHECK(parse_size("1.5g", "--shm-size") == 3ull << 29);
    CHECK(parse_size("512 k", "--shm-size") == 512ull << 10);
    CHECK(parse_size("1048576", "--shm-size") == 1048576);
    CHECK(parse_size("100b", "--shm-size") == 100);
    CHECK(parse_size("0", "--shm-size") == 0);
    for (const char* bad : {"", "g", "8x", "-1g", "8gg", "1..5g", ".5g", "1.2.3m"}) {
        INFO(bad);
        auto c = error_of([&] { parse_size(bad, "--shm-size"); });
        CHECK(c.kind == ErrorKind::usage);
        CHECK(c.what == "--shm-size '" + std::string(bad) +
                            "' is not a size (a number and a unit: b, k, m, g, t, p; e.g. 8g)");
    }
}

TEST_CASE("hostname RFC 1123 names only (they go into /etc/hosts)") {
    check_hostname("trainer-0");
    check_hostname("node1.cluster.local");
    check_hostname(std::string(63, 'a'));
    CHECK(error_of([] { check_hostname("a b"); }).what ==
          "--hostname 'a b' is not a valid hostname: only letters, digits, '-' and '.' are "
          "allowed");
    CHECK(error_of([] { check_hostname("x\n10.0.0.1 evil"); }).kind == ErrorKind::usage);
    CHECK(error_of([] { check_hostname("-x"); }).what ==
          "--hostname '-x' is not a valid hostname: a label must not begin or end with '-'");
    CHECK(error_of([] { check_hostname("a..b"); }).what ==
          "--hostname 'a..b' is not a valid hostname: each dot-separated label must have 1 to "
          "63 characters");
    CHECK(error_of([] { check_hostname(std::string(64, 'a')); }).kind == ErrorKind::usage);
    CHECK(error_of([] { check_hostname(""); }).what ==
          "--hostname '' is not a valid hostname: it must have 1 to 253 characters");
}

TEST_CASE("config.json: rlimits, --ipc host and a network namespace to join") {
    ContainerSpec spec;
    spec.args = {"true"};
    auto config = [&] { return nlohmann::json::parse(runtime_config_json(spec)); };
    auto namespaces = [](const nlohmann::json& c) {
        std::vector<std::string> out;
        for (const auto& ns : c["linux"]["namespaces"]) {
            out.push_back(ns["type"].get<std::string>() +
                          (ns.contains("path") ? "=" + ns["path"].get<std::string>() : ""));
        }
        return out;
    };
    auto shm = [](const nlohmann::json& c) {
        for (const auto& m : c["mounts"]) {
            if (m["destination"] == "/dev/shm") {
                return m;
            }
        }
        return nlohmann::json();
    };
    nlohmann::json plain = config();
    CHECK_FALSE(plain["process"].contains("rlimits")); // the runtime's own, as before
    CHECK(namespaces(plain) == std::vector<std::string>{"pid", "ipc", "uts", "mount", "network"});
    CHECK(shm(plain)["options"].back() == "size=67108864");

    spec.rlimits = {Rlimit::parse("nofile=1024:4096"), Rlimit::parse("memlock=-1")};
    spec.host_ipc = true;
    spec.network_namespace = "/proc/42/fd/7";
    nlohmann::json c = config();
    CHECK(c["process"]["rlimits"] == nlohmann::json::parse(R"([
        {"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024},
        {"type": "RLIMIT_MEMLOCK", "hard": 18446744073709551615, "soft": 18446744073709551615}])"));
    CHECK(namespaces(c) ==
          std::vector<std::string>{"pid", "uts", "mount", "network=/proc/42/fd/7"});
    CHECK(shm(c) == nlohmann::json::parse(R"({"destination": "/dev/shm", "type": "bind",
        "source": "/dev/shm", "options": ["rbind", "nosuid", "noexec", "nodev"]})"));

    spec.network = Network::host; // the host's network: no namespace, none joined
    CHECK(namespaces(config()) == std::vector<std::string>{"pid", "uts", "mount"});
}
