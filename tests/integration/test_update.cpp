// `ocibake outdated` and `ocibake lock [--update [--only NAME...] [--security-only]]`:
// upstream moves (a security update published in a second suite of the signed fixture
// repository, a newer package elsewhere, a wheel bumped on a loopback index, a registry
// tag pushed again), what each command shows, what it moves and what it leaves alone; and
// the monthly refresh end to end (docs/refresh.md), from a build and push to the next.

#include "support/apt_fixture.hpp"
#include "support/checks.hpp"
#include "support/json.hpp"
#include "support/python_fixture.hpp"
#include "support/registry_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <sys/stat.h>
#include <vector>

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace ocibake::test;

namespace {

CommandResult ocibake_in(const ScratchDir& dir, std::vector<std::string> args) {
    return run_cli(std::move(args), dir / "cache", without_credentials(dir / "home"));
}

/// What making a fixture repository and publishing suites of changed .debs in it needs.
void require_repo_tools() {
    require_program("gpgv", "gpgv");
    require_program("apt-ftparchive", "apt-utils");
    require_program("dpkg-deb", "dpkg");
}

/// (Re)publishes suite `suite` of a fixture repository with exactly `debs` (copied into
/// pool/SUITE), indexed with apt-ftparchive, its Release signed with the repository's key
/// like the rest.
void publish_suite(const fs::path& repo, const std::string& suite,
                   const std::vector<fs::path>& debs) {
    fs::path pool = repo / "pool" / suite;
    fs::remove_all(pool);
    fs::create_directories(pool);
    for (const fs::path& deb : debs) {
        fs::copy_file(deb, pool / deb.filename());
    }
    fs::path dist = repo / "dists" / suite;
    fs::remove_all(dist);
    fs::create_directories(dist / "main/binary-amd64");
    must({"sh", "-c",
          "cd '" + repo.string() + "' && apt-ftparchive packages pool/" + suite + " > dists/" +
              suite + "/main/binary-amd64/Packages 2>/dev/null && xz -k dists/" + suite +
              "/main/binary-amd64/Packages && cd dists/" + suite +
              " && apt-ftparchive -o APT::FTPArchive::Release::Origin=ocibake-test -o "
              "APT::FTPArchive::Release::Label=ocibake-test -o "
              "APT::FTPArchive::Release::Suite=" +
              suite + " -o APT::FTPArchive::Release::Codename=" + suite +
              " -o APT::FTPArchive::Release::Architectures=amd64 -o "
              "APT::FTPArchive::Release::Components=main release . > Release.new && mv "
              "Release.new Release"});
    sign_apt_repo(repo, dist);
}

/// The fixture repository in dir/repo, with these suites published empty beside bookworm.
fs::path repo_with_suites(const ScratchDir& dir, const std::vector<std::string>& suites) {
    require_repo_tools();
    fs::path repo = dir / "repo";
    make_apt_repo(repo);
    for (const std::string& suite : suites) {
        publish_suite(repo, suite, {});
    }
    return repo;
}

/// A newer version of a real package of the fixture: its .deb unpacked and built again
/// with another Version (the same Source) and, as a fix would, one more file
/// (usr/share/doc/PACKAGE/fixed-in, its md5sum listed), as out_dir/FILE.
fs::path bump_deb(const fs::path& deb, const std::string& version, const fs::path& out_dir,
                  const std::string& file) {
    fs::path tree = out_dir / ("tree-" + file);
    fs::remove_all(tree);
    must({"dpkg-deb", "-R", deb.string(), tree.string()});
    must({"sed", "-i", "s/^Version: .*/Version: " + version + "/",
          (tree / "DEBIAN/control").string()});
    std::string package = file.substr(0, file.find('_'));
    std::string fixed = "usr/share/doc/" + package + "/fixed-in";
    write_file(tree / fixed, version + "\n");
    must({"sh", "-c", "cd '" + tree.string() + "' && md5sum " + fixed + " >> DEBIAN/md5sums"});
    fs::path bumped = out_dir / file;
    must({"dpkg-deb", "--root-owner-group", "-Zxz", "--build", tree.string(), bumped.string()});
    return bumped;
}

fs::path fixture_deb(const fs::path& repo, const std::string& prefix) {
    for (const auto& e : fs::directory_iterator(repo / "pool/main")) {
        if (e.path().filename().string().starts_with(prefix)) {
            return e.path();
        }
    }
    FAIL("no " << prefix << "* in the fixture repository");
    return {};
}

std::vector<std::string> change_names(const json& diff) {
    std::vector<std::string> out;
    for (const json& c : diff["changes"]) {
        out.push_back(c["name"].get<std::string>() + " " +
                      (c["from"].is_null() ? "-" : c["from"].get<std::string>()) + " -> " +
                      (c["to"].is_null() ? "-" : c["to"].get<std::string>()));
    }
    return out;
}

/// The lock's [[apt.package]] entry of a package (its lines up to the next blank line).
std::string package_entry(const std::string& lock, const std::string& name) {
    std::size_t at = lock.find("[[apt.package]]\nname = \"" + name + "\"\n");
    REQUIRE(at != std::string::npos);
    return lock.substr(at, lock.find("\n\n", at) - at);
}

} // namespace

TEST_CASE("a security update in a second suite: outdated shows it (exit 10), lock --update "
          "--security-only takes it, --only another package does not, lock alone moves nothing") {
    ScratchDir dir("update-security");
    // bookworm-security and bookworm-updates exist from the start, empty.
    fs::path repo = repo_with_suites(dir, {"bookworm-security", "bookworm-updates"});
    AptServer server(repo);
    fs::path recipe = write_file(
        dir / "app.toml",
        "name = \"app\"\n" +
            apt_source_toml(server.url(), repo / "keyring.gpg",
                            "[\"bookworm\", \"bookworm-updates\", \"bookworm-security\"]") +
            "\n[[layer]]\nname = \"system\"\n" + packages_toml(apt_fixture_requests()));
    fs::path lock = dir / "app.lock";
    REQUIRE(ocibake_in(dir, {"lock", recipe.string()}).exit_code == 0);
    const std::string locked = read_file(lock);
    const ino_t inode = inode_of(lock);
    std::string zlib_entry = package_entry(locked, "zlib1g");
    CHECK(contains(zlib_entry, "version = \"1:1.2.13.dfsg-1+deb12u1\""));

    auto fresh = ocibake_in(dir, {"outdated", recipe.string()});
    CHECK(fresh.exit_code == 0);
    CHECK(fresh.out == lock.string() + " is up to date\n");

    // Upstream: zlib1g gets a security update, hostname a point-release update.
    fs::path zlib = bump_deb(fixture_deb(repo, "zlib1g_"), "1:1.2.13.dfsg-1+deb12u2", dir.path(),
                             "zlib1g_1.2.13.dfsg-1+deb12u2_amd64.deb");
    fs::path hostname = bump_deb(fixture_deb(repo, "hostname_"), "3.23+nmu2", dir.path(),
                                 "hostname_3.23+nmu2_amd64.deb");
    publish_suite(repo, "bookworm-security", {zlib});
    publish_suite(repo, "bookworm-updates", {hostname});
    const auto zlib_size = fs::file_size(zlib);
    const auto hostname_size = fs::file_size(hostname);

    // outdated: exactly those two, the security one said so; exit 10; nothing written.
    auto outdated = ocibake_in(dir, {"outdated", recipe.string(), "--json"});
    json diff = json_of(outdated, 10);
    CHECK(diff["schema"] == "ocibake.lock-diff/1");
    CHECK(diff["up_to_date"] == false);
    CHECK(diff["security"] == true);
    CHECK(diff["base"].is_null());
    CHECK(change_names(diff) ==
          std::vector<std::string>{"hostname 3.23+nmu1 -> 3.23+nmu2",
                                   "zlib1g 1:1.2.13.dfsg-1+deb12u1 -> 1:1.2.13.dfsg-1+deb12u2"});
    REQUIRE(diff["changes"].size() == 2);
    const json& z = diff["changes"][1];
    CHECK(z["kind"] == "apt");
    CHECK(z["layer"] == "system");
    CHECK(z["source"] == "zlib");
    CHECK(z["arch"] == "amd64");
    CHECK(z["security"] == true);
    CHECK(z["size"] == zlib_size);
    CHECK(z["reason"] == "");
    CHECK(diff["changes"][0]["security"] == false);
    CHECK(diff["changes"][0]["size"] == hostname_size);
    // Predicted: the part of each package, and the state layer (its size is not known).
    INFO(diff["rebuild"].dump(2));
    REQUIRE(diff["rebuild"].size() == 3);
    CHECK(diff["rebuild"][0]["layer"] == "system");
    CHECK(diff["rebuild"][0]["why"] == "hostname 3.23+nmu1 -> 3.23+nmu2");
    CHECK(diff["rebuild"][1]["layer"] == "system");
    CHECK(diff["rebuild"][1]["why"] == "zlib1g 1:1.2.13.dfsg-1+deb12u1 -> 1:1.2.13.dfsg-1+deb12u2");
    CHECK(diff["rebuild"][2] == json{{"name", "state"},
                                     {"layer", ""},
                                     {"why", "the dpkg status changes (whole-image state)"},
                                     {"bytes", nullptr},
                                     {"digest", nullptr}});
    CHECK(diff["pull_bytes"] == diff["rebuild"][0]["bytes"].get<std::uint64_t>() +
                                    diff["rebuild"][1]["bytes"].get<std::uint64_t>());
    CHECK(read_file(lock) == locked);
    CHECK(inode_of(lock) == inode);

    // The human form: a table for the layer, the security column, the summary.
    auto table = ocibake_in(dir, {"outdated", recipe.string()});
    CHECK(table.exit_code == 10);
    CHECK(contains(table.out, "layer system (apt)\n  PACKAGE   FROM"));
    CHECK(contains(table.out, "  zlib1g    1:1.2.13.dfsg-1+deb12u1  1:1.2.13.dfsg-1+deb12u2  zlib "
                              "     yes"));
    CHECK(contains(table.out, "\noutdated: 2 packages (1 from security suites)\n"));
    CHECK(contains(table.out, "a pull of the new image moves about "));

    // outdated narrowed as lock --update is: --security-only (exit 10), --only (exit 9).
    json secure_only =
        json_of(ocibake_in(dir, {"outdated", recipe.string(), "--security-only", "--json"}), 10);
    CHECK(change_names(secure_only) ==
          std::vector<std::string>{"zlib1g 1:1.2.13.dfsg-1+deb12u1 -> 1:1.2.13.dfsg-1+deb12u2"});
    json hostname_only =
        json_of(ocibake_in(dir, {"outdated", recipe.string(), "--only", "hostname", "--json"}), 9);
    CHECK(change_names(hostname_only) ==
          std::vector<std::string>{"hostname 3.23+nmu1 -> 3.23+nmu2"});
    CHECK(hostname_only["security"] == false);

    // `ocibake lock` with a lock that answers the recipe: nothing is written.
    auto plain = ocibake_in(dir, {"lock", recipe.string()});
    CHECK(plain.exit_code == 0);
    CHECK(contains(plain.out, "unchanged: " + lock.string()));
    CHECK(read_file(lock) == locked);
    CHECK(inode_of(lock) == inode);

    // --only another package: that one moves, zlib1g stays.
    json only = json_of(
        ocibake_in(dir, {"lock", recipe.string(), "--update", "--only", "hostname", "--json"}));
    CHECK(only["changed"] == true);
    CHECK(change_names(only["diff"]) ==
          std::vector<std::string>{"hostname 3.23+nmu1 -> 3.23+nmu2"});
    std::string after_only = read_file(lock);
    CHECK(package_entry(after_only, "zlib1g") == zlib_entry);
    CHECK(contains(package_entry(after_only, "hostname"), "version = \"3.23+nmu2\""));

    // --security-only: zlib1g moves (from bookworm-security), nothing else.
    auto secure = ocibake_in(dir, {"lock", recipe.string(), "--update", "--security-only"});
    INFO(secure.err);
    CHECK(secure.exit_code == 0);
    CHECK(contains(secure.out, "  zlib1g   1:1.2.13.dfsg-1+deb12u1  1:1.2.13.dfsg-1+deb12u2  zlib "
                               "   yes"));
    CHECK(contains(secure.out, "\nupdated: 1 package (1 from security suites)\n"));
    CHECK(contains(secure.out, "wrote " + lock.string()));
    std::string after = read_file(lock);
    CHECK(contains(package_entry(after, "zlib1g"),
                   "version = \"1:1.2.13.dfsg-1+deb12u2\"\narch = \"amd64\"\nsource = \"zlib\"\n"
                   "url = \"" +
                       server.url() +
                       "/pool/bookworm-security/zlib1g_1.2.13.dfsg-1+deb12u2_amd64.deb\"\nsize = " +
                       std::to_string(zlib_size)));
    // Only that entry changed.
    CHECK(after.replace(after.find(package_entry(after, "zlib1g")),
                        package_entry(after, "zlib1g").size(), zlib_entry) == after_only);

    // Up to date now; a second `--security-only` moves nothing.
    CHECK(ocibake_in(dir, {"outdated", recipe.string()}).exit_code == 0);
    auto again = ocibake_in(dir, {"lock", recipe.string(), "--update", "--security-only"});
    CHECK(contains(again.out, "unchanged: " + lock.string()));
}

/// A build's layers (build --json): name -> digest; several layers of one name (the
/// base's) are numbered "base#1", "base#2".
std::map<std::string, std::string> layer_digests(const json& build) {
    std::map<std::string, std::string> out;
    std::map<std::string, int> seen;
    for (const json& l : build["layers"]) {
        std::string name = l["name"];
        if (++seen[name] > 1) {
            name += "#" + std::to_string(seen[name]);
        }
        out[name] = l["digest"];
    }
    return out;
}

TEST_CASE("lock --update predicts what the build rewrites: a security update of one package "
          "changes its part and the state layer, and the build agrees") {
    ScratchDir dir("update-predict");
    fs::path repo = repo_with_suites(dir, {"bookworm-security"});
    AptServer server(repo);
    fs::path recipe =
        write_file(dir / "app.toml",
                   "name = \"app\"\n" +
                       apt_source_toml(server.url(), repo / "keyring.gpg",
                                       "[\"bookworm\", \"bookworm-security\"]") +
                       "\n[[layer]]\nname = \"system\"\n" + packages_toml(apt_fixture_requests()) +
                       "\n[[layer]]\nname = \"conf\"\n[[layer.files]]\npath = \"/etc/app.conf\"\n"
                       "content = \"x=1\\n\"\n");
    REQUIRE(ocibake_in(dir, {"lock", recipe.string()}).exit_code == 0);
    json first = json_of(ocibake_in(
        dir, {"build", recipe.string(), "-o", "oci:" + (dir / "one").string(), "--json"}));

    fs::path zlib = bump_deb(fixture_deb(repo, "zlib1g_"), "1:1.2.13.dfsg-1+deb12u2", dir.path(),
                             "zlib1g_1.2.13.dfsg-1+deb12u2_amd64.deb");
    publish_suite(repo, "bookworm-security", {zlib});
    json updated = json_of(ocibake_in(dir, {"lock", recipe.string(), "--update", "--json"}));
    const json& rebuild = updated["diff"]["rebuild"];
    INFO("predicted: " << rebuild.dump(2));
    std::set<std::string> predicted;
    for (const json& l : rebuild) {
        predicted.insert(l["name"].get<std::string>());
    }
    REQUIRE(rebuild.size() == 2);
    CHECK(rebuild[0]["layer"] == "system");
    CHECK(rebuild[0]["name"].get<std::string>().starts_with("system/"));
    CHECK(rebuild[0]["why"] == "zlib1g 1:1.2.13.dfsg-1+deb12u1 -> 1:1.2.13.dfsg-1+deb12u2");
    CHECK(rebuild[1]["name"] == "state");
    // The part's bytes are its .debs' sizes, from the new lock.
    std::uint64_t part_debs = 0;
    for (const json& layer : updated["apt"]) {
        for (const json& p : layer["packages"]) {
            if (p["name"] == "zlib1g") {
                CHECK(p["size"] == fs::file_size(zlib));
            }
        }
    }
    part_debs = rebuild[0]["bytes"].get<std::uint64_t>();
    CHECK(part_debs >= fs::file_size(zlib));
    CHECK(updated["diff"]["pull_bytes"] == part_debs);

    json second = json_of(ocibake_in(
        dir, {"build", recipe.string(), "-o", "oci:" + (dir / "two").string(), "--json"}));
    std::map<std::string, std::string> before = layer_digests(first);
    std::map<std::string, std::string> after = layer_digests(second);
    std::set<std::string> changed;
    for (const auto& [name, digest] : after) {
        if (before.count(name) == 0 || before[name] != digest) {
            changed.insert(name);
        }
    }
    INFO("built: " << second["layers"].dump(2));
    CHECK(after.size() == before.size());
    CHECK(after.size() > 4); // the packages are in several parts
    CHECK(changed == predicted);
}

TEST_CASE("lock --update --only: what must move with a named package moves too and says why, "
          "and lock keeps every other pin when the recipe asks for more") {
    require_program("dpkg-deb", "dpkg");
    require_program("apt-ftparchive", "apt-utils");
    ScratchDir dir("update-only");
    fs::path repo = dir / "repo";
    make_deb(repo, "app", "1.0", "Depends: lib (>= 1.0)\n", {{"usr/share/app/v", "1\n"}});
    make_deb(repo, "lib", "1.0", "", {{"usr/share/lib/v", "1\n"}});
    make_deb(repo, "other", "1.0", "", {{"usr/share/other/v", "1\n"}});
    AptServer server(repo);
    std::string source = local_repo(repo, server.url());
    auto recipe_with = [&](const std::vector<std::string>& packages) {
        return write_file(dir / "app.toml", "name = \"app\"\n" + source +
                                                "[[layer]]\nname = \"system\"\n" +
                                                packages_toml(packages));
    };
    fs::path recipe = recipe_with({"app", "other"});
    auto first = ocibake_in(dir, {"lock", recipe.string()});
    REQUIRE(first.exit_code == 0);
    // A first lock: the layer in one line, not a table of new packages.
    CHECK(contains(first.out, "\nlayer system (apt): 3 new packages, "));
    CHECK(!contains(first.out, "PACKAGE"));

    // Version 2 of everything; app 2.0 needs lib 2.0.
    make_deb(repo, "app", "2.0", "Depends: lib (>= 2.0)\n", {{"usr/share/app/v", "2\n"}});
    make_deb(repo, "lib", "2.0", "", {{"usr/share/lib/v", "2\n"}});
    make_deb(repo, "other", "2.0", "", {{"usr/share/other/v", "2\n"}});
    make_deb(repo, "extra", "1.0", "Depends: other\n", {{"usr/share/extra/v", "1\n"}});
    local_repo(repo, server.url());

    json outdated = json_of(ocibake_in(dir, {"outdated", recipe.string(), "--json"}), 9);
    CHECK(outdated["security"] == false);
    CHECK(change_names(outdated) ==
          std::vector<std::string>{"app 1.0 -> 2.0", "lib 1.0 -> 2.0", "other 1.0 -> 2.0"});
    for (const json& c : outdated["changes"]) {
        CHECK(c["reason"] == ""); // everything was asked to move
    }

    // A name the lock does not pin, and --only without --update: usage errors.
    auto unknown = ocibake_in(dir, {"lock", recipe.string(), "--update", "--only", "nothere"});
    CHECK(unknown.exit_code == 2);
    CHECK(contains(unknown.err, "ocibake: error: --only nothere: the lock " +
                                    (dir / "app.lock").string() +
                                    " pins no apt package, source package or wheel of that name, "
                                    "and no base of that reference"));
    auto without = ocibake_in(dir, {"lock", recipe.string(), "--only", "app"});
    CHECK(without.exit_code == 2);
    CHECK(contains(without.err, "--only and --security-only choose what --update moves: give "
                                "--update too"));

    // --only app: lib must move with it (app 2.0 depends on lib (>= 2.0)); other stays.
    auto only = ocibake_in(dir, {"lock", recipe.string(), "--update", "--only", "app"});
    INFO(only.err);
    REQUIRE(only.exit_code == 0);
    CHECK(contains(only.out, "layer system (apt)\n"
                             "  PACKAGE  FROM  TO   SOURCE  SECURITY  SIZE\n"
                             "  app      1.0   2.0  app     no        "));
    CHECK(contains(only.out, "\n      (needed by app 2.0, which depends on lib (>= 2.0))\n"));
    CHECK(contains(only.out, "\nupdated: 2 packages\n"));
    std::string lock = read_file(dir / "app.lock");
    CHECK(contains(package_entry(lock, "app"), "version = \"2.0\""));
    CHECK(contains(package_entry(lock, "lib"), "version = \"2.0\""));
    CHECK(contains(package_entry(lock, "other"), "version = \"1.0\""));

    // The recipe asks for one more package: `lock` adds it and what it needs, and keeps
    // other at 1.0 although 2.0 is the candidate now.
    recipe = recipe_with({"app", "extra", "other"});
    json added = json_of(ocibake_in(dir, {"lock", recipe.string(), "--json"}));
    CHECK(change_names(added["diff"]) == std::vector<std::string>{"extra - -> 1.0"});
    CHECK(added["diff"]["changes"][0]["reason"] == "layer 'system' asks for it");
    lock = read_file(dir / "app.lock");
    CHECK(contains(package_entry(lock, "other"), "version = \"1.0\""));
    CHECK(contains(package_entry(lock, "extra"), "version = \"1.0\""));
}

TEST_CASE("wheels: a version bumped on the index and in the requirements, a better file for "
          "a kept version: outdated, lock, lock --update --only") {
    ScratchDir dir("update-wheels");
    fs::path wheels = dir / "index";
    fs::path demo1 =
        make_wheel(wheels, "demo-1.0-py3-none-any.whl", {{"demo/__init__.py", "v = 1\n"}});
    fs::path other_any =
        make_wheel(wheels, "other-1.0-py3-none-any.whl", {{"other/__init__.py", "v = 1\n"}});
    // The better-fitting file of other 1.0 is hashed in the requirements, not yet published.
    ScratchDir later("update-wheels-later");
    fs::path other_linux =
        make_wheel(later.path(), "other-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
                   {{"other/__init__.py", "v = 1\n"}});
    IndexServer index("json", wheels);
    auto hash = [](const fs::path& f) { return ocibake::sha256_of_file(f).hex(); };
    auto requirements = [&](const fs::path& demo, const std::string& version) {
        write_file(dir / "req.txt", "--index-url " + index.url() + "\ndemo==" + version +
                                        " --hash=sha256:" + hash(demo) +
                                        "\nother==1.0 --hash=sha256:" + hash(other_any) +
                                        " --hash=sha256:" + hash(other_linux) + "\n");
    };
    requirements(demo1, "1.0");
    fs::path recipe = write_file(dir / "app.toml", "name = \"app\"\n[[layer]]\nname = \"tools\"\n"
                                                   "[layer.python]\nrequirements = \"req.txt\"\n"
                                                   "venv = \"/opt/venv\"\npython = \"3.11\"\n"
                                                   "glibc = \"2.36\"\n");
    REQUIRE(ocibake_in(dir, {"lock", recipe.string()}).exit_code == 0);
    CHECK(ocibake_in(dir, {"outdated", recipe.string()}).exit_code == 0);
    // `lock` leaves an entry that answers the requirements alone, without asking the index:
    // with demo 1.0 gone from it, nothing fails and nothing is written.
    fs::rename(demo1, dir / "demo-1.0-py3-none-any.whl");
    auto kept = ocibake_in(dir, {"lock", recipe.string()});
    CHECK(kept.exit_code == 0);
    CHECK(contains(kept.out, "unchanged: " + (dir / "app.lock").string()));
    fs::rename(dir / "demo-1.0-py3-none-any.whl", demo1);

    // demo 1.1 is published and pinned (as `uv pip compile --upgrade` would); the
    // manylinux file of other 1.0 appears on the index.
    fs::path demo2 =
        make_wheel(wheels, "demo-1.1-py3-none-any.whl", {{"demo/__init__.py", "v = 2\n"}});
    fs::copy_file(other_linux, wheels / other_linux.filename());
    requirements(demo2, "1.1");
    const std::string before = read_file(dir / "app.lock");

    json outdated = json_of(ocibake_in(dir, {"outdated", recipe.string(), "--json"}), 9);
    CHECK(change_names(outdated) ==
          std::vector<std::string>{"demo 1.0 -> 1.1", "other 1.0 -> 1.0"});
    REQUIRE(outdated["changes"].size() == 2);
    CHECK(outdated["changes"][0]["kind"] == "wheel");
    CHECK(outdated["changes"][0]["file"] == "demo-1.1-py3-none-any.whl");
    CHECK(outdated["changes"][0]["size"] == fs::file_size(demo2));
    CHECK(outdated["changes"][0]["security"] == false);
    CHECK(outdated["changes"][1]["file"] == other_linux.filename().string());
    CHECK(outdated["changes"][1]["reason"] == "another file: " + other_linux.filename().string());
    REQUIRE(outdated["rebuild"].size() == 1);
    CHECK(outdated["rebuild"][0]["name"] == "tools");
    CHECK(outdated["rebuild"][0]["layer"] == "tools");
    CHECK(outdated["rebuild"][0]["why"] == "2 wheels change");
    CHECK(outdated["rebuild"][0]["bytes"] == fs::file_size(demo2) + fs::file_size(other_linux));
    CHECK(read_file(dir / "app.lock") == before);

    // `lock` (dry run): the stale entry is resolved again; other keeps its file.
    json dry = json_of(ocibake_in(dir, {"lock", recipe.string(), "--dry-run", "--json"}));
    CHECK(dry["written"] == false);
    CHECK(change_names(dry["diff"]) == std::vector<std::string>{"demo 1.0 -> 1.1"});
    CHECK(dry["diff"]["changes"][0]["reason"] ==
          (dir / "req.txt").string() + " no longer allows demo-1.0-py3-none-any.whl");
    CHECK(read_file(dir / "app.lock") == before);

    // --update --only demo: the same; other's file stays.
    json only =
        json_of(ocibake_in(dir, {"lock", recipe.string(), "--update", "--only", "demo", "--json"}));
    CHECK(change_names(only["diff"]) == std::vector<std::string>{"demo 1.0 -> 1.1"});
    CHECK(contains(read_file(dir / "app.lock"), "file = \"other-1.0-py3-none-any.whl\""));
    // --update: other moves to the better file.
    json all = json_of(ocibake_in(dir, {"lock", recipe.string(), "--update", "--json"}));
    CHECK(change_names(all["diff"]) == std::vector<std::string>{"other 1.0 -> 1.0"});
    CHECK(contains(read_file(dir / "app.lock"),
                   "file = \"" + other_linux.filename().string() + "\""));
}

TEST_CASE("wheels from a pylock.toml made again with a newer version: outdated shows it, "
          "lock takes it, what the pylock keeps stays") {
    ScratchDir dir("update-pylock");
    fs::path demo1 =
        make_wheel(dir / "wheels", "demo-1.0-py3-none-any.whl", {{"demo/__init__.py", "v = 1\n"}});
    fs::path other = make_wheel(dir / "wheels", "other-1.0-py3-none-any.whl",
                                {{"other/__init__.py", "v = 1\n"}});
    auto pylock = [&](const fs::path& demo, const std::string& version) {
        auto entry = [](const std::string& name, const std::string& v, const fs::path& wheel) {
            return "[[packages]]\nname = \"" + name + "\"\nversion = \"" + v +
                   "\"\n[[packages.wheels]]\npath = \"wheels/" + wheel.filename().string() +
                   "\"\nhashes = {sha256 = \"" + ocibake::sha256_of_file(wheel).hex() + "\"}\n\n";
        };
        write_file(dir / "pylock.toml",
                   "lock-version = \"1.0\"\ncreated-by = \"ocibake-tests\"\n\n" +
                       entry("demo", version, demo) + entry("other", "1.0", other));
    };
    pylock(demo1, "1.0");
    fs::path recipe = write_file(dir / "app.toml", "name = \"app\"\n[[layer]]\nname = \"app\"\n"
                                                   "[layer.python]\npylock = \"pylock.toml\"\n"
                                                   "venv = \"/opt/venv\"\npython = \"3.11\"\n"
                                                   "glibc = \"2.36\"\n");
    REQUIRE(ocibake_in(dir, {"lock", recipe.string()}).exit_code == 0);
    CHECK(ocibake_in(dir, {"outdated", recipe.string()}).exit_code == 0);

    // `uv lock --upgrade-package demo` (say) writes demo 1.1 into the pylock.
    fs::path demo2 =
        make_wheel(dir / "wheels", "demo-1.1-py3-none-any.whl", {{"demo/__init__.py", "v = 2\n"}});
    pylock(demo2, "1.1");
    const std::string before = read_file(dir / "app.lock");
    json outdated = json_of(ocibake_in(dir, {"outdated", recipe.string(), "--json"}), 9);
    CHECK(change_names(outdated) == std::vector<std::string>{"demo 1.0 -> 1.1"});
    REQUIRE(outdated["changes"].size() == 1);
    CHECK(outdated["changes"][0]["kind"] == "wheel");
    CHECK(outdated["changes"][0]["file"] == "demo-1.1-py3-none-any.whl");
    CHECK(outdated["changes"][0]["size"] == fs::file_size(demo2));
    REQUIRE(outdated["rebuild"].size() == 1);
    CHECK(outdated["rebuild"][0]["name"] == "app");
    CHECK(outdated["rebuild"][0]["why"] == "demo 1.0 -> 1.1");
    CHECK(outdated["rebuild"][0]["bytes"] == fs::file_size(demo2) + fs::file_size(other));
    CHECK(read_file(dir / "app.lock") == before);

    // `lock` takes it (the entry no longer answers the pylock), and says why.
    json locked = json_of(ocibake_in(dir, {"lock", recipe.string(), "--json"}));
    CHECK(locked["written"] == true);
    CHECK(change_names(locked["diff"]) == std::vector<std::string>{"demo 1.0 -> 1.1"});
    CHECK(locked["diff"]["changes"][0]["reason"] ==
          (dir / "pylock.toml").string() + " no longer allows demo-1.0-py3-none-any.whl");
    std::string after = read_file(dir / "app.lock");
    CHECK(contains(after, "file = \"demo-1.1-py3-none-any.whl\""));
    CHECK(contains(after, "file = \"other-1.0-py3-none-any.whl\""));
    CHECK(ocibake_in(dir, {"outdated", recipe.string()}).exit_code == 0);
}

TEST_CASE("a registry base whose tag moved: outdated says so, lock keeps the pin, lock "
          "--update moves it") {
    require_program("docker-registry", "docker-registry");
    ScratchDir dir("update-base");
    Registry registry;
    const std::string ref = registry.host() + "/base/img:1";
    // Two images pushed in turn to the same tag.
    auto push_image = [&](const std::string& name, const std::string& content) {
        write_file(dir / name / "files/data.txt", content);
        fs::path recipe =
            write_file(dir / name / "img.toml", "name = \"" + name +
                                                    "\"\n[[layer]]\n[[layer.copy]]\nsrc = "
                                                    "\"files\"\ndst = \"/data\"\n");
        must({cli().string(), "build", recipe.string(), "-o",
              "oci:" + (dir / name / "out").string() + ":1", "--cache-dir",
              (dir / "cache").string(), "-q"});
        auto pushed = must({cli().string(), "push", "oci:" + (dir / name / "out").string() + ":1",
                            ref, "--cache-dir", (dir / "cache").string(), "-q"});
        return pushed.out.substr(0, 71);
    };
    const std::string first = push_image("one", "first\n");
    fs::path recipe =
        write_file(dir / "app.toml", "name = \"app\"\n[base]\nref = \"" + ref +
                                         "\"\n[[layer]]\nname = \"conf\"\n[[layer.files]]\npath = "
                                         "\"/etc/app.conf\"\ncontent = \"x=1\\n\"\n");
    fs::path lock = dir / "app.lock";
    REQUIRE(ocibake_in(dir, {"lock", recipe.string()}).exit_code == 0);
    CHECK(contains(read_file(lock), "manifest = \"" + first + "\""));
    CHECK(ocibake_in(dir, {"outdated", recipe.string()}).exit_code == 0);

    const std::string second = push_image("two", "second, a little longer\n");
    REQUIRE(second != first);
    const std::string locked = read_file(lock);
    const ino_t inode = inode_of(lock);

    json diff = json_of(ocibake_in(dir, {"outdated", recipe.string(), "--json"}), 9);
    CHECK(diff["security"] == false);
    CHECK(diff["changes"].empty());
    CHECK(diff["base"]["ref"] == ref);
    CHECK(diff["base"]["platform"] == "linux/amd64");
    CHECK(diff["base"]["from"] == first);
    CHECK(diff["base"]["to"] == second);
    // The new image's one layer is new: its compressed size is what a pull fetches.
    json inspected = json::parse(
        must({cli().string(), "inspect", "oci:" + (dir / "two/out").string() + ":1", "--json"})
            .out);
    CHECK(diff["base"]["new_layer_bytes"] == inspected["layers"][0]["size"]);
    // Predicted: that layer (digest and size from the manifest); the recipe's own layer
    // stays (a layer of files does not depend on the base).
    REQUIRE(diff["rebuild"].size() == 1);
    CHECK(diff["rebuild"][0]["name"] == "base");
    CHECK(diff["rebuild"][0]["layer"] == "");
    CHECK(diff["rebuild"][0]["digest"] == inspected["layers"][0]["digest"]);
    CHECK(diff["rebuild"][0]["bytes"] == inspected["layers"][0]["size"]);
    CHECK(diff["pull_bytes"] == inspected["layers"][0]["size"]);
    auto table = ocibake_in(dir, {"outdated", recipe.string()});
    CHECK(contains(table.out, "base " + ref + " (linux/amd64)\n  " + first.substr(0, 19) + " -> " +
                                  second.substr(0, 19)));
    CHECK(contains(table.out, "\noutdated: the base\n"));

    // `lock` keeps the pin, and so does --security-only (a base has no security suite).
    CHECK(contains(ocibake_in(dir, {"lock", recipe.string()}).out, "unchanged: "));
    CHECK(contains(ocibake_in(dir, {"lock", recipe.string(), "--update", "--security-only"}).out,
                   "unchanged: "));
    CHECK(read_file(lock) == locked);
    CHECK(inode_of(lock) == inode);
    // --update --only the base's reference moves it.
    json moved =
        json_of(ocibake_in(dir, {"lock", recipe.string(), "--update", "--only", ref, "--json"}));
    CHECK(moved["diff"]["base"]["to"] == second);
    CHECK(contains(read_file(lock), "manifest = \"" + second + "\""));
    CHECK(ocibake_in(dir, {"outdated", recipe.string()}).exit_code == 0);
}

/// A layer of `build --json`, as the refresh compares them.
struct BuiltLayer {
    std::string digest;
    std::uint64_t size = 0;
    std::string cache; ///< "built", "cached"
};

/// Every [[apt.package]] entry of a lock.
std::set<std::string> package_entries(const std::string& lock) {
    std::set<std::string> out;
    for (std::size_t at = lock.find("[[apt.package]]\n"); at != std::string::npos;
         at = lock.find("[[apt.package]]\n", at + 1)) {
        out.insert(lock.substr(at, lock.find("\n\n", at) - at));
    }
    return out;
}

/// A build's layers by name (every name once: apt parts and `state` are unique).
std::map<std::string, BuiltLayer> layers_by_name(const json& build) {
    std::map<std::string, BuiltLayer> out;
    for (const json& l : build["layers"]) {
        BuiltLayer layer{l["digest"], l["size"], l["cache"]};
        REQUIRE(out.emplace(l["name"].get<std::string>(), layer).second);
    }
    return out;
}

TEST_CASE("the refresh end to end: the old lock still builds from a snapshot, outdated and "
          "lock --update show the one security update, the new image differs in its part and "
          "the state layer only, and its push uploads those two and the config") {
    require_program("docker-registry", "docker-registry");
    ScratchDir dir("update-refresh");
    fs::path repo = repo_with_suites(dir, {"bookworm-security"});
    AptServer server(repo);
    // A snapshot service (snapshot.debian.org's URL scheme) whose one run, long before the
    // lock, has the zlib1g .deb the lock will pin: where the build finds it once the archive
    // has dropped it.
    const fs::path old_zlib = fixture_deb(repo, "zlib1g_");
    const std::string old_file = old_zlib.filename().string();
    // Its name as a URL path says it (apt-get download named it zlib1g_1%3a1.2.13...).
    std::string old_file_in_url;
    for (char c : old_file) {
        old_file_in_url += c == '%' ? std::string("%25") : std::string(1, c);
    }
    fs::path snap = dir / "snap";
    fs::create_directories(snap / "debian/20200101T000000Z/pool/main");
    fs::copy_file(old_zlib, snap / "debian/20200101T000000Z/pool/main" / old_file);
    SnapshotServer snapshot(snap);
    Registry registry;
    const std::string repository = registry.host() + "/refresh/app";

    // Two apt layers: the Essential set (with dpkg, hence zlib1g), and tools above it.
    const std::vector<std::string> essential = {"base-files",     "base-passwd",
                                                "bash",           "bsdutils",
                                                "coreutils",      "dash",
                                                "debianutils",    "diffutils",
                                                "dpkg",           "findutils",
                                                "grep",           "gzip",
                                                "hostname",       "init-system-helpers",
                                                "libc-bin",       "login",
                                                "ncurses-base",   "ncurses-bin",
                                                "perl-base",      "sed",
                                                "sysvinit-utils", "tar",
                                                "util-linux"};
    fs::path recipe = write_file(dir / "app.toml",
                                 "name = \"app\"\n" +
                                     apt_source_toml(server.url(), repo / "keyring.gpg",
                                                     "[\"bookworm\", \"bookworm-security\"]") +
                                     "snapshot = \"" + snapshot.url() + "/archive/debian/\"\n" +
                                     "\n[[layer]]\nname = \"system\"\n" + packages_toml(essential) +
                                     "\n[[layer]]\nname = \"tools\"\n" +
                                     packages_toml({"ca-certificates", "tini"}));
    auto cli_in = [&](const std::string& cache, std::vector<std::string> args) {
        return run_cli(std::move(args), dir / cache,
                       {"HOME=" + (dir / "home").string(),
                        "REGISTRY_AUTH_FILE=", "XDG_RUNTIME_DIR=", "DOCKER_CONFIG="});
    };
    auto build = [&](const std::string& cache, const std::string& out) {
        return cli_in(cache, {"build", recipe.string(), "-o", "oci:" + (dir / out).string() + ":1",
                              "--json"});
    };
    auto push = [&](const std::string& out, const std::string& tag) {
        return json_of(cli_in("cache", {"push", "oci:" + (dir / out).string() + ":1",
                                        repository + ":" + tag, "--json"}));
    };

    // 1. Lock, build, push.
    REQUIRE(cli_in("cache", {"lock", recipe.string()}).exit_code == 0);
    const fs::path lock = dir / "app.lock";
    const std::string old_lock = read_file(lock);
    const std::string old_version = "1:1.2.13.dfsg-1+deb12u1";
    const std::string new_version = "1:1.2.13.dfsg-1+deb12u2";
    REQUIRE(contains(package_entry(old_lock, "zlib1g"), "version = \"" + old_version + "\""));
    json first = json_of(build("cache", "one"));
    const std::map<std::string, BuiltLayer> before = layers_by_name(first);
    std::size_t system_parts = 0;
    std::size_t tools_parts = 0;
    for (const auto& [name, layer] : before) {
        system_parts += name.starts_with("system/");
        tools_parts += name.starts_with("tools/");
    }
    INFO("first build: " << first["layers"].dump(2));
    CHECK(system_parts > 2); // the packages are in several parts, in both layers
    CHECK(tools_parts > 1);
    REQUIRE(before.size() == system_parts + tools_parts + 1);
    REQUIRE(before.count("state") == 1);
    json first_push = push("one", "1");
    CHECK(first_push["digest"] == first["digest"]);
    CHECK(first_push["stats"]["blobs_sent"] == before.size() + 1); // the layers, the config

    // 2. Upstream: zlib1g gets a security update in bookworm-security, and the archive
    // drops the version the lock pins from its pool.
    fs::path new_zlib =
        bump_deb(old_zlib, new_version, dir.path(), "zlib1g_1.2.13.dfsg-1+deb12u2_amd64.deb");
    publish_suite(repo, "bookworm-security", {new_zlib});
    fs::remove(old_zlib);

    // 3. The old lock still builds, in a new cache: zlib1g from the snapshot service, said
    // on stderr and in apt_fallbacks; the same image as before.
    auto again = build("cache-cold", "again");
    json rebuilt = json_of(again);
    const std::string from =
        snapshot.url() + "/archive/debian/20200101T000000Z/pool/main/" + old_file_in_url;
    REQUIRE(rebuilt["apt_fallbacks"].size() == 1);
    const json& fallback = rebuilt["apt_fallbacks"][0];
    CHECK(fallback["name"] == "zlib1g");
    CHECK(fallback["version"] == old_version);
    CHECK(fallback["url"] == server.url() + "/pool/main/" + old_file_in_url);
    CHECK(fallback["answer"] == "HTTP 404 Not Found");
    CHECK(fallback["tried"].empty());
    CHECK(fallback["fetched_from"] == from);
    CHECK(again.err == "note: zlib1g " + old_version +
                           " (amd64): gone from its URL (HTTP 404 Not Found); fetched from " +
                           from + "\n");
    CHECK(rebuilt["digest"] == first["digest"]);
    CHECK(read_file(lock) == old_lock);

    // 4. outdated: zlib1g alone, from a security suite (exit 10). lock --update: the same
    // diff, and the layers it predicts are zlib1g's part and the state layer.
    json outdated = json_of(cli_in("cache", {"outdated", recipe.string(), "--json"}), 10);
    CHECK(change_names(outdated) ==
          std::vector<std::string>{"zlib1g " + old_version + " -> " + new_version});
    REQUIRE(outdated["changes"].size() == 1);
    CHECK(outdated["changes"][0]["layer"] == "system");
    CHECK(outdated["changes"][0]["security"] == true);
    CHECK(outdated["changes"][0]["size"] == fs::file_size(new_zlib));
    CHECK(outdated["base"].is_null());
    json updated = json_of(cli_in("cache", {"lock", recipe.string(), "--update", "--json"}));
    CHECK(updated["written"] == true);
    CHECK(updated["diff"]["changes"] == outdated["changes"]);
    CHECK(updated["diff"]["rebuild"] == outdated["rebuild"]);
    const json& rebuild = updated["diff"]["rebuild"];
    INFO("predicted: " << rebuild.dump(2));
    REQUIRE(rebuild.size() == 2);
    const std::string part = rebuild[0]["name"];
    CHECK(part.starts_with("system/"));
    CHECK(before.count(part) == 1);
    CHECK(rebuild[0]["why"] == "zlib1g " + old_version + " -> " + new_version);
    CHECK(rebuild[1]["name"] == "state");
    // Only zlib1g's entry of the lock moved.
    std::set<std::string> old_entries = package_entries(old_lock);
    std::set<std::string> new_entries = package_entries(read_file(lock));
    CHECK(old_entries.size() == new_entries.size());
    CHECK(old_entries.erase(package_entry(old_lock, "zlib1g")) == 1);
    CHECK(contains(package_entry(read_file(lock), "zlib1g"), "version = \"" + new_version + "\""));
    CHECK(new_entries.erase(package_entry(read_file(lock), "zlib1g")) == 1);
    CHECK(old_entries == new_entries);

    // 5. Rebuild (the first build's cache): zlib1g's part and the state layer are new;
    // every other layer is the same blob, taken from the cache.
    json second = json_of(build("cache", "two"));
    const std::map<std::string, BuiltLayer> after = layers_by_name(second);
    INFO("second build: " << second["layers"].dump(2));
    std::set<std::string> changed;
    std::set<std::string> rebuilt_layers;
    std::uint64_t image_bytes = second["config"]["size"];
    for (const auto& [name, layer] : after) {
        image_bytes += layer.size;
        if (before.count(name) == 0 || before.at(name).digest != layer.digest) {
            changed.insert(name);
        }
        if (layer.cache != "cached") {
            rebuilt_layers.insert(name);
        }
    }
    CHECK(after.size() == before.size());
    CHECK(changed == std::set<std::string>{part, "state"});
    CHECK(rebuilt_layers == changed);
    CHECK(second["digest"] != first["digest"]);

    // 6. Push to the same repository: only the two new layers and the config are uploaded
    // (the manifest is not a blob: stats count blobs).
    json second_push = push("two", "2");
    CHECK(second_push["digest"] == second["digest"]);
    const json& stats = second_push["stats"];
    CHECK(stats["blobs_sent"] == 3);
    CHECK(stats["bytes_sent"] == after.at(part).size + after.at("state").size +
                                     second["config"]["size"].get<std::uint64_t>());
    CHECK(stats["blobs_skipped"] == after.size() - 2);
    CHECK(stats["blobs_mounted"] == 0);
    CHECK(stats["bytes_sent"].get<std::uint64_t>() * 20 < image_bytes);
}
