// Deterministic layers: the tar dialect, compression, the tree walker and the layer cache.
#include <catch2/catch.hpp>

#include "layer/compress.hpp"
#include "layer/glob.hpp"
#include "layer/pipeline.hpp"
#include "ocibake/layer.hpp"
#include "support/checks.hpp"
#include "support/support.hpp"
#include "support/tar.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace ocibake;
using namespace ocibake::test;
namespace fs = std::filesystem;

namespace {

std::string random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) {
        // Half random, half text: compressible but not trivially.
        c = (rng() % 2) ? static_cast<char>(rng()) : static_cast<char>('a' + rng() % 8);
    }
    return s;
}

LayerOptions opts(Compression c, unsigned threads = 0) {
    LayerOptions o;
    o.compression = c;
    o.threads = threads;
    return o;
}

} // namespace

TEST_CASE("tar dialect: every entry type reads back exactly, with no host names") {
    ScratchDir dir("layer");
    Store store(dir / "cache");
    LayerBuilder b;
    b.add_directory("/etc", 0755);
    b.add_content("/etc/motd", "hello\n", 0644, 1000, 1001);
    b.add_content("/bin/tool", "#!/bin/sh\n", 04755);
    b.add_symlink("/bin/sh", "tool");
    b.add_symlink("/etc/abs", "/etc/motd");
    b.add_hardlink("/etc/motd-link", "/etc/motd");
    b.add_special("/run/fifo", EntryType::fifo, 0600);
    b.add_directory("/tmp", 01777);
    // ustar prefix/name split (> 100 bytes, < 256), then a PAX path (> 256).
    std::string split = "opt/" + std::string(90, 'd') + "/" + std::string(60, 'f');
    std::string pax = "opt/" + std::string(150, 'x') + "/" + std::string(150, 'y') + "/file";
    std::string long_target = "/" + std::string(120, 't');
    b.add_content(split, "split");
    b.add_content(pax, "pax");
    b.add_symlink("/opt/longlink", long_target);
    b.add_content("/big-ids", "ids", 0640, 3000000, 4000000); // over ustar's 7 octal digits
    LayerEntry x;
    x.path = "opt/xattr";
    x.content = "x";
    x.size = 1;
    x.xattrs = {{"security.capability", std::string("\x01\x00\x00\x02", 4)}, {"user.note", "yes"}};
    b.add(x);

    LayerOptions o = opts(Compression::none);
    o.source_date_epoch = 1700000000;
    LayerResult r = write_layer(store, b.finish(), o);
    CHECK(r.descriptor.digest == r.diff_id); // uncompressed: blob == tar
    CHECK(r.descriptor.media_type == "application/vnd.oci.image.layer.v1.tar");

    auto entries = read_tar(store.blob_path(r.descriptor.digest));
    std::map<std::string, TarEntry> by_path;
    std::vector<std::string> order;
    for (const auto& e : entries) {
        by_path[e.path] = e;
        order.push_back(e.path);
        CHECK(e.mtime == 1700000000);
        CHECK(e.uname.empty());
        CHECK(e.gname.empty());
    }
    CHECK(std::is_sorted(order.begin(), order.end()));
    CHECK(by_path.at("etc/").type == '5');
    CHECK(by_path.at("etc/motd").data == "hello\n");
    CHECK(by_path.at("etc/motd").uid == 1000);
    CHECK(by_path.at("etc/motd").gid == 1001);
    CHECK(by_path.at("bin/tool").mode == 04755);
    CHECK(by_path.at("bin/sh").link == "tool");
    CHECK(by_path.at("etc/abs").link == "/etc/motd"); // absolute targets kept verbatim
    CHECK(by_path.at("etc/motd-link").type == '1');
    CHECK(by_path.at("etc/motd-link").link == "etc/motd");
    CHECK(by_path.at("run/fifo").type == '6');
    CHECK(by_path.at("tmp/").mode == 01777);
    CHECK(by_path.at(split).data == "split");
    CHECK(by_path.at(pax).data == "pax");
    CHECK(by_path.at("opt/longlink").link == long_target);
    CHECK(by_path.at("big-ids").uid == 3000000);
    CHECK(by_path.at("big-ids").gid == 4000000);
    CHECK(by_path.at("opt/xattr").xattrs.at("user.note") == "yes");
    CHECK(by_path.at("opt/xattr").xattrs.at("security.capability").size() == 4);

    // The exact bytes are the format: pin them (tests/golden/layer/dialect.digest).
    CHECK(ocibake::test::matches_golden("layer/dialect.digest", r.diff_id.str() + "\n"));
}

TEST_CASE("gzip and zstd layers decompress with the standard tools and never depend on threads") {
    ScratchDir dir("compress");
    Store store(dir / "cache");
    // 5 MB over several files: several 1 MiB gzip members and zstd jobs.
    LayerBuilder b;
    for (int i = 0; i < 5; ++i) {
        write_file(dir / "in" / ("f" + std::to_string(i)), random_bytes(1000000 + i * 37, i));
    }
    b.add_tree(dir / "in", "/data");
    auto entries = b.finish();

    for (Compression c : {Compression::gzip, Compression::zstd}) {
        INFO(to_string(c));
        LayerResult one = write_layer(store, entries, opts(c, 1));
        LayerResult two = write_layer(store, entries, opts(c, 2));
        LayerResult four = write_layer(store, entries, opts(c, 4));
        CHECK(one.descriptor.digest == two.descriptor.digest);
        CHECK(one.descriptor.digest == four.descriptor.digest);
        CHECK(one.diff_id == two.diff_id);
        CHECK(one.descriptor.size == *store.blob_size(one.descriptor.digest));
        CHECK(one.descriptor.size < one.uncompressed_size);
        CHECK(one.descriptor.media_type == std::string(layer_media_type(c)));

        // An independent decompressor gives back the tar whose hash is the diffID.
        std::string tool = c == Compression::gzip ? "gzip -dc" : "zstd -dcq";
        auto out = ocibake::test::sh(tool + " '" + store.blob_path(one.descriptor.digest).string() +
                                     "' | sha256sum");
        REQUIRE(out.exit_code == 0);
        CHECK(out.out.substr(0, 64) == one.diff_id.hex());
        CHECK(detail::tar_diff_id(entries, 0) == one.diff_id);

        // Levels change the bytes (so they are part of the cache key), not the diffID.
        LayerOptions fast = opts(c);
        fast.level = 1;
        LayerResult l1 = write_layer(store, entries, fast);
        CHECK(l1.diff_id == one.diff_id);
        CHECK(l1.descriptor.digest != one.descriptor.digest);
    }
    LayerOptions bad = opts(Compression::zstd);
    bad.level = 30;
    CHECK(error_of([&] { write_layer(store, entries, bad); }).what ==
          "compression level 30 is out of range for zstd");
}

TEST_CASE(
    "gzip decompression: whole members by libdeflate and zlib from the first that does not fit") {
    ScratchDir dir("compress");
    // Members as ocibake writes them (1 MiB each), then a single 3 MB member from gzip(1)
    // (more than libdeflate's 2 MiB buffer: zlib takes over), then small members again.
    std::string plain;
    std::vector<std::string> parts = {random_bytes(1 << 20, 1), random_bytes(1 << 20, 2),
                                      random_bytes(3000000, 3), random_bytes(777, 4),
                                      std::string(1 << 20, 'z')};
    std::string stream;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        fs::path in = write_file(dir / ("p" + std::to_string(i)), parts[i]);
        auto gz = ocibake::test::sh("gzip -nc '" + in.string() + "'");
        REQUIRE(gz.exit_code == 0);
        stream += gz.out;
        plain += parts[i];
    }
    auto decompress = [](const std::string& input, std::size_t piece) {
        std::string out;
        auto d = detail::make_decompressor(
            Compression::gzip, [&](const char* data, std::size_t n) { out.append(data, n); },
            "layer x");
        for (std::size_t at = 0; at < input.size(); at += piece) {
            d->feed(input.data() + at, std::min(piece, input.size() - at));
        }
        d->finish();
        return out;
    };
    for (std::size_t piece : {std::size_t{7}, std::size_t{65536}, stream.size()}) {
        INFO(piece);
        CHECK(decompress(stream, piece) == plain);
    }
    CHECK_THROWS_WITH(decompress(stream.substr(0, stream.size() - 3), 65536),
                      "layer x: gzip: the gzip stream is truncated");
    CHECK_THROWS_WITH(decompress("", 65536), "layer x: gzip: the gzip stream is truncated");
    // A byte flipped in a 1 MiB member: zlib, taking over there, says what is wrong.
    std::string corrupt = stream;
    corrupt[(1 << 20) + 5000] = static_cast<char>(corrupt[(1 << 20) + 5000] ^ 0x40);
    CHECK_THROWS_WITH(decompress(corrupt, 65536), Catch::Matchers::StartsWith("layer x: gzip: "));
    // Trailing garbage after the members.
    CHECK_THROWS_WITH(decompress(stream + "garbage!", 65536),
                      Catch::Matchers::StartsWith("layer x: gzip: "));
}

TEST_CASE("globs match whole paths, ** spans directories, no locale") {
    using detail::Glob;
    CHECK(Glob("*.py").matches("a.py"));
    CHECK_FALSE(Glob("*.py").matches("pkg/a.py"));
    CHECK(Glob("**/*.py").matches("pkg/a.py"));
    CHECK(Glob("**/*.py").matches("a.py"));
    CHECK(Glob("pkg/**").matches("pkg"));
    CHECK(Glob("pkg/**").matches("pkg/x/y"));
    CHECK_FALSE(Glob("pkg/**").matches("pkgs/x"));
    CHECK(Glob("**/__pycache__").matches("a/b/__pycache__"));
    CHECK(Glob("file?.txt").matches("file1.txt"));
    CHECK_FALSE(Glob("file?.txt").matches("file10.txt"));
    CHECK(Glob("[a-c]x").matches("bx"));
    CHECK_FALSE(Glob("[!a-c]x").matches("bx"));
    CHECK(Glob("\\*").matches("*"));
    CHECK_FALSE(Glob("\\*").matches("a"));
    CHECK(Glob("a/*/c").matches("a/b/c"));
    CHECK_FALSE(Glob("a/*/c").matches("a/b/d/c"));
    CHECK(Glob("pkg/*.py").could_match_below("pkg"));
    CHECK_FALSE(Glob("pkg/*.py").could_match_below("other"));
    CHECK(Glob("**/x").could_match_below("any/where"));
    CHECK(error_of([] { Glob("[abc"); }).what == "glob '[abc' has an unclosed '['");
    CHECK(error_of([] { Glob("abc\\"); }).what == "glob 'abc\\' ends with a lone '\\'");
}

TEST_CASE("add_tree: sorted, normalised, filtered, hard links found") {
    ScratchDir dir("tree");
    fs::path src = dir / "src";
    write_file(src / "b.txt", "b", 0600);
    write_file(src / "a" / "run.sh", "#!/bin/sh\n", 0700);
    write_file(src / "a" / "data.pyc", "junk");
    write_file(src / "keep" / "x.py", "x", 0664);
    fs::create_directories(src / "empty");
    fs::create_directories(src / "__pycache__");
    write_file(src / "__pycache__" / "m.pyc", "junk");
    fs::create_symlink("b.txt", src / "link");
    fs::create_hard_link(src / "b.txt", src / "z-hard");
    ::chmod((src / "a").c_str(), 0700);

    SECTION("defaults normalise modes and owners") {
        LayerBuilder b;
        b.add_tree(src, "/opt/app");
        auto entries = b.finish();
        std::map<std::string, LayerEntry> m;
        std::vector<std::string> order;
        for (const auto& e : entries) {
            m[e.path] = e;
            order.push_back(e.path);
        }
        CHECK(std::is_sorted(order.begin(), order.end()));
        CHECK(m.count("opt") == 0); // parents above dst are not invented
        CHECK(m.at("opt/app").type == EntryType::directory);
        CHECK(m.at("opt/app/a").mode == 0755);
        CHECK(m.at("opt/app/a/run.sh").mode == 0755);
        CHECK(m.at("opt/app/b.txt").mode == 0644);
        CHECK(m.at("opt/app/keep/x.py").mode == 0644);
        CHECK(m.at("opt/app/empty").type == EntryType::directory);
        CHECK(m.at("opt/app/link").type == EntryType::symlink);
        CHECK(m.at("opt/app/link").link_target == "b.txt");
        CHECK(m.at("opt/app/b.txt").type == EntryType::file);
        CHECK(m.at("opt/app/z-hard").type == EntryType::hardlink);
        CHECK(m.at("opt/app/z-hard").link_target == "opt/app/b.txt");
        for (const auto& e : entries) {
            CHECK(e.uid == 0);
            CHECK(e.gid == 0);
        }
    }
    SECTION("preserve_modes, explicit modes and owners") {
        LayerBuilder b;
        CopyOptions o;
        o.preserve_modes = true;
        o.uid = 1000;
        o.gid = 100;
        b.add_tree(src, "/", o);
        std::map<std::string, LayerEntry> m;
        for (const auto& e : b.finish()) {
            m[e.path] = e;
        }
        CHECK(m.at("a").mode == 0700);
        CHECK(m.at("a/run.sh").mode == 0700);
        CHECK(m.at("b.txt").mode == 0600);
        CHECK(m.at("keep/x.py").mode == 0664);
        CHECK(m.at("b.txt").uid == 1000);
        CHECK(m.at("b.txt").gid == 100);

        LayerBuilder c;
        CopyOptions fixed;
        fixed.file_mode = 0640;
        fixed.dir_mode = 0750;
        c.add_tree(src, "/", fixed);
        std::map<std::string, LayerEntry> n;
        for (const auto& e : c.finish()) {
            n[e.path] = e;
        }
        CHECK(n.at("a/run.sh").mode == 0640);
        CHECK(n.at("a").mode == 0750);
        CHECK(n.at("link").mode == 0777);
    }
    SECTION("include and exclude") {
        LayerBuilder b;
        CopyOptions o;
        o.exclude = {"**/*.pyc", "**/__pycache__"};
        b.add_tree(src, "/", o);
        std::vector<std::string> paths;
        for (const auto& e : b.finish()) {
            paths.push_back(e.path);
        }
        CHECK(std::find(paths.begin(), paths.end(), "a/data.pyc") == paths.end());
        CHECK(std::find(paths.begin(), paths.end(), "__pycache__") == paths.end());
        CHECK(std::find(paths.begin(), paths.end(), "a/run.sh") != paths.end());

        LayerBuilder c;
        CopyOptions only;
        only.include = {"keep/**"};
        c.add_tree(src, "/srv", only);
        std::vector<std::string> kept;
        for (const auto& e : c.finish()) {
            kept.push_back(e.path);
        }
        CHECK(kept == std::vector<std::string>{"srv", "srv/keep", "srv/keep/x.py"});
    }
    SECTION("a single file goes to dst, or into dst/ when it ends in a slash") {
        LayerBuilder b;
        b.add_tree(src / "b.txt", "/etc/b.conf");
        b.add_tree(src / "b.txt", "/usr/share/doc/");
        b.add_tree(src / "b.txt", "/");
        auto entries = b.finish();
        REQUIRE(entries.size() == 3);
        CHECK(entries[0].path == "b.txt");
        CHECK(entries[1].path == "etc/b.conf");
        CHECK(entries[2].path == "usr/share/doc/b.txt");
        CHECK(error_of([&] { LayerBuilder().add_tree(src / "b.txt", "."); }).what ==
              "cannot copy the file " + (src / "b.txt").string() +
                  " onto the image root; give dst a file name or end it in '/'");
    }
    SECTION("later additions replace earlier ones, as COPY would") {
        LayerBuilder b;
        b.add_tree(src, "/");
        b.add_content("/b.txt", "override", 0600);
        for (const auto& e : b.finish()) {
            if (e.path == "b.txt") {
                CHECK(e.content == "override");
                CHECK(e.mode == 0600);
            }
            if (e.path == "z-hard") {
                // Its partner was replaced: no longer a link, it keeps the data itself.
                CHECK(e.type == EntryType::file);
            }
        }
    }
}

TEST_CASE("explicit hard links: the first path in order carries the data") {
    LayerBuilder b;
    b.add_content("/z/data", "payload", 0640, 7, 8);
    b.add_hardlink("/a/alias", "/z/data");
    auto entries = b.finish();
    REQUIRE(entries.size() == 2);
    CHECK(entries[0].path == "a/alias");
    CHECK(entries[0].type == EntryType::file);
    CHECK(entries[0].content == "payload");
    CHECK(entries[0].uid == 7);
    CHECK(entries[1].path == "z/data");
    CHECK(entries[1].type == EntryType::hardlink);
    CHECK(entries[1].link_target == "a/alias");

    LayerBuilder missing;
    missing.add_hardlink("/x", "/nowhere", "r.toml:3:1");
    CHECK(error_of([&] { missing.finish(); }).what ==
          "r.toml:3:1: hard link x points at nowhere, which is not in this layer");
    LayerBuilder to_dir;
    to_dir.add_directory("/d");
    to_dir.add_hardlink("/x", "/d");
    CHECK(error_of([&] { to_dir.finish(); }).what ==
          "hard link x points at d, which is a dir, not a file");
}

TEST_CASE("hostile and broken inputs are refused with the object named") {
    ScratchDir dir("hostile");
    fs::path src = dir / "src";
    fs::create_directories(src);

    SECTION("destinations that climb out of the image root") {
        CHECK(error_of([] { LayerBuilder().add_content("/../etc/passwd", "x"); }).what ==
              "image path '/../etc/passwd' escapes the image root");
        CHECK(error_of([] {
                  LayerBuilder().add_content("a/../../b", "x", 0644, 0, 0, "r.toml:9:7");
              }).what == "r.toml:9:7: image path 'a/../../b' escapes the image root");
        CHECK(error_of([] { LayerBuilder().add_content("/", "x"); }).what ==
              "image path '/' names the image root itself");
        CHECK(normalize_image_path("/usr//lib/./x/../y", "") == "usr/lib/y");
    }
    SECTION("a path below a symlink of the same layer (symlink-then-file)") {
        LayerBuilder b;
        b.add_symlink("/opt/link", "/etc", 0, 0, "r.toml:1:1");
        b.add_content("/opt/link/passwd", "owned", 0644, 0, 0, "r.toml:2:1");
        CHECK(error_of([&] { b.finish(); }).what == "r.toml:2:1: image path /opt/link/passwd lies "
                                                    "below /opt/link, which this layer makes a "
                                                    "symlink (r.toml:1:1)");
    }
    SECTION("missing, dangling and looping sources") {
        CHECK(error_of([&] {
                  LayerBuilder().add_tree(src / "nope", "/x", {}, "r.toml:4:7");
              }).what == "r.toml:4:7: " + (src / "nope").string() + " does not exist");
        fs::create_symlink("missing-target", src / "dangling");
        CHECK(error_of([&] { LayerBuilder().add_tree(src / "dangling", "/x"); }).what ==
              (src / "dangling").string() + " is a dangling symlink");
        fs::create_symlink("loop-b", src / "loop-a");
        fs::create_symlink("loop-a", src / "loop-b");
        CHECK(error_of([&] { LayerBuilder().add_tree(src / "loop-a", "/x"); }).what ==
              (src / "loop-a").string() + ": symlink loop");
    }
    SECTION("follow_symlinks: directory cycles and escapes") {
        fs::create_directories(src / "tree" / "sub");
        fs::create_symlink("..", src / "tree" / "sub" / "up");
        CopyOptions follow;
        follow.follow_symlinks = true;
        std::string msg =
            error_of([&] { LayerBuilder().add_tree(src / "tree", "/t", follow); }).what;
        CHECK(msg.find("symlink loop: ") == 0);
        CHECK(msg.find("leads back to a directory above it") != std::string::npos);

        fs::create_directories(src / "tree2");
        fs::create_symlink("/etc/hostname", src / "tree2" / "host");
        CHECK(error_of([&] {
                  LayerBuilder().add_tree(src / "tree2", "/t", follow);
              }).what.find("symlink " + (src / "tree2" / "host").string() + " points outside ") ==
              0);
        // Without following, the link itself is copied (its target is not read).
        LayerBuilder plain;
        plain.add_tree(src / "tree2", "/t");
        CHECK(plain.finish().back().link_target == "/etc/hostname");
    }
    SECTION("sockets cannot be layer entries") {
        int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::string path = (src / "sock").string();
        REQUIRE(path.size() < sizeof addr.sun_path);
        std::copy(path.begin(), path.end(), addr.sun_path);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        CHECK(error_of([&] { LayerBuilder().add_tree(src, "/s"); }).what ==
              path + " is a socket, which a layer cannot hold");
        ::close(fd);
    }
    SECTION("a file that changes after it was listed") {
        write_file(src / "grows", "12345");
        LayerBuilder b;
        b.add_tree(src / "grows", "/grows", {}, "r.toml:5:1");
        auto entries = b.finish();
        write_file(src / "grows", "1234567890");
        Store store(dir / "cache");
        CHECK(error_of([&] { write_layer(store, entries, opts(Compression::gzip)); }).what ==
              "r.toml:5:1: " + (src / "grows").string() +
                  " changed size (5 -> 10 bytes) while the layer was written; build again");
        // Nothing half-written is left in the cache.
        CHECK(fs::is_empty(dir / "cache" / "tmp"));
    }
}

TEST_CASE("whiteouts: written only as EntryType::whiteout, any other .wh. name refused") {
    ScratchDir dir("whiteout");
    Store store(dir / "cache");
    const std::string refusal =
        ": in an OCI layer a name starting with '.wh.' is a deletion, so no file may carry it; "
        "refused";

    SECTION("an explicit whiteout is the empty file DIR/.wh.NAME, mode 0, owned by 0:0") {
        LayerEntry w;
        w.path = "etc/passwd";
        w.type = EntryType::whiteout;
        w.mode = 0644; // ignored: a whiteout's header is fixed
        w.uid = 7;
        LayerEntry top;
        top.path = "gone";
        top.type = EntryType::whiteout;
        LayerOptions o = opts(Compression::none);
        o.source_date_epoch = 1700000000;
        LayerResult r = write_layer(store, {w, top}, o);
        auto entries = read_tar(store.blob_path(r.descriptor.digest));
        REQUIRE(entries.size() == 2);
        CHECK(entries[0].path == "etc/.wh.passwd");
        CHECK(entries[1].path == ".wh.gone");
        for (const auto& e : entries) {
            CHECK(e.type == '0');
            CHECK(e.mode == 0);
            CHECK(e.uid == 0);
            CHECK(e.gid == 0);
            CHECK(e.data.empty());
            CHECK(e.mtime == 1700000000);
        }
        CHECK(to_string(EntryType::whiteout) == std::string("whiteout"));
    }
    SECTION("the tar writer refuses any other entry with a .wh. component (the last line)") {
        LayerEntry e;
        e.path = "etc/.wh.passwd";
        e.origin = "somewhere";
        CHECK(error_of([&] { write_layer(store, {e}, opts(Compression::none)); }).what ==
              "somewhere: image path /etc/.wh.passwd would delete /etc/passwd of the image "
              "below" +
                  refusal);
        e.path = "etc/.wh..wh..opq";
        e.origin.clear();
        CHECK(error_of([&] { write_layer(store, {e}, opts(Compression::none)); }).what ==
              "image path /etc/.wh..wh..opq would empty /etc of the image below" + refusal);
        e.path = ".wh.x/inside";
        e.type = EntryType::directory;
        CHECK(error_of([&] { write_layer(store, {e}, opts(Compression::none)); }).what ==
              "image path /.wh.x/inside would delete /x of the image below" + refusal);
        LayerEntry w; // a whiteout of a name that is itself a whiteout name
        w.path = "a/.wh.b";
        w.type = EntryType::whiteout;
        CHECK(error_of([&] { write_layer(store, {w}, opts(Compression::none)); }).what ==
              "image path /a/.wh.b would delete /a/b of the image below" + refusal);
    }
    SECTION("recipe files and copies: refused with the origin and the host path") {
        CHECK(error_of([] {
                  LayerBuilder().add_content("/etc/.wh.passwd", "", 0644, 0, 0, "r.toml:3:9");
              }).what == "r.toml:3:9: image path /etc/.wh.passwd would delete /etc/passwd of the "
                         "image below" +
                             refusal);
        CHECK(error_of([] {
                  LayerBuilder().add_directory("/.wh..wh..opq", 0755, 0, 0, "r.toml:4:9");
              }).what ==
              "r.toml:4:9: image path /.wh..wh..opq would empty / of the image below" + refusal);
        fs::path src = dir / "tree";
        write_file(src / "etc" / ".wh.passwd", "");
        write_file(src / "etc" / "hosts", "h\n");
        CHECK(error_of([&] { LayerBuilder().add_tree(src, "/", {}, "r.toml:5:7"); }).what ==
              "r.toml:5:7: " + (src / "etc" / ".wh.passwd").string() +
                  ": image path /etc/.wh.passwd would delete /etc/passwd of the image below" +
                  refusal + " (rename it, or leave it out with exclude = [\"**/.wh.*\"])");
        CHECK(error_of([&] {
                  LayerBuilder().add_tree(src / "etc" / ".wh.passwd", "/opt/", {}, "r.toml:6:7");
              }).what == "r.toml:6:7: image path /opt/.wh.passwd would delete /opt/passwd of the "
                         "image below" +
                             refusal + " (the host file " + (src / "etc" / ".wh.passwd").string() +
                             ")");
        // What the message suggests works.
        CopyOptions skip;
        skip.exclude = {"**/.wh.*"};
        LayerBuilder b;
        b.add_tree(src, "/", skip);
        auto entries = b.finish();
        REQUIRE(entries.size() == 2);
        CHECK(entries[1].path == "etc/hosts");
        // A prepared entry (as the Python installer adds) likewise.
        LayerEntry e;
        e.path = "/usr/lib/.wh.python3";
        e.origin = "wheel x.whl";
        CHECK(error_of([&] { LayerBuilder().add(e); }).what ==
              "wheel x.whl: image path /usr/lib/.wh.python3 would delete /usr/lib/python3 of the "
              "image below" +
                  refusal);
    }
}

TEST_CASE("xattrs are copied only when asked") {
    ScratchDir dir("xattr");
    fs::path f = write_file(dir / "src" / "f", "x");
    if (::setxattr(f.c_str(), "user.origin", "test", 4, 0) != 0) {
        return ocibake::test::skip("the file system of " + dir.path().string() +
                                   " has no user xattrs");
    }
    LayerBuilder plain;
    plain.add_tree(dir / "src", "/");
    CHECK(plain.finish().at(0).xattrs.empty());
    LayerBuilder asked;
    CopyOptions o;
    o.xattrs = true;
    asked.add_tree(dir / "src", "/", o);
    auto e = asked.finish().at(0);
    REQUIRE(e.xattrs.size() == 1);
    CHECK(e.xattrs[0].first == "user.origin");
    CHECK(e.xattrs[0].second == "test");
}

TEST_CASE("layer cache: untouched inputs are a hit, touched ones re-hashed, changed ones rebuilt") {
    ScratchDir dir("lcache");
    Store store(dir / "cache");
    fs::path src = dir / "src";
    write_file(src / "a", "alpha");
    write_file(src / "b", "beta");
    auto plan = [&] {
        LayerBuilder b;
        b.add_tree(src, "/app");
        return b.finish();
    };
    LayerOptions o = opts(Compression::gzip);
    CacheStatus status{};
    LayerResult first = build_layer(store, plan(), o, &status);
    CHECK(status == CacheStatus::built);

    LayerResult again = build_layer(store, plan(), o, &status);
    CHECK(status == CacheStatus::hit);
    CHECK(again.descriptor.digest == first.descriptor.digest);

    // Same bytes, new mtime: identities differ, contents do not.
    fs::last_write_time(src / "a", fs::file_time_type::clock::now() - std::chrono::hours(5));
    LayerResult touched = build_layer(store, plan(), o, &status);
    CHECK(status == CacheStatus::verified);
    CHECK(touched.descriptor.digest == first.descriptor.digest);
    build_layer(store, plan(), o, &status);
    CHECK(status == CacheStatus::hit); // and remembered

    write_file(src / "a", "ALPHA");
    LayerResult changed = build_layer(store, plan(), o, &status);
    CHECK(status == CacheStatus::built);
    CHECK(changed.diff_id != first.diff_id);

    // Another compression of the same tar is another blob.
    LayerResult zstd = build_layer(store, plan(), opts(Compression::zstd), &status);
    CHECK(status == CacheStatus::built);
    CHECK(zstd.diff_id == changed.diff_id);

    // A blob lost from the store is rebuilt, not trusted.
    fs::remove(store.blob_path(zstd.descriptor.digest));
    build_layer(store, plan(), opts(Compression::zstd), &status);
    CHECK(status == CacheStatus::built);
    CHECK(store.has_blob(zstd.descriptor.digest));

    // The epoch is part of the tar: another epoch, another layer.
    LayerOptions later = o;
    later.source_date_epoch = 1700000000;
    LayerResult dated = build_layer(store, plan(), later, &status);
    CHECK(status == CacheStatus::built);
    CHECK(dated.diff_id != changed.diff_id);
}
