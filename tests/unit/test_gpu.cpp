// GPU discovery and CDI against a fake host made here: /dev nodes made with mknod (we run
// as root, as the runtime does), a driver directory of fake libraries, an `ldconfig -p`
// listing, CDI specs fresh and stale.
#include "ocibake/gpu.hpp"
#include "support/checks.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

using namespace ocibake;
using namespace ocibake::test;
namespace fs = std::filesystem;
using Strings = std::vector<std::string>;

namespace {

struct FakeHost {
    ScratchDir dir{"gpu"};
    GpuHost host;
    fs::path lib = dir / "usr/local/nvidia/lib64";

    FakeHost() {
        REQUIRE(::geteuid() == 0); // mknod
        host.root = dir.path();
        node("dev/nvidia0", 195, 0);
        node("dev/nvidia1", 195, 1);
        node("dev/nvidiactl", 195, 255);
        node("dev/nvidia-uvm", 238, 0);
        node("dev/nvidia-uvm-tools", 238, 1);
        node("dev/nvidia-caps/nvidia-cap1", 511, 1);
        write_file(dir / "dev/nvidia7", "a regular file is no GPU");
        versioned("libcuda", "1");
        versioned("libnvidia-ml", "1");
        write_file(lib / "libnvidia-ptxjitcompiler.so.1", "elf");
        write_file(lib / "libnvidia-nvvm.so.4", "elf");
        write_file(lib / "libnvidia-pkcs11-openssl3.so.550.54.15", "elf");
        write_file(dir / "usr/local/nvidia/bin/nvidia-smi", "#!/bin/sh\n", 0755);
        write_file(dir / "usr/lib32/libcuda.so.1", "i386 elf");
        // The i386 copy first: only this architecture's entries count.
        host.ldconfig_listing =
            "3 libs found in cache `/etc/ld.so.cache'\n"
            "\tlibcuda.so.1 (libc6) => /usr/lib32/libcuda.so.1\n"
            "\tlibcuda.so.1 (libc6,x86-64) => /usr/local/nvidia/lib64/libcuda.so.1\n"
            "\tlibnvidia-ml.so.1 (libc6,x86-64, OS ABI: Linux 3.2.0) => "
            "/usr/local/nvidia/lib64/libnvidia-ml.so.1\n";
    }
    void node(const std::string& rel, unsigned major, unsigned minor) {
        fs::create_directories((dir / rel).parent_path());
        REQUIRE(::mknod((dir / rel).c_str(), S_IFCHR | 0666, makedev(major, minor)) == 0);
    }
    /// libX.so.550.54.15 and the soname link libX.so.N -> it.
    void versioned(const std::string& stem, const std::string& soname) {
        write_file(lib / (stem + ".so.550.54.15"), "elf " + stem);
        fs::create_symlink(stem + ".so.550.54.15", lib / (stem + ".so." + soname));
    }
    std::string at(const std::string& rel) const { return (dir / rel).string(); }
};

Strings node_paths(const GpuEdits& e) {
    Strings out;
    for (const DeviceNode& d : e.device_nodes) {
        out.push_back(d.path + " " + std::to_string(d.major) + ":" + std::to_string(d.minor));
    }
    return out;
}

std::map<std::string, std::string> mounts_of(const GpuEdits& e) {
    std::map<std::string, std::string> out;
    for (const Mount& m : e.mounts) {
        out[m.destination] = m.source;
    }
    return out;
}

} // namespace

TEST_CASE("gpu requests: all, none, or a list") {
    CHECK(GpuRequest::parse("all").kind == GpuRequest::Kind::all);
    CHECK(GpuRequest::parse("none").kind == GpuRequest::Kind::none);
    GpuRequest list = GpuRequest::parse("0,2");
    CHECK(list.kind == GpuRequest::Kind::list);
    CHECK(list.ids == Strings{"0", "2"});
    CHECK(list.str() == "0,2");
    for (const char* bad : {"", "0,,1", "0, 1", ","}) {
        Caught c = error_of([&] { GpuRequest::parse(bad); });
        CHECK(c.kind == ErrorKind::usage);
        CHECK(c.what ==
              "--gpus '" + std::string(bad) + "' must be all, none, or a list of GPUs like 0,1");
    }
}

TEST_CASE("discovery: device nodes with their numbers, driver files read-only, by capability") {
    FakeHost f;
    auto edits = find_gpus(f.host, {}, {"NVIDIA_DRIVER_CAPABILITIES=compute,utility"});
    REQUIRE(edits);
    CHECK(edits->source == "discovery");
    CHECK(edits->devices == Strings{"0", "1"});
    CHECK(node_paths(*edits) == Strings{"/dev/nvidia0 195:0", "/dev/nvidia1 195:1",
                                        "/dev/nvidiactl 195:255", "/dev/nvidia-uvm 238:0",
                                        "/dev/nvidia-uvm-tools 238:1",
                                        "/dev/nvidia-caps/nvidia-cap1 511:1"});
    CHECK(edits->device_nodes[0].host_path == f.at("dev/nvidia0"));
    CHECK(edits->device_nodes[0].file_mode == 0666);
    const std::string lib = f.at("usr/local/nvidia/lib64/");
    CHECK(mounts_of(*edits) ==
          std::map<std::string, std::string>{
              {"/usr/local/nvidia/lib64/libcuda.so.1", lib + "libcuda.so.550.54.15"},
              {"/usr/local/nvidia/lib64/libnvidia-ml.so.1", lib + "libnvidia-ml.so.550.54.15"},
              {"/usr/local/nvidia/lib64/libnvidia-ptxjitcompiler.so.1",
               lib + "libnvidia-ptxjitcompiler.so.1"},
              {"/usr/local/nvidia/lib64/libnvidia-nvvm.so.4", lib + "libnvidia-nvvm.so.4"},
              {"/usr/local/nvidia/lib64/libnvidia-pkcs11-openssl3.so.550.54.15",
               lib + "libnvidia-pkcs11-openssl3.so.550.54.15"},
              {"/usr/bin/nvidia-smi", f.at("usr/local/nvidia/bin/nvidia-smi")},
          });
    for (const Mount& m : edits->mounts) {
        CHECK(m.type == "bind");
        CHECK(m.options == Strings{"rbind", "rprivate", "ro", "nosuid", "nodev"});
    }
    CHECK(edits->library_dirs == Strings{"/usr/local/nvidia/lib64"});
    CHECK(edits->missing == Strings{"libcudadebugger (compute)", "libnvidia-gpucomp (compute)",
                                    "libnvidia-allocator (compute)", "libnvidia-opencl (compute)",
                                    "nvidia-cuda-mps-control (compute)",
                                    "nvidia-cuda-mps-server (compute)", "libnvidia-cfg (utility)",
                                    "nvidia-debugdump (utility)", "nvidia-persistenced (utility)"});
    CHECK(edits->summary() == "GPUs 0,1 (discovery: 6 device nodes, 6 driver files)");
}

TEST_CASE("discovery: NVIDIA_VISIBLE_DEVICES and --gpus choose the GPUs") {
    FakeHost f;
    auto only0 = find_gpus(f.host, {}, {"NVIDIA_VISIBLE_DEVICES=0"});
    REQUIRE(only0);
    CHECK(node_paths(*only0) == Strings{"/dev/nvidia0 195:0", "/dev/nvidiactl 195:255",
                                        "/dev/nvidia-uvm 238:0", "/dev/nvidia-uvm-tools 238:1",
                                        "/dev/nvidia-caps/nvidia-cap1 511:1"});
    // An explicit list wins over the image's variable, as `docker --gpus` does.
    auto only1 = find_gpus(f.host, GpuRequest::parse("1"), {"NVIDIA_VISIBLE_DEVICES=0"});
    CHECK(only1->devices == Strings{"1"});
    CHECK(node_paths(*only1).front() == "/dev/nvidia1 195:1");
    CHECK(find_gpus(f.host, {}, {"NVIDIA_VISIBLE_DEVICES=all"})->devices == Strings{"0", "1"});
    for (const char* none : {"NVIDIA_VISIBLE_DEVICES=void",
                             "NVIDIA_VISIBLE_DEVICES=", "NVIDIA_VISIBLE_DEVICES=none"}) {
        CHECK_FALSE(find_gpus(f.host, {}, {none}));
    }
    CHECK(no_gpu_reason(f.host, {}, {"NVIDIA_VISIBLE_DEVICES=void"}) ==
          "NVIDIA_VISIBLE_DEVICES=void gives it none");
    CHECK_FALSE(find_gpus(f.host, GpuRequest::parse("none"), {}));
    CHECK(no_gpu_reason(f.host, GpuRequest::parse("none"), {}) == "--gpus none");

    Caught absent = error_of([&] { find_gpus(f.host, GpuRequest::parse("0,7"), {}); });
    CHECK(absent.kind == ErrorKind::usage);
    CHECK(absent.what == "GPU 7 is not on this host (it has: 0, 1)");
    CHECK(error_of([&] { find_gpus(f.host, {}, {"NVIDIA_VISIBLE_DEVICES=GPU-4f2c"}); }).what ==
          "GPU 'GPU-4f2c': without a CDI spec, GPUs are named by index (this host has: 0, 1)");
}

TEST_CASE("discovery: capabilities pick the driver files, utility alone has no libcuda") {
    FakeHost f;
    auto utility = find_gpus(f.host, {}, {});
    REQUIRE(utility);
    CHECK(mounts_of(*utility) ==
          std::map<std::string, std::string>{
              {"/usr/local/nvidia/lib64/libnvidia-ml.so.1",
               f.at("usr/local/nvidia/lib64/libnvidia-ml.so.550.54.15")},
              {"/usr/bin/nvidia-smi", f.at("usr/local/nvidia/bin/nvidia-smi")}});
    auto all = find_gpus(f.host, {}, {"NVIDIA_DRIVER_CAPABILITIES=all"});
    CHECK(mounts_of(*all).count("/usr/local/nvidia/lib64/libcuda.so.1") == 1);
    auto odd = find_gpus(f.host, {}, {"NVIDIA_DRIVER_CAPABILITIES=compute,warp-drive"});
    CHECK(odd->missing.back() == "capability 'warp-drive' (unknown, ignored)");

    // Found by the directory scan alone (no ldconfig listing): the soname link is
    // preferred to the fully versioned file.
    f.host.ldconfig_listing = "";
    auto scanned = find_gpus(f.host, {}, {"NVIDIA_DRIVER_CAPABILITIES=compute"});
    CHECK(mounts_of(*scanned).at("/usr/local/nvidia/lib64/libcuda.so.1") ==
          f.at("usr/local/nvidia/lib64/libcuda.so.550.54.15"));
}

TEST_CASE("no GPU on the host: nothing, and why") {
    ScratchDir dir("gpu");
    GpuHost host;
    host.root = dir.path();
    host.ldconfig_listing = "";
    CHECK_FALSE(find_gpus(host, {}, {}));
    CHECK(no_gpu_reason(host, {}, {}) ==
          "none found on this host (no CDI spec of kind nvidia.com/gpu in /var/run/cdi, "
          "/etc/cdi, no /dev/nvidia0 under " +
              dir.path().string() + ")");
}

namespace {

const char* kCdiSpec = R"({
  "cdiVersion": "0.5.0",
  "kind": "nvidia.com/gpu",
  "devices": [
    {"name": "0", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia0"}]}},
    {"name": "1", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia1"}]}},
    {"name": "all", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia0"},
                                                      {"path": "/dev/nvidia1"}]}}
  ],
  "containerEdits": {
    "env": ["NVIDIA_VISIBLE_DEVICES=void"],
    "deviceNodes": [{"path": "/dev/nvidiactl", "fileMode": 432, "gid": 44}],
    "mounts": [{"hostPath": "/usr/local/nvidia/lib64/libcuda.so.550.54.15",
                "containerPath": "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15",
                "options": ["ro", "nosuid", "nodev", "bind"]}],
    "hooks": [{"hookName": "createContainer", "path": "/usr/bin/nvidia-ctk",
               "args": ["nvidia-ctk", "hook", "update-ldcache", "--folder",
                        "/usr/lib/x86_64-linux-gnu"]}],
    "additionalGIDs": [44]
  }
})";

/// The same spec as `nvidia-ctk cdi generate` writes it today (go-yaml v3: four spaces,
/// sequences indented below their key, a leading "---", "0" quoted).
const char* kCdiYaml = R"(---
cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
    - name: "0"
      containerEdits:
        deviceNodes:
            - path: /dev/nvidia0
    - name: "1"
      containerEdits:
        deviceNodes:
            - path: /dev/nvidia1
    - name: all
      containerEdits:
        deviceNodes:
            - path: /dev/nvidia0
            - path: /dev/nvidia1
containerEdits:
    env:
        - NVIDIA_VISIBLE_DEVICES=void
    deviceNodes:
        - path: /dev/nvidiactl
          fileMode: 432
          gid: 44
    hooks:
        - hookName: createContainer
          path: /usr/bin/nvidia-ctk
          args:
            - nvidia-ctk
            - hook
            - update-ldcache
            - --folder
            - /usr/lib/x86_64-linux-gnu
    mounts:
        - hostPath: /usr/local/nvidia/lib64/libcuda.so.550.54.15
          containerPath: /usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15
          options:
            - ro
            - nosuid
            - nodev
            - bind
    additionalGIDs:
        - 44
)";

/// The same spec in the style of older nvidia-ctk releases (go-yaml v2: keys sorted, two
/// spaces, sequences at their key's indentation), touched by hand (comments, flow style).
const char* kCdiYml = R"(# /etc/cdi/nvidia.yml
cdiVersion: 0.5.0   # a string: not a number
containerEdits:
  additionalGIDs: [44]
  deviceNodes:
  - fileMode: 432
    gid: 44
    path: /dev/nvidiactl
  env:
  - NVIDIA_VISIBLE_DEVICES=void
  hooks:
  - args:
    - nvidia-ctk
    - hook
    - update-ldcache
    - --folder
    - /usr/lib/x86_64-linux-gnu
    hookName: createContainer
    path: /usr/bin/nvidia-ctk
  mounts:
  - containerPath: /usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15
    hostPath: '/usr/local/nvidia/lib64/libcuda.so.550.54.15'
    options: [ro, nosuid, nodev, "bind"]
devices:
- containerEdits:
    deviceNodes:
    - path: /dev/nvidia0
  name: "0"
- containerEdits:
    deviceNodes:
    - path: /dev/nvidia1
  name: '1'
- containerEdits:
    deviceNodes:
    - path: /dev/nvidia0
    - path: /dev/nvidia1
  name: all
kind: nvidia.com/gpu
...
)";

/// The spec in one format: its file under etc/cdi, its text, and how it names device 'all'.
struct CdiFormat {
    std::string file;
    std::string text;
    std::string name_all;
};

CdiFormat cdi_format(const std::string& ext) {
    CdiFormat f;
    f.file = "nvidia" + ext;
    f.text = ext == ".json" ? kCdiSpec : ext == ".yaml" ? kCdiYaml : kCdiYml;
    f.name_all = ext == ".json" ? "\"name\": \"all\"" : "name: all";
    return f;
}

/// `text` with the first `from` replaced by `to` (which must be there).
std::string replaced(std::string text, const std::string& from, const std::string& to) {
    std::size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}

/// "LINE:COLUMN" of the first `needle` in `text`.
std::string position_of(const std::string& text, const std::string& needle) {
    std::size_t at = text.find(needle);
    REQUIRE(at != std::string::npos);
    std::size_t line = 1;
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < at; ++i) {
        if (text[i] == '\n') {
            ++line;
            line_start = i + 1;
        }
    }
    return std::to_string(line) + ":" + std::to_string(at - line_start + 1);
}

} // namespace

TEST_CASE("a CDI spec is honoured over discovery") {
    const std::string ext = GENERATE(as<std::string>(), ".json", ".yaml", ".yml");
    const CdiFormat fmt = cdi_format(ext);
    INFO("the spec is " << fmt.file);
    FakeHost f;
    write_file(f.dir / "usr/bin/nvidia-ctk", "#!/bin/sh\n", 0755);
    write_file(f.dir / "etc/cdi" / fmt.file, fmt.text);
    write_file(f.dir / "etc/cdi/other.json", R"({"cdiVersion": "0.5.0", "kind": "vendor.com/x",
        "devices": [{"name": "x"}]})");
    // Read first (by name), passed over: not of kind nvidia.com/gpu.
    write_file(f.dir / "etc/cdi/amd.yaml", "cdiVersion: 0.5.0\nkind: amd.com/gpu\n"
                                           "devices:\n  - name: x\n");
    auto all = find_gpus(f.host, {}, {"NVIDIA_DRIVER_CAPABILITIES=compute"});
    REQUIRE(all);
    CHECK(all->source == "CDI spec " + f.at("etc/cdi/" + fmt.file));
    CHECK(all->devices == Strings{"all"});
    CHECK(node_paths(*all) ==
          Strings{"/dev/nvidiactl 195:255", "/dev/nvidia0 195:0", "/dev/nvidia1 195:1"});
    CHECK(all->device_nodes[0].file_mode == 0660);
    CHECK(all->device_nodes[0].gid == 44);
    CHECK(all->env == Strings{"NVIDIA_VISIBLE_DEVICES=void"});
    REQUIRE(all->mounts.size() == 1);
    CHECK(all->mounts[0].source == f.at("usr/local/nvidia/lib64/libcuda.so.550.54.15"));
    CHECK(all->mounts[0].destination == "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15");
    CHECK(all->mounts[0].options == Strings{"ro", "nosuid", "nodev", "bind"});
    REQUIRE(all->hooks.size() == 1);
    CHECK(all->hooks[0].when == "createContainer");
    CHECK(all->hooks[0].path == "/usr/bin/nvidia-ctk");
    CHECK(all->hooks[0].args ==
          Strings{"nvidia-ctk", "hook", "update-ldcache", "--folder", "/usr/lib/x86_64-linux-gnu"});
    CHECK(all->additional_gids == std::vector<std::uint32_t>{44});
    CHECK(all->library_dirs.empty()); // the spec's own hook makes them loadable

    auto one = find_gpus(f.host, GpuRequest::parse("1"), {});
    CHECK(one->devices == Strings{"1"});
    CHECK(node_paths(*one) == Strings{"/dev/nvidiactl 195:255", "/dev/nvidia1 195:1"});
    CHECK(error_of([&] { find_gpus(f.host, GpuRequest::parse("5"), {}); }).what ==
          "GPU '5' is not in CDI spec " + f.at("etc/cdi/" + fmt.file) +
              " (its devices: 0, 1, all)");

    // /var/run/cdi (dynamic specs) comes before /etc/cdi.
    std::string gpus = replaced(fmt.name_all, "all", "gpus");
    write_file(f.dir / "var/run/cdi" / fmt.file, replaced(fmt.text, fmt.name_all, gpus));
    CHECK(find_gpus(f.host, {}, {})->devices == Strings{"0", "1", "gpus"});
}

TEST_CASE("a stale or broken CDI spec is reported, not used") {
    const std::string ext = GENERATE(as<std::string>(), ".json", ".yaml", ".yml");
    const CdiFormat fmt = cdi_format(ext);
    INFO("the spec is " << fmt.file);
    FakeHost f;
    const std::string file = f.at("etc/cdi/" + fmt.file);
    write_file(f.dir / "usr/bin/nvidia-ctk", "#!/bin/sh\n", 0755);
    write_file(file, replaced(fmt.text, "/dev/nvidia1", "/dev/nvidia9")); // device 1's
    Caught c = error_of([&] { find_gpus(f.host, GpuRequest::parse("1"), {}); });
    CHECK(c.kind == ErrorKind::runtime);
    CHECK(c.what == "CDI spec " + file + " is stale: " + f.at("dev/nvidia9") +
                        " (device '1') does not exist\nhint: regenerate it after a driver "
                        "update: nvidia-ctk cdi generate --output=" +
                        file);
    fs::remove(f.dir / "usr/local/nvidia/lib64/libcuda.so.550.54.15");
    CHECK(error_of([&] { find_gpus(f.host, GpuRequest::parse("0"), {}); }).what ==
          "CDI spec " + file + " is stale: " + f.at("usr/local/nvidia/lib64/libcuda.so.550.54.15") +
              " (the spec) does not exist\nhint: regenerate it after a driver update: "
              "nvidia-ctk cdi generate --output=" +
              file);

    write_file(f.dir / "etc/cdi/nvidia.json", "{not json");
    Caught broken = error_of([&] { find_gpus(f.host, {}, {}); });
    CHECK(broken.kind == ErrorKind::runtime);
    CHECK(broken.what.rfind("CDI spec " + f.at("etc/cdi/nvidia.json") + ": not JSON: ", 0) == 0);

    // A spec of no kind is passed over: discovery.
    fs::remove(f.dir / "etc/cdi/nvidia.json");
    fs::remove(file);
    write_file(f.dir / "etc/cdi/nvidia.yaml", "cdiVersion: 0.5.0\n");
    CHECK(find_gpus(f.host, {}, {})->source == "discovery");
}

TEST_CASE("a YAML CDI spec outside the subset is reported with file, line and column") {
    FakeHost f;
    write_file(f.dir / "usr/bin/nvidia-ctk", "#!/bin/sh\n", 0755);
    const std::string file = f.at("etc/cdi/nvidia.yaml");
    auto error_for = [&](const std::string& text) {
        write_file(file, text);
        Caught c = error_of([&] { find_gpus(f.host, {}, {}); });
        CHECK(c.kind == ErrorKind::runtime);
        return c.what;
    };

    std::string alias = replaced(kCdiYaml, "name: \"1\"", "name: *one");
    CHECK(error_for(alias) == "CDI spec " + file + ":" + position_of(alias, "*one") +
                                  ": found an alias '*one' (outside the YAML subset read here)");
    CHECK(position_of(alias, "*one") == "9:13");

    std::string tab = replaced(kCdiYaml, "    env:", "\tenv:");
    CHECK(error_for(tab) == "CDI spec " + file + ":" + position_of(tab, "\tenv:") +
                                ": found a tab in the indentation (YAML indents with spaces)");

    std::string block = replaced(kCdiYaml, "- NVIDIA_VISIBLE_DEVICES=void", "- |\n          x");
    CHECK(error_for(block) == "CDI spec " + file + ":" + position_of(block, "|") +
                                  ": found a block scalar '|' (outside the YAML subset read here)");

    // Typed by the core schema, an unquoted 0 is a number: said so, not a crash.
    CHECK(error_for(replaced(kCdiYaml, "name: \"0\"", "name: 0")) ==
          "CDI spec " + file +
              ": a device's 'name' must be a string, not 0 (in YAML, quote it: "
              "name: \"0\")");

    // A field of another type than the CDI schema's, as a hand-written spec may have it.
    std::string mode = error_for(replaced(kCdiYaml, "fileMode: 432", "fileMode: \"0660\""));
    CHECK(mode.rfind("CDI spec " + file + ": a field has the wrong type: ", 0) == 0);
}

TEST_CASE("applying edits: devices, mounts, and loadable libraries") {
    FakeHost f;
    auto edits = find_gpus(f.host, GpuRequest::parse("0"), {"NVIDIA_DRIVER_CAPABILITIES=compute"});
    REQUIRE(edits);
    Store store(f.dir / "cache");
    auto bundle_with = [&](bool ldconfig, const std::string& name) {
        LayerBuilder b;
        b.add_content("/bin/placeholder", "x");
        if (ldconfig) {
            b.add_content("/sbin/ldconfig", "#!/bin/sh\n", 0755);
        }
        SourceImage img;
        LayerResult l = write_layer(store, b.finish(), {});
        img.layers.push_back(l);
        img.config.diff_ids.push_back(l.diff_id);
        img.config.config.cmd = Strings{"/bin/placeholder"};
        return Bundle::create(store, img, f.dir / name);
    };

    Bundle with = bundle_with(true, "b1");
    ContainerSpec spec = with.spec_for({});
    std::size_t mounts_before = spec.mounts.size();
    apply_gpu_edits(*edits, with, spec);
    CHECK(spec.devices.size() == edits->device_nodes.size());
    CHECK(spec.mounts.size() == mounts_before + edits->mounts.size());
    CHECK(read_file(with.rootfs() / "etc/ld.so.conf.d/00-ocibake-nvidia.conf") ==
          "/usr/local/nvidia/lib64\n");
    REQUIRE(spec.hooks.size() == 1);
    CHECK(spec.hooks[0].when == "createContainer");
    CHECK(fs::path(spec.hooks[0].path).filename() == "chroot");
    CHECK(spec.hooks[0].args ==
          Strings{"chroot", with.rootfs().string(), "/sbin/ldconfig", "/usr/local/nvidia/lib64"});
    CHECK_FALSE(spec.env_value("LD_LIBRARY_PATH"));
    std::string json = runtime_config_json(spec);
    CHECK(json.find("\"path\": \"/dev/nvidia0\",\n        \"type\": \"c\",\n        \"major\": "
                    "195,\n        \"minor\": 0") != std::string::npos);
    CHECK(json.find("\"createContainer\"") != std::string::npos);

    Bundle without = bundle_with(false, "b2");
    ContainerSpec plain = without.spec_for({});
    apply_gpu_edits(*edits, without, plain);
    CHECK(plain.hooks.empty());
    CHECK(plain.env_value("LD_LIBRARY_PATH") == "/usr/local/nvidia/lib64");
}
