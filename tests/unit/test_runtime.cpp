// The runtime module without a runtime: unpacking layers into a root file system (the
// changeset rules, hostile layers made here with libarchive), docker archives, the
// container spec from an image (users, env, hosts) and config.json (golden).
#include "common/dynamic_library.hpp"
#include "common/process.hpp"
#include "ocibake/runtime.hpp"
#include "support/checks.hpp"
#include "support/tar.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

using namespace ocibake;
using namespace ocibake::test;
namespace fs = std::filesystem;

namespace {

/// Stores a plain tar layer: its digest is its diffID.
LayerResult put_layer(Store& store, const std::vector<TarItem>& items) {
    return put_tar_layer(store, make_tar(items));
}

std::string label(const LayerResult& l, int n = 1) {
    return "layer " + std::to_string(n) + " (" + l.descriptor.digest.str() + ")";
}

struct Fixture {
    ScratchDir dir{"runtime"};
    Store store{dir / "cache"};
    fs::path root = dir / "rootfs";
    Fixture() { fs::create_directories(root); }

    UnpackStats apply(const LayerResult& l, int n = 1) {
        return unpack_layer(store, l, root, label(l, n));
    }
    bool exists(const std::string& rel) const {
        struct stat st;
        return ::lstat((root / rel).c_str(), &st) == 0;
    }
    struct stat stat_of(const std::string& rel) const {
        struct stat st {};
        REQUIRE(::lstat((root / rel).c_str(), &st) == 0);
        return st;
    }
};

/// A SourceImage made with the library (like a built image, without a recipe).
SourceImage image_of(Store& store, const std::vector<std::vector<TarItem>>& layers,
                     const oci::ContainerConfig& config = {}) {
    SourceImage img;
    img.config.config = config;
    for (const auto& items : layers) {
        LayerResult l = put_layer(store, items);
        img.layers.push_back(l);
        img.config.diff_ids.push_back(l.diff_id);
        img.manifest.layers.push_back(l.descriptor);
    }
    return img;
}

} // namespace

TEST_CASE("unpack keeps modes, owners, times, links, fifos and devices") {
    REQUIRE(::geteuid() == 0); // owners and devices need root, as runc does
    Fixture f;
    f.apply(put_layer(f.store, {
                                   {"usr/", 'd', "", 0750, 5, 6, 1111},
                                   {"usr/bin/tool", 'f', "#!/bin/sh\n", 04755, 1000, 1000, 2222},
                                   {"usr/bin/alias", 'h', "usr/bin/tool"},
                                   {"usr/bin/sym", 'l', "tool", 0777, 7, 8},
                                   {"run/pipe", 'p', "", 0600},
                                   {"dev/null2", 'c', "", 0666, 0, 0, 0, 1, 3},
                                   {"./etc/conf", 'f', "x=1\n"},
                               }));
    auto dir = f.stat_of("usr");
    CHECK(S_ISDIR(dir.st_mode));
    CHECK((dir.st_mode & 07777) == 0750);
    CHECK(dir.st_uid == 5);
    CHECK(dir.st_gid == 6);
    CHECK(dir.st_mtime == 1111); // set after its children were written
    auto tool = f.stat_of("usr/bin/tool");
    CHECK((tool.st_mode & 07777) == 04755); // setuid survives the chown
    CHECK(tool.st_uid == 1000);
    CHECK(tool.st_mtime == 2222);
    CHECK(read_file(f.root / "usr/bin/tool") == "#!/bin/sh\n");
    CHECK(f.stat_of("usr/bin/alias").st_ino == tool.st_ino);
    CHECK(f.stat_of("usr/bin/tool").st_nlink == 2);
    auto sym = f.stat_of("usr/bin/sym");
    CHECK(S_ISLNK(sym.st_mode));
    CHECK(sym.st_uid == 7);
    CHECK(fs::read_symlink(f.root / "usr/bin/sym") == "tool");
    CHECK(S_ISFIFO(f.stat_of("run/pipe").st_mode));
    auto dev = f.stat_of("dev/null2");
    CHECK(S_ISCHR(dev.st_mode));
    CHECK(major(dev.st_rdev) == 1);
    CHECK(minor(dev.st_rdev) == 3);
    CHECK(read_file(f.root / "etc/conf") == "x=1\n");
    // Parents no layer names are made 0755 root.
    CHECK((f.stat_of("run").st_mode & 07777) == 0755);
}

TEST_CASE("whiteouts and opaque directories follow the OCI changeset rules") {
    Fixture f;
    LayerResult base = put_layer(f.store, {
                                              {"a/file1", 'f', "1"},
                                              {"a/file2", 'f', "2"},
                                              {"a/sub/x", 'f', "x"},
                                              {"b/keep", 'f', "k"},
                                              {"c", 'f', "c"},
                                              {"d/old1", 'f', "o"},
                                              {"d/olddir/deep", 'f', "o"},
                                              {"x", 'd'},
                                              {"x/inside", 'f', "i"},
                                              {"y", 'f', "y"},
                                          });
    LayerResult top = put_layer(f.store, {
                                             {"a/.wh.file1", 'f'},
                                             {".wh.c", 'f'},
                                             {"d/.wh..wh..opq", 'f'},
                                             {"d/new", 'f', "n"},
                                             {"a/sub/.wh..wh..opq", 'f'},
                                             {"e/new", 'f', "n"},
                                             {"e/.wh.new", 'f'}, // same layer: kept
                                             {"a/.wh.never-there", 'f'},
                                             {".wh.nodir/.wh.x", 'f'},
                                             {"x", 'f', "now a file"},
                                             {"y/", 'd'},
                                             {"y/z", 'f', "z"},
                                         });
    f.apply(base, 1);
    UnpackStats stats = f.apply(top, 2);
    CHECK(stats.whiteouts == 7);
    CHECK_FALSE(f.exists("a/file1"));
    CHECK(f.exists("a/file2"));
    CHECK(f.exists("a/sub"));
    CHECK(fs::is_empty(f.root / "a/sub"));
    CHECK_FALSE(f.exists("c"));
    CHECK(f.exists("b/keep"));
    CHECK(f.exists("d/new"));
    CHECK_FALSE(f.exists("d/old1"));
    CHECK_FALSE(f.exists("d/olddir"));
    CHECK(f.exists("e/new"));
    CHECK(read_file(f.root / "x") == "now a file");
    CHECK(read_file(f.root / "y/z") == "z");
    // No whiteout file is ever written.
    for (const auto& e : fs::recursive_directory_iterator(f.root)) {
        INFO(e.path());
        CHECK(e.path().filename().string().rfind(".wh.", 0) != 0);
    }
}

TEST_CASE("hostile layers are refused with the entry named, nothing written outside") {
    Fixture f;
    fs::path outside = f.dir / "outside";
    fs::create_directories(outside);
    write_file(outside / "passwd", "host\n");
    auto refused = [&](const std::vector<TarItem>& items) {
        LayerResult l = put_layer(f.store, items);
        Caught c = error_of([&] { f.apply(l); });
        CHECK(c.kind == ErrorKind::input);
        return c.what.substr(label(l).size());
    };

    SECTION("a path with ..") {
        CHECK(refused({{"../../etc/passwd", 'f', "pwned"}}) ==
              ": entry '../../etc/passwd' escapes the image root");
        CHECK(refused({{"a/../../x", 'f', "pwned"}}) ==
              ": entry 'a/../../x' escapes the image root");
    }
    SECTION("an absolute path") {
        CHECK(refused({{"/abs", 'f', "pwned"}}) == ": entry '/abs' escapes the image root");
    }
    SECTION("a symlink to / then a file below it") {
        CHECK(refused({{"evil", 'l', "/"}, {"evil/etc/shadow", 'f', "pwned"}}) ==
              ": entry 'evil/etc/shadow': 'evil' is a symlink to '/', outside the image root");
    }
    SECTION("a symlink to a host directory, in a lower layer") {
        f.apply(put_layer(f.store, {{"lib/evil", 'l', outside.string()}}));
        CHECK(refused({{"lib/evil/passwd", 'f', "pwned"}}) ==
              ": entry 'lib/evil/passwd': 'lib/evil' is a symlink to '" + outside.string() +
                  "', outside the image root");
    }
    SECTION("a relative symlink that climbs out") {
        CHECK(refused({{"up", 'l', "../../.."}, {"up/x", 'f', "pwned"}}) ==
              ": entry 'up/x': a symlink on the way climbs above the image root");
    }
    SECTION("a hard link out of the root") {
        CHECK(refused({{"h", 'h', "../../etc/passwd"}}) ==
              ": entry 'h': hard link to '../../etc/passwd' points outside the image root");
        CHECK(refused({{"evil", 'l', outside.string()}, {"h", 'h', "evil/passwd"}}) ==
              ": entry 'h': 'evil' is a symlink to '" + outside.string() +
                  "', outside the image root");
    }
    SECTION("a whiteout through a symlink") {
        CHECK(refused({{"evil", 'l', outside.string()}, {"evil/.wh.passwd", 'f'}}) ==
              ": whiteout 'evil/.wh.passwd': 'evil' is a symlink to '" + outside.string() +
                  "', outside the image root");
    }
    CHECK(read_file(outside / "passwd") == "host\n");
    CHECK(std::distance(fs::directory_iterator(outside), fs::directory_iterator()) == 1);
}

TEST_CASE("whiteouts that name no entry are refused by name, before anything is removed") {
    Fixture f;
    f.apply(put_layer(f.store, {{"a/keep", 'f', "k"}, {"b", 'f', "b"}}), 1);
    auto refused = [&](const std::string& name) {
        LayerResult l = put_layer(f.store, {{name, 'f'}});
        Caught c = error_of([&] { f.apply(l, 2); });
        CHECK(c.kind == ErrorKind::input);
        return c.what.substr(label(l, 2).size());
    };
    // 'a/.wh..' named a/. (which removed /a); 'a/.wh...' named a/.. (the root).
    CHECK(refused("a/.wh..") ==
          ": whiteout 'a/.wh..' would delete '.': a whiteout must name an entry of its directory");
    CHECK(refused("a/.wh...") == ": whiteout 'a/.wh...' would delete '..': a whiteout must name "
                                 "an entry of its directory");
    CHECK(refused("a/.wh.") ==
          ": whiteout 'a/.wh.' would delete '': a whiteout must name an entry of its directory");
    CHECK(refused(".wh...") ==
          ": whiteout '.wh...' would delete '..': a whiteout must name an entry of its directory");
    // An opaque marker in a directory that is a file: the rules refuse it (it was an I/O
    // error, the file system stopping it).
    CHECK(refused("b/.wh..wh..opq") == ": whiteout 'b/.wh..wh..opq': 'b' is not a directory");
    CHECK(read_file(f.root / "a/keep") == "k");
    CHECK(read_file(f.root / "b") == "b");
}

TEST_CASE("check_layers: run's rules without unpacking, the same verdicts and messages") {
    Fixture f;
    fs::path outside = f.dir / "outside";
    // Each stack of layers: what unpacking the top one says, and what check_layers says.
    std::vector<std::vector<std::vector<TarItem>>> stacks = {
        {{{"../../etc/passwd", 'f', "pwned"}}},
        {{{"/abs", 'f', "pwned"}}},
        {{{"evil", 'l', "/"}, {"evil/etc/shadow", 'f', "pwned"}}},
        {{{"lib/evil", 'l', outside.string()}}, {{"lib/evil/passwd", 'f', "pwned"}}},
        {{{"up", 'l', "../../.."}, {"up/x", 'f', "pwned"}}},
        {{{"h", 'h', "../../etc/passwd"}}},
        {{{"h", 'h', "missing"}}},
        {{{"d/", 'd'}, {"h", 'h', "d"}}},
        {{{"evil", 'l', outside.string()}, {"evil/.wh.passwd", 'f'}}},
        {{{"a/keep", 'f', "k"}}, {{"a/.wh..", 'f'}}},
        {{{"f", 'f'}}, {{"f/.wh..wh..opq", 'f'}}},
        {{{"f", 'f'}}, {{"f/x", 'f'}}},
        {{{"d/", 'd'}, {"d/x", 'f'}},
         {{"d/.wh..wh..opq", 'f'}, {".wh.d", 'f'}, {"d", 'l', "/"}},
         {{"d/y", 'f'}}},
    };
    for (const auto& stack : stacks) {
        ScratchDir root("check-root");
        SourceImage image = image_of(f.store, stack);
        Caught run = error_of([&] { unpack_image(f.store, image, root / "rootfs"); });
        std::vector<LayerCheck> checks = check_layers(f.store, image.layers);
        INFO(run.what);
        REQUIRE(checks.size() == stack.size());
        for (std::size_t i = 0; i + 1 < checks.size(); ++i) {
            CHECK(checks[i].status == LayerCheck::Status::passed);
        }
        CHECK(checks.back().status == LayerCheck::Status::refused);
        CHECK(checks.back().kind == run.kind);
        CHECK(checks.back().detail == run.what);
    }
    // Layers that unpack pass: whiteouts, opaque directories, relative symlinks followed.
    SourceImage good =
        image_of(f.store, {{{"usr/lib/", 'd'}, {"lib", 'l', "usr/lib"}, {"a/x", 'f'}, {"d/y", 'f'}},
                           {{"lib/libx.so", 'f', "elf"}, {"a/.wh.x", 'f'}, {"d/.wh..wh..opq", 'f'}},
                           {{"a/x", 'h', "lib/libx.so"}, {"d/y/z", 'f'}}});
    for (const LayerCheck& c : check_layers(f.store, good.layers)) {
        CHECK(c.status == LayerCheck::Status::passed);
        CHECK(c.detail.empty());
    }
}

TEST_CASE("check_layers: verdicts are kept by ChainID, and layers not in the store are unchecked") {
    Fixture f;
    SourceImage image =
        image_of(f.store, {{{"a", 'f'}}, {{"b", 'l', "/"}, {"b/x", 'f'}}, {{"c", 'f'}}});
    std::vector<LayerCheck> first = check_layers(f.store, image.layers);
    REQUIRE(first.size() == 3);
    CHECK(first[1].status == LayerCheck::Status::refused);
    CHECK(first[1].detail == label(image.layers[1], 2) +
                                 ": entry 'b/x': 'b' is a symlink to '/', outside the image root");
    // Kept: no blob is read again (they are gone), the verdicts are the same.
    for (const LayerResult& l : image.layers) {
        fs::remove(f.store.blob_path(l.descriptor.digest));
    }
    std::vector<LayerCheck> again = check_layers(f.store, image.layers);
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(again[i].status == first[i].status);
        CHECK(again[i].detail == first[i].detail);
    }
    // The same layers over another layer are another chain: not kept, and not readable.
    LayerResult other = put_layer(f.store, {{"z", 'f'}});
    std::vector<LayerResult> over = {other, image.layers[0], image.layers[1]};
    std::vector<LayerCheck> missing = check_layers(f.store, over);
    CHECK(missing[0].status == LayerCheck::Status::passed);
    CHECK(missing[1].status == LayerCheck::Status::unchecked);
    CHECK(missing[1].detail == "its blob is not in the cache");
    CHECK(missing[2].status == LayerCheck::Status::unchecked);
    CHECK(missing[2].detail ==
          "the blob of " + label(image.layers[0], 2) + " below it is not in the cache");
}

TEST_CASE("symlinks that stay inside are followed: a file replaces a symlink, never its target") {
    Fixture f;
    write_file(f.dir / "outside/keep", "host\n");
    f.apply(put_layer(f.store, {{"usr/lib/", 'd'},
                                {"lib", 'l', "usr/lib"},
                                {"etc/passwd", 'l', (f.dir / "outside/keep").string()}}));
    f.apply(put_layer(f.store, {{"lib/libx.so", 'f', "elf"}, {"etc/passwd", 'f', "root:x:0:0"}}),
            2);
    CHECK(read_file(f.root / "usr/lib/libx.so") == "elf");
    CHECK_FALSE(fs::is_symlink(f.root / "etc/passwd"));
    CHECK(read_file(f.dir / "outside/keep") == "host\n");
}

TEST_CASE("layer bytes are verified while they stream") {
    Fixture f;
    SECTION("a wrong diffID") {
        LayerResult l = put_layer(f.store, {{"a", 'f', "a"}});
        Digest claimed = sha256_of("something else");
        l.diff_id = claimed;
        Caught c = error_of([&] { f.apply(l); });
        CHECK(c.kind == ErrorKind::integrity);
        CHECK(c.what == label(l) + " decompresses to " + l.descriptor.digest.str() +
                            ", but the image config says " + claimed.str());
    }
    SECTION("a corrupt blob in the store") {
        LayerResult l = put_layer(f.store, {{"a", 'f', std::string(5000, 'a')}});
        fs::path blob = f.store.blob_path(l.descriptor.digest);
        fs::permissions(blob, fs::perms::owner_write, fs::perm_options::add);
        std::string bytes = read_file(blob);
        bytes[1000] ^= 1;
        write_file(blob, bytes);
        Caught c = error_of([&] { f.apply(l); });
        CHECK(c.kind == ErrorKind::integrity);
        CHECK(c.what.find(l.descriptor.digest.str()) != std::string::npos);
    }
    SECTION("a large gzip layer made by the layer pipeline") {
        std::string big = ocibake::test::pseudo_random(24 << 20, 42);
        LayerBuilder b;
        b.add_content("/data/big.bin", big);
        b.add_content("/data/small", "s");
        LayerOptions o;
        o.compression = Compression::gzip;
        LayerResult l = write_layer(f.store, b.finish(), o);
        UnpackStats stats = f.apply(l);
        CHECK(stats.bytes == big.size() + 1);
        CHECK(read_file(f.root / "data/big.bin") == big);
    }
}

TEST_CASE("docker archives load into the store and unpack like the OCI layout") {
    Fixture f;
    LayerBuilder b;
    b.add_content("/hello", "hi\n", 0755);
    b.add_symlink("/bin/sh", "busybox");
    Image image;
    image.config.config.cmd = std::vector<std::string>{"/hello"};
    image.add_layer(write_layer(f.store, b.finish(), {}), "test");
    BuiltImage built = assemble_image(f.store, image);
    write_image(f.store, built, OutputTarget::parse("oci:" + (f.dir / "layout").string()), "t",
                "v1");
    write_image(f.store, built, OutputTarget::parse("docker-archive:" + (f.dir / "a.tar").string()),
                "t", "v1");

    SourceImage from_layout = load_image(f.store, (f.dir / "layout").string());
    SourceImage from_archive = load_image(f.store, (f.dir / "a.tar").string());
    CHECK(from_layout.manifest_descriptor.digest == built.manifest_descriptor.digest);
    CHECK_FALSE(from_archive.manifest_descriptor.digest.valid());
    CHECK(from_archive.manifest.config.digest == built.config_descriptor.digest);
    REQUIRE(from_archive.layers.size() == 1);
    CHECK(from_archive.layers[0].diff_id == built.layers[0].diff_id);
    CHECK(from_archive.layers[0].descriptor.media_type == oci::media_type::layer_tar);
    unpack_image(f.store, from_layout, f.dir / "r1");
    unpack_image(f.store, from_archive, f.dir / "r2");
    CHECK(ocibake::test::describe_tree(f.dir / "r1") == ocibake::test::describe_tree(f.dir / "r2"));
    CHECK(read_file(f.dir / "r2/hello") == "hi\n");

    Caught missing = error_of([&] { load_image(f.store, (f.dir / "nope").string()); });
    CHECK(missing.kind == ErrorKind::input);
    CHECK(missing.what == "image " + (f.dir / "nope").string() + ": " + (f.dir / "nope").string() +
                              " does not exist");
}

TEST_CASE("the container spec comes from the image config and its /etc/passwd") {
    Fixture f;
    oci::ContainerConfig config;
    config.entrypoint = std::vector<std::string>{"/bin/entry"};
    config.cmd = std::vector<std::string>{"serve", "--port=80"};
    config.env = {"PATH=/opt/bin:/bin", "LANG=C.UTF-8"};
    config.working_dir = "/srv";
    config.user = "app";
    SourceImage img =
        image_of(f.store,
                 {{{"etc/passwd", 'f',
                    "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:App:/home/app:/bin/sh\n"},
                   {"etc/group", 'f',
                    "root:x:0:\napp:x:1001:\nvideo:x:44:app,other\nwheel:x:10:"
                    "root\n"}}},
                 config);
    Bundle bundle = Bundle::create(f.store, img, f.dir / "bundle");

    ContainerSpec spec = bundle.spec_for({});
    CHECK(spec.args == std::vector<std::string>{"/bin/entry", "serve", "--port=80"});
    CHECK(spec.uid == 1000);
    CHECK(spec.gid == 1001);
    CHECK(spec.additional_gids == std::vector<std::uint32_t>{44});
    CHECK(spec.cwd == "/srv");
    CHECK(spec.env == std::vector<std::string>{"PATH=/opt/bin:/bin", "LANG=C.UTF-8",
                                               "HOME=/home/app", "HOSTNAME=ocibake"});
    CHECK(read_file(f.dir / "bundle/etc/hosts") ==
          "127.0.0.1\tlocalhost ocibake\n::1\tlocalhost ip6-localhost ip6-loopback\n");

    ContainerOverrides o;
    o.cmd = std::vector<std::string>{"check"};
    o.env = {"LANG=C", "EXTRA=1"};
    o.user = "1000:wheel";
    ContainerSpec s2 = bundle.spec_for(o);
    CHECK(s2.args == std::vector<std::string>{"/bin/entry", "check"});
    CHECK(s2.gid == 10);
    CHECK(s2.env_value("LANG") == "C");
    CHECK(s2.env_value("EXTRA") == "1");

    o.args = std::vector<std::string>{"/bin/sh", "-c", "true"};
    o.user = "4242";
    ContainerSpec s3 = bundle.spec_for(o);
    CHECK(s3.args == *o.args);
    CHECK(s3.uid == 4242);
    CHECK(s3.gid == 0);
    CHECK(s3.env_value("HOME") == "/");

    o.user = "ghost";
    CHECK(error_of([&] { bundle.spec_for(o); }).what ==
          "user 'ghost' is not in the image's /etc/passwd");
    o.user = "app:ghosts";
    CHECK(error_of([&] { bundle.spec_for(o); }).what ==
          "group 'ghosts' is not in the image's /etc/group");
}

TEST_CASE("config.json follows the runtime spec (golden)") {
    ContainerSpec spec;
    spec.args = {"/bin/sh", "-c", "echo hi"};
    spec.env = {"PATH=/bin", "HOME=/root"};
    spec.cwd = "/work";
    spec.uid = 1000;
    spec.gid = 1000;
    spec.additional_gids = {44};
    spec.hostname = "box";
    spec.read_only_root = true;
    spec.shm_size = 1 << 30;
    spec.mounts.push_back(Mount::bind("/srv/data", "/data", true));
    DeviceNode gpu;
    gpu.path = "/dev/nvidia0";
    gpu.major = 195;
    gpu.minor = 0;
    spec.devices.push_back(gpu);
    Hook hook;
    hook.path = "/usr/sbin/chroot";
    hook.args = {"chroot", "/b/rootfs", "/sbin/ldconfig"};
    spec.hooks.push_back(hook);
    CHECK(ocibake::test::matches_golden("runtime/config.json", runtime_config_json(spec)));

    spec.network = Network::host;
    spec.uid = 0;
    std::string host = runtime_config_json(spec);
    CHECK(host.find("\"network\"") == std::string::npos);
    CHECK(host.find("\"effective\": [\n        \"CAP_AUDIT_WRITE\"") != std::string::npos);
}

TEST_CASE("volumes: HOST:CONTAINER[:ro|:rw]") {
    ScratchDir dir("vol");
    Mount m = Mount::parse_volume(dir.path().string() + ":/data:ro");
    CHECK(m.source == dir.path().string());
    CHECK(m.destination == "/data");
    CHECK(m.options == std::vector<std::string>{"rbind", "rprivate", "ro"});
    CHECK(Mount::parse_volume(dir.path().string() + ":/data").options.size() == 2);
    CHECK(error_of([&] { Mount::parse_volume("/nonexistent-x:/data"); }).what ==
          "volume '/nonexistent-x:/data': /nonexistent-x does not exist");
    CHECK(error_of([&] { Mount::parse_volume(dir.path().string() + ":data"); }).kind ==
          ErrorKind::usage);
    CHECK(error_of([&] { Mount::parse_volume(dir.path().string() + ":/d:rx"); }).what ==
          "volume '" + dir.path().string() + ":/d:rx': mode 'rx' must be ro or rw");
    CHECK(error_of([&] { Mount::parse_volume("nocolon"); }).what ==
          "volume 'nocolon' must be HOST:CONTAINER[:ro|:rw]");
}

// spawn() is posix_spawn with file actions: the extra fds land on their numbers also when
// two of them swap places, nothing else above them stays open, and a program that cannot
// be started is an error naming it (a fork child used to exit 127).
TEST_CASE(
    "spawn: extra fds land on their numbers (swapped ones too) and a missing program is named") {
    int a[2], b[2];
    REQUIRE(::pipe2(a, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(b, O_CLOEXEC) == 0);
    // The write ends at 41 and 40, to be the child's 40 and 41: each on the other's number.
    REQUIRE(::dup3(a[1], 41, O_CLOEXEC) == 41);
    REQUIRE(::dup3(b[1], 40, O_CLOEXEC) == 40);
    ::close(a[1]);
    ::close(b[1]);
    detail::SpawnOptions o;
    o.capture = true;
    o.fds = {{40, 41}, {41, 40}};
    detail::Spawned s = detail::spawn(
        {"/bin/bash", "-c", "echo to-a >&40; echo to-b >&41; ls /proc/self/fd | sort -n | tail -1"},
        o);
    ::close(40);
    ::close(41);
    auto read_all = [](int fd) {
        std::string text;
        char buf[256];
        ssize_t n;
        while ((n = ::read(fd, buf, sizeof buf)) > 0) {
            text.append(buf, static_cast<std::size_t>(n));
        }
        return text;
    };
    std::string out = read_all(s.out.get());
    int status = 0;
    REQUIRE(::waitpid(s.pid, &status, 0) == s.pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(read_all(a[0]) == "to-a\n"); // our 41 was the child's 40
    CHECK(read_all(b[0]) == "to-b\n");
    CHECK(out == "41\n"); // ls's own directory fd is closed by the time sort reads
    ::close(a[0]);
    ::close(b[0]);

    Caught e = error_of([] { detail::spawn({"/nonexistent/program"}, {}); });
    CHECK(e.kind == ErrorKind::io);
    CHECK(e.what == "cannot start /nonexistent/program: No such file or directory");
}

TEST_CASE("a library loaded on first use that is missing is named, with its Debian package") {
    Caught e =
        error_of([] { detail::DynamicLibrary("libocibake-missing.so.9", "testing", "nope"); });
    CHECK(e.kind == ErrorKind::runtime);
    CHECK(e.what.starts_with("testing needs libocibake-missing.so.9, which could not be loaded: "));
    CHECK(e.what.ends_with(" (Debian: apt-get install nope)"));
    int (*slot)() = nullptr;
    Caught missing = error_of([&] {
        detail::DynamicLibrary("libc.so.6", "testing", "libc6").resolve("no_such_function", slot);
    });
    CHECK(missing.what.starts_with("libc.so.6 has no no_such_function ("));
}
