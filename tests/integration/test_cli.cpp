// The ocibake command line, run as a process: help, exit codes, messages users meet,
// machine-readable output, and that bad input never damages a previous output.
#include <catch2/catch.hpp>

#include "support/support.hpp"

#include "ocibake/digest.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <string>
#include <sys/stat.h>
#include <vector>

using ocibake::test::read_file;
using ocibake::test::run;
using ocibake::test::ScratchDir;
using ocibake::test::write_file;
namespace fs = std::filesystem;
using json = nlohmann::json;

using ocibake::test::snapshot;

namespace {

// A working recipe in dir, built once into dir/out; returns the recipe path.
fs::path good_recipe(const ScratchDir& dir) {
    write_file(dir / "src/bin/hello", "#!/bin/sh\necho hello\n", 0755);
    write_file(dir / "src/etc/greeting", "hi\n");
    return write_file(dir / "r.toml", R"(name = "cli"
[config]
cmd = ["/bin/hello"]
[[layer]]
name = "bin"
[[layer.copy]]
src = "src/bin"
dst = "/bin"
[[layer]]
name = "etc"
[[layer.copy]]
src = "src/etc"
dst = "/etc"
)");
}

ocibake::test::CommandResult ocibake_run(const ScratchDir& dir, std::vector<std::string> args) {
    std::vector<std::string> argv{ocibake::test::cli().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, {"OCIBAKE_CACHE_DIR=" + (dir / "cache").string(), "SOURCE_DATE_EPOCH="},
               dir.path());
}

bool has_temp_leftovers(const fs::path& dir) {
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().filename().string().find(".tmp-") != std::string::npos) {
            return true;
        }
    }
    return !fs::is_empty(dir / "cache/tmp");
}

} // namespace

TEST_CASE("every subcommand has --help — the exit codes are documented") {
    ScratchDir dir("help");
    for (auto args : std::vector<std::vector<std::string>>{{"--help"},
                                                           {"build", "--help"},
                                                           {"inspect", "--help"},
                                                           {"push", "--help"},
                                                           {"pull", "--help"},
                                                           {"lock", "--help"},
                                                           {"outdated", "--help"},
                                                           {"run", "--help"},
                                                           {"test", "--help"},
                                                           {"cache", "gc", "--help"},
                                                           {"cache", "dir", "--help"},
                                                           {"cache", "--help"},
                                                           {"version", "--help"}}) {
        auto r = ocibake_run(dir, args);
        INFO(args[0] << " " << r.err);
        CHECK(r.exit_code == 0);
        CHECK(r.out.find("Usage:") != std::string::npos);
        // Each subcommand's own help, never build's.
        CHECK(r.out.find("Usage: ocibake " + (args[0] == "--help" ? std::string() : args[0])) !=
              std::string::npos);
    }
    auto top = ocibake_run(dir, {"--help"});
    CHECK(top.out.find("3  recipe error") != std::string::npos);
    CHECK(top.out.find("6  integrity error") != std::string::npos);
    auto version = ocibake_run(dir, {"--version"});
    CHECK(version.exit_code == 0);
    CHECK(version.out.rfind("ocibake ", 0) == 0);
    auto nothing = ocibake_run(dir, {});
    CHECK(nothing.exit_code == 2);
    CHECK(nothing.err.find("Usage:") != std::string::npos);
    auto bad_flag = ocibake_run(dir, {"build", "r.toml", "--no-such-flag"});
    CHECK(bad_flag.exit_code == 2);
    CHECK(bad_flag.err.find("--no-such-flag") != std::string::npos);
}

TEST_CASE("`ocibake RECIPE` builds — --quiet prints the digest — --json the whole result") {
    ScratchDir dir("build");
    good_recipe(dir);
    auto plain = ocibake_run(dir, {"r.toml"});
    REQUIRE(plain.exit_code == 0);
    CHECK(plain.out.find("-> oci:out/cli") != std::string::npos);
    CHECK(fs::exists(dir / "out/cli/index.json"));

    auto quiet = ocibake_run(dir, {"-q", "r.toml"}); // options may come first
    REQUIRE(quiet.exit_code == 0);
    CHECK(quiet.out.size() == 71 + 1); // "sha256:<64>\n"
    CHECK(quiet.out.rfind("sha256:", 0) == 0);
    CHECK(plain.out.find(quiet.out.substr(0, 71)) != std::string::npos);

    auto js = ocibake_run(dir, {"build", "r.toml", "--json", "-o", "oci:other:v2"});
    REQUIRE(js.exit_code == 0);
    json j = json::parse(js.out);
    CHECK(j["digest"] == quiet.out.substr(0, 71));
    CHECK(j["output"] == "oci:other:v2");
    CHECK(j["layers"].size() == 2);
    CHECK(j["layers"][0]["name"] == "bin");
    CHECK(j["layers"][0]["cache"] == "cached");
    // Sizes: the blob's (as in the manifest) and the tar stream's (a whole number of
    // 512-byte blocks, larger than the gzip'd blob for these small files).
    json manifest = json::parse(read_file(dir / "other/blobs/sha256" /
                                          j["manifest"]["digest"].get<std::string>().substr(7)));
    for (std::size_t i = 0; i < 2; ++i) {
        CHECK(j["layers"][i]["size"] == manifest["layers"][i]["size"]);
        CHECK(j["layers"][i]["digest"] == manifest["layers"][i]["digest"]);
        auto tar_size = j["layers"][i]["uncompressed_size"].get<std::uint64_t>();
        CHECK(tar_size % 512 == 0);
        CHECK(tar_size > j["layers"][i]["size"].get<std::uint64_t>());
    }
    CHECK(j["layers_built"] == 0);
    CHECK(j["timings"].contains("total"));
    CHECK(j["manifest"]["media_type"] == "application/vnd.oci.image.manifest.v1+json");
    auto idx = json::parse(read_file(dir / "other/index.json"));
    CHECK(idx["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "v2");

    // A second build with nothing changed says so.
    auto again = ocibake_run(dir, {"r.toml"});
    CHECK(again.out.find("nothing to rebuild: all 2 layers were cached") != std::string::npos);
}

TEST_CASE("inspect shows manifest, config and layers, for layouts and docker archives") {
    ScratchDir dir("inspect");
    good_recipe(dir);
    REQUIRE(ocibake_run(dir, {"r.toml", "-o", "docker-archive:img.tar"}).exit_code == 0);
    auto digest = ocibake_run(dir, {"r.toml", "-q"}).out.substr(0, 71);

    auto human = ocibake_run(dir, {"inspect", "oci:out/cli:latest"});
    REQUIRE(human.exit_code == 0);
    CHECK(human.out.find("digest:      " + digest) != std::string::npos);
    CHECK(human.out.find("cmd:         [\"/bin/hello\"]") != std::string::npos);
    CHECK(human.out.find("layers:      2,") != std::string::npos);
    auto js = json::parse(ocibake_run(dir, {"inspect", "out/cli", "--json"}).out);
    CHECK(js["digest"] == digest);
    CHECK(js["config"]["config"]["Cmd"][0] == "/bin/hello");
    CHECK(js["layers"].size() == 2);
    json manifest = json::parse(read_file(dir / "out/cli/blobs/sha256" / digest.substr(7)));
    for (std::size_t i = 0; i < 2; ++i) {
        CHECK(js["layers"][i]["size"] == manifest["layers"][i]["size"]);
        // The human form prints each layer's size too.
        std::string hex = manifest["layers"][i]["digest"].get<std::string>().substr(7, 12);
        CHECK(human.out.find(hex) != std::string::npos);
    }

    auto archive = json::parse(ocibake_run(dir, {"inspect", "img.tar", "--json"}).out);
    CHECK(archive["config"] == js["config"]);
    CHECK(archive["layers"][0]["digest"] == js["layers"][0]["diff_id"]);

    auto missing = ocibake_run(dir, {"inspect", "oci:nowhere"});
    CHECK(missing.exit_code == 4);
    CHECK(missing.err == "ocibake: error: image oci:nowhere: nowhere does not exist\n");
    auto bad_tag = ocibake_run(dir, {"inspect", "oci:out/cli:v9"});
    CHECK(bad_tag.exit_code == 4);
    CHECK(bad_tag.err.find("has no image tagged 'v9' (tags: latest)") != std::string::npos);
}

TEST_CASE("bad input: a clear message, the documented exit code, and nothing damaged") {
    ScratchDir dir("bad");
    fs::path recipe = good_recipe(dir);
    REQUIRE(ocibake_run(dir, {"r.toml"}).exit_code == 0);
    auto before = snapshot(dir / "out");
    auto expect_failure = [&](const std::string& text, int code, const std::string& message) {
        write_file(recipe, text);
        auto r = ocibake_run(dir, {"r.toml"});
        INFO(r.err);
        CHECK(r.exit_code == code);
        CHECK(r.err.find(message) != std::string::npos);
        CHECK(snapshot(dir / "out") == before);
        CHECK_FALSE(has_temp_leftovers(dir.path()));
        return r;
    };

    SECTION("malformed TOML") {
        auto r = expect_failure("name = \"cli\"\n[config\ncmd = []\n", 3, "r.toml:2:8: error: ");
        CHECK(r.err.find("\n 2 | [config\n") != std::string::npos);
    }
    SECTION("unknown key, with a hint") {
        auto r = expect_failure("name = \"cli\"\n[config]\nentrypont = [\"/bin/sh\"]\n", 3,
                                "r.toml:3:1: error: unknown key 'entrypont' in [config]");
        CHECK(r.err.find(
                  "\n 3 | entrypont = [\"/bin/sh\"]\n   | ^\nhint: did you mean 'entrypoint'?") !=
              std::string::npos);
    }
    SECTION("wrong type") {
        expect_failure("name = \"cli\"\n[[layer]]\n[[layer.copy]]\nsrc = \"src\"\nuid = \"root\"\n",
                       3, "r.toml:5:7: error: 'uid' must be an integer, not a string");
    }
    SECTION("a missing source file") {
        auto r =
            expect_failure("name = \"cli\"\n[[layer]]\n[[layer.copy]]\nsrc = \"src/nope\"\n", 4,
                           "r.toml:4:7: error: " + (dir / "src/nope").string() + " does not exist");
        CHECK(r.err.find("\n 4 | src = \"src/nope\"\n   |       ^") != std::string::npos);
    }
    SECTION("a destination escaping the root") {
        expect_failure(
            "name = \"cli\"\n[[layer]]\n[[layer.copy]]\nsrc = \"src\"\ndst = \"/../../etc\"\n", 3,
            "r.toml:5:7: error: 'dst' image path '/../../etc' escapes the image root");
    }
    SECTION("a symlink loop") {
        fs::create_symlink("loop2", dir / "src/loop1");
        fs::create_symlink("loop1", dir / "src/loop2");
        expect_failure("name = \"cli\"\n[[layer]]\n[[layer.copy]]\nsrc = \"src/loop1\"\n", 4,
                       "r.toml:4:7: error: " + (dir / "src/loop1").string() + ": symlink loop");
    }
    SECTION("a symlink loop met while following links in a tree") {
        fs::create_directories(dir / "src/tree/sub");
        fs::create_symlink("..", dir / "src/tree/sub/up");
        expect_failure("name = \"cli\"\n[[layer]]\n[[layer.copy]]\nsrc = "
                       "\"src/tree\"\nfollow_symlinks = true\n",
                       4, "r.toml:4:7: error: symlink loop: ");
    }
    SECTION("a hard link to nothing") {
        expect_failure("name = \"cli\"\n[[layer]]\n[[layer.files]]\npath = \"/a\"\ntype = "
                       "\"hardlink\"\ntarget = \"/b\"\n",
                       4, "hard link a points at b, which is not in this layer");
    }
    SECTION("a file below a symlink of the same layer") {
        expect_failure(
            "name = \"cli\"\n[[layer]]\n[[layer.files]]\npath = \"/etc\"\ntype = \"symlink\"\n"
            "target = \"/host-etc\"\n[[layer.files]]\npath = \"/etc/passwd\"\ncontent = \"x\"\n",
            4, "image path /etc/passwd lies below /etc, which this layer makes a symlink");
    }
    SECTION("a recipe that does not exist") {
        auto r = ocibake_run(dir, {"missing.toml"});
        CHECK(r.exit_code == 4);
        CHECK(r.err.find("missing.toml") != std::string::npos);
        CHECK(snapshot(dir / "out") == before);
        CHECK_FALSE(has_temp_leftovers(dir.path()));
    }
    SECTION("a bad --output") {
        auto r = ocibake_run(dir, {"r.toml", "-o", "oci:"});
        CHECK(r.exit_code == 2);
        CHECK(snapshot(dir / "out") == before);
        CHECK_FALSE(has_temp_leftovers(dir.path()));
    }
    SECTION("--json reports the error too") {
        write_file(recipe, "name = \"cli\"\n[[layer]]\n[[layer.copy]]\nsrc = \"src/nope\"\n");
        auto r = ocibake_run(dir, {"r.toml", "--json"});
        CHECK(r.exit_code == 4);
        json j = json::parse(r.out);
        CHECK(j["error"]["kind"] == "input");
        CHECK(j["error"]["message"].get<std::string>().find("does not exist") != std::string::npos);
    }
}

TEST_CASE("hostile recipes: refused with a location and the documented exit code, never a "
          "crash or a hang") {
    ScratchDir dir("hostile");
    fs::path recipe = good_recipe(dir);
    REQUIRE(ocibake_run(dir, {"r.toml"}).exit_code == 0);
    auto before = snapshot(dir / "out");
    // Under `timeout`: a command that hangs fails (124) instead of hanging the suite.
    auto ocibake = [&](std::vector<std::string> args) {
        std::vector<std::string> argv{"timeout", "60", ocibake::test::cli().string()};
        argv.insert(argv.end(), args.begin(), args.end());
        auto r = run(argv, {"OCIBAKE_CACHE_DIR=" + (dir / "cache").string(), "SOURCE_DATE_EPOCH="},
                     dir.path());
        INFO(r.err);
        CHECK(snapshot(dir / "out") == before);
        CHECK_FALSE(has_temp_leftovers(dir.path()));
        return r;
    };
    std::string parts = "a";
    for (int i = 1; i < 50000; ++i) {
        parts += ".a";
    }
    const std::string deep = "nested more than 128 levels deep (table headers, dotted keys, "
                             "arrays and inline tables together)";

    SECTION("a dotted key or a header of 50,000 parts: build, lock and test") {
        write_file(dir / "dotted.toml", "name = \"cli\"\n" + parts + " = 1\n");
        write_file(dir / "header.toml", "name = \"cli\"\n[[" + parts + "]]\n");
        for (std::string command : {"build", "lock", "test"}) {
            auto r = ocibake({command, "dotted.toml"});
            CHECK(r.exit_code == 3); // was 139 (SIGSEGV in toml++)
            CHECK(r.err.starts_with("dotted.toml:2:257: error: " + deep + "\n 2 | ...a.a"));
            r = ocibake({command, "header.toml"});
            CHECK(r.exit_code == 3);
            CHECK(r.err.starts_with("header.toml:2:259: error: " + deep + "\n"));
        }
    }
    // A recipe that reads its lock first (the source is never reached).
    write_file(dir / "keys/k.gpg", "");
    write_file(dir / "apt.toml", "name = \"cli\"\n[[apt.source]]\nurl = "
                                 "\"http://127.0.0.1:9/debian\"\nsuites = [\"bookworm\"]\n"
                                 "keyring = \"keys/k.gpg\"\n[[layer]]\npackages = [\"bash\"]\n");

    SECTION("a lock of 50,000 parts") {
        write_file(dir / "apt.lock", "version = 1\n[" + parts + "]\n");
        auto r = ocibake({"build", "apt.toml"});
        CHECK(r.exit_code == 3);
        CHECK(r.err.starts_with((dir / "apt.lock").string() + ":2:258: error: " + deep + "\n"));
        CHECK(r.err.ends_with("\nhint: the lock is made by `ocibake lock`; run it again\n"));
    }
    SECTION("a recipe, an include or a lock that is a FIFO") {
        REQUIRE(::mkfifo((dir / "fifo.toml").c_str(), 0644) == 0);
        auto r = ocibake({"build", "fifo.toml"});
        CHECK(r.exit_code == 4); // was: waits forever
        CHECK(r.err == "fifo.toml: error: cannot read recipe: it is a FIFO, not a regular file\n");
        write_file(dir / "inc.toml", "include = [\"fifo.toml\"]\n[[layer]]\n");
        r = ocibake({"build", "inc.toml"});
        CHECK(r.exit_code == 4);
        CHECK(r.err == "inc.toml:1:12: error: cannot read include 'fifo.toml': it is a FIFO, "
                       "not a regular file\n 1 | include = [\"fifo.toml\"]\n   |            ^\n");
        REQUIRE(::mkfifo((dir / "apt.lock").c_str(), 0644) == 0);
        for (std::string command : {"build", "lock"}) {
            r = ocibake({command, "apt.toml"});
            CHECK(r.exit_code == 4);
            CHECK(r.err == "ocibake: error: cannot read " + (dir / "apt.lock").string() +
                               ": it is a FIFO, not a regular file\n");
        }
    }
    SECTION("a recipe without layers and without a base") {
        write_file(dir / "empty.toml", "name = \"cli\"\n[config]\ncmd = [\"/bin/sh\"]\n");
        auto r = ocibake({"build", "empty.toml"});
        CHECK(r.exit_code == 3); // was 0, with a manifest of "layers": [] (schema: minItems 1)
        CHECK(r.err == "empty.toml: error: the image would have no layers: the recipe has no "
                       "[[layer]] and no base\nhint: add a [[layer]] (an empty one is enough), "
                       "or a [base]\n");
        write_file(dir / "one.toml", "name = \"cli\"\n[[layer]]\n");
        CHECK(ocibake({"build", "one.toml", "-o", "oci:one"}).exit_code == 0);
    }
    SECTION("a misspelt keyring, before anything is downloaded") {
        write_file(dir / "typo.toml", "name = \"cli\"\n[[apt.source]]\nurl = "
                                      "\"http://127.0.0.1:9/debian\"\nsuites = [\"bookworm\"]\n"
                                      "keyring = \"keys/debain.gpg\"\n[[layer]]\npackages = "
                                      "[\"bash\"]\n");
        for (std::string command : {"build", "lock"}) {
            auto r = ocibake({command, "typo.toml"});
            CHECK(r.exit_code == 4);
            CHECK(r.err == "typo.toml:5:11: error: cannot read keyring '" +
                               (dir / "keys/debain.gpg").string() +
                               "': No such file or directory\n 5 | keyring = "
                               "\"keys/debain.gpg\"\n   |           ^\nhint: a relative path "
                               "starts at the folder of the file that names it\n");
        }
    }
}

TEST_CASE("an unreadable input file is named (run as an unprivileged user)") {
    if (!ocibake::test::have_program("setpriv")) {
        FAIL("setpriv (util-linux) is needed for this test");
    }
    ScratchDir dir("unreadable");
    fs::permissions(dir.path(), fs::perms::all);
    good_recipe(dir);
    write_file(dir / "src/etc/secret", "no", 0600);
    fs::create_directories(dir / "cache");
    fs::permissions(dir / "cache", fs::perms::all);
    auto r = run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                  ocibake::test::cli().string(), "r.toml", "--cache-dir", (dir / "cache").string(),
                  "-o", "oci:out-nobody"},
                 {"HOME=/nonexistent"}, dir.path());
    CHECK(r.exit_code == 4);
    CHECK(r.err == "r.toml:12:7: error: cannot read " + (dir / "src/etc/secret").string() +
                       ": Permission denied\n 12 | src = \"src/etc\"\n    |       ^\n");
    CHECK_FALSE(fs::exists(dir / "out-nobody"));
    CHECK_FALSE(has_temp_leftovers(dir.path()));
}

TEST_CASE("progress is drawn on a terminal only") {
    ScratchDir dir("tty");
    good_recipe(dir);
    // `script` gives the child a pseudo-terminal.
    std::string cmd = "OCIBAKE_CACHE_DIR='" + (dir / "cache").string() + "' '" +
                      ocibake::test::cli().string() + "' '" + (dir / "r.toml").string() +
                      "' -o oci:'" + (dir / "o").string() + "'";
    auto tty = run({"script", "-qec", cmd, "/dev/null"});
    CHECK(tty.exit_code == 0);
    CHECK(tty.out.find("building ") != std::string::npos);
    auto pipe = ocibake_run(dir, {"r.toml", "-o", "oci:p"});
    CHECK(pipe.err.empty());
}

TEST_CASE("cache gc and cache dir") {
    ScratchDir dir("cache");
    good_recipe(dir);
    REQUIRE(ocibake_run(dir, {"r.toml"}).exit_code == 0);
    auto where = ocibake_run(dir, {"cache", "dir"});
    CHECK(where.out == (dir / "cache").string() + "\n");
    auto keep = ocibake_run(dir, {"cache", "gc"});
    CHECK(keep.exit_code == 0);
    CHECK(keep.out.find("removed 0 records, 0 blobs") == 0);
    auto dry =
        json::parse(ocibake_run(dir, {"cache", "gc", "--max-age", "0", "--dry-run", "--json"}).out);
    CHECK(dry["blobs_removed"].get<int>() >= 4);
    CHECK(dry["dry_run"] == true);
    auto all = ocibake_run(dir, {"cache", "gc", "--max-age", "0"});
    CHECK(all.out.find("removed ") == 0);
    CHECK(ocibake_run(dir, {"r.toml", "--json"}).out.find("\"layers_built\": 2") !=
          std::string::npos);
    auto bad = ocibake_run(dir, {"cache", "gc", "--max-age", "3w"});
    CHECK(bad.exit_code == 2);
    CHECK(bad.err == "ocibake: error: --max-age '3w' has an unknown unit (use s, m, h or d)\n");
}

TEST_CASE("builds running at once share one cache safely") {
    ScratchDir dir("concurrent");
    good_recipe(dir);
    // A layer big enough (16 MB that do not compress) for the builds to overlap.
    write_file(dir / "src/data/blob.bin", ocibake::test::pseudo_random(16 << 20, 3));
    write_file(dir / "r.toml",
               read_file(dir / "r.toml") +
                   "[[layer]]\nname = \"data\"\n[[layer.copy]]\nsrc = \"src/data\"\n"
                   "dst = \"/data\"\n");
    // Four builds of the same recipe at once, each into its own output, one cache: they
    // write the same blobs and records at the same time.
    std::vector<std::future<ocibake::test::CommandResult>> builds;
    for (int i = 0; i < 4; ++i) {
        builds.push_back(std::async(std::launch::async, [&dir, i] {
            return ocibake_run(dir,
                               {"build", "r.toml", "-q", "-o", "oci:out-" + std::to_string(i)});
        }));
    }
    std::set<std::string> digests;
    for (auto& b : builds) {
        auto r = b.get();
        INFO(r.err);
        CHECK(r.exit_code == 0);
        digests.insert(r.out);
    }
    CHECK(digests.size() == 1);
    // The cache holds only whole, correct blobs and no leftovers, and a build after them
    // finds every layer there.
    for (const auto& blob : fs::directory_iterator(dir / "cache/blobs/sha256")) {
        INFO(blob.path());
        CHECK("sha256:" + blob.path().filename().string() ==
              ocibake::sha256_of_file(blob.path()).str());
    }
    CHECK(fs::is_empty(dir / "cache/tmp"));
    auto again = ocibake_run(dir, {"r.toml"});
    CHECK(again.out.find("nothing to rebuild: all 3 layers were cached") != std::string::npos);
    CHECK(again.out.find(digests.begin()->substr(0, 71)) != std::string::npos);
}

TEST_CASE("a layer's memory does not grow with its size") {
    if (!ocibake::test::have_program("/usr/bin/time")) {
        FAIL("GNU time (/usr/bin/time, Debian package time) is needed for this test");
    }
    ScratchDir dir("memory");
    // Two trees of incompressible files, 64 MB and 256 MB, each built with gzip and zstd
    // (below some 64 MB zstd has not filled its bounded job buffers yet).
    auto tree = [&](const std::string& name, std::size_t files) {
        for (std::size_t i = 0; i < files; ++i) {
            write_file(dir / name / ("f" + std::to_string(i)),
                       ocibake::test::pseudo_random(8 << 20, 100 + i));
        }
    };
    tree("small", 8);
    tree("big", 32);
    std::map<std::string, long> rss; // KiB
    for (const std::string compression : {"gzip", "zstd"}) {
        for (const std::string size : {"small", "big"}) {
            write_file(dir / "m.toml", "name = \"m\"\n[build]\ncompression = \"" + compression +
                                           "\"\n[[layer]]\nname = \"data\"\n[[layer.copy]]\n"
                                           "src = \"" +
                                           size + "\"\ndst = \"/data\"\n");
            fs::remove_all(dir / "cache");
            auto r = run({"/usr/bin/time", "-f", "rss=%M", ocibake::test::cli().string(), "build",
                          "m.toml", "-q", "-o", "oci:out-" + compression + "-" + size},
                         {"OCIBAKE_CACHE_DIR=" + (dir / "cache").string()}, dir.path());
            INFO(r.err);
            REQUIRE(r.exit_code == 0);
            auto at = r.err.rfind("rss=");
            REQUIRE(at != std::string::npos);
            rss[compression + "-" + size] = std::stol(r.err.substr(at + 4));
        }
    }
    for (const auto& [run_name, kib] : rss) {
        WARN(run_name << ": peak RSS " << kib / 1024 << " MiB");
        CHECK(kib * 1024 < 100'000'000); // the issue's bound: 100 MB
    }
    // Four times the bytes, about the same memory.
    CHECK(rss["gzip-big"] < rss["gzip-small"] + 16 * 1024);
    CHECK(rss["zstd-big"] < rss["zstd-small"] + 16 * 1024);
}
