// The flagship's path, reduced to what runs offline here: a Debian 12 base made from the
// apt fixture's real packages and pushed to a loopback registry (the base, as the Ubuntu
// flagship has one), then the fragments of layers/ (python, openssh, start, workspace)
// over it and one wheel (a C extension for the apt layer's Python 3.11) in a venv;
// locked, built, pushed, pulled back into another cache, and tested under runc with the
// fragments' own [[test]]s and the recipe's.
#include <catch2/catch.hpp>

#include "support/apt_fixture.hpp"
#include "support/checks.hpp"
#include "support/json.hpp"
#include "support/python_fixture.hpp"
#include "support/registry_fixture.hpp"
#include "support/support.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace ocibake::test;

namespace {

CommandResult ocibake_in(const ScratchDir& dir, std::vector<std::string> args) {
    return run_cli(
        std::move(args), dir / "cache",
        {"HOME=" + (dir / "home").string(), "SOURCE_DATE_EPOCH=", "TMPDIR=" + dir.path().string()});
}

/// The Essential set and apt, as layers/debian-base.toml asks for them.
const char* kBasePackages =
    "[\"base-files\", \"base-passwd\", \"bash\", \"bsdutils\", \"coreutils\", \"dash\", "
    "\"debianutils\", \"diffutils\", \"dpkg\", \"findutils\", \"grep\", \"gzip\", \"hostname\", "
    "\"init-system-helpers\", \"libc-bin\", \"login\", \"ncurses-base\", \"ncurses-bin\", "
    "\"perl-base\", \"sed\", \"sysvinit-utils\", \"tar\", \"util-linux\", \"apt\", "
    "\"ca-certificates\"]";

} // namespace

TEST_CASE("flagship, reduced: layers/ fragments locked, built, pushed, pulled, tested under runc") {
    require_program("runc", "runc");
    require_program("skopeo", "skopeo");
    REQUIRE(::geteuid() == 0);
    ScratchDir dir("flagship");
    fs::path repo = dir / "repo";
    make_apt_repo(repo);
    AptServer server(repo);
    TestWheels wheels = build_test_wheels(dir / "work", dir / "wheels");
    fs::path layers = source_dir() / "layers";

    Registry registry;

    // The base, as the Ubuntu flagship has one: an image in a registry, pinned by the lock.
    // Here it is the Debian system layers/debian-base.toml makes (the same packages, from
    // the fixture's repository), built and pushed first.
    std::string source = apt_source_toml(server.url(), repo / "keyring.gpg");
    fs::path sources = write_file(dir / "sources.toml", source);
    fs::path base =
        write_file(dir / "base.toml",
                   "include = [\"sources.toml\"]\nname = \"debian-base\"\n[config]\nenv = { PATH = "
                   "\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\" }\n"
                   "[[layer]]\nname = \"debian-base\"\npackages = " +
                       std::string(kBasePackages) +
                       "\n[[layer.account]]\nname = \"_apt\"\nuid = 42\ngroup = \"nogroup\"\n");
    json base_built = json_of(ocibake_in(
        dir, {"build", base.string(), "-o", "oci:" + (dir / "base").string(), "--json"}));
    std::string base_ref = registry.host() + "/ocibake/debian-base:12";
    json_of(ocibake_in(dir, {"push", "oci:" + (dir / "base").string(), base_ref, "--json"}));

    // The recipe: that base from the registry, the fragments the flagship recipes include,
    // as they are, and one wheel, for the Python the "python" layer's packages bring
    // (3.11, known from the lock), into a venv.
    std::string includes = "\"" + sources.string() + "\"";
    for (const char* f : {"python.toml", "openssh.toml", "start.toml", "workspace.toml"}) {
        includes += ", \"" + (layers / f).string() + "\"";
    }
    fs::path recipe = write_file(
        dir / "mini.toml",
        "include = [" + includes + "]\nname = \"mini-flagship\"\n\n[base]\nref = \"" + base_ref +
            "\"\n\n"
            "[config]\nenv = { PATH = "
            "\"/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\" }\n\n"
            "[[layer]]\nname = \"wheel\"\n[layer.python]\nwheels = [\"" +
            wheels.fastmath.string() +
            "\"]\nvenv = \"/opt/venv\"\n\n"
            "[[test]]\nname = \"wheel-imports\"\n"
            "args = [\"python\", \"-c\", \"import sys, ocibake_fastmath; print(sys.prefix, "
            "ocibake_fastmath.__file__)\"]\n"
            "stdout = '^/opt/venv /opt/venv/lib/python3\\.11/site-packages/ocibake_fastmath/'\n\n"
            "[[test]]\nname = \"dpkg-database\"\nshell = \"dpkg --verify && dpkg -l "
            "openssh-server tini python3 base-files | grep -c '^ii'\"\nstdout = '^4$'\n");

    // Lock: the base's digest, and the apt layers over what the base has installed (a
    // local wheel is pinned by its own bytes, not the lock).
    json locked = json_of(ocibake_in(dir, {"lock", recipe.string(), "--json"}));
    CHECK(locked["base"]["manifest"] == base_built["digest"]);
    std::set<std::string> apt_layers;
    for (const json& l : locked["apt"]) {
        apt_layers.insert(l["layer"].get<std::string>());
        for (const json& p : l["packages"]) {
            INFO(p["name"]);
            CHECK(p["name"] != "libc6"); // in the base already
        }
    }
    CHECK(apt_layers == std::set<std::string>{"python", "openssh", "start"});

    // Build, twice: the second is all cache hits, with the same digest.
    json built = json_of(ocibake_in(
        dir, {"build", recipe.string(), "-o", "oci:" + (dir / "img").string(), "--json"}));
    // The base's layers, each recipe layer's (its packages in parts, its own files), and
    // the state layer on top (docs/apt.md).
    std::vector<std::string> names;
    for (const json& l : built["layers"]) {
        std::string name = l["layer"].get<std::string>().empty() ? l["name"].get<std::string>()
                                                                 : l["layer"].get<std::string>();
        if (names.empty() || names.back() != name) {
            names.push_back(name);
        }
    }
    CHECK(names == std::vector<std::string>{"base", "python", "openssh", "start", "workspace",
                                            "wheel", "state"});
    json again = json_of(ocibake_in(
        dir, {"build", recipe.string(), "-o", "oci:" + (dir / "img2").string(), "--json"}));
    CHECK(again["digest"] == built["digest"]);
    for (const json& l : again["layers"]) {
        if (l["name"] != "base") {
            CHECK(l["cache"] == "cached");
        }
    }

    // Push to the registry, pull back into another cache: the same image.
    std::string ref = registry.host() + "/ocibake/mini-flagship:1";
    json pushed =
        json_of(ocibake_in(dir, {"push", "oci:" + (dir / "img").string(), ref, "--json"}));
    CHECK(pushed["digest"] == built["digest"]);
    CHECK(must({"skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}",
                "docker://" + ref})
              .out == built["digest"].get<std::string>() + "\n");
    auto pulled_run =
        run_cli({"pull", ref, "-o", "oci:" + (dir / "pulled").string(), "--json"}, dir / "cache2");
    json pulled = json_of(pulled_run);
    CHECK(pulled["digest"] == built["digest"]);

    // Every test of the fragments and the recipe, on the pulled image, under runc.
    CommandResult tested = ocibake_in(dir, {"test", "oci:" + (dir / "pulled").string() + ":1",
                                            "--recipe", recipe.string(), "--json"});
    INFO("stdout: " << tested.out << "\nstderr: " << tested.err);
    REQUIRE(!tested.out.empty());
    json report = json::parse(tested.out);
    std::set<std::string> passed;
    for (const json& t : report["tests"]) {
        INFO(t.dump(2));
        CHECK(t["status"] == "pass");
        passed.insert(t["name"].get<std::string>());
    }
    for (const char* name :
         {"sshd-config", "sshd-serves", "no-host-keys-in-image", "host-keys-per-container",
          "ssh-key-login-only", "root-has-no-password", "plain-command", "shm-warning",
          "jupyter-needs-a-secret", "start-config", "workspace-user", "workspace-dir",
          "workspace-config", "wheel-imports", "dpkg-database"}) {
        INFO(name);
        CHECK(passed.count(name) == 1);
    }
    CHECK(tested.exit_code == 0);
}
