// The remote layer cache (docs/cache.md, "The remote cache"), on Debian's docker-registry
// on loopback: runner A builds and writes the cache, runners B, C, D (each with its own,
// empty cache directory) read it. Packages are made here with dpkg-deb and served as a
// local repository whose log shows what each runner downloaded.

#include "support/apt_fixture.hpp"
#include "support/checks.hpp"
#include "support/json.hpp"
#include "support/registry_fixture.hpp"

#include "ocibake/registry.hpp"
#include "ocibake/remote_cache.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace ocibake::test;

namespace {

json build_json(const fs::path& dir, const fs::path& cache, std::vector<std::string> args) {
    args.insert(args.begin(), {"build", (dir / "app.toml").string()});
    args.push_back("--json");
    auto r = run_cli(args, cache, {"HOME=" + (dir / "home").string(), "SOURCE_DATE_EPOCH="});
    json out = json_of(r);
    out["stderr"] = r.err;
    return out;
}

std::map<std::string, std::string> cache_words(const json& built) {
    std::map<std::string, std::string> out;
    for (const json& l : built["layers"]) {
        out[l["name"].get<std::string>()] = l["cache"].get<std::string>();
    }
    return out;
}

std::set<std::string> built_layers(const json& built) {
    std::set<std::string> out;
    for (const json& l : built["layers"]) {
        if (l["cache"] == "built") {
            out.insert(l["name"].get<std::string>());
        }
    }
    return out;
}

std::size_t debs_fetched(const fs::path& log) {
    std::size_t n = 0;
    std::string text = fs::exists(log) ? read_file(log) : "";
    for (std::size_t at = 0; (at = text.find(".deb", at)) != std::string::npos; ++at) {
        ++n;
    }
    return n;
}

/// The recipe: two layers of packages (parts), one with its own files and a copied tree.
struct Fixture {
    /// Checked first, before anything below starts.
    bool tools = [] {
        require_program("dpkg-deb", "dpkg");
        require_program("docker-registry", "docker-registry");
        return true;
    }();
    ScratchDir dir{"remote-cache"};
    fs::path repo = dir / "repo";
    fs::path log = dir / "apt.log";
    std::unique_ptr<AptServer> server;
    Registry registry;
    std::string source;

    Fixture() {
        make_deb(repo, "alpha", "1.0", "", {{"usr/share/alpha/data", pseudo_random(2'100'000, 1)}});
        make_deb(repo, "iota", "1.0", "", {{"usr/share/iota/i", "iota\n"}});
        make_deb(repo, "mu", "1.0", "", {{"usr/share/mu/m", "mu\n"}});
        server = std::make_unique<AptServer>(repo, log);
        source = local_repo(repo, server->url());
        write_file(dir / "tree/app/run.sh", "#!/bin/sh\necho run\n", 0755);
        write_recipe();
    }
    void write_recipe(const std::string& build = "") {
        fs::remove(dir / "app.lock");
        write_file(dir / "app.toml", "name = \"app\"\n" + build + source +
                                         "[[layer]]\nname = \"one\"\n" +
                                         packages_toml({"alpha", "iota"}) +
                                         "[[layer]]\nname = \"two\"\n" + packages_toml({"mu"}) +
                                         "files = [{ path = \"/etc/two\", content = \"two\\n\" }]\n"
                                         "copy = [{ src = \"tree\", dst = \"/opt\" }]\n");
    }
    std::string ref(const std::string& repository) const {
        return registry.host() + "/" + repository;
    }
};

} // namespace

TEST_CASE("remote cache: runner B builds nothing and downloads nothing that runner A built") {
    Fixture f;
    // Runner A: builds everything, then again from its own cache (every layer cached, as
    // on a runner that keeps its cache), pushes the image and writes the remote cache.
    json first = build_json(f.dir.path(), f.dir / "cache-a", {"--push", f.ref("ci/app:0")});
    std::size_t own = first["layers"].size();
    CHECK(own == 5); // one/alpha, one/iota, two, two/files, state
    CHECK(built_layers(first).size() == own);
    json a = build_json(f.dir.path(), f.dir / "cache-a",
                        {"--push", f.ref("ci/app:1"), "--cache-to", f.ref("ci/cache")});
    CHECK(a["digest"] == first["digest"]);
    CHECK(a["layers_built"] == 0);
    CHECK(a["remote_cache"]["wrote"]["layers"] == own);
    CHECK(a["remote_cache"]["wrote"]["reference"].get<std::string>().find(
              "ci/cache:ocibake-cache-app@sha256:") != std::string::npos);
    // Every layer blob was in the registry already (the image's push): none sent twice.
    CHECK(a["remote_cache"]["wrote"]["stats"]["blobs_mounted"].get<int>() +
              a["remote_cache"]["wrote"]["stats"]["blobs_skipped"].get<int>() >=
          static_cast<int>(own));
    std::size_t debs_a = debs_fetched(f.log);
    CHECK(debs_a == 3);
    {
        // The records blob is gzip, and its media type says so.
        namespace rc = ocibake::remote_cache;
        ocibake::registry::Client client(f.registry.host(), {});
        ocibake::Store store(f.dir / "cache-t");
        auto doc = client.get_manifest("ci/cache", "ocibake-cache-app");
        rc::Artifact artifact = rc::parse_artifact(doc.bytes, "test");
        CHECK(artifact.records.media_type == rc::records_media_type);
        CHECK(artifact.records.media_type.substr(artifact.records.media_type.size() - 5) ==
              "+gzip");
        client.fetch_blob(store, "ci/cache", artifact.records);
        std::string bytes = store.read_blob(artifact.records.digest);
        REQUIRE(bytes.size() > 2);
        CHECK(static_cast<unsigned char>(bytes[0]) == 0x1f);
        CHECK(static_cast<unsigned char>(bytes[1]) == 0x8b);
    }

    // Runner B: an empty cache, the same recipe and lock, pushing to the same registry.
    json b = build_json(f.dir.path(), f.dir / "cache-b",
                        {"--push", f.ref("ci/app:2"), "--cache-from", f.ref("ci/cache")});
    CHECK(b["digest"] == a["digest"]);
    CHECK(b["layers_built"] == 0);
    for (const auto& [name, word] : cache_words(b)) {
        INFO(name);
        CHECK(word == "remote");
    }
    CHECK(b["remote_cache"]["layers"] == own);
    CHECK(b["remote_cache"]["bytes_fetched"] == 0);
    CHECK(b["remote_cache"]["read"]["warnings"].empty());
    CHECK(b["remote_cache"]["read"]["requests"]["lookup"].get<int>() <= 5);
    // Found by its image key: no HEAD per blob, the records blob not even read.
    CHECK(b["remote_cache"]["from_image_key"] == true);
    CHECK(b["remote_cache"]["image_key"] == a["remote_cache"]["image_key"]);
    CHECK(b["remote_cache"]["read"]["requests"]["verify"] == 0);
    CHECK(b["remote_cache"]["read"]["records_read"] == false);
    CHECK(debs_fetched(f.log) == debs_a);                                  // no .deb downloaded
    CHECK(b["push"]["stats"]["bytes_sent"].get<std::uint64_t>() < 10'000); // config only
    for (const json& l : b["layers"]) {
        std::string hex = l["digest"].get<std::string>().substr(7);
        CHECK_FALSE(fs::exists(f.dir / "cache-b/blobs/sha256" / hex));
    }

    // Runner C: an OCI layout is asked for: the layers are fetched (not built), verified.
    json c =
        build_json(f.dir.path(), f.dir / "cache-c",
                   {"-o", "oci:" + (f.dir / "out-c").string(), "--cache-from", f.ref("ci/cache")});
    CHECK(c["digest"] == a["digest"]);
    CHECK(c["layers_built"] == 0);
    CHECK(c["remote_cache"]["layers_fetched"] == own);
    CHECK(debs_fetched(f.log) == debs_a);
    for (const json& l : c["layers"]) {
        CHECK(fs::file_size(f.dir / "out-c/blobs/sha256" /
                            l["digest"].get<std::string>().substr(7)) ==
              l["size"].get<std::uint64_t>());
    }

    // One input changed (mu bumped): its part and the state layer are built, nothing else.
    make_deb(f.repo, "mu", "1.1", "", {{"usr/share/mu/m", "mu 1.1\n"}});
    local_repo(f.repo, f.server->url());
    f.write_recipe();
    json d = build_json(f.dir.path(), f.dir / "cache-d",
                        {"--push", f.ref("ci/app:3"), "--cache-from", f.ref("ci/cache")});
    CHECK(built_layers(d) == std::set<std::string>{"two", "state"});
    CHECK(d["remote_cache"]["from_image_key"] == false); // another lock: layer by layer
    CHECK(d["remote_cache"]["read"]["records_read"] == true);
    CHECK(cache_words(d)["one/alpha"] == "remote");
    CHECK(cache_words(d)["two/files"] == "remote");
    CHECK(debs_fetched(f.log) == debs_a + 1); // mu 1.1 only
}

namespace {

/// Rewrites the cache artifact at `ref` through the registry API: `edit` changes the index
/// JSON and the manifest's layer list.
void tamper(const std::string& host, const std::string& repository, const std::string& tag,
            const std::function<void(json& index, json& manifest)>& edit, const fs::path& cache) {
    namespace rc = ocibake::remote_cache;
    ocibake::registry::Options options;
    ocibake::registry::Client client(host, options);
    ocibake::Store store(cache);
    auto doc = client.get_manifest(repository, tag);
    json manifest = json::parse(doc.bytes);
    rc::Artifact artifact = rc::parse_artifact(doc.bytes, "test");
    client.fetch_blob(store, repository, artifact.index);
    json index = json::parse(store.read_blob(artifact.index.digest));
    edit(index, manifest);
    std::string text = index.dump();
    ocibake::Digest digest = store.put_bytes(text);
    client.upload_blob(repository, digest, text.size(), store.blob_path(digest));
    manifest["config"]["digest"] = digest.str();
    manifest["config"]["size"] = text.size();
    std::string bytes = manifest.dump();
    client.put_manifest(
        repository, tag,
        {std::string(ocibake::oci::media_type::manifest), bytes, ocibake::sha256_of(bytes)});
}

} // namespace

TEST_CASE("remote cache: a tampered entry is ignored with a warning and its layer built") {
    Fixture f;
    json a = build_json(f.dir.path(), f.dir / "cache-a",
                        {"--push", f.ref("ci/app:1"), "--cache-to", f.ref("ci/cache")});
    std::map<std::string, std::string> digest_of;
    for (const json& l : a["layers"]) {
        digest_of[l["name"].get<std::string>()] = l["digest"].get<std::string>();
    }
    // The entry of one/iota names a size the blob does not have (the manifest agrees, so
    // only the registry's HEAD can tell); the entry of two/files names a blob the artifact
    // does not list (a layer the writer never pushed).
    tamper(
        f.registry.host(), "ci/cache", "ocibake-cache-app",
        [&](json& index, json& manifest) {
            for (auto& [key, text] : index["records"]["layer-blob"].items()) {
                json entry = json::parse(text.get<std::string>());
                if (entry["digest"] == digest_of["one/iota"]) {
                    entry["size"] = entry["size"].get<std::uint64_t>() + 1;
                    for (json& l : manifest["layers"]) {
                        if (l["digest"] == digest_of["one/iota"]) {
                            l["size"] = entry["size"];
                        }
                    }
                } else if (entry["digest"] == digest_of["two/files"]) {
                    entry["digest"] = "sha256:" + std::string(64, 'a');
                }
                text = entry.dump();
            }
        },
        f.dir / "cache-t");
    json b = build_json(f.dir.path(), f.dir / "cache-b",
                        {"--push", f.ref("ci/app:2"), "--cache-from", f.ref("ci/cache")});
    CHECK(b["digest"] == a["digest"]); // the layers built instead are the real ones
    CHECK(built_layers(b) == std::set<std::string>{"one/iota", "two/files"});
    CHECK(b["remote_cache"]["read"]["ignored"] == 2);
    std::string err = b["stderr"];
    CHECK(err.find("ocibake: warning: remote cache " + f.ref("ci/cache:ocibake-cache-app") +
                   ", entry layer-blob/") != std::string::npos);
    CHECK(err.find("ignored: the registry has blob " + digest_of["one/iota"] + " with") !=
          std::string::npos);
    CHECK(err.find("ignored: layer sha256:aaaa") != std::string::npos);
    CHECK(err.find("is not in the artifact") != std::string::npos);

    // An index of another format is not used at all: everything is built, with one warning.
    tamper(
        f.registry.host(), "ci/cache", "ocibake-cache-app",
        [](json& index, json&) { index["ocibake_cache"] = 99; }, f.dir / "cache-t");
    json c = build_json(f.dir.path(), f.dir / "cache-c",
                        {"--push", f.ref("ci/app:3"), "--cache-from", f.ref("ci/cache")});
    CHECK(c["digest"] == a["digest"]);
    CHECK(c["layers_built"] == a["layers"].size());
    CHECK(c["stderr"].get<std::string>().find(
              "cache format 99, but this ocibake reads format " +
              std::to_string(ocibake::remote_cache::format_version)) != std::string::npos);

    // A cache that is not there: a warning, and the build goes on.
    json d = build_json(f.dir.path(), f.dir / "cache-d",
                        {"--push", f.ref("ci/app:4"), "--cache-from", f.ref("ci/nothing")});
    CHECK(d["digest"] == a["digest"]);
    CHECK(d["stderr"].get<std::string>().find("MANIFEST_UNKNOWN") != std::string::npos);
}

TEST_CASE("remote cache: cache ls and cache pull") {
    Fixture f;
    auto r = run_cli({"cache", "push", (f.dir / "app.toml").string(), f.ref("ci/cache"), "--json"},
                     f.dir / "cache-a", {"HOME=" + (f.dir / "home").string()});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(json::parse(r.out)["wrote"]["layers"] == 5);
    auto ls =
        run_cli({"cache", "ls", f.ref("ci/cache:ocibake-cache-app"), "--json"}, f.dir / "cache-l");
    INFO(ls.err);
    REQUIRE(ls.exit_code == 0);
    json listing = json::parse(ls.out);
    CHECK(listing["schema"] == "ocibake.remote-cache/1");
    CHECK(listing["recipe"] == "app");
    REQUIRE(listing["entries"].size() == 5);
    for (const json& e : listing["entries"]) {
        CHECK(e["verified"] == true);
    }
    // Pulled into an empty cache, a build offline from the registry finds every layer.
    auto pull = run_cli(
        {"cache", "pull", f.ref("ci/cache"), "--recipe", (f.dir / "app.toml").string(), "--json"},
        f.dir / "cache-p");
    INFO(pull.err);
    REQUIRE(pull.exit_code == 0);
    CHECK(json::parse(pull.out)["layers"] == 5);
    json built =
        build_json(f.dir.path(), f.dir / "cache-p", {"-o", "oci:" + (f.dir / "out").string()});
    CHECK(built["layers_built"] == 0);
    // The recipe's [build] cache is read without --cache-from; --no-cache-from turns it off.
    f.write_recipe("[build]\ncache = \"" + f.ref("ci/cache") + "\"\n");
    json from_recipe = build_json(f.dir.path(), f.dir / "cache-r", {"--push", f.ref("ci/app:r")});
    CHECK(from_recipe["layers_built"] == 0);
    CHECK(from_recipe["remote_cache"]["layers"] == 5);
    json off = build_json(f.dir.path(), f.dir / "cache-o",
                          {"--push", f.ref("ci/app:o"), "--no-cache-from"});
    CHECK(off["layers_built"] == 5);
    CHECK(off["digest"] == from_recipe["digest"]);
}

TEST_CASE("remote cache: a layer blob deleted from the registry is built and never fails a build") {
    require_program("curl", "curl");
    Fixture f;
    json a = build_json(f.dir.path(), f.dir / "cache-a",
                        {"--push", f.ref("ci/app:1"), "--cache-to", f.ref("ci/cache")});
    std::string gone;
    for (const json& l : a["layers"]) {
        if (l["name"] == "one/iota") {
            gone = l["digest"].get<std::string>();
        }
    }
    REQUIRE(!gone.empty());
    // An operator deletes the blob from both repositories and collects the garbage: the
    // cache artifact still lists it, the registry no longer serves it.
    CHECK(f.registry.delete_blob("ci/app", gone) == 202);
    CHECK(f.registry.delete_blob("ci/cache", gone) == 202);
    f.registry.garbage_collect();

    // A push: the cache's image key gives every layer; the push finds one gone, the
    // layer is built (its .deb downloaded), and the image pushed whole.
    std::size_t debs = debs_fetched(f.log);
    json b = build_json(f.dir.path(), f.dir / "cache-b",
                        {"--push", f.ref("ci/app:2"), "--cache-from", f.ref("ci/cache")});
    CHECK(b["digest"] == a["digest"]);
    CHECK(built_layers(b) == std::set<std::string>{"one/iota"});
    CHECK(b["stderr"].get<std::string>().find("ignored: the registry does not have blob " + gone) !=
          std::string::npos);
    CHECK(debs_fetched(f.log) == debs + 1);

    // An OCI layout: fetching the gone blob fails, the layer is built instead.
    json c =
        build_json(f.dir.path(), f.dir / "cache-c",
                   {"-o", "oci:" + (f.dir / "out-c").string(), "--cache-from", f.ref("ci/cache")});
    CHECK(c["digest"] == a["digest"]);
    CHECK(built_layers(c) == std::set<std::string>{"one/iota"});
    for (const json& l : c["layers"]) {
        CHECK(fs::file_size(f.dir / "out-c/blobs/sha256" /
                            l["digest"].get<std::string>().substr(7)) ==
              l["size"].get<std::uint64_t>());
    }
    CHECK(c["stderr"].get<std::string>().find("ignored: the registry does not have blob " + gone) !=
          std::string::npos);
}

TEST_CASE("remote cache: two branches writing one cache keep each other's entries") {
    Fixture f;
    // main writes the cache.
    json a = build_json(f.dir.path(), f.dir / "cache-a",
                        {"--push", f.ref("ci/app:main"), "--cache-to", f.ref("ci/cache")});
    fs::copy_file(f.dir / "app.lock", f.dir / "main.lock");
    // A branch bumps mu and writes the same cache (the same tag): main's entries stay.
    make_deb(f.repo, "mu", "1.1", "", {{"usr/share/mu/m", "mu 1.1\n"}});
    local_repo(f.repo, f.server->url());
    f.write_recipe();
    json d = build_json(f.dir.path(), f.dir / "cache-d",
                        {"--push", f.ref("ci/app:feature"), "--cache-from", f.ref("ci/cache"),
                         "--cache-to", f.ref("ci/cache")});
    CHECK(built_layers(d) == std::set<std::string>{"two", "state"});
    CHECK(d["remote_cache"]["wrote"]["merged_layers"] == 2); // main's "two" and "state"
    CHECK(d["remote_cache"]["wrote"]["evicted_layers"] == 0);
    CHECK(d["remote_cache"]["wrote"]["rounds"] == 1);
    fs::copy_file(f.dir / "app.lock", f.dir / "feature.lock");

    // A fresh runner of main, and one of the branch: each finds its whole image by key.
    for (const auto& [lock, digest] : std::vector<std::pair<std::string, json>>{
             {"main.lock", a["digest"]}, {"feature.lock", d["digest"]}}) {
        INFO(lock);
        fs::copy_file(f.dir / lock, f.dir / "app.lock", fs::copy_options::overwrite_existing);
        json m = build_json(
            f.dir.path(), f.dir / ("cache-" + lock),
            {"--push", f.ref("ci/app:again"), "--cache-from", f.ref("ci/cache"), "--locked"});
        CHECK(m["digest"] == digest);
        CHECK(m["layers_built"] == 0);
        CHECK(m["remote_cache"]["from_image_key"] == true);
    }

    // main writes again: the branch's entries stay too (merged, not replaced).
    fs::copy_file(f.dir / "main.lock", f.dir / "app.lock", fs::copy_options::overwrite_existing);
    json again =
        build_json(f.dir.path(), f.dir / "cache-a",
                   {"--push", f.ref("ci/app:main"), "--cache-to", f.ref("ci/cache"), "--locked"});
    CHECK(again["remote_cache"]["wrote"]["merged_layers"] == 2);
}
