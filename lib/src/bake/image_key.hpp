// Internal: the image key and its record (docs/cache.md, "The image key").
#pragma once

#include "ocibake/build.hpp"
#include "ocibake/image.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake::detail {

/// The digest of everything the image's layers are made from, known before any layer is
/// planned: the format versions, ocibake's and the compressors', SOURCE_DATE_EPOCH, the
/// platform, the recipe's files byte for byte, the lock, the base's layers, each layer's
/// own copies and files (as their tar stream's diffID) and Python input files. Empty when
/// the base is a local OCI layout.
Digest image_key(const Recipe& recipe, const BuildOptions& options, const Image& base,
                 std::int64_t epoch, unsigned threads);

/// What the "image-key" record holds: the image's own layers, in order, as a build made
/// them (the config is assembled again by the build reading it).
struct ImageRecord {
    struct Layer {
        std::string name;
        std::string recipe_layer;
        std::size_t packages = 0;
        std::size_t entries = 0;
        LayerResult layer;
    };
    std::vector<Layer> layers;
    std::uint64_t part_threshold = 0;
    std::uint64_t part_modulus = 0;
};
std::string to_json(const ImageRecord& record);
/// Error(integrity) naming `origin` when the text is not one.
ImageRecord parse_image_record(std::string_view text, std::string_view origin);

} // namespace ocibake::detail
