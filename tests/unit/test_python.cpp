// The python module: names, versions, tags, markers; wheels unpacked (verified against
// RECORD) and installed into layers, checked with the real Python that runs them.
#include "ocibake/python.hpp"

#include "ocibake/build.hpp"
#include "ocibake/layer.hpp"
#include "support/checks.hpp"
#include "support/python_fixture.hpp"

#include <catch2/catch.hpp>

using namespace ocibake;
using namespace ocibake::test;
namespace fs = std::filesystem;
namespace py = ocibake::python;

namespace {

py::UnpackedWheel unpack(Store& store, const fs::path& wheel) {
    return py::unpack_wheel(store, wheel, sha256_of_file(wheel));
}

/// Writes the builder's layer and extracts it at `/` (the scheme's paths are scratch
/// paths on this machine), as an image unpacker would.
void extract_layer(Store& store, LayerBuilder& builder) {
    auto entries = builder.finish();
    LayerOptions o;
    o.compression = Compression::none;
    LayerResult r = write_layer(store, entries, o);
    must({"tar", "-xf", store.blob_path(r.descriptor.digest).string(), "-C", "/"});
}

std::string record_of(const fs::path& site, const std::string& dist_info) {
    return read_file(site / dist_info / "RECORD");
}

} // namespace

TEST_CASE("names, versions and wheel file names") {
    CHECK(py::normalize_name("Friendly-Bard") == "friendly-bard");
    CHECK(py::normalize_name("FRIENDLY__bard") == "friendly-bard");
    CHECK(py::normalize_name("friendly.-_bard") == "friendly-bard");
    CHECK(py::compare_versions("1.0", "1.0.0") == 0);
    CHECK(py::compare_versions("1.0.dev1", "1.0a1") < 0);
    CHECK(py::compare_versions("1.0a1", "1.0b1") < 0);
    CHECK(py::compare_versions("1.0rc1", "1.0") < 0);
    CHECK(py::compare_versions("1.0", "1.0.post1") < 0);
    CHECK(py::compare_versions("1!0.1", "2.0") > 0);
    CHECK(py::compare_versions("2.7.0+cu128", "2.7.0") > 0);
    CHECK(py::compare_versions("3.10", "3.9") > 0);
    CHECK(py::version_matches("2.7.0", "2.7.0+cu128"));
    CHECK_FALSE(py::version_matches("2.7.0+cu126", "2.7.0+cu128"));
    CHECK(error_of([] { py::compare_versions("one", "2"); }).what ==
          "'one' is not a PEP 440 version");

    auto w = py::WheelFilename::parse("torch-2.7.0+cu128-cp311-cp311-manylinux_2_28_x86_64.whl");
    CHECK(w.distribution == "torch");
    CHECK(w.version == "2.7.0+cu128");
    CHECK(w.tags() == std::vector<std::string>{"cp311-cp311-manylinux_2_28_x86_64"});
    auto multi = py::WheelFilename::parse(
        "numpy-2.0.0-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
    CHECK(multi.build == "1");
    CHECK(multi.tags().size() == 2);
    CHECK(error_of([] { py::WheelFilename::parse("x-1.0.tar.gz"); }).what ==
          "'x-1.0.tar.gz' is not a wheel file name (it does not end in .whl)");
    CHECK(error_of([] { py::WheelFilename::parse("x-1.0-py3.whl"); }).what ==
          "'x-1.0-py3.whl' is not a wheel file name (it needs "
          "name-version[-build]-python-abi-platform)");
    // Found by the fuzz target: a name that is not UTF-8 reached the cache's JSON manifest,
    // whose writer threw (not an ocibake::Error: the CLI said "internal error").
    auto latin1 = error_of([] { py::WheelFilename::parse("caf\xe9-1.0-py3-none-any.whl"); });
    CHECK(latin1.kind == ocibake::ErrorKind::input);
    CHECK(latin1.what == "'caf\\xe9-1.0-py3-none-any.whl' is not a wheel file name (the name "
                         "may hold only ASCII letters, digits, '_' and '.')");
    CHECK(error_of([] { py::WheelFilename::parse("demo-1.0 beta-py3-none-any.whl"); }).what ==
          "'demo-1.0 beta-py3-none-any.whl' is not a wheel file name (the version may hold "
          "only ASCII letters, digits, '_', '.', '!' and '+')");
    CHECK(
        py::WheelFilename::parse("zope.interface-6.0-cp311-cp311-linux_x86_64.whl").distribution ==
        "zope.interface");
    CHECK(py::WheelFilename::parse("demo-1!2.0-py3-none-any.whl").version == "1!2.0");
}

TEST_CASE("wheel tags: the target's Python and glibc decide, best first") {
    auto tags = cp311.supported_tags();
    auto pos = [&](const std::string& t) {
        auto it = std::find(tags.begin(), tags.end(), t);
        REQUIRE(it != tags.end());
        return it - tags.begin();
    };
    CHECK(tags.front() == "cp311-cp311-manylinux_2_36_x86_64");
    CHECK(pos("cp311-cp311-manylinux_2_17_x86_64") < pos("cp311-cp311-manylinux2014_x86_64"));
    CHECK(pos("cp311-cp311-manylinux2014_x86_64") < pos("cp311-cp311-manylinux_2_16_x86_64"));
    CHECK(pos("cp311-cp311-manylinux2010_x86_64") > pos("cp311-cp311-manylinux_2_12_x86_64"));
    CHECK(pos("cp311-cp311-manylinux1_x86_64") > pos("cp311-cp311-manylinux_2_5_x86_64"));
    CHECK(pos("cp311-cp311-linux_x86_64") < pos("cp311-abi3-manylinux_2_36_x86_64"));
    CHECK(pos("cp311-abi3-linux_x86_64") < pos("cp310-abi3-manylinux_2_36_x86_64"));
    CHECK(pos("cp38-abi3-manylinux_2_17_x86_64") < pos("py3-none-any"));
    CHECK(pos("py311-none-any") < pos("py3-none-any"));
    CHECK(pos("py3-none-any") < pos("py30-none-any"));
    CHECK(std::find(tags.begin(), tags.end(), "cp312-cp312-manylinux_2_17_x86_64") == tags.end());
    CHECK(std::find(tags.begin(), tags.end(), "cp311-cp311-manylinux_2_37_x86_64") == tags.end());

    auto rank = [&](const std::string& file) {
        return py::tag_rank(py::WheelFilename::parse(file), tags);
    };
    CHECK(rank("a-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"));
    CHECK(*rank("a-1-cp311-cp311-manylinux_2_28_x86_64.whl") <
          *rank("a-1-cp311-cp311-manylinux_2_17_x86_64.whl"));
    CHECK_FALSE(rank("a-1-cp311-cp311-manylinux_2_39_x86_64.whl"));
    CHECK_FALSE(rank("a-1-cp311-cp311-manylinux_2_17_aarch64.whl"));
    CHECK_FALSE(rank("a-1-cp311-cp311-win_amd64.whl"));

    py::Target no_glibc{3, 11, std::nullopt, "x86_64"};
    CHECK(
        py::tag_rank(py::WheelFilename::parse("a-1-py3-none-any.whl"), no_glibc.supported_tags()));
    CHECK_FALSE(py::tag_rank(py::WheelFilename::parse("a-1-cp311-cp311-manylinux_2_17_x86_64.whl"),
                             no_glibc.supported_tags()));

    auto wrong = error_of([] {
        py::check_compatible(
            py::WheelFilename::parse("torch-2.7.0-cp312-cp312-manylinux_2_28_x86_64.whl"), cp311);
    });
    CHECK(wrong.kind == ErrorKind::input);
    CHECK(wrong.what == "wheel torch-2.7.0-cp312-cp312-manylinux_2_28_x86_64.whl does not fit "
                        "CPython 3.11, glibc 2.36, x86_64 (its tags: "
                        "cp312-cp312-manylinux_2_28_x86_64)");
}

TEST_CASE("PEP 508 markers evaluated for the target") {
    auto env = py::marker_environment(cp311);
    auto m = [&](std::string_view text) { return py::evaluate_marker(text, env); };
    CHECK(m("python_version >= \"3.9\""));
    CHECK_FALSE(m("python_version < '3.10'"));
    CHECK(m("python_version > \"3.9\"")); // a version comparison, not a string one
    CHECK(m("sys_platform == 'linux' and platform_machine == 'x86_64'"));
    CHECK_FALSE(m("sys_platform == 'win32' or (os_name == 'nt' and python_version >= '3')"));
    CHECK(m("(sys_platform == 'darwin' or sys_platform == 'linux') and extra == ''"));
    CHECK(m("python_full_version >= '3.11'"));
    CHECK(m("python_version == '3.*'"));
    CHECK(m("python_version ~= '3.8'"));
    CHECK(m("'linux' in sys_platform"));
    CHECK(m("platform_machine not in 'aarch64 arm64'"));
    CHECK(m("implementation_name == \"cpython\""));
    auto bad = error_of([&] { py::evaluate_marker("python_version >=", env, "req.txt:3"); });
    CHECK(bad.what == "req.txt:3: marker 'python_version >=' does not parse: a value is missing "
                      "at the end");
    CHECK(error_of([&] { m("pyversion == '3'"); }).what ==
          "marker 'pyversion == '3'' does not parse: unknown variable 'pyversion'");
}

TEST_CASE("Debian's wheels installed into a venv: pip runs from it and lists them") {
    ScratchDir dir("py-debian");
    Store store(dir / "cache");
    std::string venv = (dir / "venv").string();
    py::Scheme scheme = py::venv_scheme(venv, cp311);
    LayerBuilder builder;
    py::add_venv(builder, venv, "/usr/bin/python3.11", cp311);
    py::Installer installer(scheme, builder);
    for (const auto& wheel : debian_wheels()) {
        installer.install(unpack(store, wheel));
    }
    CHECK(installer.distributions() == std::set<std::string>{"pip", "setuptools", "wheel"});
    extract_layer(store, builder);

    CHECK(read_file(dir / "venv/pyvenv.cfg") ==
          "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11\n"
          "executable = /usr/bin/python3.11\ncommand = ocibake (venv " +
              venv + ")\n");
    CHECK(fs::read_symlink(dir / "venv/bin/python") == "/usr/bin/python3.11");
    // The launcher pypa/installer writes, with the venv's python.
    std::string pip = read_file(dir / "venv/bin/pip");
    CHECK(pip.starts_with("#!" + venv + "/bin/python\n# -*- coding: utf-8 -*-\nimport re\n"));
    CHECK(pip.find("from pip._internal.cli.main import main\n") != std::string::npos);
    CHECK(pip.find("    sys.exit(main())\n") != std::string::npos);
    CHECK((fs::status(dir / "venv/bin/pip").permissions() & fs::perms::owner_exec) !=
          fs::perms::none);

    fs::path site = dir / "venv/lib/python3.11/site-packages";
    CHECK(read_file(site / "pip-23.0.1.dist-info/INSTALLER") == "ocibake\n");
    CHECK(fs::exists(site / "pip-23.0.1.dist-info/REQUESTED"));
    std::string record = record_of(site, "pip-23.0.1.dist-info");
    CHECK(record.find("../../../bin/pip," + std::string("sha256=") +
                      py::record_hash(sha256_of(pip)) + "," + std::to_string(pip.size()) + "\n") !=
          std::string::npos);
    CHECK(record.find("pip-23.0.1.dist-info/INSTALLER,sha256=") != std::string::npos);
    CHECK(record.ends_with("pip-23.0.1.dist-info/RECORD,,\n"));

    // The real pip, run from the venv: it sees the three, and they are consistent.
    auto list = must({venv + "/bin/python", "-m", "pip", "list", "--format=freeze",
                      "--disable-pip-version-check"});
    CHECK(list.out == "pip==23.0.1\nsetuptools==66.1.1\nwheel==0.38.4\n");
    must({venv + "/bin/python", "-m", "pip", "check"});
    auto version = must({venv + "/bin/pip", "--version"});
    CHECK(version.out.find("pip 23.0.1 from " + site.string()) == 0);
    auto wheel_version = must({venv + "/bin/wheel", "version"});
    CHECK(wheel_version.out == "wheel 0.38.4\n");
}

TEST_CASE("wheels built here: entry points, #!python scripts, data, headers, a C extension") {
    ScratchDir dir("py-built");
    TestWheels wheels = build_test_wheels(dir / "work", dir / "dist");
    Store store(dir / "cache");
    std::string venv = (dir / "venv").string();
    py::Scheme scheme = py::venv_scheme(venv, cp311);

    // Two layers over one venv: the venv with pip first, then the test wheels. The second
    // layer holds only its own files.
    LayerBuilder first;
    py::add_venv(first, venv, "/usr/bin/python3.11", cp311);
    py::Installer base(scheme, first);
    base.install(unpack(store, debian_wheels()[0])); // pip
    extract_layer(store, first);

    LayerBuilder second;
    py::Installer more(scheme, second);
    more.set_installed_before(base.installed());
    more.install(unpack(store, wheels.demo));
    more.install(unpack(store, wheels.fastmath));
    auto entries = second.finish();
    for (const auto& e : entries) {
        INFO(e.path);
        CHECK(e.path.find("pyvenv.cfg") == std::string::npos);
        CHECK(e.path.find("pip") == std::string::npos);
    }
    // Every directory below the venv's root that the layer's files need is an entry of
    // the layer (data, headers and their scheme directories too), so no unpacker makes
    // one up with modes of its own.
    std::set<std::string> paths;
    for (const auto& e : entries) {
        paths.insert(e.path);
    }
    const std::string root = ocibake::normalize_image_path(venv, {});
    std::size_t checked = 0;
    for (const auto& e : entries) {
        for (fs::path p = fs::path(e.path).parent_path(); p.string().size() > root.size();
             p = p.parent_path()) {
            INFO(e.path);
            CHECK(paths.count(p.string()) == 1);
            ++checked;
        }
    }
    CHECK(checked > 0);
    CHECK(paths.count(root + "/share/ocibake-demo") == 1);
    CHECK(paths.count(root + "/include/site/python3.11/ocibake-fastmath") == 1);
    for (const auto& e : entries) {
        second.add(e);
    }
    extract_layer(store, second);

    auto list = must({venv + "/bin/python", "-m", "pip", "list", "--format=freeze",
                      "--disable-pip-version-check"});
    CHECK(list.out == "ocibake-demo==1.0\nocibake-fastmath==0.1\npip==23.0.1\n");
    auto check = must({venv + "/bin/python", "-m", "pip", "check"});
    CHECK(check.out == "No broken requirements found.\n");
    CHECK(must({venv + "/bin/ocibake-demo"}).out == "ocibake-demo: 2 + 3 = 5\n");
    CHECK(must({venv + "/bin/ocibake-demo-gui"}).out == "ocibake-demo-gui ran\n");
    // `#!python` became the venv's interpreter; the script keeps its exec bits.
    std::string tool = read_file(dir / "venv/bin/demo-tool");
    CHECK(tool.starts_with("#!" + venv + "/bin/python\nimport sys\n"));
    CHECK(must({venv + "/bin/demo-tool"}).out == "demo-tool runs on 3 11\n");
    CHECK(read_file(dir / "venv/share/ocibake-demo/readme.txt") == "ocibake demo data file\n");
    CHECK(fs::exists(dir / "venv/include/site/python3.11/ocibake-fastmath/fastmath.h"));
    fs::path site = dir / "venv/lib/python3.11/site-packages";
    CHECK(fs::exists(site / "ocibake_fastmath/_speed.cpython-311-x86_64-linux-gnu.so"));
    CHECK(must({venv + "/bin/python", "-c",
                "import ocibake_fastmath; print(ocibake_fastmath.add(40, 2))"})
              .out == "42\n");
    std::string record = record_of(site, "ocibake_demo-1.0.dist-info");
    CHECK(record.find("../../../bin/demo-tool,sha256=" + py::record_hash(sha256_of(tool)) + "," +
                      std::to_string(tool.size()) + "\n") != std::string::npos);
    CHECK(record.find("../../../share/ocibake-demo/readme.txt,") != std::string::npos);
    CHECK(record.find("ocibake_demo/__init__.py,sha256=") != std::string::npos);
    // RECORD lists every installed file (pip's own check of an installation).
    auto files = must({venv + "/bin/python", "-c",
                       "import importlib.metadata as m, os\n"
                       "for d in ('ocibake-demo', 'ocibake-fastmath'):\n"
                       "    for f in m.distribution(d).files:\n"
                       "        p = f.locate()\n"
                       "        assert os.path.exists(p), p\n"
                       "        if f.hash: assert f.hash.value, f\n"
                       "print('ok')\n"});
    CHECK(files.out == "ok\n");

    // The same wheel again in a later layer over the same venv is refused.
    LayerBuilder third;
    py::Installer again(scheme, third);
    auto all = base.installed();
    all.insert(more.installed().begin(), more.installed().end());
    again.set_installed_before(all);
    auto twice = error_of([&] { again.install(unpack(store, wheels.demo)); });
    CHECK(twice.kind == ErrorKind::input);
    CHECK(twice.what ==
          "distribution 'ocibake-demo' (ocibake_demo-1.0-py3-none-any.whl) is "
          "already installed by an earlier layer (ocibake_demo-1.0-py3-none-any.whl)");
}

TEST_CASE("an unpacked wheel is kept in the cache by its sha256 and reused") {
    ScratchDir dir("py-tree");
    Store store(dir / "cache");
    fs::path wheel = debian_wheels()[2]; // wheel-0.38.4
    auto first = unpack(store, wheel);
    CHECK(first.tree == store.root() / "trees" / ("wheel-" + sha256_of_file(wheel).hex()));
    CHECK(fs::exists(first.tree / "files/wheel/__init__.py"));
    auto mtime = fs::last_write_time(first.tree / "manifest.json");
    auto second = unpack(store, wheel);
    CHECK(second.tree == first.tree);
    CHECK(fs::last_write_time(first.tree / "manifest.json") == mtime);
    // A wheel whose bytes are not the digest given is refused before anything is read.
    auto wrong = error_of([&] { py::unpack_wheel(store, wheel, sha256_of("other")); });
    CHECK(wrong.kind == ErrorKind::integrity);
    CHECK(wrong.what.find("wheel wheel-0.38.4-py3-none-any.whl (" + wheel.string() +
                          ") has sha256 " + sha256_of_file(wheel).hex() + ", not " +
                          sha256_of("other").hex()) == 0);
}

TEST_CASE("hostile and broken wheels are refused with the member named") {
    ScratchDir dir("py-hostile");
    Store store(dir / "cache");
    const std::string ok = "good = 1\n";
    auto refused = [&](const fs::path& wheel) {
        auto e = error_of([&] { unpack(store, wheel); });
        // Nothing half-made is published.
        CHECK_FALSE(fs::exists(store.root() / "trees" / ("wheel-" + sha256_of_file(wheel).hex())));
        return e;
    };

    SECTION("a tampered file (RECORD mismatch)") {
        std::string record = record_line("pkg/__init__.py", ok) + record_line("pkg/mod.py", ok) +
                             "pkg-1.0.dist-info/METADATA,,\n";
        // METADATA/WHEEL rows come from make_wheel's own list below; write RECORD by hand.
        std::vector<ZipMember> files{{"pkg/__init__.py", ok}, {"pkg/mod.py", "evil = 1\n"}};
        std::string meta = "Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n";
        std::string wheel_text = "Wheel-Version: 1.0\nGenerator: ocibake-tests\n"
                                 "Root-Is-Purelib: true\nTag: py3-none-any\n";
        std::string text = record_line("pkg/__init__.py", ok) + record_line("pkg/mod.py", ok) +
                           record_line("pkg-1.0.dist-info/METADATA", meta) +
                           record_line("pkg-1.0.dist-info/WHEEL", wheel_text) +
                           "pkg-1.0.dist-info/RECORD,,\n";
        (void)record;
        fs::path w = make_wheel(dir.path(), "pkg-1.0-py3-none-any.whl", files, &text);
        auto e = refused(w);
        CHECK(e.kind == ErrorKind::integrity);
        CHECK(e.what == "wheel pkg-1.0-py3-none-any.whl: pkg/mod.py does not match RECORD (RECORD "
                        "says sha256=" +
                            py::record_hash(sha256_of(ok)) + ", the file has sha256=" +
                            py::record_hash(sha256_of("evil = 1\n")) + ")");
    }
    SECTION("a zip-slip member") {
        fs::path w = make_wheel(dir.path(), "pkg-1.0-py3-none-any.whl",
                                {{"pkg/__init__.py", ok}, {"../../../../etc/cron.d/evil", ok}});
        auto e = refused(w);
        CHECK(e.kind == ErrorKind::input);
        CHECK(e.what == "wheel pkg-1.0-py3-none-any.whl: member '../../../../etc/cron.d/evil' has "
                        "a '..' component (it would escape the target); refused");
        CHECK_FALSE(fs::exists("/etc/cron.d/evil"));
    }
    SECTION("an absolute member") {
        fs::path w = make_wheel(dir.path(), "pkg-1.0-py3-none-any.whl", {{"/etc/evil", ok}});
        CHECK(refused(w).what == "wheel pkg-1.0-py3-none-any.whl: member '/etc/evil' has an "
                                 "absolute path; refused");
    }
    SECTION("a symlink member") {
        fs::path w = make_wheel(dir.path(), "pkg-1.0-py3-none-any.whl",
                                {{"pkg/__init__.py", ok}, {"pkg/link", "", 0777, "/etc"}});
        CHECK(refused(w).what == "wheel pkg-1.0-py3-none-any.whl: member 'pkg/link' is a symbolic "
                                 "link (wheels hold regular files only); refused");
    }
    SECTION("a file RECORD does not list, and a RECORD entry the wheel lacks") {
        std::string meta = "Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n";
        std::string wheel_text = "Wheel-Version: 1.0\nGenerator: ocibake-tests\n"
                                 "Root-Is-Purelib: true\nTag: py3-none-any\n";
        std::string base = record_line("pkg-1.0.dist-info/METADATA", meta) +
                           record_line("pkg-1.0.dist-info/WHEEL", wheel_text) +
                           "pkg-1.0.dist-info/RECORD,,\n";
        std::string unlisted = base;
        fs::path w1 =
            make_wheel(dir / "a", "pkg-1.0-py3-none-any.whl", {{"pkg/__init__.py", ok}}, &unlisted);
        CHECK(refused(w1).what ==
              "wheel pkg-1.0-py3-none-any.whl: pkg/__init__.py is not listed in RECORD");
        std::string extra =
            record_line("pkg/__init__.py", ok) + record_line("pkg/gone.py", ok) + base;
        fs::path w2 =
            make_wheel(dir / "b", "pkg-1.0-py3-none-any.whl", {{"pkg/__init__.py", ok}}, &extra);
        CHECK(refused(w2).what == "wheel pkg-1.0-py3-none-any.whl: RECORD lists pkg/gone.py, which "
                                  "the wheel does not contain");
    }
    SECTION("a newer Wheel-Version, an unknown .data directory, a foreign .dist-info") {
        LayerBuilder b;
        py::Installer installer(py::venv_scheme("/opt/venv", cp311), b);
        fs::path v2 = make_wheel(dir / "a", "pkg-1.0-py3-none-any.whl", {{"pkg/__init__.py", ok}},
                                 nullptr, "2.0");
        CHECK(error_of([&] { installer.install(unpack(store, v2)); }).what ==
              "wheel pkg-1.0-py3-none-any.whl has Wheel-Version 2.0; ocibake installs version 1.x "
              "wheels");
        fs::path data = make_wheel(dir / "b", "pkg-1.0-py3-none-any.whl",
                                   {{"pkg/__init__.py", ok}, {"pkg-1.0.data/etc/passwd", ok}});
        CHECK(error_of([&] { installer.install(unpack(store, data)); }).what ==
              "wheel pkg-1.0-py3-none-any.whl: pkg-1.0.data/etc/passwd is in an unknown .data "
              "directory 'etc' (purelib, platlib, scripts, headers, data)");
        fs::path other = make_wheel(dir / "c", "other-1.0-py3-none-any.whl", {});
        fs::copy_file(other, dir / "c/pkg-1.0-py3-none-any.whl");
        auto foreign = error_of([&] { unpack(store, dir / "c/pkg-1.0-py3-none-any.whl"); });
        CHECK(foreign.what == "wheel pkg-1.0-py3-none-any.whl holds other-1.0.dist-info, which is "
                              "not for distribution 'pkg'");
    }
    SECTION("a member or launcher named .wh.*: in a layer it would delete what is below") {
        LayerBuilder b;
        py::Installer installer(py::venv_scheme("/opt/venv", cp311), b);
        const std::string refused_text =
            ": in an OCI layer a name starting with '.wh.' is a deletion, so no file may carry "
            "it; refused";
        fs::path opaque = make_wheel(dir / "a", "pkg-1.0-py3-none-any.whl",
                                     {{"pkg/__init__.py", ok}, {".wh..wh..opq", ""}});
        auto e = error_of([&] { installer.install(unpack(store, opaque)); });
        CHECK(e.kind == ErrorKind::input);
        CHECK(e.what == "wheel pkg-1.0-py3-none-any.whl: member '.wh..wh..opq': image path "
                        "/opt/venv/lib/python3.11/site-packages/.wh..wh..opq would empty "
                        "/opt/venv/lib/python3.11/site-packages of the image below" +
                            refused_text);
        fs::path launcher = make_wheel(dir / "b", "pkg-1.0-py3-none-any.whl",
                                       {{"pkg/__init__.py", "def main(): pass\n"},
                                        {"pkg-1.0.dist-info/entry_points.txt",
                                         "[console_scripts]\n.wh.python3 = pkg:main\n"}});
        LayerBuilder b2;
        py::Installer fresh(py::venv_scheme("/opt/venv", cp311), b2);
        CHECK(error_of([&] { fresh.install(unpack(store, launcher)); }).what ==
              "wheel pkg-1.0-py3-none-any.whl: image path /opt/venv/bin/.wh.python3 would delete "
              "/opt/venv/bin/python3 of the image below" +
                  refused_text);
    }
    SECTION("not a zip file at all") {
        write_file(dir / "pkg-1.0-py3-none-any.whl", "this is not a zip file");
        auto e = refused(dir / "pkg-1.0-py3-none-any.whl");
        CHECK(e.kind == ErrorKind::integrity);
        CHECK(e.what.starts_with("wheel pkg-1.0-py3-none-any.whl "));
    }
    // Nothing is left behind in the cache's temp directory.
    CHECK(fs::is_empty(store.root() / "tmp"));
}

TEST_CASE("a venv's bytes do not depend on the order wheels are installed in") {
    ScratchDir dir("py-order");
    Store store(dir / "cache");
    auto wheels = debian_wheels();
    auto layer = [&](std::vector<fs::path> order) {
        LayerBuilder b;
        py::add_venv(b, "/opt/venv", "/usr/bin/python3.11", cp311);
        py::Installer installer(py::venv_scheme("/opt/venv", cp311), b);
        for (const auto& w : order) {
            installer.install(unpack(store, w));
        }
        LayerOptions o;
        o.source_date_epoch = 1700000000;
        return write_layer(store, b.finish(), o).diff_id;
    };
    Digest forward = layer(wheels);
    std::reverse(wheels.begin(), wheels.end());
    CHECK(layer(wheels) == forward);
}

TEST_CASE("cache gc removes unpacked wheels not used within the age") {
    ScratchDir dir("py-gc");
    fs::path tree;
    {
        Store store(dir / "cache");
        tree = unpack(store, debian_wheels()[2]).tree;
    }
    GcOptions keep;
    keep.max_age = std::chrono::hours(1);
    CHECK(collect_garbage(dir / "cache", keep).trees_removed == 0);
    CHECK(fs::exists(tree / "manifest.json"));
    GcOptions all;
    all.max_age = std::chrono::seconds(0);
    CHECK(collect_garbage(dir / "cache", all).trees_removed == 1);
    CHECK_FALSE(fs::exists(tree));
}

TEST_CASE("a damaged unpacked wheel: a truncated file is unpacked again, changed bytes refused") {
    ScratchDir dir("py-damaged");
    Store store(dir / "cache");
    fs::path wheel = debian_wheels()[2]; // wheel-0.38.4
    auto tree = unpack(store, wheel).tree;
    fs::path file = tree / "files/wheel/__init__.py";
    std::string original = read_file(file);

    // Truncated (what a crash before writeback leaves): the tree is made again.
    fs::resize_file(file, 0);
    unpack(store, wheel);
    CHECK(read_file(file) == original);

    // Same size, other bytes: the layer writer checks every file against RECORD's sha256.
    std::string changed = original;
    changed[0] = changed[0] == '#' ? '$' : '#';
    write_file(file, changed, 0444);
    LayerBuilder b;
    py::Installer installer(py::venv_scheme("/opt/venv", cp311), b);
    installer.install(unpack(store, wheel));
    auto entries = b.finish();
    LayerOptions o;
    auto e = error_of([&] { write_layer(store, entries, o); });
    CHECK(e.kind == ErrorKind::integrity);
    CHECK(e.what == "wheel-0.38.4-py3-none-any.whl: " + file.string() + " has sha256 " +
                        sha256_of(changed).hex() + ", not " + sha256_of(original).hex() +
                        " (it changed after it was verified)");
}

TEST_CASE("a base layer is scanned for Python and glibc through the verified reader") {
    ScratchDir dir("py-scan");
    Store store(dir / "cache");
    auto file = [](std::string path, std::string content) {
        LayerEntry e;
        e.path = std::move(path);
        e.type = EntryType::file;
        e.mode = 0755;
        e.content = std::move(content);
        e.size = e.content.size();
        return e;
    };
    std::vector<LayerEntry> entries{
        file("usr/bin/python3.11", "#!/bin/false\n"),
        file("usr/lib/x86_64-linux-gnu/libc.so.6", std::string("\x7f"
                                                               "ELF ... GLIBC_2.34\0GLIBC_2.36\0.",
                                                               32))};
    LayerResult layer = build_layer(store, entries, LayerOptions{});

    py::ImageFacts facts = py::scan_layer(store, layer);
    CHECK(facts.pythons == std::map<std::string, std::string>{{"3.11", "/usr/bin/python3.11"}});
    REQUIRE(facts.glibc);
    CHECK(*facts.glibc == py::Glibc{2, 36});

    // A corrupt cached blob (and no record of an earlier scan) is an integrity error
    // naming the cache file, and the blob is dropped so that a build makes it again.
    fs::remove_all(dir / "cache" / "records" / "python-scan");
    fs::path blob = store.blob_path(layer.descriptor.digest);
    std::string bytes = read_file(blob);
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x01);
    write_file(blob, bytes);
    Caught e = error_of([&] { py::scan_layer(store, layer); });
    CHECK(e.kind == ErrorKind::integrity);
    CHECK(e.what.find(blob.string()) != std::string::npos);
    CHECK_FALSE(store.has_blob(layer.descriptor.digest));
}
