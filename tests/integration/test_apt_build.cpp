// Layers of Debian packages, built for real: the fixture's Debian 12 packages unpacked
// into a layer with a dpkg database that dpkg itself reads and verifies; path rules on a
// merged-/usr base; hostile and conflicting packages made here with dpkg-deb and ar.

#include "ocibake/lock.hpp"
#include "support/apt_fixture.hpp"
#include "support/checks.hpp"
#include "support/json.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace ocibake::test;

namespace {

CommandResult ocibake_in(const ScratchDir& dir, std::vector<std::string> args) {
    return run_cli(std::move(args), dir / "cache",
                   {"HOME=" + (dir / "home").string(), "SOURCE_DATE_EPOCH="});
}

json build_json(const ScratchDir& dir, const fs::path& recipe, const std::string& out) {
    return json_of(ocibake_in(dir, {"build", recipe.string(), "-o", "oci:" + out, "--json"}));
}

fs::path unpack(const ScratchDir& dir, const std::string& layout, const std::string& name) {
    fs::path bundle = dir / name;
    must({"umoci", "unpack", "--image", layout + ":latest", bundle.string()});
    return bundle / "rootfs";
}

/// A .deb made by hand (Python's tarfile, then ar), for what dpkg-deb would not write:
/// entries in this order, each a path ("./x"), a type ('f' file, 'd' directory, 'l'
/// symlink) and the content or the link's target.
fs::path make_raw_deb(const fs::path& dir, const std::string& name, const std::string& version,
                      const std::vector<std::tuple<std::string, char, std::string>>& entries) {
    json items = json::array();
    for (const auto& [path, type, data] : entries) {
        items.push_back({path, std::string(1, type), data});
    }
    fs::path work = dir / ("raw-" + name + "-" + version);
    fs::create_directories(work);
    write_file(work / "entries.json", items.dump());
    write_file(work / "make.py", R"(
import io, json, sys, tarfile
work, name, version = sys.argv[1:4]
def tar(path, members):
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as t:
        for p, kind, data in members:
            info = tarfile.TarInfo(p)
            info.mode = 0o755 if kind == "d" else 0o644
            if kind == "d":
                info.type = tarfile.DIRTYPE
                t.addfile(info)
            elif kind == "l":
                info.type = tarfile.SYMTYPE
                info.linkname = data
                t.addfile(info)
            else:
                info.size = len(data.encode())
                t.addfile(info, io.BytesIO(data.encode()))
control = ("Package: %s\nVersion: %s\nArchitecture: amd64\nMaintainer: t <t@t>\n"
           "Description: hand-made\n" % (name, version))
tar(work + "/control.tar.gz", [("./control", "f", control)])
tar(work + "/data.tar.gz", json.load(open(work + "/entries.json")))
open(work + "/debian-binary", "w").write("2.0\n")
)");
    must({"python3", (work / "make.py").string(), work.string(), name, version});
    fs::path deb = dir / "pool" / (name + "_" + version + "_amd64.deb");
    fs::create_directories(deb.parent_path());
    must({"sh", "-c",
          "cd '" + work.string() + "' && ar rc '" + deb.string() +
              "' debian-binary control.tar.gz data.tar.gz"});
    return deb;
}

} // namespace

TEST_CASE("build: every locked package unpacked, with a dpkg database dpkg reads and verifies") {
    require_program("umoci", "umoci");
    require_program("dpkg", "dpkg");
    ScratchDir dir("apt-build");
    fs::path repo = shared_apt_repo();
    AptServer server(repo);
    fs::path recipe =
        write_file(dir / "app.toml", "name = \"app\"\n[build]\ncompression = \"none\"\n" +
                                         apt_source_toml(server.url(), repo / "keyring.gpg") +
                                         "[[layer]]\nname = \"system\"\n" +
                                         packages_toml(apt_fixture_requests()) +
                                         "[[layer.files]]\npath = \"/etc/ocibake-test\"\ncontent = "
                                         "\"ours\\n\"\n");
    json first = build_json(dir, recipe, (dir / "img").string());
    // The packages in parts (docs/apt.md), the layer's own file, the state layer on top.
    REQUIRE(first["layers"].size() > 3);
    for (const json& l : first["layers"]) {
        CHECK(l["cache"] == "built");
    }
    CHECK(first["layers"][first["layers"].size() - 2]["name"] == "system/files");
    CHECK(first["layers"].back()["name"] == "state");
    fs::path root = unpack(dir, (dir / "img").string(), "bundle");

    // dpkg lists exactly the locked packages as installed.
    auto listed = must({"dpkg-query", "--admindir", (root / "var/lib/dpkg").string(), "-W", "-f",
                        "${db:Status-Abbrev}${Package}=${Version}\\n"});
    std::vector<std::string> installed;
    std::istringstream in(listed.out);
    for (std::string line; std::getline(in, line);) {
        CHECK(line.substr(0, 3) == "ii ");
        installed.push_back(line.substr(3));
    }
    std::vector<std::string> closure = apt_fixture_closure();
    std::sort(installed.begin(), installed.end());
    std::sort(closure.begin(), closure.end());
    CHECK(installed == closure);
    // Every file matches its package's md5sums and every conffile its status entry.
    check_dpkg_verify(root);
    std::string status = read_file(root / "var/lib/dpkg/status");
    CHECK(contains(status, "Package: adduser\nStatus: install ok installed\n"));
    CHECK(contains(status, "Conffiles:\n /etc/adduser.conf "));
    // Multi-Arch: same packages have their architecture in their database files.
    CHECK(fs::exists(root / "var/lib/dpkg/info/libc6:amd64.list"));
    CHECK(fs::exists(root / "var/lib/dpkg/info/libc6:amd64.md5sums"));
    CHECK(fs::exists(root / "var/lib/dpkg/info/bash.list"));
    CHECK(fs::is_regular_file(root / "var/lib/dpkg/info/openssh-server.postinst"));
    CHECK((fs::status(root / "var/lib/dpkg/info/openssh-server.postinst").permissions() &
           fs::perms::owner_exec) != fs::perms::none);
    CHECK(read_file(root / "var/lib/dpkg/info/bash.list").starts_with("/.\n/bin\n/bin/bash\n"));
    CHECK(read_file(root / "var/lib/dpkg/info/format") == "1\n");
    // Owners and modes as the packages have them (base-passwd's static ids).
    CHECK(read_file(root / "etc/ocibake-test") == "ours\n");
    auto perms = fs::status(root / "usr/bin/chage").permissions();
    CHECK((perms & fs::perms::set_gid) != fs::perms::none);

    // Nothing changed: the layer comes from the cache; the digest is the same.
    json second = build_json(dir, recipe, (dir / "img2").string());
    for (const json& l : second["layers"]) {
        CHECK(l["cache"] == "cached");
    }
    CHECK(second["digest"] == first["digest"]);
    // Built again from scratch (another cache, one thread): the same bytes.
    auto r = run({cli().string(), "build", recipe.string(), "-o", "oci:" + (dir / "img3").string(),
                  "--cache-dir", (dir / "cache2").string(), "-j", "1", "-q"},
                 {"SOURCE_DATE_EPOCH="});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out == first["digest"].get<std::string>() + "\n");
}

TEST_CASE("build: a .deb that is not what the lock pins is refused, naming package and URL") {
    ScratchDir dir("apt-tamper");
    fs::path repo = dir / "repo";
    make_apt_repo(repo, {"REPO_PACKAGES=libc6 libgcc-s1 gcc-12-base"});
    AptServer server(repo);
    fs::path recipe = write_file(
        dir / "app.toml", "name = \"app\"\n" + apt_source_toml(server.url(), repo / "keyring.gpg") +
                              "[[layer]]\n" + packages_toml({"libc6"}));
    auto locked = ocibake_in(dir, {"lock", recipe.string()});
    REQUIRE(locked.exit_code == 0);
    // One byte changed, same size.
    fs::path deb;
    for (const auto& f : fs::directory_iterator(repo / "pool/main")) {
        if (f.path().filename().string().starts_with("libgcc-s1_")) {
            deb = f.path();
        }
    }
    std::string bytes = read_file(deb);
    bytes[bytes.size() / 2] ^= 0x20;
    write_file(deb, bytes);
    auto r = ocibake_in(dir, {"build", recipe.string(), "-o", "oci:" + (dir / "img").string()});
    CHECK(r.exit_code == 6);
    std::string url = server.url() + "/pool/main/" + deb.filename().string();
    CHECK(contains(r.err, "package libgcc-s1 12.2.0-14+deb12u1 (amd64): " + url +
                              ": the file does not match the lock's sha256 (sha256:"));
    CHECK(contains(r.err, "); it was changed on the server, or in transit"));
    // A file of another size is stopped at the size the lock pins.
    write_file(deb, bytes + "more");
    r = ocibake_in(dir, {"build", recipe.string(), "-o", "oci:" + (dir / "img").string()});
    CHECK(r.exit_code == 6);
    CHECK(contains(r.err, "package libgcc-s1 12.2.0-14+deb12u1 (amd64): " + url));
    // Nothing of it was kept.
    CHECK(!fs::exists(dir / "img"));
}

TEST_CASE("build: on a merged-/usr base, /bin, /lib and /sbin land in /usr, the links stay") {
    require_program("umoci", "umoci");
    ScratchDir dir("apt-usrmerge");
    // The base: the merged-/usr symlinks of Debian 12 and newer.
    fs::path base = write_file(dir / "base.toml",
                               "name = \"base\"\n[[layer]]\nname = \"links\"\n"
                               "files = [{path = \"/bin\", type = \"symlink\", target = "
                               "\"usr/bin\"}, {path = \"/sbin\", type = \"symlink\", target = "
                               "\"usr/sbin\"}, {path = \"/lib\", type = \"symlink\", target = "
                               "\"usr/lib\"}, {path = \"/lib64\", type = \"symlink\", target = "
                               "\"usr/lib64\"}, {path = \"/usr\", type = \"dir\"}]\n");
    build_json(dir, base, (dir / "base").string());
    fs::path repo = dir / "repo";
    make_apt_repo(repo, {"REPO_PACKAGES=libc6 libgcc-s1 gcc-12-base"});
    AptServer server(repo);
    fs::path recipe = write_file(
        dir / "app.toml", "name = \"app\"\n[base]\nimage = \"oci:" + (dir / "base").string() +
                              "\"\n" + apt_source_toml(server.url(), repo / "keyring.gpg") +
                              "[[layer]]\nname = \"libc\"\n" + packages_toml({"libc6"}));
    build_json(dir, recipe, (dir / "img").string());
    fs::path root = unpack(dir, (dir / "img").string(), "bundle");
    CHECK(fs::is_symlink(root / "lib"));
    CHECK(fs::is_symlink(root / "lib64"));
    CHECK(fs::is_regular_file(root / "usr/lib/x86_64-linux-gnu/libc.so.6"));
    CHECK(fs::is_symlink(root / "usr/lib64/ld-linux-x86-64.so.2"));
    // dpkg keeps the paths as the package names them, and finds them through the links.
    CHECK(contains(read_file(root / "var/lib/dpkg/info/libc6:amd64.list"),
                   "\n/lib/x86_64-linux-gnu/libc.so.6\n"));
    check_dpkg_verify(root);
}

TEST_CASE("build: accounts of later layers are added to what earlier layers left") {
    require_program("umoci", "umoci");
    ScratchDir dir("apt-accounts");
    fs::path repo = shared_apt_repo();
    AptServer server(repo);
    // base-passwd in the first layer (its masters become /etc/passwd), a user there, one
    // in a later layer of packages, one in a layer of accounts alone.
    fs::path recipe =
        write_file(dir / "app.toml",
                   "name = \"app\"\n" + apt_source_toml(server.url(), repo / "keyring.gpg") +
                       "[[layer]]\nname = \"base\"\n" + packages_toml({"base-passwd"}) +
                       "account = [{ name = \"first\", uid = 2001 }]\n"
                       "[[layer]]\nname = \"more\"\n" +
                       packages_toml({"hostname"}) +
                       "account = [{ name = \"second\", uid = 2002, groups = [\"first\"] }]\n"
                       "[[layer]]\nname = \"users\"\n"
                       "group = [{ name = \"team\", gid = 3000, members = [\"first\"] }]\n"
                       "account = [{ name = \"third\", uid = 2003, group = \"team\" }]\n");
    build_json(dir, recipe, (dir / "img").string());
    fs::path root = unpack(dir, (dir / "img").string(), "bundle");
    std::string passwd = read_file(root / "etc/passwd");
    CHECK(passwd.rfind("root:x:0:0:root:/root:/bin/bash\n", 0) == 0);
    CHECK(contains(passwd, "\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"));
    CHECK(contains(passwd, "\nfirst:x:2001:2001::/nonexistent:/usr/sbin/nologin\n"));
    CHECK(contains(passwd, "\nsecond:x:2002:2002::/nonexistent:/usr/sbin/nologin\n"));
    CHECK(contains(passwd, "\nthird:x:2003:3000::/nonexistent:/usr/sbin/nologin\n"));
    std::string group = read_file(root / "etc/group");
    CHECK(group.rfind("root:x:0:\n", 0) == 0);
    CHECK(contains(group, "\nfirst:x:2001:second\n"));
    CHECK(contains(group, "\nteam:x:3000:first\n"));
    std::string shadow = read_file(root / "etc/shadow");
    CHECK(shadow.rfind("root:*:", 0) == 0);
    CHECK(contains(shadow, "\nthird:*:"));
    // A user id an earlier layer gave away is refused, naming the user that has it.
    fs::path clash = write_file(
        dir / "clash.toml",
        read_file(recipe) + "[[layer]]\nname = \"clash\"\n"
                            "account = [{ name = \"fourth\", uid = 2001, group = \"team\" }]\n");
    auto r = ocibake_in(dir, {"build", clash.string(), "-o", "oci:" + (dir / "clash").string()});
    CHECK(r.exit_code != 0);
    CHECK(contains(r.err, "uid 2001 is user 'first' in the image below, so it cannot be 'fourth'"));
}

TEST_CASE("build: two packages with one file conflict, unless one Replaces the other") {
    require_program("dpkg-deb", "dpkg");
    require_program("umoci", "umoci");
    ScratchDir dir("apt-conflict");
    fs::path repo = dir / "repo";
    make_deb(repo, "pkg-a", "1.0", "", {{"usr/share/demo/file", "from a\n"}, {"usr/bin/a", "a"}});
    make_deb(repo, "pkg-b", "1.0", "", {{"usr/share/demo/file", "from b\n"}});
    AptServer server(repo);
    std::string source = local_repo(repo, server.url());
    fs::path recipe = write_file(dir / "app.toml", "name = \"app\"\n" + source + "[[layer]]\n" +
                                                       packages_toml({"pkg-a", "pkg-b"}));
    auto r = ocibake_in(dir, {"build", recipe.string(), "-o", "oci:" + (dir / "img").string()});
    CHECK(r.exit_code == 4);
    CHECK(contains(r.err, "package pkg-b 1.0 (amd64) (" + server.url() +
                              "/pool/pkg-b_1.0_amd64.deb) ships /usr/share/demo/file, which "
                              "package pkg-a 1.0 (amd64) ships too; dpkg refuses this unless "
                              "one declares Replaces on the other"));

    // pkg-b 2.0 declares it: its file wins and pkg-a no longer lists it.
    fs::remove(repo / "pool/pkg-b_1.0_amd64.deb");
    make_deb(repo, "pkg-b", "2.0", "Replaces: pkg-a (<< 2)\n",
             {{"usr/share/demo/file", "from b\n"}});
    local_repo(repo, server.url());
    fs::remove(dir / "app.lock");
    build_json(dir, recipe, (dir / "img").string());
    fs::path root = unpack(dir, (dir / "img").string(), "bundle");
    CHECK(read_file(root / "usr/share/demo/file") == "from b\n");
    CHECK(!contains(read_file(root / "var/lib/dpkg/info/pkg-a.list"), "/usr/share/demo/file"));
    CHECK(contains(read_file(root / "var/lib/dpkg/info/pkg-b.list"), "/usr/share/demo/file\n"));
    check_dpkg_verify(root);
}

TEST_CASE("build: files of packages below: dpkg's rules for overlaps, and upgrades") {
    require_program("dpkg-deb", "dpkg");
    require_program("umoci", "umoci");
    ScratchDir dir("apt-below");
    fs::path repo = dir / "repo";
    make_deb(repo, "pkg-a", "1.0", "",
             {{"usr/share/demo/file", "from a\n"},
              {"usr/bin/a", "a1"},
              {"usr/share/demo/only-in-1", "old\n"},
              {"DEBIAN/templates", "Template: pkg-a/q\nType: note\nDescription: q\n"}});
    make_deb(repo, "pkg-a", "2.0", "", {{"usr/share/demo/file", "from a\n"}, {"usr/bin/a", "a2"}});
    make_deb(repo, "pkg-b", "1.0", "", {{"usr/share/demo/file", "from b\n"}});
    make_deb(repo, "pkg-b", "2.0", "Replaces: pkg-a (<< 3)\n",
             {{"usr/share/demo/file", "from b\n"}});
    make_deb(repo, "pkg-c", "1.0", "Replaces: pkg-d\n", {{"usr/share/demo/cd", "from c\n"}});
    make_deb(repo, "pkg-d", "1.0", "", {{"usr/share/demo/cd", "from d\n"}, {"usr/bin/d", "d"}});
    AptServer server(repo);
    std::string source = local_repo(repo, server.url());
    // The base: pkg-a 1.0, installed by an apt layer of another recipe.
    fs::path base = write_file(dir / "base.toml", "name = \"base\"\n" + source + "[[layer]]\n" +
                                                      packages_toml({"pkg-a=1.0"}));
    build_json(dir, base, (dir / "base").string());
    std::string from_base = "name = \"app\"\n[base]\nimage = \"oci:" + (dir / "base").string() +
                            "\"\n" + source + "[[layer]]\n";

    SECTION("a file the base's package owns is refused, naming both packages") {
        fs::path recipe = write_file(dir / "app.toml", from_base + packages_toml({"pkg-b=1.0"}));
        auto r = ocibake_in(dir, {"build", recipe.string(), "-o", "oci:" + (dir / "img").string()});
        CHECK(r.exit_code == 4);
        CHECK(contains(r.err, "package pkg-b 1.0 (amd64) (" + server.url() +
                                  "/pool/pkg-b_1.0_amd64.deb) ships /usr/share/demo/file, which "
                                  "package pkg-a 1.0 (amd64), installed in the base image owns; "
                                  "dpkg refuses this unless one declares Replaces on the other"));
        CHECK(!fs::exists(dir / "img"));
    }

    SECTION("with Replaces the file is taken over, and the base package's list loses it") {
        fs::path recipe = write_file(dir / "app.toml", from_base + packages_toml({"pkg-b=2.0"}));
        build_json(dir, recipe, (dir / "img").string());
        fs::path root = unpack(dir, (dir / "img").string(), "bundle");
        CHECK(read_file(root / "usr/share/demo/file") == "from b\n");
        std::string list_a = read_file(root / "var/lib/dpkg/info/pkg-a.list");
        CHECK(!contains(list_a, "/usr/share/demo/file"));
        CHECK(contains(list_a, "/usr/bin/a\n"));
        check_dpkg_verify(root);
        auto search = run({"dpkg", "--root", root.string(), "-S", "/usr/share/demo/file"});
        CHECK(search.out == "pkg-b: /usr/share/demo/file\n");
    }

    SECTION("an upgrade of the base's package whites out what the old version had alone") {
        fs::path recipe = write_file(dir / "app.toml", from_base + packages_toml({"pkg-a=2.0"}));
        build_json(dir, recipe, (dir / "img").string());
        fs::path root = unpack(dir, (dir / "img").string(), "bundle");
        CHECK(read_file(root / "usr/bin/a") == "a2");
        CHECK(!fs::exists(root / "usr/share/demo/only-in-1"));
        CHECK(fs::is_directory(root / "usr/share/demo"));
        CHECK(!fs::exists(root / "var/lib/dpkg/info/pkg-a.templates"));
        CHECK(!contains(read_file(root / "var/lib/dpkg/info/pkg-a.list"), "only-in-1"));
        check_dpkg_verify(root);
        auto status = run({"dpkg-query", "--root", root.string(), "-W", "pkg-a"});
        CHECK(status.out == "pkg-a\t2.0\n");
    }

    SECTION("an upgrade of an earlier apt layer's package whites out its old files too") {
        fs::path recipe = write_file(
            dir / "up.toml", "name = \"up\"\n" + source + "[[layer]]\nname = \"one\"\n" +
                                 packages_toml({"pkg-a=1.0"}) + "[[layer]]\nname = \"two\"\n" +
                                 packages_toml({"pkg-a=2.0"}));
        build_json(dir, recipe, (dir / "up").string());
        fs::path root = unpack(dir, (dir / "up").string(), "bundle-up");
        CHECK(read_file(root / "usr/bin/a") == "a2");
        CHECK(!fs::exists(root / "usr/share/demo/only-in-1"));
        CHECK(!fs::exists(root / "var/lib/dpkg/info/pkg-a.templates"));
        CHECK(fs::exists(root / "var/lib/dpkg/info/pkg-a.list"));
        check_dpkg_verify(root);
        auto status = run({"dpkg-query", "--root", root.string(), "-W", "pkg-a"});
        CHECK(status.out == "pkg-a\t2.0\n");
    }

    SECTION("an earlier apt layer's package: refused, or taken over with Replaces") {
        fs::path recipe = write_file(
            dir / "two.toml", "name = \"two\"\n" + source + "[[layer]]\nname = \"one\"\n" +
                                  packages_toml({"pkg-d"}) + "[[layer]]\nname = \"two\"\n" +
                                  packages_toml({"pkg-b=1.0"}) + "[[layer]]\nname = \"three\"\n" +
                                  packages_toml({"pkg-a=1.0"}));
        auto r = ocibake_in(dir, {"build", recipe.string(), "-o", "oci:" + (dir / "two").string()});
        CHECK(r.exit_code == 4);
        CHECK(contains(r.err, "package pkg-a 1.0 (amd64) (" + server.url() +
                                  "/pool/pkg-a_1.0_amd64.deb) ships /usr/share/demo/file, which "
                                  "package pkg-b 1.0 (amd64), installed in an earlier apt layer "
                                  "owns"));
        // pkg-c Replaces pkg-d: over pkg-d, installed below, pkg-c takes the file.
        recipe = write_file(dir / "two.toml",
                            "name = \"two\"\n" + source + "[[layer]]\nname = \"one\"\n" +
                                packages_toml({"pkg-d"}) + "[[layer]]\nname = \"two\"\n" +
                                packages_toml({"pkg-c"}));
        fs::remove(dir / "two.lock");
        build_json(dir, recipe, (dir / "two").string());
        fs::path root = unpack(dir, (dir / "two").string(), "bundle-two");
        CHECK(read_file(root / "usr/share/demo/cd") == "from c\n");
        CHECK(!contains(read_file(root / "var/lib/dpkg/info/pkg-d.list"), "/usr/share/demo/cd"));
        check_dpkg_verify(root);
    }
}

TEST_CASE("build: a .deb whose paths climb out of the root is refused") {
    require_program("ar", "binutils");
    ScratchDir dir("apt-hostile");
    fs::path repo = dir / "repo";
    // Made by hand: dpkg-deb would not write "./../etc/evil".
    must({"sh", "-c",
          "set -e; cd '" + dir.path().string() +
              "'; mkdir -p c d/x repo/pool; printf 'Package: evil\\nVersion: 1\\nArchitecture: "
              "amd64\\nMaintainer: t <t@t>\\nDescription: evil\\n' > c/control; "
              "tar -C c -czf control.tar.gz ./control; echo bad > d/x/evil; "
              "tar -C d -czf data.tar.gz --transform 's,^\\./x,./../etc,' ./x/evil; "
              "echo 2.0 > debian-binary; "
              "ar rc repo/pool/evil_1_amd64.deb debian-binary control.tar.gz data.tar.gz"});
    AptServer server(repo);
    std::string source = local_repo(repo, server.url());
    fs::path recipe = write_file(dir / "app.toml", "name = \"app\"\n" + source + "[[layer]]\n" +
                                                       packages_toml({"evil"}));
    auto r = ocibake_in(dir, {"build", recipe.string(), "-o", "oci:" + (dir / "img").string()});
    CHECK(r.exit_code == 4); // refused for what it asks: the exit-code rule (docs/cli.md)
    CHECK(contains(r.err, "package evil 1 (amd64) (" + server.url() +
                              "/pool/evil_1_amd64.deb): data.tar: './../etc/evil' climbs out of "
                              "the root"));
}

TEST_CASE("build: a .deb path named .wh.* is refused: in a layer it would delete files below") {
    require_program("dpkg-deb", "dpkg");
    require_program("ar", "binutils");
    ScratchDir dir("apt-whiteout");
    fs::path repo = dir / "repo";
    make_deb(repo, "owner", "1.0", "", {{"usr/share/owned/data", "mine\n"}});
    make_deb(repo, "hider", "1.0", "", {{"usr/share/owned/.wh.data", ""}});
    make_raw_deb(repo, "emptier", "1.0", {{"./etc/", 'd', ""}, {"./etc/.wh..wh..opq", 'f', ""}});
    AptServer server(repo);
    std::string source = local_repo(repo, server.url());
    const std::string refused = ": in an OCI layer a name starting with '.wh.' is a deletion, so "
                                "no file may carry it; refused (dpkg would make a file of that "
                                "name; an image cannot)";
    auto build = [&](const std::string& layers) {
        fs::remove(dir / "app.lock");
        fs::path recipe = write_file(dir / "app.toml", "name = \"app\"\n" + source + layers);
        return ocibake_in(dir, {"build", recipe.string(), "-o", "oci:" + (dir / "img").string()});
    };
    SECTION("a whiteout of a file an earlier layer's package owns") {
        auto r = build("[[layer]]\nname = \"one\"\n" + packages_toml({"owner"}) +
                       "[[layer]]\nname = \"two\"\n" + packages_toml({"hider"}));
        CHECK(r.exit_code == 4);
        CHECK(contains(r.err, "package hider 1.0 (amd64) (" + server.url() +
                                  "/pool/hider_1.0_amd64.deb): data.tar: image path "
                                  "/usr/share/owned/.wh.data would delete /usr/share/owned/data "
                                  "of the image below" +
                                  refused));
    }
    SECTION("an opaque marker") {
        auto r = build("[[layer]]\n" + packages_toml({"emptier"}));
        CHECK(r.exit_code == 4);
        CHECK(contains(r.err, "package emptier 1.0 (amd64) (" + server.url() +
                                  "/pool/emptier_1.0_amd64.deb): data.tar: image path "
                                  "/etc/.wh..wh..opq would empty /etc of the image below" +
                                  refused));
    }
    CHECK(!fs::exists(dir / "img"));
}

TEST_CASE("build: a .deb path below a symlink is refused, naming the package and the link") {
    require_program("dpkg-deb", "dpkg");
    require_program("ar", "binutils");
    ScratchDir dir("apt-symlink-path");
    fs::path repo = dir / "repo";
    make_raw_deb(repo, "esc-abs", "1",
                 {{"./usr/", 'd', ""}, {"./usr/esc", 'l', "/tmp"}, {"./usr/esc/FILE", 'f', "x"}});
    make_raw_deb(
        repo, "esc-rel", "1",
        {{"./usr/", 'd', ""}, {"./usr/esc", 'l', "../../../../tmp"}, {"./usr/esc/FILE", 'f', "x"}});
    make_raw_deb(repo, "a-link", "1", {{"./opt/", 'd', ""}, {"./opt/lnk", 'l', "/tmp"}});
    make_raw_deb(repo, "b-file", "1", {{"./opt/lnk/FILE", 'f', "x"}});
    AptServer server(repo);
    std::string source = local_repo(repo, server.url());
    auto build = [&](const std::string& layers) {
        fs::remove(dir / "app.lock");
        fs::path recipe = write_file(dir / "app.toml", "name = \"app\"\n" + source + layers);
        return ocibake_in(dir, {"build", recipe.string(), "-o", "oci:" + (dir / "img").string()});
    };
    auto url = [&](const std::string& name) {
        return "package " + name + " 1 (amd64) (" + server.url() + "/pool/" + name +
               "_1_amd64.deb): data.tar: ";
    };
    const std::string tail = "; a layer may not write through a symlink (its consumers would "
                             "not agree where the file goes): refused";
    SECTION("a link the same package makes, absolute or climbing out") {
        auto r = build("[[layer]]\n" + packages_toml({"esc-abs"}));
        CHECK(r.exit_code == 4);
        CHECK(contains(r.err, url("esc-abs") +
                                  "/usr/esc/FILE lies below /usr/esc, which package esc-abs 1 "
                                  "(amd64) ships as a symlink to '/tmp'" +
                                  tail));
        r = build("[[layer]]\n" + packages_toml({"esc-rel"}));
        CHECK(r.exit_code == 4);
        CHECK(contains(r.err, url("esc-rel") +
                                  "/usr/esc/FILE lies below /usr/esc, which package esc-rel 1 "
                                  "(amd64) ships as a symlink to '../../../../tmp'" +
                                  tail));
    }
    SECTION("a link another package of the layer makes") {
        auto r = build("[[layer]]\n" + packages_toml({"a-link", "b-file"}));
        CHECK(r.exit_code == 4);
        CHECK(contains(r.err, url("b-file") +
                                  "/opt/lnk/FILE lies below /opt/lnk, which package a-link 1 "
                                  "(amd64) ships as a symlink to '/tmp'" +
                                  tail));
    }
    SECTION("a link of the image below (an earlier apt layer)") {
        auto r = build("[[layer]]\nname = \"one\"\n" + packages_toml({"a-link"}) +
                       "[[layer]]\nname = \"two\"\n" + packages_toml({"b-file"}));
        CHECK(r.exit_code == 4);
        CHECK(contains(r.err, url("b-file") +
                                  "/opt/lnk/FILE lies below /opt/lnk, a symlink to '/tmp' in the "
                                  "image below" +
                                  tail));
    }
    CHECK(!fs::exists(dir / "img"));
}

TEST_CASE("build: a data.tar.xz of many xz blocks decodes on several threads, bytes unchanged") {
    require_program("ar", "binutils");
    require_program("xz", "xz-utils");
    require_program("umoci", "umoci");
    ScratchDir dir("apt-xz");
    fs::path repo = dir / "repo";
    // 4 MiB of pseudo-random bytes and a text file, in 64 KiB xz blocks (dpkg-deb writes
    // large packages in blocks too); and a package whose last block is damaged.
    write_file(dir / "d/usr/share/big/random.bin", pseudo_random(4 << 20, 7));
    write_file(dir / "d/usr/share/big/text", "blocks\n");
    std::string control = "Package: NAME\nVersion: 1\nArchitecture: amd64\nMaintainer: t "
                          "<t@t>\nDescription: blocks\n";
    auto make = [&](const std::string& name, bool damage) {
        std::string c = control;
        c.replace(c.find("NAME"), 4, name);
        write_file(dir / ("c-" + name + "/control"), c);
        must({"sh", "-c",
              "set -e; cd '" + dir.path().string() + "'; tar -C c-" + name + " -cJf control-" +
                  name +
                  ".tar.xz ./control; tar -C d --owner=0 --group=0 "
                  "-cf data-" +
                  name + ".tar ./usr; xz -T2 --block-size=65536 -c data-" + name +
                  ".tar > data.tar.xz; " +
                  (damage ? "size=$(stat -c %s data.tar.xz); printf 'XXXX' | dd of=data.tar.xz "
                            "bs=1 seek=$((size - 400)) conv=notrunc status=none; "
                          : "") +
                  "mkdir -p repo/pool; echo 2.0 > debian-binary; cp control-" + name +
                  ".tar.xz control.tar.xz; ar rc repo/pool/" + name +
                  "_1_amd64.deb debian-binary control.tar.xz data.tar.xz; mv data.tar.xz data-" +
                  name + ".tar.xz"});
    };
    make("blocks", false);
    make("broken", true);
    // xz --robot --list: "file  STREAMS  BLOCKS  ...": many blocks, so several threads.
    std::string listing =
        must({"xz", "--robot", "--list", (dir / "data-blocks.tar.xz").string()}).out;
    std::size_t at = listing.find("\nfile\t");
    REQUIRE(at != std::string::npos);
    std::istringstream fields(listing.substr(at + 6));
    int streams = 0, blocks = 0;
    fields >> streams >> blocks;
    CHECK(blocks > 32);
    AptServer server(repo);
    std::string source = local_repo(repo, server.url());
    fs::path recipe = write_file(dir / "app.toml", "name = \"app\"\n" + source + "[[layer]]\n" +
                                                       packages_toml({"blocks"}));
    json two = build_json(dir, recipe, (dir / "img").string());
    fs::path root = unpack(dir, (dir / "img").string(), "bundle");
    CHECK(read_file(root / "usr/share/big/random.bin") == pseudo_random(4 << 20, 7));
    CHECK(read_file(root / "usr/share/big/text") == "blocks\n");
    // One thread (libarchive's own xz reader) gives the same layer.
    auto one = run_cli({"build", recipe.string(), "-o", "oci:" + (dir / "img1").string(), "--json",
                        "--threads", "1"},
                       dir / "cache1", {"HOME=" + (dir / "home").string(), "SOURCE_DATE_EPOCH="});
    INFO(one.err);
    REQUIRE(one.exit_code == 0);
    CHECK(json::parse(one.out)["digest"] == two["digest"]);

    // A damaged block: an error naming the package, and no image.
    fs::path broken =
        write_file(dir / "broken.toml",
                   "name = \"broken\"\n" + source + "[[layer]]\n" + packages_toml({"broken"}));
    auto r = ocibake_in(dir, {"build", broken.string(), "-o", "oci:" + (dir / "bad").string()});
    CHECK(r.exit_code == 6);
    CHECK(contains(r.err, "package broken 1 (amd64)"));
    CHECK(contains(r.err, "data.tar.xz: corrupt xz data"));
    CHECK(!fs::exists(dir / "bad"));
}

TEST_CASE("acceptance: an image from scratch with the fixture's packages runs under runc") {
    require_program("umoci", "umoci");
    require_program("runc", "runc");
    ScratchDir dir("apt-runc");
    fs::path repo = shared_apt_repo();
    AptServer server(repo);
    // Everything the packages' scripts would have done that these checks need: the sshd
    // user and its directory, sshd_config (ucf would copy Debian's); host keys are made
    // when the container starts. The Essential set in one layer, the rest in another.
    std::vector<std::string> system, apps;
    for (const std::string& p : apt_fixture_requests()) {
        bool app = p == "python3" || p == "openssh-server" || p == "ca-certificates" || p == "tini";
        (app ? apps : system).push_back(p);
    }
    fs::path recipe = write_file(
        dir / "app.toml",
        "name = \"debian-ssh\"\n[config]\nenv = { PATH = "
        "\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\" }\n" +
            apt_source_toml(server.url(), repo / "keyring.gpg") + "[[layer]]\nname = \"system\"\n" +
            packages_toml(system) + "[[layer]]\nname = \"apps\"\n" + packages_toml(apps) +
            "files = [{ path = \"/run/sshd\", type = \"dir\" },\n"
            "  { path = \"/etc/ssh/sshd_config\", content = \"PasswordAuthentication no\\n"
            "PermitRootLogin prohibit-password\\nSubsystem sftp /usr/lib/openssh/sftp-server\\n\" "
            "}]\n"
            "account = [{ name = \"sshd\", uid = 100, group = \"nogroup\", home = \"/run/sshd\" "
            "}]\n");
    json built = build_json(dir, recipe, (dir / "img").string());
    CHECK(built["layers"][0]["media_type"] == "application/vnd.oci.image.layer.v1.tar+gzip");
    auto lock = ocibake::read_lock(dir / "app.lock");
    REQUIRE(lock);
    REQUIRE(lock->apt.size() == 2);
    std::vector<ocibake::LockedPackage> locked = lock->apt[0].installs;
    locked.insert(locked.end(), lock->apt[1].installs.begin(), lock->apt[1].installs.end());
    CHECK(locked.size() == apt_fixture_closure().size());

    fs::path bundle = dir / "bundle";
    must({"umoci", "unpack", "--image", (dir / "img").string() + ":latest", bundle.string()});
    json config = json::parse(read_file(bundle / "config.json"));
    config["process"]["terminal"] = false;
    config["process"]["args"] = {
        "/bin/sh", "-c",
        "echo '== dpkg -l'; dpkg -l; "
        "echo '== verify'; dpkg --verify; echo \"verify-exit=$?\"; "
        "echo '== python'; python3 -c 'import ssl, sqlite3; print(\"python-ok\")'; "
        "echo '== sshd'; ssh-keygen -A >/dev/null && sshd -t; echo \"sshd-exit=$?\"; "
        "echo '== apt'; apt-get check; echo \"apt-exit=$?\"; "
        "echo '== ldconfig'; ldconfig -p | grep -v '^Cache generated' > /tmp/a; ldconfig; "
        "ldconfig -p | grep -v '^Cache generated' > /tmp/b; cmp /tmp/a /tmp/b && "
        "echo ldcache-same; "
        "echo '== accounts'; id sshd; awk 'BEGIN { print \"awk-ok\" }'; "
        "echo '== ca'; cd /etc/ssl/certs; state() { ls -l | awk '{ print $9, $10, $11 }'; "
        "sha256sum ca-certificates.crt /etc/ca-certificates.conf; }; state > /tmp/a; "
        "update-ca-certificates >/dev/null 2>&1; state > /tmp/b; cmp /tmp/a /tmp/b && "
        "echo ca-same; python3 -c 'import ssl; print(len(ssl.create_default_context()"
        ".get_ca_certs()) > 100)'"};
    write_file(bundle / "config.json", config.dump());
    std::string id = "ocibake-apt-" + std::to_string(::getpid());
    auto ran = run({"runc", "run", "--bundle", bundle.string(), id});
    INFO("stdout:\n" << ran.out << "\nstderr:\n" << ran.err);
    CHECK(ran.exit_code == 0);
    std::string out = ran.out;
    auto section = [&](const std::string& name) {
        std::size_t start = out.find("== " + name + "\n");
        REQUIRE(start != std::string::npos);
        start += name.size() + 4;
        std::size_t end = out.find("\n== ", start);
        return out.substr(start, end == std::string::npos ? std::string::npos : end - start + 1);
    };
    // dpkg -l lists every locked package as installed.
    std::string listed = section("dpkg -l");
    for (const auto& p : locked) {
        bool found = listed.find("\nii  " + p.name + " ") != std::string::npos ||
                     listed.find("\nii  " + p.name + ":" + p.arch + " ") != std::string::npos;
        INFO(p.name);
        CHECK(found);
    }
    CHECK(section("verify") == "verify-exit=0\n");
    CHECK(section("python") == "python-ok\n");
    CHECK(section("sshd") == "sshd-exit=0\n");
    CHECK(contains(section("apt"), "apt-exit=0\n"));
    CHECK(section("ldconfig") == "ldcache-same\n");
    CHECK(section("accounts") ==
          "uid=100(sshd) gid=65534(nogroup) groups=65534(nogroup)\nawk-ok\n");
    // What update-ca-certificates would make is there already: running it changes nothing.
    CHECK(section("ca") == "ca-same\nTrue\n");
}

TEST_CASE("live: CUDA 11.8 runtime libraries from Debian's archive (OCIBAKE_LIVE=1)") {
    const char* live = std::getenv("OCIBAKE_LIVE");
    if (live == nullptr || std::string(live) != "1") {
        return ocibake::test::skip("set OCIBAKE_LIVE=1 to lock and build against deb.debian.org");
    }
    ScratchDir dir("apt-live");
    fs::path recipe =
        write_file(dir / "cuda.toml",
                   "name = \"cuda-runtime\"\n[build]\ncompression = \"none\"\n"
                   "[[apt.source]]\nname = \"debian\"\nurl = \"http://deb.debian.org/debian\"\n"
                   "suites = [\"bookworm\"]\ncomponents = [\"main\", \"non-free\"]\n"
                   "keyring = \"/usr/share/keyrings/debian-archive-keyring.gpg\"\n"
                   "[[layer]]\nname = \"cuda\"\npackages = [\"libcudart11.0\", \"libcublas11\", "
                   "\"libc-bin\"]\n");
    auto locked = ocibake_in(dir, {"lock", recipe.string(), "--json"});
    INFO(locked.err);
    REQUIRE(locked.exit_code == 0);
    json lock = json::parse(locked.out);
    std::set<std::string> names;
    for (const json& p : lock["apt"][0]["packages"]) {
        names.insert(p["name"].get<std::string>());
        CHECK(p["url"].get<std::string>().rfind("http://deb.debian.org/debian/pool/", 0) == 0);
    }
    for (const char* wanted : {"libcudart11.0", "libcublas11", "libcublaslt11", "libc6"}) {
        INFO(wanted);
        CHECK(names.count(wanted) == 1);
    }
    json built = build_json(dir, recipe, (dir / "img").string());
    // The libraries are in the layers of their packages, and in the state layer's
    // ld.so.cache.
    std::string listing;
    for (const json& l : built["layers"]) {
        fs::path blob = dir / "img/blobs/sha256" / l["digest"].get<std::string>().substr(7);
        listing += must({"tar", "-tf", blob.string()}).out;
    }
    CHECK(contains(listing, "usr/lib/x86_64-linux-gnu/libcublas.so.11\n"));
    CHECK(contains(listing, "usr/lib/x86_64-linux-gnu/libcudart.so.11.0\n"));
    REQUIRE(built["layers"].back()["name"] == "state");
    fs::path blob =
        dir / "img/blobs/sha256" / built["layers"].back()["digest"].get<std::string>().substr(7);
    must({"tar", "-xf", blob.string(), "-C", dir.path().string(), "etc/ld.so.cache"});
    auto cache = must({"ldconfig", "-p", "-C", (dir / "etc/ld.so.cache").string()});
    CHECK(contains(cache.out, "libcublas.so.11 (libc6,x86-64) => "
                              "/usr/lib/x86_64-linux-gnu/libcublas.so.11"));
    CHECK(contains(cache.out, "libcudart.so.11.0 (libc6,x86-64) => "
                              "/usr/lib/x86_64-linux-gnu/libcudart.so.11.0"));
}

TEST_CASE("ld.so.cache follows a layer's own libraries and ld.so.conf.d (ldconfig = true)") {
    require_program("cc", "build-essential");
    ScratchDir dir("apt-ldconfig");
    fs::path repo = dir / "repo";
    make_apt_repo(repo, {"REPO_PACKAGES=libc6 libgcc-s1 gcc-12-base libc-bin"});
    AptServer server(repo);
    // A vendor library outside the system directories, as CUDA's /usr/local/cuda/lib64.
    write_file(dir / "vendor.c", "int vendor(void) { return 1; }\n");
    must({"cc", "-shared", "-fPIC", "-Wl,-soname,libvendor.so.1", "-o",
          (dir / "libvendor.so.1.2").string(), (dir / "vendor.c").string()});
    fs::path recipe = write_file(
        dir / "app.toml",
        "name = \"app\"\n[build]\ncompression = \"none\"\n" +
            apt_source_toml(server.url(), repo / "keyring.gpg") + "[[layer]]\nname = \"libc\"\n" +
            packages_toml({"libc6", "libc-bin"}) +
            "[[layer]]\nname = \"vendor\"\nldconfig = true\n"
            "files = [{ path = \"/etc/ld.so.conf.d/vendor.conf\", content = \"/opt/vendor/lib\\n\" "
            "},\n"
            "  { path = \"/opt/vendor/lib/libvendor.so.1.2\", src = \"libvendor.so.1.2\" }]\n");
    json built = build_json(dir, recipe, (dir / "img").string());
    std::vector<std::string> names;
    for (const json& l : built["layers"]) {
        names.push_back(l["name"].get<std::string>());
    }
    // libc6 and libc-bin (glibc), libgcc-s1 and gcc-12-base (gcc-12): two parts.
    CHECK(names == std::vector<std::string>{"libc/gcc-12", "libc/glibc", "vendor", "state"});
    fs::path root = unpack(dir, (dir / "img").string(), "bundle");
    // The soname link ldconfig would make, and the cache with the vendor directory.
    CHECK(fs::read_symlink(root / "opt/vendor/lib/libvendor.so.1") == "libvendor.so.1.2");
    auto cache = must({"ldconfig", "-p", "-C", (root / "etc/ld.so.cache").string()});
    CHECK(contains(cache.out, "libvendor.so.1 (libc6,x86-64) => /opt/vendor/lib/libvendor.so.1\n"));
    CHECK(contains(cache.out, "libc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6\n"));
    // ldconfig itself, run on the unpacked image, writes the same list.
    must({"ldconfig", "-r", root.string(), "-X", "-C", "/etc/ld.so.cache.ref"});
    auto ref = must({"ldconfig", "-p", "-C", (root / "etc/ld.so.cache.ref").string()});
    auto strip = [](std::string text) {
        std::string out;
        std::istringstream in(text);
        for (std::string line; std::getline(in, line);) {
            if (line.find("libs found") == std::string::npos &&
                !line.starts_with("Cache generated")) {
                out += line + "\n";
            }
        }
        return out;
    };
    CHECK(strip(cache.out) == strip(ref.out));
}

namespace {

/// The 1-based line of the first line of `text` equal to `line` at or after line `from`.
std::size_t line_of(const std::string& text, const std::string& line, std::size_t from = 1) {
    std::istringstream in(text);
    std::size_t n = 0;
    for (std::string l; std::getline(in, l);) {
        if (++n >= from && l == line) {
            return n;
        }
    }
    FAIL("no line '" << line << "' in the lock");
    return 0;
}

/// `text` with its line `n` (1-based) replaced by `replacement` (several lines, or none).
std::string with_line(const std::string& text, std::size_t n, const std::string& replacement) {
    std::istringstream in(text);
    std::string out;
    std::size_t k = 0;
    for (std::string l; std::getline(in, l);) {
        if (++k == n) {
            out += replacement.empty() ? "" : replacement + "\n";
        } else {
            out += l + "\n";
        }
    }
    return out;
}

/// The 1-based line of the `key = ...` line in the block that starts at line `block`.
std::size_t key_line(const std::string& text, std::size_t block, const std::string& key) {
    std::istringstream in(text);
    std::size_t n = 0;
    for (std::string l; std::getline(in, l);) {
        if (++n > block && l.starts_with(key + " = ")) {
            return n;
        }
    }
    FAIL("no key " << key << " after line " << block);
    return 0;
}

} // namespace

TEST_CASE("build: a lock that is not what it claims is refused, warm or cold, at its line") {
    ScratchDir dir("apt-lock-fields");
    fs::path repo = dir / "repo";
    make_apt_repo(repo, {"REPO_PACKAGES=libc6 libgcc-s1 gcc-12-base"});
    AptServer server(repo);
    fs::path recipe = write_file(
        dir / "app.toml", "name = \"app\"\n" + apt_source_toml(server.url(), repo / "keyring.gpg") +
                              "[[layer]]\nname = \"system\"\n" + packages_toml({"libc6"}));
    fs::path lock = dir / "app.lock";
    // Built once: the lock is written and every .deb and the layer are in the cache.
    build_json(dir, recipe, (dir / "img").string());
    const std::string good = read_file(lock);
    REQUIRE(ocibake_in(dir, {"build", recipe.string(), "-o", "oci:" + (dir / "img").string()})
                .exit_code == 0);
    const std::string file = lock.string();
    const std::size_t apt = line_of(good, "[[apt]]");
    const std::size_t pkg = line_of(good, "[[apt.package]]");
    const std::string first_name =
        good.substr(good.find("name = \"", good.find("[[apt.package]]")));
    const std::string name = first_name.substr(8, first_name.find('"', 8) - 8);

    /// Builds with `text` as the lock: refused with exit `code`, the message at
    /// line:column (the first line of stderr), and the lock left as it was.
    auto refused = [&](const std::string& text, int code, std::size_t line, std::size_t column,
                       const std::string& message) {
        write_file(lock, text);
        auto r = ocibake_in(dir, {"build", recipe.string(), "-o", "oci:" + (dir / "img").string()});
        INFO("lock line " << line << ": " << message << "\nstderr: " << r.err);
        CHECK(r.exit_code == code);
        CHECK(r.err.substr(0, r.err.find('\n')) == file + ":" + std::to_string(line) + ":" +
                                                       std::to_string(column) +
                                                       ": error: " + message);
        CHECK(contains(r.err, "\nhint: run `ocibake lock"));
        CHECK(read_file(lock) == text); // never rewritten silently
    };
    // A value of `key` in the block at line `block`, replaced by `value`.
    auto value = [&](std::size_t block, const std::string& key, const std::string& v,
                     const std::string& message, std::size_t column = 0) {
        std::size_t at = key_line(good, block, key);
        refused(with_line(good, at, key + " = " + v), 3, at, column ? column : key.size() + 4,
                message);
    };
    const std::string digest_form = "' is not a sha256 digest (\"sha256:\" and 64 lowercase hex "
                                    "digits)";
    const std::string hex(64, 'a');

    SECTION("every field with the wrong type, empty, or malformed") {
        // The top level.
        value(0, "version", "\"1\"", "lock format version (not an integer) is not 1");
        value(0, "version", "2", "lock format version 2 is not 1");
        value(0, "version", "1.0", "lock format version (not an integer) is not 1");
        // [[apt]]
        value(apt, "layer", "1", "'layer' must be a string, not 1");
        value(apt, "layer", "\"\"", "'layer' must not be empty");
        value(apt, "layer", "\"sys\\ttem\"", "'layer' 'sys\\ttem' holds a control character");
        value(apt, "packages", "\"libc6\"", "'packages' must be an array of strings, not 'libc6'");
        value(apt, "packages", "[1]", "'packages' must hold only strings, not 1", 13);
        value(apt, "packages", "[\"\"]", "'packages' must not be empty", 13);
        value(apt, "packages", "[\"libc6=\"]",
              "'packages' 'libc6=' is not a package request: version '': the version is empty", 13);
        value(apt, "recommends", "\"false\"", "'recommends' must be true or false, not 'false'");
        value(apt, "recommends", "0", "'recommends' must be true or false, not 0");
        value(apt, "sources", "\"sha256:abc\"", "'sources' 'sha256:abc" + digest_form);
        value(apt, "sources", "[]", "'sources' must be a string, not an array");
        value(apt, "below", "\"\"", "'below' must not be empty");
        value(apt, "below", "\"sha256:" + std::string(64, 'A') + "\"",
              "'below' 'sha256:" + std::string(64, 'A') + digest_form);
        // [[apt.package]]
        value(pkg, "name", "1", "'name' must be a string, not 1");
        value(pkg, "name", "\"\"", "'name' must not be empty");
        value(pkg, "name", "\"Libc6\"",
              "'name' 'Libc6' is not a Debian package name (lowercase letters, digits, '+', '-' "
              "and '.', starting with a letter or digit)");
        value(pkg, "name", "\"x\"",
              "'name' 'x' is not a Debian package name (lowercase letters, digits, '+', '-' "
              "and '.', starting with a letter or digit)");
        value(pkg, "name", "\"../../etc\"",
              "'name' '../../etc' is not a Debian package name (lowercase letters, digits, '+', "
              "'-' and '.', starting with a letter or digit)");
        value(pkg, "version", "12", "'version' must be a string, not 12");
        value(pkg, "version", "\"\"", "'version' must not be empty");
        value(pkg, "version", "\"v12\"",
              "'version' 'v12' is not a Debian version: the version must start with a digit");
        value(pkg, "version", "\"1 2\"",
              "'version' '1 2' is not a Debian version: a version has no spaces");
        value(pkg, "version", "\"1:\"",
              "'version' '1:' is not a Debian version: nothing before the revision");
        value(pkg, "arch", "true", "'arch' must be a string, not a boolean");
        value(pkg, "arch", "\"\"", "'arch' must not be empty");
        value(pkg, "arch", "\"AMD64\"",
              "'arch' 'AMD64' is not a Debian architecture (e.g. amd64, arm64, all)");
        value(pkg, "source", "1", "'source' must be a string, not 1");
        value(pkg, "source", "\"\"", "'source' must not be empty");
        value(pkg, "source", "\"a b\"",
              "'source' 'a b' is not a Debian package name (lowercase letters, digits, '+', '-' "
              "and '.', starting with a letter or digit)");
        value(pkg, "url", "1", "'url' must be a string, not 1");
        value(pkg, "url", "\"\"", "'url' must not be empty");
        value(pkg, "url", "\"ftp://h/x.deb\"",
              "'url' 'ftp://h/x.deb' is not an http:// or https:// URL");
        value(pkg, "url", "\"/pool/x.deb\"",
              "'url' '/pool/x.deb' is not an http:// or https:// URL");
        value(pkg, "url", "\"http://\"", "'url' 'http://' is not an http:// or https:// URL");
        value(pkg, "url", "\"http:///pool/x.deb\"", "'url' 'http:///pool/x.deb' names no host");
        value(pkg, "url", "\"http://h/a b.deb\"",
              "'url' 'http://h/a b.deb' is not an http:// or https:// URL");
        value(pkg, "size", "\"123\"", "'size' must be an integer, 0 or more, not '123'");
        value(pkg, "size", "-1", "'size' must be an integer, 0 or more, not -1");
        value(pkg, "size", "1.5", "'size' must be an integer, 0 or more, not a float");
        value(pkg, "size", "true", "'size' must be an integer, 0 or more, not a boolean");
        value(pkg, "size", "1979-05-27",
              "'size' must be an integer, 0 or more, not a date or time");
        value(pkg, "size", "[]", "'size' must be an integer, 0 or more, not an array");
        value(pkg, "sha256", "1", "'sha256' must be a string, not 1");
        value(pkg, "sha256", "\"\"", "'sha256' must not be empty");
        value(pkg, "sha256", "\"" + hex + "\"", "'sha256' '" + hex + digest_form);
        value(pkg, "sha256", "\"sha256:" + hex.substr(1) + "\"",
              "'sha256' 'sha256:" + hex.substr(1) + digest_form);
        value(pkg, "sha256", "\"sha512:" + hex + "\"", "'sha256' 'sha512:" + hex + digest_form);
        value(pkg, "sha256", "\"sha256:" + std::string(64, 'g') + "\"",
              "'sha256' 'sha256:" + std::string(64, 'g') + digest_form);
    }
    SECTION("keys missing, unknown or twice; entries twice") {
        std::size_t at = key_line(good, pkg, "sha256");
        refused(with_line(good, at, ""), 3, pkg, 1, "[[apt.package]] needs 'sha256'");
        at = key_line(good, apt, "below");
        refused(with_line(good, at, ""), 3, apt, 1, "[[apt]] needs 'below'");
        at = key_line(good, pkg, "size");
        refused(with_line(good, at, "size = 1\nmirror = \"http://h/x.deb\""), 3, at + 1, 1,
                "unknown key 'mirror' in [[apt.package]]");
        refused(with_line(good, apt, "[[apt]]\nextra = true"), 3, apt + 1, 1,
                "unknown key 'extra' in [[apt]]");
        refused(with_line(good, 3, "version = 1\nsigned = false"), 3, 4, 1,
                "unknown key 'signed' in the lock");
        // The first package again, after the last one.
        std::size_t end = good.find("\n[[apt.package]]", good.find("[[apt.package]]") + 1);
        std::string first_block =
            good.substr(good.find("[[apt.package]]"), end - good.find("[[apt.package]]") + 1);
        std::string twice = good + "\n" + first_block;
        std::size_t last = 0;
        for (std::size_t p = twice.find("[[apt.package]]"); p != std::string::npos;
             p = twice.find("[[apt.package]]", p + 1)) {
            last = std::count(twice.begin(), twice.begin() + static_cast<long>(p), '\n') + 1;
        }
        refused(twice, 3, last, 1,
                "package " + name + " (amd64) is pinned twice for layer 'system' (first at " +
                    file + ":" + std::to_string(pkg) + ":1)");
        std::string apt_twice = good +
                                "\n[[apt]]\nlayer = \"system\"\npackages = []\n"
                                "recommends = false\nsources = \"sha256:" +
                                hex + "\"\nbelow = \"sha256:" + hex + "\"\n";
        refused(apt_twice, 3,
                static_cast<std::size_t>(std::count(good.begin(), good.end(), '\n')) + 2, 1,
                "layer 'system' has two [[apt]] entries (first at " + file + ":" +
                    std::to_string(apt) + ":1)");
    }
    SECTION("values of the right form that do not fit: caught warm too") {
        // Another host than the recipe's [[apt.source]]: refused before anything is read.
        std::size_t at = key_line(good, pkg, "url");
        std::string url_line = good.substr(good.find("url = ", good.find("[[apt.package]]")));
        url_line = url_line.substr(0, url_line.find('\n'));
        std::string elsewhere =
            "url = \"http://mirror.invalid/" + url_line.substr(url_line.find("/pool/") + 1);
        refused(with_line(good, at, elsewhere), 3, pkg, 1,
                "package " + name + " (amd64) of layer 'system': the url " +
                    elsewhere.substr(7, elsewhere.size() - 8) +
                    " is not below the url of any [[apt.source]] of the recipe");
        // A size that is not the size of the cached file with that sha256.
        std::string sha_line = good.substr(good.find("sha256 = ", good.find("[[apt.package]]")));
        sha_line = sha_line.substr(0, sha_line.find('\n'));
        const std::string sha256 = sha_line.substr(10, sha_line.size() - 11);
        at = key_line(good, pkg, "size");
        std::string size_line = good.substr(good.find("size = ", good.find("[[apt.package]]")));
        size_line = size_line.substr(0, size_line.find('\n'));
        std::uint64_t size = std::stoull(size_line.substr(7));
        refused(with_line(good, at, "size = " + std::to_string(size + 1)), 6, pkg, 1,
                "package " + name + " (amd64) of layer 'system': the lock pins " +
                    std::to_string(size + 1) + " bytes, but the file of its sha256 (" + sha256 +
                    ", in the cache) has " + std::to_string(size));
        // Another sha256 (well formed): not in the cache, so downloaded, and refused.
        at = key_line(good, pkg, "sha256");
        std::string other = sha_line;
        other[other.size() - 2] = other[other.size() - 2] == '0' ? '1' : '0';
        write_file(lock, with_line(good, at, other));
        auto r = ocibake_in(dir, {"build", recipe.string(), "-o", "oci:" + (dir / "img").string()});
        CHECK(r.exit_code == 6);
        CHECK(contains(r.err, ": the file does not match the lock's sha256 (" +
                                  other.substr(10, other.size() - 11) + ")"));
        CHECK(read_file(lock) == with_line(good, at, other));
    }
    SECTION("the lock as written still builds, and `ocibake lock` remakes a broken one") {
        write_file(lock, good);
        REQUIRE(ocibake_in(dir, {"build", recipe.string(), "-o", "oci:" + (dir / "img").string()})
                    .exit_code == 0);
        write_file(lock, with_line(good, key_line(good, pkg, "size"), "size = \"x\""));
        auto r = ocibake_in(dir, {"lock", recipe.string()});
        CHECK(r.exit_code == 0);
        CHECK(read_file(lock) == good);
    }
}
