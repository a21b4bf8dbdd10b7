// A layer as `ocibake run` takes it: unpacked into a fresh bundle (the OCI changeset
// rules, whiteouts, links, modes, owners), then the container's spec made from it (the
// user resolved against the layer's /etc/passwd and /etc/group) and its config.json.
//
// The input is the layer blob: gzip or zstd when it starts with their magic, else a tar
// whose header checksums are fixed here first (so mutations reach the entries). Layers
// that decompress to more than 16 MiB are skipped (the bundle lives in memory).
#include "layer/compress.hpp"
#include "ocibake/runtime.hpp"
#include "support.hpp"

#include <cstdint>

namespace fs = std::filesystem;

namespace {

constexpr std::size_t max_unpacked = 16 << 20;

struct TooLarge {};

std::string_view media_type_of(std::string_view bytes) {
    if (bytes.starts_with("\x1f\x8b")) {
        return ocibake::oci::media_type::layer_gzip;
    }
    if (bytes.starts_with("\x28\xb5\x2f\xfd")) {
        return ocibake::oci::media_type::layer_zstd;
    }
    return ocibake::oci::media_type::layer_tar;
}

/// The diffID, as the image config would give it; nullopt when the blob does not
/// decompress or is too large.
std::optional<ocibake::Digest> diff_id_of(std::string_view blob, std::string_view media_type) {
    try {
        ocibake::Sha256 hash;
        std::size_t total = 0;
        auto d = ocibake::detail::make_decompressor(
            ocibake::detail::compression_of_media_type(media_type),
            [&](const char* data, std::size_t size) {
                total += size;
                if (total > max_unpacked) {
                    throw TooLarge{};
                }
                hash.update(data, size);
            },
            "fuzz");
        d->feed(blob.data(), blob.size());
        d->finish();
        return hash.finish();
    } catch (const TooLarge&) {
        return std::nullopt;
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
        return ocibake::Digest(); // corrupt: unpack_layer must say so too
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ocibake::fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string blob(reinterpret_cast<const char*>(data), size);
    std::string_view media_type = media_type_of(blob);
    if (media_type == ocibake::oci::media_type::layer_tar) {
        ocibake::fuzz::fix_tar_checksums(blob);
    }
    std::optional<ocibake::Digest> diff_id = diff_id_of(blob, media_type);
    if (!diff_id) {
        return 0;
    }
    fs::path root = ocibake::fuzz::fresh_dir("layer");
    try {
        ocibake::Store store(root / "store");
        ocibake::SourceImage image;
        ocibake::LayerResult layer;
        layer.descriptor.media_type = media_type;
        layer.descriptor.digest = store.put_bytes(blob);
        layer.descriptor.size = blob.size();
        layer.diff_id = diff_id->valid() ? *diff_id : layer.descriptor.digest;
        image.layers.push_back(layer);
        image.config.config.cmd = std::vector<std::string>{"/bin/sh"};
        image.config.config.user = "app:app";
        ocibake::Bundle bundle = ocibake::Bundle::create(store, image, root / "bundle");
        ocibake::ContainerSpec spec = bundle.spec_for({});
        bundle.write_config(spec);
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
    }
    ocibake::fuzz::wipe(root);
    return 0;
}
