// Python wheels in an image, end to end: a base with Debian's python3.11 made here, a
// recipe whose layers install locked wheels (a hashed requirements.txt and a pylock.toml,
// served by a loopback PEP 691 index) into one venv and the system site-packages, `ocibake
// lock`, `ocibake build`, and the image run under runc: pip lists and checks the wheels,
// the console scripts run, the C extension imports.
#include "support/checks.hpp"
#include "support/json.hpp"
#include "support/python_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <regex>
#include <set>
#include <sstream>
#include <unistd.h>

using namespace ocibake;
using namespace ocibake::test;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

CommandResult run_ocibake(const ScratchDir& dir, std::vector<std::string> args) {
    return run_cli(std::move(args), dir / "cache", {"SOURCE_DATE_EPOCH=1700000000"});
}

/// The shared libraries `binaries` need (ldd), host path -> image path under /usr (the
/// image is merged-usr: /lib -> usr/lib).
std::map<std::string, std::string> shared_libraries(const std::vector<fs::path>& binaries) {
    std::map<std::string, std::string> out;
    std::regex line(R"(^\s*(?:\S+ => )?(/\S+) \(0x)");
    for (const auto& b : binaries) {
        std::istringstream lines(must({"ldd", b.string()}).out);
        std::string l;
        while (std::getline(lines, l)) {
            std::smatch m;
            if (std::regex_search(l, m, line)) {
                std::string path = m[1];
                std::string image = path.starts_with("/lib") ? "/usr" + path : path;
                out[fs::canonical(path).string()] = image;
            }
        }
    }
    return out;
}

/// A base image with the host's Debian python3.11: the interpreter, its standard library
/// and the libraries they load, and Debian's dist-packages layout. No shell, no pip.
fs::path make_python_base(const ScratchDir& dir) {
    std::vector<fs::path> binaries{"/usr/bin/python3.11"};
    for (const auto& e : fs::directory_iterator("/usr/lib/python3.11/lib-dynload")) {
        binaries.push_back(e.path());
    }
    std::string recipe =
        "name = \"pybase\"\n[config]\nenv = { PATH = \"/usr/local/bin:/usr/bin:/bin\" }\n"
        "[[layer]]\nname = \"python\"\n"
        "[[layer.copy]]\nsrc = \"/usr/bin/python3.11\"\ndst = \"/usr/bin/python3.11\"\n"
        "[[layer.copy]]\nsrc = \"/usr/lib/python3.11\"\ndst = \"/usr/lib/python3.11\"\n"
        "exclude = [\"**/__pycache__\", \"test\", \"**/tests\", \"idlelib\", "
        "\"tkinter\", \"turtledemo\", \"sitecustomize.py\"]\n";
    for (const auto& [host, image] : shared_libraries(binaries)) {
        recipe += "[[layer.copy]]\nsrc = \"" + host + "\"\ndst = \"" + image + "\"\n";
    }
    for (const auto& [path, target] :
         std::vector<std::pair<std::string, std::string>>{{"/bin", "usr/bin"},
                                                          {"/lib", "usr/lib"},
                                                          {"/lib64", "usr/lib64"},
                                                          {"/usr/bin/python3", "python3.11"}}) {
        recipe += "[[layer.files]]\npath = \"" + path + "\"\ntype = \"symlink\"\ntarget = \"" +
                  target + "\"\n";
    }
    recipe += "[[layer.files]]\npath = \"/usr/lib/python3/dist-packages\"\ntype = \"dir\"\n"
              "[[layer.files]]\npath = \"/tmp\"\ntype = \"dir\"\nmode = 0o1777\n";
    fs::path file = write_file(dir / "base.toml", recipe);
    must({cli().string(), "build", file.string(), "-o", "oci:" + (dir / "base").string() + ":1",
          "--cache-dir", (dir / "cache").string(), "-q"});
    return dir / "base";
}

/// Runs `args` in the image `layout:tag` under runc (unpacked once per tag).
class Runner {
public:
    Runner(const ScratchDir& dir, const fs::path& layout, const std::string& tag)
        : bundle_(dir / ("bundle-" + tag)) {
        must({"umoci", "unpack", "--image", layout.string() + ":" + tag, bundle_.string()});
        config_ = json::parse(read_file(bundle_ / "config.json"));
        config_["process"]["terminal"] = false;
    }
    CommandResult operator()(const std::vector<std::string>& args) {
        config_["process"]["args"] = args;
        write_file(bundle_ / "config.json", config_.dump());
        std::string id = "ocibake-py-" + std::to_string(::getpid()) + "-" + std::to_string(++n_);
        return run({"runc", "run", "--bundle", bundle_.string(), id});
    }

private:
    fs::path bundle_;
    json config_;
    int n_ = 0;
};

} // namespace

TEST_CASE("locked wheels into an image: pip lists and checks them under runc, scripts run") {
    require_program("runc", "runc");
    require_program("umoci", "umoci");
    ScratchDir dir("py-image");
    fs::path wheels = dir / "index";
    TestWheels built = build_test_wheels(dir / "work", wheels);
    std::vector<fs::path> debian = debian_wheels(); // pip, setuptools, wheel
    for (const auto& w : debian) {
        fs::copy_file(w, wheels / w.filename());
    }
    IndexServer index("json", wheels);
    std::string files = index.url().substr(0, index.url().size() - 7) + "/files/";
    make_python_base(dir);

    // Layer "tools": pip and setuptools from a hashed requirements.txt, into the venv.
    write_file(dir / "requirements.txt",
               "# made by hand, in pip-compile's form\n--index-url " + index.url() +
                   "\n\n"
                   "pip==23.0.1 \\\n    --hash=sha256:" +
                   hex_of(wheels / debian[0].filename()) +
                   "\n"
                   "setuptools @ " +
                   files + debian[1].filename().string() +
                   " \\\n    --hash=sha256:" + hex_of(wheels / debian[1].filename()) +
                   "\n    # via ocibake-demo\n"
                   "colorama==0.4.6 ; sys_platform == 'win32' \\\n    --hash=sha256:" +
                   std::string(64, 'c') + "\n");
    // Layer "app": the test wheels from a pylock.toml, into the same venv.
    write_file(dir / "pylock.toml",
               "lock-version = \"1.0\"\ncreated-by = \"ocibake-tests\"\n\n"
               "[[packages]]\nname = \"ocibake-demo\"\nversion = \"1.0\"\n"
               "wheels = [{url = \"" +
                   files + built.demo.filename().string() +
                   "\", hashes = "
                   "{sha256 = \"" +
                   hex_of(built.demo) +
                   "\"}}]\n\n"
                   "[[packages]]\nname = \"ocibake-fastmath\"\nversion = \"0.1\"\n"
                   "wheels = [{url = \"" +
                   files + built.fastmath.filename().string() +
                   "\", size = " + std::to_string(fs::file_size(built.fastmath)) +
                   ", hashes = {sha256 = \"" + hex_of(built.fastmath) + "\"}}]\n");
    fs::path recipe = write_file(
        dir / "app.toml",
        "name = \"pyapp\"\n[base]\nimage = \"oci:base:1\"\n"
        "[config]\nenv = { PATH = \"/opt/venv/bin:/usr/local/bin:/usr/bin:/bin\" }\n\n"
        "[[layer]]\nname = \"tools\"\n[layer.python]\nrequirements = \"requirements.txt\"\n"
        "venv = \"/opt/venv\"\n\n"
        "[[layer]]\nname = \"app\"\n[layer.python]\npylock = \"pylock.toml\"\nvenv = "
        "\"/opt/venv\"\n\n"
        "[[layer]]\nname = \"system\"\n[layer.python]\nwheels = [\"" +
            (wheels / debian[2].filename()).string() + "\"]\n");

    // `ocibake lock` reads Python 3.11 and glibc 2.36 from the base and pins every wheel.
    json locked = json_of(run_ocibake(dir, {"lock", recipe.string(), "--json"}));
    CHECK(locked["changed"] == true);
    REQUIRE(locked["python"].size() == 2);
    CHECK(locked["python"][0]["layer"] == "tools");
    CHECK(locked["python"][0]["python"] == "3.11");
    CHECK(locked["python"][0]["glibc"] == "2.36");
    CHECK(locked["python"][0]["wheels"].size() == 2); // colorama is for Windows only
    CHECK(locked["python"][1]["wheels"][1]["file"] == built.fastmath.filename().string());
    std::string lock_text = read_file(dir / "app.lock");
    CHECK(lock_text.find("[[python]]\nlayer = \"tools\"\npython = \"3.11\"\nglibc = \"2.36\"\n"
                         "machine = \"x86_64\"\n\n  [[python.wheel]]\n  name = \"pip\"\n"
                         "  version = \"23.0.1\"\n  file = \"pip-23.0.1-py3-none-any.whl\"\n"
                         "  url = \"" +
                         files + "pip-23.0.1-py3-none-any.whl\"\n") != std::string::npos);

    json first = json_of(run_ocibake(
        dir, {"build", recipe.string(), "-o", "oci:" + (dir / "out").string() + ":1", "--json"}));
    REQUIRE(first["layers"].size() == 4);
    CHECK(first["layers"][1]["name"] == "tools");
    CHECK(first["layers"][1]["cache"] == "built");
    CHECK(read_file(dir / "app.lock") == lock_text); // the build used the lock as it was

    Runner image(dir, dir / "out", "1");
    auto list =
        image({"python3", "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"});
    INFO(list.err);
    CHECK(list.exit_code == 0);
    CHECK(list.out ==
          "ocibake-demo==1.0\nocibake-fastmath==0.1\npip==23.0.1\nsetuptools==66.1.1\n");
    auto check = image({"python3", "-m", "pip", "check"});
    CHECK(check.out == "No broken requirements found.\n");
    CHECK(check.exit_code == 0);
    CHECK(image({"ocibake-demo"}).out == "ocibake-demo: 2 + 3 = 5\n");
    CHECK(image({"ocibake-demo-gui"}).out == "ocibake-demo-gui ran\n");
    CHECK(image({"demo-tool"}).out == "demo-tool runs on 3 11\n");
    CHECK(image({"pip", "--version"})
              .out.starts_with(
                  "pip 23.0.1 from /opt/venv/lib/python3.11/site-packages/pip (python 3.11)"));
    CHECK(image({"python3", "-c",
                 "import ocibake_fastmath, sys; print(ocibake_fastmath.add(40, 2), sys.prefix)"})
              .out == "42 /opt/venv\n");
    // The system site-packages (Debian's layout: /usr/local/lib/python3.11/dist-packages).
    CHECK(image({"/usr/bin/python3", "-c", "import wheel; print(wheel.__file__)"}).out ==
          "/usr/local/lib/python3.11/dist-packages/wheel/__init__.py\n");
    CHECK(image({"/usr/local/bin/wheel", "version"}).out == "wheel 0.38.4\n");
    // A direct-URL requirement is installed with its direct_url.json (PEP 610).
    auto direct = image(
        {"python3", "-c",
         "import importlib.metadata as m, json; "
         "print(json.loads(m.distribution('setuptools').read_text('direct_url.json'))['url'])"});
    CHECK(direct.out == files + debian[1].filename().string() + "\n");
    CHECK(lock_text.find("  direct = true\n") != std::string::npos);

    // A second build changes nothing: the same digest, every layer from the cache.
    json again = json_of(run_ocibake(
        dir, {"build", recipe.string(), "-o", "oci:" + (dir / "out2").string() + ":1", "--json"}));
    CHECK(again["digest"] == first["digest"]);
    CHECK(again["layers_built"] == 0);

    // A recipe input that no longer matches the lock is, with --locked, an error naming the
    // lock's entry.
    write_file(dir / "requirements.txt", "--index-url " + index.url() +
                                             "\n"
                                             "pip==23.0.1 --hash=sha256:" +
                                             hex_of(wheels / debian[0].filename()) + "\n");
    std::string before = read_file(dir / "app.lock");
    auto stale = run_ocibake(
        dir, {"build", recipe.string(), "--locked", "-o", "oci:" + (dir / "out3").string()});
    INFO(stale.err);
    CHECK(stale.exit_code == 3);
    CHECK(stale.err.find("app.lock:19:3: error: the lock pins setuptools-66.1.1-py3-none-any.whl "
                         "for layer 'tools', which " +
                         (dir / "requirements.txt").string() + " no longer asks for") !=
          std::string::npos);
    CHECK(stale.err.find("hint: run `ocibake lock ") != std::string::npos);
    CHECK(read_file(dir / "app.lock") == before);
    CHECK_FALSE(fs::exists(dir / "out3"));
    // Without --locked the build re-resolves that layer; the others keep their entries.
    auto updated =
        run_ocibake(dir, {"build", recipe.string(), "-o", "oci:" + (dir / "out3").string()});
    INFO(updated.err);
    CHECK(updated.exit_code == 0);
    CHECK(updated.out.find("the recipe changed: the lock follows it") != std::string::npos);
    CHECK(updated.out.find("setuptools") != std::string::npos);
    CHECK(read_file(dir / "app.lock").find("setuptools") == std::string::npos);
    CHECK(read_file(dir / "app.lock").find("ocibake_fastmath") != std::string::npos);
}

TEST_CASE("refused: a wheel for another Python and a missing hash (at lock time), a tampered wheel "
          "and a zip-slip member (at build)") {
    ScratchDir dir("py-image-bad");
    fs::path wheels = dir / "index";
    fs::create_directories(wheels);
    fs::path cp312 = make_wheel(wheels, "fast-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
                                {{"fast/__init__.py", "x = 1\n"}});
    IndexServer index("html", wheels);
    fs::path recipe = write_file(
        dir / "app.toml",
        "name = \"bad\"\n[[layer]]\nname = \"py\"\n[layer.python]\nrequirements = \"req.txt\"\n"
        "venv = \"/opt/venv\"\npython = \"3.11\"\nglibc = \"2.36\"\n");

    write_file(dir / "req.txt",
               "--index-url " + index.url() + "\nfast==1.0 --hash=sha256:" + hex_of(cp312) + "\n");
    auto tag = run_ocibake(dir, {"lock", recipe.string()});
    CHECK(tag.exit_code == 4);
    CHECK(tag.err.find("app.toml:5:16: error: cannot lock 1 Python requirement for CPython 3.11, "
                       "glibc 2.36, x86_64:\n  " +
                       (dir / "req.txt").string() +
                       ":2:1: fast==1.0: no wheel fits: "
                       "fast-1.0-cp312-cp312-manylinux_2_17_x86_64.whl "
                       "(cp312-cp312-manylinux_2_17_x86_64)") != std::string::npos);

    // Local wheel files that do not fit are said at lock time too, all of them at once.
    fs::path arm = make_wheel(wheels, "armonly-1.0-cp311-cp311-manylinux_2_17_aarch64.whl",
                              {{"armonly/__init__.py", "x = 1\n"}});
    fs::path local =
        write_file(dir / "local.toml",
                   "name = \"local\"\n[[layer]]\nname = \"py\"\n[layer.python]\n"
                   "wheels = [\"index/" +
                       cp312.filename().string() + "\", \"index/" + arm.filename().string() +
                       "\"]\nvenv = \"/opt/venv\"\npython = \"3.11\"\nglibc = "
                       "\"2.36\"\n");
    auto locals = run_ocibake(dir, {"lock", local.string()});
    INFO(locals.err);
    CHECK(locals.exit_code == 4);
    CHECK(locals.err.find(local.string() +
                          ":5:11: error: cannot install 2 local wheels for CPython 3.11, glibc "
                          "2.36, x86_64:\n  " +
                          local.string() + ":5:11: wheel " + cp312.filename().string() +
                          " does not fit") != std::string::npos);
    CHECK(locals.err.find(arm.filename().string() + " does not fit") != std::string::npos);

    write_file(dir / "req.txt", "fast==1.0\n");
    auto nohash = run_ocibake(dir, {"lock", recipe.string()});
    CHECK(nohash.exit_code == 3);
    CHECK(nohash.err.find((dir / "req.txt").string() +
                          ":1:1: error: requirement 'fast==1.0' has "
                          "no --hash; ocibake installs only hashed requirements") !=
          std::string::npos);
    CHECK(nohash.err.find("hint: make a hashed lock with `pip-compile --generate-hashes` or "
                          "`uv pip compile --generate-hashes`") != std::string::npos);

    // A wheel whose file does not match its RECORD: the lock pins it (the hash is the
    // index's), the build refuses it and names the member.
    std::string meta = "Metadata-Version: 2.1\nName: tampered\nVersion: 1.0\n";
    std::string wheel_text = "Wheel-Version: 1.0\nGenerator: ocibake-tests\n"
                             "Root-Is-Purelib: true\nTag: py3-none-any\n";
    std::string record = record_line("tampered/__init__.py", "original = 1\n") +
                         record_line("tampered-1.0.dist-info/METADATA", meta) +
                         record_line("tampered-1.0.dist-info/WHEEL", wheel_text) +
                         "tampered-1.0.dist-info/RECORD,,\n";
    fs::path bad = make_wheel(wheels, "tampered-1.0-py3-none-any.whl",
                              {{"tampered/__init__.py", "changed = 1\n"}}, &record);
    write_file(dir / "req.txt", "--index-url " + index.url() +
                                    "\ntampered==1.0 --hash=sha256:" + hex_of(bad) + "\n");
    CHECK(run_ocibake(dir, {"lock", recipe.string()}).exit_code == 0);
    auto build =
        run_ocibake(dir, {"build", recipe.string(), "-o", "oci:" + (dir / "out").string()});
    INFO(build.err);
    CHECK(build.exit_code == 6);
    CHECK(build.err.find("layer 'py' (" + recipe.string() +
                         ":4:1): wheel "
                         "tampered-1.0-py3-none-any.whl: tampered/__init__.py does not match "
                         "RECORD") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "out"));

    // A zip-slip member: refused, nothing written outside or as output.
    fs::path slip = make_wheel(wheels, "slip-1.0-py3-none-any.whl",
                               {{"slip/__init__.py", "x = 1\n"}, {"../../../../etc/evil", "x\n"}});
    write_file(dir / "req.txt",
               "--index-url " + index.url() + "\nslip==1.0 --hash=sha256:" + hex_of(slip) + "\n");
    CHECK(run_ocibake(dir, {"lock", recipe.string()}).exit_code == 0);
    auto slipped =
        run_ocibake(dir, {"build", recipe.string(), "-o", "oci:" + (dir / "out").string()});
    INFO(slipped.err);
    CHECK(slipped.exit_code != 0);
    CHECK(slipped.err.find("wheel slip-1.0-py3-none-any.whl: member '../../../../etc/evil' has a "
                           "'..' component (it would escape the target); refused") !=
          std::string::npos);
    CHECK_FALSE(fs::exists(dir / "out"));
    CHECK_FALSE(fs::exists("/etc/evil"));
}
