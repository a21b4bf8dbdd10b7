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

bool contains(const std::string& text, const std::string& part) {
    if (text.find(part) != std::string::npos) {
        return true;
    }
    UNSCOPED_INFO("missing: " << part << "\nin: " << text);
    return false;
}

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
