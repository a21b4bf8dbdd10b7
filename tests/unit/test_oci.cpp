// Unit tests for ocibake/oci.hpp: platforms, descriptors, image config / manifest / index
// canonical JSON and parsers, media types, rfc3339 and ContainerConfig's environment.
#include "ocibake/error.hpp"
#include "ocibake/oci.hpp"
#include "support/checks.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

using namespace ocibake;
using namespace ocibake::oci;
using namespace ocibake::test;

namespace {

const Digest kConfigDigest = sha256_of("config");
const Digest kLayer1 = sha256_of("layer 1");
const Digest kLayer2 = sha256_of("layer 2");
const Digest kDiff1 = sha256_of("diff 1");
const Digest kDiff2 = sha256_of("diff 2");

// An image config that sets every field.
ImageConfig full_config() {
    ImageConfig c;
    c.created = "2023-11-14T22:13:20Z";
    c.author = "ocibake tests <tests@example.org>";
    c.platform = Platform{"linux", "arm64", "v8"};
    c.os_version = "6.1";
    ContainerConfig& cc = c.config;
    cc.user = "1000:1000";
    cc.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "EMPTY="};
    cc.entrypoint = std::vector<std::string>{"/bin/sh", "-c"};
    cc.cmd = std::vector<std::string>{"echo \"hi\" && exec /app"};
    cc.exposed_ports = {"443/tcp", "53/udp", "8080/tcp"};
    cc.volumes = {"/data", "/var/log"};
    cc.working_dir = "/srv/app";
    cc.labels = {{"org.opencontainers.image.title", "demo"},
                 {"org.opencontainers.image.version", "1.2.3"},
                 {"a.unicode", "caf\xc3\xa9"}};
    cc.stop_signal = "SIGTERM";
    cc.extra_json = R"({"Healthcheck":{"Interval":30000000000,"Test":["CMD","true"]}})";
    c.diff_ids = {kDiff1, kDiff2};
    c.history = {
        {"2023-11-14T22:13:20Z", "ocibake: base", "from busybox", "someone", false},
        {"2023-11-14T22:13:20Z", "ENV LANG=C.UTF-8", "", "", true},
        {"", "ocibake: layer app", "", "", false},
    };
    c.extra_json = R"({"moby.buildkit.buildinfo.v1":"e30="})";
    return c;
}

Manifest full_manifest() {
    Manifest m;
    m.config = {std::string(media_type::config), kConfigDigest, 1469, {}, std::nullopt};
    m.layers = {
        {std::string(media_type::layer_gzip), kLayer1, 2811969, {}, std::nullopt},
        {std::string(media_type::layer_zstd),
         kLayer2,
         9007199254740993ull, // 2^53 + 1: not representable as a double
         {{"org.opencontainers.image.title", "layer2.tar.zst"}},
         std::nullopt},
    };
    m.annotations = {{"org.opencontainers.image.created", "2023-11-14T22:13:20Z"},
                     {"org.opencontainers.image.source", "https://example.org/repo"}};
    return m;
}

Index full_index() {
    Index index;
    index.manifests = {
        {std::string(media_type::manifest),
         kLayer1,
         512,
         {{std::string(ref_name_annotation), "1.0"}},
         Platform{"linux", "amd64", ""}},
        {std::string(media_type::manifest), kLayer2, 513, {}, Platform{"linux", "arm64", "v8"}},
    };
    index.annotations = {{"org.opencontainers.image.ref.name", "latest"}};
    return index;
}

void check_same(const Descriptor& a, const Descriptor& b) {
    CHECK(a.media_type == b.media_type);
    CHECK(a.digest == b.digest);
    CHECK(a.size == b.size);
    CHECK(a.annotations == b.annotations);
    REQUIRE(a.platform.has_value() == b.platform.has_value());
    if (a.platform) {
        CHECK(a.platform->str() == b.platform->str());
        CHECK(*a.platform == *b.platform);
    }
}

// Sets TZ for a scope (tzset() included); restores it afterwards.
class TzGuard {
public:
    explicit TzGuard(const char* tz) {
        if (const char* old = std::getenv("TZ")) {
            saved_ = old;
        }
        ::setenv("TZ", tz, 1);
        ::tzset();
    }
    ~TzGuard() {
        if (saved_) {
            ::setenv("TZ", saved_->c_str(), 1);
        } else {
            ::unsetenv("TZ");
        }
        ::tzset();
    }
    TzGuard(const TzGuard&) = delete;
    TzGuard& operator=(const TzGuard&) = delete;

private:
    std::optional<std::string> saved_;
};

} // namespace

// --- image config ----------------------------------------------------------------------

TEST_CASE("to_json of a full image config matches its golden file", "[oci]") {
    std::string json = to_json(full_config());
    INFO(json);
    CHECK(matches_golden("oci/config-full.json", json));
    // Canonical: deterministic, compact (no newline, no space after ':' or ',').
    CHECK(to_json(full_config()) == json);
    CHECK(json.find('\n') == std::string::npos);
    CHECK(json.find("\": ") == std::string::npos);
    CHECK(json.find(", \"") == std::string::npos);
}

TEST_CASE("to_json writes canonical JSON: sorted keys and no whitespace", "[oci]") {
    ImageConfig c;
    c.platform = Platform{"linux", "amd64", ""};
    c.config.env = {"B=2", "A=1"}; // Env keeps its order: an array, not a set
    c.config.cmd = std::vector<std::string>{};
    c.diff_ids = {kDiff1};
    CHECK(to_json(c) == R"({"architecture":"amd64","config":{"Cmd":[],"Env":["B=2","A=1"]},)"
                        R"("os":"linux","rootfs":{"diff_ids":[")" +
                            kDiff1.str() + R"("],"type":"layers"}})");

    // The minimal config: empty fields are left out, rootfs is always there.
    CHECK(
        to_json(ImageConfig{}) ==
        R"({"architecture":"amd64","config":{},"os":"linux","rootfs":{"diff_ids":[],"type":"layers"}})");

    // Any input layout gives the same bytes.
    std::string messy = R"(
        {
          "rootfs" : { "type" : "layers", "diff_ids" : [ ")" +
                        kDiff1.str() + R"(" ] },
          "os" : "linux",
          "config" : { "Env" : [ "B=2", "A=1" ], "Cmd" : [ ] },
          "architecture" : "amd64"
        }
    )";
    CHECK(to_json(parse_image_config(messy, "messy.json")) == to_json(c));
}

TEST_CASE("parse_image_config(to_json(x)) round-trips every field", "[oci]") {
    const ImageConfig x = full_config();
    const ImageConfig y = parse_image_config(to_json(x), "config.json");
    CHECK(y.created == x.created);
    CHECK(y.author == x.author);
    CHECK(y.platform == x.platform);
    CHECK(y.os_version == x.os_version);
    CHECK(y.config.user == x.config.user);
    CHECK(y.config.env == x.config.env);
    CHECK(y.config.entrypoint == x.config.entrypoint);
    CHECK(y.config.cmd == x.config.cmd);
    CHECK(y.config.exposed_ports == x.config.exposed_ports);
    CHECK(y.config.volumes == x.config.volumes);
    CHECK(y.config.working_dir == x.config.working_dir);
    CHECK(y.config.labels == x.config.labels);
    CHECK(y.config.stop_signal == x.config.stop_signal);
    CHECK(y.config.extra_json == x.config.extra_json);
    CHECK(y.diff_ids == x.diff_ids);
    REQUIRE(y.history.size() == x.history.size());
    for (std::size_t i = 0; i < x.history.size(); ++i) {
        INFO("history[" << i << "]");
        CHECK(y.history[i].created == x.history[i].created);
        CHECK(y.history[i].created_by == x.history[i].created_by);
        CHECK(y.history[i].comment == x.history[i].comment);
        CHECK(y.history[i].author == x.history[i].author);
        CHECK(y.history[i].empty_layer == x.history[i].empty_layer);
    }
    CHECK(y.extra_json == x.extra_json);
    CHECK(to_json(y) == to_json(x));

    SECTION("an empty Entrypoint or Cmd is not an absent one") {
        ImageConfig c;
        c.config.entrypoint = std::vector<std::string>{};
        ImageConfig parsed = parse_image_config(to_json(c), "c.json");
        REQUIRE(parsed.config.entrypoint.has_value());
        CHECK(parsed.config.entrypoint->empty());
        CHECK_FALSE(parsed.config.cmd.has_value());
    }
}

TEST_CASE("fields ocibake does not model survive parse and to_json", "[oci]") {
    // As written by docker/buildkit: Healthcheck and ArgsEscaped in config, buildkit's
    // build info and docker's container_config at the top level.
    const std::string docker = R"({
      "architecture": "amd64",
      "os": "linux",
      "moby.buildkit.buildinfo.v1": "eyJmcm9udGVuZCI6ImRvY2tlcmZpbGUudjAifQ==",
      "container_config": {"Hostname": "", "Tty": false},
      "config": {
        "Env": ["PATH=/bin"],
        "Healthcheck": {"Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
                        "Interval": 30000000000, "Retries": 3},
        "ArgsEscaped": true,
        "OnBuild": null
      },
      "rootfs": {"type": "layers", "diff_ids": []}
    })";
    ImageConfig c = parse_image_config(docker, "docker-config.json");
    CHECK(c.config.env == std::vector<std::string>{"PATH=/bin"});
    CHECK(c.config.extra_json ==
          R"({"ArgsEscaped":true,"Healthcheck":{"Interval":30000000000,"Retries":3,)"
          R"("Test":["CMD-SHELL","curl -f http://localhost/ || exit 1"]},"OnBuild":null})");
    CHECK(c.extra_json ==
          R"({"container_config":{"Hostname":"","Tty":false},)"
          R"("moby.buildkit.buildinfo.v1":"eyJmcm9udGVuZCI6ImRvY2tlcmZpbGUudjAifQ=="})");
    CHECK(to_json(c) ==
          R"({"architecture":"amd64","config":{"ArgsEscaped":true,"Env":["PATH=/bin"],)"
          R"("Healthcheck":{"Interval":30000000000,"Retries":3,)"
          R"("Test":["CMD-SHELL","curl -f http://localhost/ || exit 1"]},"OnBuild":null},)"
          R"("container_config":{"Hostname":"","Tty":false},)"
          R"("moby.buildkit.buildinfo.v1":"eyJmcm9udGVuZCI6ImRvY2tlcmZpbGUudjAifQ==",)"
          R"("os":"linux","rootfs":{"diff_ids":[],"type":"layers"}})");

    // Changing a modelled field keeps the others.
    c.config.set_env("PATH", "/usr/bin");
    ImageConfig again = parse_image_config(to_json(c), "again.json");
    CHECK(again.config.env == std::vector<std::string>{"PATH=/usr/bin"});
    CHECK(again.config.extra_json == c.config.extra_json);
    CHECK(again.extra_json == c.extra_json);
}

TEST_CASE("parse_image_config reads a config as registries serve it", "[oci]") {
    const std::string text = R"({
      "created": "2023-05-09T23:11:10.132147526Z",
      "architecture": "arm64", "variant": "v8", "os": "linux",
      "config": {
        "User": "nobody", "WorkingDir": "/w", "StopSignal": "SIGQUIT",
        "Env": ["A=1"], "Entrypoint": null, "Cmd": ["sh"],
        "ExposedPorts": {"80/tcp": {}, "443/tcp": {}, "22/tcp": {}},
        "Volumes": {"/var": {}, "/data": {}},
        "Labels": {"maintainer": "x"}
      },
      "rootfs": {"type": "layers", "diff_ids": [")" +
                             kDiff1.str() + R"("]},
      "history": [{"created": "2023-05-09T23:11:10Z", "created_by": "/bin/sh -c #(nop) CMD [\"sh\"]",
                   "empty_layer": true}]
    })";
    ImageConfig c = parse_image_config(text, "busybox.json");
    CHECK(c.created == "2023-05-09T23:11:10.132147526Z");
    CHECK(c.platform == Platform{"linux", "arm64", "v8"});
    CHECK(c.config.user == "nobody");
    CHECK(c.config.working_dir == "/w");
    CHECK(c.config.stop_signal == "SIGQUIT");
    CHECK_FALSE(c.config.entrypoint.has_value());
    CHECK(c.config.cmd == std::optional<std::vector<std::string>>({"sh"}));
    // Sets come back sorted.
    CHECK(c.config.exposed_ports == std::vector<std::string>{"22/tcp", "443/tcp", "80/tcp"});
    CHECK(c.config.volumes == std::vector<std::string>{"/data", "/var"});
    CHECK(c.config.labels == std::map<std::string, std::string>{{"maintainer", "x"}});
    CHECK(c.config.extra_json.empty());
    CHECK(c.extra_json.empty());
    CHECK(c.diff_ids == std::vector<Digest>{kDiff1});
    REQUIRE(c.history.size() == 1);
    CHECK(c.history[0].empty_layer);
    CHECK(c.history[0].created_by == "/bin/sh -c #(nop) CMD [\"sh\"]");
}

// --- manifest and index ----------------------------------------------------------------

TEST_CASE("manifest JSON matches its golden file and round-trips", "[oci]") {
    const Manifest m = full_manifest();
    std::string json = to_json(m);
    INFO(json);
    CHECK(matches_golden("oci/manifest.json", json));

    Manifest p = parse_manifest(json, "manifest.json");
    CHECK(p.media_type == media_type::manifest);
    check_same(p.config, m.config);
    REQUIRE(p.layers.size() == m.layers.size());
    for (std::size_t i = 0; i < m.layers.size(); ++i) {
        INFO("layer " << i);
        check_same(p.layers[i], m.layers[i]);
    }
    CHECK(p.layers[1].size == 9007199254740993ull);
    CHECK(p.annotations == m.annotations);
    CHECK(to_json(p) == json);
}

TEST_CASE("index JSON matches its golden file and round-trips", "[oci]") {
    const Index index = full_index();
    std::string json = to_json(index);
    INFO(json);
    CHECK(matches_golden("oci/index.json", json));

    Index p = parse_index(json, "index.json");
    CHECK(p.media_type == media_type::index);
    REQUIRE(p.manifests.size() == index.manifests.size());
    for (std::size_t i = 0; i < index.manifests.size(); ++i) {
        INFO("manifest " << i);
        check_same(p.manifests[i], index.manifests[i]);
    }
    CHECK(p.annotations == index.annotations);
    CHECK(to_json(p) == json);

    SECTION("without mediaType (an OCI layout's index.json may omit it)") {
        Index bare = parse_index(R"({"schemaVersion":2,"manifests":[]})", "index.json");
        CHECK(bare.media_type == media_type::index);
        CHECK(bare.manifests.empty());
    }
    SECTION("a Docker manifest list") {
        Index list = parse_index(
            R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",
                "manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
                  "digest":")" +
                kLayer1.str() +
                R"(","size":528,"platform":{"architecture":"arm","os":"linux","variant":"v7"}}]})",
            "list.json");
        CHECK(list.media_type == media_type::docker_manifest_list);
        REQUIRE(list.manifests.size() == 1);
        CHECK(list.manifests[0].media_type == media_type::docker_manifest);
        REQUIRE(list.manifests[0].platform);
        CHECK(list.manifests[0].platform->str() == "linux/arm/v7");
    }
}

TEST_CASE("a Docker schema2 manifest parses", "[oci]") {
    const std::string text = R"({
       "schemaVersion": 2,
       "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
       "config": {
          "mediaType": "application/vnd.docker.container.image.v1+json",
          "size": 1469,
          "digest": ")" + kConfigDigest.str() +
                             R"("
       },
       "layers": [
          {
             "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
             "size": 2811969,
             "digest": ")" + kLayer1.str() +
                             R"("
          }
       ]
    })";
    Manifest m = parse_manifest(text, "docker.json");
    CHECK(m.media_type == media_type::docker_manifest);
    CHECK(m.config.media_type == media_type::docker_config);
    CHECK(m.config.digest == kConfigDigest);
    CHECK(m.config.size == 1469);
    REQUIRE(m.layers.size() == 1);
    CHECK(m.layers[0].media_type == media_type::docker_layer_gzip);
    CHECK(m.layers[0].digest == kLayer1);
    CHECK(m.layers[0].size == 2811969);
    CHECK(oci_layer_media_type(m.layers[0].media_type) == media_type::layer_gzip);
    CHECK(m.annotations.empty());
    CHECK(document_media_type(text, "docker.json") == media_type::docker_manifest);

    SECTION("without mediaType it is an OCI manifest") {
        Manifest bare =
            parse_manifest(R"({"schemaVersion":2,"config":{"mediaType":"x","digest":")" +
                               kConfigDigest.str() + R"(","size":2},"layers":[]})",
                           "bare.json");
        CHECK(bare.media_type == media_type::manifest);
        CHECK(bare.layers.empty());
        Caught no_layers = error_of([&] {
            parse_manifest(R"({"schemaVersion":2,"config":{"mediaType":"x","digest":")" +
                               kConfigDigest.str() + R"(","size":2}})",
                           "bare.json");
        });
        CHECK(no_layers.kind == ErrorKind::integrity);
        CHECK(no_layers.what == "bare.json: the manifest has no layers array");
    }
}

TEST_CASE("malformed documents are Error(integrity) starting with their origin", "[oci]") {
    auto manifest_with_config = [](const std::string& config) {
        return R"({"schemaVersion":2,"config":)" + config + R"(,"layers":[]})";
    };
    struct Case {
        const char* what;
        std::function<void()> call;
        std::string message; // exact, or a prefix when `prefix_only`
        bool prefix_only = false;
    };
    const std::vector<Case> cases = {
        {"invalid JSON (config)", [] { parse_image_config("{", "cfg.json"); },
         "cfg.json: invalid JSON: ", true},
        {"invalid JSON (manifest)", [] { parse_manifest("{\"schemaVersion\":", "m.json"); },
         "m.json: invalid JSON: ", true},
        {"invalid JSON (index)", [] { parse_index("", "i.json"); }, "i.json: invalid JSON: ", true},
        {"invalid JSON (media type)", [] { document_media_type("nope", "d.json"); },
         "d.json: invalid JSON: ", true},
        {"not an object (config)", [] { parse_image_config("[]", "cfg.json"); },
         "cfg.json: expected a JSON object"},
        {"not an object (manifest)", [] { parse_manifest("\"manifest\"", "m.json"); },
         "m.json: expected a JSON object"},
        {"not an object (index)", [] { parse_index("2", "i.json"); },
         "i.json: expected a JSON object"},
        {"not an object (media type)", [] { document_media_type("null", "d.json"); },
         "d.json: expected a JSON object"},
        {"bad digest in a descriptor",
         [&] {
             parse_manifest(
                 manifest_with_config(R"({"mediaType":"x","digest":"sha256:abc","size":7})"),
                 "m.json");
         },
         "m.json: unsupported or invalid digest 'sha256:abc' (ocibake handles sha256)"},
        {"sha512 digest in a descriptor",
         [&] {
             parse_manifest(manifest_with_config(R"({"mediaType":"x","digest":"sha512:)" +
                                                 std::string(128, 'a') + R"(","size":7})"),
                            "m.json");
         },
         "m.json: unsupported or invalid digest 'sha512:" + std::string(128, 'a') +
             "' (ocibake handles sha256)"},
        {"missing digest in a descriptor",
         [&] { parse_manifest(manifest_with_config(R"({"mediaType":"x","size":7})"), "m.json"); },
         "m.json: unsupported or invalid digest '' (ocibake handles sha256)"},
        {"missing size",
         [&] {
             parse_manifest(manifest_with_config(R"({"mediaType":"x","digest":")" +
                                                 kConfigDigest.str() + R"("})"),
                            "m.json");
         },
         "m.json: descriptor " + kConfigDigest.str() + " has no valid size"},
        {"negative size",
         [&] {
             parse_manifest(manifest_with_config(R"({"mediaType":"x","digest":")" +
                                                 kConfigDigest.str() + R"(","size":-1})"),
                            "m.json");
         },
         "m.json: descriptor " + kConfigDigest.str() + " has no valid size"},
        {"size as a string",
         [&] {
             parse_index(R"({"schemaVersion":2,"manifests":[{"mediaType":"x","digest":")" +
                             kLayer1.str() + R"(","size":"7"}]})",
                         "i.json");
         },
         "i.json: descriptor " + kLayer1.str() + " has no valid size"},
        {"schemaVersion 1 manifest",
         [] { parse_manifest(R"({"schemaVersion":1,"name":"library/busybox"})", "m.json"); },
         "m.json: not a schema version 2 manifest"},
        {"manifest without schemaVersion", [] { parse_manifest("{}", "m.json"); },
         "m.json: not a schema version 2 manifest"},
        {"schemaVersion 1 index", [] { parse_index(R"({"schemaVersion":1})", "i.json"); },
         "i.json: not a schema version 2 index"},
        {"manifest without config",
         [] { parse_manifest(R"({"schemaVersion":2,"layers":[]})", "m.json"); },
         "m.json: the manifest has no config"},
        {"manifest with a null config",
         [&] { parse_manifest(manifest_with_config("null"), "m.json"); },
         "m.json: a descriptor must be an object"},
        {"an index where a manifest is expected",
         [] {
             parse_manifest(R"({"schemaVersion":2,"mediaType":")" + std::string(media_type::index) +
                                R"(","manifests":[]})",
                            "m.json");
         },
         "m.json: not an image manifest (mediaType application/vnd.oci.image.index.v1+json)"},
        {"index without manifests", [] { parse_index(R"({"schemaVersion":2})", "i.json"); },
         "i.json: the index has no manifests array"},
        {"config without rootfs",
         [] { parse_image_config(R"({"architecture":"amd64","os":"linux"})", "cfg.json"); },
         "cfg.json: the image config has no rootfs"},
        {"bad diff_id",
         [] {
             parse_image_config(R"({"rootfs":{"type":"layers","diff_ids":["sha256:xyz"]}})",
                                "cfg.json");
         },
         "cfg.json: rootfs.diff_ids holds an invalid digest"},
        {"Env not an array",
         [] {
             parse_image_config(R"({"config":{"Env":"A=1"},"rootfs":{"diff_ids":[]}})", "cfg.json");
         },
         "cfg.json: 'Env' must be an array of strings"},
        {"a label that is not a string",
         [] {
             parse_image_config(R"({"config":{"Labels":{"a":1}},"rootfs":{"diff_ids":[]}})",
                                "cfg.json");
         },
         "cfg.json: 'Labels.a' must be a string"},
        {"architecture not a string",
         [] { parse_image_config(R"({"architecture":64,"rootfs":{}})", "cfg.json"); },
         "cfg.json: 'architecture' must be a string"},
        {"neither manifest nor index",
         [] { document_media_type(R"({"schemaVersion":2})", "d.json"); },
         "d.json: neither a manifest nor an index"},
    };
    for (const Case& c : cases) {
        INFO(c.what);
        Caught e = error_of(c.call);
        CHECK(e.kind == ErrorKind::integrity);
        if (c.prefix_only) {
            CHECK_THAT(e.what, Catch::StartsWith(c.message));
        } else {
            CHECK(e.what == c.message);
        }
    }
}

TEST_CASE("fields of the wrong JSON type are Error(integrity), never a JSON library exception",
          "[oci]") {
    // The documents come from registries and base images: whatever their shape, a parser
    // reports an ocibake::Error naming the origin (the CLI maps other exceptions to
    // "internal error", exit 1).
    const std::string config =
        R"("config":{"mediaType":"x","digest":")" + kConfigDigest.str() + R"(","size":7})";
    struct Case {
        const char* what;
        std::function<void()> call;
        std::string origin;
    };
    const std::vector<Case> cases = {
        {"schemaVersion as a string (manifest)",
         [&] { parse_manifest(R"({"schemaVersion":"2",)" + config + "}", "m.json"); }, "m.json"},
        {"schemaVersion as a string (index)",
         [] { parse_index(R"({"schemaVersion":"2","manifests":[]})", "i.json"); }, "i.json"},
        {"a history entry that is not an object",
         [] { parse_image_config(R"({"rootfs":{"diff_ids":[]},"history":["x"]})", "cfg.json"); },
         "cfg.json"},
        {"empty_layer as a string",
         [] {
             parse_image_config(R"({"rootfs":{"diff_ids":[]},"history":[{"empty_layer":"true"}]})",
                                "cfg.json");
         },
         "cfg.json"},
    };
    for (const Case& c : cases) {
        INFO(c.what);
        try {
            c.call();
            FAIL_CHECK("no exception");
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::integrity);
            CHECK_THAT(e.what(), Catch::StartsWith(c.origin + ": "));
        } catch (const std::exception& e) {
            FAIL_CHECK("not an ocibake::Error: " << e.what());
        }
    }
}

// --- media types ----------------------------------------------------------------------

TEST_CASE("document_media_type reads mediaType or falls back to the shape", "[oci]") {
    CHECK(document_media_type(to_json(full_manifest()), "m") == media_type::manifest);
    CHECK(document_media_type(to_json(full_index()), "i") == media_type::index);
    CHECK(document_media_type(
              R"({"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json"})",
              "l") == media_type::docker_manifest_list);
    // Without mediaType.
    CHECK(document_media_type(R"({"schemaVersion":2,"manifests":[]})", "i") == media_type::index);
    CHECK(document_media_type(R"({"schemaVersion":2,"layers":[]})", "m") == media_type::manifest);
    CHECK(document_media_type(R"({"schemaVersion":2,"config":{}})", "m") == media_type::manifest);
    CHECK(document_media_type(R"({"mediaType":null,"manifests":[]})", "i") == media_type::index);
}

TEST_CASE("oci_layer_media_type maps Docker layer types to OCI ones", "[oci]") {
    CHECK(oci_layer_media_type(media_type::docker_layer_gzip) == media_type::layer_gzip);
    CHECK(oci_layer_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip") ==
          "application/vnd.oci.image.layer.v1.tar+gzip");
    CHECK(oci_layer_media_type("application/vnd.docker.image.rootfs.diff.tar.zstd") ==
          "application/vnd.oci.image.layer.v1.tar+zstd");
    CHECK(oci_layer_media_type("application/vnd.docker.image.rootfs.diff.tar") ==
          "application/vnd.oci.image.layer.v1.tar");
    // OCI and unknown types are returned unchanged.
    for (std::string_view t :
         {media_type::layer_tar, media_type::layer_gzip, media_type::layer_zstd}) {
        CHECK(oci_layer_media_type(t) == t);
    }
    CHECK(oci_layer_media_type("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip") ==
          "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip");
    CHECK(oci_layer_media_type("").empty());
}

// --- platforms ------------------------------------------------------------------------

TEST_CASE("Platform::parse reads os/arch[/variant]", "[oci]") {
    Platform amd64 = Platform::parse("linux/amd64");
    CHECK(amd64.os == "linux");
    CHECK(amd64.architecture == "amd64");
    CHECK(amd64.variant.empty());
    CHECK(amd64.str() == "linux/amd64");

    Platform arm = Platform::parse("linux/arm64/v8");
    CHECK(arm == Platform{"linux", "arm64", "v8"});
    CHECK(arm.str() == "linux/arm64/v8");

    CHECK(Platform{}.str() == "linux/amd64"); // the default

    for (const char* bad : {"linux", "linux//x", "", "/", "linux/", "/amd64", "linux/amd64/",
                            "linux/arm64/v8/extra", "linux/arm64//"}) {
        INFO("'" << bad << "'");
        Caught e = error_of([&] { Platform::parse(bad); });
        CHECK(e.kind == ErrorKind::usage);
        CHECK(e.what == "invalid platform '" + std::string(bad) +
                            "' (expected os/arch or os/arch/variant, e.g. linux/amd64)");
    }
}

TEST_CASE("Platform::matches compares os, architecture and a named variant", "[oci]") {
    const Platform amd64{"linux", "amd64", ""};
    const Platform arm64{"linux", "arm64", ""};
    const Platform arm64v8{"linux", "arm64", "v8"};
    const Platform armv7{"linux", "arm", "v7"};
    const Platform armv6{"linux", "arm", "v6"};

    CHECK(amd64.matches(amd64));
    CHECK_FALSE(amd64.matches(arm64));
    CHECK_FALSE(amd64.matches(Platform{"windows", "amd64", ""}));
    // No variant asked for: any variant runs.
    CHECK(arm64.matches(arm64v8));
    CHECK(Platform{"linux", "arm", ""}.matches(armv7));
    // A variant asked for must be the one offered.
    CHECK(arm64v8.matches(arm64v8));
    // arm64 without a variant is v8 (as the image index spec's variant table says).
    CHECK(arm64v8.matches(arm64));
    CHECK_FALSE(Platform({"linux", "arm64", "v9"}).matches(arm64));
    CHECK(armv7.matches(armv7));
    // A v7 CPU runs v6 code, not the other way round (as containerd matches).
    CHECK(armv7.matches(armv6));
    CHECK_FALSE(armv6.matches(armv7));
}

TEST_CASE("best_platform_match picks the best entry of an index, not the first", "[oci]") {
    auto entry = [](const std::string& platform, char fill) {
        ocibake::oci::Descriptor d;
        d.digest = ocibake::Digest::parse("sha256:" + std::string(64, fill));
        d.platform = Platform::parse(platform);
        return d;
    };
    const std::vector<ocibake::oci::Descriptor> index = {
        entry("linux/arm/v5", 'a'), entry("linux/arm/v6", 'b'), entry("linux/arm/v7", 'c'),
        entry("linux/arm64/v8", 'd'), entry("linux/amd64", 'e')};
    auto best = [&](const std::string& wanted) {
        const auto* d = ocibake::oci::best_platform_match(index, Platform::parse(wanted));
        return d ? d->platform->str() : std::string("none");
    };
    CHECK(best("linux/arm/v7") == "linux/arm/v7");
    CHECK(best("linux/arm") == "linux/arm/v7"); // arm without a variant is v7
    CHECK(best("linux/arm/v6") == "linux/arm/v6");
    CHECK(best("linux/arm64") == "linux/arm64/v8");
    CHECK(best("linux/amd64") == "linux/amd64");
    CHECK(best("linux/riscv64") == "none");
    // Without v7 in the index, a v7 machine takes the newest older one.
    const std::vector<ocibake::oci::Descriptor> older = {entry("linux/arm/v5", 'a'),
                                                         entry("linux/arm/v6", 'b')};
    const auto* d = ocibake::oci::best_platform_match(older, Platform::parse("linux/arm/v7"));
    REQUIRE(d != nullptr);
    CHECK(d->platform->str() == "linux/arm/v6");
    CHECK(ocibake::oci::best_platform_match(older, Platform::parse("linux/arm/v5"))
              ->platform->str() == "linux/arm/v5");
}

// --- time -----------------------------------------------------------------------------

TEST_CASE("rfc3339 formats UTC seconds, whatever TZ says", "[oci]") {
    auto check_all = [] {
        CHECK(rfc3339(0) == "1970-01-01T00:00:00Z");
        CHECK(rfc3339(1700000000) == "2023-11-14T22:13:20Z");
        CHECK(rfc3339(951782400) == "2000-02-29T00:00:00Z");    // a leap day
        CHECK(rfc3339(1719791999) == "2024-06-30T23:59:59Z");   // end of a day, mid-year
        CHECK(rfc3339(-1) == "1969-12-31T23:59:59Z");           // before the epoch
        CHECK(rfc3339(253402300799) == "9999-12-31T23:59:59Z"); // the last four-digit year
    };
    check_all();
    {
        TzGuard tz("Asia/Tokyo");
        check_all();
    }
    {
        TzGuard tz("America/St_Johns"); // UTC-3:30 with daylight saving
        check_all();
    }
}

// --- environment ----------------------------------------------------------------------

TEST_CASE("ContainerConfig::set_env replaces in place or appends", "[oci]") {
    ContainerConfig c;
    c.env = {"PATH=/bin", "PATH_EXTRA=/opt/bin", "HOME=/root"};

    c.set_env("PATH", "/usr/bin:/bin");
    CHECK(c.env ==
          std::vector<std::string>{"PATH=/usr/bin:/bin", "PATH_EXTRA=/opt/bin", "HOME=/root"});
    c.set_env("HOME", "/home/user");
    CHECK(c.env ==
          std::vector<std::string>{"PATH=/usr/bin:/bin", "PATH_EXTRA=/opt/bin", "HOME=/home/user"});
    c.set_env("LANG", "C.UTF-8");
    CHECK(c.env == std::vector<std::string>{"PATH=/usr/bin:/bin", "PATH_EXTRA=/opt/bin",
                                            "HOME=/home/user", "LANG=C.UTF-8"});
    c.set_env("PAT", "x"); // a prefix of PATH is another variable
    CHECK(c.env.size() == 5);
    CHECK(c.env.back() == "PAT=x");
    c.set_env("OPTS", "a=b=c"); // '=' in a value
    c.set_env("EMPTY", "");

    CHECK(c.env_value("PATH") == std::optional<std::string>("/usr/bin:/bin"));
    CHECK(c.env_value("PATH_EXTRA") == std::optional<std::string>("/opt/bin"));
    CHECK(c.env_value("PAT") == std::optional<std::string>("x"));
    CHECK(c.env_value("OPTS") == std::optional<std::string>("a=b=c"));
    CHECK(c.env_value("EMPTY") == std::optional<std::string>(""));
    CHECK(c.env_value("PA") == std::nullopt);
    CHECK(c.env_value("path") == std::nullopt); // case matters
    CHECK(c.env_value("NOPE") == std::nullopt);
    CHECK(ContainerConfig{}.env_value("PATH") == std::nullopt);
}

TEST_CASE("an image of more than max_layers layers is refused, naming it", "[oci]") {
    auto descriptors = [](std::size_t n) {
        std::string layer = R"({"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":")" +
                            kLayer1.str() + R"(","size":1})";
        std::string out;
        for (std::size_t i = 0; i < n; ++i) {
            out += (i ? "," : "") + layer;
        }
        return out;
    };
    auto manifest = [&](std::size_t n) {
        return R"({"schemaVersion":2,"config":{"mediaType":"x","digest":")" + kConfigDigest.str() +
               R"(","size":7},"layers":[)" + descriptors(n) + "]}";
    };
    auto config = [](std::size_t n) {
        std::string ids;
        for (std::size_t i = 0; i < n; ++i) {
            ids += (i ? ",\"" : "\"") + kDiff1.str() + "\"";
        }
        return R"({"rootfs":{"type":"layers","diff_ids":[)" + ids + "]}}";
    };
    CHECK(max_layers == 1000);
    CHECK(parse_manifest(manifest(max_layers), "m.json").layers.size() == max_layers);
    CHECK(parse_image_config(config(max_layers), "c.json").diff_ids.size() == max_layers);
    Caught m = error_of([&] { parse_manifest(manifest(max_layers + 1), "img@sha256:ab"); });
    CHECK(m.kind == ErrorKind::input);
    CHECK(m.what == "img@sha256:ab: the image has 1001 layers; ocibake accepts at most 1000 (no "
                    "runtime stacks more than about 128 layers)");
    Caught c = error_of([&] { parse_image_config(config(200000), "img config"); });
    CHECK(c.kind == ErrorKind::input);
    CHECK(c.what == "img config: the image has 200000 layers (rootfs.diff_ids); ocibake accepts "
                    "at most 1000 (no runtime stacks more than about 128 layers)");
    std::string history;
    for (std::size_t i = 0; i <= max_history; ++i) {
        history += std::string(i ? "," : "") + R"({"empty_layer":true})";
    }
    Caught h = error_of([&] {
        parse_image_config(R"({"rootfs":{"diff_ids":[]},"history":[)" + history + "]}", "cfg");
    });
    CHECK(h.kind == ErrorKind::input);
    CHECK(h.what == "cfg: the image has 10001 history entries; ocibake accepts at most 10000 (ten "
                    "for each layer an image may have)");
}
