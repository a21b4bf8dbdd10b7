// ocibake against a real registry (Debian's docker-registry on loopback), checked by skopeo.
#include "support/checks.hpp"
#include "support/json.hpp"
#include "support/registry_fixture.hpp"
#include "support/support.hpp"

#include "ocibake/registry.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace ocibake::test;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// An image built by ocibake into dir/image (tag "v1"): a small layer and one of
// `big_bytes` pseudo-random bytes.
struct TestImage {
    explicit TestImage(const ScratchDir& dir, std::size_t big_bytes = 3 << 20,
                       const std::string& platform = "") {
        write_file(dir / "in/app/hello.txt", "hello\n");
        write_file(dir / "in/big/blob.bin", pseudo_random(big_bytes, 7));
        write_file(
            dir / "img.toml",
            "name = \"img\"\ntag = \"v1\"\n" +
                (platform.empty() ? "" : "platform = \"" + platform + "\"\n") +
                "[config]\ncmd = [\"/app/hello.txt\"]\n"
                "[[layer]]\nname = \"app\"\n[[layer.copy]]\nsrc = \"in/app\"\ndst = \"/app\"\n"
                "[[layer]]\nname = \"big\"\n[[layer.copy]]\nsrc = \"in/big\"\ndst = \"/big\"\n");
        layout = dir / "image";
        auto r =
            must({cli().string(), "build", (dir / "img.toml").string(), "-o",
                  "oci:" + layout.string() + ":v1", "--cache-dir", (dir / "cache").string(), "-q"});
        digest = r.out.substr(0, 71);
    }
    /// The image as ocibake and skopeo name it: "oci:LAYOUT:v1".
    std::string oci_ref() const { return "oci:" + layout.string() + ":v1"; }
    /// Its manifest, read from the layout.
    json manifest() const {
        return json::parse(read_file(layout / "blobs/sha256" / digest.substr(7)));
    }

    fs::path layout;
    std::string digest;
};

CommandResult run_ocibake(const ScratchDir& dir, std::vector<std::string> args,
                          std::vector<std::string> env = {}) {
    std::vector<std::string> isolated = without_credentials(dir / "home");
    env.insert(env.begin(), isolated.begin(), isolated.end());
    return run_cli(std::move(args), dir / "cache", env);
}

/// skopeo copies the local image `source` ("oci:DIR:TAG") to the registry's `ref`.
void skopeo_put(const std::string& source, const std::string& ref) {
    must({"skopeo", "copy", "--dest-tls-verify=false", source, "docker://" + ref});
}

/// skopeo copies the registry's `ref` to the local `dest` ("oci:DIR:TAG").
void skopeo_get(const std::string& ref, const std::string& dest) {
    must({"skopeo", "copy", "--src-tls-verify=false", "docker://" + ref, dest});
}

std::string skopeo_digest(const std::vector<std::string>& extra, const std::string& image) {
    std::vector<std::string> argv{"skopeo", "inspect"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(image);
    return json::parse(must(argv).out).at("Digest").get<std::string>();
}

/// The token service with a signing key and certificate of its own, made in dir, knowing
/// user:password; `mode` is how it misbehaves (--bad-first, --pull-only).
HelperServer token_service(const ScratchDir& dir, const std::string& user,
                           const std::string& password, const std::string& mode) {
    must({"sh", "-c",
          "cd '" + dir.path().string() +
              "' && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ocibake-token "
              "-keyout token.key -out token.crt 2>/dev/null"});
    return HelperServer("token", {(dir / "token.key").string(), (dir / "token.crt").string(), user,
                                  password, mode});
}

/// A registry that sends clients to `token` and trusts the certificate it signs with.
RegistryConfig trusting(const ScratchDir& dir, const HelperServer& token) {
    RegistryConfig config;
    config.token_realm = "http://" + token.host() + "/token";
    config.token_cert = dir / "token.crt";
    return config;
}

} // namespace

TEST_CASE("push: skopeo reads what ocibake pushed, and ocibake pulls what skopeo pushed") {
    require_program("skopeo", "skopeo");
    ScratchDir dir("reg-open");
    Registry registry;
    TestImage image(dir);
    const std::string ref = registry.host() + "/ocibake/img:1.0";

    json pushed = json_of(run_ocibake(dir, {"push", image.oci_ref(), ref, "--json"}));
    CHECK(pushed["digest"] == image.digest);
    CHECK(pushed["stats"]["blobs_sent"] == 3); // config + 2 layers
    CHECK(skopeo_digest({"--tls-verify=false"}, "docker://" + ref) == image.digest);

    // skopeo copies it back: the same digest as the layout we pushed.
    skopeo_get(ref, "oci:" + (dir / "back").string() + ":t");
    CHECK(skopeo_digest({}, "oci:" + (dir / "back").string() + ":t") == image.digest);

    // skopeo pushes, ocibake pulls (verified, into the cache and a layout).
    skopeo_put(image.oci_ref(), registry.host() + "/by-skopeo/img:2");
    json pulled = json_of(run_ocibake(dir, {"pull", registry.host() + "/by-skopeo/img:2", "-o",
                                            "oci:" + (dir / "pulled").string(), "--json"}));
    CHECK(pulled["digest"] == image.digest);
    CHECK(skopeo_digest({}, "oci:" + (dir / "pulled").string() + ":2") == image.digest);
    // Pulling again moves no bytes: every blob is in the cache.
    json again = json_of(run_ocibake(dir, {"pull", registry.host() + "/by-skopeo/img:2", "-o",
                                           "oci:" + (dir / "pulled2").string(), "--json"}));
    CHECK(again["stats"]["blobs_fetched"] == 0);
    CHECK(again["stats"]["bytes_fetched"] == 0);
    // And as a docker archive.
    json archive = json_of(run_ocibake(
        dir, {"pull", ref, "-o", "docker-archive:" + (dir / "img.tar").string(), "--json"}));
    CHECK(json::parse(must({"skopeo", "inspect", "docker-archive:" + (dir / "img.tar").string()})
                          .out)["Layers"]
              .size() == 2);
    (void)archive;
}

TEST_CASE("a second push uploads nothing, a push to another repository mounts, tags are many") {
    ScratchDir dir("reg-again");
    Registry registry;
    TestImage image(dir);
    const std::string layout = image.oci_ref();
    json first =
        json_of(run_ocibake(dir, {"push", layout, registry.host() + "/a/img:1", "--json"}));
    CHECK(first["stats"]["bytes_sent"].get<std::uint64_t>() > (3u << 20));

    json second =
        json_of(run_ocibake(dir, {"push", layout, registry.host() + "/a/img:1", "--json"}));
    INFO(second.dump(2));
    CHECK(second["stats"]["blobs_sent"] == 0);
    CHECK(second["stats"]["bytes_sent"] == 0);
    CHECK(second["stats"]["blobs_skipped"] == 3);

    json other = json_of(run_ocibake(dir, {"push", layout, registry.host() + "/a/img:1",
                                           registry.host() + "/b/img:1",
                                           registry.host() + "/b/img:latest", "--json"}));
    INFO(other.dump(2));
    CHECK(other["stats"]["blobs_mounted"] == 3); // into b, from a
    CHECK(other["stats"]["bytes_sent"] == 0);
    CHECK(other["pushed"].size() == 3);
    CHECK(skopeo_digest({"--tls-verify=false"}, "docker://" + registry.host() + "/b/img:latest") ==
          image.digest);

    // A later command, to a repository of the same registry: the cache knows which
    // repositories hold the blobs, so they are mounted, not uploaded again.
    json later =
        json_of(run_ocibake(dir, {"push", layout, registry.host() + "/c/img:1", "--json"}));
    INFO(later.dump(2));
    CHECK(later["stats"]["blobs_mounted"] == 3);
    CHECK(later["stats"]["bytes_sent"] == 0);
    // And what a pull found: pulled from c into another cache, pushed from there to d.
    ScratchDir puller("reg-again-pull");
    run_ocibake(puller, {"pull", registry.host() + "/c/img:1", "-o",
                         "oci:" + (puller / "pulled").string() + ":p"});
    json from_pull =
        json_of(run_ocibake(puller, {"push", "oci:" + (puller / "pulled").string() + ":p",
                                     registry.host() + "/d/img:1", "--json"}));
    INFO(from_pull.dump(2));
    CHECK(from_pull["stats"]["blobs_mounted"] == 3);
    CHECK(from_pull["stats"]["bytes_sent"] == 0);
    // A stale hint (the repository it names is gone) costs nothing but a try: the blobs
    // are uploaded.
    ScratchDir elsewhere_dir("reg-again-stale");
    Registry fresh;
    json seeded =
        json_of(run_ocibake(elsewhere_dir, {"push", layout, fresh.host() + "/e/img:1", "--json"}));
    CHECK(seeded["stats"]["blobs_sent"] == 3);
    fs::remove_all(fresh.storage() / "docker/registry/v2/repositories/e");
    json reupload =
        json_of(run_ocibake(elsewhere_dir, {"push", layout, fresh.host() + "/f/img:1", "--json"}));
    INFO(reupload.dump(2));
    CHECK(reupload["stats"]["blobs_sent"] == 3);
    CHECK(reupload["stats"]["blobs_mounted"] == 0);

    // --digest-file for pipelines.
    auto r = run_ocibake(dir, {"push", layout, registry.host() + "/a/img:2", "--digest-file",
                               (dir / "digest").string(), "-q"});
    CHECK(r.exit_code == 0);
    CHECK(read_file(dir / "digest") == image.digest + "\n");
}

TEST_CASE(
    "TLS with a test CA and htpasswd basic auth: credentials from flags, auth files and helpers") {
    ScratchDir dir("reg-tls");
    RegistryConfig config;
    config.tls = true;
    config.htpasswd_user = "builder";
    config.htpasswd_password = "s3cret-pw";
    Registry registry(config);
    TestImage image(dir);
    const std::string layout = image.oci_ref();
    const std::string ref = registry.host() + "/secure/img:1";
    const std::string ca = "--ca-file=" + registry.ca_cert().string();

    SECTION("the server's certificate is verified by default") {
        auto r = run_ocibake(dir, {"push", layout, ref, "--creds", "builder:s3cret-pw"});
        CHECK(r.exit_code != 0);
        CHECK(r.err.find("registry " + registry.host()) != std::string::npos);
        CHECK(r.err.find("certificate") != std::string::npos);
        CHECK(r.err.find("s3cret-pw") == std::string::npos);
    }
    SECTION("no credentials, wrong credentials: refused, and the password is never shown") {
        auto none = run_ocibake(dir, {"push", layout, ref, ca});
        CHECK(none.exit_code == 4);
        CHECK(none.err.find("UNAUTHORIZED: authentication is required") != std::string::npos);
        auto wrong =
            run_ocibake(dir, {"push", layout, ref, ca, "--creds", "builder:not-the-password"});
        CHECK(wrong.exit_code == 4);
        CHECK(wrong.err.find("not-the-password") == std::string::npos);
        CHECK(wrong.out.find("not-the-password") == std::string::npos);
    }
    SECTION("--creds, over HTTP/2") {
        json pushed = json_of(
            run_ocibake(dir, {"push", layout, ref, ca, "--creds", "builder:s3cret-pw", "--json"}));
        CHECK(pushed["stats"]["protocol"] == "HTTP/2"); // docker-registry offers h2 over TLS
        auto r = run_ocibake(dir, {"push", layout, ref, ca, "--creds", "builder:s3cret-pw", "-q"});
        INFO(r.err);
        CHECK(r.exit_code == 0);
        CHECK(r.out == image.digest + "\n");
        // skopeo's --cert-dir takes *.crt as CAs (and *.key as client keys): the CA alone.
        fs::create_directories(dir / "skopeo-certs");
        fs::copy_file(registry.ca_cert(), dir / "skopeo-certs/ca.crt");
        CHECK(skopeo_digest(
                  {"--cert-dir", (dir / "skopeo-certs").string(), "--creds", "builder:s3cret-pw"},
                  "docker://" + ref) == image.digest);
    }
    SECTION("a docker config.json (auths) and an auth file given by flag") {
        // "auth" is base64("builder:s3cret-pw").
        write_file(dir / "home/.docker/config.json",
                   R"({"auths":{")" + registry.host() +
                       R"(":{"auth":"YnVpbGRlcjpzM2NyZXQtcHc="}}})");
        auto r = run_ocibake(dir, {"push", layout, ref, ca, "-q"});
        INFO(r.err);
        CHECK(r.exit_code == 0);
        write_file(dir / "auth.json", R"({"auths":{"https://)" + registry.host() +
                                          R"(/v2/":{"auth":"YnVpbGRlcjpzM2NyZXQtcHc="}}})");
        auto f = run_ocibake(dir, {"pull", ref, "-o", "oci:" + (dir / "p").string(), ca,
                                   "--authfile", (dir / "auth.json").string(), "-q"});
        INFO(f.err);
        CHECK(f.exit_code == 0);
        CHECK(f.out == image.digest + "\n");
    }
    SECTION("a credential helper (credHelpers), run as docker-credential-NAME get") {
        write_file(
            dir / "bin/docker-credential-ocitest",
            "#!/bin/sh\nread server\n[ \"$1\" = get ] || exit 1\n"
            "printf '{\"ServerURL\":\"%s\",\"Username\":\"builder\",\"Secret\":\"s3cret-pw\"}' "
            "\"$server\"\n",
            0755);
        write_file(dir / "home/.docker/config.json",
                   R"({"credHelpers":{")" + registry.host() + R"(":"ocitest"}})");
        auto r = run_ocibake(
            dir, {"push", layout, ref, ca, "-q"},
            {"PATH=" + (dir / "bin").string() + ":" + std::string(std::getenv("PATH"))});
        INFO(r.err);
        CHECK(r.exit_code == 0);
    }
}

// Pushes the image in the background, stops the registry once the big blob's upload holds
// a few MB, and returns the first push's result.
CommandResult push_and_stop(const ScratchDir& dir, Registry& registry,
                            const std::vector<std::string>& push, bool graceful) {
    CommandResult first;
    std::thread pusher([&] { first = run_ocibake(dir, push); });
    fs::path uploads = registry.storage() / "docker/registry/v2/repositories/resume/img/_uploads";
    bool cut = false;
    for (int i = 0; i < 2000 && !cut; ++i) {
        std::error_code ec;
        if (fs::exists(uploads, ec)) {
            for (const auto& e : fs::recursive_directory_iterator(uploads, ec)) {
                if (e.path().filename() == "data" && e.file_size(ec) > (4u << 20)) {
                    graceful ? registry.stop_gracefully() : registry.stop();
                    cut = true;
                    break;
                }
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pusher.join();
    REQUIRE(cut);
    return first;
}

TEST_CASE("a push cut by a registry restart completes when run again") {
    ScratchDir dir("reg-resume");
    Registry registry;
    TestImage image(dir, 24 << 20);
    const std::string ref = registry.host() + "/resume/img:1";
    const std::vector<std::string> push{"push", image.oci_ref(), ref, "--chunk-size",
                                        "256K", "--parallel",    "1", "--json"};

    SECTION("stopped gracefully: the rerun resumes from the last acknowledged chunk") {
        CommandResult first = push_and_stop(dir, registry, push, true);
        INFO("first push: " << first.err);
        CHECK(first.exit_code != 0);
        registry.start();
        json second = json_of(run_ocibake(dir, push));
        INFO(second.dump(2));
        // Less than the big layer went over the wire the second time.
        CHECK(second["stats"]["bytes_sent"].get<std::uint64_t>() < (20u << 20));
    }
    SECTION("killed mid-chunk: the registry cannot go on with that upload; a new one is made") {
        // docker-registry refuses to resume an upload whose stored bytes run past the
        // last acknowledged offset (a half-received chunk): the rerun starts it again.
        CommandResult first = push_and_stop(dir, registry, push, false);
        CHECK(first.exit_code != 0);
        registry.start();
        json second = json_of(run_ocibake(dir, push));
        CHECK(second["digest"] == image.digest);
    }
    CHECK(skopeo_digest({"--tls-verify=false"}, "docker://" + ref) == image.digest);
    skopeo_get(ref, "oci:" + (dir / "check").string() + ":t");
    CHECK(skopeo_digest({}, "oci:" + (dir / "check").string() + ":t") == image.digest);
}

TEST_CASE("a registry restarted without a fixed http.secret forgets the upload: one line says "
          "why it starts again") {
    ScratchDir dir("reg-resume");
    RegistryConfig config;
    config.fixed_secret = false; // a new secret at each start: upload URLs signed before are void
    Registry registry(config);
    TestImage image(dir, 24 << 20);
    const std::string ref = registry.host() + "/resume/img:1";
    const std::vector<std::string> push{"push", image.oci_ref(), ref, "--chunk-size",
                                        "256K", "--parallel",    "1", "--json"};
    CommandResult first = push_and_stop(dir, registry, push, true);
    CHECK(first.exit_code != 0);
    registry.start();
    CommandResult second = run_ocibake(dir, push);
    INFO(second.err);
    REQUIRE(second.exit_code == 0);
    json pushed = json::parse(second.out);
    CHECK(pushed["digest"] == image.digest);
    json manifest = image.manifest();
    const std::string big = manifest["layers"][1]["digest"].get<std::string>();
    const std::string line = "ocibake: registry " + registry.host() +
                             ", repository resume/img, blob " + big +
                             ": the registry forgot the upload begun earlier (restarted without "
                             "a fixed http.secret, or the upload expired): starting it again "
                             "from byte 0\n";
    CHECK(second.err.find(line) != std::string::npos);
    CHECK(second.err.find(line) == second.err.rfind(line)); // once
    // The whole blob went again.
    CHECK(pushed["stats"]["bytes_sent"].get<std::uint64_t>() >= (24u << 20));
    CHECK(skopeo_digest({"--tls-verify=false"}, "docker://" + ref) == image.digest);
}

TEST_CASE("a blob served with wrong bytes is refused and nothing bad enters the cache") {
    ScratchDir dir("reg-corrupt");
    Registry registry;
    TestImage image(dir);
    const std::string ref = registry.host() + "/bad/img:1";
    json pushed = json_of(run_ocibake(dir, {"push", image.oci_ref(), ref, "--json"}));
    // Flip bytes of the big layer inside the registry's storage.
    json manifest = image.manifest();
    std::string big = manifest["layers"][1]["digest"].get<std::string>().substr(7);
    std::string data = read_file(registry.blob_data(big));
    data[100] = static_cast<char>(data[100] ^ 0x55);
    write_file(registry.blob_data(big), data);

    ScratchDir other("reg-corrupt-pull");
    auto r = run_ocibake(other, {"pull", ref, "-o", "oci:" + (other / "out").string()});
    CHECK(r.exit_code == 6);
    CHECK(r.err.find("registry " + registry.host() + ", repository bad/img, blob sha256:" + big) !=
          std::string::npos);
    CHECK(r.err.find("does not match its digest") != std::string::npos);
    CHECK_FALSE(fs::exists(other / "cache/blobs/sha256" / big));
    CHECK(fs::is_empty(other / "cache/tmp"));
    CHECK_FALSE(fs::exists(other / "out"));
}

TEST_CASE("an index: pull one platform or all of them") {
    ScratchDir dir("reg-index");
    Registry registry;
    ScratchDir arm_dir("reg-index-arm");
    TestImage amd(dir);
    TestImage arm(arm_dir, 1 << 20, "linux/arm64");
    ScratchDir v6_dir("reg-index-v6");
    ScratchDir v7_dir("reg-index-v7");
    TestImage v6(v6_dir, 1 << 19, "linux/arm/v6");
    TestImage v7(v7_dir, 1 << 18, "linux/arm/v7");
    // An OCI layout holding an index of both, made by hand.
    fs::path multi = dir / "multi";
    fs::create_directories(multi / "blobs/sha256");
    for (const auto& src : {amd.layout, arm.layout, v6.layout, v7.layout}) {
        for (const auto& b : fs::directory_iterator(src / "blobs/sha256")) {
            fs::copy_file(b.path(), multi / "blobs/sha256" / b.path().filename(),
                          fs::copy_options::skip_existing);
        }
    }
    auto desc = [](const TestImage& i, const std::string& arch, const std::string& variant = "") {
        std::string bytes = read_file(i.layout / "blobs/sha256" / i.digest.substr(7));
        json platform = {{"os", "linux"}, {"architecture", arch}};
        if (!variant.empty()) {
            platform["variant"] = variant;
        }
        return json{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                    {"digest", i.digest},
                    {"size", bytes.size()},
                    {"platform", platform}};
    };
    std::string index = json{{"schemaVersion", 2},
                             {"mediaType", "application/vnd.oci.image.index.v1+json"},
                             // v6 before v7: "linux/arm" must still pick v7 (the best, not
                             // the first that runs)
                             {"manifests",
                              {desc(amd, "amd64"), desc(arm, "arm64"), desc(v6, "arm", "v6"),
                               desc(v7, "arm", "v7")}}}
                            .dump();
    std::string index_digest = "sha256:" + ocibake::sha256_of(index).hex();
    write_file(multi / "blobs/sha256" / index_digest.substr(7), index);
    write_file(multi / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    write_file(multi / "index.json",
               json{{"schemaVersion", 2},
                    {"manifests",
                     {{{"mediaType", "application/vnd.oci.image.index.v1+json"},
                       {"digest", index_digest},
                       {"size", index.size()},
                       {"annotations", {{"org.opencontainers.image.ref.name", "multi"}}}}}}}
                   .dump());
    const std::string ref = registry.host() + "/multi/img:1";
    json pushed =
        json_of(run_ocibake(dir, {"push", "oci:" + multi.string() + ":multi", ref, "--json"}));
    CHECK(pushed["digest"] == index_digest);

    json one = json_of(run_ocibake(dir, {"pull", ref, "--platform", "linux/arm64", "-o",
                                         "oci:" + (dir / "arm").string(), "--json"}));
    CHECK(one["digest"] == arm.digest);
    for (const auto& [wanted, digest] : std::vector<std::pair<std::string, std::string>>{
             {"linux/arm", v7.digest}, {"linux/arm/v7", v7.digest}, {"linux/arm/v6", v6.digest}}) {
        INFO(wanted);
        json variant =
            json_of(run_ocibake(dir, {"pull", ref, "--platform", wanted, "-o",
                                      "oci:" + (dir / ("v-" + std::to_string(wanted.size()) +
                                                       wanted.substr(wanted.size() - 2)))
                                                   .string(),
                                      "--json"}));
        CHECK(variant["digest"] == digest);
    }
    json all = json_of(run_ocibake(
        dir, {"pull", ref, "--all-platforms", "-o", "oci:" + (dir / "all").string(), "--json"}));
    CHECK(all["digest"] == index_digest);
    must({"skopeo", "copy", "--all", "oci:" + (dir / "all").string() + ":1",
          "oci:" + (dir / "all-copy").string() + ":x"});
    auto missing = run_ocibake(
        dir, {"pull", ref, "--platform", "linux/s390x", "-o", "oci:" + (dir / "none").string()});
    CHECK(missing.exit_code == 4);
    CHECK(missing.err.find("has no image for linux/s390x (it has: linux/amd64, linux/arm64, "
                           "linux/arm/v6, linux/arm/v7)") != std::string::npos);
}

TEST_CASE("references: Docker Hub short names, tags, digests and errors") {
    using ocibake::registry::Reference;
    auto u = Reference::parse("ubuntu:24.04");
    CHECK(u.registry == "docker.io");
    CHECK(u.repository == "library/ubuntu");
    CHECK(u.tag == "24.04");
    CHECK(u.api_host() == "registry-1.docker.io");
    CHECK(u.str() == "docker.io/library/ubuntu:24.04");
    auto l = Reference::parse("localhost:5000/ml/app");
    CHECK(l.registry == "localhost:5000");
    CHECK(l.repository == "ml/app");
    CHECK(l.manifest_ref() == "latest");
    std::string hex(64, 'a');
    auto d = Reference::parse("ghcr.io/org/img:1@sha256:" + hex);
    CHECK(d.manifest_ref() == "sha256:" + hex);
    CHECK(d.tag == "1");
    CHECK(Reference::parse("org/img").repository == "org/img");
    CHECK(error_of([] { Reference::parse("Upper/Case"); }).what ==
          "invalid image reference 'Upper/Case': repository 'Upper/Case' must be lowercase letters "
          "and digits, "
          "separated by '.', '_', '__', '-' or '/'");
    CHECK(error_of([] { Reference::parse("img@sha256:xyz"); }).what ==
          "invalid image reference 'img@sha256:xyz': the part after '@' must be sha256:<64 "
          "lowercase hex>");
}

TEST_CASE("a registry base: locked by digest, enforced, and the image runs under runc") {
    require_program("runc", "runc");
    require_program("umoci", "umoci");
    ScratchDir dir("reg-base");
    Registry registry;
    // The default recipe's image (busybox + a greeting), pushed by skopeo.
    must({cli().string(), "build", (source_dir() / "recipes/hello.toml").string(), "-o",
          "oci:" + (dir / "hello").string() + ":1", "--cache-dir", (dir / "cache").string(), "-q"});
    skopeo_put("oci:" + (dir / "hello").string() + ":1", registry.host() + "/base/hello:1");
    const std::string hello_digest = skopeo_digest({}, "oci:" + (dir / "hello").string() + ":1");

    fs::path recipe =
        write_file(dir / "app.toml", "name = \"app\"\n[base]\nref = \"" + registry.host() +
                                         "/base/hello:1\"\n[config]\ncmd = [\"registry base\"]\n"
                                         "[[layer]]\nname = \"conf\"\n[[layer.files]]\n"
                                         "path = \"/etc/app.conf\"\ncontent = \"x=1\\n\"\n");
    // The first build pins the base in app.lock.
    json first = json_of(run_ocibake(
        dir, {"build", recipe.string(), "-o", "oci:" + (dir / "app").string(), "--json"}));
    std::string lock = read_file(dir / "app.lock");
    CHECK(lock.find("ref = \"" + registry.host() + "/base/hello:1\"") != std::string::npos);
    CHECK(lock.find("manifest = \"" + hello_digest + "\"") != std::string::npos);
    CHECK(first["layers"].size() == 3);
    CHECK(first["layers"][0]["cache"] == "base");

    // It runs: unpack with umoci, run with runc; the base's entrypoint greets our cmd.
    must({"umoci", "unpack", "--image", (dir / "app").string() + ":latest",
          (dir / "bundle").string()});
    json config = json::parse(read_file(dir / "bundle/config.json"));
    config["process"]["terminal"] = false;
    write_file(dir / "bundle/config.json", config.dump());
    std::string id = "ocibake-test-" + std::to_string(::getpid());
    auto ran = must({"runc", "run", "--bundle", (dir / "bundle").string(), id});
    CHECK(ran.out == "hello, registry base (from an ocibake image; uid 1000, in /home/app)\n");

    // Moving the tag in the registry changes nothing: the build uses the lock's digest.
    write_file(dir / "other/x", "other");
    write_file(dir / "other.toml",
               "name = \"other\"\n[[layer]]\n[[layer.copy]]\nsrc = \"other\"\n");
    must({cli().string(), "build", (dir / "other.toml").string(), "-o",
          "oci:" + (dir / "other-img").string(), "--cache-dir", (dir / "cache").string(), "-q"});
    skopeo_put("oci:" + (dir / "other-img").string() + ":latest",
               registry.host() + "/base/hello:1");
    json again = json_of(run_ocibake(
        dir, {"build", recipe.string(), "-o", "oci:" + (dir / "app2").string(), "--json"}));
    CHECK(again["digest"] == first["digest"]);

    // `ocibake lock` leaves a lock that answers the recipe as it is; `lock --update` sees
    // the moved tag and repins; the next build follows the new lock.
    json kept = json_of(run_ocibake(dir, {"lock", recipe.string(), "--json"}));
    CHECK(kept["changed"] == false);
    CHECK(kept["base"]["manifest"] == hello_digest);
    json relock = json_of(run_ocibake(dir, {"lock", recipe.string(), "--update", "--json"}));
    CHECK(relock["changed"] == true);
    CHECK(relock["base"]["manifest"] != hello_digest);
    json moved = json_of(run_ocibake(
        dir, {"build", recipe.string(), "-o", "oci:" + (dir / "app3").string(), "--json"}));
    CHECK(moved["digest"] != first["digest"]);

    // With --locked, a recipe that no longer matches its lock is an error naming the entry.
    write_file(recipe, read_file(recipe).replace(read_file(recipe).find("hello:1"), 7, "hello:2"));
    std::string pinned = read_file(dir / "app.lock");
    auto stale = run_ocibake(
        dir, {"build", recipe.string(), "--locked", "-o", "oci:" + (dir / "app4").string()});
    CHECK(stale.exit_code == 3);
    CHECK(stale.err.find("app.lock:5:1: error: the lock pins base " + registry.host() +
                         "/base/hello:1 (linux/amd64), but the recipe asks for " + registry.host() +
                         "/base/hello:2 (linux/amd64)") != std::string::npos);
    CHECK(stale.err.find("hint: run `ocibake lock ") != std::string::npos);
    // Without --locked the build repins (here to a tag that does not exist: the registry
    // says so, and the lock stays as it was).
    auto update =
        run_ocibake(dir, {"build", recipe.string(), "-o", "oci:" + (dir / "app5").string()});
    CHECK(update.exit_code == 4);
    CHECK(update.err.find("MANIFEST_UNKNOWN: the manifest is not in the repository") !=
          std::string::npos);
    CHECK(update.err.find("app.toml:3:7") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "app5"));
    CHECK(read_file(dir / "app.lock") == pinned);
    // Once the tag exists, the build repins the base and builds in one step.
    skopeo_put("oci:" + (dir / "hello").string() + ":1", registry.host() + "/base/hello:2");
    json updated = json_of(run_ocibake(
        dir, {"build", recipe.string(), "-o", "oci:" + (dir / "app6").string(), "--json"}));
    CHECK(updated["lock_update"]["base"]["ref"] == registry.host() + "/base/hello:2");
    CHECK(updated["digest"] == first["digest"]); // hello:2 is the first base again
    lock = read_file(dir / "app.lock");
    CHECK(lock.find("ref = \"" + registry.host() + "/base/hello:2\"") != std::string::npos);
    CHECK(lock.find("manifest = \"" + hello_digest + "\"") != std::string::npos);
}

TEST_CASE("token auth: anonymous pull tokens, credentials for push, a refused token refreshed, an "
          "identitytoken") {
    require_program("python3", "python3");
    ScratchDir dir("reg-token");
    HelperServer token = token_service(dir, "builder", "tok-pw", "--bad-first");
    Registry registry(trusting(dir, token));
    TestImage image(dir);
    const std::string layout = image.oci_ref();
    const std::string ref = registry.host() + "/tok/img:1";

    // The first token the service hands out is for another audience: the registry
    // refuses it, ocibake fetches a new one and goes on.
    json pushed =
        json_of(run_ocibake(dir, {"push", layout, ref, "--creds", "builder:tok-pw", "--json"}));
    CHECK(pushed["digest"] == image.digest);

    // Anonymous: pull is granted, push is not.
    json pulled =
        json_of(run_ocibake(dir, {"pull", ref, "-o", "oci:" + (dir / "anon").string(), "--json"}));
    CHECK(pulled["digest"] == image.digest);
    auto denied = run_ocibake(dir, {"push", layout, registry.host() + "/tok/other:1"});
    CHECK(denied.exit_code == 4);
    CHECK(denied.err.find("registry " + registry.host() + ", repository tok/other") !=
          std::string::npos);
    CHECK(denied.err.find(": denied: anonymous may not push to tok/other: give credentials "
                          "(--creds, an auth file or a credential helper) (HTTP 401, "
                          "insufficient_scope)\n") != std::string::npos);
    CHECK(denied.err.find("UNAUTHORIZED") == std::string::npos);
    // Wrong credentials: the token service refuses them, and the password is not shown.
    auto wrong = run_ocibake(dir, {"push", layout, ref, "--creds", "builder:nope-nope"});
    CHECK(wrong.exit_code == 4);
    CHECK(wrong.err.find("token service http://" + token.host() +
                         "/token: the credentials were refused") != std::string::npos);
    CHECK(wrong.err.find("nope-nope") == std::string::npos);

    // docker login's identitytoken: an OAuth2 refresh-token grant (POST) gets the token.
    write_file(dir / "home/.docker/config.json",
               R"({"auths":{")" + registry.host() + R"(":{"identitytoken":"refresh-tok-pw"}}})");
    json with_identity =
        json_of(run_ocibake(dir, {"push", layout, registry.host() + "/tok/identity:1", "--json"}));
    CHECK(with_identity["digest"] == image.digest);
    write_file(dir / "home/.docker/config.json",
               R"({"auths":{")" + registry.host() + R"(":{"identitytoken":"refresh-stale"}}})");
    auto stale = run_ocibake(dir, {"push", layout, registry.host() + "/tok/identity:2"});
    CHECK(stale.exit_code == 4);
    CHECK(stale.err.find("the credentials were refused") != std::string::npos);
    CHECK(stale.err.find("refresh-stale") == std::string::npos);
}

TEST_CASE("a push the token service does not grant is denied, not called bad credentials") {
    require_program("python3", "python3");
    ScratchDir dir("reg-denied");
    // Valid credentials, but the service grants them "pull" only (as for a repository the
    // user may read and not write): the registry answers 401 insufficient_scope.
    HelperServer token = token_service(dir, "reader", "read-pw", "--pull-only");
    Registry registry(trusting(dir, token));
    TestImage image(dir);
    auto r = run_ocibake(dir, {"push", image.oci_ref(), registry.host() + "/team/app:1", "--creds",
                               "reader:read-pw"});
    INFO(r.err);
    CHECK(r.exit_code == 4);
    CHECK(r.err.find("ocibake: error: registry " + registry.host() + ", repository team/app, ") !=
          std::string::npos);
    CHECK(r.err.find(": denied: reader may not push to team/app (HTTP 401, "
                     "insufficient_scope)\n") != std::string::npos);
    CHECK(r.err.find("UNAUTHORIZED") == std::string::npos);
    CHECK(r.err.find("check them") == std::string::npos);
    CHECK(r.err.find("read-pw") == std::string::npos);
}

TEST_CASE("a manifest pulled by tag must hash to the registry's Docker-Content-Digest") {
    require_program("python3", "python3");
    ScratchDir dir("reg-mitm");
    Registry registry;
    TestImage image(dir);
    skopeo_put(image.oci_ref(), registry.host() + "/mitm/img:1");

    SECTION("a body changed on the way is refused: pull, and base resolution at lock") {
        HelperServer proxy("proxy", {registry.host(), "0", "manifest=tamper"});
        const std::string said = "registry " + proxy.host() +
                                 ", repository mitm/img, manifest 1: the registry says the "
                                 "manifest is " +
                                 image.digest +
                                 " (Docker-Content-Digest), but the bytes it served hash to "
                                 "sha256:";
        auto pulled = run_ocibake(
            dir, {"pull", proxy.host() + "/mitm/img:1", "-o", "oci:" + (dir / "out").string()});
        INFO(pulled.err);
        CHECK(pulled.exit_code == 6);
        CHECK(pulled.err.find(said) != std::string::npos);
        CHECK(pulled.err.find("; refusing them\n") != std::string::npos);
        CHECK_FALSE(fs::exists(dir / "out"));

        fs::path recipe = write_file(dir / "app.toml", "name = \"app\"\n[base]\nref = \"" +
                                                           proxy.host() + "/mitm/img:1\"\n");
        auto locked = run_ocibake(dir, {"lock", recipe.string()});
        INFO(locked.err);
        CHECK(locked.exit_code == 6);
        CHECK(locked.err.find(said) != std::string::npos);
        CHECK_FALSE(fs::exists(dir / "app.lock"));
        auto built =
            run_ocibake(dir, {"build", recipe.string(), "-o", "oci:" + (dir / "built").string()});
        CHECK(built.exit_code == 6);
        CHECK(built.err.find(said) != std::string::npos);

        // By digest the proxy leaves it alone, and it is what the registry holds.
        json by_digest =
            json_of(run_ocibake(dir, {"pull", proxy.host() + "/mitm/img@" + image.digest, "-o",
                                      "oci:" + (dir / "out2").string(), "--json"}));
        CHECK(by_digest["digest"] == image.digest);
    }
    SECTION("without Docker-Content-Digest (it is optional) the digest of the bytes is pinned") {
        HelperServer proxy("proxy", {registry.host(), "0", "manifest=nodigest"});
        json pulled = json_of(run_ocibake(dir, {"pull", proxy.host() + "/mitm/img:1", "-o",
                                                "oci:" + (dir / "out").string(), "--json"}));
        CHECK(pulled["digest"] == image.digest);
        fs::path recipe = write_file(dir / "app.toml", "name = \"app\"\n[base]\nref = \"" +
                                                           proxy.host() + "/mitm/img:1\"\n");
        auto locked = run_ocibake(dir, {"lock", recipe.string()});
        INFO(locked.err);
        CHECK(locked.exit_code == 0);
        CHECK(read_file(dir / "app.lock").find("manifest = \"" + image.digest + "\"") !=
              std::string::npos);
    }
}

TEST_CASE("transient failures (429 with Retry-After, 503) are retried with backoff") {
    require_program("python3", "python3");
    ScratchDir dir("reg-flaky");
    Registry registry;
    HelperServer proxy("proxy", {registry.host(), "4"});
    TestImage image(dir);
    auto start = std::chrono::steady_clock::now();
    json pushed = json_of(run_ocibake(dir, {"push", image.oci_ref(), proxy.host() + "/flaky/img:1",
                                            "--parallel", "1", "--json"}));
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(pushed["digest"] == image.digest);
    CHECK(seconds >= 2.0); // two 429s asked for a second each
    CHECK(skopeo_digest({"--tls-verify=false"}, "docker://" + registry.host() + "/flaky/img:1") ==
          image.digest);
}

TEST_CASE("build --push, with per-blob progress on a terminal") {
    ScratchDir dir("reg-build-push");
    Registry registry;
    TestImage image(dir);
    // `script` gives ocibake a pseudo-terminal: progress lines go to it.
    std::string cmd = "'" + cli().string() + "' build '" + (dir / "img.toml").string() +
                      "' -o oci:'" + (dir / "out").string() + "' --cache-dir '" +
                      (dir / "cache2").string() + "' --push " + registry.host() +
                      "/built/img:1 --digest-file '" + (dir / "digest").string() + "'";
    auto tty = run({"script", "-qec", cmd, "/dev/null"});
    INFO(tty.out);
    CHECK(tty.exit_code == 0);
    CHECK(tty.out.find("pushed " + registry.host() + "/built/img:1@" + image.digest) !=
          std::string::npos);
    // While blobs upload, a bar per blob is redrawn with its short digest and sizes (at
    // most ten times a second: which blobs show depends on timing, that one does not).
    json manifest = image.manifest();
    bool drawn = false;
    for (const auto& blob : {manifest["config"], manifest["layers"][0], manifest["layers"][1]}) {
        std::string hex = blob["digest"].get<std::string>().substr(7, 12);
        drawn |= tty.out.find("\x1b[K" + hex + " [") != std::string::npos;
    }
    CHECK(drawn);
    CHECK(read_file(dir / "digest") == image.digest + "\n");
    CHECK(skopeo_digest({"--tls-verify=false"}, "docker://" + registry.host() + "/built/img:1") ==
          image.digest);
}

TEST_CASE("build --push without -o says where the image is and writes no local image") {
    ScratchDir dir("reg-push-only");
    Registry registry;
    TestImage image(dir);
    // Run from `dir`: the default output would be dir/out/img.
    CommandResult r = run({cli().string(), "build", (dir / "img.toml").string(), "--cache-dir",
                           (dir / "cache").string(), "--push", registry.host() + "/only/img:1"},
                          {"HOME=" + (dir / "home").string()}, dir.path());
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    // The line that said `-> oci:out/img` (where nothing was written) names the registry.
    CHECK(r.out.find(image.digest + " -> " + registry.host() +
                     "/only/img:1 (pushed; no local image was written: add -o oci:out/img for "
                     "one)\n") != std::string::npos);
    CHECK(r.out.find("-> oci:") == std::string::npos);
    CHECK_FALSE(fs::exists(dir / "out"));
    CHECK(skopeo_digest({"--tls-verify=false"}, "docker://" + registry.host() + "/only/img:1") ==
          image.digest);
}

TEST_CASE("lazy base layers: mounted in the base's registry, streamed to another, never on disk") {
    ScratchDir dir("reg-lazy");
    Registry registry;
    Registry elsewhere;
    // A base with a 3 MB layer, pushed by skopeo.
    TestImage base(dir);
    skopeo_put(base.oci_ref(), registry.host() + "/lazy/base:1");
    json base_manifest =
        json::parse(read_file(base.layout / "blobs/sha256" / base.digest.substr(7)));
    std::vector<std::string> base_layers;
    for (const auto& l : base_manifest["layers"]) {
        base_layers.push_back(l["digest"].get<std::string>().substr(7));
    }
    fs::path recipe =
        write_file(dir / "app.toml", "name = \"app\"\n[base]\nref = \"" + registry.host() +
                                         "/lazy/base:1\"\n[[layer]]\nname = \"conf\"\n"
                                         "[[layer.files]]\npath = \"/etc/app.conf\"\n"
                                         "content = \"x=1\\n\"\n");
    ScratchDir cache_dir("reg-lazy-cache");
    auto build = [&](std::vector<std::string> args) {
        std::vector<std::string> argv{cli().string(), "build",       recipe.string(),
                                      "--json",       "--cache-dir", (cache_dir / "c").string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return json_of(run(argv, {"HOME=" + (dir / "home").string()}));
    };
    auto in_cache = [&](const std::string& hex) {
        return fs::exists(cache_dir / "c/blobs/sha256" / hex);
    };

    // Pushed to the base's own registry with no local output: the base layers are mounted.
    json same = build({"--push", registry.host() + "/lazy/app:1"});
    INFO(same.dump(2));
    CHECK(same["output"].is_null());
    CHECK(same["base_layers_fetched"] == 0);
    CHECK(same["push"]["stats"]["blobs_mounted"] == base_layers.size());
    CHECK(same["push"]["stats"]["bytes_sent"].get<std::uint64_t>() < 4096); // our layer and config
    for (const auto& hex : base_layers) {
        CHECK_FALSE(in_cache(hex));
    }
    // Never read, so never checked with `run`'s rules: said so, not skipped silently.
    REQUIRE(same["base_checks"].size() == base_layers.size());
    CHECK(same["base_checks"][0] ==
          json({{"status", "unchecked"}, {"detail", "its blob is not in the cache"}}));

    // To another registry: streamed registry to registry, still never in the cache.
    json other = build({"--push", elsewhere.host() + "/lazy/app:1"});
    INFO(other.dump(2));
    CHECK(other["push"]["stats"]["blobs_streamed"] == base_layers.size());
    for (const auto& hex : base_layers) {
        CHECK_FALSE(in_cache(hex));
    }
    CHECK(skopeo_digest({"--tls-verify=false"}, "docker://" + elsewhere.host() + "/lazy/app:1") ==
          same["digest"]);
    skopeo_get(elsewhere.host() + "/lazy/app:1", "oci:" + (dir / "copied").string() + ":t");

    // An output needs the bytes: now the base layers are fetched (and the image is the same).
    json local = build({"-o", "oci:" + (dir / "local").string()});
    CHECK(local["base_layers_fetched"] == base_layers.size());
    CHECK(local["digest"] == same["digest"]);
    for (const auto& hex : base_layers) {
        CHECK(in_cache(hex));
    }
    for (const auto& check : local["base_checks"]) {
        CHECK(check == json({{"status", "passed"}}));
    }

    // --strict checks every base layer: pushed without an output, they are fetched for it.
    ScratchDir strict_cache("reg-lazy-strict");
    json strict = json_of(
        run({cli().string(), "build", recipe.string(), "--json", "--cache-dir",
             (strict_cache / "c").string(), "--strict", "--push", registry.host() + "/lazy/app:2"},
            {"HOME=" + (dir / "home").string()}));
    CHECK(strict["output"].is_null());
    CHECK(strict["base_layers_fetched"] == base_layers.size());
    CHECK(strict["digest"] == same["digest"]);
    for (const auto& check : strict["base_checks"]) {
        CHECK(check == json({{"status", "passed"}}));
    }
}

TEST_CASE("a layer streamed registry to registry goes on from the last acknowledged chunk") {
    require_program("python3", "python3");
    ScratchDir dir("reg-stream-resume");
    Registry registry;
    Registry elsewhere;
    TestImage base(dir); // its big layer: 3 MB that do not compress
    skopeo_put(base.oci_ref(), registry.host() + "/lazy/base:1");
    json base_manifest =
        json::parse(read_file(base.layout / "blobs/sha256" / base.digest.substr(7)));
    const std::string big = base_manifest["layers"][1]["digest"].get<std::string>();
    const std::uint64_t big_size = base_manifest["layers"][1]["size"].get<std::uint64_t>();
    REQUIRE(big_size > (1u << 20));

    // The base is read through one proxy (which logs the Range of every request), the
    // result pushed through another, which drops the third PATCH unanswered.
    fs::path source_log = dir / "source.log";
    fs::path target_log = dir / "target.log";
    HelperServer source("proxy", {registry.host(), "0", "log=" + source_log.string()});
    HelperServer target("proxy",
                        {elsewhere.host(), "0", "log=" + target_log.string(), "drop_patch=3"});
    fs::path recipe =
        write_file(dir / "app.toml", "name = \"app\"\n[base]\nref = \"" + source.host() +
                                         "/lazy/base:1\"\n[[layer]]\nname = \"conf\"\n"
                                         "[[layer.files]]\npath = \"/etc/app.conf\"\n"
                                         "content = \"x=1\\n\"\n");
    ScratchDir work("reg-stream-resume-build"); // a cache without the base's blobs
    json pushed = json_of(
        run_ocibake(work, {"build", recipe.string(), "--push", target.host() + "/lazy/app:1",
                           "--chunk-size", "256K", "--parallel", "1", "--json"}));
    INFO(pushed.dump(2));
    CHECK(pushed["push"]["stats"]["blobs_streamed"] == 2);
    CHECK_FALSE(fs::exists(work / "cache/blobs/sha256" / big.substr(7)));

    // The target: chunks 1 and 2 once, chunk 3 twice (dropped, then sent again), and
    // never the first chunk again.
    std::string sent = read_file(target_log);
    INFO(sent);
    auto count = [](const std::string& text, const std::string& what) {
        std::size_t n = 0;
        for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
            ++n;
        }
        return n;
    };
    const std::uint64_t chunks = (big_size + (256u << 10) - 1) / (256u << 10);
    CHECK(count(sent, "PATCH /v2/lazy/app/blobs/uploads/") == chunks + 1); // one twice
    CHECK(count(sent, " 0-262143\n") == 1);
    CHECK(count(sent, " 524288-786431\n") == 2);
    // The source: the big layer read once from the start, and once more from where the
    // target stood (not from 0).
    std::string read = read_file(source_log);
    INFO(read);
    CHECK(count(read, "GET /v2/lazy/base/blobs/" + big + " -\n") == 1);
    CHECK(count(read, "GET /v2/lazy/base/blobs/" + big + " bytes=524288-\n") == 1);

    CHECK(skopeo_digest({"--tls-verify=false"}, "docker://" + elsewhere.host() + "/lazy/app:1") ==
          pushed["digest"]);
    skopeo_get(elsewhere.host() + "/lazy/app:1", "oci:" + (dir / "copied").string() + ":t");
}

TEST_CASE("a download cut off halfway is resumed with Range") {
    require_program("python3", "python3");
    ScratchDir dir("reg-range");
    Registry registry;
    TestImage image(dir);
    skopeo_put(image.oci_ref(), registry.host() + "/range/img:1");
    fs::path log = dir / "ranges.log";
    HelperServer proxy("proxy", {registry.host(), "0", log.string()});
    ScratchDir fresh("reg-range-pull"); // a cache without the image's blobs
    json pulled =
        json_of(run_ocibake(fresh, {"pull", proxy.host() + "/range/img:1", "-o",
                                    "oci:" + (dir / "out").string(), "--parallel", "1", "--json"}));
    CHECK(pulled["digest"] == image.digest);
    CHECK(skopeo_digest({}, "oci:" + (dir / "out").string() + ":1") == image.digest);
    // After the cut, the next request for that blob asked for the rest only.
    std::string ranges = read_file(log);
    INFO(ranges);
    CHECK(ranges.find("bytes=") != std::string::npos);
    CHECK(ranges.find("bytes=0-") == std::string::npos);
}

TEST_CASE("plain HTTP only for loopback and hosts named with --insecure-registry") {
    std::string address = non_loopback_address();
    if (address.empty()) {
        return ocibake::test::skip("this machine has no non-loopback IPv4 address");
    }
    ScratchDir dir("reg-insecure");
    RegistryConfig config;
    config.address = address;
    Registry registry(config);
    TestImage image(dir);
    const std::string layout = image.oci_ref();
    const std::string ref = registry.host() + "/insecure/img:1";
    auto refused = run_ocibake(dir, {"push", layout, ref});
    CHECK(refused.exit_code != 0);
    CHECK(refused.err.find("refusing plain HTTP to " + registry.host()) != std::string::npos);
    CHECK(refused.err.find("--insecure-registry") != std::string::npos);
    json pushed = json_of(
        run_ocibake(dir, {"push", layout, ref, "--insecure-registry", registry.host(), "--json"}));
    CHECK(pushed["digest"] == image.digest);
}

TEST_CASE("credentials from credsStore, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR and DOCKER_CONFIG") {
    ScratchDir dir("reg-creds");
    RegistryConfig config;
    config.htpasswd_user = "builder";
    config.htpasswd_password = "store-pw";
    Registry registry(config);
    TestImage image(dir);
    const std::string layout = image.oci_ref();
    const std::string path = std::string(std::getenv("PATH"));

    // credsStore: every registry through one helper.
    write_file(dir / "bin/docker-credential-store",
               "#!/bin/sh\nread server\n[ \"$1\" = get ] || exit 1\n"
               "printf '{\"Username\":\"builder\",\"Secret\":\"store-pw\"}'\n",
               0755);
    write_file(dir / "home/.docker/config.json", R"({"credsStore":"store"})");
    auto stored = run_ocibake(dir, {"push", layout, registry.host() + "/creds/img:1", "-q"},
                              {"PATH=" + (dir / "bin").string() + ":" + path});
    INFO(stored.err);
    CHECK(stored.exit_code == 0);
    // A helper named in the config but not installed is an error that says so.
    write_file(dir / "home/.docker/config.json", R"({"credsStore":"missing"})");
    auto missing = run_ocibake(dir, {"push", layout, registry.host() + "/creds/img:2"});
    CHECK(missing.exit_code == 4);
    CHECK(missing.err.find("credential helper docker-credential-missing is not installed") !=
          std::string::npos);

    // REGISTRY_AUTH_FILE (podman's, containers-auth.json format).
    fs::remove(dir / "home/.docker/config.json");
    write_file(dir / "auth.json",
               R"({"auths":{")" + registry.host() + R"(":{"auth":"YnVpbGRlcjpzdG9yZS1wdw=="}}})");
    std::vector<std::string> argv{cli().string(),
                                  "push",
                                  layout,
                                  registry.host() + "/creds/img:3",
                                  "-q",
                                  "--cache-dir",
                                  (dir / "cache").string()};
    auto from_env = run(argv, {"HOME=" + (dir / "home").string(),
                               "REGISTRY_AUTH_FILE=" + (dir / "auth.json").string()});
    INFO(from_env.err);
    CHECK(from_env.exit_code == 0);

    // $XDG_RUNTIME_DIR/containers/auth.json (podman login's) and $DOCKER_CONFIG/config.json.
    fs::create_directories(dir / "run/containers");
    fs::copy_file(dir / "auth.json", dir / "run/containers/auth.json");
    argv[3] = registry.host() + "/creds/img:4";
    auto from_xdg = run(argv, {"HOME=" + (dir / "home").string(),
                               "REGISTRY_AUTH_FILE=", "XDG_RUNTIME_DIR=" + (dir / "run").string()});
    INFO(from_xdg.err);
    CHECK(from_xdg.exit_code == 0);
    fs::create_directories(dir / "docker-config");
    fs::copy_file(dir / "auth.json", dir / "docker-config/config.json");
    argv[3] = registry.host() + "/creds/img:5";
    auto from_docker_config =
        run(argv, {"HOME=" + (dir / "home").string(), "REGISTRY_AUTH_FILE=", "XDG_RUNTIME_DIR=",
                   "DOCKER_CONFIG=" + (dir / "docker-config").string()});
    INFO(from_docker_config.err);
    CHECK(from_docker_config.exit_code == 0);
    // With none of them, the registry refuses, and says who it is.
    argv[3] = registry.host() + "/creds/img:6";
    auto none = run(argv, {"HOME=" + (dir / "home").string(),
                           "REGISTRY_AUTH_FILE=", "XDG_RUNTIME_DIR=", "DOCKER_CONFIG="});
    CHECK(none.exit_code == 4);
    CHECK(none.err.find("registry " + registry.host()) != std::string::npos);
    CHECK(none.err.find("UNAUTHORIZED") != std::string::npos);
}

TEST_CASE("Docker schema2 images: pulled, and used as a base by tag@digest") {
    ScratchDir dir("reg-v2s2");
    Registry registry;
    TestImage image(dir);
    // skopeo converts the OCI image to Docker's schema2 on the way in.
    must({"skopeo", "copy", "--format", "v2s2", "--dest-tls-verify=false", image.oci_ref(),
          "docker://" + registry.host() + "/docker/img:1"});
    json raw = json::parse(must({"skopeo", "inspect", "--raw", "--tls-verify=false",
                                 "docker://" + registry.host() + "/docker/img:1"})
                               .out);
    REQUIRE(raw["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json");
    std::string docker_digest =
        skopeo_digest({"--tls-verify=false"}, "docker://" + registry.host() + "/docker/img:1");

    ScratchDir fresh("reg-v2s2-pull");
    json pulled = json_of(run_ocibake(fresh, {"pull", registry.host() + "/docker/img:1", "-o",
                                              "oci:" + (dir / "pulled").string(), "--json"}));
    CHECK(pulled["digest"] == docker_digest);
    // The layout keeps the registry's manifest as it is (same digest). skopeo 1.9 finds a
    // Docker-typed manifest in a layout only without a tag.
    CHECK(skopeo_digest({}, "oci:" + (dir / "pulled").string()) == docker_digest);
    CHECK(json::parse(
              must({cli().string(), "inspect", "oci:" + (dir / "pulled").string() + ":1", "--json"})
                  .out)["digest"] == docker_digest);

    // As a base, named by tag and digest: the digest is what is used and locked.
    fs::path recipe =
        write_file(dir / "app.toml", "name = \"app\"\n[base]\nref = \"" + registry.host() +
                                         "/docker/img:1@" + docker_digest +
                                         "\"\n[[layer]]\n[[layer.files]]\npath = \"/x\"\n"
                                         "content = \"x\"\n");
    json built = json_of(run_ocibake(
        dir, {"build", recipe.string(), "-o", "oci:" + (dir / "app").string(), "--json"}));
    CHECK(read_file(dir / "app.lock").find("manifest = \"" + docker_digest + "\"") !=
          std::string::npos);
    json manifest = json::parse(
        read_file(dir / "app/blobs/sha256" / built["digest"].get<std::string>().substr(7)));
    // The base's layers are reused byte for byte, their Docker media type written as OCI's.
    CHECK(manifest["layers"][0]["digest"] == raw["layers"][0]["digest"]);
    CHECK(manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip");
    must({"umoci", "unpack", "--image", (dir / "app").string() + ":latest",
          (dir / "bundle").string()});
    CHECK(read_file(dir / "bundle/rootfs/app/hello.txt") == "hello\n");
}

TEST_CASE("ocibake run and ocibake test take registry images") {
    require_program("runc", "runc");
    ScratchDir dir("reg-run");
    Registry registry;
    must({cli().string(), "build", (source_dir() / "recipes/hello.toml").string(), "-o",
          "oci:" + (dir / "hello").string() + ":1", "--cache-dir", (dir / "cache").string(), "-q"});
    const std::string ref = registry.host() + "/run/hello:1";
    skopeo_put("oci:" + (dir / "hello").string() + ":1", ref);

    ScratchDir fresh("reg-run-cache"); // nothing of the image in this cache yet
    auto ran = run({cli().string(), "run", "docker://" + ref, "--cache-dir", (fresh / "c").string(),
                    "--", "from the registry"});
    INFO(ran.err);
    CHECK(ran.exit_code == 0);
    CHECK(ran.out == "hello, from the registry (from an ocibake image; uid 1000, in /home/app)\n");
    // A bare reference works too when its first component is a registry host.
    auto bare =
        run({cli().string(), "run", ref, "--cache-dir", (fresh / "c").string(), "--", "bare"});
    CHECK(bare.out.find("hello, bare") == 0);

    auto tested = run({cli().string(), "test", "docker://" + ref, "--recipe",
                       (source_dir() / "recipes/hello.toml").string(), "--cache-dir",
                       (fresh / "c").string(), "--json"});
    INFO(tested.out << tested.err);
    CHECK(tested.exit_code == 0);
    json report = json::parse(tested.out);
    CHECK(report["failed"] == 0);
    CHECK(report["passed"].get<int>() >= 1);
}
