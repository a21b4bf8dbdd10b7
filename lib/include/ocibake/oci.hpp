// ocibake: OCI image-spec types (descriptors, image config, manifest, index) and their
// canonical JSON.
//
// JSON written by ocibake is canonical: object keys sorted, no insignificant whitespace,
// so equal values always serialise to equal bytes (and equal digests). Parsers accept
// both OCI and Docker schema2 media types. An image config's fields that ocibake does
// not model are kept and written back unchanged (e.g. a base image's Healthcheck);
// manifests and indexes are ocibake's own, so theirs are not.
#pragma once

#include "ocibake/digest.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake::oci {

namespace media_type {
inline constexpr std::string_view index = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view manifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view config = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view layer_tar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view layer_gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view layer_zstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view docker_manifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view docker_manifest_list =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view docker_config = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view docker_layer_gzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
} // namespace media_type

/// The OCI equivalent of a layer media type (Docker's gzip layer -> OCI tar+gzip);
/// other types are returned unchanged.
std::string oci_layer_media_type(std::string_view media_type);

/// Annotation that names a manifest's tag in an OCI layout's index.json.
inline constexpr std::string_view ref_name_annotation = "org.opencontainers.image.ref.name";

struct Platform {
    std::string os = "linux";
    std::string architecture = "amd64";
    std::string variant;

    /// Parses "os/arch[/variant]" (e.g. "linux/arm64/v8"). Throws Error(usage).
    static Platform parse(std::string_view text);
    std::string str() const;
    /// True when `other` (from an index) runs here: same os and architecture, and the
    /// same variant when this one names a variant (arm64 without a variant is v8, arm
    /// v7), or an older arm variant (v7 runs v6 and v5 code).
    bool matches(const Platform& other) const;
    /// How well `other` fits: 0 when it does not run here; higher is better (the same
    /// variant, then the newest older arm variant, then any variant when none is asked).
    int match_rank(const Platform& other) const;
    bool operator==(const Platform&) const = default;
};

struct Descriptor {
    std::string media_type;
    Digest digest;
    std::uint64_t size = 0;
    std::map<std::string, std::string> annotations;
    std::optional<Platform> platform;
};

/// The entry of an index that fits `wanted` best (Platform::match_rank; the first of
/// equals), or nullptr when none runs there.
const Descriptor* best_platform_match(const std::vector<Descriptor>& manifests,
                                      const Platform& wanted);

struct HistoryEntry {
    std::string created; ///< RFC 3339
    std::string created_by;
    std::string comment;
    std::string author;
    bool empty_layer = false;
};

/// The "config" section of an image configuration (what runs).
struct ContainerConfig {
    std::string user;
    std::vector<std::string> env; ///< "KEY=value", in order
    std::optional<std::vector<std::string>> entrypoint;
    std::optional<std::vector<std::string>> cmd;
    std::vector<std::string> exposed_ports; ///< "8888/tcp", sorted, unique
    std::vector<std::string> volumes;       ///< sorted, unique
    std::string working_dir;
    std::map<std::string, std::string> labels;
    std::string stop_signal;
    std::string extra_json; ///< other fields, a JSON object ("" = none)

    /// Sets KEY (replacing an existing KEY=..., in place) or appends it.
    void set_env(std::string_view key, std::string_view value);
    /// Value of KEY, if set.
    std::optional<std::string> env_value(std::string_view key) const;
};

struct ImageConfig {
    std::string created; ///< RFC 3339; "" = omitted
    std::string author;
    Platform platform;
    std::string os_version; ///< "os.version"
    ContainerConfig config;
    std::vector<Digest> diff_ids;
    std::vector<HistoryEntry> history;
    std::string extra_json; ///< other top-level fields, a JSON object ("" = none)
};

struct Manifest {
    std::string media_type = std::string(media_type::manifest);
    Descriptor config;
    std::vector<Descriptor> layers;
    std::map<std::string, std::string> annotations;
};

struct Index {
    std::string media_type = std::string(media_type::index);
    std::vector<Descriptor> manifests;
    std::map<std::string, std::string> annotations;
};

// Canonical JSON. `origin` names where the text came from (a path, a digest) in errors,
// which are Error(integrity).
std::string to_json(const ImageConfig& config);
std::string to_json(const Manifest& manifest);
std::string to_json(const Index& index);
/// The most layers an image may have: a manifest listing more, or a config with more
/// diff_ids, is refused (Error(input) naming the image) before anything is fetched or
/// unpacked. No runtime stacks more (overlayfs takes about 128 lower directories in one
/// mount, docker refuses images of more than 127 layers); 1,000 leaves room for bases
/// and the layers built over them while bounding what a hostile image can make ocibake
/// do (200,000 layers once took 947 MB).
inline constexpr std::size_t max_layers = 1000;
/// The most history entries a config may have (one per layer, plus the empty ones of
/// ENV, LABEL and such instructions).
inline constexpr std::size_t max_history = 10 * max_layers;

/// Parsers of the image-spec documents. Error(integrity) naming `origin` for a document
/// that is not what it claims; Error(input) for one over the limits above.
ImageConfig parse_image_config(std::string_view json, std::string_view origin);
Manifest parse_manifest(std::string_view json, std::string_view origin);
Index parse_index(std::string_view json, std::string_view origin);
/// The mediaType of a manifest or index document (falls back to its shape when absent).
std::string document_media_type(std::string_view json, std::string_view origin);

/// Seconds since the epoch -> "YYYY-MM-DDTHH:MM:SSZ" (UTC, no locale, no time zone).
std::string rfc3339(std::int64_t seconds_since_epoch);

} // namespace ocibake::oci
