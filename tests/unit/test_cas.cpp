// Unit tests for ocibake/cas.hpp: the content-addressed store (blobs, writers and readers,
// export, records, the store lock, gc).
#include "common/fs.hpp"
#include "ocibake/cas.hpp"
#include "ocibake/error.hpp"
#include "support/checks.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <poll.h>
#include <regex>
#include <set>
#include <signal.h>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

using namespace ocibake;
using namespace ocibake::test;
namespace fs = std::filesystem;

namespace {

// Names of the entries of a directory, sorted.
std::set<std::string> entries(const fs::path& dir) {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        out.insert(e.path().filename().string());
    }
    return out;
}

// Bytes that are not text: NULs, every byte value, and not a multiple of any buffer size.
std::string binary_content(std::size_t size, unsigned seed = 1) {
    std::string out(size, '\0');
    for (std::size_t i = 0; i < size; ++i) {
        out[i] = static_cast<char>((i * 2654435761u + seed) >> 13);
    }
    return out;
}

void set_mtime(const fs::path& path, std::chrono::seconds age) {
    fs::last_write_time(path, fs::file_time_type::clock::now() - age);
}

std::string corrupt_message(const Digest& expected, const fs::path& path, const Digest& actual) {
    return "cached blob " + expected.str() + " (" + path.string() +
           ") is corrupt: its bytes hash to " + actual.str() +
           "; it was removed from the cache, run the command again";
}

// Sets or unsets environment variables for a scope; restores them afterwards.
class EnvGuard {
public:
    explicit EnvGuard(std::vector<std::string> names) : names_(std::move(names)) {
        for (const auto& n : names_) {
            const char* v = std::getenv(n.c_str());
            saved_.push_back(v ? std::optional<std::string>(v) : std::nullopt);
        }
    }
    ~EnvGuard() {
        for (std::size_t i = 0; i < names_.size(); ++i) {
            if (saved_[i]) {
                ::setenv(names_[i].c_str(), saved_[i]->c_str(), 1);
            } else {
                ::unsetenv(names_[i].c_str());
            }
        }
    }
    EnvGuard(const EnvGuard&) = delete;
    EnvGuard& operator=(const EnvGuard&) = delete;

private:
    std::vector<std::string> names_;
    std::vector<std::optional<std::string>> saved_;
};

void set_env(const char* name, const char* value) {
    if (value) {
        ::setenv(name, value, 1);
    } else {
        ::unsetenv(name);
    }
}

// A directory on /dev/shm (tmpfs), removed on destruction.
class ShmDir {
public:
    ShmDir() {
        std::string templ = "/dev/shm/ocibake-test-XXXXXX";
        if (::mkdtemp(templ.data()) != nullptr) {
            path_ = templ;
        }
    }
    ~ShmDir() {
        if (!path_.empty()) {
            std::error_code ec;
            fs::remove_all(path_, ec);
        }
    }
    ShmDir(const ShmDir&) = delete;
    ShmDir& operator=(const ShmDir&) = delete;
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

dev_t device_of(const fs::path& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_dev;
}

// `flock` CLI, no waiting: true when it got the lock.
bool flock_now(const fs::path& lock, const char* mode) {
    auto r = run({"flock", "-n", mode, lock.string(), "true"});
    INFO(r.err);
    REQUIRE((r.exit_code == 0 || r.exit_code == 1));
    return r.exit_code == 0;
}

} // namespace

TEST_CASE("a new store has the documented layout", "[cas]") {
    ScratchDir dir("cas");
    Store store(dir / "a" / ".." / "cache");
    CHECK(store.root() == dir / "cache");
    CHECK(read_file(dir / "cache" / "VERSION") == "ocibake-cache 1\n");
    CHECK(fs::is_regular_file(dir / "cache" / "lock"));
    CHECK(fs::is_directory(dir / "cache" / "blobs" / "sha256"));
    CHECK(fs::is_directory(dir / "cache" / "records"));
    CHECK(entries(dir / "cache" / "tmp").empty());

    // A relative root is made absolute.
    fs::path cwd = fs::current_path();
    fs::current_path(dir.path());
    std::optional<Store> relative;
    CHECK_NOTHROW(relative.emplace("rel-cache"));
    fs::current_path(cwd);
    CHECK(relative->root() == dir / "rel-cache");

    // Reopening keeps what is there.
    Digest d = store.put_bytes("kept");
    Store again(dir / "cache");
    CHECK(again.has_blob(d));
}

TEST_CASE("put_bytes stores a blob under its digest", "[cas]") {
    ScratchDir dir("cas");
    Store store(dir / "cache");
    Digest d = store.put_bytes("hello");
    CHECK(d == sha256_of("hello"));
    CHECK(store.has_blob(d));
    CHECK(store.blob_size(d) == std::optional<std::uint64_t>(5));
    CHECK(store.blob_path(d) == dir / "cache" / "blobs" / "sha256" / d.hex());
    CHECK(read_file(store.blob_path(d)) == "hello");
    CHECK(store.read_blob(d) == "hello");

    // Idempotent: the same bytes again are the same blob.
    CHECK(store.put_bytes("hello") == d);
    CHECK(entries(dir / "cache" / "blobs" / "sha256") == std::set<std::string>{d.hex()});
    CHECK(entries(dir / "cache" / "tmp").empty());

    Digest absent = sha256_of("absent");
    CHECK_FALSE(store.has_blob(absent));
    CHECK(store.blob_size(absent) == std::nullopt);

    // The empty blob is a blob like any other.
    Digest e = store.put_bytes("");
    CHECK(e == sha256_of(""));
    CHECK(store.has_blob(e));
    CHECK(store.blob_size(e) == std::optional<std::uint64_t>(0));
    CHECK(store.read_blob(e).empty());
    CHECK(store.verify_blob(e));

    // A directory where a blob would be is not a blob.
    Digest dir_digest = sha256_of("a directory");
    fs::create_directory(store.blob_path(dir_digest));
    CHECK_FALSE(store.has_blob(dir_digest));
    CHECK(store.blob_size(dir_digest) == std::nullopt);
}

TEST_CASE("BlobWriter streams and hashes then commits a blob", "[cas]") {
    ScratchDir dir("cas");
    Store store(dir / "cache");
    const std::string content = binary_content(100003);

    BlobWriter w = store.new_blob();
    CHECK(entries(dir / "cache" / "tmp").size() == 1); // writes go to tmp/ first
    for (std::size_t at = 0; at < content.size(); at += 4099) {
        w.write(std::string_view(content).substr(at, 4099));
    }
    CHECK(w.size() == content.size());
    Digest d = w.commit(sha256_of(content));
    CHECK(d == sha256_of(content));
    CHECK(store.read_blob(d) == content);
    CHECK(entries(dir / "cache" / "tmp").empty());

    SECTION("commit twice is a bug") {
        Caught e = error_of([&] { w.commit(); });
        CHECK(e.kind == ErrorKind::internal);
        CHECK(e.what == "BlobWriter::commit called on a finished writer");
    }
    SECTION("a moved writer commits") {
        BlobWriter a = store.new_blob();
        a.write("moved");
        BlobWriter b(std::move(a));
        b.write(" bytes");
        BlobWriter c = store.new_blob(); // its temp file goes when `b` replaces it
        c = std::move(b);
        CHECK(c.commit() == sha256_of("moved bytes"));
        CHECK(store.read_blob(sha256_of("moved bytes")) == "moved bytes");
        CHECK(entries(dir / "cache" / "tmp").empty());
    }
}

TEST_CASE("BlobWriter::commit with a wrong digest stores nothing", "[cas]") {
    ScratchDir dir("cas");
    Store store(dir / "cache");
    Digest wrong = sha256_of("something else");
    Digest actual = sha256_of("content");
    {
        BlobWriter w = store.new_blob();
        w.write("content");
        Caught e = error_of([&] { w.commit(wrong); });
        CHECK(e.kind == ErrorKind::integrity);
        CHECK(e.what == "content does not match its digest: expected " + wrong.str() + ", got " +
                            actual.str());
        CHECK_FALSE(store.has_blob(wrong));
        CHECK_FALSE(store.has_blob(actual));
    }
    CHECK(entries(dir / "cache" / "blobs" / "sha256").empty());
    CHECK(entries(dir / "cache" / "tmp").empty());
}

TEST_CASE("a BlobWriter committed again after a failed commit stores no blob under a wrong name",
          "[cas]") {
    ScratchDir dir("cas");
    Store store(dir / "cache");
    BlobWriter w = store.new_blob();
    w.write("content");
    CHECK_THROWS_AS(w.commit(sha256_of("something else")), Error);
    // A caller that retries (or ignores the expectation the second time) must get either an
    // error or the blob under its real digest, never bytes filed under another name.
    try {
        Digest d = w.commit();
        CHECK(d == sha256_of("content"));
    } catch (const Error&) {
    }
    for (const auto& name : entries(dir / "cache" / "blobs" / "sha256")) {
        INFO("blob file " << name);
        CHECK(sha256_of_file(dir / "cache" / "blobs" / "sha256" / name).hex() == name);
    }
    CHECK_FALSE(store.has_blob(sha256_of("")));
}

TEST_CASE("a BlobWriter destroyed without commit leaves nothing", "[cas]") {
    ScratchDir dir("cas");
    Store store(dir / "cache");
    {
        BlobWriter w = store.new_blob();
        w.write(binary_content(5000));
        CHECK(entries(dir / "cache" / "tmp").size() == 1);
    }
    { BlobWriter empty = store.new_blob(); }
    CHECK(entries(dir / "cache" / "tmp").empty());
    CHECK(entries(dir / "cache" / "blobs" / "sha256").empty());
    CHECK_FALSE(store.has_blob(sha256_of(binary_content(5000))));
}

TEST_CASE("read_blob and BlobReader round-trip a blob", "[cas]") {
    ScratchDir dir("cas");
    Store store(dir / "cache");
    const std::string content = binary_content(70001, 7);
    Digest d = store.put_bytes(content);

    CHECK(store.read_blob(d) == content);

    BlobReader r = store.open_blob(d);
    CHECK(r.size() == content.size());
    std::string got;
    char buf[1000];
    for (;;) {
        std::size_t n = r.read(buf, sizeof buf);
        if (n == 0) {
            break;
        }
        got.append(buf, n);
    }
    CHECK(got == content);
    CHECK(r.read(buf, sizeof buf) == 0); // stays at the end

    SECTION("larger than max_size") {
        Caught e = error_of([&] { store.read_blob(d, 70000); });
        CHECK(e.kind == ErrorKind::integrity);
        CHECK(e.what == "blob " + d.str() + " is 70001 bytes, more than the 70000 expected");
        CHECK(store.read_blob(d, 70001) == content);
        CHECK(store.has_blob(d)); // a size limit is not corruption
    }
    SECTION("absent") {
        Digest absent = sha256_of("absent");
        std::string expected =
            "blob " + absent.str() + " is not in the cache " + store.root().string();
        Caught e = error_of([&] { store.read_blob(absent); });
        CHECK(e.kind == ErrorKind::integrity);
        CHECK(e.what == expected);
        Caught e2 = error_of([&] { store.open_blob(absent); });
        CHECK(e2.kind == ErrorKind::integrity);
        CHECK(e2.what == expected);
    }
}

TEST_CASE("a corrupt blob is an integrity error naming the digest and is removed", "[cas]") {
    ScratchDir dir("cas");
    Store store(dir / "cache");
    const std::string content = binary_content(10000, 3);
    Digest d = store.put_bytes(content);
    fs::path path = store.blob_path(d);
    flip_byte(path, 4321);
    std::string corrupted = content;
    corrupted[4321] = static_cast<char>(corrupted[4321] ^ 0x20);
    const std::string expected = corrupt_message(d, path, sha256_of(corrupted));

    SECTION("read_blob") {
        Caught e = error_of([&] { store.read_blob(d); });
        CHECK(e.kind == ErrorKind::integrity);
        CHECK(e.what == expected);
    }
    SECTION("open_blob, read to the end") {
        BlobReader r = store.open_blob(d);
        Caught e = error_of([&] {
            std::vector<char> buf(3000);
            while (r.read(buf.data(), buf.size()) > 0) {
            }
        });
        CHECK(e.kind == ErrorKind::integrity);
        CHECK(e.what == expected);
    }
    SECTION("verify_blob") {
        CHECK_FALSE(store.verify_blob(d));
    }
    CHECK_FALSE(store.has_blob(d));
    CHECK_FALSE(fs::exists(path));
    // The next put recreates it.
    CHECK(store.put_bytes(content) == d);
    CHECK(store.read_blob(d) == content);
}

TEST_CASE("verify_blob re-hashes a blob", "[cas]") {
    ScratchDir dir("cas");
    Store store(dir / "cache");
    Digest d = store.put_bytes(binary_content(3 << 20)); // more than one read buffer
    CHECK(store.verify_blob(d));
    CHECK(store.has_blob(d));
    CHECK_FALSE(store.verify_blob(sha256_of("absent")));

    // A truncated blob is corrupt too.
    fs::resize_file(store.blob_path(d), 1000);
    CHECK_FALSE(store.verify_blob(d));
    CHECK_FALSE(store.has_blob(d));
}

TEST_CASE("export_blob makes a file of its own, never a link to the cache", "[cas]") {
    ScratchDir dir("cas");
    Store store(dir / "cache");
    const std::string content = binary_content((2 << 20) + 17); // over one copy buffer
    Digest d = store.put_bytes(content);

    fs::path dest = dir / "out" / "blob";
    fs::create_directories(dest.parent_path());
    store.export_blob(d, dest);
    CHECK(read_file(dest) == content);
    // Its own inode (a reflink or a copy): what happens to it cannot reach the cache.
    CHECK(inode_of(dest) != inode_of(store.blob_path(d)));
    CHECK(fs::hard_link_count(dest) == 1);
    CHECK(fs::hard_link_count(store.blob_path(d)) == 1);
    write_file(dest, "edited by the user");
    CHECK(store.verify_blob(d));
    CHECK(store.read_blob(d, 4 << 20) == content);
    CHECK(entries(dest.parent_path()) == std::set<std::string>{"blob"});

    SECTION("dest exists") {
        Caught e = error_of([&] { store.export_blob(d, dest); });
        CHECK(e.kind == ErrorKind::io);
        CHECK(e.what == "cannot open " + dest.string() + ": File exists");
        CHECK(read_file(dest) == "edited by the user");
    }
    SECTION("absent blob") {
        Digest absent = sha256_of("absent");
        Caught e = error_of([&] { store.export_blob(absent, dir / "out" / "absent"); });
        CHECK(e.kind == ErrorKind::integrity);
        CHECK(e.what == "blob " + absent.str() + " is not in the cache " + store.root().string());
        CHECK_FALSE(fs::exists(dir / "out" / "absent"));
    }
    SECTION("a corrupt blob is not exported and is dropped") {
        fs::path path = store.blob_path(d);
        flip_byte(path, 1 << 20);
        std::string corrupted = content;
        corrupted[1 << 20] = static_cast<char>(corrupted[1 << 20] ^ 0x20);
        Caught e = error_of([&] { store.export_blob(d, dir / "out" / "again"); });
        CHECK(e.kind == ErrorKind::integrity);
        CHECK(e.what == corrupt_message(d, path, sha256_of(corrupted)));
        CHECK_FALSE(fs::exists(dir / "out" / "again"));
        CHECK_FALSE(store.has_blob(d));
        auto dropped = store.dropped_blobs();
        REQUIRE(dropped.size() == 1);
        CHECK(dropped[0].digest == d);
        CHECK(dropped[0].path == path);
        CHECK(dropped[0].reason == "its bytes hash to " + sha256_of(corrupted).str());
        CHECK(entries(dir / "cache" / "tmp").empty());
    }
}

TEST_CASE("a decoder that refuses a cached blob's bytes: a corrupt blob is dropped and named",
          "[cas]") {
    ScratchDir dir("cas");
    Store store(dir / "cache");
    const std::string content = binary_content((3 << 20) + 11, 4);
    Digest d = store.put_bytes(content);
    fs::path path = store.blob_path(d);
    const std::string symptom = "layer " + d.str() + ": gzip: incorrect data check";
    // A decoder that reads a little, then refuses the bytes (as zlib or libarchive would).
    auto refuse = [&](BlobReader& r, ErrorKind kind) {
        return error_of([&] {
            decode_blob(r, [&] {
                std::vector<char> buf(1 << 16);
                CHECK(r.read(buf.data(), buf.size()) == buf.size());
                throw Error(kind, symptom);
            });
        });
    };

    SECTION("a byte flipped in the middle") {
        flip_byte(path, (3 << 20) / 2);
        std::string corrupted = content;
        corrupted[(3 << 20) / 2] = static_cast<char>(corrupted[(3 << 20) / 2] ^ 0x20);
        BlobReader r = store.open_blob(d);
        Caught e = refuse(r, ErrorKind::integrity);
        CHECK(e.kind == ErrorKind::integrity);
        CHECK(e.what == "cached blob " + d.str() + " (" + path.string() +
                            ") is corrupt: its bytes hash to " + sha256_of(corrupted).str() +
                            " (reading it failed: " + symptom +
                            "); it was removed from the cache, run the command again");
        CHECK_FALSE(store.has_blob(d));
        REQUIRE(store.dropped_blobs().size() == 1);
        CHECK(store.dropped_blobs()[0].path == path);
        CHECK(entries(dir / "cache" / "tmp").empty());
    }
    SECTION("truncated") {
        fs::resize_file(path, 100000);
        BlobReader r = store.open_blob(d);
        Caught e = refuse(r, ErrorKind::integrity);
        CHECK(e.what ==
              "cached blob " + d.str() + " (" + path.string() + ") is corrupt: its bytes hash to " +
                  sha256_of(content.substr(0, 100000)).str() + " (reading it failed: " + symptom +
                  "); it was removed from the cache, run the command again");
        CHECK_FALSE(store.has_blob(d));
    }
    SECTION("an intact blob: the decoder's error stands and the blob stays") {
        BlobReader r = store.open_blob(d);
        Caught e = refuse(r, ErrorKind::integrity);
        CHECK(e.kind == ErrorKind::integrity);
        CHECK(e.what == symptom);
        CHECK(store.has_blob(d));
        CHECK(store.dropped_blobs().empty());
    }
    SECTION("an error that is not about the bytes is passed through untouched") {
        flip_byte(path, 5);
        BlobReader r = store.open_blob(d);
        Caught e = refuse(r, ErrorKind::io);
        CHECK(e.kind == ErrorKind::io);
        CHECK(e.what == symptom);
        CHECK(store.has_blob(d));
    }
    SECTION("a value passes through") {
        BlobReader r = store.open_blob(d);
        CHECK(decode_blob(r, [] { return 42; }) == 42);
    }
}

TEST_CASE("dropping a corrupt blob keeps a good one another build committed meanwhile", "[cas]") {
    ScratchDir dir("cas");
    Store store(dir / "cache");
    const std::string content = binary_content(200000, 6);
    Digest d = store.put_bytes(content);
    flip_byte(store.blob_path(d), 1000);
    BlobReader r = store.open_blob(d); // the corrupt file
    // Meanwhile another build finds it missing or wrong and writes the blob again.
    BlobWriter w = store.new_blob();
    w.write(content);
    CHECK(w.commit(d) == d);
    Caught e = error_of([&] {
        std::vector<char> buf(4096);
        while (r.read(buf.data(), buf.size()) > 0) {
        }
    });
    CHECK(e.kind == ErrorKind::integrity);
    CHECK(store.has_blob(d));
    CHECK(store.read_blob(d) == content);
    CHECK(entries(dir / "cache" / "tmp").empty());
}

TEST_CASE("export_blob makes a verified copy on another file system", "[cas]") {
    ScratchDir dir("cas");
    ShmDir shm;
    if (shm.path().empty() || device_of(shm.path()) == device_of(dir.path())) {
        return ocibake::test::skip("/dev/shm is missing or on the same file system as " +
                                   dir.path().string() + ": the copy path is not tested");
    }
    Store store(dir / "cache");
    const std::string content = binary_content((1 << 20) + 333, 9); // over one copy buffer
    Digest d = store.put_bytes(content);

    SECTION("a good blob is copied") {
        fs::path dest = shm.path() / "blob";
        store.export_blob(d, dest);
        CHECK(read_file(dest) == content);
        CHECK(fs::hard_link_count(dest) == 1);
        CHECK(fs::hard_link_count(store.blob_path(d)) == 1);
        CHECK(entries(shm.path()) == std::set<std::string>{"blob"}); // no .part left
    }
    SECTION("a corrupt blob is not copied and is removed") {
        fs::path path = store.blob_path(d);
        flip_byte(path, 1 << 20);
        std::string corrupted = content;
        corrupted[1 << 20] = static_cast<char>(corrupted[1 << 20] ^ 0x20);
        Caught e = error_of([&] { store.export_blob(d, shm.path() / "blob"); });
        CHECK(e.kind == ErrorKind::integrity);
        CHECK(e.what == corrupt_message(d, path, sha256_of(corrupted)));
        CHECK(entries(shm.path()).empty());
        CHECK_FALSE(store.has_blob(d));
    }
}

TEST_CASE("put_file copies a file into the store", "[cas]") {
    ScratchDir dir("cas");
    Store store(dir / "cache");
    const std::string content = binary_content((2 << 20) + 5, 11); // over one read buffer
    fs::path source = write_file(dir / "source", content);
    Digest d = sha256_of(content);

    SECTION("without an expected digest") {
        CHECK(store.put_file(source) == d);
        CHECK(store.read_blob(d, 4 << 20) == content);
        CHECK(inode_of(store.blob_path(d)) != inode_of(source)); // a copy, not a link
    }
    SECTION("with the right expected digest") {
        CHECK(store.put_file(source, d) == d);
        CHECK(store.read_blob(d, 4 << 20) == content);
    }
    SECTION("an expected blob already stored is not copied again") {
        Digest stored = store.put_bytes("already here");
        // The source does not even exist: proof that it is not read.
        CHECK(store.put_file(dir / "does-not-exist", stored) == stored);
        CHECK(store.read_blob(stored) == "already here");
    }
    SECTION("a wrong expected digest is an integrity error and stores nothing") {
        Digest wrong = sha256_of("wrong");
        Caught e = error_of([&] { store.put_file(source, wrong); });
        CHECK(e.kind == ErrorKind::integrity);
        CHECK(e.what == source.string() + ": content does not match its digest: expected " +
                            wrong.str() + ", got " + d.str());
        CHECK_FALSE(store.has_blob(d));
        CHECK_FALSE(store.has_blob(wrong));
        CHECK(entries(dir / "cache" / "tmp").empty());
    }
    SECTION("a missing source is an input error naming it") {
        Caught e = error_of([&] { store.put_file(dir / "missing"); });
        CHECK(e.kind == ErrorKind::input);
        CHECK(e.what ==
              "cannot open " + (dir / "missing").string() + ": No such file or directory");
        CHECK(entries(dir / "cache" / "tmp").empty());
    }
}

TEST_CASE("records are written, read and marked used", "[cas]") {
    ScratchDir dir("cas");
    Store store(dir / "cache");
    CHECK(store.get_record("layer-tar", "k1") == std::nullopt);

    store.put_record("layer-tar", "k1", "value one\n");
    CHECK(store.get_record("layer-tar", "k1") == std::optional<std::string>("value one\n"));
    store.put_record("layer-tar", "k1", "replaced");
    CHECK(store.get_record("layer-tar", "k1") == std::optional<std::string>("replaced"));
    store.put_record("layer-tar", "empty", "");
    CHECK(store.get_record("layer-tar", "empty") == std::optional<std::string>(""));
    store.put_record("layer-shape", "k1", "elsewhere");
    CHECK(store.get_record("layer-shape", "k1") == std::optional<std::string>("elsewhere"));
    CHECK(store.get_record("layer-tar", "k1") == std::optional<std::string>("replaced"));

    // Atomic writes leave no temp file beside the record.
    CHECK(entries(dir / "cache" / "records" / "layer-tar") == std::set<std::string>{"empty", "k1"});
    CHECK(read_file(dir / "cache" / "records" / "layer-tar" / "k1") == "replaced");

    // Names: [a-z0-9._-], not starting with '.', at most 200 characters.
    const std::string longest(200, 'x');
    store.put_record("layer-tar", longest, "ok");
    CHECK(store.get_record("layer-tar", longest) == std::optional<std::string>("ok"));
    store.put_record("layer-tar", "a-b_c.d", "ok");
    CHECK(store.get_record("layer-tar", "a-b_c.d") == std::optional<std::string>("ok"));

    SECTION("get_record marks a record used") {
        fs::path path = dir / "cache" / "records" / "layer-tar" / "k1";
        struct timespec old[2] = {{978307200, 0}, {978307200, 0}}; // 2001-01-01
        REQUIRE(::utimensat(AT_FDCWD, path.c_str(), old, 0) == 0);
        struct stat before {};
        REQUIRE(::stat(path.c_str(), &before) == 0);
        REQUIRE(before.st_mtime == 978307200);
        auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
        CHECK(store.get_record("layer-tar", "k1"));
        struct stat after {};
        REQUIRE(::stat(path.c_str(), &after) == 0);
        CHECK(after.st_mtime >= now - 5);
        CHECK(after.st_mtime <= now + 60);
    }
}

TEST_CASE("invalid record names are rejected", "[cas]") {
    ScratchDir dir("cas");
    Store store(dir / "cache");
    const std::string too_long(201, 'x');
    for (const auto& [ns, key] :
         std::vector<std::pair<std::string, std::string>>{{"layer-tar", ""},
                                                          {"", "key"},
                                                          {"layer-tar", ".hidden"},
                                                          {"..", "key"},
                                                          {"layer-tar", ".."},
                                                          {"layer-tar", "a/b"},
                                                          {"layer-tar", "../escape"},
                                                          {"layer-tar", "UPPER"},
                                                          {"layer-tar", "sp ace"},
                                                          {"layer-tar", too_long},
                                                          {"lay/ers", "key"}}) {
        INFO(ns << " / " << key);
        const std::string expected = "invalid cache record name " + ns + "/" + key;
        // (named: clang 14 cannot capture a structured binding)
        CHECK(error_of([&, &ns = ns, &key = key] { store.put_record(ns, key, "x"); }).what ==
              expected);
        CHECK(error_of([&, &ns = ns, &key = key] { store.get_record(ns, key); }).what == expected);
    }
    // A namespace must be one of record_namespaces() (cas/namespaces.cpp).
    CHECK(error_of([&] { store.put_record("no-such-ns", "k1", "x"); }).what ==
          "cache record namespace 'no-such-ns' is not declared in cas/namespaces.cpp");
    CHECK(error_of([&] { store.get_record("no-such-ns", "k1"); }).kind == ErrorKind::internal);
    // Nothing was written anywhere.
    CHECK(entries(dir / "cache" / "records").empty());
    CHECK_FALSE(fs::exists(dir / "escape"));
    CHECK_FALSE(fs::exists(dir / "cache" / "escape"));
}

TEST_CASE("a store of another format version is refused", "[cas]") {
    ScratchDir dir("cas");
    fs::path root = dir / "cache";
    write_file(root / "VERSION", "ocibake-cache 2\nmore\n");
    Caught e = error_of([&] { Store store(root); });
    CHECK(e.kind == ErrorKind::io);
    CHECK(e.what == "cache " + root.string() +
                        " has format 'ocibake-cache 2', not 'ocibake-cache 1': use another "
                        "--cache-dir or remove it");
    // Left as it was, and not left locked.
    CHECK(read_file(root / "VERSION") == "ocibake-cache 2\nmore\n");
    CHECK(flock_now(root / "lock", "-x"));
}

TEST_CASE("a store root that cannot be created is an io error naming it", "[cas]") {
    ScratchDir dir("cas");
    write_file(dir / "file", "not a directory");
    Caught e = error_of([&] { Store store(dir / "file" / "cache"); });
    CHECK(e.kind == ErrorKind::io);
    CHECK_THAT(e.what,
               Catch::StartsWith("cannot create cache directory " +
                                 (dir / "file" / "cache" / "blobs" / "sha256").string() + ": "));
}

TEST_CASE("default_root honours OCIBAKE_CACHE_DIR then XDG_CACHE_HOME then HOME", "[cas]") {
    EnvGuard guard({"OCIBAKE_CACHE_DIR", "XDG_CACHE_HOME", "HOME"});
    set_env("OCIBAKE_CACHE_DIR", "/o/cache");
    set_env("XDG_CACHE_HOME", "/x");
    set_env("HOME", "/h");
    CHECK(Store::default_root() == fs::path("/o/cache"));

    // One variable changed at a time, in this order (nullptr: unset), and the root then.
    struct Step {
        const char* name;
        const char* value;
        const char* root;
    };
    const Step steps[] = {
        {"OCIBAKE_CACHE_DIR", "", "/x/ocibake"},
        {"OCIBAKE_CACHE_DIR", nullptr, "/x/ocibake"},
        // The XDG base directory spec: a relative XDG_CACHE_HOME is invalid and ignored.
        {"XDG_CACHE_HOME", "relative", "/h/.cache/ocibake"},
        {"XDG_CACHE_HOME", "", "/h/.cache/ocibake"},
        {"XDG_CACHE_HOME", nullptr, "/h/.cache/ocibake"},
    };
    for (const Step& step : steps) {
        set_env(step.name, step.value);
        INFO(step.name << "=" << (step.value ? step.value : "(unset)"));
        CHECK(Store::default_root() == fs::path(step.root));
    }

    set_env("HOME", nullptr);
    Caught e = error_of([] { Store::default_root(); });
    CHECK(e.kind == ErrorKind::usage);
    CHECK(e.what == "cannot find a cache directory: set OCIBAKE_CACHE_DIR, XDG_CACHE_HOME or "
                    "HOME, or pass --cache-dir");
}

TEST_CASE("the store lock is shared by builds and exclusive for gc", "[cas]") {
    REQUIRE(ocibake::test::have_program("flock"));
    ScratchDir dir("cas");
    fs::path root = dir / "cache";
    fs::path lock = root / "lock";

    SECTION("a shared store excludes an exclusive lock, not a shared one") {
        std::optional<Store> shared;
        shared.emplace(root);
        Store another(root); // two shared stores at once
        CHECK_FALSE(flock_now(lock, "-x"));
        CHECK(flock_now(lock, "-s"));
        shared.reset();
        CHECK_FALSE(flock_now(lock, "-x")); // `another` still holds it
    }
    SECTION("released when the store is destroyed") {
        {
            Store shared(root);
            CHECK_FALSE(flock_now(lock, "-x"));
        }
        CHECK(flock_now(lock, "-x"));
    }
    SECTION("moving a store moves the lock") {
        std::optional<Store> a;
        a.emplace(root);
        std::optional<Store> b;
        b.emplace(std::move(*a));
        a.reset();
        CHECK_FALSE(flock_now(lock, "-x"));
        b.reset();
        CHECK(flock_now(lock, "-x"));
    }
    SECTION("an exclusive store excludes everyone") {
        {
            Store exclusive(root, StoreLock::exclusive);
            CHECK_FALSE(flock_now(lock, "-s"));
            CHECK_FALSE(flock_now(lock, "-x"));
        }
        CHECK(flock_now(lock, "-s"));
    }
}

TEST_CASE("an exclusive Store blocks while a shared Store is open", "[cas]") {
    ScratchDir dir("cas");
    fs::path root = dir / "cache";
    std::optional<Store> shared;
    shared.emplace(root);

    int pipe_fds[2];
    REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // The child inherited the parent's lock descriptor, which would keep the shared
        // lock alive after the parent lets go: close everything but the pipe.
        for (int fd = 3; fd < 1024; ++fd) {
            if (fd != pipe_fds[1]) {
                ::close(fd);
            }
        }
        try {
            Store exclusive(root, StoreLock::exclusive);
            char c = 'x';
            ::_exit(::write(pipe_fds[1], &c, 1) == 1 ? 0 : 3);
        } catch (...) {
            ::_exit(2);
        }
    }
    ::close(pipe_fds[1]);
    pollfd p{pipe_fds[0], POLLIN, 0};
    // While the shared store is open the child must wait for the lock.
    CHECK(::poll(&p, 1, 300) == 0);
    shared.reset();
    // Then it gets it.
    CHECK(::poll(&p, 1, 20000) == 1);
    char c = 0;
    CHECK(::read(pipe_fds[0], &c, 1) == 1);
    ::close(pipe_fds[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

namespace {

// A gc scene, ages relative to max_age = 30 days:
//   records/layers/fresh   recent, references blob A
//   records/layers/stale   40 days old, references blob B
//   blob A (old, referenced by a kept record)   kept
//   blob B (old, referenced by a dropped record) removed
//   blob C (old, unreferenced)                  removed
//   blob D (recent, unreferenced)               kept
//   tmp/leftover (recent)                       removed
struct GcScene {
    Digest a, b, c, d;
    std::uint64_t size_a = 0, size_b = 0, size_c = 0, size_d = 0;
};

GcScene make_gc_scene(Store& store) {
    using namespace std::chrono_literals;
    const auto old = std::chrono::hours(24 * 40);
    GcScene s;
    s.a = store.put_bytes("blob A, referenced by a fresh record");
    s.b = store.put_bytes("blob B, referenced by a stale record only");
    s.c = store.put_bytes("blob C, unreferenced and old");
    s.d = store.put_bytes("blob D, unreferenced but new");
    s.size_a = *store.blob_size(s.a);
    s.size_b = *store.blob_size(s.b);
    s.size_c = *store.blob_size(s.c);
    s.size_d = *store.blob_size(s.d);
    for (const Digest& x : {s.a, s.b, s.c}) {
        set_mtime(store.blob_path(x), old);
    }
    store.put_record("image", "fresh", "[\"" + s.a.str() + "\"]");
    store.put_record("image", "stale", "[\"" + s.b.str() + "\"]");
    set_mtime(store.root() / "records" / "image" / "stale", old);
    write_file(store.root() / "tmp" / "leftover", "half a blob");
    return s;
}

/// What gc reports for the scene: the stale record, the temporary file and blobs b and c
/// removed; a and d kept.
void check_scene_report(const GcReport& r, const GcScene& s) {
    CHECK(r.records_removed == 1);
    CHECK(r.temp_files_removed == 1);
    CHECK(r.blobs_removed == 2);
    CHECK(r.bytes_removed == s.size_b + s.size_c);
    CHECK(r.blobs_kept == 2);
    CHECK(r.bytes_kept == s.size_a + s.size_d);
}

} // namespace

TEST_CASE("gc drops unused records and unreferenced old blobs", "[cas]") {
    ScratchDir dir("cas");
    Store store(dir / "cache", StoreLock::exclusive);
    GcScene s = make_gc_scene(store);
    fs::path records = store.root() / "records" / "image";

    SECTION("a real run") {
        GcReport r = store.gc(GcOptions{});
        check_scene_report(r, s);

        CHECK(entries(records) == std::set<std::string>{"fresh"});
        CHECK(store.has_blob(s.a));
        CHECK_FALSE(store.has_blob(s.b));
        CHECK_FALSE(store.has_blob(s.c));
        CHECK(store.has_blob(s.d));
        CHECK(entries(store.root() / "tmp").empty());
        CHECK(store.get_record("image", "fresh") ==
              std::optional<std::string>("[\"" + s.a.str() + "\"]"));

        // A second run finds nothing more to do.
        GcReport again = store.gc(GcOptions{});
        CHECK(again.records_removed == 0);
        CHECK(again.blobs_removed == 0);
        CHECK(again.temp_files_removed == 0);
        CHECK(again.blobs_kept == 2);
    }
    SECTION("a dry run reports the same and removes nothing") {
        GcOptions options;
        options.dry_run = true;
        GcReport r = store.gc(options);
        check_scene_report(r, s);

        CHECK(entries(records) == std::set<std::string>{"fresh", "stale"});
        for (const Digest& x : {s.a, s.b, s.c, s.d}) {
            CHECK(store.has_blob(x));
        }
        CHECK(entries(store.root() / "tmp") == std::set<std::string>{"leftover"});
    }
    SECTION("max_age zero drops everything") {
        GcOptions options;
        options.max_age = std::chrono::seconds(0);
        GcReport r = store.gc(options);
        CHECK(r.records_removed == 2);
        CHECK(r.blobs_removed == 4);
        CHECK(r.blobs_kept == 0);
        CHECK(r.bytes_kept == 0);
        CHECK(entries(records).empty());
        CHECK(entries(store.root() / "blobs" / "sha256").empty());
    }
    SECTION("a record used again is kept with its blobs") {
        // get_record() marks `stale` used, so gc keeps it and blob B.
        CHECK(store.get_record("image", "stale"));
        GcReport r = store.gc(GcOptions{});
        CHECK(r.records_removed == 0);
        CHECK(r.blobs_removed == 1);
        CHECK(store.has_blob(s.b));
        CHECK_FALSE(store.has_blob(s.c));
    }
}

TEST_CASE("gc drops a corrupt blob it would keep and says so, never fails on it", "[cas]") {
    ScratchDir dir("cas");
    Store store(dir / "cache", StoreLock::exclusive);
    GcScene s = make_gc_scene(store);
    // A (kept by a record) has a byte flipped, D (kept as recent) is truncated.
    fs::path path_a = store.blob_path(s.a);
    fs::path path_d = store.blob_path(s.d);
    std::string bytes_a = read_file(path_a);
    bytes_a[3] = static_cast<char>(bytes_a[3] ^ 0x20);
    write_file(path_a, bytes_a);
    set_mtime(path_a, std::chrono::hours(24 * 40));
    fs::resize_file(path_d, 3);
    std::string bytes_d = read_file(path_d);

    SECTION("a real run") {
        GcReport r = store.gc(GcOptions{});
        CHECK(r.blobs_removed == 4);
        CHECK(r.blobs_kept == 0);
        CHECK(r.bytes_removed == s.size_a + 3 + s.size_b + s.size_c);
        REQUIRE(r.corrupt.size() == 2);
        std::map<Digest, DroppedBlob> by_digest;
        for (const auto& c : r.corrupt) {
            by_digest[c.digest] = c;
        }
        CHECK(by_digest[s.a].path == path_a);
        CHECK(by_digest[s.a].reason == "its bytes hash to " + sha256_of(bytes_a).str());
        CHECK(by_digest[s.d].path == path_d);
        CHECK(by_digest[s.d].reason == "its bytes hash to " + sha256_of(bytes_d).str());
        CHECK(entries(store.root() / "blobs" / "sha256").empty());
    }
    SECTION("a dry run reports them and removes nothing") {
        GcOptions options;
        options.dry_run = true;
        GcReport r = store.gc(options);
        CHECK(r.corrupt.size() == 2);
        CHECK(r.blobs_removed == 4);
        CHECK(store.has_blob(s.a));
        CHECK(store.has_blob(s.d));
    }
    SECTION("without verify they are kept as before") {
        GcOptions options;
        options.verify = false;
        GcReport r = store.gc(options);
        CHECK(r.corrupt.empty());
        CHECK(r.blobs_kept == 2);
        CHECK(store.has_blob(s.a));
    }
}

TEST_CASE("gc needs an exclusively locked store", "[cas]") {
    ScratchDir dir("cas");
    Store store(dir / "cache");
    Digest d = store.put_bytes("x");
    set_mtime(store.blob_path(d), std::chrono::hours(24 * 400));
    GcOptions options;
    options.max_age = std::chrono::seconds(0);
    Caught e = error_of([&] { store.gc(options); });
    CHECK(e.what == "cache gc needs an exclusively locked store");
    CHECK(store.has_blob(d));
}

TEST_CASE("concurrent writers of the same blob all succeed", "[cas]") {
    ScratchDir dir("cas");
    Store store(dir / "cache");
    const std::string content = binary_content((1 << 20) + 77, 5);
    const Digest expected = sha256_of(content);
    constexpr int kThreads = 8;
    constexpr int kRounds = 5;

    std::vector<std::exception_ptr> errors(kThreads);
    std::vector<Digest> results(kThreads * kRounds);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            try {
                // Half the threads open their own Store on the same root (shared locks).
                std::optional<Store> own;
                if (t % 2 == 1) {
                    own.emplace(dir / "cache");
                }
                Store& s = own ? *own : store;
                ++ready;
                while (ready.load() < kThreads) {
                    std::this_thread::yield();
                }
                for (int round = 0; round < kRounds; ++round) {
                    Digest d;
                    if ((t + round) % 3 == 0) {
                        d = s.put_bytes(content);
                    } else {
                        BlobWriter w = s.new_blob();
                        for (std::size_t at = 0; at < content.size(); at += 65521) {
                            w.write(std::string_view(content).substr(at, 65521));
                        }
                        d = w.commit(expected);
                    }
                    results[static_cast<std::size_t>(t * kRounds + round)] = d;
                    // Readers race with writers replacing the file: always whole.
                    if (s.read_blob(d) != content) {
                        throw std::runtime_error("torn read");
                    }
                }
            } catch (...) {
                errors[static_cast<std::size_t>(t)] = std::current_exception();
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    for (int t = 0; t < kThreads; ++t) {
        INFO("thread " << t);
        if (errors[static_cast<std::size_t>(t)]) {
            try {
                std::rethrow_exception(errors[static_cast<std::size_t>(t)]);
            } catch (const std::exception& e) {
                FAIL_CHECK(e.what());
            }
        }
    }
    for (const Digest& d : results) {
        CHECK(d == expected);
    }
    CHECK(entries(dir / "cache" / "blobs" / "sha256") == std::set<std::string>{expected.hex()});
    CHECK(entries(dir / "cache" / "tmp").empty());
    CHECK(sha256_of_file(store.blob_path(expected)) == expected);
    CHECK(store.verify_blob(expected));
}

namespace {

// A child process that makes an output temp for `target`, writes a file into it and
// waits; returns its pid and the temp's name.
std::pair<pid_t, std::string> writer_child(const fs::path& target) {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        try {
            detail::OutputTemp temp(target, detail::OutputTemp::Kind::directory);
            write_file(temp.path() / "half-written", "x");
            std::string name = temp.path().filename().string() + "\n";
            if (::write(fds[1], name.data(), name.size()) != static_cast<ssize_t>(name.size())) {
                ::_exit(3);
            }
            ::pause();
        } catch (...) {
        }
        ::_exit(2);
    }
    ::close(fds[1]);
    std::string name;
    char c = 0;
    while (::read(fds[0], &c, 1) == 1 && c != '\n') {
        name += c;
    }
    ::close(fds[0]);
    REQUIRE_FALSE(name.empty());
    return {pid, name};
}

void kill_child(pid_t pid) {
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
}

// Kills a child when the test ends, even when it fails early.
struct ChildGuard {
    pid_t pid;
    ~ChildGuard() {
        if (pid > 0) {
            kill_child(pid);
        }
    }
};

} // namespace

TEST_CASE("an output temp is locked while written and a later writer removes only dead ones",
          "[cas]") {
    ScratchDir dir("outtmp");
    fs::path target = dir / "out";
    auto [alive, alive_name] = writer_child(target);
    ChildGuard alive_guard{alive};
    auto [dead, dead_name] = writer_child(target);
    kill_child(dead); // killed while writing: its temp stays behind
    CHECK(dead_name.starts_with(".out.tmp-" + std::to_string(dead) + "-"));
    CHECK(fs::exists(dir / dead_name / "half-written"));
    // Leftovers of ocibake before temps were locked: removed once an hour old.
    write_file(dir / ".out.tmp-0123456789abcdef" / "x", "old, legacy");
    set_mtime(dir / ".out.tmp-0123456789abcdef", std::chrono::hours(2));
    write_file(dir / ".out.tmp-fedcba9876543210", "recent, legacy");
    // Not ours: left alone.
    write_file(dir / ".out.tmp-notours", "x");
    write_file(dir / ".other.tmp-1-0123456789abcdef", "another target's");
    std::string mine_name;
    {
        detail::OutputTemp mine(target, detail::OutputTemp::Kind::file);
        mine_name = mine.path().filename().string();
        CHECK(mine_name.starts_with(".out.tmp-" + std::to_string(::getpid()) + "-"));
        CHECK(entries(dir.path()) ==
              std::set<std::string>{mine_name, alive_name, ".out.tmp-fedcba9876543210",
                                    ".out.tmp-notours", ".other.tmp-1-0123456789abcdef"});
        // Held: nobody else removes it while it is written.
        CHECK(detail::remove_stale_output_temps(target) == 0);
        CHECK(fs::exists(mine.path()));
        CHECK(::write(mine.fd(), "done", 4) == 4);
        mine.commit(target);
    }
    CHECK(read_file(target) == "done");
    CHECK_FALSE(fs::exists(dir / mine_name));
    CHECK(fs::exists(dir / alive_name / "half-written"));

    // Once its writer is gone, the next write removes it.
    kill_child(alive);
    alive_guard.pid = -1;
    CHECK(detail::remove_stale_output_temps(target) == 1);
    CHECK(entries(dir.path()) == std::set<std::string>{"out", ".out.tmp-fedcba9876543210",
                                                       ".out.tmp-notours",
                                                       ".other.tmp-1-0123456789abcdef"});

    SECTION("an unlocked temp of a process that runs is kept (it is about to lock it)") {
        std::string running = ".out.tmp-" + std::to_string(::getpid()) + "-00112233445566ff";
        write_file(dir / running / "x", "x");
        std::string gone = ".out.tmp-" + std::to_string(dead) + "-00112233445566ee";
        write_file(dir / gone / "x", "x");
        CHECK(detail::remove_stale_output_temps(target) == 1);
        CHECK(fs::exists(dir / running));
        CHECK_FALSE(fs::exists(dir / gone));
        // Ten minutes without its lock: not a writer about to take it (its pid was reused).
        set_mtime(dir / running, std::chrono::minutes(11));
        CHECK(detail::remove_stale_output_temps(target) == 1);
        CHECK_FALSE(fs::exists(dir / running));
    }
    SECTION("a temp destroyed without commit is removed") {
        fs::path path;
        {
            detail::OutputTemp temp(target, detail::OutputTemp::Kind::directory);
            path = temp.path();
            write_file(path / "x", "x");
        }
        CHECK_FALSE(fs::exists(path));
        CHECK(read_file(target) == "done");
    }
}

TEST_CASE("the record namespaces: one table that gc reads and docs/cache.md shows", "[cas]") {
    // Each namespace once, each with an owner and a meaning.
    std::set<std::string_view> names;
    for (const RecordNamespace& ns : record_namespaces()) {
        INFO(ns.name);
        CHECK(names.insert(ns.name).second);
        CHECK_FALSE(ns.owner.empty());
        CHECK_FALSE(ns.meaning.empty());
        CHECK(find_record_namespace(ns.name) == &ns);
    }
    CHECK(find_record_namespace("layers") == nullptr);

    // What gc keeps, by the table's refs.
    Digest a = sha256_of("a");
    Digest b = sha256_of("b");
    CHECK(record_references("layer-blob", R"({"digest": ")" + a.str() + R"(", "size": 1})") ==
          std::vector<Digest>{a});
    CHECK(record_references("image", "[\"" + a.str() + "\", \"" + b.str() + "\"]") ==
          std::vector<Digest>{a, b});
    CHECK(record_references("apt-layer", a.str()).empty());
    CHECK(record_references("image", "not json").empty());
    CHECK(record_references("no-such-ns", "[\"" + a.str() + "\"]").empty());

    // docs/cache.md holds the table as record_namespaces_markdown() renders it.
    std::string doc = read_file(fs::path(OCIBAKE_SOURCE_DIR) / "docs" / "cache.md");
    INFO("render it with record_namespaces_markdown() into docs/cache.md:\n"
         << record_namespaces_markdown());
    CHECK(doc.find(record_namespaces_markdown()) != std::string::npos);

    // Every namespace the library's sources name in get_record/put_record is declared.
    std::regex call(R"re((?:get|put)_record\(\s*"([^"]*)")re");
    std::size_t calls = 0;
    for (const auto& f : fs::recursive_directory_iterator(fs::path(OCIBAKE_SOURCE_DIR) / "lib")) {
        if (f.path().extension() != ".cpp") {
            continue;
        }
        std::string text = read_file(f.path());
        for (auto m = std::sregex_iterator(text.begin(), text.end(), call);
             m != std::sregex_iterator(); ++m) {
            INFO(f.path().string() << ": " << (*m)[1].str());
            CHECK(find_record_namespace((*m)[1].str()) != nullptr);
            ++calls;
        }
    }
    CHECK(calls >= 20);
}
