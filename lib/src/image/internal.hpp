// Internal: image writers and readers shared by image.cpp, build and inspect.
#pragma once

#include "ocibake/image.hpp"

#include <nlohmann/json_fwd.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake::detail {

void write_oci_layout(const Store& store, const BuiltImage& image, const std::filesystem::path& dir,
                      std::string_view ref_name, unsigned threads = 0);
/// Writes an OCI layout whose index.json names `root` (tagged `ref_name`), holding the
/// store's `blobs` (root's own blob included); replaces `dir` only when complete. Each
/// blob is the previous output's copy when `dir` holds a verified one of its own, else a
/// copy (or reflink) from the store (Store::export_blob); on up to `threads` threads.
void write_layout_from_store(const Store& store, const oci::Descriptor& root,
                             const std::vector<Digest>& blobs, const std::filesystem::path& dir,
                             std::string_view ref_name, unsigned threads = 0);
void write_docker_archive(const Store& store, const BuiltImage& image,
                          const std::filesystem::path& file, std::string_view repo_tag);

/// A manifest chosen from an OCI layout (by tag, then platform), with its config;
/// both verified against their digests.
struct LayoutManifest {
    std::filesystem::path dir;
    oci::Descriptor descriptor;
    oci::Manifest manifest;
    std::string manifest_json;
    oci::ImageConfig config;
    std::string config_json;
};
LayoutManifest read_layout_manifest(const std::filesystem::path& dir, std::string_view tag,
                                    const oci::Platform& platform);

/// Path of a blob inside an OCI layout.
std::filesystem::path layout_blob(const std::filesystem::path& dir, const Digest& digest);

/// Reads a small blob of a layout, checking its digest (and size when nonzero).
std::string read_layout_blob(const std::filesystem::path& dir, const Digest& digest,
                             std::uint64_t size);

/// Uncompressed size of a layer blob in the store (decompressing it once; remembered in
/// the store's records), verifying the diffID on the way.
std::uint64_t uncompressed_size(const Store& store, const LayerResult& layer);

/// A local image named as `load_image()` and `inspect_image()` take it: "oci:DIR[:TAG]",
/// "docker-archive:FILE", or a path (a regular file is a docker archive, else an OCI
/// layout). Error(input) when the path does not exist.
OutputTarget local_image(std::string_view reference);

/// The manifest.json of a docker archive, parsed, from its JSON members by name;
/// Error(integrity) naming `origin` when it is missing or not JSON.
nlohmann::json docker_manifest(const std::map<std::string, std::string>& json_files,
                               const std::string& origin);

} // namespace ocibake::detail
