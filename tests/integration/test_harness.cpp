// `ocibake test` under runc: images built by ocibake from the host's static busybox, with
// command, file, metadata and service tests that must pass and tests that must fail; GPU
// tests skipped on a machine without one; JUnit XML checked by xmllint; whiteouts seen
// by the container.
#include "ocibake/harness.hpp"
#include "support/checks.hpp"
#include "support/tar.hpp"

#include <nlohmann/json.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

using namespace ocibake;
using namespace ocibake::test;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

/// Writes dir/t.toml (busybox + a web root + `tests`) and builds it into dir/out/t.
fs::path build_recipe(const ScratchDir& dir, int port, const std::string& tests) {
    require_busybox_runtime();
    write_file(dir / "www/index.html", "<h1>It works</h1>\n");
    std::string p = std::to_string(port);
    fs::path recipe = write_file(
        dir / "t.toml",
        "include = [\"" + (ocibake::test::source_dir() / "layers/busybox.toml").string() +
            "\"]\nname = \"t\"\n[config]\nentrypoint = [\"/bin/sh\", \"-c\", \"trap 'exit 0' "
            "TERM; busybox httpd -f -p " +
            p + " -h /www & wait\"]\nenv = { GREETING = \"hello\" }\nexposed_ports = [" + p +
            "]\nworkdir = \"/www\"\n[[layer]]\nname = \"www\"\ncopy = [{ src = \"www\", dst = "
            "\"/www\" }]\n" +
            tests);
    must({ocibake::test::cli().string(), "build", recipe.string(), "-q", "--cache-dir",
          (dir / "cache").string()},
         {}, dir.path());
    return recipe;
}

CommandResult ocibake_test(const ScratchDir& dir, std::vector<std::string> extra) {
    extra.insert(extra.begin(), {"test", "t.toml"});
    return run_cli(std::move(extra), dir / "cache", {"TMPDIR=" + dir.path().string()}, dir.path());
}

const char* kPassing = R"(
[[test]]
name = "greeting"
shell = "echo $GREETING from $(pwd); echo warn >&2"
stdout = "^hello from /www$"
stderr = "warn"
stdout_not = "error"

[[test]]
name = "exit-code"
args = ["/bin/sh", "-c", "exit 3"]
exit_code = 3

[[test]]
name = "env-override"
shell = "echo $GREETING"
env = { GREETING = "bye" }
stdout = "^bye$"

[[test]]
name = "per-container"
shell = "cat /proc/sys/kernel/random/uuid"
distinct = true

[[test]]
name = "index"
type = "file"
path = "/www/index.html"
file_type = "file"
mode = 0o644
uid = 0
contains = "It works"

[[test]]
name = "shell-link"
type = "file"
path = "/bin/sh"
file_type = "symlink"
target = "busybox"

[[test]]
name = "busybox-mode"
type = "file"
path = "/bin/sh"
mode = 0o755

[[test]]
name = "no-shadow"
type = "file"
path = "/etc/shadow"
exists = false

[[test]]
name = "config"
type = "metadata"
env = { GREETING = "hello" }
workdir = "/www"
cmd = []

[[test]]
name = "web"
type = "service"
port = @PORT@
http_path = "/index.html"
http_body = "It works"
stop_timeout = 5

[[test]]
name = "cuda"
gpu = true
args = ["nvidia-smi"]
)";

std::string with_port(std::string text, int port) {
    std::size_t at;
    while ((at = text.find("@PORT@")) != std::string::npos) {
        text.replace(at, 6, std::to_string(port));
    }
    return text;
}

} // namespace

TEST_CASE("ocibake test: passing tests pass, a GPU test is skipped, never passed") {
    ScratchDir dir("harness");
    int port = free_port();
    build_recipe(dir, port, with_port(kPassing, port));
    CommandResult r = ocibake_test(dir, {"--junit", (dir / "junit.xml").string()});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.rfind("testing oci:out/t:latest (11 tests from t.toml)\n", 0) == 0);
    for (const char* name : {"greeting", "exit-code", "env-override", "per-container", "index",
                             "shell-link", "busybox-mode", "no-shadow", "config", "web"}) {
        CHECK(r.out.find("  PASS  " + std::string(name) + " ") != std::string::npos);
    }
    CHECK(r.out.find("  SKIP  cuda ") != std::string::npos);
    CHECK(r.out.find("11 tests: 10 passed, 0 failed, 1 skipped (") != std::string::npos);

    std::string xml = read_file(dir / "junit.xml");
    must({"xmllint", "--noout", (dir / "junit.xml").string()});
    CHECK(xml.find("<testsuites name=\"ocibake test\" tests=\"11\" failures=\"0\" errors=\"0\" "
                   "skipped=\"1\"") != std::string::npos);
    CHECK(xml.find("<testcase name=\"cuda\" classname=\"ocibake.command\"") != std::string::npos);
    CHECK(xml.find("<skipped message=\"needs a GPU") != std::string::npos);
    CHECK(xml.find("<failure") == std::string::npos);
}

TEST_CASE("ocibake test: tests that must fail fail, each with its reasons, exit code 7") {
    ScratchDir dir("harness");
    int port = free_port();
    int dead_port = free_port();
    std::string tests = with_port(R"(
[[test]]
name = "wrong-exit"
shell = "echo out-line; echo err-line >&2; exit 1"
stdout = "nothing-like-this"
stderr_not = "err-line"

[[test]]
name = "same-twice"
shell = "echo same"
distinct = true

[[test]]
name = "fresh-roots"
shell = "test -e /www/once || { touch /www/once; echo first; }"
distinct = true

[[test]]
name = "slow"
shell = "sleep 30"
timeout = 1

[[test]]
name = "wrong-file"
type = "file"
path = "/www/index.html"
mode = 0o600
uid = 1000
contains = "It fails"
file_type = "dir"

[[test]]
name = "missing"
type = "file"
path = "/etc/motd"

[[test]]
name = "present"
type = "file"
path = "/bin/busybox"
exists = false

[[test]]
name = "wrong-config"
type = "metadata"
env = { GREETING = "bye", MISSING = "x" }
exposed_ports = [1]
entrypoint = ["/start"]
user = "app"

[[test]]
name = "no-server"
type = "service"
args = ["/bin/sh", "-c", "echo starting; exit 4"]
port = @DEAD@

[[test]]
name = "wrong-page"
type = "service"
port = @PORT@
http_path = "/missing.html"
http_body = "It works"

[[test]]
name = "ignores-term"
type = "service"
args = ["/bin/busybox", "httpd", "-f", "-p", "@PORT@", "-h", "/www"]
port = @PORT@
stop_timeout = 1
)",
                                  port);
    tests.replace(tests.find("@DEAD@"), 6, std::to_string(dead_port)); // nothing listens there
    build_recipe(dir, port, tests);

    CommandResult r = ocibake_test(dir, {"--json", "--junit", (dir / "junit.xml").string()});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 7);
    json report = json::parse(r.out);
    CHECK(report["failed"] == 11);
    CHECK(report["passed"] == 0);
    std::map<std::string, json> by_name;
    for (const json& t : report["tests"]) {
        CHECK(t["status"] == "fail");
        by_name[t["name"]] = t;
    }
    auto reasons = [&](const std::string& name) {
        return by_name.at(name)["reasons"].get<std::vector<std::string>>();
    };
    using Strings = std::vector<std::string>;
    CHECK(reasons("wrong-exit") == Strings{"exit code 1, expected 0",
                                           "stdout does not match /nothing-like-this/",
                                           "stderr matches /err-line/, but must not"});
    CHECK(by_name["wrong-exit"]["stdout"] == "out-line\n");
    CHECK(by_name["wrong-exit"]["stderr"] == "err-line\n");
    CHECK(reasons("same-twice") ==
          Strings{"two containers printed the same stdout (distinct = true)"});
    CHECK(by_name["same-twice"]["stdout"] ==
          "== first container\nsame\n== second container\nsame\n");
    // Each container has its own root: the file the first made is not in the second, so
    // the second prints "first" too.
    CHECK(reasons("fresh-roots") ==
          Strings{"two containers printed the same stdout (distinct = true)"});
    CHECK(reasons("slow") == Strings{"timed out after 1s (killed)"});
    CHECK(by_name["slow"]["seconds"].get<double>() < 10);
    CHECK(reasons("wrong-file") == Strings{"'/www/index.html' is a file, not a directory",
                                           "'/www/index.html' has mode 0644, expected 0600",
                                           "'/www/index.html' is owned by uid 0, expected 1000",
                                           "'/www/index.html' does not match /It fails/"});
    CHECK(reasons("missing") == Strings{"'/etc/motd' does not exist"});
    CHECK(reasons("present") == Strings{"'/bin/busybox' exists (a file), but must not"});
    CHECK(reasons("wrong-config") ==
          Strings{"env GREETING is 'hello', expected 'bye'", "env MISSING is not set, expected 'x'",
                  "entrypoint is [\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM; busybox httpd -f -p " +
                      std::to_string(port) + " -h /www & wait\"], expected [\"/start\"]",
                  "port 1/tcp is not exposed (exposed: " + std::to_string(port) + "/tcp)",
                  "user is '', expected 'app'"});
    CHECK(reasons("no-server") == Strings{"the service exited with code 4 before port " +
                                          std::to_string(dead_port) + " accepted connections"});
    CHECK(by_name["no-server"]["stdout"] == "starting\n");
    CHECK(reasons("wrong-page") == Strings{"GET /missing.html answered 404, expected 200",
                                           "GET /missing.html body does not match /It works/"});
    CHECK(reasons("ignores-term") ==
          Strings{"the service did not stop within 1s of SIGTERM (it was killed): does it handle "
                  "the signal? (PID 1 ignores signals it has no handler for)"});

    must({"xmllint", "--noout", (dir / "junit.xml").string()});
    std::string xml = read_file(dir / "junit.xml");
    CHECK(xml.find("failures=\"11\"") != std::string::npos);
    CHECK(xml.find("<failure message=\"exit code 1, expected 0\">exit code 1, expected 0\n"
                   "stdout does not match /nothing-like-this/\nstderr matches /err-line/, but "
                   "must not</failure>") != std::string::npos);
    CHECK(xml.find("<failure message=\"env GREETING is &apos;hello&apos;, expected "
                   "&apos;bye&apos;\"") != std::string::npos);

    // The human summary shows the reasons and the end of the output.
    CommandResult text = ocibake_test(dir, {});
    CHECK(text.exit_code == 7);
    CHECK(text.out.find("  FAIL  wrong-exit                   command   ") != std::string::npos);
    CHECK(text.out.find("        exit code 1, expected 0\n        stdout does not match "
                        "/nothing-like-this/\n        stderr matches /err-line/, but must not\n"
                        "        stdout (last lines):\n          | out-line\n        stderr "
                        "(last lines):\n          | err-line\n") != std::string::npos);
    CHECK(text.out.find("11 tests: 0 passed, 11 failed, 0 skipped (") != std::string::npos);
}

TEST_CASE("reports: JUnit XML stays valid whatever the output holds") {
    ScratchDir dir("harness");
    build_recipe(dir, free_port(), R"(
[[test]]
name = "hostile <output> & \"names\""
shell = "printf '<&>\"]]> \\001\\002 \\377\\300 caf\\303\\251 \\357\\277\\277 end\\n'; exit 1"
)");
    CommandResult r = ocibake_test(dir, {"--junit", (dir / "junit.xml").string(), "--json"});
    CHECK(r.exit_code == 7);
    must({"xmllint", "--noout", (dir / "junit.xml").string()});
    std::string xml = read_file(dir / "junit.xml");
    CHECK(xml.find("<testcase name=\"hostile &lt;output&gt; &amp; &quot;names&quot;\"") !=
          std::string::npos);
    CHECK(xml.find("<system-out>&lt;&amp;&gt;&quot;]]&gt; \xEF\xBF\xBD\xEF\xBF\xBD "
                   "\xEF\xBF\xBD\xEF\xBF\xBD caf\xC3\xA9 \xEF\xBF\xBD end\n</system-out>") !=
          std::string::npos);
    json report = json::parse(r.out); // invalid UTF-8 replaced, still JSON
    CHECK(report["tests"][0]["stdout"].get<std::string>().find("caf\xC3\xA9") != std::string::npos);
}

TEST_CASE("ocibake test: patterns are matched in linear time within the test's timeout") {
    // Issue 12: `^(a+)+$` against 31 characters took std::regex 82 s (backtracking),
    // although the test's timeout was 5 s; and std::regex recursed once per character. A
    // 1 MiB line matched by a pattern with nested quantifiers must be quick as well.
    ScratchDir dir("harness");
    build_recipe(dir, free_port(), R"(
[[test]]
name = "backtracking"
shell = "echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"
timeout = 5
stdout = '^(a+)+$'

[[test]]
name = "long-line"
shell = "head -c 1048576 /dev/zero | tr '\\0' a; echo"
timeout = 5
stdout = ['^(a+)+$', '^(?:a|aa)*$']
stdout_not = '(a*)*b'
)");
    auto start = std::chrono::steady_clock::now();
    CommandResult r = ocibake_test(dir, {"--json"});
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    INFO(r.out << r.err);
    CHECK(r.exit_code == 7);
    json report = json::parse(r.out);
    REQUIRE(report["tests"].size() == 2);
    CHECK(report["tests"][0]["status"] == "fail");
    CHECK(report["tests"][0]["reasons"] == json::array({"stdout does not match /^(a+)+$/"}));
    CHECK(report["tests"][1]["status"] == "pass");
    CHECK(seconds < 30); // two containers; matching itself takes milliseconds
}

namespace {

/// Each test prints when it started and ended: the host's uptime, which every container
/// reads the same (/proc/uptime is not namespaced), so intervals compare across tests.
const char* kParallel = R"T(
[[test]]
name = "slow-1"
shell = "read a _ </proc/uptime; busybox sleep 3; read b _ </proc/uptime; echo $a $b"
stdout = '^\d+\.\d+ \d+\.\d+$'

[[test]]
name = "slow-2"
shell = "read a _ </proc/uptime; busybox sleep 3; read b _ </proc/uptime; echo $a $b"
stdout = '^\d+\.\d+ \d+\.\d+$'

[[test]]
name = "web-1"
type = "service"
port = @PORT@
args = ["/bin/sh", "-c", "read a _ </proc/uptime; trap 'read b _ </proc/uptime; echo $a $b; exit 0' TERM; busybox httpd -f -p @PORT@ -h /www & wait"]
http_path = "/index.html"
stop_timeout = 5

[[test]]
name = "web-2"
type = "service"
port = @PORT@
args = ["/bin/sh", "-c", "read a _ </proc/uptime; trap 'read b _ </proc/uptime; echo $a $b; exit 0' TERM; busybox httpd -f -p @PORT@ -h /www & wait"]
http_path = "/index.html"
stop_timeout = 5

[[test]]
name = "then"
after = ["slow-1"]
shell = "read a _ </proc/uptime; echo $a $a"

[[test]]
name = "alone"
serial = true
shell = "read a _ </proc/uptime; busybox sleep 1; read b _ </proc/uptime; echo $a $b"

[[test]]
name = "index"
type = "file"
path = "/www/index.html"
contains = "It works"

[[test]]
name = "config"
type = "metadata"
workdir = "/www"
)T";

struct Interval {
    double start = 0;
    double end = 0;
    bool overlaps(const Interval& o) const { return start < o.end && o.start < end; }
};

/// "START END" from a test's stdout.
Interval interval_of(const json& test) {
    Interval i;
    std::string out = test.value("stdout", "");
    REQUIRE(std::sscanf(out.c_str(), "%lf %lf", &i.start, &i.end) == 2);
    return i;
}

/// The report without what may differ between job counts: timings, the job count, and
/// the uptimes the tests print.
json comparable(json report) {
    report.erase("seconds");
    report.erase("jobs");
    for (json& t : report["tests"]) {
        t.erase("seconds");
        t.erase("stdout");
    }
    return report;
}

} // namespace

TEST_CASE("ocibake test -j: independent tests run side by side and conflicting ones apart") {
    ScratchDir dir("harness");
    int port = free_port();
    build_recipe(dir, port, with_port(kParallel, port));
    CommandResult serial = ocibake_test(dir, {"--json", "-j", "1"});
    INFO(serial.out << serial.err);
    REQUIRE(serial.exit_code == 0);
    CommandResult parallel = ocibake_test(dir, {"--json", "--jobs", "2"});
    INFO(parallel.out << parallel.err);
    REQUIRE(parallel.exit_code == 0);
    json one = json::parse(serial.out);
    json two = json::parse(parallel.out);
    CHECK(one["jobs"] == 1);
    CHECK(two["jobs"] == 2);
    CHECK(comparable(one) == comparable(two)); // the same report, timings aside

    auto in = [](const json& report, std::size_t i) { return interval_of(report["tests"][i]); };
    // -j1: one after the other.
    for (std::size_t i = 0; i < 6; ++i) {
        for (std::size_t k = i + 1; k < 6; ++k) {
            CHECK_FALSE(in(one, i).overlaps(in(one, k)));
        }
    }
    // -j2: the two slow tests together, in about the time of one (in series: >= 6 s).
    Interval a = in(two, 0), b = in(two, 1);
    CHECK(a.overlaps(b));
    CHECK(std::max(a.end, b.end) - std::min(a.start, b.start) < 5.0);
    CHECK_FALSE(in(two, 2).overlaps(in(two, 3))); // one host port: one service at a time
    CHECK(in(two, 4).start >= a.end);             // after = ["slow-1"]
    for (std::size_t k = 0; k < 6; ++k) {         // serial = true: nothing beside it
        if (k != 5) {
            CHECK_FALSE(in(two, 5).overlaps(in(two, k)));
        }
    }
    CHECK(two["seconds"].get<double>() < 0.8 * one["seconds"].get<double>());

    // The progress lines come in the recipe's order whatever finished first, and the
    // totals line says the job count.
    CommandResult text = ocibake_test(dir, {"-j", "3"});
    INFO(text.out << text.err);
    CHECK(text.exit_code == 0);
    std::size_t at = 0;
    for (const char* name :
         {"slow-1", "slow-2", "web-1", "web-2", "then", "alone", "index", "config"}) {
        std::size_t found = text.out.find("  PASS  " + std::string(name) + " ", at);
        CHECK(found != std::string::npos);
        at = found == std::string::npos ? at : found;
    }
    CHECK(text.out.find("8 tests: 8 passed, 0 failed, 0 skipped (") != std::string::npos);
    CHECK(text.out.find("s, 3 jobs; ") != std::string::npos);
}

TEST_CASE("ocibake test: usage") {
    ScratchDir dir("harness");
    CommandResult r = run({ocibake::test::cli().string(), "test", "out/x"}, {}, dir.path());
    CHECK(r.exit_code == 2);
    CHECK(r.err == "ocibake: error: ocibake test out/x needs --recipe RECIPE.toml: the tests "
                   "come from the recipe\n");
    write_file(dir / "x.toml", "[[test]]\nshell = \"true\"\n");
    r = run({ocibake::test::cli().string(), "test", "x.toml"}, {}, dir.path());
    CHECK(r.exit_code == 4);
    CHECK(r.err == "ocibake: error: image out/x does not exist: build it first (ocibake x.toml)\n");
}

TEST_CASE("whiteouts: a layer over an ocibake image hides files from the container") {
    ScratchDir dir("harness");
    build_recipe(dir, free_port(), "");
    // Add a layer of whiteout markers on top of the built image, as another tool would.
    Store store(dir / "cache");
    BuiltImage built = write_with_layer(
        store, dir / "out/t", marker_tar({"bin/.wh.ls", "www/.wh..wh..opq", "www/new.txt"}),
        dir / "hidden");

    std::vector<TestSpec> tests(4);
    tests[0].name = "ls-gone";
    tests[0].type = TestType::file;
    tests[0].path = "/bin/ls";
    tests[0].exists = false;
    tests[1].name = "index-gone";
    tests[1].type = TestType::file;
    tests[1].path = "/www/index.html";
    tests[1].exists = false;
    tests[2].name = "new-kept";
    tests[2].type = TestType::file;
    tests[2].path = "/www/new.txt";
    tests[3].name = "the-container-sees-it";
    tests[3].args = std::vector<std::string>{"/bin/busybox", "ls", "-a", "/www"};
    tests[3].stdout_match = {{"^\\.\\n\\.\\.\\nnew\\.txt\\n$", {}}};
    TestOptions options;
    options.cache_dir = dir / "cache";
    options.keep_bundle = dir / "bundle"; // removed with the scratch dir
    TestReport report = run_tests(tests, "oci:" + (dir / "hidden").string(), options);
    INFO(summary_text(report));
    CHECK(report.passed() == 4);
    CHECK(report.digest == built.manifest_descriptor.digest.str());
}

TEST_CASE("GPU tests under runc with a fake GPU: device nodes, read-only driver, ldconfig ran") {
    ScratchDir dir("harness");
    require_busybox_runtime();
    // The host: /dev/nvidia0 and /dev/nvidiactl are char devices with the numbers of
    // /dev/null and /dev/zero (so the container can use them), a driver directory.
    fs::path host = dir / "host";
    fs::create_directories(host / "dev");
    REQUIRE(::mknod((host / "dev/nvidia0").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
    REQUIRE(::mknod((host / "dev/nvidiactl").c_str(), S_IFCHR | 0666, makedev(1, 5)) == 0);
    write_file(host / "usr/local/nvidia/lib64/libcuda.so.1", "fake libcuda\n");
    write_file(host / "usr/local/nvidia/lib64/libnvidia-ml.so.1", "fake nvml\n");
    write_file(host / "usr/local/nvidia/bin/nvidia-smi", "#!/bin/sh\necho 'NVIDIA-SMI fake'\n",
               0755);
    // The image: busybox, a non-root user, and an ldconfig that records what it was told
    // into /etc/ld.so.cache (which only root may write).
    write_file(dir / "ldconfig",
               "#!/bin/sh\n{ cat /etc/ld.so.conf.d/*.conf; ls \"$@\"; } > "
               "/etc/ld.so.cache\n",
               0755);
    build_recipe(dir, free_port(), R"(
[[layer]]
name = "gpu-image"
  [[layer.files]]
  path = "/sbin/ldconfig"
  src = "ldconfig"
  mode = 0o755
  [[layer.files]]
  path = "/etc/ld.so.cache"
  content = ""

[[test]]
name = "devices"
gpu = true
shell = "id -u; test -c /dev/nvidia0 && test -c /dev/nvidiactl && echo x > /dev/nvidia0 && echo ok"
stdout = ["^1000$", "^ok$"]

[[test]]
name = "driver-read-only"
gpu = true
shell = "cat /usr/local/nvidia/lib64/libcuda.so.1; echo x >> /usr/local/nvidia/lib64/libcuda.so.1 || echo read-only"
stdout = ["^fake libcuda$", "^read-only$"]

[[test]]
name = "ldconfig-ran-as-root"
gpu = true
shell = "cat /etc/ld.so.cache"
stdout = ["^/usr/local/nvidia/lib64$", "^libcuda.so.1$", "^libnvidia-ml.so.1$"]

[[test]]
name = "nvidia-smi"
gpu = true
args = ["nvidia-smi"]
stdout = "NVIDIA-SMI fake"

[[test]]
name = "no-gpu-for-other-tests"
shell = "test ! -e /dev/nvidia0 && test ! -e /usr/local/nvidia"
)");
    // A user and the capabilities the tests need, as an image would set them.
    std::string recipe = read_file(dir / "t.toml");
    recipe.replace(recipe.find("[config]\n"), 9, "[config]\nuser = \"1000:1000\"\n");
    recipe.replace(
        recipe.find("env = { GREETING = \"hello\" }"), 28,
        "env = { GREETING = \"hello\", NVIDIA_DRIVER_CAPABILITIES = \"compute,utility\" }");
    write_file(dir / "t.toml", recipe);
    must({ocibake::test::cli().string(), "build", "t.toml", "-q", "--cache-dir",
          (dir / "cache").string()},
         {}, dir.path());

    Recipe r = load_recipe(dir / "t.toml");
    TestOptions options;
    options.cache_dir = dir / "cache";
    options.gpu_host.root = host;
    options.gpu_host.ldconfig_listing = "";
    options.keep_bundle = dir / "bundle"; // removed with the scratch dir
    TestReport report = run_tests(r.tests, "oci:" + (dir / "out/t").string(), options);
    INFO(summary_text(report));
    CHECK(report.passed() == 5);
    CHECK(report.gpus == "GPU 0 (discovery: 2 device nodes, 3 driver files)");
    CHECK(report.isolation == "an overlay per container");
    // The unpacked rootfs is as the image made it: GPU tests left nothing in it.
    CHECK_FALSE(fs::exists(dir / "bundle/rootfs/usr/local/nvidia"));
    CHECK(read_file(dir / "bundle/rootfs/etc/ld.so.cache").empty());

    options.gpus = GpuRequest::parse("none");
    options.keep_bundle = dir / "bundle2";
    TestReport skipped = run_tests(r.tests, "oci:" + (dir / "out/t").string(), options);
    CHECK(skipped.skipped() == 4);
    CHECK(skipped.passed() == 1);
    CHECK(skipped.results[0].reasons == std::vector<std::string>{"needs a GPU: --gpus none"});
}
