// Bugs the fuzz targets (fuzz/, docs/fuzzing.md) found, or that reading a parser for its
// target showed, one TEST_CASE each: the smallest input that shows it, made here, and the
// answer the parser must give instead.
#include "apt/deb.hpp"
#include "apt/effects.hpp"
#include "apt/image_build.hpp"
#include "layer/archive_input.hpp"
#include "ocibake/lock.hpp"
#include "ocibake/python.hpp"
#include "ocibake/remote_cache.hpp"
#include "ocibake/runtime.hpp"
#include "python/pylock.hpp"
#include "support/checks.hpp"
#include "support/tar.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <vector>

using namespace ocibake;
using namespace ocibake::test;
namespace fs = std::filesystem;

namespace {

/// A .tar.bz2 of one file of `size` zero bytes: a few KB that expand to all of it.
std::string bzip2_bomb(std::size_t size) {
    std::string out;
    ArchiveWriter a =
        archive_writer(out, archive_write_set_format_ustar, archive_write_add_filter_bzip2);
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(),
                                                               archive_entry_free);
    archive_entry_set_pathname(e.get(), "zeros");
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0644);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
    REQUIRE(archive_write_header(a.get(), e.get()) == ARCHIVE_OK);
    std::string block(1 << 20, '\0');
    for (std::size_t done = 0; done < size; done += block.size()) {
        REQUIRE(archive_write_data(a.get(), block.data(), block.size()) ==
                static_cast<la_ssize_t>(block.size()));
    }
    REQUIRE(archive_write_close(a.get()) == ARCHIVE_OK);
    return out;
}

/// `tar` with the header of its entry `index` (each file here is one 512-byte block of
/// data or less) damaged: a byte of its name changed, so its checksum no longer holds.
std::string damage_header(std::string tar, std::size_t index) {
    tar[index * 1024 + 1] ^= 0x20;
    return tar;
}

/// A GNU tar of one file `name` holding "abc" whose header's realsize field says 64 MiB
/// (a sparse entry: its data the first bytes, a hole after), the header's checksum fixed.
std::string sparse_gnu_tar(const std::string& name) {
    std::string tar = archive_of(archive_write_set_format_gnutar, {{name, "abc"}});
    std::snprintf(&tar[483], 12, "%011o", 64u << 20); // realsize: 64 MiB
    unsigned sum = 0;
    for (std::size_t i = 0; i < 512; ++i) {
        sum += i >= 148 && i < 156 ? ' ' : static_cast<unsigned char>(tar[i]);
    }
    std::snprintf(&tar[148], 8, "%06o", sum);
    return tar;
}

/// An ar archive (a .deb) of these members.
std::string ar_of(const std::vector<std::pair<std::string, std::string>>& members) {
    std::string out = "!<arch>\n";
    for (const auto& [name, data] : members) {
        char header[61];
        std::snprintf(header, sizeof header, "%-16s%-12d%-6d%-6d%-8s%-10zu`\n", name.c_str(), 0, 0,
                      0, "100644", data.size());
        out += header;
        out += data;
        if (data.size() % 2 != 0) {
            out += '\n';
        }
    }
    return out;
}

/// The .deb of package demo 1 (all) with this data.tar.
std::string demo_deb(const std::string& data) {
    std::string control = tar_of({{"./control", "Package: demo\nVersion: 1\nArchitecture: all\n"}});
    return ar_of({{"debian-binary", "2.0\n"}, {"control.tar", control}, {"data.tar", data}});
}

} // namespace

TEST_CASE("a .deb whose data.tar has a damaged header is refused (it crashed DebReader)") {
    // libarchive answers ARCHIVE_RETRY ("Damaged tar archive") for the header and leaves
    // the entry without a path; that was taken as an entry, and its null path copied.
    ScratchDir dir("fuzz-deb");
    Store store(dir / "cache");
    Digest deb =
        store.put_bytes(demo_deb(damage_header(tar_of({{"./a", "a\n"}, {"./b", "b\n"}}), 1)));
    apt::detail::DebReader reader(store, deb, "package demo 1 (all)");
    reader.control();
    apt::detail::DebEntry entry;
    REQUIRE(reader.next(entry));
    CHECK(entry.path == "./a");
    auto e = error_of([&] { reader.next(entry); });
    CHECK(e.kind == ErrorKind::integrity);
    CHECK(e.what == "package demo 1 (all): data.tar: Damaged tar archive");
}

TEST_CASE("a .deb with a file name that is not UTF-8 installs (its cache record threw)") {
    // dpkg installs any bytes as a name; the record of what the package holds is JSON,
    // which cannot: the package is built into the layer and not remembered.
    ScratchDir dir("fuzz-deb-name");
    Store store(dir / "cache");
    std::string deb = demo_deb(tar_of({{"./caf\xe9", "latin-1\n"}}));
    LockedPackage p;
    p.name = "demo";
    p.version = "1";
    p.arch = "all";
    p.url = "http://deb.example/demo_1_all.deb";
    p.size = deb.size();
    p.sha256 = store.put_bytes(deb);
    LayerOptions options;
    options.compression = Compression::none;
    http::Client client;
    LayerResult layer;
    try {
        layer = apt::detail::build_one_part_image(store, &client, apt::ImageFacts{}, {p}, options)
                    .at(0);
    } catch (const std::exception& e) {
        FAIL("the layer was not built: " << e.what());
    }
    CHECK(store.read_blob(layer.descriptor.digest).find("caf\xe9") != std::string::npos);
    CHECK_FALSE(store.get_record("apt-deb", p.sha256.hex()));
}

TEST_CASE("a layer with a damaged tar header is refused by run's unpacker, not skipped") {
    ScratchDir dir("fuzz-layer");
    Store store(dir / "cache");
    std::string tar = damage_header(tar_of({{"a", "a\n"}, {"b", "b\n"}, {"c", "c\n"}}), 1);
    LayerResult layer = put_tar_layer(store, tar);
    fs::create_directories(dir / "rootfs");
    auto e = error_of([&] { unpack_layer(store, layer, dir / "rootfs", "layer 1"); });
    CHECK(e.kind == ErrorKind::integrity);
    CHECK(e.what == "layer 1: Damaged tar archive");
}

TEST_CASE("a wheel member whose name is not UTF-8 is refused (the cache's JSON threw)") {
    ScratchDir dir("fuzz-wheel");
    Store store(dir / "cache");
    // A wheel that is otherwise whole: RECORD lists the member with its hash.
    std::string name = "demo/caf\xe9.py", content = "x = 1\n";
    std::string record = name + ",sha256=" + python::record_hash(sha256_of(content)) + ",6\n" +
                         "demo-1.0.dist-info/RECORD,,\n";
    fs::path wheel = ocibake::test::write_file(
        dir / "demo-1.0-py3-none-any.whl",
        archive_of(archive_write_set_format_zip,
                   {{name, content}, {"demo-1.0.dist-info/RECORD", record}}));
    auto e = error_of([&] { python::unpack_wheel(store, wheel, sha256_of_file(wheel)); });
    CHECK(e.kind == ErrorKind::input);
    CHECK(e.what == "wheel demo-1.0-py3-none-any.whl: member 'demo/caf\\xe9.py' has a name that "
                    "is not UTF-8; refused");
}

TEST_CASE("a PEP 503 page whose anchors are never closed costs time and memory linear in it") {
    // Each anchor's text ran to the next "</a": on a page without one, every anchor took
    // the rest of the page as its file name (100 KB of "<a href=x>" took 25 s).
    auto files = python::parse_simple_html(
        "<a href=\"a-1.whl\">a-1.whl<br><a href=\"b-1.whl\">b-1.whl</a>", "https://h/simple/a/");
    REQUIRE(files.size() == 2);
    CHECK(files[0].filename == "a-1.whl");
    CHECK(files[1].filename == "b-1.whl");
    std::string page;
    for (int i = 0; i < 2000; ++i) {
        page += "<a href=\"x-" + std::to_string(i) + ".whl\">\n";
    }
    std::size_t names = 0;
    for (const auto& f : python::parse_simple_html(page, "https://h/simple/x/")) {
        names += f.filename.size();
    }
    CHECK(names <= page.size());
}

TEST_CASE("a run of '&' in a PEP 503 page is unescaped in linear time") {
    // Each '&' looked for its ';' up to the end of the text: 1 MiB of them took 13 s, 4 MiB
    // minutes.
    std::string page = "<a href=\"x-1.whl\">" + std::string(4 << 20, '&') + "</a>";
    auto start = std::chrono::steady_clock::now();
    auto files = python::parse_simple_html(page, "https://h/simple/x/");
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    REQUIRE(files.size() == 1);
    CHECK(files[0].filename.size() == std::size_t{4} << 20);
    CHECK(seconds < 10); // linear: milliseconds, under ASan too
}

TEST_CASE("a lock whose integers are floats is refused (converting them was undefined)") {
    // toml++'s value<int64_t>() converts a float: 1e31 does not fit (UBSan: "outside the
    // range of representable values").
    auto version = error_of([] { parse_lock("version = 1e31\n", "app.lock"); });
    CHECK(version.kind == ErrorKind::recipe);
    CHECK(version.what.starts_with(
        "app.lock:1:11: error: lock format version (not an integer) is not 1"));
    auto size = error_of([] {
        parse_lock("version = 1\n[[apt]]\nlayer = \"l\"\npackages = []\nrecommends = false\n"
                   "sources = \"sha256:" +
                       std::string(64, 'a') + "\"\nbelow = \"sha256:" + std::string(64, 'a') +
                       "\"\n[[apt.package]]\nname = \"ab\"\nversion = \"1\"\narch = \"all\"\n"
                       "source = \"ab\"\nurl = \"http://h/a.deb\"\nsize = 1e31\n"
                       "sha256 = \"sha256:" +
                       std::string(64, 'a') + "\"\n",
                   "app.lock");
    });
    CHECK(size.what.starts_with("app.lock:14:8: error: 'size' must be an integer, 0 or more"));
}

TEST_CASE("a pylock wheel URL with a '%' that is no escape is read as written") {
    // "%.c" went to std::stoi, whose invalid_argument escaped (not an ocibake::Error).
    auto packages = detail::parse_pylock(
        "lock-version = \"1.0\"\n[[packages]]\nname = \"x\"\nversion = \"1\"\n"
        "wheels = [{url = \"https://h/x-1-py3-none-any%.c%2B.whl\", hashes = {sha256 = \"" +
            std::string(64, 'a') + "\"}}]\n",
        "/p/pylock.toml", "pylock.toml");
    REQUIRE(packages.size() == 1);
    REQUIRE(packages[0].wheels.size() == 1);
    CHECK(packages[0].wheels[0].name == "x-1-py3-none-any%.c+.whl");
}

TEST_CASE("numbers in outside text past their type are errors or ignored, never std::stoi's") {
    // std::stoi and friends throw std::invalid_argument and std::out_of_range, which are
    // no ocibake::Error (exit 1, "internal"): each of these threw one.
    const std::string sha(64, 'a');
    const std::string huge = "99999999999999999999999";
    SECTION("a Release's SHA256 list") {
        auto e = error_of([&] {
            apt::parse_release("SHA256:\n " + sha + " " + huge + " main/binary-amd64/Packages\n",
                               "Release");
        });
        CHECK(e.kind == ErrorKind::integrity);
        CHECK(e.what.starts_with("Release: malformed SHA256 line '" + sha + " " + huge));
    }
    SECTION("a Packages index's Size") {
        apt::Index index;
        auto e = error_of([&] {
            index.add_packages("Package: a\nVersion: 1\nArchitecture: all\nFilename: a.deb\n"
                               "Size: " +
                                   huge + "\nSHA256: " + sha + "\n",
                               "Packages", "http://h", 500, 0, {"amd64", "all"});
        });
        CHECK(e.kind == ErrorKind::integrity);
        CHECK(e.what == "Packages:1: package a has a malformed SHA256 or Size");
    }
    SECTION("PEP 440 local versions compare as numbers of any length") {
        CHECK(python::compare_versions("1.0+" + huge, "1.0+1" + huge) < 0);
        CHECK(python::compare_versions("1.0+1" + huge, "1.0+" + huge) > 0);
        CHECK(python::compare_versions("1.0+007.a", "1.0+7.a") == 0);
    }
    SECTION("a base layer's libc-2.N.so") {
        LayerEntry libc;
        libc.path = "usr/lib/x86_64-linux-gnu/libc-2." + huge + ".so";
        libc.type = EntryType::file;
        CHECK_FALSE(python::scan_entries({libc}).glibc);
    }
    SECTION("update-alternatives priorities in a postinst and an administrative file") {
        CHECK(apt::detail::parse_alternatives(
                  "update-alternatives --install /usr/bin/x x /usr/bin/y -\n"
                  "update-alternatives --install /usr/bin/x x /usr/bin/z " +
                  huge + "\n")
                  .empty());
        CHECK_FALSE(apt::detail::parse_alt_admin("auto\n/usr/bin/x\n\n/usr/bin/y\n-\n\n"));
        CHECK_FALSE(
            apt::detail::parse_alt_admin("auto\n/usr/bin/x\n\n/usr/bin/y\n" + huge + "\n\n"));
    }
    SECTION("a gid in the image below's /etc/group") {
        apt::ImageFacts below;
        below.files["etc/group"] = "app:x:abc:\n";
        apt::Account app;
        app.name = "app";
        app.uid = 1000;
        auto e = error_of([&] { apt::detail::account_entries(below, {}, {}, {app}, {}); });
        CHECK(e.kind == ErrorKind::input);
        CHECK(e.what == "/etc/group gives group 'app' the gid 'abc', which is not a number");
    }
}

TEST_CASE("run's unpacker leaves the holes of a sparse entry holes (it wrote them as zeros)") {
    // A GNU header's realsize field makes the entry that long, its data the first bytes:
    // archive_read_data handed the rest over as zeros, and the unpacker wrote them all
    // (fuzz_layer: realsize 2^63 - 1, a file written until the disk was full).
    ScratchDir dir("fuzz-sparse");
    Store store(dir / "cache");
    std::string tar = sparse_gnu_tar("big");
    LayerResult layer = put_tar_layer(store, tar);
    fs::create_directories(dir / "rootfs");
    unpack_layer(store, layer, dir / "rootfs", "layer 1");
    struct stat st {};
    REQUIRE(::stat((dir / "rootfs" / "big").c_str(), &st) == 0);
    CHECK(st.st_size == 64 << 20);
    CHECK(st.st_blocks * 512 < (1 << 20)); // a hole, not 64 MiB of zeros
    CHECK(ocibake::test::read_file(dir / "rootfs" / "big").substr(0, 4) == std::string("abc\0", 4));
}

TEST_CASE("a .deb's sparse file is refused (its holes were read as endless zeros)") {
    // As in run's unpacker, a GNU header's realsize field made archive_read_data hand over
    // zeros up to it: `build` wrote them into the layer. dpkg does not unpack sparse files.
    ScratchDir dir("fuzz-deb-sparse");
    Store store(dir / "cache");
    Digest deb = store.put_bytes(demo_deb(sparse_gnu_tar("./big")));
    apt::detail::DebReader reader(store, deb, "package demo 1 (all)");
    reader.control();
    apt::detail::DebEntry entry;
    REQUIRE(reader.next(entry));
    char buffer[4096];
    auto e = error_of([&] {
        while (reader.read(buffer, sizeof buffer) != 0) {
        }
    });
    CHECK(e.kind == ErrorKind::integrity);
    CHECK(e.what == "package demo 1 (all): data.tar: ./big is a sparse file (it has holes), "
                    "which dpkg does not unpack");
}

TEST_CASE("an image whose /etc/passwd is a FIFO: run says the user is unknown (it hung)") {
    // Resolving the user opened /etc/passwd for reading: a FIFO blocks that open until a
    // writer comes, so `run --user` of such an image never started.
    ScratchDir dir("fuzz-fifo");
    Store store(dir / "cache");
    SourceImage image;
    image.layers.push_back(
        put_tar_layer(store, make_tar({{"etc", 'd', "", 0755}, {"etc/passwd", 'p', "", 0755}})));
    image.config.config.cmd = std::vector<std::string>{"/bin/sh"};
    Bundle bundle = Bundle::create(store, image, dir / "bundle");
    ContainerOverrides overrides;
    overrides.user = "app";
    // (no Catch2 assertion on the other thread)
    auto spec = std::async(std::launch::async, [&]() -> std::pair<ErrorKind, std::string> {
        try {
            bundle.spec_for(overrides);
            return {ErrorKind::internal, "no error"};
        } catch (const Error& e) {
            return {e.kind(), e.what()};
        }
    });
    bool done = spec.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
    if (!done) { // unblock the reader, so that the test ends
        ::close(::open((bundle.rootfs() / "etc" / "passwd").c_str(), O_WRONLY | O_NONBLOCK));
    }
    CHECK(done);
    auto [kind, what] = spec.get();
    CHECK(kind == ErrorKind::input);
    CHECK(what == "user 'app' is not in the image's /etc/passwd");
}

TEST_CASE("an archive member that expands past the in-memory limit is refused (fuzz OOM)") {
    // fuzz_archive_input: a few KB of bzip2 expanded to more than 2 GiB, all of it held in
    // one string by read_archive_members, and libFuzzer stopped at its memory limit.
    std::string bomb = bzip2_bomb(std::size_t{32} << 20);
    CHECK(bomb.size() < 64 * 1024);
    std::uint64_t seen = 0;
    auto read = [&](std::uint64_t limit) {
        return detail::read_archive_members(
            bomb, "bomb.tar.bz2",
            [&](const detail::ArchiveMember&, std::string_view d) { seen += d.size(); }, limit);
    };
    auto e = error_of([&] { read(std::uint64_t{16} << 20); });
    CHECK(e.kind == ErrorKind::input);
    CHECK(e.what == "archive bomb.tar.bz2: member 'zeros' expands past 16777216 bytes, more "
                    "than is read in memory; refused");
    CHECK(seen == 0);
    CHECK(read(std::uint64_t{64} << 20).size() == 1); // under the limit it is read
    CHECK(seen == std::uint64_t{32} << 20);
}

TEST_CASE("JSON sizes that are floats or negative are refused (get<uint64_t> cast them)") {
    // fuzz_cache_index: nlohmann's get<std::uint64_t>() converts -5e+31 with a plain cast
    // (UBSan: "outside the range of representable values"). Every integer read from outside
    // JSON now goes through detail::json_integer, which refuses what does not fit.
    const std::string digest = "sha256:" + std::string(64, 'a');
    for (const std::string size : {"-5e+31", "1.5", "-1", "18446744073709551616"}) {
        CAPTURE(size);
        auto e = error_of([&] {
            remote_cache::parse_layer_record(
                R"({"digest":")" + digest + R"(","size":)" + size +
                    R"(,"media_type":"application/vnd.oci.image.layer.v1.tar+gzip",)"
                    R"("uncompressed_size":1})",
                "record");
        });
        CHECK(e.kind == ErrorKind::integrity);
        CHECK(e.what.starts_with("record: "));
        CHECK(e.what.find("expected an integer from 0 to 18446744073709551615") !=
              std::string::npos);
    }
    // A cache format past int64 is another format, said as such.
    auto format = error_of([] {
        remote_cache::parse_index(R"({"ocibake_cache":18446744073709551615,"records":{}})",
                                  "index");
    });
    CHECK(format.what.starts_with("index: cache format 18446744073709551615, but this ocibake"));
    // What fits still reads.
    auto ok = remote_cache::parse_layer_record(
        R"({"digest":")" + digest +
            R"(","size":18446744073709551615,"media_type":"application/vnd.oci.image.layer.v1.tar+gzip","uncompressed_size":0})",
        "record");
    CHECK(ok.descriptor.size == 18446744073709551615ull);
}

TEST_CASE("a home directory in /etc/passwd that is not UTF-8 is an input error, located") {
    // fuzz_layer: the runtime config (JSON) was dumped with the image's home directory in
    // HOME=, and nlohmann's serializer threw type_error 316, which is no ocibake::Error.
    ScratchDir dir("fuzz-home");
    Store store(dir / "cache");
    SourceImage image;
    image.layers.push_back(put_tar_layer(
        store, make_tar({{"etc", 'd', "", 0755},
                         {"etc/passwd", 'f', "app:x:1000:1000::/home/\x9b:/bin/sh\n", 0644}})));
    image.config.config.cmd = std::vector<std::string>{"/bin/sh"};
    Bundle bundle = Bundle::create(store, image, dir / "bundle");
    ContainerOverrides overrides;
    overrides.user = "app";
    ContainerSpec spec = bundle.spec_for(overrides);
    auto e = error_of([&] { bundle.write_config(spec); });
    CHECK(e.kind == ErrorKind::input);
    CHECK(e.what == "the container's runtime config cannot be written: /process/env/1 "
                    "(\"HOME=/home/\\x9b\") is not UTF-8 (it comes from the image's /etc/passwd or "
                    "/etc/group, or from the command line)");
    CHECK_FALSE(fs::exists(dir / "bundle" / "config.json"));
}
