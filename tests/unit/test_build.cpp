// Building recipes through the library: outputs, the layer cache report, atomic output,
// config merging over a base, gc.
#include <catch2/catch.hpp>

#include "bake/python_layers.hpp"
#include "ocibake/build.hpp"
#include "ocibake/lock.hpp"
#include "support/checks.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

using namespace ocibake;
using namespace ocibake::test;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// A recipe with three independent layers over files in dir/src.
fs::path three_layer_recipe(const ScratchDir& dir, const std::string& extra = "") {
    write_file(dir / "src/app/main.sh", "#!/bin/sh\necho main\n", 0755);
    write_file(dir / "src/app/lib.sh", "lib\n");
    write_file(dir / "src/data/table.csv", "a,b\n1,2\n");
    write_file(dir / "src/etc/app.conf", "x=1\n");
    return write_file(dir / "r.toml", R"(name = "demo"
tag = "1.0"
[config]
entrypoint = ["/app/main.sh"]
env = { APP = "demo" }
exposed_ports = ["8080"]
)" + extra + R"(
[[layer]]
name = "app"
[[layer.copy]]
src = "src/app"
dst = "/app"
[[layer]]
name = "data"
[[layer.copy]]
src = "src/data"
dst = "/data"
[[layer]]
name = "etc"
[[layer.copy]]
src = "src/etc"
dst = "/etc"
)");
}

BuildOptions options_for(const ScratchDir& dir, const std::string& output = "oci:out") {
    BuildOptions o;
    o.cache_dir = dir / "cache";
    o.output = OutputTarget::parse("oci:" + (dir / output.substr(4)).string());
    return o;
}

std::vector<std::string> leftovers(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        std::string name = e.path().filename().string();
        if (name.find(".tmp-") != std::string::npos) {
            out.push_back(name);
        }
    }
    return out;
}

} // namespace

TEST_CASE("a recipe builds into an OCI layout whose index names the tag") {
    ScratchDir dir("build");
    auto r = build(load_recipe(three_layer_recipe(dir)), options_for(dir));
    REQUIRE(r.layers.size() == 3);
    CHECK(r.layers_built() == 3);
    CHECK(r.layers[0].name == "app");
    CHECK(r.layers[0].entries == 3); // app/, app/lib.sh, app/main.sh

    json index = json::parse(read_file(dir / "out/index.json"));
    REQUIRE(index["manifests"].size() == 1);
    CHECK(index["manifests"][0]["digest"] == r.image.manifest_descriptor.digest.str());
    CHECK(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "1.0");
    CHECK(json::parse(read_file(dir / "out/oci-layout"))["imageLayoutVersion"] == "1.0.0");
    for (const auto& l : r.layers) {
        fs::path blob = dir / "out/blobs/sha256" / l.layer.descriptor.digest.hex();
        CHECK(fs::file_size(blob) == l.layer.descriptor.size);
    }
    json config =
        json::parse(read_file(dir / "out/blobs/sha256" / r.image.config_descriptor.digest.hex()));
    CHECK(config["created"] == "1970-01-01T00:00:00Z");
    CHECK(config["config"]["Entrypoint"] == json::array({"/app/main.sh"}));
    CHECK(config["config"]["ExposedPorts"].contains("8080/tcp"));
    CHECK(config["rootfs"]["diff_ids"].size() == 3);
    CHECK(config["history"].size() == 3);
    CHECK(config["history"][1]["created_by"] == "ocibake layer data");
}

TEST_CASE("rebuilds: nothing changed does no layer work — one change rebuilds one layer") {
    ScratchDir dir("rebuild");
    Recipe recipe = load_recipe(three_layer_recipe(dir));
    auto first = build(recipe, options_for(dir));
    auto second = build(recipe, options_for(dir));
    CHECK(second.layers_built() == 0);
    for (const auto& l : second.layers) {
        CHECK(l.cache == CacheStatus::hit);
    }
    CHECK(second.image.manifest_descriptor.digest == first.image.manifest_descriptor.digest);

    write_file(dir / "src/data/table.csv", "a,b\n3,4\n");
    auto third = build(load_recipe(dir / "r.toml"), options_for(dir));
    CHECK(third.layers_built() == 1);
    CHECK(third.layers[0].cache == CacheStatus::hit);
    CHECK(third.layers[1].cache == CacheStatus::built);
    CHECK(third.layers[2].cache == CacheStatus::hit);
    CHECK(third.image.manifest_descriptor.digest != first.image.manifest_descriptor.digest);
}

TEST_CASE("thread counts and parallel layers never change the digest") {
    ScratchDir a("par-a"), b("par-b");
    auto oa = options_for(a);
    oa.threads = 1;
    auto ob = options_for(b);
    ob.threads = 4;
    auto ra = build(load_recipe(three_layer_recipe(a, "[build]\ncompression = \"zstd\"\n")), oa);
    auto rb = build(load_recipe(three_layer_recipe(b, "[build]\ncompression = \"zstd\"\n")), ob);
    CHECK(ra.image.manifest_descriptor.digest == rb.image.manifest_descriptor.digest);
}

TEST_CASE("a failed build leaves the previous output as it was and no temp files") {
    ScratchDir dir("atomic");
    fs::path recipe = three_layer_recipe(dir);
    build(load_recipe(recipe), options_for(dir));
    auto before = snapshot(dir / "out");

    fs::remove(dir / "src/etc/app.conf");
    fs::remove(dir / "src/etc");
    Caught e = error_of([&] { build(load_recipe(recipe), options_for(dir)); });
    CHECK(e.kind == ErrorKind::input);
    const std::string& msg = e.what;
    INFO(msg);
    // Named at the recipe's src value, with the line and a caret.
    CHECK(msg.find(recipe.string() + ":21:7: error: " + (dir / "src/etc").string() +
                   " does not exist") == 0);
    CHECK(msg.find("\n 21 | src = \"src/etc\"\n    |       ^") != std::string::npos);
    CHECK(snapshot(dir / "out") == before);
    CHECK(leftovers(dir.path()).empty());
    CHECK(fs::is_empty(dir / "cache/tmp"));
}

TEST_CASE("outputs never clobber what is not ours") {
    ScratchDir dir("clobber");
    fs::path recipe = three_layer_recipe(dir);
    write_file(dir / "precious/notes.txt", "do not delete");
    auto o = options_for(dir, "oci:precious");
    std::string msg = error_of([&] { build(load_recipe(recipe), o); }).what;
    CHECK(msg == "refusing to replace " + (dir / "precious").string() +
                     ": it exists and is not an OCI layout");
    CHECK(read_file(dir / "precious/notes.txt") == "do not delete");

    BuildOptions archive;
    archive.cache_dir = dir / "cache";
    archive.output = OutputTarget::parse("docker-archive:" + (dir / "precious").string());
    CHECK(error_of([&] { build(load_recipe(recipe), archive); }).what ==
          "refusing to replace " + (dir / "precious").string() + ": it is a directory");
}

TEST_CASE("docker-archive output holds the config, plain layers and manifest.json") {
    ScratchDir dir("archive");
    BuildOptions o;
    o.cache_dir = dir / "cache";
    o.output = OutputTarget::parse("docker-archive:" + (dir / "img.tar").string());
    auto r = build(load_recipe(three_layer_recipe(dir)), o);
    auto list = ocibake::test::sh("tar -tf '" + (dir / "img.tar").string() + "'");
    REQUIRE(list.exit_code == 0);
    CHECK(list.out.find(r.image.config_descriptor.digest.hex() + ".json\n") != std::string::npos);
    for (const auto& l : r.layers) {
        CHECK(list.out.find(l.layer.diff_id.hex() + ".tar\n") != std::string::npos);
    }
    auto manifest =
        ocibake::test::sh("tar -xOf '" + (dir / "img.tar").string() + "' manifest.json");
    json m = json::parse(manifest.out);
    CHECK(m[0]["RepoTags"] == json::array({"demo:1.0"}));
    CHECK(m[0]["Layers"].size() == 3);

    ImageInfo info = inspect_image("docker-archive:" + (dir / "img.tar").string());
    CHECK(info.config.diff_ids == r.image.config.diff_ids);
    CHECK(info.uncompressed_sizes[0] == r.layers[0].layer.uncompressed_size);
}

TEST_CASE("a local OCI layout as the base: layers reused, config merged as Docker would") {
    ScratchDir dir("base");
    write_file(dir / "base/usr/bin/tool", "tool", 0755);
    write_file(dir / "base.toml", R"(name = "base"
tag = "b1"
[config]
entrypoint = ["/usr/bin/tool"]
cmd = ["--help"]
env = { PATH = "/usr/bin", KEEP = "1" }
labels = { a = "1", b = "2" }
exposed_ports = ["22"]
volumes = ["/data"]
user = "daemon"
[[layer]]
name = "tool"
[[layer.copy]]
src = "base"
)");
    auto base = build(load_recipe(dir / "base.toml"), options_for(dir, "oci:base-image"));

    write_file(dir / "app/app.txt", "app");
    write_file(dir / "app.toml", R"(name = "app"
[base]
image = "oci:base-image:b1"
[config]
entrypoint = ["/bin/app"]
env = { PATH = "/opt/bin:/usr/bin", NEW = "2" }
labels = { b = "3" }
exposed_ports = ["8888"]
[[layer]]
name = "app"
[[layer.copy]]
src = "app"
dst = "/opt"
)");
    auto app = build(load_recipe(dir / "app.toml"), options_for(dir, "oci:app-image"));
    REQUIRE(app.layers.size() == 2);
    CHECK(app.layers[0].from_base);
    CHECK(app.layers[0].layer.descriptor.digest == base.layers[0].layer.descriptor.digest);
    CHECK(app.image.manifest.layers[0].digest == base.image.manifest.layers[0].digest);
    const auto& c = app.image.config.config;
    CHECK(c.env == std::vector<std::string>{"KEEP=1", "PATH=/opt/bin:/usr/bin", "NEW=2"});
    CHECK(c.entrypoint == std::vector<std::string>{"/bin/app"});
    CHECK_FALSE(c.cmd.has_value()); // ENTRYPOINT resets an inherited CMD
    CHECK(c.labels == std::map<std::string, std::string>{{"a", "1"}, {"b", "3"}});
    CHECK(c.exposed_ports == std::vector<std::string>{"22/tcp", "8888/tcp"});
    CHECK(c.volumes == std::vector<std::string>{"/data"});
    CHECK(c.user == "daemon");
    REQUIRE(app.image.config.history.size() == 2);
    CHECK(app.image.config.history[0].created_by == "ocibake layer tool");
    CHECK(app.image.config.history[1].created_by == "ocibake layer app");

    SECTION("errors name the base") {
        write_file(dir / "bad.toml", "[base]\nimage = \"oci:base-image:nope\"\n");
        std::string msg =
            error_of([&] { build(load_recipe(dir / "bad.toml"), options_for(dir, "oci:x")); }).what;
        CHECK(msg.find((dir / "bad.toml").string() + ":2:9: error: OCI layout " +
                       (dir / "base-image").string() + " has no image tagged 'nope' (tags: b1)") ==
              0);
        write_file(dir / "arm.toml",
                   "platform = \"linux/arm64\"\n[base]\nimage = \"oci:base-image\"\n");
        msg =
            error_of([&] { build(load_recipe(dir / "arm.toml"), options_for(dir, "oci:y")); }).what;
        CHECK(msg.find("is for linux/amd64, not linux/arm64") != std::string::npos);
        write_file(dir / "none.toml", "[base]\nimage = \"oci:no-such-dir\"\n");
        msg = error_of([&] {
                  build(load_recipe(dir / "none.toml"), options_for(dir, "oci:z"));
              }).what;
        CHECK(msg.find((dir / "no-such-dir").string() +
                       " is not an OCI image layout (it has no oci-layout file)") !=
              std::string::npos);
    }
}

TEST_CASE("cache gc keeps what recent builds use and drops the rest") {
    ScratchDir dir("gc");
    build(load_recipe(three_layer_recipe(dir)), options_for(dir));
    GcOptions keep;
    auto kept = collect_garbage(dir / "cache", keep);
    CHECK(kept.blobs_removed == 0);
    CHECK(kept.blobs_kept >= 5); // 3 layers, config, manifest

    // Rebuilding after a gc that kept everything is still fully cached.
    auto again = build(load_recipe(dir / "r.toml"), options_for(dir));
    CHECK(again.layers_built() == 0);

    GcOptions all;
    all.max_age = std::chrono::seconds(0);
    auto dropped = collect_garbage(dir / "cache", all);
    CHECK(dropped.blobs_kept == 0);
    CHECK(dropped.blobs_removed >= 5);
    // The output kept its own copies (hard links) of the blobs.
    CHECK(fs::exists(dir / "out/blobs/sha256" / again.image.manifest_descriptor.digest.hex()));
    auto after = build(load_recipe(dir / "r.toml"), options_for(dir));
    CHECK(after.layers_built() == 3);
    CHECK(after.image.manifest_descriptor.digest == again.image.manifest_descriptor.digest);
}

TEST_CASE("an apt layer's python3.X and libc6 tell a later Python layer its target") {
    LockedAptLayer layer;
    auto add = [&](std::string name, std::string version) {
        LockedPackage p;
        p.name = std::move(name);
        p.version = std::move(version);
        layer.installs.push_back(p);
    };
    add("libc6", "2.36-9+deb12u7");
    add("python3.11-minimal", "3.11.2-6+deb12u2");
    add("python3.11", "3.11.2-6+deb12u2");
    add("python3-minimal", "3.11.2-1+b1");
    add("python3.11-venv", "3.11.2-6+deb12u2");
    add("libpython3.11-stdlib", "3.11.2-6+deb12u2");
    python::ImageFacts f = detail::facts_of_packages(layer);
    CHECK(f.pythons == std::map<std::string, std::string>{{"3.11", "/usr/bin/python3.11"}});
    CHECK(f.dist_packages);
    REQUIRE(f.glibc);
    CHECK(f.glibc->major == 2);
    CHECK(f.glibc->minor == 36);

    LockedAptLayer none;
    python::ImageFacts empty = detail::facts_of_packages(none);
    CHECK(empty.pythons.empty());
    CHECK_FALSE(empty.glibc);
    CHECK_FALSE(empty.dist_packages);
}

TEST_CASE("independent layers build at the same time") {
    ScratchDir dir("concurrent-layers");
    for (const std::string name : {"one", "two"}) {
        for (int i = 0; i < 4; ++i) {
            write_file(
                dir / name / ("f" + std::to_string(i)),
                ocibake::test::pseudo_random(8 << 20, static_cast<std::uint64_t>(i + name.size())));
        }
    }
    fs::path recipe =
        write_file(dir / "r.toml",
                   "name = \"two\"\n[build]\ncompression = \"zstd\"\n"
                   "[[layer]]\nname = \"one\"\n[[layer.copy]]\nsrc = \"one\"\ndst = \"/one\"\n"
                   "[[layer]]\nname = \"two\"\n[[layer.copy]]\nsrc = \"two\"\ndst = \"/two\"\n");
    // What the build reports, in order: each layer's start and end.
    struct Events : ocibake::Progress {
        std::mutex mutex;
        std::vector<std::string> seen;
        void layer_started(std::string_view name, std::uint64_t) override {
            std::lock_guard lock(mutex);
            seen.push_back("start " + std::string(name));
        }
        void layer_finished(std::string_view name) override {
            std::lock_guard lock(mutex);
            seen.push_back("end " + std::string(name));
        }
    } events;
    auto o = options_for(dir);
    o.threads = 2;
    o.progress = &events;
    auto r = build(load_recipe(recipe), o);
    CHECK(r.layers_built() == 2);
    std::string order;
    for (const auto& e : events.seen) {
        order += e + "; ";
    }
    INFO(order);
    REQUIRE(events.seen.size() == 4);
    // Both started before either ended (32 MB each: well over the time a start takes).
    CHECK(events.seen[0].starts_with("start "));
    CHECK(events.seen[1].starts_with("start "));
}

// ---- the lock file's checks (issue 12): what a lock says is checked when it is read ------

namespace {

/// A [[python]] entry as `ocibake lock` writes it (one wheel by URL, one by path).
const std::string python_entry = R"(version = 1

[[python]]
layer = "app"
python = "3.11"
glibc = "2.36"
machine = "x86_64"

  [[python.wheel]]
  name = "ocibake-demo"
  version = "1.0"
  file = "ocibake_demo-1.0-py3-none-any.whl"
  url = "https://files.example/ocibake_demo-1.0-py3-none-any.whl"
  size = 1234
  sha256 = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
  direct = true

  [[python.wheel]]
  name = "ocibake-fastmath"
  version = "0.1"
  file = "ocibake_fastmath-0.1-cp311-cp311-linux_x86_64.whl"
  path = "wheels/ocibake_fastmath-0.1-cp311-cp311-linux_x86_64.whl"
  size = 0
  sha256 = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)";

/// The first line `from` of `text` replaced by `to`.
std::string replaced(const std::string& text, const std::string& from, const std::string& to) {
    std::size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.substr(0, at) + to + text.substr(at + from.size());
}

/// The RecipeError of parse_lock (summary and location "line:col").
std::pair<std::string, std::string> lock_error(const std::string& text) {
    try {
        parse_lock(text, "x.lock");
    } catch (const RecipeError& e) {
        CHECK(e.kind() == ErrorKind::recipe);
        CHECK(e.hint().starts_with("run `ocibake lock`"));
        return {e.summary(),
                std::to_string(e.where().line) + ":" + std::to_string(e.where().column)};
    }
    return {"(no error)", ""};
}

} // namespace

TEST_CASE("every lock of the repository reads, and writes back byte for byte") {
    for (const char* name : {"recipes/debian-pytorch.lock", "tests/gpu/debian-cuda.lock"}) {
        INFO(name);
        std::string text = read_file(test::source_dir() / name);
        Lock lock = parse_lock(text, name);
        CHECK(!lock.apt.empty());
        std::string first = text.substr(text.find("for ") + 4);
        first = first.substr(0, first.find(':'));
        CHECK(to_text(lock, first) == text);
    }
    Lock python = parse_lock(python_entry, "x.lock");
    REQUIRE(python.python.size() == 1);
    CHECK(python.python[0].wheels.size() == 2);
    CHECK(python.python[0].wheels[1].path ==
          "wheels/ocibake_fastmath-0.1-cp311-cp311-linux_x86_64.whl");
    CHECK(to_text(python, "x.toml")
              .ends_with(python_entry.substr(python_entry.find("\n[[python]]"))));
}

TEST_CASE("a [[python]] entry that is not what it claims is refused at the value") {
    using Case = std::tuple<std::string, std::string, std::string, std::string>;
    const std::string wheel_a = "ocibake_demo-1.0-py3-none-any.whl";
    for (const auto& [from, to, summary, where] : std::vector<Case>{
             {"layer = \"app\"", "layer = 1", "'layer' must be a string, not 1", "4:9"},
             {"layer = \"app\"", "layer = \"\"", "'layer' must not be empty", "4:9"},
             {"python = \"3.11\"", "python = 3.11", "'python' must be a string, not a float",
              "5:10"},
             {"python = \"3.11\"", "python = \"3\"",
              "'python' '3' is not MAJOR.MINOR (e.g. \"3.11\")", "5:10"},
             {"glibc = \"2.36\"", "glibc = \"2.x\"",
              "'glibc' '2.x' is not MAJOR.MINOR (e.g. \"3.11\")", "6:9"},
             {"machine = \"x86_64\"", "machine = \"x86 64\"",
              "'machine' 'x86 64' is not a machine name (e.g. x86_64, aarch64)", "7:11"},
             {"  name = \"ocibake-demo\"", "  name = \"ocibake_demo\"",
              "'name' 'ocibake_demo' is not the name of " + wheel_a + " ('ocibake-demo')", "10:10"},
             {"  version = \"1.0\"", "  version = \"1.1\"",
              "'version' '1.1' is not the version of " + wheel_a + " ('1.0')", "11:13"},
             {"  file = \"" + wheel_a + "\"", "  file = \"demo.zip\"",
              "'file' 'demo.zip' is not a wheel's file name", "12:10"},
             {"  url = \"https://files", "  url = \"file:///files",
              "'url' 'file:///files.example/ocibake_demo-1.0-py3-none-any.whl' is not an http:// "
              "or https:// URL",
              "13:9"},
             {"  size = 1234", "  size = -5", "'size' must be an integer, 0 or more, not -5",
              "14:10"},
             {"  size = 1234", "  size = \"1234\"",
              "'size' must be an integer, 0 or more, not '1234'", "14:10"},
             {"  sha256 = \"sha256:aaaa", "  sha256 = \"sha256:AAAA",
              "'sha256' 'sha256:AAAAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' "
              "is "
              "not a sha256 digest (\"sha256:\" and 64 lowercase hex digits)",
              "15:12"},
             {"  direct = true", "  direct = \"yes\"", "'direct' must be true or false, not 'yes'",
              "16:12"},
             {"  path = \"wheels/", "  path = \"/wheels/",
              "'path' '/wheels/ocibake_fastmath-0.1-cp311-cp311-linux_x86_64.whl' must be "
              "relative to the lock file's folder",
              "22:10"},
             {"  path = \"wheels/", "  direct = true\n  path = \"wheels/",
              "'direct' is for a wheel named by a URL, and this one has a 'path'", "22:12"},
             {"  path = \"wheels/", "  url = \"https://h/x.whl\"\n  path = \"wheels/",
              "[[python.wheel]] needs one of 'url' and 'path'", "18:3"},
             {"  size = 0\n", "  size = 0\n  signature = \"x\"\n",
              "unknown key 'signature' in [[python.wheel]]", "24:3"},
             {"machine = \"x86_64\"\n", "machine = \"x86_64\"\nplatform = \"linux\"\n",
              "unknown key 'platform' in [[python]]", "8:1"},
             {"  file = \"ocibake_fastmath", "  file = \"ocibake_fastmath", "(no error)",
              ""}, // the unmutated text reads
         }) {
        INFO(to);
        CHECK(lock_error(replaced(python_entry, from, to)) == std::pair(summary, where));
    }
    // Entries twice.
    std::string wheel = python_entry.substr(python_entry.find("  [[python.wheel]]"));
    wheel = wheel.substr(0, wheel.find("\n\n  [[python.wheel]]") + 1);
    CHECK(lock_error(python_entry + "\n" + wheel) ==
          std::pair(std::string("wheel 'ocibake-demo' is pinned twice for layer 'app' (first at "
                                "x.lock:9:3)"),
                    std::string("26:3")));
    std::string entry = python_entry.substr(python_entry.find("[[python]]"));
    CHECK(lock_error(python_entry + "\n" + entry) ==
          std::pair(std::string("layer 'app' has two [[python]] entries (first at x.lock:3:1)"),
                    std::string("26:1")));
    // Tables where tables belong.
    CHECK(lock_error("version = 1\npython = 1\n") ==
          std::pair(std::string("'python' must be an array of tables ([[python]]), not 1"),
                    std::string("2:10")));
    CHECK(lock_error("version = 1\nbase = \"x\"\n") ==
          std::pair(std::string("'base' must be a table ([base])"), std::string("2:8")));
    CHECK(
        lock_error("version = 1\napt = [1]\n") ==
        std::pair(std::string("'apt' must hold only tables ([[apt]]), not 1"), std::string("2:8")));
}

TEST_CASE("a [base] entry that is not what it claims is refused at the value") {
    const std::string base = "version = 1\n\n[base]\nref = \"docker.io/library/debian:12\"\n"
                             "platform = \"linux/amd64\"\nmanifest = \"sha256:" +
                             std::string(64, 'c') + "\"\n";
    CHECK(lock_error(base) == std::pair(std::string("(no error)"), std::string()));
    CHECK(lock_error(replaced(base, "docker.io/library/debian:12", "debian:12")) ==
          std::pair(std::string("'ref' 'debian:12' is not a normalised image reference (e.g. "
                                "\"docker.io/library/debian:12\")"),
                    std::string("4:7")));
    CHECK(lock_error(replaced(base, "linux/amd64", "linux")) ==
          std::pair(std::string("'platform' 'linux' is not a platform (os/arch[/variant])"),
                    std::string("5:12")));
    CHECK(lock_error(replaced(base, "manifest = \"sha256:", "manifest = \"sha1:")).first ==
          "'manifest' 'sha1:" + std::string(64, 'c') +
              "' is not a sha256 digest (\"sha256:\" and 64 lowercase hex digits)");
    CHECK(lock_error(replaced(base, "[base]\n", "[base]\nindex = \"\"\n")) ==
          std::pair(std::string("'index' must not be empty"), std::string("4:9")));
    CHECK(lock_error(replaced(base, "[base]\n", "[base]\ndigest = \"\"\n")) ==
          std::pair(std::string("unknown key 'digest' in [base]"), std::string("4:1")));
}

TEST_CASE("an image has at least one layer: a recipe without any is refused, at the recipe") {
    ScratchDir dir("no-layers");
    write_file(dir / "empty.toml", "name = \"e\"\n[config]\ncmd = [\"/bin/sh\"]\n");
    // image-spec: a manifest's "layers" has at least one item; `[]` is refused by its schema.
    Caught e = error_of([&] { build(load_recipe(dir / "empty.toml"), options_for(dir)); });
    CHECK(e.what ==
          (dir / "empty.toml").string() +
              ": error: the image would have no layers: the recipe has no [[layer]] and no "
              "base\nhint: add a [[layer]] (an empty one is enough), or a [base]");
    CHECK(e.kind == ErrorKind::recipe);
    CHECK_FALSE(fs::exists(dir / "out"));

    // A base with layers and no layers of the recipe's own: fine, the base's are there.
    write_file(dir / "src/f", "f");
    write_file(dir / "base.toml", "name = \"base\"\n[[layer]]\n[[layer.copy]]\nsrc = \"src\"\n");
    build(load_recipe(dir / "base.toml"), options_for(dir, "oci:base-image"));
    write_file(dir / "app.toml", "name = \"app\"\n[base]\nimage = \"oci:base-image\"\n");
    auto r = build(load_recipe(dir / "app.toml"), options_for(dir));
    CHECK(r.image.layers.size() == 1);

    // A base without layers (made by hand: ocibake writes none) and no layers either.
    auto blob = [&](const std::string& text) {
        Digest d = sha256_of(text);
        write_file(dir / "bare/blobs/sha256" / d.hex(), text);
        return "{\"mediaType\":\"\",\"digest\":\"" + d.str() +
               "\",\"size\":" + std::to_string(text.size());
    };
    std::string config = blob("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
                              "\"layers\",\"diff_ids\":[]},\"config\":{}}");
    config.replace(config.find("\"\""), 2, "\"application/vnd.oci.image.config.v1+json\"");
    std::string manifest = blob("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image."
                                "manifest.v1+json\",\"config\":" +
                                config + "},\"layers\":[]}");
    manifest.replace(manifest.find("\"\""), 2, "\"application/vnd.oci.image.manifest.v1+json\"");
    write_file(dir / "bare/index.json",
               "{\"schemaVersion\":2,\"manifests\":[" + manifest +
                   ",\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}");
    write_file(dir / "bare/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
    write_file(dir / "on-bare.toml", "name = \"app\"\n[base]\nimage = \"oci:bare\"\n");
    CHECK(error_of([&] { build(load_recipe(dir / "on-bare.toml"), options_for(dir)); }).what ==
          (dir / "on-bare.toml").string() +
              ":3:9: error: the image would have no layers: the base has none, and the recipe "
              "has no [[layer]]\n 3 | image = \"oci:bare\"\n   |         ^\nhint: add a "
              "[[layer]] (an empty one is enough)");
}

TEST_CASE("SOURCE_DATE_EPOCH: the flag before the variable and each named when it is bad") {
    ::unsetenv("SOURCE_DATE_EPOCH");
    CHECK_FALSE(source_date_epoch_of("").has_value());
    CHECK(source_date_epoch_of("1700000000") == 1700000000);
    ::setenv("SOURCE_DATE_EPOCH", "42", 1);
    CHECK(source_date_epoch_of("") == 42);
    CHECK(source_date_epoch_of("7") == 7); // the flag wins
    ::setenv("SOURCE_DATE_EPOCH", "", 1);
    CHECK_FALSE(source_date_epoch_of("").has_value()); // empty is unset
    ::setenv("SOURCE_DATE_EPOCH", "yesterday", 1);
    Caught e = error_of([] { source_date_epoch_of(""); });
    CHECK(e.what == "SOURCE_DATE_EPOCH='yesterday' is not a non-negative integer");
    CHECK(e.kind == ErrorKind::usage);
    ::unsetenv("SOURCE_DATE_EPOCH");
    CHECK(error_of([] { source_date_epoch_of("-1"); }).what ==
          "--source-date-epoch '-1' is not a non-negative integer");
    CHECK(error_of([] { source_date_epoch_of("12x"); }).what ==
          "--source-date-epoch '12x' is not a non-negative integer");
    CHECK(error_of([] { source_date_epoch_of("99999999999999999999"); }).what ==
          "--source-date-epoch '99999999999999999999' is not a non-negative integer");
}

TEST_CASE("the default output is oci:out/NAME for build and pull") {
    OutputTarget t = OutputTarget::default_for("hello");
    CHECK(t.str() == "oci:out/hello");
    CHECK(t.kind == OutputTarget::Kind::oci_layout);
    CHECK(t.path == fs::path("out/hello"));
}
