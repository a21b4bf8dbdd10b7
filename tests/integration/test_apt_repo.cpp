// apt repositories for real: Debian 12 packages (fetched once from deb.debian.org into the
// fixture cache), indexed with apt-ftparchive, signed with a key made here, served on
// loopback. `ocibake lock` against them, and every way a repository can be refused.

#include "support/apt_fixture.hpp"
#include "support/checks.hpp"
#include "support/json.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace ocibake::test;

namespace {

/// A copy of the shared repository (the .debs hard-linked: never change them in place).
fs::path copy_repo(const ScratchDir& dir) {
    fs::path copy = dir / "repo";
    must({"cp", "-a", "-l", shared_apt_repo().string(), copy.string()});
    // Metadata files are written again by tests: give them their own inodes.
    must({"sh", "-c",
          "cd '" + copy.string() +
              "' && for f in $(find dists gnupg keyring.gpg -type f); do cp --remove-destination "
              "\"$f\" \"$f.tmp\" && mv \"$f.tmp\" \"$f\"; done"});
    return copy;
}

CommandResult ocibake_in(const ScratchDir& dir, std::vector<std::string> args) {
    return run_cli(std::move(args), dir / "cache", {"HOME=" + (dir / "home").string()});
}

/// A recipe at dir/app.toml with one source and one layer of packages.
fs::path write_recipe(const ScratchDir& dir, const std::string& source,
                      const std::vector<std::string>& packages, const std::string& extra = {}) {
    return write_file(dir / "app.toml", "name = \"app\"\n" + source + extra +
                                            "\n[[layer]]\nname = \"system\"\n" +
                                            packages_toml(packages));
}

std::string lock_of(const ScratchDir& dir) {
    return read_file(dir / "app.lock");
}

json lock_json(const ScratchDir& dir, const fs::path& recipe) {
    return json_of(ocibake_in(dir, {"lock", recipe.string(), "--json"}));
}

std::string failure(const ScratchDir& dir, const fs::path& recipe, int exit_code,
                    const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"lock", recipe.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = ocibake_in(dir, args);
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.exit_code == exit_code);
    return r.err;
}

} // namespace

TEST_CASE("lock: the closure apt computes, pinned by URL, size and sha256") {
    require_program("gpgv", "gpgv");
    require_program("apt-ftparchive", "apt-utils");
    ScratchDir dir("apt-lock");
    fs::path repo = shared_apt_repo();
    fs::path log = dir / "requests.log";
    AptServer server(repo, log);
    fs::path recipe = write_recipe(dir, apt_source_toml(server.url(), repo / "keyring.gpg"),
                                   apt_fixture_requests());
    json j = lock_json(dir, recipe);
    CHECK(j["changed"] == true);
    REQUIRE(j["apt"].size() == 1);
    const json& layer = j["apt"][0];
    CHECK(layer["layer"] == "system");
    // Exactly the packages apt itself chose for an empty system (no recommends).
    std::vector<std::string> ours;
    for (const json& p : layer["packages"]) {
        ours.push_back(p["name"].get<std::string>() + "=" + p["version"].get<std::string>());
        CHECK(p["url"].get<std::string>().rfind(server.url() + "/pool/main/", 0) == 0);
    }
    std::vector<std::string> apt = apt_fixture_closure();
    std::sort(apt.begin(), apt.end());
    std::sort(ours.begin(), ours.end());
    CHECK(ours == apt);
    // Sizes and digests are the files'.
    for (const json& p : layer["packages"]) {
        if (p["name"] != "bash" && p["name"] != "python3") {
            continue;
        }
        fs::path deb = repo / "pool/main" / fs::path(p["url"].get<std::string>()).filename();
        CHECK(p["size"] == fs::file_size(deb));
        CHECK(p["sha256"] == ocibake::sha256_of_file(deb).str());
    }
    // The index came by hash, as the Release offers.
    std::string requests = read_file(log);
    CHECK(contains(requests, "/dists/bookworm/InRelease\n"));
    CHECK(contains(requests, "/dists/bookworm/main/binary-amd64/by-hash/SHA256/"));
    CHECK(!contains(requests, "Packages.xz"));

    // The lock text: canonical; locking again changes nothing and asks the repository
    // for nothing (the lock answers the recipe).
    std::string text = lock_of(dir);
    CHECK(contains(text, "[[apt]]\nlayer = \"system\"\npackages = [\"apt\", \"base-files\""));
    CHECK(contains(text, "\n[[apt.package]]\nname = \"bash\"\nversion = \""));
    fs::remove(log);
    json again = lock_json(dir, recipe);
    CHECK(again["changed"] == false);
    CHECK(lock_of(dir) == text);
    CHECK(!fs::exists(log));
}

TEST_CASE("lock: an index without its by-hash copy is fetched by its name, as apt does") {
    // bookworm-security offers by-hash but has no copies for its binary-all indexes.
    require_program("gpgv", "gpgv");
    require_program("apt-ftparchive", "apt-utils");
    ScratchDir dir("apt-no-by-hash");
    fs::path repo = copy_repo(dir);
    fs::remove_all(repo / "dists/bookworm/main/binary-amd64/by-hash");
    fs::path log = dir / "requests.log";
    AptServer server(repo, log);
    fs::path recipe =
        write_recipe(dir, apt_source_toml(server.url(), repo / "keyring.gpg"), {"libc6"});
    json j = lock_json(dir, recipe);
    REQUIRE(j["apt"].size() == 1);
    CHECK(contains(lock_of(dir), "\n[[apt.package]]\nname = \"libc6\"\n"));
    std::string requests = read_file(log);
    std::size_t by_hash = requests.find("/dists/bookworm/main/binary-amd64/by-hash/SHA256/");
    std::size_t by_name = requests.find("/dists/bookworm/main/binary-amd64/Packages.xz\n");
    CHECK(by_hash != std::string::npos);
    CHECK(by_name != std::string::npos);
    CHECK(by_hash < by_name);
}

TEST_CASE("lock: binary-all is read only when the Release names the architecture all") {
    // bookworm-security lists binary-all indexes but not "all" in Architectures (its
    // binary-amd64 index holds those packages); apt does not read them, nor does ocibake.
    require_program("gpgv", "gpgv");
    require_program("apt-ftparchive", "apt-utils");
    ScratchDir dir("apt-binary-all");
    fs::path repo = copy_repo(dir);
    fs::path dist = repo / "dists/bookworm";
    std::string ghost = "Package: ghost\nVersion: 1\nArchitecture: all\nMaintainer: t <t@t>\n"
                        "Filename: pool/main/ghost_1_all.deb\nSize: 10\nSHA256: " +
                        std::string(64, 'a') + "\nDescription: not in amd64\n";
    write_file(dist / "main/binary-all/Packages", ghost);
    std::string release = read_file(dist / "Release");
    std::size_t at = release.find("SHA256:\n");
    REQUIRE(at != std::string::npos);
    release.insert(at + 8, " " + ocibake::sha256_of_file(dist / "main/binary-all/Packages").hex() +
                               " " + std::to_string(ghost.size()) + " main/binary-all/Packages\n");
    fs::path log = dir / "requests.log";
    AptServer server(repo, log);
    auto lock = [&](const std::string& architectures) {
        std::string text = release;
        std::size_t a = text.find("Architectures: ");
        text.replace(a, text.find('\n', a) - a, "Architectures: " + architectures);
        write_file(dist / "Release", text);
        sign_apt_repo(repo);
        fs::remove(log);
        fs::remove_all(dir / "cache");
        fs::path recipe =
            write_recipe(dir, apt_source_toml(server.url(), repo / "keyring.gpg"), {"ghost"});
        return ocibake_in(dir, {"lock", recipe.string()});
    };
    auto without = lock("amd64");
    CHECK(without.exit_code == 4);
    CHECK(contains(without.err, "ghost"));
    CHECK(!contains(read_file(log), "binary-all"));
    // Named: read (by name, as the by-hash copy is missing), and the package found there.
    auto with = lock("all amd64");
    INFO("stderr: " << with.err);
    CHECK(with.exit_code == 0);
    CHECK(contains(read_file(log), "/dists/bookworm/main/binary-all/Packages\n"));
    CHECK(contains(lock_of(dir), "\nname = \"ghost\"\n"));
}

TEST_CASE("lock: a flat repository, Release + Release.gpg, and plain index files") {
    require_program("gpgv", "gpgv");
    ScratchDir dir("apt-flat");
    fs::path repo = dir / "flat";
    make_apt_repo(repo, {"REPO_LAYOUT=flat", "REPO_PACKAGES=libc6 libgcc-s1 gcc-12-base"});
    // No InRelease: the detached signature is checked instead; no by-hash copies either.
    fs::remove(repo / "InRelease");
    fs::remove_all(repo / "by-hash");
    must({"sed", "-i", "/^Acquire-By-Hash/d", (repo / "Release").string()});
    sign_apt_repo(repo, repo);
    fs::remove(repo / "InRelease");
    AptServer server(repo);
    fs::path recipe = write_recipe(
        dir, apt_source_toml(server.url(), repo / "keyring.gpg", "[\"/\"]"), {"libc6"});
    json j = lock_json(dir, recipe);
    std::set<std::string> names;
    for (const json& p : j["apt"][0]["packages"]) {
        names.insert(p["name"].get<std::string>());
        bool flat_url = p["url"].get<std::string>().rfind(server.url() + "/", 0) == 0 &&
                        p["url"].get<std::string>().find("/pool/") == std::string::npos;
        CHECK(flat_url);
    }
    CHECK(names == std::set<std::string>{"gcc-12-base", "libc6", "libgcc-s1"});

    // A Release changed after it was signed (read again by `lock --update`: `lock` leaves
    // a lock that answers the recipe alone, without asking the repository).
    must({"sed", "-i", "s/^Label: .*/Label: evil/", (repo / "Release").string()});
    std::string err = failure(dir, recipe, 6, {"--update"});
    CHECK(contains(err, "ocibake: error: apt source 'fixture' (" + recipe.string() + ":2:1): " +
                            server.url() + "/Release: the signature does not verify against " +
                            (repo / "keyring.gpg").string() +
                            ": BAD signature from \"ocibake test <apt-test@ocibake.invalid>\": "
                            "the file was changed after it was signed"));
}

TEST_CASE("lock refuses a changed InRelease, an unknown key, an unsigned or expired Release") {
    require_program("gpgv", "gpgv");
    ScratchDir dir("apt-refuse");
    fs::path repo = copy_repo(dir);
    AptServer server(repo);
    std::string in_release_url = server.url() + "/dists/bookworm/InRelease";
    fs::path recipe =
        write_recipe(dir, apt_source_toml(server.url(), repo / "keyring.gpg"), {"bash"});
    std::string where = "ocibake: error: apt source 'fixture' (" + recipe.string() + ":2:1): ";

    SECTION("a changed InRelease") {
        must({"sed", "-i", "s/^Suite: stable/Suite: testing/",
              (repo / "dists/bookworm/InRelease").string()});
        CHECK(contains(failure(dir, recipe, 6),
                       where + in_release_url + ": the signature does not verify against " +
                           (repo / "keyring.gpg").string() + ": BAD signature from"));
    }
    SECTION("a key that is not in the keyring") {
        ScratchDir other("apt-other-key");
        make_apt_repo(other / "r", {"REPO_PACKAGES=bash"});
        recipe =
            write_recipe(dir, apt_source_toml(server.url(), other / "r/keyring.gpg"), {"bash"});
        std::string err = failure(dir, recipe, 6);
        CHECK(contains(err, in_release_url + ": the signature does not verify against " +
                                (other / "r/keyring.gpg").string() + ": it is signed by key "));
        CHECK(contains(err, ", which is not in the keyring"));
    }
    SECTION("an armored keyring works like a binary one") {
        must({"sh", "-c",
              "GNUPGHOME='" + (repo / "gnupg").string() + "' gpg --batch -q --armor --export > '" +
                  (dir / "key.asc").string() + "'"});
        recipe = write_recipe(dir, apt_source_toml(server.url(), dir / "key.asc"), {"bash"});
        json j = lock_json(dir, recipe);
        CHECK(j["apt"][0]["packages"].size() > 3);
    }
    SECTION("an unsigned repository, unless trusted") {
        fs::remove(repo / "dists/bookworm/InRelease");
        fs::remove(repo / "dists/bookworm/Release.gpg");
        CHECK(contains(failure(dir, recipe, 6),
                       where + server.url() +
                           "/dists/bookworm/Release is not signed (no InRelease, no Release.gpg): "
                           "refused; set trusted = true on the source to use it unsigned"));
        recipe = write_recipe(dir, apt_source_toml(server.url(), ""), {"bash"});
        json j = lock_json(dir, recipe);
        CHECK(j["apt"][0]["packages"].size() > 3);
    }
    SECTION("an expired Release") {
        fs::path release = repo / "dists/bookworm/Release";
        std::string text = read_file(release);
        auto at = text.find("Valid-Until: ");
        text.replace(at, text.find('\n', at) - at, "Valid-Until: Mon, 01 Jan 2024 00:00:00 UTC");
        write_file(release, text);
        sign_apt_repo(repo);
        CHECK(contains(failure(dir, recipe, 6),
                       where + in_release_url +
                           " expired on Mon, 01 Jan 2024 00:00:00 UTC (Valid-Until): the mirror "
                           "is stale, or the clock is wrong"));
    }
    SECTION("an index that does not match the Release") {
        fs::path by_hash = repo / "dists/bookworm/main/binary-amd64/by-hash/SHA256";
        for (const auto& f : fs::directory_iterator(by_hash)) {
            write_file(f.path(), read_file(f.path()) + "x");
        }
        std::string err = failure(dir, recipe, 6);
        CHECK(contains(err,
                       where + server.url() + "/dists/bookworm/main/binary-amd64/by-hash/SHA256/"));
        CHECK(contains(err, ": its size or SHA256 does not match the Release ("));
    }
    SECTION("a component or a suite the repository does not have") {
        recipe = write_recipe(dir,
                              apt_source_toml(server.url(), repo / "keyring.gpg") +
                                  "components = [\"main\", \"contrib\"]\n",
                              {"bash"});
        CHECK(contains(failure(dir, recipe, 4),
                       "suite bookworm has no component 'contrib' (it has: main)"));
        recipe = write_recipe(
            dir, apt_source_toml(server.url(), repo / "keyring.gpg", "[\"trixie\"]"), {"bash"});
        CHECK(contains(failure(dir, recipe, 4),
                       server.url() + "/dists/trixie/ has no InRelease or Release file (HTTP "
                                      "404): is the url or suite wrong?"));
    }
}

TEST_CASE("lock explains unknown packages and dependencies the sources cannot satisfy") {
    require_program("gpgv", "gpgv");
    ScratchDir dir("apt-explain");
    fs::path repo = dir / "partial";
    // python3 without python3.11: a dependency nobody has.
    make_apt_repo(repo, {"REPO_PACKAGES=python3 python3-minimal libpython3-stdlib"});
    AptServer server(repo);
    std::string source = apt_source_toml(server.url(), repo / "keyring.gpg");
    fs::path recipe = write_recipe(dir, source, {"python3"});
    std::string err = failure(dir, recipe, 4);
    CHECK(
        contains(err, recipe.string() + ":10:12: error: layer 'system': cannot install python3 "));
    CHECK(contains(err, "(asked for at " + recipe.string() + ":10:13)"));
    CHECK(contains(err, ": python3 depends on python3.11 (>= 3.11.2-1~), but no apt source has "
                        "python3.11"));
    // A chain: python3 -> python3-minimal -> python3.11-minimal.
    recipe = write_recipe(dir, source, {"python3-minimal"});
    err = failure(dir, recipe, 4);
    CHECK(contains(err, "cannot install python3-minimal "));
    CHECK(contains(err, "python3-minimal depends on python3.11-minimal (>= 3.11.2-1~), but no "
                        "apt source has python3.11-minimal"));

    recipe = write_recipe(dir, source, {"pyhton3"});
    CHECK(contains(failure(dir, recipe, 4),
                   "layer 'system': unknown package 'pyhton3' (asked for at " + recipe.string() +
                       ":10:13): no apt source has it (did you mean python3?)"));
    recipe = write_recipe(dir, source, {"python3=9.9"});
    CHECK(contains(failure(dir, recipe, 4), "package 'python3' (asked for at " + recipe.string() +
                                                ":10:13): no apt source has version 9.9 (they "
                                                "have "));
}

TEST_CASE("build --locked names a stale apt entry and a build without it follows the recipe") {
    require_program("gpgv", "gpgv");
    ScratchDir dir("apt-stale");
    fs::path repo = shared_apt_repo();
    AptServer server(repo);
    std::string source = apt_source_toml(server.url(), repo / "keyring.gpg");
    fs::path recipe = write_recipe(dir, source, {"bash"});
    lock_json(dir, recipe);
    std::string text = lock_of(dir);
    std::string bash_pin = text.substr(text.find("name = \"bash\""));
    bash_pin = bash_pin.substr(0, bash_pin.find("[["));
    recipe = write_recipe(dir, source, {"bash", "dash"});
    auto r = ocibake_in(
        dir, {"build", recipe.string(), "--locked", "-o", "oci:" + (dir / "out").string()});
    CHECK(r.exit_code == 3);
    CHECK(contains(r.err, (dir / "app.lock").string() +
                              ":5:1: error: the lock pins the packages of layer 'system' for "
                              "[bash], but the recipe asks for [bash, dash] at " +
                              recipe.string() + ":10:12"));
    CHECK(contains(r.err, "hint: run `ocibake lock " + recipe.string() +
                              "` to resolve the packages again (a build without --locked does "
                              "it too)"));
    CHECK(lock_of(dir) == text);
    CHECK_FALSE(fs::exists(dir / "out"));
    // --locked and no lock at all: nothing may be added either.
    fs::rename(dir / "app.lock", dir / "app.lock.kept");
    r = ocibake_in(dir,
                   {"build", recipe.string(), "--locked", "-o", "oci:" + (dir / "out").string()});
    CHECK(r.exit_code == 3);
    CHECK(contains(r.err, recipe.string() + ":10:12: error: the lock " +
                              (dir / "app.lock").string() +
                              " has no entry for the packages of layer 'system', and --locked "
                              "forbids adding one"));
    CHECK_FALSE(fs::exists(dir / "app.lock"));
    fs::rename(dir / "app.lock.kept", dir / "app.lock");

    // Without --locked the build follows the recipe as cargo does: dash arrives, bash keeps
    // its pin byte for byte, and the build says what moved.
    r = ocibake_in(dir, {"build", recipe.string(), "-o", "oci:" + (dir / "out").string()});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "the recipe changed: the lock follows it"));
    CHECK(contains(r.out, "dash"));
    CHECK(contains(r.out, "wrote the lock " + (dir / "app.lock").string()));
    std::string moved = lock_of(dir);
    CHECK(moved != text);
    CHECK(contains(moved, "name = \"dash\""));
    CHECK(contains(moved, bash_pin));
    // Now the lock answers the recipe: --locked builds, and nothing moves.
    json again = json_of(ocibake_in(dir, {"build", recipe.string(), "--locked", "--json", "-o",
                                          "oci:" + (dir / "out2").string()}));
    CHECK(again["lock_written"] == false);
    CHECK(again["lock_update"].is_null());
    CHECK(lock_of(dir) == moved);

    // Another source setting makes the lock stale too; --json says what moved.
    recipe = write_recipe(dir, source + "priority = 600\n", {"bash", "dash"});
    r = ocibake_in(dir,
                   {"build", recipe.string(), "--locked", "-o", "oci:" + (dir / "out").string()});
    CHECK(r.exit_code == 3);
    CHECK(contains(r.err, "the lock resolved the packages of layer 'system' from other apt "
                          "sources than the recipe's [[apt.source]]"));
    json followed = json_of(ocibake_in(
        dir, {"build", recipe.string(), "--json", "-o", "oci:" + (dir / "out3").string()}));
    CHECK(followed["lock_written"] == true);
    CHECK(followed["lock_update"]["schema"] == "ocibake.lock-diff/1");
    CHECK(followed["lock_update"]["changes"].empty()); // the same pins, from the new setting
    // A package the recipe no longer asks for leaves the lock.
    recipe = write_recipe(dir, source + "priority = 600\n", {"bash"});
    followed = json_of(ocibake_in(
        dir, {"build", recipe.string(), "--json", "-o", "oci:" + (dir / "out4").string()}));
    bool dash_left = false;
    for (const auto& c : followed["lock_update"]["changes"]) {
        dash_left = dash_left || (c["name"] == "dash" && c["to"].is_null());
    }
    CHECK(dash_left);
    // `ocibake lock` then finds nothing to do.
    json j = lock_json(dir, recipe);
    CHECK(j["changed"] == false);
    // --locked and --update-lock contradict each other.
    r = ocibake_in(dir, {"build", recipe.string(), "--locked", "--update-lock"});
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "--locked refuses the lock changes --update-lock makes"));
}
