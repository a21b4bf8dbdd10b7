// ocibake: the layer cache shared through an OCI registry (docs/cache.md, "The remote
// cache").
//
// A recipe's cache entries are one OCI artifact in a repository the user names: an image
// manifest with artifactType application/vnd.ocibake.cache.v1 whose config is the index
// (layer cache records: input key -> layer) and whose layers are the records blob (what
// the planner knows of each .deb and of the base) followed by every layer blob the index
// names. The layer blobs are the image's own: the registry holds each once, however many
// manifests list it, and keeps it as long as the artifact lists it.
//
//     auto ref = ocibake::remote_cache::cache_reference("localhost:5000/ci/cache", "app");
//     // -> localhost:5000/ci/cache:ocibake-cache-app
//
// Reading is three requests (manifest, index, records) and one HEAD per layer the index
// names, to check that it is still there with its size (run while the build plans its
// layers; a layer's entry is used only once its HEAD answered); anything that does not
// check out is ignored with a warning and the layer is built instead.
#pragma once

#include "ocibake/cas.hpp"
#include "ocibake/digest.hpp"
#include "ocibake/layer.hpp"
#include "ocibake/oci.hpp"
#include "ocibake/registry.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake::remote_cache {

/// The format of the artifact (index and records); another is ignored with a warning.
inline constexpr int format_version = 1;
inline constexpr std::string_view artifact_type = "application/vnd.ocibake.cache.v1";
inline constexpr std::string_view index_media_type = "application/vnd.ocibake.cache.index.v1+json";
inline constexpr std::string_view records_media_type =
    "application/vnd.ocibake.cache.records.v1+json";
/// The record namespaces the artifact carries (docs/cache.md, "Records").
inline constexpr std::string_view index_namespaces[] = {"apt-layer", "layer-blob", "layer-shape"};
inline constexpr std::string_view records_namespaces[] = {"apt-deb", "apt-image"};

/// Where a recipe's entries live: `ref` with its tag, or, without one, the tag
/// "ocibake-cache-<recipe name>" (made valid per the distribution spec's tag rule).
/// Error(usage) for a reference that names a digest or does not parse.
registry::Reference cache_reference(std::string_view ref, std::string_view recipe_name);

/// The index: the artifact's config blob.
struct Index {
    int format = format_version;
    std::string recipe;
    /// namespace ("apt-layer", "layer-blob", "layer-shape") -> key -> the record's text,
    /// as the local store keeps it (docs/cache.md).
    std::map<std::string, std::map<std::string, std::string>> records;
};
std::string to_json(const Index& index);
/// Error(integrity) naming `origin` for anything but an index of this format (a newer or
/// older format included: the message says which).
Index parse_index(std::string_view json, std::string_view origin);

/// The records blob: "apt-deb" and "apt-image" records, namespace -> key -> text.
using Records = std::map<std::string, std::map<std::string, std::string>>;
std::string records_to_json(const Records& records);
Records parse_records(std::string_view json, std::string_view origin);

/// The artifact's manifest, as this module writes and reads it.
struct Artifact {
    oci::Descriptor index;               ///< the config
    oci::Descriptor records;             ///< layers[0]
    std::vector<oci::Descriptor> layers; ///< layers[1..]: the layer blobs the index names
};
/// Canonical JSON (an OCI image manifest, schemaVersion 2, with artifactType).
std::string to_json(const Artifact& artifact);
/// Error(integrity) naming `origin` when it is not an ocibake cache artifact.
Artifact parse_artifact(std::string_view json, std::string_view origin);

/// A layer-blob record's layer (Error(integrity) when the text is not one).
LayerResult parse_layer_record(std::string_view text, std::string_view origin);

/// What reading a remote cache found.
struct LookupReport {
    std::string reference;             ///< registry/repository:tag
    bool found = false;                ///< the artifact was there and readable
    Digest digest;                     ///< of its manifest
    std::size_t layers = 0;            ///< layer entries that checked out
    std::size_t ignored = 0;           ///< entries ignored (warnings say why)
    std::uint64_t requests = 0;        ///< HTTP requests to read manifest, index, records
    std::uint64_t verify_requests = 0; ///< HEADs checking the layer blobs
    std::uint64_t bytes = 0;           ///< index and records downloaded
    double seconds = 0;
    /// One line each: what was ignored and why (never a secret).
    std::vector<std::string> warnings;
};

/// A remote cache opened for one build: it answers the store's lookups (RecordOverlay)
/// from the artifact's index and records, and vouches for the layer blobs it checked.
class Remote : public RecordOverlay {
public:
    /// Reads the artifact at `ref`. Never throws for what the registry answers (a missing
    /// tag, a refusal, an unreachable host, a malformed artifact): the report says why and
    /// the cache is empty.
    static std::unique_ptr<Remote> open(Store& store, const registry::Reference& ref,
                                        const registry::Options& options);

    ~Remote() override;
    Remote(const Remote&) = delete;
    Remote& operator=(const Remote&) = delete;

    std::optional<std::string> get_record(std::string_view ns, std::string_view key) const override;
    /// Waits for the HEADs (they run while the build plans its layers) the first time.
    std::optional<std::uint64_t> blob_size(const Digest& digest) const override;

    const registry::Reference& reference() const noexcept { return ref_; }
    /// Complete once the HEADs are done (waits for them).
    const LookupReport& report() const;
    /// What the index and records hold (namespace -> key -> text; a layer entry is used
    /// only once its blob checked out), and the layers that checked out (waits).
    const Records& records() const noexcept { return records_; }
    const std::map<Digest, LayerResult>& layers() const;

private:
    struct Checks;
    Remote();
    registry::Reference ref_;
    LookupReport report_;
    Records records_;
    std::map<Digest, LayerResult> layers_;
    std::unique_ptr<Checks> checks_; ///< the HEADs in flight
};

/// What writing the cache did.
struct ExportReport {
    registry::Reference reference; ///< with the pushed digest
    std::size_t layers = 0;        ///< layer entries written
    std::size_t records = 0;       ///< apt-deb and apt-image records written
    registry::TransferStats stats;
};

/// Writes the artifact for `records` (namespace -> key -> text, as a build used them) to
/// `ref`, keeping only layer entries whose blob is one of `layers`; blobs absent from the
/// store are found where `remote` says (a build's remote layers, mounted or streamed).
ExportReport export_records(Store& store, const Records& records,
                            const std::vector<LayerResult>& layers,
                            const std::map<Digest, RemoteBlob>& remote,
                            const std::string& recipe_name, const registry::Reference& ref,
                            const registry::Options& options);

/// Every entry of the artifact at `ref` (for `ocibake cache ls`): its index and records,
/// and the layer entries with whether each blob is there with its size.
struct Listing {
    LookupReport report;
    Index index;
    std::size_t records = 0;
    struct Layer {
        std::string key; ///< the layer-blob key: <diffID hex>.<compression>.<level>.<version>
        LayerResult layer;
        std::vector<std::string> apt_keys; ///< apt-layer keys naming its diffID
        bool verified = false;             ///< the registry has the blob with its size
    };
    std::vector<Layer> layers;
};
Listing list(Store& store, const registry::Reference& ref, const registry::Options& options);

/// `ocibake cache pull`: the artifact's checked entries into the local store (records,
/// and the layer blobs, fetched and verified), so later builds find them offline.
struct PullReport {
    LookupReport report;
    std::size_t layers = 0;
    std::size_t records = 0;
    registry::TransferStats stats;
};
PullReport pull(Store& store, const registry::Reference& ref, const registry::Options& options);

} // namespace ocibake::remote_cache
