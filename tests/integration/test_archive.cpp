// Archives as layer inputs, end to end: [[layer.archive]] (tar.xz and zip made here,
// served on loopback), `ocibake lock`, `ocibake build`, the image unpacked with umoci;
// and [[layer.nvidia]]: a manifest of NVIDIA's redistrib format served on loopback with
// stand-in archives of NVIDIA's layout, resolved and installed for x86_64 and sbsa.
#include "support/apt_fixture.hpp"
#include "support/checks.hpp"

#include "ocibake/digest.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace ocibake;
using namespace ocibake::test;
namespace fs = std::filesystem;

namespace {

CommandResult ocibake_cli(const ScratchDir& dir, std::vector<std::string> args) {
    return run_cli(std::move(args), dir / "cache", {"SOURCE_DATE_EPOCH=0"});
}

/// A tree of an upstream release: a top directory, a library with its soname links, a
/// header, a script and a note, with odd owners, modes and times that must not leak.
fs::path make_release(const ScratchDir& dir, const std::string& top) {
    fs::path root = dir / "src" / top;
    fs::create_directories(root / "lib");
    fs::copy_file("/usr/lib/x86_64-linux-gnu/libz.so.1.2.13", root / "lib/libz.so.1.2.13");
    fs::create_symlink("libz.so.1.2.13", root / "lib/libz.so.1");
    write_file(root / "include/z.h", "/* header */\n", 0600);
    write_file(root / "bin/tool", "#!/bin/sh\necho tool\n", 0700);
    write_file(root / "LICENSE", "license text\n", 0640);
    must({"sh", "-c",
          "cd '" + (dir / "src").string() + "' && touch -d 2011-01-01 -h $(find " + top +
              ") && chown -R 1234:5678 " + top});
    return root;
}

/// The unpacked image's tree (umoci), path -> "type mode uid:gid [size|target]".
std::map<std::string, std::string> image_tree(const ScratchDir& dir, const fs::path& layout,
                                              const std::string& name) {
    fs::path bundle = dir / ("bundle-" + name);
    must({"umoci", "unpack", "--image", layout.string() + ":latest", bundle.string()});
    return describe_tree(bundle / "rootfs");
}

std::string recipe_head(const std::string& name) {
    return "name = \"" + name + "\"\n[[layer]]\nname = \"vendor\"\nldconfig = true\n";
}

} // namespace

TEST_CASE("archive inputs: tar.xz and zip with strip and include are locked and built "
          "deterministically with the libraries in ld.so.cache") {
    require_program("umoci", "umoci");
    ScratchDir dir("archive");
    make_release(dir, "zlib-1.2.13");
    fs::create_directories(dir / "www");
    must({"sh", "-c",
          "cd '" + (dir / "src").string() + "' && tar -cJf ../www/zlib.tar.xz zlib-1.2.13 && " +
              "zip -qry ../www/zlib.zip zlib-1.2.13"});
    AptServer server(dir / "www");
    std::string recipe =
        recipe_head("vendor") + "[[layer.archive]]\nurl = \"" + server.url() +
        "/zlib.tar.xz\"\nsha256 = \"" + hex_of(dir / "www/zlib.tar.xz") +
        "\"\nstrip = 1\ndst = \"/opt/vendor\"\nexclude = [\"include\"]\n"
        "[[layer.archive]]\nurl = \"" +
        server.url() + "/zlib.zip\"\nsha256 = \"sha256:" + hex_of(dir / "www/zlib.zip") +
        "\"\nstrip = 1\ndst = \"/opt/zip\"\ninclude = [\"include/*.h\", \"bin/*\"]\n"
        "uid = 1000\ngid = 1000\n"
        "[[layer.files]]\npath = \"/etc/ld.so.conf.d/vendor.conf\"\ncontent = "
        "\"/opt/vendor/lib\\n\"\n"
        "[[layer.files]]\npath = \"/etc/ld.so.conf\"\ncontent = "
        "\"include /etc/ld.so.conf.d/*.conf\\n\"\n";
    fs::path file = write_file(dir / "vendor.toml", recipe);

    CommandResult locked = ocibake_cli(dir, {"lock", file.string()});
    INFO(locked.out << locked.err);
    REQUIRE(locked.exit_code == 0);
    std::string lock = read_file(dir / "vendor.lock");
    CHECK(lock.find("[[archive]]\nlayer = \"vendor\"") != std::string::npos);
    CHECK(lock.find("url = \"" + server.url() + "/zlib.tar.xz\"\n  size = " +
                    std::to_string(fs::file_size(dir / "www/zlib.tar.xz")) +
                    "\n  sha256 = \"sha256:" + hex_of(dir / "www/zlib.tar.xz") + "\"") !=
          std::string::npos);

    CommandResult built =
        ocibake_cli(dir, {"build", file.string(), "-o", "oci:" + (dir / "out").string()});
    INFO(built.out << built.err);
    REQUIRE(built.exit_code == 0);
    auto tree = image_tree(dir, dir / "out", "a");
    CHECK(tree.at("opt/vendor/lib/libz.so.1") == "symlink 0777 -> libz.so.1.2.13 0:0");
    CHECK(tree.at("opt/vendor/lib/libz.so.1.2.13") ==
          "file 0644 " + std::to_string(fs::file_size("/usr/lib/x86_64-linux-gnu/libz.so.1.2.13")) +
              " 0:0");
    CHECK(tree.at("opt/vendor/bin/tool") == "file 0755 20 0:0");
    CHECK(tree.at("opt/vendor/LICENSE") == "file 0644 13 0:0");
    CHECK(tree.count("opt/vendor/include/z.h") == 0); // excluded
    CHECK(tree.count("opt/vendor/zlib-1.2.13") == 0); // stripped
    CHECK(tree.at("opt/zip/include/z.h") == "file 0644 13 1000:1000");
    CHECK(tree.at("opt/zip/bin/tool") == "file 0755 20 1000:1000");
    CHECK(tree.count("opt/zip/LICENSE") == 0); // not included
    CHECK(tree.count("opt/zip/lib/libz.so.1.2.13") == 0);
    // The state layer's ld.so.cache has the archive's library.
    auto cache = must({"ldconfig", "-p", "-C", (dir / "bundle-a/rootfs/etc/ld.so.cache").string()});
    CHECK_THAT(cache.out,
               Catch::Contains("libz.so.1 (libc6,x86-64) => /opt/vendor/lib/libz.so.1\n"));

    // Same recipe, lock and inputs, another cache: the same image.
    CommandResult again = run_cli({"build", file.string(), "-o", "oci:" + (dir / "out2").string()},
                                  dir / "cache2", {"SOURCE_DATE_EPOCH=0"});
    REQUIRE(again.exit_code == 0);
    CHECK(read_file(dir / "out/index.json") == read_file(dir / "out2/index.json"));
}

TEST_CASE("the lock's diff names archives: one that arrives, one another file replaces, "
          "one whose digest changes, with the layer each rebuilds") {
    ScratchDir dir("archive-diff");
    fs::create_directories(dir / "www");
    auto release = [&](const std::string& name, const std::string& text) {
        write_file(dir / "src" / name / "NOTE", text);
        must(
            {"sh", "-c",
             "cd '" + (dir / "src").string() + "' && tar -czf ../www/" + name + ".tar.gz " + name});
        return hex_of(dir / "www" / (name + ".tar.gz"));
    };
    AptServer server(dir / "www");
    auto write_recipe = [&](const std::string& name, const std::string& sha) {
        return write_file(dir / "v.toml", recipe_head("v") + "[[layer.archive]]\nurl = \"" +
                                              server.url() + "/" + name + ".tar.gz\"\nsha256 = \"" +
                                              sha + "\"\ndst = \"/opt/v\"\n");
    };
    std::string one = release("one", "first\n");
    fs::path file = write_recipe("one", one);
    CommandResult r = ocibake_cli(dir, {"lock", file.string()});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("layer vendor (archives): 1 new archive, "));
    CHECK_THAT(r.out, Catch::Contains(": 1 archive\n"));

    // Another file: the old one leaves, the new one arrives; the layer is rebuilt.
    std::string two = release("two", "second\n");
    write_recipe("two", two);
    r = ocibake_cli(dir, {"lock", file.string()});
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("layer vendor (archives)\n  ARCHIVE"));
    CHECK_THAT(r.out, Catch::Contains("one.tar.gz  sha256:" + one.substr(0, 12) + "  -"));
    CHECK_THAT(r.out, Catch::Contains("sha256:" + two.substr(0, 12) + "  " + server.url() +
                                      "/two.tar.gz"));
    CHECK_THAT(r.out, Catch::Contains("(the recipe no longer names it)"));
    CHECK_THAT(r.out, Catch::Contains(": 2 archives\n"));
    CHECK_THAT(r.out, Catch::Contains("layers whose digest changes (predicted):\n  vendor  "));
    CHECK_THAT(r.out, Catch::Contains("2 archives change"));

    // The same URL, another digest: one change, in --json as well.
    std::string again = release("two", "second, again\n");
    REQUIRE(again != two);
    write_recipe("two", again);
    r = ocibake_cli(dir, {"lock", file.string(), "--json"});
    REQUIRE(r.exit_code == 0);
    auto j = nlohmann::json::parse(r.out);
    REQUIRE(j["diff"]["changes"].size() == 1);
    auto c = j["diff"]["changes"][0];
    CHECK(c["kind"] == "archive");
    CHECK(c["layer"] == "vendor");
    CHECK(c["name"] == "two.tar.gz");
    CHECK(c["from"] == "sha256:" + two.substr(0, 12));
    CHECK(c["to"] == "sha256:" + again.substr(0, 12));
    CHECK(c["file"] == server.url() + "/two.tar.gz");
    CHECK(c["size"] == fs::file_size(dir / "www/two.tar.gz"));
    CHECK(c["reason"] == "the recipe names another digest");
    REQUIRE(j["diff"]["rebuild"].size() == 1);
    CHECK(j["diff"]["rebuild"][0]["name"] == "vendor");
    CHECK(j["diff"]["rebuild"][0]["why"] ==
          "two.tar.gz sha256:" + two.substr(0, 12) + " -> sha256:" + again.substr(0, 12));
    CHECK(j["diff"]["rebuild"][0]["bytes"] == fs::file_size(dir / "www/two.tar.gz"));
}

TEST_CASE("archive inputs refused: a wrong sha256 names the URL with expected and got "
          "and a member escaping the root is refused") {
    ScratchDir dir("archive-bad");
    make_release(dir, "pkg");
    fs::create_directories(dir / "www");
    must({"sh", "-c", "cd '" + (dir / "src").string() + "' && tar -czf ../www/pkg.tar.gz pkg"});
    AptServer server(dir / "www");
    std::string good = hex_of(dir / "www/pkg.tar.gz");
    std::string wrong(64, 'a');

    SECTION("a wrong sha256") {
        fs::path file = write_file(
            dir / "bad.toml", recipe_head("bad") + "[[layer.archive]]\nurl = \"" + server.url() +
                                  "/pkg.tar.gz\"\nsha256 = \"" + wrong + "\"\n");
        CommandResult r = ocibake_cli(dir, {"lock", file.string()});
        CHECK(r.exit_code != 0);
        CHECK_THAT(r.err, Catch::Contains("bad.toml:7:10"));
        CHECK_THAT(r.err, Catch::Contains("archive " + server.url() +
                                          "/pkg.tar.gz does not match its digest: expected "
                                          "sha256:" +
                                          wrong + ", got sha256:" + good));
        CHECK_FALSE(fs::exists(dir / "bad.lock"));
        CHECK_FALSE(fs::exists(dir / "cache/blobs/sha256" / good));
    }
    SECTION("a wrong sha512") {
        std::string wrong512(128, 'b');
        fs::path file = write_file(
            dir / "bad.toml", recipe_head("bad") + "[[layer.archive]]\nurl = \"" + server.url() +
                                  "/pkg.tar.gz\"\nsha512 = \"" + wrong512 + "\"\n");
        CommandResult r = ocibake_cli(dir, {"lock", file.string()});
        CHECK(r.exit_code != 0);
        CHECK_THAT(r.err,
                   Catch::Contains("expected sha512:" + wrong512 + ", got sha512:" +
                                   must({"sh", "-c",
                                         "sha512sum < '" + (dir / "www/pkg.tar.gz").string() +
                                             "' | cut -c1-128"})
                                       .out.substr(0, 128)));
    }
    SECTION("a member that climbs out") {
        must({"python3", "-c",
              "import tarfile, io\n"
              "t = tarfile.open('" +
                  (dir / "www/evil.tar").string() +
                  "', 'w')\n"
                  "i = tarfile.TarInfo('pkg/../../etc/cron.d/x'); data = b'pwn\\n'; i.size = "
                  "len(data)\n"
                  "t.addfile(i, io.BytesIO(data)); t.close()\n"});
        fs::path file =
            write_file(dir / "evil.toml", recipe_head("evil") + "[[layer.archive]]\nurl = \"" +
                                              server.url() + "/evil.tar\"\nsha256 = \"" +
                                              hex_of(dir / "www/evil.tar") + "\"\nstrip = 1\n");
        CommandResult r =
            ocibake_cli(dir, {"build", file.string(), "-o", "oci:" + (dir / "out").string()});
        CHECK(r.exit_code != 0);
        CHECK_THAT(r.err, Catch::Contains("evil.toml:5:1"));
        CHECK_THAT(r.err, Catch::Contains("archive " + server.url() +
                                          "/evil.tar: member 'pkg/../../etc/cron.d/x' climbs "
                                          "out of the archive with '..'; refused"));
        CHECK_FALSE(fs::exists(dir / "out"));
    }
    SECTION("a whiteout name") {
        must({"sh", "-c",
              "cd '" + (dir / "src").string() +
                  "' && touch pkg/.wh.passwd && tar -cf ../www/wh.tar pkg"});
        fs::path file = write_file(
            dir / "wh.toml", recipe_head("wh") + "[[layer.archive]]\nurl = \"" + server.url() +
                                 "/wh.tar\"\nsha256 = \"" + hex_of(dir / "www/wh.tar") + "\"\n");
        CommandResult r =
            ocibake_cli(dir, {"build", file.string(), "-o", "oci:" + (dir / "out").string()});
        CHECK(r.exit_code != 0);
        CHECK_THAT(r.err, Catch::Contains("member 'pkg/.wh.passwd' is a whiteout name"));
    }
    SECTION("an include that keeps nothing is never a silent empty layer") {
        fs::path file =
            write_file(dir / "none.toml", recipe_head("none") + "[[layer.archive]]\nurl = \"" +
                                              server.url() + "/pkg.tar.gz\"\nsha256 = \"" + good +
                                              "\"\nstrip = 1\ninclude = [\"nothing/*\"]\n");
        CommandResult r =
            ocibake_cli(dir, {"build", file.string(), "-o", "oci:" + (dir / "out").string()});
        CHECK(r.exit_code != 0);
        CHECK_THAT(r.err, Catch::Contains("the layer would be silently empty"));
    }
}

namespace {

/// A stand-in archive in the layout of NVIDIA's redistributables:
/// <name>-<platform>-<version>-archive/{lib,include,LICENSE}. For x86_64 the library is a
/// real ELF object with the soname `soname`; for other platforms a placeholder.
fs::path make_redist(const ScratchDir& dir, const std::string& top, const std::string& soname,
                     const std::string& real, bool elf) {
    fs::path root = dir / "redist-src" / top;
    fs::create_directories(root / "lib");
    if (elf) {
        write_file(dir / "standin.c", "int standin(void) { return 1; }\n");
        must({"cc", "-shared", "-fPIC", "-Wl,-soname," + soname, "-o",
              (root / "lib" / real).string(), (dir / "standin.c").string()});
    } else {
        write_file(root / "lib" / real, "stand-in for " + real + "\n");
    }
    fs::create_symlink(real, root / "lib" / soname);
    write_file(root / "include/standin.h", "/* " + top + " */\n");
    write_file(root / "LICENSE", "stand-in license\n");
    return root;
}

/// NVIDIA's redistrib JSON for `entries` (component -> platform -> relative_path), with
/// each archive's real sha256 and size; cudnn's entries are per CUDA variant.
std::string redistrib_json(const fs::path& www, const std::string& product,
                           const std::map<std::string, std::map<std::string, std::string>>& entries,
                           const std::string& version) {
    std::string out = "{\n  \"release_date\": \"2024-04-01\",\n  \"release_label\": \"" + version +
                      "\",\n  \"release_product\": \"" + product + "\"";
    for (const auto& [component, platforms] : entries) {
        bool variants = component == "cudnn";
        out += ",\n  \"" + component +
               "\": {\n    \"name\": \"stand-in\",\n    \"license\": "
               "\"stand-in\",\n    \"version\": \"" +
               version + "\"" + (variants ? ",\n    \"cuda_variant\": [\"12\"]" : "");
        for (const auto& [platform, rel] : platforms) {
            fs::path file = www / "compute" / product / "redist" / rel;
            std::string archive = "{\"relative_path\": \"" + rel + "\", \"sha256\": \"" +
                                  hex_of(file) + "\", \"md5\": \"0\", \"size\": \"" +
                                  std::to_string(fs::file_size(file)) + "\"}";
            out += ",\n    \"" + platform +
                   "\": " + (variants ? "{\"cuda12\": " + archive + "}" : archive);
        }
        out += "\n  }";
    }
    return out + "\n}\n";
}

} // namespace

TEST_CASE("NVIDIA redistributables by name: a redistrib manifest served on loopback "
          "resolved and installed for x86_64 and sbsa in both layouts") {
    require_program("umoci", "umoci");
    require_program("cc", "build-essential");
    ScratchDir dir("nvidia");
    fs::path www = dir / "www";
    std::map<std::string, std::map<std::string, std::string>> cuda, cudnn;
    for (const std::string platform : {"linux-x86_64", "linux-sbsa"}) {
        bool elf = platform == "linux-x86_64";
        std::string cudart = "cuda_cudart-" + platform + "-12.4.127-archive";
        std::string dnn = "cudnn-" + platform + "-9.0.0.312_cuda12-archive";
        make_redist(dir, cudart, "libcudart.so.12", "libcudart.so.12.4.127", elf);
        make_redist(dir, dnn, "libcudnn.so.9", "libcudnn.so.9.0.0", elf);
        fs::path cuda_dir = www / "compute/cuda/redist/cuda_cudart" / platform;
        fs::path cudnn_dir = www / "compute/cudnn/redist/cudnn" / platform;
        fs::create_directories(cuda_dir);
        fs::create_directories(cudnn_dir);
        must({"sh", "-c",
              "cd '" + (dir / "redist-src").string() + "' && tar -cJf '" +
                  (cuda_dir / (cudart + ".tar.xz")).string() + "' " + cudart + " && tar -cJf '" +
                  (cudnn_dir / (dnn + ".tar.xz")).string() + "' " + dnn});
        cuda["cuda_cudart"][platform] = "cuda_cudart/" + platform + "/" + cudart + ".tar.xz";
        cudnn["cudnn"][platform] = "cudnn/" + platform + "/" + dnn + ".tar.xz";
    }
    write_file(www / "compute/cuda/redist/redistrib_12.4.1.json",
               redistrib_json(www, "cuda", cuda, "12.4.127"));
    write_file(www / "compute/cudnn/redist/redistrib_9.0.0.json",
               redistrib_json(www, "cudnn", cudnn, "9.0.0.312"));
    AptServer server(www);

    for (const auto& [platform, nvidia, triplet] :
         std::vector<std::tuple<std::string, std::string, std::string>>{
             {"linux/amd64", "linux-x86_64", "x86_64-linux-gnu"},
             {"linux/arm64", "linux-sbsa", "aarch64-linux-gnu"}}) {
        DYNAMIC_SECTION(platform) {
            std::string recipe =
                "name = \"cuda\"\nplatform = \"" + platform +
                "\"\n[[layer]]\nname = \"cuda\"\n"
                "[[layer.files]]\npath = \"/etc/ld.so.conf\"\ncontent = "
                "\"include /etc/ld.so.conf.d/*.conf\\n\"\n"
                // what Debian's libc6 ships: the multiarch directory is not a default one
                "[[layer.files]]\npath = \"/etc/ld.so.conf.d/" +
                triplet + ".conf\"\ncontent = \"/usr/lib/" + triplet +
                "\\n\"\n"
                "[[layer.nvidia]]\nmanifest = \"" +
                server.url() +
                "/compute/cuda/redist/redistrib_12.4.1.json\"\ncomponents = [\"cuda_cudart\"]\n"
                "cuda_version = \"12.4\"\n"
                "[[layer.nvidia]]\nmanifest = \"" +
                server.url() +
                "/compute/cudnn/redist/redistrib_9.0.0.json\"\ncomponents = [\"cudnn\"]\n"
                "cuda_variant = \"cuda12\"\nlayout = \"debian\"\n";
            fs::path file = write_file(dir / "cuda.toml", recipe);
            fs::remove(dir / "cuda.lock");
            CommandResult locked = ocibake_cli(dir, {"lock", file.string()});
            INFO(locked.out << locked.err);
            REQUIRE(locked.exit_code == 0);
            std::string lock = read_file(dir / "cuda.lock");
            std::string cudart = "cuda_cudart-" + nvidia + "-12.4.127-archive.tar.xz";
            fs::path cudart_file = www / "compute/cuda/redist/cuda_cudart" / nvidia / cudart;
            CHECK_THAT(
                lock, Catch::Contains("  url = \"" + server.url() +
                                      "/compute/cuda/redist/cuda_cudart/" + nvidia + "/" + cudart +
                                      "\"\n  size = " + std::to_string(fs::file_size(cudart_file)) +
                                      "\n  sha256 = \"sha256:" + hex_of(cudart_file) +
                                      "\"\n  manifest = \"" + server.url() +
                                      "/compute/cuda/redist/redistrib_12.4.1.json\"\n  component = "
                                      "\"cuda_cudart\"\n  version = \"12.4.127\"\n  platform = \"" +
                                      nvidia + "\"\n"));
            CHECK_THAT(lock, Catch::Contains("component = \"cudnn\"\n  version = \"9.0.0.312\"\n  "
                                             "platform = \"" +
                                             nvidia + "\"\n  variant = \"cuda12\"\n"));

            fs::path out = dir / ("out-" + nvidia);
            CommandResult built =
                ocibake_cli(dir, {"build", file.string(), "-o", "oci:" + out.string()});
            INFO(built.out << built.err);
            REQUIRE(built.exit_code == 0);
            auto tree = image_tree(dir, out, nvidia);
            CHECK(tree.at("usr/local/cuda") == "symlink 0777 -> cuda-12.4 0:0");
            CHECK(tree.at("usr/local/cuda-12.4/lib64/libcudart.so.12") ==
                  "symlink 0777 -> libcudart.so.12.4.127 0:0");
            CHECK(tree.count("usr/local/cuda-12.4/lib64/libcudart.so.12.4.127") == 1);
            CHECK(tree.count("usr/local/cuda-12.4/include/standin.h") == 1);
            CHECK(
                read_file(dir / ("bundle-" + nvidia) / "rootfs/etc/ld.so.conf.d/cuda-12.4.conf") ==
                "/usr/local/cuda-12.4/lib64\n");
            CHECK(tree.at("usr/lib/" + triplet + "/libcudnn.so.9") ==
                  "symlink 0777 -> libcudnn.so.9.0.0 0:0");
            CHECK(tree.count("usr/include/standin.h") == 1);
            CHECK(tree.count("usr/share/doc/cudnn/LICENSE") == 1);
            CHECK(tree.count("LICENSE") == 0);
            if (nvidia == "linux-x86_64") {
                auto cache =
                    must({"ldconfig", "-p", "-C",
                          (dir / ("bundle-" + nvidia) / "rootfs/etc/ld.so.cache").string()});
                CHECK_THAT(cache.out,
                           Catch::Contains("libcudart.so.12 (libc6,x86-64) => "
                                           "/usr/local/cuda-12.4/lib64/libcudart.so.12\n"));
                CHECK_THAT(cache.out, Catch::Contains("libcudnn.so.9 (libc6,x86-64) => "
                                                      "/usr/lib/x86_64-linux-gnu/libcudnn.so.9\n"));
            }
        }
    }
}

TEST_CASE("NVIDIA manifests refused: a component the manifest lacks and an archive whose "
          "bytes differ from the manifest's sha256") {
    ScratchDir dir("nvidia-bad");
    fs::path www = dir / "www";
    make_redist(dir, "cuda_cudart-linux-x86_64-12.4.127-archive", "libcudart.so.12",
                "libcudart.so.12.4.127", false);
    fs::create_directories(www / "compute/cuda/redist/cuda_cudart/linux-x86_64");
    std::string rel = "cuda_cudart/linux-x86_64/cuda_cudart-linux-x86_64-12.4.127-archive.tar.xz";
    must({"sh", "-c",
          "cd '" + (dir / "redist-src").string() + "' && tar -cJf '" +
              (www / "compute/cuda/redist" / rel).string() +
              "' cuda_cudart-linux-x86_64-12.4.127-archive"});
    write_file(www / "compute/cuda/redist/redistrib_12.4.1.json",
               redistrib_json(www, "cuda", {{"cuda_cudart", {{"linux-x86_64", rel}}}}, "12.4.127"));
    AptServer server(www);
    auto recipe = [&](const std::string& components) {
        return write_file(dir / "cuda.toml", "name = \"cuda\"\n[[layer]]\nname = \"cuda\"\n"
                                             "[[layer.nvidia]]\nmanifest = \"" +
                                                 server.url() +
                                                 "/compute/cuda/redist/redistrib_12.4.1.json\"\n"
                                                 "components = " +
                                                 components + "\ncuda_version = \"12.4\"\n");
    };
    SECTION("a component the manifest lacks") {
        CommandResult r = ocibake_cli(dir, {"lock", recipe("[\"libcublas\"]").string()});
        CHECK(r.exit_code != 0);
        CHECK_THAT(r.err, Catch::Contains("cuda.toml:5:12"));
        CHECK_THAT(r.err, Catch::Contains("/compute/cuda/redist/redistrib_12.4.1.json has no "
                                          "component 'libcublas' (it has: cuda_cudart)"));
    }
    SECTION("an archive that is not the one the manifest pins") {
        fs::path file = recipe("[\"cuda_cudart\"]");
        REQUIRE(ocibake_cli(dir, {"lock", file.string()}).exit_code == 0);
        write_file(www / "compute/cuda/redist" / rel, "other bytes\n");
        CommandResult r =
            ocibake_cli(dir, {"build", file.string(), "-o", "oci:" + (dir / "out").string()});
        CHECK(r.exit_code != 0);
        CHECK_THAT(r.err, Catch::Contains(server.url() + "/compute/cuda/redist/" + rel));
        CHECK_FALSE(fs::exists(dir / "out"));
    }
}

TEST_CASE("installer packages: Debian's nvidia-cudnn in a fixture repository is refused at "
          "lock time without its payload and accepted with an archive that satisfies it") {
    require_program("apt-ftparchive", "apt-utils");
    ScratchDir dir("installer");
    // The real package (Debian 13 contrib), fetched once into the fixture cache.
    fs::path deb =
        fs::path(must({(source_dir() / "tests/fixtures/apt/fetch-installer.sh").string()})
                     .out.substr(0, std::string::npos));
    deb = fs::path(deb.string().substr(0, deb.string().find_last_not_of("\n") + 1));
    REQUIRE(hex_of(deb) == "535e2b4f9aaa7563c916a92c76604f841cc3eb00d793c8e3a22df0fbf008a60f");
    fs::path repo = dir / "repo";
    fs::create_directories(repo / "pool");
    fs::copy_file(deb, repo / "pool" / deb.filename());
    // Its dependencies, as empty stand-ins: only nvidia-cudnn is under test.
    for (const auto& [name, version] : std::vector<std::pair<std::string, std::string>>{
             {"ca-certificates", "20250419"},
             {"curl", "8.14.1-2"},
             {"dpkg-dev", "1.22.21"},
             {"debconf", "1.5.91"},
             {"nvidia-cuda-dev", "12.4.127~12.4.1-2"}}) {
        make_deb(repo, name, version, "", {{"usr/share/doc/" + name + "/stand-in", "stand-in\n"}});
    }
    // The payload, as a stand-in of NVIDIA's archive (the real one is not reachable here).
    make_redist(dir, "cudnn-linux-x86_64-9.0.0.312_cuda12-archive", "libcudnn.so.9",
                "libcudnn.so.9.0.0", false);
    must({"sh", "-c",
          "cd '" + (dir / "redist-src").string() + "' && tar -cJf '" +
              (repo / "cudnn.tar.xz").string() + "' cudnn-linux-x86_64-9.0.0.312_cuda12-archive"});
    AptServer server(repo);
    std::string head = "name = \"torch\"\n" + local_repo(repo, server.url()) +
                       "[[layer]]\nname = \"torch\"\npackages = [\"nvidia-cudnn\"]\n";

    fs::path file = write_file(dir / "torch.toml", head);
    CommandResult refused = ocibake_cli(dir, {"lock", file.string()});
    INFO(refused.out << refused.err);
    CHECK(refused.exit_code == 4);
    CHECK_THAT(refused.err, Catch::Contains("torch.toml:9:12"));
    CHECK_THAT(refused.err,
               Catch::Contains("layer 'torch': package nvidia-cudnn 9.0.0.312~cuda12 is an "
                               "installer: its postinst runs /usr/sbin/update-nvidia-cudnn, which "
                               "downloads with wget or curl, and ocibake runs no maintainer "
                               "scripts, so the image would have nothing of its payload"));
    std::string sha512 = "ccb14614aacf68eba8481455cabeeeb3ba16b02370977d293fed3f4c81679716e1e26ff"
                         "fb363c28ca9c4c6c7dbfab34d6a839b1f0906d667fabeb6177b4d7f66";
    CHECK_THAT(refused.err,
               Catch::Contains("it would have downloaded https://developer.download.nvidia.com/"
                               "compute/cudnn/redist/cudnn/linux-x86_64/cudnn-linux-x86_64-9.0.0."
                               "312_cuda12-archive.tar.xz (sha512:" +
                               sha512 + ")"));
    CHECK_THAT(refused.err, Catch::Contains("sha512 = \"" + sha512 + "\""));
    CHECK_THAT(refused.err, Catch::Contains("satisfies = \"nvidia-cudnn\""));
    CHECK_FALSE(fs::exists(dir / "torch.lock"));

    // With the payload the layer says it provides, the lock is made and the image built.
    file = write_file(dir / "torch.toml",
                      head + "[[layer.archive]]\nurl = \"" + server.url() + "/cudnn.tar.xz\"\n" +
                          "sha256 = \"" + hex_of(repo / "cudnn.tar.xz") +
                          "\"\nstrip = 1\ndst = \"/usr\"\ninclude = [\"lib/**\"]\n"
                          "satisfies = \"nvidia-cudnn\"\n");
    CommandResult accepted = ocibake_cli(dir, {"lock", file.string()});
    INFO(accepted.out << accepted.err);
    REQUIRE(accepted.exit_code == 0);
    std::string lock = read_file(dir / "torch.lock");
    CHECK_THAT(lock, Catch::Contains("name = \"nvidia-cudnn\"\nversion = \"9.0.0.312~cuda12\""));
    CHECK_THAT(lock, Catch::Contains("url = \"" + server.url() + "/cudnn.tar.xz\""));
    CommandResult built =
        ocibake_cli(dir, {"build", file.string(), "-o", "oci:" + (dir / "out").string()});
    INFO(built.out << built.err);
    CHECK(built.exit_code == 0);
}

namespace {

/// The OCI config of the image in layout `dir` (its only manifest).
nlohmann::json image_config(const fs::path& dir) {
    auto blob = [&](const nlohmann::json& descriptor) {
        std::string digest = descriptor["digest"];
        return nlohmann::json::parse(read_file(dir / "blobs/sha256" / digest.substr(7)));
    };
    return blob(
        blob(nlohmann::json::parse(read_file(dir / "index.json"))["manifests"][0])["config"]);
}

/// `ocibake test --json`: test name -> its report.
std::map<std::string, nlohmann::json> test_reports(const CommandResult& r) {
    std::map<std::string, nlohmann::json> out;
    nlohmann::json report = nlohmann::json::parse(r.out);
    for (const auto& t : report["tests"]) {
        out[t["name"].get<std::string>()] = t;
    }
    return out;
}

} // namespace

TEST_CASE("stand-ins: an unreachable cuDNN names --stand-in, which builds with a local archive "
          "that the output and the image's label state, and the torch-ldd test runs on it") {
    require_program("umoci", "umoci");
    require_program("runc", "runc");
    require_program("cc", "build-essential");
    require_program("apt-ftparchive", "apt-utils");
    ScratchDir dir("stand-in");
    // The stand-in, made by the script the torch-cuda recipe's check uses.
    fs::path standin = dir / "cudnn-stand-in.tar.xz";
    must({(source_dir() / "scripts/make-cudnn-stand-in.sh").string(), standin.string()});
    must({"tar", "-xf", standin.string(), "-C", dir.path().string()});
    fs::path cudnn_lib = dir / "cudnn-linux-x86_64-9.0.0.312_cuda12-archive/lib";
    // Packages named *torch*, each with an ELF: one that needs libcudnn.so.9 (a function of
    // its version node, as torch's do) and the driver's libcuda.so.1, which the image may
    // lack; one that also needs a library nobody ships.
    write_file(dir / "cuda.c", "int cuInit(unsigned f) { return (int)f; }\n");
    must({"cc", "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o", (dir / "libcuda.so").string(),
          (dir / "cuda.c").string()});
    must({"cc", "-shared", "-fPIC", "-Wl,-soname,libocibake-missing.so.7", "-o",
          (dir / "libocibake-missing.so").string(), (dir / "cuda.c").string()});
    write_file(dir / "c.c",
               "#include <stddef.h>\nsize_t cudnnGetVersion(void);\n"
               "int cuInit(unsigned);\n"
               "size_t torch_fixture(void) { return cudnnGetVersion() + cuInit(0); }\n");
    fs::path local = dir / "local";
    for (const auto& [name, extra] : std::vector<std::pair<std::string, std::string>>{
             {"torch-ldd-fixture", ""}, {"torch-ldd-broken", "-locibake-missing"}}) {
        fs::path so = dir / (name + ".so");
        std::vector<std::string> argv = {"cc",
                                         "-shared",
                                         "-fPIC",
                                         "-o",
                                         so.string(),
                                         (dir / "c.c").string(),
                                         "-Wl,--no-as-needed",
                                         "-L" + cudnn_lib.string(),
                                         "-L" + dir.path().string(),
                                         "-lcudnn",
                                         "-lcuda"};
        if (!extra.empty()) {
            argv.push_back(extra);
        }
        must(argv);
        make_deb(local, name, "1.0", "", {{"usr/lib/" + name + "/_C.so", read_file(so)}});
    }
    CHECK_THAT(must({"objdump", "-T", (dir / "torch-ldd-fixture.so").string()}).out,
               Catch::Contains("(libcudnn.so.9) cudnnGetVersion"));
    fs::path repo = dir / "repo";
    make_apt_repo(repo);
    AptServer fixture(repo);
    AptServer packages(local);
    std::string sources =
        apt_source_toml(fixture.url(), repo / "keyring.gpg") + local_repo(local, packages.url());
    // The recipe's shape: the payload of nvidia-cudnn from NVIDIA's manifest, here a
    // loopback port where nothing listens (as NVIDIA's host is out of reach).
    auto recipe = [&](const std::string& name, const std::string& torch) {
        return write_file(
            dir / (name + ".toml"),
            "include = [\"" + (source_dir() / "layers/torch-ldd.toml").string() + "\"]\nname = \"" +
                name + "\"\n[config]\nenv = { PATH = \"/usr/sbin:/usr/bin:/sbin:/bin\" }\n" +
                sources + "[[layer]]\nname = \"system\"\n" +
                packages_toml({"base-files", "base-passwd", "bash", "coreutils", "dash", "dpkg",
                               "grep", "libc-bin", "sed"}) +
                "[[layer]]\nname = \"torch\"\n" + packages_toml({torch}) +
                "[[layer]]\nname = \"cudnn\"\n[[layer.nvidia]]\n"
                "manifest = \"http://127.0.0.1:9/compute/cudnn/redist/redistrib_9.0.0.json\"\n"
                "components = [\"cudnn\"]\ncuda_variant = \"cuda12\"\nlayout = \"debian\"\n"
                "satisfies = \"nvidia-cudnn\"\n");
    };
    fs::path file = recipe("torch", "torch-ldd-fixture");
    std::string flag = "nvidia-cudnn=" + standin.string();
    std::string hex_standin = hex_of(standin);

    // Without the switch: an error at the manifest that names the switch; nothing written.
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"lock", file.string()},
          std::vector<std::string>{"build", file.string(), "-o", "oci:" + (dir / "x").string()}}) {
        CommandResult r = ocibake_cli(dir, args);
        INFO(args[0] << ": " << r.err);
        CHECK(r.exit_code != 0);
        CHECK_THAT(r.err, Catch::Contains("torch.toml:24:12: error: NVIDIA manifest "
                                          "http://127.0.0.1:9/compute/cudnn/redist/"
                                          "redistrib_9.0.0.json: "));
        CHECK_THAT(r.err, Catch::Contains("hint: this is the payload of the installer package "
                                          "nvidia-cudnn; where it cannot be fetched, build with "
                                          "`--stand-in nvidia-cudnn=ARCHIVE`"));
        CHECK_FALSE(fs::exists(dir / "x"));
        CHECK_FALSE(fs::exists(dir / "torch.lock"));
    }
    CommandResult wrong =
        ocibake_cli(dir, {"lock", file.string(), "--stand-in", "cudnn=" + standin.string()});
    CHECK(wrong.exit_code == 2);
    CHECK_THAT(wrong.err,
               Catch::Contains("--stand-in cudnn=" + standin.string() +
                               ": no [[layer.archive]] or [[layer.nvidia]] of " + file.string() +
                               " says satisfies = \"cudnn\" (they satisfy: "
                               "nvidia-cudnn)"));

    // With it: the lock pins the packages and leaves the cudnn layer out, saying so.
    CommandResult locked = ocibake_cli(dir, {"lock", file.string(), "--stand-in", flag});
    INFO(locked.err);
    REQUIRE(locked.exit_code == 0);
    CHECK_THAT(locked.err, Catch::Contains("STAND-IN: layer 'cudnn' takes the payload of "
                                           "nvidia-cudnn from " +
                                           standin.string() + " (sha256:" + hex_standin));
    CHECK_THAT(locked.err, Catch::Contains("that layer was not locked"));
    std::string lock = read_file(dir / "torch.lock");
    CHECK_THAT(lock, Catch::Contains("name = \"torch-ldd-fixture\""));
    CHECK(lock.find("[[archive]]") == std::string::npos);

    fs::path out = dir / "img";
    CommandResult built = ocibake_cli(
        dir, {"build", file.string(), "--locked", "--stand-in", flag, "-o", "oci:" + out.string()});
    INFO(built.out << built.err);
    REQUIRE(built.exit_code == 0);
    CHECK_THAT(built.err,
               Catch::Contains("instead of http://127.0.0.1:9/compute/cudnn/redist/"
                               "redistrib_9.0.0.json (cudnn); the image is labelled "
                               "org.ocibake.stand-in.nvidia-cudnn and is not the recipe's"));
    CHECK(image_config(out)["config"]["Labels"]["org.ocibake.stand-in.nvidia-cudnn"] ==
          "sha256:" + hex_standin + " cudnn-stand-in.tar.xz");
    auto tree = image_tree(dir, out, "torch");
    CHECK(tree.at("usr/lib/x86_64-linux-gnu/libcudnn.so.9") ==
          "symlink 0777 -> libcudnn.so.9.0.0 0:0");
    CHECK(tree.count("usr/lib/x86_64-linux-gnu/libcudnn_graph.so.9.0.0") == 1);
    CHECK_THAT(read_file(dir / "bundle-torch/rootfs/usr/share/doc/ocibake/stand-in/nvidia-cudnn"),
               Catch::Contains("a stand-in for the payload of nvidia-cudnn: sha256:" + hex_standin +
                               " cudnn-stand-in.tar.xz"));

    // The torch-ldd test of the torch-cuda recipe, in this image: libcudnn.so.9 found
    // through ocibake's ld.so.cache, libcuda.so.1 (the driver's) allowed to be missing.
    CommandResult tested =
        ocibake_cli(dir, {"test", "oci:" + out.string(), "--recipe", file.string(), "--json"});
    INFO(tested.out << tested.err);
    auto reports = test_reports(tested);
    CHECK(reports.at("torch-ldd")["status"] == "pass");
    CHECK(tested.exit_code == 0);

    // A library that the image lacks fails it, naming the file and the library.
    fs::path broken = recipe("broken", "torch-ldd-broken");
    REQUIRE(ocibake_cli(dir, {"build", broken.string(), "--stand-in", flag, "-o",
                              "oci:" + (dir / "broken-img").string()})
                .exit_code == 0);
    CommandResult failed = ocibake_cli(dir, {"test", "oci:" + (dir / "broken-img").string(),
                                             "--recipe", broken.string(), "--json"});
    INFO(failed.out << failed.err);
    CHECK(failed.exit_code != 0);
    std::string report = test_reports(failed).at("torch-ldd").dump();
    CHECK_THAT(report, Catch::Contains("fail"));
    CHECK_THAT(report, Catch::Contains("/usr/lib/torch-ldd-broken/_C.so: "
                                       "libocibake-missing.so.7 => not found"));
    CHECK_THAT(report, Catch::Contains("1 ELF files, 1 with libraries not found"));
}
