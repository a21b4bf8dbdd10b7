// Tests of the recipe module: TOML -> the checked model, includes and merging, and the
// exact text of the errors users meet.

#include "ocibake/recipe.hpp"

#include "common/toml.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <future>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace fs = std::filesystem;
using ocibake::CopyItem;
using ocibake::EntryType;
using ocibake::ErrorKind;
using ocibake::FileItem;
using ocibake::Recipe;
using ocibake::RecipeError;
using namespace ocibake::test;

namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;
using Strings = std::vector<std::string>;

/// The RecipeError that `load` throws (the test fails when it throws nothing).
template <typename Load>
RecipeError error_from(Load&& load) {
    try {
        load();
    } catch (const RecipeError& e) {
        return e;
    }
    FAIL("no RecipeError was thrown");
    throw std::logic_error("unreachable");
}

/// The error of loading `text` written as dir/recipe.toml.
RecipeError error_for(const ScratchDir& dir, std::string_view text) {
    fs::path file = write_file(dir / "recipe.toml", text);
    return error_from([&] { ocibake::load_recipe(file); });
}

/// The summary of that error (kind recipe).
std::string summary_for(const ScratchDir& dir, std::string_view text) {
    RecipeError e = error_for(dir, text);
    CHECK(e.kind() == ErrorKind::recipe);
    return e.summary();
}

/// Changes the working directory for a scope.
class CurrentDir {
public:
    explicit CurrentDir(const fs::path& dir) : previous_(fs::current_path()) {
        fs::current_path(dir);
    }
    ~CurrentDir() { fs::current_path(previous_); }
    CurrentDir(const CurrentDir&) = delete;
    CurrentDir& operator=(const CurrentDir&) = delete;

private:
    fs::path previous_;
};

Recipe load_text(const ScratchDir& dir, std::string_view text) {
    return ocibake::load_recipe(write_file(dir / "recipe.toml", text));
}

} // namespace

TEST_CASE("a full recipe is read into the model", "[recipe]") {
    ScratchDir dir("recipe");
    fs::path file = write_file(dir / "recipes/full.toml", R"(name = "ml/hello"
tag = "v1.2"
platform = "linux/arm64/v8"

[base]
image = "oci:../images/base:22.04"

[build]
compression = "zstd"
level = 9
source_date_epoch = 1700000000

[config]
entrypoint = ["/bin/sh", "-c"]
cmd = ["echo hi"]
env = { PATH = "/usr/bin:/bin", LANG = "C.UTF-8" }
user = "1000:1000"
workdir = "/workspace"
stop_signal = "SIGTERM"
exposed_ports = ["8888", "22/tcp", 53, "53/udp", "22"]
volumes = ["/workspace", "/data", "/workspace"]
labels = { "org.opencontainers.image.title" = "hello", "a.b" = "c" }
author = "Jane <jane@example.com>"

[[layer]]
name = "app"
comment = "the application"
compression = "gzip"
level = 12

  [[layer.copy]]
  src = "../rootfs/"
  dst = "/opt/app"
  include = ["**/*.py"]
  exclude = ["**/__pycache__"]
  mode = 0o644
  dir_mode = "0755"
  uid = 1000
  gid = 100
  preserve_modes = true
  xattrs = true
  follow_symlinks = true

  [[layer.files]]
  path = "/etc/motd"
  content = "hello\n"
  mode = 0o600
  uid = 1
  gid = 2

  [[layer.files]]
  path = "/etc/issue"
  src = "issue.txt"

  [[layer.files]]
  path = "/var/empty"
  type = "dir"
  mode = "0700"

  [[layer.files]]
  path = "/usr/bin/python"
  type = "symlink"
  target = "python3"

  [[layer.files]]
  path = "/usr/bin/python3.11"
  type = "hardlink"
  target = "/usr/bin/python3"

  [[layer.files]]
  path = "/run/fifo"
  type = "fifo"
  mode = 0o620

[[layer]]
)");
    Recipe r = ocibake::load_recipe(file);
    const std::string shown = file.string();

    CHECK(r.file == file);
    CHECK(r.sources == std::vector<fs::path>{file});
    CHECK(r.name == "ml/hello");
    CHECK(r.tag == "v1.2");
    CHECK(r.platform.os == "linux");
    CHECK(r.platform.architecture == "arm64");
    CHECK(r.platform.variant == "v8");

    CHECK(r.base.image == "oci:../images/base:22.04");
    CHECK_FALSE(r.base.scratch());
    CHECK(r.base.layout == dir.path() / "images/base");
    CHECK(r.base.tag == "22.04");
    CHECK(r.base.where.str() == shown + ":6:9");

    CHECK(r.build.compression == ocibake::Compression::zstd);
    CHECK(r.build.level == 9);
    CHECK(r.build.source_date_epoch == 1700000000);

    const auto& c = r.config;
    CHECK(c.entrypoint == Strings{"/bin/sh", "-c"});
    CHECK(c.cmd == Strings{"echo hi"});
    CHECK(c.env == Pairs{{"LANG", "C.UTF-8"}, {"PATH", "/usr/bin:/bin"}});
    CHECK(c.user == "1000:1000");
    CHECK(c.workdir == "/workspace");
    CHECK(c.stop_signal == "SIGTERM");
    CHECK(c.exposed_ports == Strings{"22/tcp", "53/tcp", "53/udp", "8888/tcp"});
    CHECK(c.volumes == Strings{"/data", "/workspace"});
    CHECK(c.labels == Pairs{{"a.b", "c"}, {"org.opencontainers.image.title", "hello"}});
    CHECK(c.author == "Jane <jane@example.com>");

    REQUIRE(r.layers.size() == 2);
    const auto& app = r.layers[0];
    CHECK(app.where.str() == shown + ":25:1");
    CHECK(app.name == "app");
    CHECK(app.comment == "the application");
    CHECK(app.compression == ocibake::Compression::gzip);
    CHECK(app.level == 12);

    REQUIRE(app.copies.size() == 1);
    const CopyItem& copy = app.copies[0];
    CHECK(copy.where.str() == shown + ":31:3");
    CHECK(copy.src == dir.path() / "rootfs");
    CHECK(copy.src_where.str() == shown + ":32:9");
    CHECK(copy.dst == "/opt/app");
    CHECK(copy.dst_where.str() == shown + ":33:9");
    CHECK(copy.options.include == Strings{"**/*.py"});
    CHECK(copy.options.exclude == Strings{"**/__pycache__"});
    CHECK(copy.options.file_mode == 0644u);
    CHECK(copy.options.dir_mode == 0755u);
    CHECK(copy.options.uid == 1000);
    CHECK(copy.options.gid == 100);
    CHECK(copy.options.preserve_modes);
    CHECK(copy.options.xattrs);
    CHECK(copy.options.follow_symlinks);

    REQUIRE(app.files.size() == 6);
    const FileItem& motd = app.files[0];
    CHECK(motd.where.str() == shown + ":44:3");
    CHECK(motd.path == "/etc/motd");
    CHECK(motd.path_where.str() == shown + ":45:10");
    CHECK(motd.type == EntryType::file);
    CHECK(motd.src.empty());
    CHECK(motd.content == "hello\n");
    CHECK(motd.mode == 0600u);
    CHECK(motd.uid == 1);
    CHECK(motd.gid == 2);

    const FileItem& issue = app.files[1];
    CHECK(issue.src == dir.path() / "recipes/issue.txt");
    CHECK(issue.src_where.str() == shown + ":53:9");
    CHECK_FALSE(issue.content);
    CHECK_FALSE(issue.mode);

    CHECK(app.files[2].type == EntryType::directory);
    CHECK(app.files[2].mode == 0700u);
    CHECK(app.files[3].type == EntryType::symlink);
    CHECK(app.files[3].target == "python3");
    CHECK(app.files[4].type == EntryType::hardlink);
    CHECK(app.files[4].target == "/usr/bin/python3");
    CHECK(app.files[5].type == EntryType::fifo);
    CHECK(app.files[5].mode == 0620u);

    const auto& empty = r.layers[1];
    CHECK(empty.name == "layer-2");
    CHECK_FALSE(empty.compression);
    CHECK_FALSE(empty.level);
    CHECK(empty.copies.empty());
    CHECK(empty.files.empty());
}

TEST_CASE("defaults", "[recipe]") {
    ScratchDir dir("recipe");

    SECTION("an empty recipe") {
        fs::path file = write_file(dir / "My-App.toml", "");
        Recipe r = ocibake::load_recipe(file);
        CHECK(r.name == "my-app"); // the file's stem, lowercased
        CHECK(r.tag == "latest");
        CHECK(r.platform.str() == "linux/amd64");
        CHECK(r.base.scratch());
        CHECK(r.base.layout.empty());
        CHECK(r.build.compression == ocibake::Compression::gzip);
        CHECK(r.build.level == -1);
        CHECK_FALSE(r.build.source_date_epoch);
        CHECK_FALSE(r.config.entrypoint);
        CHECK_FALSE(r.config.cmd);
        CHECK_FALSE(r.config.user);
        CHECK_FALSE(r.config.workdir);
        CHECK(r.config.env.empty());
        CHECK(r.config.exposed_ports.empty());
        CHECK(r.layers.empty());
        CHECK(r.sources == std::vector<fs::path>{file});
    }

    SECTION("a layer's items") {
        Recipe r = load_text(dir, R"(
[config]
entrypoint = []
[[layer]]
copy = [{ src = "." }]
files = [{ path = "etc/hostname", content = "" }]
)");
        CHECK(r.config.entrypoint == Strings{}); // set, and empty: clears the base's
        REQUIRE(r.layers.size() == 1);
        CHECK(r.layers[0].name == "layer-1");
        const CopyItem& copy = r.layers[0].copies.at(0);
        CHECK(copy.src == dir.path());
        CHECK(copy.dst == "/");
        CHECK(copy.dst_where.str() == copy.where.str());
        CHECK_FALSE(copy.options.file_mode);
        CHECK_FALSE(copy.options.dir_mode);
        CHECK_FALSE(copy.options.preserve_modes);
        CHECK(copy.options.uid == 0);
        const FileItem& item = r.layers[0].files.at(0);
        CHECK(item.type == EntryType::file);
        CHECK(item.content == "");
        CHECK_FALSE(item.mode);
    }

    SECTION("parse_recipe resolves against the named file's folder") {
        Recipe r =
            ocibake::parse_recipe("[[layer]]\n[[layer.copy]]\nsrc = \"a\"\n", dir / "sub/x.toml");
        CHECK(r.name == "x");
        CHECK(r.file == dir / "sub/x.toml");
        CHECK(r.layers.at(0).copies.at(0).src == dir / "sub/a");
        CHECK(r.layers.at(0).copies.at(0).src_where.str() ==
              (dir / "sub/x.toml").string() + ":3:7");
    }
}

TEST_CASE("includes merge in order", "[recipe]") {
    ScratchDir dir("recipe");
    fs::path core = write_file(dir / "layers/core.toml", R"(
name = "core"
[config]
env = { A = "core", B = "core" }
exposed_ports = ["22"]
[[layer]]
name = "core"
copy = [{ src = "files" }]
)");
    fs::path base = write_file(dir / "layers/base.toml", R"(include = ["core.toml"]
tag = "base"
[base]
image = "oci:../images/ubuntu"
[build]
compression = "zstd"
level = 19
[config]
env = { B = "base", C = "base" }
cmd = ["base"]
volumes = ["/data"]
labels = { x = "base" }
[[layer]]
name = "base"
files = [{ path = "/etc/motd", src = "motd" }]
)");
    fs::path extra = write_file(dir / "recipes/extra.toml", R"(
[config]
env = { C = "extra" }
exposed_ports = ["8888"]
[[layer]]
)");
    fs::path top =
        write_file(dir / "recipes/app.toml", R"(include = ["../layers/base.toml", "extra.toml"]
[build]
compression = "gzip"
level = 12
[config]
env = { A = "app" }
volumes = ["/workspace", "/data"]
[[layer]]
name = "app"
copy = [{ src = "src" }]
)");
    Recipe r = ocibake::load_recipe(top);

    CHECK(r.sources == std::vector<fs::path>{top, base, core, extra});
    CHECK(r.file == top);
    CHECK(r.name == "core"); // a fragment may set the name; nothing later does
    CHECK(r.tag == "base");
    CHECK(r.config.env == Pairs{{"A", "app"}, {"B", "base"}, {"C", "extra"}});
    CHECK(r.config.cmd == Strings{"base"});
    CHECK(r.config.exposed_ports == Strings{"22/tcp", "8888/tcp"});
    CHECK(r.config.volumes == Strings{"/data", "/workspace"});
    CHECK(r.config.labels == Pairs{{"x", "base"}});
    CHECK(r.build.compression == ocibake::Compression::gzip);
    CHECK(r.build.level == 12); // 12 is checked against gzip, the compression in effect
    CHECK(r.base.layout == dir.path() / "images/ubuntu"); // against the fragment's folder

    REQUIRE(r.layers.size() == 4);
    CHECK(r.layers[0].name == "core");
    CHECK(r.layers[1].name == "base");
    CHECK(r.layers[2].name == "layer-3");
    CHECK(r.layers[3].name == "app");
    CHECK(r.layers[0].copies.at(0).src == dir.path() / "layers/files");
    CHECK(r.layers[0].where.file ==
          (top.parent_path() / "../layers/core.toml").lexically_normal().string());
    CHECK(r.layers[1].files.at(0).src == dir.path() / "layers/motd");
    CHECK(r.layers[3].copies.at(0).src == dir.path() / "recipes/src");
}

TEST_CASE("a fragment included twice is merged once", "[recipe]") {
    ScratchDir dir("recipe");
    write_file(dir / "common.toml", "[[layer]]\nname = \"common\"\n");
    write_file(dir / "a.toml", "include = [\"common.toml\"]\n");
    write_file(dir / "b.toml", "include = [\"common.toml\"]\n");
    Recipe r = load_text(dir, "include = [\"a.toml\", \"b.toml\"]\n");
    REQUIRE(r.layers.size() == 1);
    CHECK(r.layers[0].name == "common");
    CHECK(r.sources.size() == 4);
}

TEST_CASE("include errors", "[recipe]") {
    ScratchDir dir("recipe");
    const std::string folder = dir.path().string() + "/";

    SECTION("a cycle") {
        write_file(dir / "b.toml", "\ninclude = [\"c.toml\"]\n");
        write_file(dir / "c.toml", "include = [ \"b.toml\" ]\n");
        RecipeError e = error_for(dir, "include = [\"b.toml\"]\n");
        CHECK(e.kind() == ErrorKind::recipe);
        CHECK(e.summary() == "include cycle: " + folder + "b.toml -> " + folder + "c.toml -> " +
                                 folder + "b.toml");
        CHECK(e.where().str() == folder + "c.toml:1:13");
    }

    SECTION("a file that includes itself") {
        RecipeError e = error_for(dir, "include = [\"./recipe.toml\"]\n");
        CHECK(e.summary() ==
              "include cycle: " + folder + "recipe.toml -> " + folder + "recipe.toml");
        CHECK(e.where().str() == folder + "recipe.toml:1:12");
    }

    SECTION("a missing include") {
        RecipeError e = error_for(dir, "name = \"x\"\ninclude = [\"nope/missing.toml\"]\n");
        CHECK(e.kind() == ErrorKind::input);
        CHECK(e.summary() ==
              "cannot read include '" + folder + "nope/missing.toml': No such file or directory");
        CHECK(e.where().str() == folder + "recipe.toml:2:12");
    }

    SECTION("a missing recipe") {
        RecipeError e = error_from([&] { ocibake::load_recipe(dir / "none.toml"); });
        CHECK(e.kind() == ErrorKind::input);
        CHECK(std::string(e.what()) ==
              folder + "none.toml: error: cannot read recipe: No such file or directory");
    }

    SECTION("include must be an array of strings") {
        RecipeError e = error_for(dir, "include = \"a.toml\"\n");
        CHECK(e.summary() == "'include' must be an array of strings, not a string");
        CHECK(e.hint() == "write include = [\"a.toml\"]");
        CHECK(summary_for(dir, "include = [1]\n") ==
              "'include' must hold only strings, not an integer");
    }

    SECTION("errors in a fragment name the fragment") {
        write_file(dir / "frag/bad.toml", "[config]\nuser = 0\n");
        RecipeError e = error_for(dir, "include = [\"frag/bad.toml\"]\n");
        CHECK(e.summary() == "'user' must be a string, not an integer");
        CHECK(e.where().str() == folder + "frag/bad.toml:2:8");
    }
}

TEST_CASE("locations use the path as given", "[recipe]") {
    ScratchDir dir("recipe");
    write_file(dir / "recipes/x.toml", "include = [\"../layers/y.toml\"]\n");
    write_file(dir / "layers/y.toml", "[config]\nworkdir = \"w\"\n");
    CurrentDir cd(dir.path());
    RecipeError e = error_from([] { ocibake::load_recipe("recipes/x.toml"); });
    CHECK(e.where().str() == "layers/y.toml:2:11");
    CHECK(std::string(e.what()) == "layers/y.toml:2:11: error: 'workdir' must be an absolute path\n"
                                   " 2 | workdir = \"w\"\n"
                                   "   |           ^");
}

TEST_CASE("malformed TOML is reported at toml++'s position", "[recipe]") {
    ScratchDir dir("recipe");
    RecipeError e = error_for(dir, "name = \"x\"\ntag = \n");
    const std::string file = (dir / "recipe.toml").string();
    CHECK(e.kind() == ErrorKind::recipe);
    CHECK(e.where().str() == file + ":2:7");
    CHECK(std::string(e.what()).starts_with(file + ":2:7: error: Error while parsing"));
    CHECK(std::string(e.what()).find("\n 2 | tag = \n   |       ^") != std::string::npos);
}

TEST_CASE("unknown keys", "[recipe]") {
    ScratchDir dir("recipe");
    const std::string file = (dir / "recipe.toml").string();

    SECTION("a typo in [config]: the exact diagnostic") {
        RecipeError e = error_for(dir, "[config]\nentrypont = [\"/bin/sh\"]\n");
        CHECK(std::string(e.what()) == file + ":2:1: error: unknown key 'entrypont' in [config]\n"
                                              " 2 | entrypont = [\"/bin/sh\"]\n"
                                              "   | ^\n"
                                              "hint: did you mean 'entrypoint'?");
    }

    SECTION("a typo in [[layer.copy]]: the exact diagnostic") {
        RecipeError e =
            error_for(dir, "[[layer]]\nname = \"a\"\n  [[layer.copy]]\n  scr = \"x\"\n");
        CHECK(std::string(e.what()) == file + ":4:3: error: unknown key 'scr' in [[layer.copy]]\n"
                                              " 4 |   scr = \"x\"\n"
                                              "   |   ^\n"
                                              "hint: did you mean 'src'?");
    }

    SECTION("a key that is a prefix") {
        RecipeError e = error_for(dir, "[build]\ncomp = \"zstd\"\n");
        CHECK(e.summary() == "unknown key 'comp' in [build]");
        CHECK(e.hint() == "did you mean 'compression'?");
    }

    SECTION("nothing near: the allowed keys") {
        RecipeError e = error_for(dir, "[base]\nfrom = \"ubuntu\"\n");
        CHECK(e.summary() == "unknown key 'from' in [base]");
        CHECK(e.hint() == "allowed keys: ref, image");
        CHECK(e.where().str() == file + ":2:1");
    }

    SECTION("a table name") {
        RecipeError e = error_for(dir, "[confg]\nuser = \"x\"\n");
        CHECK(e.summary() == "unknown key 'confg' in the top level");
        CHECK(e.hint() == "did you mean 'config'?");
        CHECK(e.where().str() == file + ":1:2");
    }

    SECTION("a key of a table written at the top level") {
        RecipeError e = error_for(dir, "workdir = \"/w\"\n");
        CHECK(e.summary() == "unknown key 'workdir' in the top level");
        CHECK(e.hint() == "'workdir' belongs in [config]");
    }

    SECTION("every table checks its keys") {
        CHECK(summary_for(dir, "[[layer]]\nnmae = \"a\"\n") == "unknown key 'nmae' in [[layer]]");
        CHECK(summary_for(dir, "[[layer]]\n[[layer.files]]\npath = \"/a\"\ncontents = \"\"\n") ==
              "unknown key 'contents' in [[layer.files]]");
        CHECK(
            error_for(dir, "[[layer]]\n[[layer.files]]\npath = \"/a\"\ncontents = \"\"\n").hint() ==
            "did you mean 'content'?");
    }
}

TEST_CASE("wrong types", "[recipe]") {
    ScratchDir dir("recipe");
    const std::string file = (dir / "recipe.toml").string();

    RecipeError e = error_for(dir, "[[layer]]\n[[layer.copy]]\nsrc = \"a\"\nuid = \"0\"\n");
    CHECK(e.summary() == "'uid' must be an integer, not a string");
    CHECK(e.where().str() == file + ":4:7"); // the value

    CHECK(summary_for(dir, "name = 1\n") == "'name' must be a string, not an integer");
    CHECK(summary_for(dir, "tag = 1.5\n") == "'tag' must be a string, not a float");
    CHECK(summary_for(dir, "config = \"x\"\n") == "'config' must be a table, not a string");
    CHECK(summary_for(dir, "[build]\nlevel = true\n") ==
          "'level' must be an integer, not a boolean");
    CHECK(summary_for(dir, "[build]\nsource_date_epoch = 1979-05-27T07:32:00Z\n") ==
          "'source_date_epoch' must be an integer, not a date-time");
    CHECK(summary_for(dir, "[config]\ncmd = \"echo\"\n") ==
          "'cmd' must be an array of strings, not a string");
    CHECK(summary_for(dir, "[config]\nentrypoint = [\"a\", 1]\n") ==
          "'entrypoint' must hold only strings, not an integer");
    CHECK(summary_for(dir, "[config]\nenv = { A = 1 }\n") ==
          "'env' must hold only strings, not an integer");
    CHECK(summary_for(dir, "[config]\nexposed_ports = [1.5]\n") ==
          "'exposed_ports' must hold only strings or integers, not a float");
    CHECK(summary_for(dir, "[[layer]]\n[[layer.copy]]\nsrc = \"a\"\nxattrs = \"yes\"\n") ==
          "'xattrs' must be a boolean, not a string");
    CHECK(summary_for(dir,
                      "[[layer]]\n[[layer.files]]\npath = \"/a\"\ncontent = \"\"\nmode = true\n") ==
          "'mode' must be an integer or an octal string, not a boolean");

    RecipeError table = error_for(dir, "[layer]\nname = \"a\"\n");
    CHECK(table.summary() == "'layer' must be an array of tables, not a table");
    CHECK(table.hint() == "start each layer with [[layer]] (two brackets), then its "
                          "[[layer.copy]] and [[layer.files]]");
    // [[layer.copy]] with no [[layer]] before it makes 'layer' a table, too.
    CHECK(summary_for(dir, "[[layer.copy]]\nsrc = \"a\"\n") ==
          "'layer' must be an array of tables, not a table");
    CHECK(summary_for(dir, "[[layer]]\ncopy = [1]\n") ==
          "'copy' must hold only tables, not an integer");
}

TEST_CASE("bad values", "[recipe]") {
    ScratchDir dir("recipe");
    const std::string file = (dir / "recipe.toml").string();

    SECTION("compression") {
        RecipeError e = error_for(dir, "[build]\ncompression = \"lz4\"\n");
        CHECK(e.summary() == "'compression' must be one of gzip, zstd, none, not 'lz4'");
        CHECK(e.where().str() == file + ":2:15");
    }

    SECTION("level against the compression in effect") {
        RecipeError e = error_for(dir, "[build]\ncompression = \"zstd\"\nlevel = 22\n");
        CHECK(e.summary() == "'level' 22 is out of range for zstd (1..19)");
        CHECK(e.where().str() == file + ":3:9");
        CHECK(summary_for(dir, "[build]\nlevel = 13\n") ==
              "'level' 13 is out of range for gzip (1..12)");
        CHECK(summary_for(dir, "[build]\nlevel = 0\n") ==
              "'level' 0 is out of range for gzip (1..12)");
        CHECK(summary_for(dir,
                          "[build]\ncompression = \"zstd\"\n[[layer]]\ncompression = \"gzip\"\n"
                          "level = 15\n") == "'level' 15 is out of range for gzip (1..12)");
        // A layer that switches compression without a level gets that compression's
        // default: [build].level was meant for [build].compression.
        Recipe switched = load_text(dir, "[build]\ncompression = \"zstd\"\nlevel = 15\n[[layer]]\n"
                                         "compression = \"gzip\"\n");
        CHECK(switched.build.level == 15);
        CHECK_FALSE(switched.layers.at(0).level.has_value());
        // After merging: the fragment's level meets the including file's compression.
        write_file(dir / "frag.toml", "[build]\ncompression = \"zstd\"\nlevel = 15\n");
        CHECK(load_text(dir, "include = [\"frag.toml\"]\n").build.level == 15);
        RecipeError merged =
            error_for(dir, "include = [\"frag.toml\"]\n[build]\ncompression = \"gzip\"\n");
        CHECK(merged.summary() == "'level' 15 is out of range for gzip (1..12)");
        CHECK(merged.where().str() == (dir / "frag.toml").string() + ":3:9");
        // none takes any level (it is not used).
        CHECK(load_text(dir, "[build]\ncompression = \"none\"\nlevel = 99\n").build.level == 99);
    }

    SECTION("dst and path") {
        RecipeError e =
            error_for(dir, "[[layer]]\n[[layer.copy]]\nsrc = \"a\"\ndst = \"/x/../../../etc\"\n");
        CHECK(e.summary() == "'dst' image path '/x/../../../etc' escapes the image root");
        CHECK(e.where().str() == file + ":4:7");
        CHECK(summary_for(dir, "[[layer]]\n[[layer.copy]]\nsrc = \"a\"\ndst = \"../../etc\"\n") ==
              "'dst' image path '../../etc' escapes the image root");
        CHECK(summary_for(dir, "[[layer]]\n[[layer.files]]\npath = \"/\"\ntype = \"dir\"\n") ==
              "'path' image path '/' names the image root itself");
        CHECK(summary_for(
                  dir, "[[layer]]\n[[layer.files]]\npath = \"/a\"\ntype = \"hardlink\"\ntarget = "
                       "\"../b\"\n") == "'target' image path '../b' escapes the image root");
    }

    SECTION("config values") {
        CHECK(summary_for(dir, "[config]\nworkdir = \"work\"\n") ==
              "'workdir' must be an absolute path");
        CHECK(summary_for(dir, "[config]\nvolumes = [\"/a\", \"b\"]\n") ==
              "'volumes' entry 'b' must be an absolute path");
        CHECK(summary_for(dir, "[config]\nexposed_ports = [0]\n") ==
              "'exposed_ports' entry 0 is out of range (1..65535)");
        CHECK(summary_for(dir, "[config]\nexposed_ports = [\"70000/udp\"]\n") ==
              "'exposed_ports' entry '70000/udp' is out of range (1..65535)");
        CHECK(summary_for(dir, "[config]\nexposed_ports = [\"80/http\"]\n") ==
              "'exposed_ports' entry '80/http' has an unknown protocol 'http'");
        CHECK(summary_for(dir, "[config]\nexposed_ports = [\"http\"]\n") ==
              "'exposed_ports' entry 'http' is not a port number");
        RecipeError env = error_for(dir, "[config]\nenv = { \"A=B\" = \"x\" }\n");
        CHECK(env.summary() == "'env' key 'A=B' must not contain '='");
        CHECK(env.where().str() == file + ":2:9"); // the key
    }

    SECTION("name, tag, platform, base") {
        RecipeError name = error_for(dir, "name = \"Hello World\"\n");
        CHECK(name.summary() == "'name' 'Hello World' is not a valid image name");
        CHECK(name.where().str() == file + ":1:8");
        CHECK(summary_for(dir, "name = \"a//b\"\n") == "'name' 'a//b' is not a valid image name");
        CHECK(summary_for(dir, "name = \"a__b\"\n") == "'name' 'a__b' is not a valid image name");
        CHECK(load_text(dir, "name = \"reg.io/team/a_b-c.d\"\n").name == "reg.io/team/a_b-c.d");
        CHECK(summary_for(dir, "tag = \".x\"\n") == "'tag' '.x' is not a valid tag");
        CHECK(summary_for(dir, "tag = \"" + std::string(129, 'a') + "\"\n") ==
              "'tag' '" + std::string(129, 'a') + "' is not a valid tag");
        CHECK(load_text(dir, "tag = \"_V1.2-rc\"\n").tag == "_V1.2-rc");
        CHECK(summary_for(dir, "platform = \"linux\"\n")
                  .starts_with("'platform': invalid platform 'linux'"));
        CHECK(summary_for(dir, "[base]\nimage = \"ubuntu:22.04\"\n") ==
              "'image' must be \"scratch\" or \"oci:<dir>[:<tag>]\", not 'ubuntu:22.04'");
        CHECK(summary_for(dir, "[base]\nimage = \"oci::x\"\n") ==
              "'image' 'oci::x' names no directory");
        CHECK(summary_for(dir, "[base]\nimage = \"oci:d:\"\n") ==
              "'image' 'oci:d:' has an empty tag");
        Recipe r = load_text(dir, "[base]\nimage = \"oci:/abs/layout\"\n");
        CHECK(r.base.layout == "/abs/layout");
        CHECK(r.base.tag.empty());
    }

    SECTION("a default name that is not valid") {
        fs::path bad = write_file(dir / "My App.toml", "");
        RecipeError e = error_from([&] { ocibake::load_recipe(bad); });
        CHECK(e.summary() == "image name 'my app' (from the file name) is not valid");
        CHECK(e.where().str() == bad.string());
        CHECK(ocibake::load_recipe(write_file(dir / "Other App.toml", "name = \"ok\"\n")).name ==
              "ok");
    }

    SECTION("numbers") {
        CHECK(summary_for(dir, "[[layer]]\n[[layer.copy]]\nsrc = \"a\"\nuid = 4294967295\n") ==
              "'uid' 4294967295 is out of range (0..4294967294)");
        CHECK(summary_for(dir, "[[layer]]\n[[layer.copy]]\nsrc = \"a\"\ngid = -1\n") ==
              "'gid' -1 is out of range (0..4294967294)");
        CHECK(summary_for(dir, "[build]\nsource_date_epoch = -1\n") ==
              "'source_date_epoch' -1 is out of range (0 or more)");
    }

    SECTION("required keys and exclusive ones") {
        RecipeError path = error_for(dir, "[[layer]]\n  [[layer.files]]\n  content = \"x\"\n");
        CHECK(path.summary() == "[[layer.files]] needs 'path'");
        CHECK(path.where().str() == file + ":2:3"); // the table header
        CHECK(summary_for(dir, "[[layer]]\n[[layer.copy]]\ndst = \"/\"\n") ==
              "[[layer.copy]] needs 'src'");
        CHECK(summary_for(dir, "[[layer]]\n[[layer.copy]]\nsrc = \"\"\n") ==
              "'src' must not be empty");
        RecipeError both = error_for(
            dir, "[[layer]]\n[[layer.files]]\npath = \"/a\"\ncontent = \"x\"\nsrc = \"a\"\n");
        CHECK(both.summary() == "'src' and 'content' are mutually exclusive");
        CHECK(both.where().str() == file + ":5:7");
        CHECK(summary_for(dir, "[[layer]]\n[[layer.files]]\npath = \"/a\"\n") ==
              "[[layer.files]] needs 'src' or 'content'");
    }
}

TEST_CASE("modes: octal integers and octal strings", "[recipe]") {
    ScratchDir dir("recipe");
    auto mode_of = [&](std::string_view mode) {
        Recipe r = load_text(
            dir, "[[layer]]\n[[layer.copy]]\nsrc = \"a\"\nmode = " + std::string(mode) + "\n");
        return r.layers.at(0).copies.at(0).options.file_mode;
    };
    CHECK(mode_of("0o644") == 0644u);
    CHECK(mode_of("\"0644\"") == 0644u);
    CHECK(mode_of("\"644\"") == 0644u);
    CHECK(mode_of("\"0o4755\"") == 04755u);
    CHECK(mode_of("0o7777") == 07777u);
    CHECK(mode_of("0") == 0u);
    CHECK(mode_of("7") == 7u);

    auto error = [&](std::string_view mode) {
        return error_for(
            dir, "[[layer]]\n[[layer.copy]]\nsrc = \"a\"\nmode = " + std::string(mode) + "\n");
    };
    CHECK(error("0o10000").summary() == "'mode' 0o10000 is out of range (0..0o7777)");
    CHECK(error("\"010000\"").summary() == "'mode' '010000' is out of range (0..0o7777)");
    CHECK(error("\"0999\"").summary() == "'mode' '0999' is not an octal number");
    CHECK(error("\"\"").summary() == "'mode' '' is not an octal number");
    RecipeError decimal = error("644");
    CHECK(decimal.summary() == "'mode' 644 is not written in octal");
    CHECK(decimal.hint() == "write 0o644 (a TOML octal integer) or \"0644\"");
    CHECK(error("0x1a4").hint() == "write 0o644 (a TOML octal integer) or \"0644\"");
}

TEST_CASE("layer names are unique", "[recipe]") {
    ScratchDir dir("recipe");
    const std::string file = (dir / "recipe.toml").string();

    RecipeError e = error_for(dir, "[[layer]]\nname = \"app\"\n[[layer]]\nname = \"app\"\n");
    CHECK(e.summary() == "layer name 'app' is used twice");
    CHECK(e.where().str() == file + ":4:8");
    CHECK(e.hint() == "first used at " + file + ":2:8");

    RecipeError by_default = error_for(dir, "[[layer]]\n[[layer]]\nname = \"layer-1\"\n");
    CHECK(by_default.summary() == "layer name 'layer-1' is used twice");
    CHECK(by_default.hint() == "the layer at " + file + ":1:1 has this name by default");

    // Across fragments too.
    write_file(dir / "frag.toml", "[[layer]]\nname = \"app\"\n");
    RecipeError merged = error_for(dir, "include = [\"frag.toml\"]\n[[layer]]\nname = \"app\"\n");
    CHECK(merged.summary() == "layer name 'app' is used twice");
    CHECK(merged.hint() == "first used at " + (dir / "frag.toml").string() + ":2:8");

    CHECK(summary_for(dir, "[[layer]]\nname = \"\"\n") == "'name' must not be empty");
}

TEST_CASE("the keys of a layer.files entry depend on its type", "[recipe]") {
    ScratchDir dir("recipe");
    const std::string file = (dir / "recipe.toml").string();
    auto files = [&](std::string_view body) {
        return error_for(dir, "[[layer]]\n[[layer.files]]\n" + std::string(body));
    };

    RecipeError target = files("path = \"/a\"\ncontent = \"\"\ntarget = \"/b\"\n");
    CHECK(target.summary() == "'target' is not allowed for type 'file'");
    CHECK(target.where().str() == file + ":5:1"); // the key
    CHECK(target.hint() == "type 'file' takes: path, type, src, content, mode, uid, gid");

    CHECK(files("path = \"/a\"\ntype = \"dir\"\nsrc = \"x\"\n").summary() ==
          "'src' is not allowed for type 'dir'");
    CHECK(files("path = \"/a\"\ntype = \"symlink\"\ntarget = \"b\"\nmode = 0o777\n").summary() ==
          "'mode' is not allowed for type 'symlink'");
    CHECK(files("path = \"/a\"\ntype = \"hardlink\"\ntarget = \"/b\"\nuid = 1\n").summary() ==
          "'uid' is not allowed for type 'hardlink'");
    CHECK(files("path = \"/a\"\ntype = \"fifo\"\ncontent = \"\"\n").summary() ==
          "'content' is not allowed for type 'fifo'");
    CHECK(files("path = \"/a\"\ntype = \"symlink\"\n").summary() ==
          "[[layer.files]] needs 'target'");
    CHECK(files("path = \"/a\"\ntype = \"symlink\"\ntarget = \"\"\n").summary() ==
          "'target' must not be empty");
    CHECK(files("path = \"/a\"\ntype = \"socket\"\n").summary() ==
          "'type' must be one of file, dir, symlink, hardlink, fifo, not 'socket'");

    Recipe r =
        load_text(dir, "[[layer]]\n[[layer.files]]\npath = \"/l\"\ntype = \"symlink\"\ntarget = "
                       "\"../../x\"\nuid = 5\n");
    const FileItem& link = r.layers.at(0).files.at(0);
    CHECK(link.target == "../../x"); // a symlink's target is any text
    CHECK(link.uid == 5);
}

TEST_CASE("a registry base: [base] ref, normalised, with errors at the value") {
    ScratchDir dir("recipe-ref");
    fs::path file = write_file(dir / "r.toml", "[base]\nref = \"ubuntu:24.04\"\n");
    Recipe r = ocibake::load_recipe(file);
    CHECK(r.base.ref == "docker.io/library/ubuntu:24.04");
    CHECK(r.base.image.empty());
    CHECK_FALSE(r.base.scratch());
    CHECK(r.base.where.str() == file.string() + ":2:7");

    write_file(file, "[base]\nref = \"Bad/Name\"\n");
    try {
        ocibake::load_recipe(file);
        FAIL("no error");
    } catch (const RecipeError& e) {
        CHECK(e.where().str() == file.string() + ":2:7");
        CHECK(e.summary().find("'ref': invalid image reference 'Bad/Name'") == 0);
    }
    // An image that is no oci: layout suggests ref.
    write_file(file, "[base]\nimage = \"ubuntu:24.04\"\n");
    try {
        ocibake::load_recipe(file);
        FAIL("no error");
    } catch (const RecipeError& e) {
        CHECK(e.hint() == "for an image in a registry write ref = \"ubuntu:24.04\"");
    }
}

TEST_CASE("test entries: every type read into the model", "[recipe]") {
    ScratchDir dir("recipe");
    write_file(dir / "frag.toml", "[[test]]\nname = \"from-fragment\"\nargs = [\"true\"]\n");
    Recipe r = load_text(dir, R"(include = ["frag.toml"]
[[test]]
name = "hello"
shell = "echo hi"
env = { B = "2", A = "1" }
exit_code = 3
distinct = true
stdout = "^hi$"
stderr = ["a", "b+"]
stdout_not = "error"
timeout = 5
after = ["from-fragment"]
serial = true

[[test]]
type = "file"
path = "/etc/motd"
file_type = "file"
mode = "0644"
uid = 0
gid = 0
contains = "Welcome"

[[test]]
name = "link"
type = "file"
path = "bin/sh"
file_type = "symlink"
target = "busybox"

[[test]]
name = "gone"
type = "file"
path = "/etc/shadow"
exists = false

[[test]]
name = "meta"
type = "metadata"
env = { LANG = "C.UTF-8" }
entrypoint = ["/start"]
cmd = []
exposed_ports = [8888, "22/tcp"]
user = "1000:1000"
workdir = "/workspace"

[[test]]
name = "web"
type = "service"
port = 8888
http_status = 302
http_body = "Jupyter"
ready_timeout = 60
stop_timeout = 2
gpu = true
)");
    REQUIRE(r.tests.size() == 7);
    const auto& frag = r.tests[0];
    CHECK(frag.name == "from-fragment");
    CHECK(frag.args == Strings{"true"});
    const auto& hello = r.tests[1];
    CHECK(hello.type == ocibake::TestType::command);
    CHECK(hello.shell == "echo hi");
    CHECK(hello.env == Pairs{{"A", "1"}, {"B", "2"}});
    CHECK(hello.exit_code == 3);
    CHECK(hello.distinct);
    CHECK_FALSE(r.tests[0].distinct);
    CHECK(hello.after == Strings{"from-fragment"});
    CHECK(hello.serial);
    CHECK(frag.after.empty());
    CHECK_FALSE(frag.serial);
    REQUIRE(hello.stderr_match.size() == 2);
    CHECK(hello.stderr_match[1].regex == "b+");
    CHECK(hello.stdout_not.at(0).regex == "error");
    CHECK(hello.timeout == 5);
    CHECK_FALSE(hello.gpu);
    const auto& file = r.tests[2];
    CHECK(file.name == "test-3"); // by position in the merged list
    CHECK(file.file_type == EntryType::file);
    CHECK(file.mode == 0644u);
    CHECK(file.contains.at(0).regex == "Welcome");
    CHECK(r.tests[3].target == "busybox");
    CHECK_FALSE(r.tests[4].exists);
    const auto& meta = r.tests[5];
    CHECK(meta.cmd == Strings{});
    CHECK(meta.exposed_ports == Strings{"8888/tcp", "22/tcp"});
    CHECK(meta.user == "1000:1000");
    const auto& web = r.tests[6];
    CHECK(web.type == ocibake::TestType::service);
    CHECK(web.port == 8888);
    CHECK(web.http_path == "/"); // an HTTP check was asked for
    CHECK(web.http_status == 302);
    CHECK(web.ready_timeout == 60);
    CHECK(web.stop_timeout == 2);
    CHECK(web.gpu);
}

TEST_CASE("test entries: errors", "[recipe]") {
    ScratchDir dir("recipe");
    const std::string file = (dir / "recipe.toml").string();
    auto test = [&](std::string_view body) {
        return error_for(dir, "[[test]]\n" + std::string(body));
    };
    RecipeError wrong_key = test("shell = \"x\"\npath = \"/a\"\n");
    CHECK(wrong_key.summary() == "'path' is not allowed in a test of type 'command'");
    CHECK(wrong_key.where().str() == file + ":3:1");
    CHECK(wrong_key.hint() ==
          "type 'command' takes: name, type, gpu, timeout, comment, after, serial, args, "
          "shell, env, stdout, stderr, stdout_not, stderr_not, exit_code, distinct");
    CHECK(test("shel = \"x\"\n").hint() == "did you mean 'shell'?");
    CHECK(test("name = \"a\"\n").summary() == "[[test]] needs 'args' or 'shell'");
    CHECK(test("args = [\"a\"]\nshell = \"b\"\n").summary() ==
          "'args' and 'shell' are mutually exclusive");
    CHECK(test("args = []\n").summary() == "'args' must not be empty");
    RecipeError regex = test("shell = \"x\"\nstdout = \"(unclosed\"\n");
    CHECK(regex.summary().rfind("'stdout' '(unclosed' is not a valid regular expression: ", 0) ==
          0);
    CHECK(regex.where().str() == file + ":3:11"); // the '(' inside the string
    CHECK(test("shell = \"x\"\nstderr = [\"ok\", \"[z-a]\"]\n").where().str() == file + ":3:19");
    CHECK(test("shell = \"x\"\nexit_code = 256\n").summary() ==
          "'exit_code' 256 is out of range (0..255)");
    CHECK(test("shell = \"x\"\ntimeout = 0\n").summary() ==
          "'timeout' 0 is out of range (1..86400)");
    CHECK(test("type = \"unit\"\n").summary() ==
          "'type' must be one of command, file, metadata, service, not 'unit'");
    CHECK(test("type = \"file\"\n").summary() == "[[test]] needs 'path'");
    CHECK(test("type = \"file\"\npath = \"/a\"\nfile_type = \"socket\"\n").summary() ==
          "'file_type' must be one of file, dir, symlink, not 'socket'");
    CHECK(test("type = \"file\"\npath = \"/a\"\nexists = false\nmode = 0o644\n").summary() ==
          "'mode' cannot be checked on a path that must not exist");
    CHECK(test("type = \"file\"\npath = \"/a\"\nfile_type = \"dir\"\ntarget = \"b\"\n").summary() ==
          "'target' is only for file_type = \"symlink\"");
    CHECK(test("type = \"file\"\npath = \"../../etc\"\n").summary() ==
          "'path' image path '../../etc' escapes the image root");
    CHECK(test("type = \"metadata\"\n").summary() ==
          "[[test]] needs at least one of 'env', 'entrypoint', 'cmd', 'exposed_ports', 'user', "
          "'workdir'");
    CHECK(test("type = \"service\"\n").summary() == "[[test]] needs 'port'");
    CHECK(test("type = \"service\"\nport = 70000\n").summary() ==
          "'port' 70000 is out of range (1..65535)");
    CHECK(test("type = \"service\"\nport = 80\nhttp_path = \"index.html\"\n").summary() ==
          "'http_path' must start with '/'");
    CHECK(test("type = \"service\"\nport = 80\nshell = \"x\"\n").summary() ==
          "'shell' is not allowed in a test of type 'service'");

    RecipeError twice =
        error_for(dir, "[[test]]\nname = \"a\"\nshell = \"x\"\n[[test]]\nname = \"a\"\nshell = "
                       "\"y\"\n");
    CHECK(twice.summary() == "test name 'a' is used twice");
    CHECK(twice.hint() == "first used at " + file + ":2:8");

    // `after` names earlier tests only (so the order it asks for has no cycle).
    auto after = [&](std::string_view second_after) {
        return error_for(dir, "[[test]]\nname = \"a\"\nshell = \"x\"\n[[test]]\nname = "
                              "\"b\"\nshell = \"y\"\nafter = " +
                                  std::string(second_after) + "\n");
    };
    CHECK(after("[\"b\"]").summary() == "test 'b' names itself in 'after'");
    RecipeError unknown = after("[\"a\", \"c\"]");
    CHECK(unknown.summary() == "'after' names 'c', which is no test of this recipe");
    CHECK(unknown.where().str() == file + ":7:15");
    CHECK(error_for(dir, "[[test]]\nname = \"a\"\nshell = \"x\"\nafter = [\"b\"]\n[[test]]\nname "
                         "= \"b\"\nshell = \"y\"\n")
              .summary() == "'after' names 'b', which comes later in the recipe");
    CHECK(after("\"a\"").summary() == "'after' must be an array of strings, not a string");
    CHECK(test("shell = \"x\"\nserial = 1\n").summary() ==
          "'serial' must be a boolean, not an integer");
    CHECK(summary_for(dir, "[test]\nshell = \"x\"\n") ==
          "'test' must be an array of tables, not a table");
}

TEST_CASE("test patterns: backtracking constructs are refused at their column", "[recipe]") {
    // Patterns are matched by a linear-time engine (common/regex.hpp): what it cannot do is
    // a recipe error when the recipe loads, not a hang when the test runs.
    ScratchDir dir("recipe");
    const std::string file = (dir / "recipe.toml").string();
    auto test = [&](std::string_view body) {
        return error_for(dir, "[[test]]\nshell = \"x\"\n" + std::string(body));
    };
    const std::string hint = "patterns are ECMAScript regular expressions (as in JavaScript) "
                             "without backreferences and lookaround; see docs/recipe.md";
    RecipeError backref = test("stdout = '^(a)\\1$'\n");
    CHECK(backref.summary() == "'stdout' '^(a)\\1$' is not supported: backreference '\\1' (it "
                               "needs backtracking; patterns are matched in linear time)");
    CHECK(backref.hint() == hint);
    CHECK(backref.where().str() == file + ":3:15"); // the '\' of '\1'
    CHECK(std::string(backref.what()) == file + ":3:15: error: " + backref.summary() +
                                             "\n 3 | stdout = '^(a)\\1$'\n   | " +
                                             std::string(14, ' ') + "^\nhint: " + hint);
    // A basic string with escapes: the column is where the string starts.
    CHECK(test("stdout = \"^(a)\\\\1$\"\n").where().str() == file + ":3:10");
    CHECK(test("stderr_not = ['ok', 'x(?=y)']\n").summary() ==
          "'stderr_not' 'x(?=y)' is not supported: lookahead '(?=' (it needs backtracking; "
          "patterns are matched in linear time)");
    CHECK(test("stderr_not = ['ok', 'x(?=y)']\n").where().str() == file + ":3:23");
    RecipeError big = test("stdout = '" + std::string(90, 'a') + "{2000}'\n");
    CHECK(big.summary() == "'stdout' '" + std::string(77, 'a') +
                               "...' is too large: repeat count '{2000}' is over 1000");
    CHECK(big.where().str() == file + ":3:101");
    RecipeError posix =
        error_for(dir, "[[test]]\ntype = \"file\"\npath = \"/a\"\ncontains = '[[:digit:]]'\n");
    CHECK(posix.summary() ==
          "'contains' '[[:digit:]]' is not supported: '[:' in a class (POSIX classes are not "
          "ECMAScript: write the characters, e.g. [A-Za-z], or '\\[' for a '[')");
    CHECK(posix.where().str() == file + ":4:14"); // the second '['
    // Every pattern this repository's recipes use compiles (test_recipes loads them all).
}

TEST_CASE("[layer.python]: every key read, paths resolved, mistakes named") {
    ScratchDir dir("recipe-python");
    Recipe r = load_text(
        dir, "[[layer]]\nname = \"torch\"\n[layer.python]\n"
             "requirements = \"py/requirements.txt\"\nvenv = \"/opt/venv\"\n"
             "python = \"3.12\"\nglibc = \"2.35\"\ninterpreter = \"/usr/bin/python3.12\"\n"
             "index_url = \"https://download.pytorch.org/whl/cu128\"\n"
             "extra_index_urls = [\"https://pypi.org/simple\"]\n"
             "wheels = [\"dist/x-1.0-py3-none-any.whl\"]\n");
    REQUIRE(r.layers.size() == 1);
    REQUIRE(r.layers[0].python);
    const ocibake::PythonSpec& p = *r.layers[0].python;
    CHECK(p.requirements == dir.path() / "py/requirements.txt");
    CHECK(p.requirements_where.line == 4);
    CHECK(p.venv == "/opt/venv");
    CHECK(p.python == "3.12");
    CHECK(p.glibc == "2.35");
    CHECK(p.interpreter == "/usr/bin/python3.12");
    CHECK(p.index_url == "https://download.pytorch.org/whl/cu128");
    CHECK(p.extra_index_urls == Strings{"https://pypi.org/simple"});
    CHECK(p.wheels == std::vector<fs::path>{dir.path() / "dist/x-1.0-py3-none-any.whl"});

    CHECK(summary_for(dir, "[[layer]]\n[layer.python]\nvenv = \"/opt/venv\"\n") ==
          "[layer.python] needs 'requirements', 'pylock' or 'wheels'");
    CHECK(summary_for(
              dir, "[[layer]]\n[layer.python]\nrequirements = \"r.txt\"\npylock = \"p.toml\"\n") ==
          "'requirements' and 'pylock' are mutually exclusive");
    CHECK(summary_for(dir, "[[layer]]\n[layer.python]\nwheels = [\"x.tar.gz\"]\n") ==
          "'wheels' entry 'x.tar.gz' is not a .whl file");
    CHECK(summary_for(dir, "[[layer]]\n[layer.python]\nwheels = []\npython = \"3\"\n") ==
          "'python' '3' is not like \"3.11\"");
    CHECK(summary_for(dir, "[[layer]]\n[layer.python]\nwheels = []\nglibc = \"musl\"\n") ==
          "'glibc' 'musl' is not like \"2.36\" or \"none\"");
    CHECK(summary_for(dir, "[[layer]]\n[layer.python]\nwheels = []\nvenv = \"opt/venv\"\n") ==
          "'venv' must be an absolute path");
    RecipeError typo = error_for(dir, "[[layer]]\n[layer.python]\nrequirement = \"r.txt\"\n");
    CHECK(typo.summary() == "unknown key 'requirement' in [layer.python]");
    CHECK(typo.hint() == "did you mean 'requirements'?");
}

// ---- hostile recipes (issue 12): nesting, special files, long and binary lines ----------

namespace {

/// The depth of the deepest node of a parsed TOML tree (the root table is 0).
std::size_t tree_depth(const toml::node& node) {
    std::size_t deepest = 0;
    if (const toml::table* t = node.as_table()) {
        for (const auto& [key, child] : *t) {
            deepest = std::max(deepest, 1 + tree_depth(child));
        }
    } else if (const toml::array* a = node.as_array()) {
        for (const toml::node& child : *a) {
            deepest = std::max(deepest, 1 + tree_depth(child));
        }
    }
    return deepest;
}

std::string repeated(std::string_view part, std::size_t n, std::string_view separator) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += (i ? std::string(separator) : std::string()) + std::string(part);
    }
    return out;
}

const std::string deep_summary = "nested more than 128 levels deep (table headers, dotted keys, "
                                 "arrays and inline tables together)";

} // namespace

TEST_CASE("nesting is bounded before toml++ sees the text (it would overflow the stack)",
          "[recipe]") {
    ScratchDir dir("recipe-deep");
    const std::string file = (dir / "recipe.toml").string();
    // 50,000 parts (100 KB): toml++ frees such a tree recursively and crashed (exit 139).
    std::string parts = repeated("a", 50000, ".");

    SECTION("a dotted key") {
        RecipeError e = error_for(dir, "name = \"x\"\n" + parts + " = 1\n");
        CHECK(e.kind() == ErrorKind::recipe);
        CHECK(e.summary() == deep_summary);
        CHECK(e.where().str() == file + ":2:257"); // part 129 starts at column 257
    }
    SECTION("a table header, an array of tables") {
        CHECK(error_for(dir, "[" + parts + "]\n").where().str() == file + ":1:258");
        CHECK(error_for(dir, "[[" + parts + "]]\n").where().str() == file + ":1:259");
        CHECK(error_for(dir, "[ a . b ]\n[[" + parts + "]]\n").summary() == deep_summary);
    }
    SECTION("arrays and inline tables") {
        RecipeError e = error_for(dir, "x = " + std::string(50000, '[') + "\n");
        CHECK(e.summary() == deep_summary);
        CHECK(e.where().str() == file + ":1:133"); // the 129th '['
        e = error_for(dir, "x = " + repeated("{a=", 50000, "") + "\n");
        CHECK(e.where().str() == file + ":1:387");
    }
    SECTION("the levels add up: header, dotted key, inline table, array") {
        std::string header = "[" + repeated("h", 100, ".") + "]\n";
        CHECK(error_for(dir, header + repeated("k", 20, ".") + " = {" + repeated("i", 5, ".") +
                                 " = [[[[1]]]]}\n")
                  .summary() == deep_summary);
        // The 1 sits 100 + 20 + 5 + 3 = 128 deep: allowed (the schema refuses it, not the scan).
        CHECK(error_for(dir, header + repeated("k", 20, ".") + " = {" + repeated("i", 5, ".") +
                                 " = [[[1]]]}\n")
                  .summary() == "unknown key 'h' in the top level");
    }
    SECTION("the same bound for a fragment, with its name") {
        write_file(dir / "deep.toml", "[config]\n" + parts + " = 1\n");
        RecipeError e = error_for(dir, "include = [\"deep.toml\"]\n");
        CHECK(e.summary() == deep_summary);
        CHECK(e.where().str() == (dir / "deep.toml").string() + ":2:255"); // [config] is 1
    }
}

TEST_CASE("a table header without a key on its line is a located error, not an abort", "[recipe]") {
    // toml++ 3.3 asserts on `[` followed by a newline (found by the random texts below under
    // the sanitizer build, where assertions are on): the scan refuses it before toml++ runs.
    ScratchDir dir("recipe-header-key");
    struct Case {
        const char* text;
        const char* summary;
        const char* where;
    };
    for (const Case& c : {
             Case{"name = \"x\"\n[\n.a]\n", "a table header needs a key on its line, saw a newline",
                  ":2:2"},
             Case{"name = \"x\"\n[[ \t\r\nb]]\n",
                  "a table header needs a key on its line, saw a carriage return", ":2:5"},
             Case{"name = \"x\"\n[ # c\nd]\n",
                  "a table header needs a key on its line, saw a comment", ":2:3"},
             Case{"name = \"x\"\n[.e]\n", "a table header needs a key on its line, saw '.'",
                  ":2:2"},
         }) {
        INFO(c.text);
        RecipeError e = error_for(dir, c.text);
        CHECK(e.kind() == ErrorKind::recipe);
        CHECK(e.summary() == c.summary);
        CHECK(e.where().str().ends_with(c.where));
    }
}

TEST_CASE("the nesting scan measures what toml++ builds, on tricky valid TOML", "[recipe]") {
    // Strings, comments and quoted keys that hold brackets, dots, quotes and '='.
    const std::vector<std::string> texts = {
        "",
        "a = 1",
        "a.b.c = 1 # [[x.y.z]]",
        "\"a.b\" . 'c.d' . e = 'x]y'",
        "[a . \"b.c\" . 'd']\nk = \"[{\\\"\"\n[[x.y]]\n[[x.y]]\nz = [ [ 1 ], [ [ 2 ] ] ]",
        "s = \"\"\"\n[a.b.c.d]\n\\\"\"\" still\n\"\"\"\nt = '''\n{{{{ ''' \nu = 1",
        "s = \"\"\"a\"\"\"\"\"\nt = '''b'''''\nv = {w = {x.y = [1, {z = 2}]}}",
        "d = 1979-05-27 07:32:00Z\ne = [1979-05-27, 07:32:00,]\nf = { g = 1979-05-27T07:32:00 }",
        "a = [\n  # a comment [[[\n  [1, 2], # more ]\n  [3],\n]\n[t]\n'q' = { }",
        "[a]\n[a.b.c]\nx = []\n[[d]]\ne.f = {}",
        "x = \"tab\there \\u00e9\"\n\"é\" = 'ü'\n[\"ü\".'é']\n",
        "arr = [ { a = [ { b = [ [ { c = 1 } ] ] } ] } ]",
        "[[a]]\n[[a.b]]\n[a.b.c]\nd.e = [1]\n[[a]]\n[[a.b]]\n[[a.b.f]]\ng = 1",
        "[[\"a\"]]\n['a'.b]\nc = 1", // one key, two spellings without escapes
    };
    for (const std::string& text : texts) {
        INFO(text);
        toml::table table = toml::parse(text);
        CHECK(ocibake::detail::toml_depth(text) == tree_depth(table));
    }
    // Random text from TOML's punctuation: the scan always ends, and where toml++ parses
    // the text, both agree.
    const std::string alphabet = "[]{}\"'.=,#\n \\abc1[]==\n..";
    std::size_t parsed = 0;
    for (std::uint64_t seed = 1; seed <= 100000; ++seed) {
        std::string bytes = ocibake::test::pseudo_random(1 + seed % 60, seed);
        std::string text;
        for (char c : bytes) {
            text += alphabet[static_cast<unsigned char>(c) % alphabet.size()];
        }
        std::size_t depth = ocibake::detail::toml_depth(text);
        try {
            // parse_toml, not toml::parse: toml++ asserts on some of these texts (a header
            // without a key on its line), which parse_toml refuses first.
            toml::table table = ocibake::detail::parse_toml(text, "random.toml");
            INFO(text);
            CHECK(depth == tree_depth(table));
            ++parsed;
        } catch (const ocibake::RecipeError&) {
        }
    }
    CHECK(parsed > 1000);
    // And every recipe and lock of the repository.
    for (const auto& entry : fs::recursive_directory_iterator(ocibake::test::source_dir())) {
        std::string name = entry.path().string();
        if (name.find("/build/") != std::string::npos || name.find("/.git/") != std::string::npos ||
            !(entry.path().extension() == ".toml" || entry.path().extension() == ".lock")) {
            continue;
        }
        INFO(name);
        std::string text = ocibake::test::read_file(entry.path());
        toml::table table = toml::parse(text);
        CHECK(ocibake::detail::toml_depth(text) == tree_depth(table));
    }
}

TEST_CASE("a recipe or include that is not a regular file is refused, never read", "[recipe]") {
    ScratchDir dir("recipe-fifo");
    const std::string folder = dir.path().string() + "/";
    fs::path fifo = dir / "fifo.toml";
    REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
    // Opening a FIFO without O_NONBLOCK waits for a writer: a regression hangs. Run the
    // load on a thread, and if it is still waiting after 20 s, fail and unblock it.
    auto bounded = [&](std::function<void()> load) {
        auto done = std::async(std::launch::async, [&] { return error_from(load); });
        if (done.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
            FAIL_CHECK("loading a FIFO still waits after 20 s");
            int writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
            if (writer >= 0) {
                ::close(writer);
            }
        }
        return done.get();
    };

    SECTION("the recipe is a FIFO") {
        RecipeError e = bounded([&] { ocibake::load_recipe(fifo); });
        CHECK(e.kind() == ErrorKind::input);
        CHECK(std::string(e.what()) ==
              folder + "fifo.toml: error: cannot read recipe: it is a FIFO, not a regular file");
    }
    SECTION("an include is a FIFO") {
        write_file(dir / "r.toml", "name = \"x\"\ninclude = [\"fifo.toml\"]\n");
        RecipeError e = bounded([&] { ocibake::load_recipe(dir / "r.toml"); });
        CHECK(e.kind() == ErrorKind::input);
        CHECK(e.summary() ==
              "cannot read include '" + folder + "fifo.toml': it is a FIFO, not a regular file");
        CHECK(e.where().str() == folder + "r.toml:2:12");
    }
    SECTION("a directory") {
        fs::create_directories(dir / "d.toml");
        RecipeError e = error_from([&] { ocibake::load_recipe(dir / "d.toml"); });
        CHECK(e.kind() == ErrorKind::input);
        CHECK(e.summary() == "cannot read recipe: it is a directory, not a regular file");
    }
    SECTION("a character device") {
        RecipeError e = error_from([&] { ocibake::load_recipe("/dev/zero"); });
        CHECK(e.summary() == "cannot read recipe: it is a character device, not a regular file");
    }
}

TEST_CASE("a recipe over 16 MiB is refused", "[recipe]") {
    ScratchDir dir("recipe-big");
    std::string text = "name = \"x\"\n# " + std::string(16 << 20, 'x') + "\n";
    RecipeError e = error_for(dir, text);
    CHECK(e.kind() == ErrorKind::input);
    CHECK(e.summary() == "recipe is larger than 16 MiB");
}

TEST_CASE("error snippets: a window of a long line, the caret under the column, "
          "bytes escaped",
          "[recipe]") {
    ScratchDir dir("recipe-snippet");
    const std::string file = (dir / "recipe.toml").string();

    SECTION("a 200 KB line is cut around the column") {
        RecipeError e = error_for(dir, "[config]\nuser = \"" + std::string(200000, 'a') + "\" x\n");
        CHECK(e.where().str() == file + ":2:200011");
        // Near the end of the line: its last 120 code points, "..." where it was cut.
        CHECK(std::string(e.what()) == file +
                                           ":2:200011: error: Error while parsing key-value pair: "
                                           "expected a comment or whitespace, saw 'x'\n"
                                           " 2 | ..." +
                                           std::string(117, 'a') + "\" x\n" + "   |    " +
                                           std::string(119, ' ') + "^");
    }
    SECTION("in the middle of a long line, both ends cut") {
        std::string ones = repeated("1", 2000, ",");
        RecipeError e = error_for(dir, "[config]\nx = [" + ones + ", bad, " + ones + "]\n");
        CHECK(e.where().str() == file + ":2:4007");
        // 60 code points before the column, 60 from it.
        CHECK(std::string(e.what()) == file +
                                           ":2:4007: error: Error while parsing value: could not "
                                           "determine value type\n"
                                           " 2 | ...," +
                                           repeated("1", 29, ",") + ", bad, " +
                                           repeated("1", 28, ",") + "...\n" + "   |    " +
                                           std::string(60, ' ') + "^");
        // At the start: cut at the end only.
        e = error_for(dir, "[config]\nuser = " + repeated("1", 5000, ",") + "\n");
        CHECK(e.where().str() == file + ":2:9");
        CHECK(std::string(e.what()).ends_with(" 2 | user = " + repeated("1", 57, ",") +
                                              "...\n   | " + std::string(8, ' ') + "^"));
    }
    SECTION("control characters and invalid UTF-8 are escaped, in the line and the summary") {
        RecipeError e = error_for(dir, "[config]\n\"\\u001b[2J\" = 1 # \xc3\n");
        CHECK(std::string(e.what()) == file + ":2:18: error: Encountered invalid utf-8 sequence\n"
                                              " 2 | \"\\u001b[2J\" = 1 # \\xc3\n"
                                              "   |                  ^");
        e = error_for(dir, "[config]\nuser = 1 # \x1b[2J\n");
        CHECK(std::string(e.what()).find(" 2 | user = 1 # \\x1b[2J\n") != std::string::npos);
        e = error_for(dir, "[config]\n\"\\u001b[2J\\u202e\" = 1 # x\u202e\n");
        CHECK(e.summary() == "unknown key '\\x1b[2J\\u202e' in [config]");
        CHECK(std::string(e.what()).find(" 2 | \"\\u001b[2J\\u202e\" = 1 # x\\u202e\n") !=
              std::string::npos);
    }
    SECTION("a tab keeps the caret aligned, a wide code point counts once") {
        RecipeError e = error_for(dir, "[config]\n\tnom\u00e9 = 1\n");
        CHECK(std::string(e.what()).ends_with(" 2 | \tnomé = 1\n   | \t   ^"));
        e = error_for(dir, "[config]\nlabels = { \"é\" = 1 }\n");
        CHECK(std::string(e.what()).ends_with(" 2 | labels = { \"é\" = 1 }\n   | " +
                                              std::string(17, ' ') + "^"));
    }
    SECTION("a long value in a summary is cut") {
        RecipeError e = error_for(dir, "tag = \"" + std::string(100000, 'b') + "\"\n");
        CHECK(e.summary() == "'tag' '" + std::string(200, 'b') + "...' is not a valid tag");
    }
}

TEST_CASE("layer.archive and layer.nvidia tables are read and checked", "[recipe]") {
    ScratchDir dir("recipe-archive");
    std::string hex(64, 'a');
    Recipe r = load_text(dir, "[[layer]]\n[[layer.archive]]\nurl = \"https://h/x.tar.xz\"\n"
                              "sha256 = \"sha256:" +
                                  hex +
                                  "\"\nstrip = 2\ndst = \"/opt/x\"\ninclude = [\"lib/**\"]\n"
                                  "mode = 0o600\nuid = 7\nsatisfies = \"nvidia-cudnn\"\n"
                                  "[[layer.nvidia]]\nproduct = \"cuda\"\nversion = \"12.4.1\"\n"
                                  "components = [\"cuda_cudart\", \"libcublas\"]\n");
    const ocibake::ArchiveItem& a = r.layers.at(0).archives.at(0);
    CHECK(a.url == "https://h/x.tar.xz");
    CHECK(a.sha256.hex() == hex);
    CHECK(a.strip == 2);
    CHECK(a.dst == "/opt/x");
    CHECK(a.options.include == Strings{"lib/**"});
    CHECK(a.options.file_mode == 0600u);
    CHECK(a.options.uid == 7u);
    CHECK(a.satisfies == "nvidia-cudnn");
    const ocibake::NvidiaItem& n = r.layers.at(0).nvidia.at(0);
    CHECK(n.manifest ==
          "https://developer.download.nvidia.com/compute/cuda/redist/redistrib_12.4.1.json");
    CHECK(n.components == Strings{"cuda_cudart", "libcublas"});
    CHECK(n.cuda_version == "12.4");
    CHECK(n.layout == "nvidia");
    CHECK(r.layers.at(0).uses_image_below());

    CHECK(summary_for(dir, "[[layer]]\n[[layer.archive]]\nurl = \"https://h/x.tar\"\n") ==
          "[[layer.archive]] needs 'sha256' or 'sha512'");
    CHECK(summary_for(dir, "[[layer]]\n[[layer.archive]]\nurl = \"ftp://h/x\"\nsha256 = \"" + hex +
                               "\"\n") == "'url' 'ftp://h/x' is not an http(s) URL");
    RecipeError bad = error_for(dir, "[[layer]]\n[[layer.archive]]\nurl = \"https://h/x\"\n"
                                     "sha512 = \"abc\"\n");
    CHECK(bad.where().line == 4);
    CHECK(bad.where().column == 10);
    CHECK(bad.summary() == "'sha512' 'abc' is not a sha512 digest");
    CHECK(summary_for(dir,
                      "[[layer]]\n[[layer.nvidia]]\nmanifest = \"https://h/r.json\"\n"
                      "components = [\"cudnn\"]\n") == "[[layer.nvidia]] needs 'cuda_version'");
    CHECK(summary_for(dir, "[[layer]]\n[[layer.nvidia]]\nproduct = \"cudnn\"\nversion = \"9\"\n"
                           "components = [\"cudnn\"]\nlayout = \"debian\"\nplatform = \"win\"\n") ==
          "'platform' 'win' is not one of linux-x86_64, linux-sbsa, linux-aarch64, linux-ppc64le");
    CHECK(summary_for(dir, "[[layer]]\n[[layer.archive]]\nurl = \"https://h/x\"\nsha256 = \"" +
                               hex + "\"\nsatisfies = \"Bad Name\"\n") ==
          "'satisfies' 'Bad Name' is not a Debian package name");
}
