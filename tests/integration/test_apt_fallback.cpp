// Locks that keep building: a locked .deb gone from its URL (superseded in a security or
// updates suite) is fetched from the recipe's mirrors or a snapshot service instead, held
// to the lock's size and sha256, and the build says where it came from. The fixture's
// signed repository on loopback, a mirror (serve.py) and a snapshot service with
// snapshot.debian.org's URL scheme (snapshot.py), all real servers.

#include "ocibake/apt.hpp"
#include "ocibake/lock.hpp"
#include "support/apt_fixture.hpp"
#include "support/checks.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace ocibake::test;

namespace {

/// The value of `key = "..."` in the block of `text` that starts at `from`.
std::string quoted_value(const std::string& text, std::size_t from, const std::string& key) {
    std::size_t at = text.find("\n" + key + " = ", from);
    REQUIRE(at != std::string::npos);
    at += key.size() + 4;
    std::size_t end = text.find('\n', at);
    std::string v = text.substr(at, end - at);
    return v.front() == '"' ? v.substr(1, v.size() - 2) : v;
}

std::size_t line_at(const std::string& text, std::size_t offset) {
    return static_cast<std::size_t>(
               std::count(text.begin(), text.begin() + static_cast<long>(offset), '\n')) +
           1;
}

/// A repository of libc6, libgcc-s1 and gcc-12-base, served; a recipe of libc6, locked
/// (with the Date of the fixture's Release); then libgcc-s1's .deb removed from the pool,
/// as an archive drops a superseded version.
struct Gone {
    ScratchDir dir{"apt-fallback"};
    fs::path repo = dir / "repo";
    std::unique_ptr<AptServer> server;
    fs::path recipe = dir / "app.toml";
    fs::path lock = dir / "app.lock";
    std::string locked;  ///< the lock's text
    std::string file;    ///< the removed .deb's file name
    std::string bytes;   ///< its bytes
    std::string version; ///< libgcc-s1's, as locked
    std::string sha256;  ///< "sha256:..."
    std::string url;     ///< as locked
    std::int64_t date = 0;
    std::size_t entry_line = 0; ///< libgcc-s1's [[apt.package]] in the lock
    std::string digest;         ///< the image built before the file was removed

    Gone() {
        make_apt_repo(repo, {"REPO_PACKAGES=libc6 libgcc-s1 gcc-12-base"});
        server = std::make_unique<AptServer>(repo);
        write_recipe("");
        auto r = cli_run({"lock", recipe.string()}, "lock-cache");
        REQUIRE(r.exit_code == 0);
        locked = read_file(lock);
        std::size_t entry = locked.find("name = \"libgcc-s1\"");
        REQUIRE(entry != std::string::npos);
        std::size_t block = locked.rfind("[[apt.package]]", entry);
        entry_line = line_at(locked, block);
        version = quoted_value(locked, block, "version");
        sha256 = quoted_value(locked, block, "sha256");
        url = quoted_value(locked, block, "url");
        std::string release = read_file(repo / "dists/bookworm/Release");
        std::size_t d = release.find("\nDate: ");
        REQUIRE(d != std::string::npos);
        auto parsed =
            ocibake::apt::parse_date(release.substr(d + 7, release.find('\n', d + 1) - d - 7));
        REQUIRE(parsed);
        date = *parsed;
        // Built once while the file is there: the fallbacks must give the same image.
        auto first = cli_run(
            {"build", recipe.string(), "-o", "oci:" + (dir / "img0").string(), "-q"}, "cache0");
        REQUIRE(first.exit_code == 0);
        digest = first.out.substr(0, first.out.find('\n'));
        for (const auto& f : fs::directory_iterator(repo / "pool/main")) {
            if (f.path().filename().string().starts_with("libgcc-s1_")) {
                file = f.path().filename().string();
                bytes = read_file(f.path());
                fs::remove(f.path());
            }
        }
        REQUIRE(!file.empty());
    }

    /// The recipe with `keys` added to its [[apt.source]].
    void write_recipe(const std::string& keys) {
        write_file(recipe, "name = \"app\"\n" +
                               apt_source_toml(server->url(), repo / "keyring.gpg") + keys +
                               "[[layer]]\nname = \"system\"\n" + packages_toml({"libc6"}));
    }

    CommandResult cli_run(std::vector<std::string> args, const std::string& cache) {
        return run_cli(std::move(args), dir / cache,
                       {"HOME=" + (dir / "home").string(), "SOURCE_DATE_EPOCH="});
    }

    /// A cold build (a new cache) with `keys` in the source; `--json` on stdout.
    CommandResult build(const std::string& keys, const std::string& cache) {
        write_recipe(keys);
        return cli_run(
            {"build", recipe.string(), "-o", "oci:" + (dir / cache).string() + "-img", "--json"},
            cache);
    }

    /// A directory with the archive's layout holding the removed file (as `content`).
    fs::path pool_copy(const std::string& name, const std::string& content) {
        fs::path root = dir / name;
        write_file(root / "pool/main" / file, content);
        return root;
    }

    std::string describe() const { return "libgcc-s1 " + version + " (amd64)"; }
};

json fallbacks_of(const CommandResult& r) {
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out)["apt_fallbacks"];
}

/// A version as a URL path segment carries it (snapshot.debian.org's /mr/ paths).
std::string in_path(const std::string& version) {
    std::string out;
    for (char c : version) {
        out += c == '+' ? "%2B" : c == ':' ? "%3A" : std::string(1, c);
    }
    return out;
}

std::string sha1_of(const fs::path& file) {
    auto r = run({"sha1sum", file.string()});
    REQUIRE(r.exit_code == 0);
    return r.out.substr(0, 40);
}

} // namespace

TEST_CASE("fallbacks: the lock records each suite's Release Date, and keeps it when relocked") {
    Gone g;
    std::size_t release = g.locked.find("[[apt.release]]");
    REQUIRE(release != std::string::npos);
    CHECK(g.locked.substr(release, g.locked.find("\n\n", release) - release) ==
          "[[apt.release]]\nurl = \"" + g.server->url() + "\"\nsuite = \"bookworm\"\ndate = \"" +
              ocibake::lock_time_text(g.date) + "\"");
    // The archive signs a new Release a day later, with the same packages; the recipe names
    // mirrors and turns the snapshot off (where a missing file is looked for, not what the
    // lock pins): locking again keeps the date, and the lock's text as it was.
    g.write_recipe("mirrors = [\"http://mirror.invalid/debian\"]\nsnapshot = false\n");
    fs::path release_file = g.repo / "dists/bookworm/Release";
    std::string release_text = read_file(release_file);
    std::size_t d = release_text.find("\nDate: ") + 7;
    std::time_t later = static_cast<std::time_t>(g.date + 86400);
    std::tm tm{};
    ::gmtime_r(&later, &tm);
    char date[64];
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S UTC", &tm);
    write_file(release_file,
               release_text.substr(0, d) + date + release_text.substr(release_text.find('\n', d)));
    sign_apt_repo(g.repo);
    auto again = g.cli_run({"lock", g.recipe.string()}, "lock-cache");
    CHECK(again.exit_code == 0);
    CHECK(contains(again.out, "unchanged: " + g.lock.string()));
    CHECK(read_file(g.lock) == g.locked);
    // Packages that change take the new date.
    write_file(g.recipe,
               "name = \"app\"\n" + apt_source_toml(g.server->url(), g.repo / "keyring.gpg") +
                   "[[layer]]\nname = \"system\"\n" + packages_toml({"libc6", "libgcc-s1"}));
    auto changed = g.cli_run({"lock", g.recipe.string()}, "lock-cache");
    CHECK(changed.exit_code == 0);
    CHECK(contains(read_file(g.lock),
                   "\ndate = \"" + ocibake::lock_time_text(g.date + 86400) + "\"\n"));
}

TEST_CASE("fallbacks: a .deb gone from its URL comes from a mirror, and the build says so") {
    Gone g;
    fs::path good = g.pool_copy("mirror", g.bytes);
    fs::create_directories(g.dir / "empty");
    AptServer mirror(good);
    AptServer empty(g.dir / "empty");
    auto r = g.build("mirrors = [\"" + empty.url() + "/\", \"" + mirror.url() + "\"]\n", "a");
    json f = fallbacks_of(r);
    REQUIRE(f.size() == 1);
    std::string from = mirror.url() + "/pool/main/" + g.file;
    std::string first = empty.url() + "/pool/main/" + g.file;
    CHECK(f[0] == json{{"name", "libgcc-s1"},
                       {"version", g.version},
                       {"arch", "amd64"},
                       {"sha256", g.sha256},
                       {"url", g.url},
                       {"answer", "HTTP 404 Not Found"},
                       {"tried", {{{"url", first}, {"answer", "HTTP 404 Not Found"}}}},
                       {"fetched_from", from}});
    CHECK(r.err == "note: " + g.describe() +
                       ": gone from its URL (HTTP 404 Not Found); fetched from " + from +
                       " (tried first: " + first + ": HTTP 404 Not Found)\n");
    // The same bytes, so the same image as when the archive still had the file.
    CHECK(json::parse(r.out)["digest"] == g.digest);
    // The lock is what it was: nothing is rewritten to point elsewhere.
    CHECK(read_file(g.lock) == g.locked);
    // Warm: the cache has the file, nothing is looked for, nothing said.
    auto warm = g.cli_run(
        {"build", g.recipe.string(), "-o", "oci:" + (g.dir / "a2").string(), "--json"}, "a");
    CHECK(fallbacks_of(warm).empty());
    CHECK(warm.err.empty());
}

TEST_CASE("fallbacks: a mirror that cannot be reached is one answer, and the next is asked") {
    Gone g;
    AptServer mirror(g.pool_copy("mirror", g.bytes));
    // Port 1 on loopback: the connection is refused (3 tries, 1 s then 2 s apart).
    auto r = g.build("mirrors = [\"http://127.0.0.1:1\", \"" + mirror.url() + "\"]\n", "a");
    json f = fallbacks_of(r);
    REQUIRE(f.size() == 1);
    REQUIRE(f[0]["tried"].size() == 1);
    CHECK(f[0]["tried"][0]["url"] == "http://127.0.0.1:1/pool/main/" + g.file);
    CHECK(f[0]["tried"][0]["answer"].get<std::string>().starts_with(
        "cannot reach 127.0.0.1:1: Couldn't connect to server (3 tries in "));
    CHECK(f[0]["fetched_from"] == mirror.url() + "/pool/main/" + g.file);
}

TEST_CASE("fallbacks: a snapshot by the lock's date, redirected to the run before it") {
    Gone g;
    // Runs of the archive: one long before (without the file), the one that has it, and
    // one after the lock's date (without it): the service redirects to the run before.
    fs::path snap = g.dir / "snap";
    fs::create_directories(snap / "debian/20100101T000000Z/pool/main");
    write_file(snap / "debian/20200101T000000Z/pool/main" / g.file, g.bytes);
    fs::create_directories(snap / "debian/20990101T000000Z/pool/main");
    fs::path log = g.dir / "snap.log";
    SnapshotServer service(snap, log);
    auto r = g.build("snapshot = \"" + service.url() + "/archive/debian/\"\n", "b");
    json f = fallbacks_of(r);
    REQUIRE(f.size() == 1);
    std::string from = service.url() + "/archive/debian/20200101T000000Z/pool/main/" + g.file;
    CHECK(f[0]["fetched_from"] == from);
    CHECK(f[0]["tried"].empty());
    CHECK(r.err == "note: " + g.describe() +
                       ": gone from its URL (HTTP 404 Not Found); fetched from " + from + "\n");
    CHECK(json::parse(r.out)["digest"] == g.digest);
    // Asked at the Release's Date the lock records; never by hash (the date sufficed).
    std::string asked = read_file(log);
    CHECK(asked.substr(0, asked.find('\n')) ==
          "/archive/debian/" + ocibake::apt::snapshot_time(g.date) + "/pool/main/" + g.file);
    CHECK(asked.find("/mr/") == std::string::npos);
}

TEST_CASE("fallbacks: a snapshot by hash, for a lock that records no dates") {
    Gone g;
    fs::path snap = g.dir / "snap";
    fs::path deb = write_file(snap / "debian/20200101T000000Z/pool/main" / g.file, g.bytes);
    fs::path log = g.dir / "snap.log";
    SnapshotServer service(snap, log);
    // A lock made before ocibake recorded dates: still read, and built from by hash.
    std::string old = g.locked;
    std::size_t at = old.find("\n[[apt.release]]");
    REQUIRE(at != std::string::npos);
    old.erase(at, old.find("\n\n", at + 1) - at);
    REQUIRE(old.find("[[apt.release]]") == std::string::npos);
    write_file(g.lock, old);
    auto r = g.build("snapshot = \"" + service.url() + "/archive/debian\"\n", "c");
    json f = fallbacks_of(r);
    REQUIRE(f.size() == 1);
    std::string from = service.url() + "/file/" + sha1_of(deb);
    CHECK(f[0]["fetched_from"] == from);
    CHECK(r.err == "note: " + g.describe() +
                       ": gone from its URL (HTTP 404 Not Found); fetched from " + from + "\n");
    CHECK(json::parse(r.out)["digest"] == g.digest);
    std::string asked = read_file(log);
    CHECK(asked.find("/archive/") == std::string::npos);
    CHECK(contains(asked, "/mr/binary/libgcc-s1/" + in_path(g.version) + "/binfiles?fileinfo=1\n"));
    CHECK(read_file(g.lock) == old);
}

TEST_CASE("fallbacks: other bytes are refused and the next place is asked, or exit 6") {
    Gone g;
    std::string changed = g.bytes;
    changed[changed.size() / 2] ^= 0x20;
    AptServer other(g.pool_copy("other", changed));
    AptServer longer(g.pool_copy("longer", g.bytes + "more"));
    AptServer good(g.pool_copy("good", g.bytes));
    std::string size = std::to_string(g.bytes.size());
    auto r = g.build("mirrors = [\"" + other.url() + "\", \"" + longer.url() + "\", \"" +
                         good.url() + "\"]\n",
                     "e");
    json f = fallbacks_of(r);
    REQUIRE(f.size() == 1);
    CHECK(f[0]["tried"] ==
          json{{{"url", other.url() + "/pool/main/" + g.file},
                {"answer", "served other bytes (" + size + " of them, but not the lock's sha256)"}},
               {{"url", longer.url() + "/pool/main/" + g.file},
                {"answer", "sent more than " + size + " bytes, the lock pins " + size}}});
    CHECK(f[0]["fetched_from"] == good.url() + "/pool/main/" + g.file);
    CHECK(json::parse(r.out)["digest"] == g.digest);

    auto refused = g.build("mirrors = [\"" + other.url() + "\"]\n", "e2");
    CHECK(refused.exit_code == 6);
    CHECK(contains(refused.err, "error: package libgcc-s1 " + g.version + " (amd64), " + g.sha256 +
                                    ": no place has the file the lock pins:\n  " + g.url +
                                    ": HTTP 404 Not Found\n  " + other.url() + "/pool/main/" +
                                    g.file + ": served other bytes (" + size +
                                    " of them, but not the lock's sha256)\n"));
    CHECK(!fs::exists(g.dir / "e2-img"));
}

TEST_CASE("fallbacks: when no place has it, every place and its answer, exit 4") {
    Gone g;
    const std::string hint =
        "hint: run `ocibake lock --update` to pin the versions the archive has now, or name a "
        "mirror or snapshot service that keeps this one ([[apt.source]] mirrors, snapshot: "
        "docs/apt.md)\n";
    const std::string head = g.lock.string() + ":" + std::to_string(g.entry_line) +
                             ":1: error: package libgcc-s1 " + g.version + " (amd64), " + g.sha256 +
                             ": no place has the file the lock pins:\n  " + g.url +
                             ": HTTP 404 Not Found\n";
    const std::string n = std::to_string(g.entry_line);
    const std::string excerpt =
        " " + n + " | [[apt.package]]\n " + std::string(n.size(), ' ') + " | ^\n";

    // No mirror, no snapshot service (none is known for this archive): its URL only.
    auto alone = g.build("", "d1");
    CHECK(alone.exit_code == 4);
    CHECK(alone.err == head + excerpt + hint);

    fs::create_directories(g.dir / "empty");
    fs::create_directories(g.dir / "no-runs");
    AptServer mirror(g.dir / "empty");
    SnapshotServer service(g.dir / "no-runs");
    auto r = g.build("mirrors = [\"" + mirror.url() + "\"]\nsnapshot = \"" + service.url() +
                         "/archive/debian\"\n",
                     "d2");
    CHECK(r.exit_code == 4);
    CHECK(r.err == head + "  " + mirror.url() + "/pool/main/" + g.file +
                       ": HTTP 404 Not Found\n  " + service.url() + "/archive/debian/" +
                       ocibake::apt::snapshot_time(g.date) + "/pool/main/" + g.file +
                       ": HTTP 404 Not Found\n  " + service.url() + "/mr/binary/libgcc-s1/" +
                       in_path(g.version) + "/binfiles?fileinfo=1: HTTP 404 Not Found\n" + excerpt +
                       hint);
    json error = json::parse(r.out)["error"];
    CHECK(error["kind"] == "input");
    CHECK(!fs::exists(g.dir / "d2-img"));
}
