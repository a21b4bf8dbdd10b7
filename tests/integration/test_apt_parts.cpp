// Layers that stay put (docs/apt.md): a recipe layer's packages become parts, each keyed by
// its packages and the facts of the image below it uses, with the whole-image state in one
// layer on top. Built for real from packages made here with dpkg-deb, served as a local
// repository: a change alters only the parts that hold it, and the state layer.

#include "support/apt_fixture.hpp"
#include "support/checks.hpp"
#include "support/json.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace ocibake::test;

namespace {

CommandResult ocibake_in(const fs::path& dir, const fs::path& cache,
                         std::vector<std::string> args) {
    return run_cli(std::move(args), cache,
                   {"HOME=" + (dir / "home").string(), "SOURCE_DATE_EPOCH="});
}

json build_json(const fs::path& dir, const fs::path& recipe, const fs::path& out,
                const fs::path& cache) {
    return json_of(
        ocibake_in(dir, cache, {"build", recipe.string(), "-o", "oci:" + out.string(), "--json"}));
}

/// Layer name -> digest.
std::map<std::string, std::string> digests(const json& built) {
    std::map<std::string, std::string> out;
    for (const json& l : built["layers"]) {
        out[l["name"].get<std::string>()] = l["digest"].get<std::string>();
    }
    return out;
}

/// Names of the layers of `after` whose digest `before` does not have under that name.
std::set<std::string> changed(const json& before, const json& after) {
    std::map<std::string, std::string> old = digests(before);
    std::set<std::string> out;
    for (const auto& [name, digest] : digests(after)) {
        if (!old.count(name) || old.at(name) != digest) {
            out.insert(name);
        }
    }
    return out;
}

std::vector<std::string> names(const json& built) {
    std::vector<std::string> out;
    for (const json& l : built["layers"]) {
        out.push_back(l["name"].get<std::string>());
    }
    return out;
}

/// A package of 2.1 MB of incompressible data: a part of its own (2 MB and more).
void make_big(const fs::path& repo, const std::string& name, const std::string& version,
              const std::string& control = "",
              std::vector<std::pair<std::string, std::string>> files = {}) {
    files.emplace_back("usr/share/" + name + "/data",
                       pseudo_random(2'100'000, std::hash<std::string>{}(name + version)));
    make_deb(repo, name, version, control, files);
}

fs::path unpack(const fs::path& dir, const fs::path& layout, const std::string& name) {
    fs::path bundle = dir / name;
    must({"umoci", "unpack", "--image", layout.string() + ":latest", bundle.string()});
    return bundle / "rootfs";
}

/// The paths of a layer blob (tar -t), for a layer of a built layout.
std::string listing(const fs::path& layout, const json& built, const std::string& layer) {
    for (const json& l : built["layers"]) {
        if (l["name"] == layer) {
            fs::path blob = layout / "blobs/sha256" / l["digest"].get<std::string>().substr(7);
            return must({"tar", "-tzf", blob.string()}).out;
        }
    }
    FAIL("no layer " << layer);
    return {};
}

} // namespace

TEST_CASE("parts: one package added or bumped changes its part and the state layer only") {
    require_program("dpkg-deb", "dpkg");
    require_program("umoci", "umoci");
    ScratchDir dir("apt-parts");
    fs::path repo = dir / "repo";
    // Source names (here: package names) whose hash is no group boundary, so the small
    // ones of a layer share one part: iota and lambda, mu (docs/apt.md has the rule).
    make_big(repo, "alpha", "1.0");
    make_big(repo, "beta", "1.0");
    make_deb(repo, "iota", "1.0", "", {{"usr/share/iota/i", "iota\n"}});
    make_deb(repo, "lambda", "1.0", "", {{"usr/share/lambda/l", "lambda\n"}});
    make_big(repo, "delta", "1.0");
    make_deb(repo, "mu", "1.0", "", {{"usr/share/mu/m", "mu\n"}});
    AptServer server(repo);
    std::string source = local_repo(repo, server.url());
    auto recipe_with = [&](const std::vector<std::string>& first) {
        fs::remove(dir / "app.lock");
        return write_file(dir / "app.toml",
                          "name = \"app\"\n" + source + "[[layer]]\nname = \"one\"\n" +
                              packages_toml(first) +
                              "account = [{ name = \"svc\", uid = 2001 }]\n"
                              "[[layer]]\nname = \"two\"\n" +
                              packages_toml({"delta", "mu"}) +
                              "files = [{ path = \"/etc/two\", content = \"two\\n\" }]\n");
    };
    fs::path cache = dir / "cache";
    json first =
        build_json(dir.path(), recipe_with({"alpha", "beta", "iota"}), dir / "img1", cache);
    CHECK(names(first) == std::vector<std::string>{"one/alpha", "one/beta", "one/iota", "two/delta",
                                                   "two/mu", "two/files", "state"});
    for (const json& l : first["layers"]) {
        CHECK(l["cache"] == "built");
        CHECK(l["layer"] ==
              (l["name"] == "state" ? "" : l["name"].get<std::string>().substr(0, 3)));
    }
    CHECK(first["layers"][0]["packages"] == 1);
    CHECK(first["parts"] == json{{"threshold", 2000000}, {"modulus", 6}});
    // Built again: every layer from the cache, the same image.
    json again =
        build_json(dir.path(), recipe_with({"alpha", "beta", "iota"}), dir / "img1b", cache);
    CHECK(again["digest"] == first["digest"]);
    for (const json& l : again["layers"]) {
        CHECK(l["cache"] == "cached");
    }

    // lambda added to the first layer: its group (with iota) and the state layer change;
    // the other parts, the second layer's included, are the same bytes.
    json added = build_json(dir.path(), recipe_with({"alpha", "beta", "iota", "lambda"}),
                            dir / "img2", cache);
    CHECK(changed(first, added) == std::set<std::string>{"one/iota", "state"});
    CHECK(digests(added).size() == digests(first).size());

    // beta bumped (a newer version published, the lock made again): its part and the state.
    make_big(repo, "beta", "2.0");
    local_repo(repo, server.url());
    json bumped = build_json(dir.path(), recipe_with({"alpha", "beta", "iota", "lambda"}),
                             dir / "img3", cache);
    CHECK(changed(added, bumped) == std::set<std::string>{"one/beta", "state"});
    std::string state = listing(dir / "img3", bumped, "state");
    CHECK(state == "etc/group\netc/gshadow\netc/passwd\netc/shadow\nvar/lib/dpkg/info/format\n"
                   "var/lib/dpkg/status\n");

    // The image is one dpkg accepts: every package installed, every file as listed.
    fs::path root = unpack(dir.path(), dir / "img3", "bundle");
    auto listed = must({"dpkg-query", "--admindir", (root / "var/lib/dpkg").string(), "-W"});
    CHECK(listed.out == "alpha\t1.0\nbeta\t2.0\ndelta\t1.0\niota\t1.0\nlambda\t1.0\nmu\t1.0\n");
    check_dpkg_verify(root);
    CHECK(read_file(root / "etc/two") == "two\n");
    CHECK(read_file(root / "etc/passwd") == "svc:x:2001:2001::/nonexistent:/usr/sbin/nologin\n");
}

TEST_CASE("parts: a change below that a part's paths do not meet leaves it, one they meet not") {
    require_program("dpkg-deb", "dpkg");
    require_program("umoci", "umoci");
    ScratchDir dir("apt-parts-facts");
    fs::path repo = dir / "repo";
    make_deb(repo, "base-thing", "1.0", "", {{"usr/share/thing/t", "t\n"}});
    make_deb(repo, "unrelated", "1.0", "", {{"usr/share/unrelated/u", "u\n"}});
    make_deb(repo, "mu-docs", "1.0", "", {{"usr/share/mu/README", "docs\n"}});
    make_deb(repo, "mu", "1.0", "", {{"usr/share/mu/m", "mu\n"}});
    AptServer server(repo);
    std::string source = local_repo(repo, server.url());
    auto build = [&](const std::vector<std::string>& below, const std::string& out) {
        fs::remove(dir / "app.lock");
        fs::path recipe =
            write_file(dir / "app.toml", "name = \"app\"\n" + source +
                                             "[[layer]]\nname = \"one\"\n" + packages_toml(below) +
                                             "split = false\n"
                                             "[[layer]]\nname = \"two\"\n" +
                                             packages_toml({"mu"}));
        return build_json(dir.path(), recipe, dir / out, dir / "cache");
    };
    json first = build({"base-thing"}, "img1");
    CHECK(names(first) == std::vector<std::string>{"one", "two", "state"});
    CHECK(listing(dir / "img1", first, "two") ==
          "usr/share/mu/\nusr/share/mu/m\nvar/lib/dpkg/info/mu.list\n");
    // A package below that none of mu's paths meets: the part's key and bytes stay.
    json unrelated = build({"base-thing", "unrelated"}, "img2");
    CHECK(changed(first, unrelated) == std::set<std::string>{"one", "state"});
    CHECK(unrelated["layers"][1]["cache"] == "cached");
    // A package below that makes /usr/share/mu, a directory mu has: mu's part no longer
    // writes it (dpkg leaves an existing directory as it is).
    json related = build({"base-thing", "mu-docs"}, "img3");
    CHECK(changed(unrelated, related) == std::set<std::string>{"one", "two", "state"});
    CHECK(related["layers"][1]["cache"] == "built");
    CHECK(listing(dir / "img3", related, "two") == "usr/share/mu/m\nvar/lib/dpkg/info/mu.list\n");
    fs::path root = unpack(dir.path(), dir / "img3", "bundle");
    check_dpkg_verify(root);
}

TEST_CASE("parts: Replaces between parts of one layer, planned alike from records or not") {
    require_program("dpkg-deb", "dpkg");
    require_program("umoci", "umoci");
    ScratchDir dir("apt-parts-replaces");
    fs::path repo = dir / "repo";
    // Four parts, in this order: aa-new replaces zz-old (a part above it), zz-new replaces
    // aa-old (a part below it).
    make_big(repo, "aa-new", "1.0", "Replaces: zz-old\n", {{"usr/share/demo/two", "aa-new\n"}});
    make_big(repo, "aa-old", "1.0", "", {{"usr/share/demo/one", "aa-old\n"}});
    make_big(repo, "zz-new", "1.0", "Replaces: aa-old\n", {{"usr/share/demo/one", "zz-new\n"}});
    make_big(repo, "zz-old", "1.0", "", {{"usr/share/demo/two", "zz-old\n"}});
    make_big(repo, "zz-clash", "1.0", "", {{"usr/share/demo/one", "clash\n"}});
    AptServer server(repo);
    std::string source = local_repo(repo, server.url());
    auto recipe = [&](const std::string& name, const std::vector<std::string>& packages,
                      const std::string& more = "") {
        return write_file(dir / (name + ".toml"), "name = \"app\"\n" + source +
                                                      "[[layer]]\nname = \"one\"\n" +
                                                      packages_toml(packages) + more);
    };
    std::vector<std::string> four = {"aa-new", "aa-old", "zz-new", "zz-old"};
    json cold = build_json(dir.path(), recipe("app", four), dir / "img", dir / "cache");
    CHECK(names(cold) == std::vector<std::string>{"one/aa-new", "one/aa-old", "one/zz-new",
                                                  "one/zz-old", "state"});
    fs::path root = unpack(dir.path(), dir / "img", "bundle");
    CHECK(read_file(root / "usr/share/demo/one") == "zz-new\n");
    CHECK(read_file(root / "usr/share/demo/two") == "aa-new\n");
    auto owner = [&](const std::string& path) {
        return must({"dpkg", "--root", root.string(), "-S", path}).out;
    };
    CHECK(owner("/usr/share/demo/one") == "zz-new: /usr/share/demo/one\n");
    CHECK(owner("/usr/share/demo/two") == "aa-new: /usr/share/demo/two\n");
    check_dpkg_verify(root);
    // zz-new's part writes the file and aa-old's list without it; zz-old's part does not
    // write what aa-new keeps.
    CHECK(listing(dir / "img", cold, "one/zz-new").find("var/lib/dpkg/info/aa-old.list\n") !=
          std::string::npos);
    CHECK(listing(dir / "img", cold, "one/zz-old").find("usr/share/demo/two") == std::string::npos);

    // Another cache that has the packages' records (from a build of the same packages in
    // one layer) plans every part from them without decoding: the same image.
    json whole = build_json(dir.path(), recipe("whole", four, "split = false\n"), dir / "whole",
                            dir / "cache2");
    CHECK(names(whole) == std::vector<std::string>{"one", "state"});
    json planned = build_json(dir.path(), recipe("app", four), dir / "img2", dir / "cache2");
    CHECK(planned["digest"] == cold["digest"]);

    // Without Replaces, a file two parts ship is refused, naming both packages.
    fs::path clash = recipe("clash", {"aa-old", "zz-clash"});
    auto r = ocibake_in(dir.path(), dir / "cache",
                        {"build", clash.string(), "-o", "oci:" + (dir / "clash").string()});
    CHECK(r.exit_code == 4);
    CHECK(r.err.find("package zz-clash 1.0 (amd64) (" + server.url() +
                     "/pool/zz-clash_1.0_amd64.deb) ships /usr/share/demo/one, which package "
                     "aa-old 1.0 (amd64) ships too; dpkg refuses this unless one declares "
                     "Replaces on the other") != std::string::npos);
}

TEST_CASE("parts: [build] max_layers groups packages more coarsely, or is refused") {
    require_program("dpkg-deb", "dpkg");
    ScratchDir dir("apt-parts-budget");
    fs::path repo = dir / "repo";
    for (const char* name : {"alpha", "beta", "delta", "kappa"}) {
        make_big(repo, name, "1.0");
    }
    AptServer server(repo);
    std::string source = local_repo(repo, server.url());
    auto recipe = [&](const std::string& build, const std::string& layers) {
        fs::remove(dir / "app.lock");
        return write_file(dir / "app.toml", "name = \"app\"\n[build]\n" + build + source + layers);
    };
    std::string one =
        "[[layer]]\nname = \"one\"\n" + packages_toml({"alpha", "beta", "delta", "kappa"});
    json fine = build_json(dir.path(), recipe("", one), dir / "fine", dir / "cache");
    CHECK(fine["layers"].size() == 5); // four parts and the state layer
    // At most 3 layers: T and K doubled until the parts and the state fit.
    json coarse =
        build_json(dir.path(), recipe("max_layers = 3\n", one), dir / "coarse", dir / "cache");
    CHECK(coarse["layers"].size() <= 3);
    CHECK(coarse["parts"]["threshold"].get<std::uint64_t>() >= 4'000'000);
    CHECK(coarse["parts"]["modulus"].get<std::uint64_t>() ==
          coarse["parts"]["threshold"].get<std::uint64_t>() / 2'000'000 * 6);
    // The human output says why.
    auto human = ocibake_in(
        dir.path(), dir / "cache",
        {"build", (dir / "app.toml").string(), "-o", "oci:" + (dir / "coarse2").string()});
    CHECK(human.out.find("to stay within [build] max_layers (docs/apt.md)") != std::string::npos);
    // Two layers with packages and the state layer cannot be 2 layers.
    fs::path two =
        recipe("max_layers = 2\n", one + "[[layer]]\nname = \"two\"\npackages = [\"kappa\"]\n");
    auto r = ocibake_in(dir.path(), dir / "cache",
                        {"build", two.string(), "-o", "oci:" + (dir / "two").string()});
    CHECK(r.exit_code == 4);
    CHECK(r.err.find(two.string() + ": the image would have 3 layers (0 of the base, 1 for the "
                                    "state), more than [build] max_layers = 2 even with every "
                                    "layer's packages in one layer") != std::string::npos);
}
