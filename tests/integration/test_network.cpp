// A network that cannot be reached: a build with a cold cache stops within seconds, with
// one message naming the host (exit 5), and says meanwhile what it waits for. Run for
// real: a closed loopback port (the connection is refused), and the CLI in a network
// namespace without network (`unshare -n`: no route to anything, no name resolves).
#include "support/apt_fixture.hpp"
#include "support/checks.hpp"
#include "support/registry_fixture.hpp"
#include "support/support.hpp"

#include "ocibake/digest.hpp"
#include "ocibake/http.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace ocibake::test;
namespace fs = std::filesystem;
namespace http = ocibake::http;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

std::size_t count(const std::string& text, const std::string& part) {
    std::size_t n = 0;
    for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) {
        ++n;
    }
    return n;
}

// Collects what a client reports.
class Recorder final : public http::Observer {
public:
    void retrying(const http::Retry& r) override {
        std::lock_guard lock(mutex_);
        retries.push_back(r);
    }
    void request_started(std::string_view url) override {
        std::lock_guard lock(mutex_);
        started.emplace_back(url);
    }
    std::vector<http::Retry> retries;
    std::vector<std::string> started;

private:
    std::mutex mutex_;
};

// The CLI, bounded by `timeout` so that a build that hangs fails the test instead.
CommandResult ocibake_bounded(const ScratchDir& dir, std::vector<std::string> args,
                              bool no_network = false) {
    std::vector<std::string> argv;
    if (no_network) {
        argv = {"unshare", "-n"};
    }
    argv.insert(argv.end(), {"timeout", "60"});
    std::vector<std::string> cli = cli_argv(std::move(args), dir / "cold-cache");
    argv.insert(argv.end(), cli.begin(), cli.end());
    std::vector<std::string> env = without_credentials(dir / "home");
    env.push_back("SOURCE_DATE_EPOCH=");
    return run(argv, env);
}

/// `build` of `recipe` into dir/img with no network at all (unshare -n): it must fail as a
/// network failure (exit code 5) within seconds. Returns what it printed.
CommandResult build_without_network(const ScratchDir& dir, const fs::path& recipe) {
    auto start = Clock::now();
    auto r = ocibake_bounded(dir, {"build", recipe.string(), "-o", "oci:" + (dir / "img").string()},
                             true);
    double took = seconds_since(start);
    INFO(r.err);
    CHECK(r.exit_code == 5);
    CHECK(took < 15.0);
    return r;
}

bool can_unshare_network() {
    return run({"unshare", "-n", "true"}).exit_code == 0;
}

} // namespace

TEST_CASE("http: a host that refuses connections is tried by one request, then remembered") {
    const int port = free_port(); // nothing listens there
    const std::string host = "127.0.0.1:" + std::to_string(port);
    Recorder recorder;
    http::Options options;
    options.connect_backoff = std::chrono::milliseconds(200);
    options.observer = &recorder;
    http::Client client(options);

    // Eight requests at once: one finds out (3 tries), the others wait for its answer.
    auto start = Clock::now();
    std::vector<std::string> errors(8);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < errors.size(); ++i) {
        threads.emplace_back([&, i] {
            http::Request r;
            r.url = "http://" + host + "/file-" + std::to_string(i);
            try {
                client.send(r);
            } catch (const http::HttpError& e) {
                errors[i] = e.what();
                CHECK(e.kind() == ocibake::ErrorKind::io);
                CHECK(e.unreachable());
                CHECK_FALSE(e.transient());
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    double took = seconds_since(start);
    INFO(errors[0]);
    CHECK(errors[0].starts_with("cannot reach " + host +
                                ": Couldn't connect to server (3 tries in 0."));
    for (const auto& e : errors) {
        CHECK(e == errors[0]);
    }
    REQUIRE(recorder.retries.size() == 2);
    CHECK(recorder.retries[0].host == host);
    CHECK(recorder.retries[0].reason == "Couldn't connect to server");
    CHECK(recorder.retries[0].attempt == 2);
    CHECK(recorder.retries[0].attempts == 3);
    CHECK(recorder.retries[1].attempt == 3);
    CHECK(recorder.retries[1].delay > recorder.retries[0].delay);
    CHECK(took < 3.0);
    CHECK(recorder.started.size() == 8);

    // Later requests to that host fail at once, with the same error, trying nothing.
    start = Clock::now();
    http::Request again;
    again.url = "http://" + host + "/another";
    try {
        client.download(again, [](const char*, std::size_t) {});
        FAIL("a request to a host that cannot be reached succeeded");
    } catch (const http::HttpError& e) {
        CHECK(std::string(e.what()) == errors[0]);
    }
    CHECK(seconds_since(start) < 0.2);
    CHECK(recorder.retries.size() == 2);

    // Remembered for a while only: another client (or this one, later) tries again.
    http::Options forgetful = options;
    forgetful.remember_unreachable = std::chrono::seconds(0);
    http::Client other(forgetful);
    for (int i = 0; i < 2; ++i) {
        CHECK_THROWS_WITH(other.send(again), Catch::Contains("(3 tries in "));
    }
    CHECK(recorder.retries.size() == 6);
}

TEST_CASE("a build whose lock points at a closed port stops within seconds, naming the host") {
    ScratchDir dir("net-apt-closed");
    fs::path repo = dir / "repo";
    make_apt_repo(repo, {"REPO_PACKAGES=libc6 libgcc-s1 gcc-12-base"});
    std::optional<AptServer> server(std::in_place, repo);
    const std::string host = "127.0.0.1:" + std::to_string(server->port());
    fs::path recipe =
        write_file(dir / "app.toml",
                   "name = \"app\"\n" + apt_source_toml(server->url(), repo / "keyring.gpg") +
                       "[[layer]]\nname = \"system\"\n" + packages_toml({"libc6"}));
    auto locked =
        run_cli({"lock", recipe.string()}, dir / "lock-cache", {"HOME=" + (dir / "home").string()});
    INFO(locked.err);
    REQUIRE(locked.exit_code == 0);
    server.reset(); // the port is closed now: every connection is refused

    auto start = Clock::now();
    auto r =
        ocibake_bounded(dir, {"build", recipe.string(), "-o", "oci:" + (dir / "img").string()});
    double took = seconds_since(start);
    INFO(r.err);
    CHECK(r.exit_code == 5);
    CHECK(took < 15.0);
    // One message names the host (the first package of the lock that needed it).
    CHECK(count(r.err, "ocibake: error: ") == 1);
    CHECK(r.err.find(": cannot reach " + host + ": Couldn't connect to server (3 tries in ") !=
          std::string::npos);
    // Meanwhile it said what it waited for: one request tried again, twice (the waits are
    // about 1 s and 2 s, with 10 % jitter, so only their presence is checked here).
    CHECK(count(r.err, "ocibake: " + host + ": Couldn't connect to server; attempt 2 of 3 in ") ==
          1);
    CHECK(count(r.err, "ocibake: " + host + ": Couldn't connect to server; attempt 3 of 3 in ") ==
          1);
    CHECK_FALSE(fs::exists(dir / "img"));
}

TEST_CASE("no network at all (unshare -n), cold cache: exit 5 within seconds, for debs and "
          "wheels") {
    if (!can_unshare_network()) {
        return ocibake::test::skip("cannot make a network namespace here (unshare -n needs root)");
    }
    SECTION("apt: the repository's address cannot be reached") {
        ScratchDir dir("net-apt-none");
        fs::path repo = dir / "repo";
        make_apt_repo(repo, {"REPO_PACKAGES=libc6 libgcc-s1 gcc-12-base"});
        AptServer server(repo); // it runs, but not in the build's namespace
        fs::path recipe =
            write_file(dir / "app.toml",
                       "name = \"app\"\n" + apt_source_toml(server.url(), repo / "keyring.gpg") +
                           "[[layer]]\nname = \"system\"\n" + packages_toml({"libc6"}));
        REQUIRE(run_cli({"lock", recipe.string()}, dir / "lock-cache",
                        {"HOME=" + (dir / "home").string()})
                    .exit_code == 0);
        CommandResult r = build_without_network(dir, recipe);
        INFO(r.err);
        CHECK(count(r.err, "ocibake: error: ") == 1);
        CHECK(r.err.find(": cannot reach 127.0.0.1:" + std::to_string(server.port()) +
                         ": Couldn't connect to server (3 tries in ") != std::string::npos);
    }
    SECTION("wheels: the index host's name does not resolve") {
        ScratchDir dir("net-wheel-none");
        const std::string wheel = "ocibake_demo-1.0-py3-none-any.whl";
        const std::string url = "https://files.pythonhosted.org/packages/00/00/" + wheel;
        write_file(dir / "pylock.toml", "lock-version = \"1.0\"\ncreated-by = \"ocibake-tests\"\n\n"
                                        "[[packages]]\nname = \"ocibake-demo\"\nversion = \"1.0\"\n"
                                        "wheels = [{url = \"" +
                                            url + "\", size = 1234, hashes = {sha256 = \"" +
                                            std::string(64, 'a') + "\"}}]\n");
        fs::path recipe = write_file(dir / "app.toml",
                                     "name = \"py\"\n[[layer]]\nname = \"app\"\n[layer.python]\n"
                                     "pylock = \"pylock.toml\"\nvenv = \"/opt/venv\"\npython = "
                                     "\"3.11\"\nglibc = \"2.36\"\n");
        auto locked = ocibake_bounded(dir, {"lock", recipe.string()}, true); // no network needed
        INFO(locked.err);
        REQUIRE(locked.exit_code == 0);
        CommandResult r = build_without_network(dir, recipe);
        INFO(r.err);
        CHECK(r.err.find("ocibake: error: ") != std::string::npos);
        CHECK(r.err.find("wheel " + wheel + " from " + url +
                         ": cannot reach files.pythonhosted.org: Couldn't resolve host name (3 "
                         "tries in ") != std::string::npos);
        CHECK(r.err.find("ocibake: files.pythonhosted.org: Couldn't resolve host name; attempt 2 "
                         "of 3 in ") != std::string::npos);
    }
}

TEST_CASE("a registry that cannot be reached: exit 5 within seconds, naming it") {
    const std::string host = "127.0.0.1:" + std::to_string(free_port());
    ScratchDir dir("net-registry");
    auto start = Clock::now();
    auto r = ocibake_bounded(
        dir, {"pull", host + "/some/image:1", "-o", "oci:" + (dir / "out").string()});
    double took = seconds_since(start);
    INFO(r.err);
    CHECK(r.exit_code == 5);
    CHECK(took < 15.0);
    // https first, then plain HTTP (loopback): the host is tried once, not twice.
    CHECK(r.err.find("ocibake: error: registry " + host + ": cannot reach " + host +
                     ": Couldn't connect to server (3 tries in ") != std::string::npos);
    CHECK(count(r.err, "attempt 2 of 3") == 1);
    if (!can_unshare_network()) {
        return ocibake::test::skip("cannot make a network namespace here (unshare -n needs "
                                   "root): a name that does not resolve was not tried");
    }
    {
        auto none = ocibake_bounded(
            dir,
            {"pull", "registry.example.org/some/image:1", "-o", "oci:" + (dir / "out").string()},
            true);
        INFO(none.err);
        CHECK(none.exit_code == 5);
        CHECK(none.err.find("ocibake: error: registry registry.example.org: cannot reach "
                            "registry.example.org: Couldn't resolve host name (3 tries in ") !=
              std::string::npos);
    }
}
