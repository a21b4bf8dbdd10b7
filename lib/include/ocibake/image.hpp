// ocibake: assembling an image from layers and writing it out.
//
//     ocibake::Store store(ocibake::Store::default_root());
//     ocibake::LayerBuilder b;
//     b.add_content("/etc/motd", "hello\n");
//     ocibake::Image image;
//     image.config.config.cmd = std::vector<std::string>{"/bin/sh"};
//     image.add_layer(ocibake::build_layer(store, b.finish(), {}), "motd");
//     auto built = ocibake::assemble_image(store, image);
//     ocibake::write_image(store, built, ocibake::OutputTarget::parse("oci:out/motd"), "motd",
//     "latest");
#pragma once

#include "ocibake/cas.hpp"
#include "ocibake/layer.hpp"
#include "ocibake/oci.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake {

/// Where a blob that may not be in the store can be fetched from (a registry base's
/// layers are fetched only when their bytes are needed).
struct RemoteBlob {
    std::string registry;   ///< "docker.io", "localhost:5000", ...
    std::string repository; ///< "library/ubuntu"
};

/// An image being put together: its config (diff_ids and history are filled in by
/// assemble_image from `layers`) and its layers, bottom first.
struct Image {
    oci::ImageConfig config;
    struct Layer {
        LayerResult blob;
        /// This layer's history entry; none for base layers, whose entries are in
        /// base_history.
        std::optional<oci::HistoryEntry> history;
    };
    std::vector<Layer> layers;
    /// The base image's history entries, kept in order before ours.
    std::vector<oci::HistoryEntry> base_history;
    std::map<std::string, std::string> manifest_annotations;
    /// Layers that may be absent from the store, and where they live.
    std::map<Digest, RemoteBlob> remote_blobs;

    void add_layer(const LayerResult& blob, std::string_view created_by,
                   std::string_view comment = {});
};

/// An image whose config and manifest are in the store.
struct BuiltImage {
    oci::ImageConfig config;
    std::string config_json;
    oci::Descriptor config_descriptor;
    oci::Manifest manifest;
    std::string manifest_json;
    oci::Descriptor manifest_descriptor; ///< its digest is "the image digest"
    std::vector<LayerResult> layers;
    /// Layers that may be absent from the store, and where they live.
    std::map<Digest, RemoteBlob> remote_blobs;
};

/// Writes the config and manifest blobs. The layers must already be in the store.
BuiltImage assemble_image(Store& store, const Image& image);

/// Where an image goes (or comes from): "oci:DIR[:REF]" or "docker-archive:FILE[:NAME:TAG]".
struct OutputTarget {
    enum class Kind { oci_layout, docker_archive };
    Kind kind = Kind::oci_layout;
    std::filesystem::path path;
    std::string reference; ///< oci: the ref.name (tag); docker-archive: "name:tag"

    /// Error(usage) for anything else. A bare path means an OCI layout.
    static OutputTarget parse(std::string_view text);
    /// `oci:out/NAME`, relative to the current directory: where `ocibake build` writes a
    /// recipe's image (NAME: the recipe's name) and `ocibake pull` an image (NAME: the
    /// last component of its repository) when no output is given.
    static OutputTarget default_for(std::string_view name);
    std::string str() const;
};

/// Writes the image to `target`, replacing what was there only once the new output is
/// complete (a failure leaves the previous output as it was). `name` and `tag` fill the
/// reference when the target has none. An OCI layout's blobs are placed on up to
/// `threads` threads (0 = all cores); never a hard link to the cache (see cas.hpp).
void write_image(const Store& store, const BuiltImage& image, const OutputTarget& target,
                 std::string_view name, std::string_view tag, unsigned threads = 0);

/// An image read from a local OCI layout, its blobs imported into the store (verified).
struct SourceImage {
    oci::Descriptor manifest_descriptor;
    oci::Manifest manifest;
    oci::ImageConfig config;
    std::vector<LayerResult> layers; ///< uncompressed_size 0 = unknown
    /// Layers not fetched into the store (registry bases), and where they live.
    std::map<Digest, RemoteBlob> remote_blobs;
};

/// Reads the image `tag` ("" = the only one) for `platform` from the OCI layout `dir`.
/// Errors name the layout, the tag and the digest at fault.
SourceImage load_oci_layout(Store& store, const std::filesystem::path& dir, std::string_view tag,
                            const oci::Platform& platform);

/// Reads the image of a docker archive (`docker save` format) into the store: each layer
/// tar is streamed into a blob (verified against the config's diffIDs when it is plain
/// tar). The manifest is made up (docker archives have none): manifest_descriptor is
/// empty, manifest.config names the config blob.
SourceImage load_docker_archive(Store& store, const std::filesystem::path& file);

/// Reads an image into the store, by reference: "oci:DIR[:TAG]", "docker-archive:FILE",
/// or a plain path (a directory is an OCI layout, a file a docker archive). This is the
/// one place that knows the sources; a registry source plugs in here.
SourceImage load_image(Store& store, std::string_view reference,
                       const oci::Platform& platform = {});

/// What `ocibake inspect` shows.
struct ImageInfo {
    std::string source; ///< as given
    oci::Descriptor manifest_descriptor;
    oci::Manifest manifest;
    std::string manifest_json;
    oci::ImageConfig config;
    std::string config_json;
    std::vector<std::uint64_t> uncompressed_sizes; ///< per layer, when known (0 = unknown)
};

/// Reads an OCI layout ("oci:DIR[:REF]" or a directory) or a docker archive
/// ("docker-archive:FILE" or a file), verifying the manifest and config digests.
ImageInfo inspect_image(std::string_view reference, const oci::Platform& platform = {});

} // namespace ocibake
