// Same recipe, same digest: two builds of one recipe from two copies of its input, with
// everything that must not matter changed between them (the recipe's directory, umask,
// the input's modes, mtimes and owners, TZ, the locale, HOME, the cache, the threads),
// give the same manifest digest, the same layout bytes and the same docker archive.
// And the layer cache says truthfully, per layer, what it did (--json "cache").
//
// `ctest -V -R test_reproducible` shows the digests.
#include "support/checks.hpp"
#include "support/json.hpp"
#include "support/support.hpp"

#include "ocibake/digest.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace ocibake::test;

std::string recipe_text(const std::string& compression) {
    return R"(name = "repro"
tag = "1.0"

[build]
compression = ")" +
           compression + R"("

[config]
entrypoint = ["/opt/app/bin/run"]
env = { LANG = "C.UTF-8", TZ = "UTC" }
labels = { "org.opencontainers.image.title" = "repro" }

[[layer]]
name = "tree"
copy = [{ src = "input", dst = "/opt/app" }]

[[layer]]
name = "data"
copy = [{ src = "data/blob.bin", dst = "/var/lib/app/blob.bin" },
        { src = "data/conf", dst = "/etc/app", uid = 1000, gid = 1000 }]

[[layer]]
name = "made"
  [[layer.files]]
  path = "/etc/motd"
  content = "hello\n"
  [[layer.files]]
  path = "/tmp"
  type = "dir"
  mode = 0o1777
)";
}

/// The original project, written by the test (umask and owners of the test process).
void make_project(const fs::path& root, const std::string& compression) {
    write_file(root / "recipe.toml", recipe_text(compression));
    write_file(root / "input/README.txt", "read me\n");
    write_file(root / "input/bin/run", "#!/bin/sh\nexec true\n", 0755);
    write_file(root / "input/nested/a/b/deep.txt", "deep\n");
    write_file(root / "input" / (std::string(130, 'l') + ".txt"), "long\n");
    write_file(root / "input/ünïcödé/日本語.txt", "utf-8\n");
    write_file(root / "input/hard/one", "twice\n");
    fs::create_hard_link(root / "input/hard/one", root / "input/hard/two");
    fs::create_directories(root / "input/empty");
    fs::create_symlink("../README.txt", root / "input/nested/rel");
    fs::create_symlink("/etc/hostname", root / "input/abs");
    // Several 1 MiB compression chunks, so that the threads have something to share.
    write_file(root / "data/blob.bin", pseudo_random(5 * 1024 * 1024 + 77, 0x5eed));
    write_file(root / "data/conf/app.conf", "key = value\n");
    // Directories 0755 whatever the umask ctest runs under (write_file sets files' modes).
    for (const auto& e : fs::recursive_directory_iterator(root)) {
        if (e.is_directory() && !e.is_symlink()) {
            fs::permissions(e.path(), fs::perms(0755));
        }
    }
}

/// How one build differs from the other.
struct Variant {
    std::string umask;   ///< for the copy of the input and for the build
    std::string mtime;   ///< `touch -d` date of every copied entry
    std::string owner;   ///< "uid:gid" for chown of the copy; "" = keep
    std::string tz;      ///< TZ
    std::string locale;  ///< LC_ALL
    std::string threads; ///< -j
    std::string epoch;   ///< SOURCE_DATE_EPOCH ("" = unset)
    fs::path cache;      ///< --cache-dir
    fs::path home;       ///< HOME
};

/// Copies `original` to `copy` under the variant's umask (cp without -p: the copies'
/// permission bits are the source's less the umask; hard links kept), then sets every
/// entry's mtime and owner.
void copy_project(const fs::path& original, const fs::path& copy, const Variant& v) {
    std::string script = "umask " + v.umask + " && mkdir -p \"$(dirname \"$2\")\"" +
                         " && cp -R --preserve=links \"$1\" \"$2\"" +
                         " && find \"$2\" -exec touch -h -d \"$3\" {} +";
    if (!v.owner.empty()) {
        script += " && chown -hR " + v.owner + " \"$2\"";
    }
    must({"/bin/sh", "-c", script, "sh", original.string(), copy.string(), v.mtime},
         {"TZ=" + v.tz});
}

std::vector<std::string> environment(const Variant& v) {
    return {"TZ=" + v.tz,
            "LC_ALL=" + v.locale,
            "HOME=" + v.home.string(),
            "SOURCE_DATE_EPOCH=" + v.epoch,
            "OCIBAKE_CACHE_DIR=",
            "XDG_CACHE_HOME="};
}

/// `ocibake build` of dir/recipe.toml under the variant's umask and environment, run from
/// `dir`; returns the digest it printed (-q).
std::string build(const fs::path& dir, const std::string& output, const Variant& v) {
    fs::create_directories(v.home);
    CommandResult r = must({"/bin/sh", "-c", "umask " + v.umask + " && exec \"$0\" \"$@\"",
                            cli().string(), "build", "recipe.toml", "-o", output, "--cache-dir",
                            v.cache.string(), "-j", v.threads, "-q"},
                           environment(v), dir);
    std::string digest = r.out.substr(0, r.out.find('\n'));
    REQUIRE(digest.size() == 71);
    return digest;
}

/// Every file of an image layout: relative path -> sha256 of its bytes.
std::map<std::string, std::string> layout_files(const fs::path& layout) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(layout)) {
        if (e.is_regular_file()) {
            out[e.path().lexically_relative(layout).string()] =
                ocibake::sha256_of_file(e.path()).str();
        }
    }
    return out;
}

json inspect(const std::string& image) {
    return must_json({cli().string(), "inspect", image, "--json"});
}

/// "mode uid:gid mtime" of a path, the mtime in UTC.
std::string stat_line(const fs::path& p) {
    CommandResult r = must({"stat", "-c", "%a %u:%g %y", p.string()}, {"TZ=UTC"});
    return r.out.substr(0, r.out.find('\n'));
}

} // namespace

TEST_CASE("the same recipe gives the same digest whatever else differs") {
    const std::string compression = GENERATE(as<std::string>{}, "gzip", "zstd");
    INFO("compression: " << compression);

    ScratchDir work("repro");
    const fs::path original = work / "original";
    make_project(original, compression);

    Variant one{.umask = "022",
                .mtime = "2001-02-03 04:05:06 UTC",
                .owner = "",
                .tz = "UTC",
                .locale = "C",
                .threads = "1",
                .epoch = "",
                .cache = work / "cache-1",
                .home = work / "home-1"};
    Variant two{.umask = "077",
                .mtime = "2024-06-07 08:09:10 UTC",
                .owner = "4242:4343",
                .tz = "Asia/Kathmandu",
                .locale = "C.UTF-8",
                .threads = "2",
                .epoch = "",
                .cache = work / "elsewhere/cache-2",
                .home = work / "home-2"};

    if (::geteuid() != 0) {
        // chown needs root; the other differences still apply.
        WARN("not root: both copies keep the caller as owner");
        two.owner = std::to_string(::getuid()) + ":" + std::to_string(::getgid());
    }
    const fs::path dir1 = work / "first/checkout";
    const fs::path dir2 = work / "second/a/much/deeper/checkout";
    copy_project(original, dir1, one);
    copy_project(original, dir2, two);

    // The copies really differ: modes (umask), mtimes, owners.
    CHECK(stat_line(dir1 / "input/README.txt") == "644 " + std::to_string(::getuid()) + ":" +
                                                      std::to_string(::getgid()) +
                                                      " 2001-02-03 04:05:06.000000000 +0000");
    CHECK(stat_line(dir2 / "input/README.txt") ==
          "600 " + two.owner + " 2024-06-07 08:09:10.000000000 +0000");
    CHECK(stat_line(dir1 / "input/bin/run").substr(0, 4) == "755 ");
    CHECK(stat_line(dir2 / "input/bin/run").substr(0, 4) == "700 ");
    CHECK(stat_line(dir1 / "input/empty").substr(0, 4) == "755 ");
    CHECK(stat_line(dir2 / "input/empty").substr(0, 4) == "700 ");

    const std::string d1 = build(dir1, "oci:" + (work / "out-1").string() + ":1.0", one);
    const std::string d2 = build(dir2, "oci:" + (work / "out-2").string() + ":1.0", two);
    std::cout << "reproducible [" << compression
              << "]: build 1 (umask 022, TZ=UTC, LC_ALL=C, -j 1) " << d1 << "\n"
              << "reproducible [" << compression
              << "]: build 2 (umask 077, TZ=Asia/Kathmandu, LC_ALL=C.UTF-8, -j 2) " << d2
              << std::endl;
    CHECK(d1 == d2);
    CHECK(layout_files(work / "out-1") == layout_files(work / "out-2"));

    // -j 4, with the first build's (warm) cache read through the second copy.
    Variant three = two;
    three.threads = "4";
    three.cache = one.cache;
    const std::string d3 = build(dir2, "oci:" + (work / "out-3").string() + ":1.0", three);
    std::cout << "reproducible [" << compression << "]: build 3 (-j 4, build 1's cache) " << d3
              << std::endl;
    CHECK(d3 == d1);
    // -j 4 with a cold cache, so that the layers are really compressed with 4 threads.
    three.cache = work / "cache-4";
    CHECK(build(dir1, "oci:" + (work / "out-4").string() + ":1.0", three) == d1);

    // The docker archive, each build from a cold cache of its own: the same bytes.
    one.cache = work / "cache-1-docker";
    two.cache = work / "cache-2-docker";
    const fs::path tar1 = work / "one.tar";
    const fs::path tar2 = work / "two.tar";
    CHECK(build(dir1, "docker-archive:" + tar1.string() + ":repro:1.0", one) == d1);
    CHECK(build(dir2, "docker-archive:" + tar2.string() + ":repro:1.0", two) == d1);
    CHECK(ocibake::sha256_of_file(tar1).str() == ocibake::sha256_of_file(tar2).str());
    CHECK(read_file(tar1) == read_file(tar2));

    json image = inspect("oci:" + (work / "out-1").string() + ":1.0");
    CHECK(image.at("config").at("created") == "1970-01-01T00:00:00Z");
}

TEST_CASE("the digest follows the content and SOURCE_DATE_EPOCH") {
    const std::string compression = GENERATE(as<std::string>{}, "gzip", "zstd");
    INFO("compression: " << compression);

    ScratchDir work("repro-change");
    const fs::path dir = work / "project";
    make_project(dir, compression);
    Variant v{.umask = "022",
              .mtime = "",
              .owner = "",
              .tz = "UTC",
              .locale = "C",
              .threads = "2",
              .epoch = "",
              .cache = work / "cache",
              .home = work / "home"};

    const std::string base = build(dir, "oci:" + (work / "base").string() + ":1.0", v);

    // One file's content (same size) changes the digest; changing it back restores it.
    write_file(dir / "input/nested/a/b/deep.txt", "DEEP\n");
    const std::string changed = build(dir, "oci:" + (work / "changed").string() + ":1.0", v);
    write_file(dir / "input/nested/a/b/deep.txt", "deep\n");
    const std::string restored = build(dir, "oci:" + (work / "restored").string() + ":1.0", v);

    // SOURCE_DATE_EPOCH from the environment.
    Variant dated = v;
    dated.epoch = "1700000000";
    dated.tz = "Asia/Kathmandu"; // "created" is UTC whatever the local zone
    const fs::path dated_layout = work / "dated";
    const std::string with_epoch = build(dir, "oci:" + dated_layout.string() + ":1.0", dated);

    std::cout << "digest [" << compression << "]: base " << base << ", content changed " << changed
              << ", restored " << restored << ", SOURCE_DATE_EPOCH=1700000000 " << with_epoch
              << std::endl;
    CHECK(changed != base);
    CHECK(restored == base);
    CHECK(with_epoch != base);

    json image = inspect("oci:" + dated_layout.string() + ":1.0");
    CHECK(image.at("config").at("created") == "2023-11-14T22:13:20Z");
    for (const auto& h : image.at("config").at("history")) {
        CHECK(h.at("created") == "2023-11-14T22:13:20Z");
    }
    // Every entry of every layer has that mtime (GNU tar reads zstd through zstd(1)).
    require_program("tar", "tar");
    require_program("zstd", "zstd");
    for (const auto& layer : image.at("manifest").at("layers")) {
        const std::string hex = layer.at("digest").get<std::string>().substr(7);
        CommandResult list =
            must({"tar", "--full-time", "-tvf", (dated_layout / "blobs/sha256" / hex).string()},
                 {"TZ=UTC", "LC_ALL=C"});
        REQUIRE_FALSE(list.out.empty());
        std::size_t lines = 0;
        std::size_t start = 0;
        while (start < list.out.size()) {
            std::size_t end = list.out.find('\n', start);
            std::string line = list.out.substr(start, end - start);
            INFO("tar line: " << line);
            CHECK(line.find(" 2023-11-14 22:13:20 ") != std::string::npos);
            ++lines;
            start = end == std::string::npos ? list.out.size() : end + 1;
        }
        CHECK(lines > 0);
    }

    // The same epoch, given in the recipe, gives the same image as the environment's.
    std::string text = read_file(dir / "recipe.toml");
    text.replace(text.find("[build]\n"), 8, "[build]\nsource_date_epoch = 1700000000\n");
    write_file(dir / "recipe.toml", text);
    CHECK(build(dir, "oci:" + (work / "dated-recipe").string() + ":1.0", v) == with_epoch);
}

namespace {

struct CacheReport {
    std::string digest;
    std::map<std::string, std::string> cache; ///< layer name -> "built" | "cached" | "verified"
    std::size_t layers_built = 0;
};

CacheReport build_json(const fs::path& dir, const fs::path& cache) {
    CommandResult r =
        must({cli().string(), "build", (dir / "recipe.toml").string(), "-o",
              "oci:" + (dir / "out").string() + ":1.0", "--cache-dir", cache.string(), "--json"},
             {"SOURCE_DATE_EPOCH="});
    INFO("output: " << r.out);
    json j = json::parse(r.out);
    CacheReport report;
    report.digest = j.at("digest");
    report.layers_built = j.at("layers_built");
    for (const auto& l : j.at("layers")) {
        report.cache[l.at("name")] = l.at("cache");
    }
    return report;
}

using Statuses = std::map<std::string, std::string>;

} // namespace

TEST_CASE("the layer cache reports built, cached and verified per layer (--json)") {
    ScratchDir work("repro-cache");
    const fs::path dir = work / "project";
    const fs::path cache = work / "cache";
    write_file(dir / "recipe.toml", R"(name = "cache-report"
tag = "1.0"

[[layer]]
name = "base"
copy = [{ src = "base", dst = "/" }]

[[layer]]
name = "app"
copy = [{ src = "app", dst = "/opt/app" }]

[[layer]]
name = "conf"
copy = [{ src = "conf/settings.conf", dst = "/etc/settings.conf" }]
)");
    write_file(dir / "base/etc/os-release", "ID=test\n");
    write_file(dir / "base/usr/bin/tool", "#!/bin/sh\n", 0755);
    write_file(dir / "app/main.py", "print('v1')\n");
    write_file(dir / "app/lib/util.py", "X = 1\n");
    write_file(dir / "conf/settings.conf", "debug = false\n");

    // First build: everything is written.
    CacheReport first = build_json(dir, cache);
    CHECK(first.cache == Statuses{{"base", "built"}, {"app", "built"}, {"conf", "built"}});
    CHECK(first.layers_built == 3);

    // Unchanged: nothing read, nothing written.
    CacheReport again = build_json(dir, cache);
    CHECK(again.cache == Statuses{{"base", "cached"}, {"app", "cached"}, {"conf", "cached"}});
    CHECK(again.layers_built == 0);
    CHECK(again.digest == first.digest);

    // Touched, same content: that layer is re-hashed and found the same.
    must({"touch", "-d", "2001-01-01 00:00:00", (dir / "app/main.py").string()});
    CacheReport touched = build_json(dir, cache);
    CHECK(touched.cache == Statuses{{"base", "cached"}, {"app", "verified"}, {"conf", "cached"}});
    CHECK(touched.layers_built == 0);
    CHECK(touched.digest == first.digest);

    // The verification was remembered: the next build reads nothing.
    CacheReport after_touch = build_json(dir, cache);
    CHECK(after_touch.cache == Statuses{{"base", "cached"}, {"app", "cached"}, {"conf", "cached"}});

    // One file's content changed (same size): exactly that layer is built.
    write_file(dir / "app/main.py", "print('v2')\n");
    CacheReport changed = build_json(dir, cache);
    CHECK(changed.cache == Statuses{{"base", "cached"}, {"app", "built"}, {"conf", "cached"}});
    CHECK(changed.layers_built == 1);
    CHECK(changed.digest != first.digest);

    // The whole project copied elsewhere (new inodes, mtimes and path), same cache: every
    // layer is re-hashed and verified, and the image is the same.
    const fs::path copy = work / "elsewhere/project-copy";
    fs::create_directories(copy.parent_path());
    must({"cp", "-R", dir.string(), copy.string()});
    fs::remove_all(copy / "out");
    CacheReport copied = build_json(copy, cache);
    std::cout << "cache report: first " << first.digest << ", changed " << changed.digest
              << ", copied " << copied.digest << std::endl;
    CHECK(copied.cache ==
          Statuses{{"base", "verified"}, {"app", "verified"}, {"conf", "verified"}});
    CHECK(copied.layers_built == 0);
    CHECK(copied.digest == changed.digest);
}
