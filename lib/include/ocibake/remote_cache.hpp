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
// Reading is two requests (manifest, index), and a third (the records) only when the
// build has to plan a layer. No blob is HEADed: the registry accepted the artifact's
// manifest, which lists every layer blob the index names, and keeps what a manifest lists
// (docs/cache.md, "Verified before use"); a blob that is gone all the same (deleted through
// the API) shows when an output needs it, and its layer is then built (check_blobs()).
// Anything that does not check out is ignored with a warning and the layer is built.
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
inline constexpr int format_version = 2;
inline constexpr std::string_view artifact_type = "application/vnd.ocibake.cache.v1";
inline constexpr std::string_view index_media_type = "application/vnd.ocibake.cache.index.v1+json";
/// The records blob, gzip-compressed (docs/cache.md).
inline constexpr std::string_view records_media_type =
    "application/vnd.ocibake.cache.records.v1+json+gzip";
/// The record namespaces the artifact carries (docs/cache.md, "Records"). "image-key": a
/// whole image's layers under a key computed from the recipe, its lock and its local
/// inputs alone (BuildResult::image_key).
inline constexpr std::string_view index_namespaces[] = {"apt-layer", "layer-blob", "layer-shape",
                                                        "image-key"};
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
    /// How many times the artifact was written, and, for each layer blob it lists
    /// (digest), the write that last used it: what the merge evicts by (oldest first).
    std::uint64_t writes = 0;
    std::map<std::string, std::uint64_t> written;
};
std::string to_json(const Index& index);
/// Error(integrity) naming `origin` for anything but an index of this format (a newer or
/// older format included: the message says which).
Index parse_index(std::string_view json, std::string_view origin);

/// The records blob: "apt-deb" and "apt-image" records, namespace -> key -> text.
using Records = std::map<std::string, std::map<std::string, std::string>>;
std::string records_to_json(const Records& records);
Records parse_records(std::string_view json, std::string_view origin);
/// The records blob's bytes (gzip of records_to_json()), and back: Error(integrity) naming
/// `origin` for what is not a gzip stream of records, or is above 64 MiB unpacked.
std::string records_blob(const Records& records);
Records parse_records_blob(std::string_view bytes, std::string_view origin);

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
    std::uint64_t requests = 0;        ///< HTTP requests to read manifest, index (and records)
    std::uint64_t verify_requests = 0; ///< HEADs checking layer blobs (cache ls only)
    std::uint64_t bytes = 0;           ///< index and records downloaded
    bool records_read = false;         ///< the records blob was needed (a layer was planned)
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
    /// the cache is empty. The layer entries of the blobs in `ignore` (digest -> why, from
    /// check_blobs()) are ignored with a warning each.
    static std::unique_ptr<Remote> open(Store& store, const registry::Reference& ref,
                                        const registry::Options& options,
                                        const std::map<Digest, std::string>& ignore = {});

    ~Remote() override;
    Remote(const Remote&) = delete;
    Remote& operator=(const Remote&) = delete;

    /// A record of the index; one of the records blob ("apt-deb", "apt-image") fetches
    /// that blob the first time (one request; a failure is a warning and no records).
    std::optional<std::string> get_record(std::string_view ns, std::string_view key) const override;
    /// The size of a layer blob the artifact lists and an entry names (not HEADed).
    std::optional<std::uint64_t> blob_size(const Digest& digest) const override;

    const registry::Reference& reference() const noexcept { return ref_; }
    LookupReport report() const;
    /// What the index and records hold (namespace -> key -> text; the records blob is
    /// fetched), and the layers whose entries checked out.
    const Records& records() const;
    const std::map<Digest, LayerResult>& layers() const noexcept { return layers_; }

private:
    struct Lazy;
    Remote();
    void read_records() const;
    registry::Reference ref_;
    LookupReport report_;
    Records records_;
    std::map<Digest, LayerResult> layers_;
    std::unique_ptr<Lazy> lazy_; ///< the client, and the records blob read on demand
};

/// HEADs each blob in `ref`'s repository: those absent, or there with another size,
/// with why (8 at once). For a build whose output found a cache layer gone.
std::map<Digest, std::string> check_blobs(const registry::Reference& ref,
                                          const std::vector<oci::Descriptor>& blobs,
                                          const registry::Options& options);

/// What writing the cache did.
struct ExportReport {
    registry::Reference reference;  ///< with the pushed digest
    std::size_t layers = 0;         ///< layer entries written
    std::size_t records = 0;        ///< apt-deb and apt-image records written
    std::size_t merged_layers = 0;  ///< layers of other builds' entries kept in the artifact
    std::size_t evicted_layers = 0; ///< layers of other builds' entries dropped (the bound)
    std::size_t rounds = 1;         ///< writes (more than one: another writer came between)
    std::vector<std::string> warnings;
    registry::TransferStats stats;
};

/// Writes the artifact for `records` (namespace -> key -> text, as a build used them) to
/// `ref`, keeping only layer entries whose blob is one of `layers`; blobs absent from the
/// store are found where `remote` says (a build's remote layers, mounted or streamed).
/// What is there already is merged in (ours win; the layers of other entries are kept
/// most recently written first, at most 1,000 layers in all), and the tag is read again
/// after the write: when another writer replaced it without our entries, ours are merged
/// into theirs and written again (at most three times, then a warning).
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
