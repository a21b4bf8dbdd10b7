// The image key (docs/cache.md, "The image key"): what a whole image is built from, hashed
// before any layer is planned, so that a runner finds the image's layers in a remote
// cache without reading a package's records or downloading a package or a wheel.
#include "bake/image_key.hpp"
#include "common/json_number.hpp"

#include "bake/steps.hpp"
#include "common/fs.hpp"
#include "layer/compress.hpp"
#include "layer/pipeline.hpp"
#include "ocibake/version.hpp"

#include <nlohmann/json.hpp>

namespace ocibake::detail {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

/// Length-prefixed fields: no two field lists hash alike.
class Fields {
public:
    void add(std::string_view text) {
        h_.update(std::to_string(text.size()) + ":");
        h_.update(text);
    }
    void add(const Digest& d) { add(d ? d.str() : std::string("-")); }
    Digest finish() { return h_.finish(); }

private:
    Sha256 h_;
};

} // namespace

Digest image_key(const Recipe& recipe, const BuildOptions& options, const Image& base,
                 std::int64_t epoch, unsigned threads) {
    if (!recipe.base.scratch() && recipe.base.ref.empty()) {
        return {}; // a local OCI layout: what it holds is not pinned anywhere
    }
    Fields f;
    f.add("ocibake image-key 1");
    f.add(version());
    f.add(std::to_string(layer_format_version));
    f.add(std::to_string(remote_cache::format_version));
    for (Compression c : {Compression::gzip, Compression::zstd}) {
        f.add(compressor_version(c)); // the bytes of a compressed layer depend on it
    }
    f.add(std::to_string(epoch));
    f.add(recipe.platform.str());
    // The recipe and its fragments, byte for byte, in the order read (their paths are
    // not: two checkouts in different places have the same key).
    f.add(std::to_string(recipe.sources.size()));
    for (const auto& file : recipe.sources) {
        f.add(read_file(file, ErrorKind::input));
    }
    // The lock: every .deb, wheel, archive and the base by digest.
    fs::path lock = lock_file_of(recipe, options);
    std::error_code ec;
    f.add(fs::exists(lock, ec) ? read_file(lock, ErrorKind::input) : std::string("no lock"));
    // The base's layers (a registry base is pinned in the lock; these are its diffIDs).
    f.add(std::to_string(base.layers.size()));
    for (const auto& l : base.layers) {
        f.add(l.blob.diff_id);
        f.add(l.blob.descriptor.digest);
    }
    // Each layer's own inputs on this machine: its copies and files as the tar stream
    // they make (content, modes, owners, times clamped), its Python inputs' bytes.
    for (const LayerSpec& spec : recipe.layers) {
        f.add(spec.name);
        std::vector<LayerEntry> own = plan_layer(spec, threads);
        f.add(own.empty() ? Digest() : tar_diff_id(own, epoch));
        if (spec.python) {
            const PythonSpec& p = *spec.python;
            f.add(p.requirements.empty() ? Digest() : sha256_of_file(p.requirements));
            f.add(p.pylock.empty() ? Digest() : sha256_of_file(p.pylock));
            f.add(std::to_string(p.wheels.size()));
            for (const auto& w : p.wheels) {
                f.add(sha256_of_file(w));
            }
        }
    }
    return f.finish();
}

std::string to_json(const ImageRecord& record) {
    json layers = json::array();
    for (const auto& l : record.layers) {
        json j = {{"name", l.name},
                  {"recipe_layer", l.recipe_layer},
                  {"packages", l.packages},
                  {"entries", l.entries},
                  {"digest", l.layer.descriptor.digest.str()},
                  {"size", l.layer.descriptor.size},
                  {"media_type", l.layer.descriptor.media_type},
                  {"diff_id", l.layer.diff_id.str()},
                  {"uncompressed_size", l.layer.uncompressed_size}};
        layers.push_back(j);
    }
    return json{{"layers", layers},
                {"part_threshold", record.part_threshold},
                {"part_modulus", record.part_modulus}}
        .dump();
}

ImageRecord parse_image_record(std::string_view text, std::string_view origin) {
    try {
        json j = json::parse(text);
        ImageRecord r;
        r.part_threshold = ocibake::detail::json_integer<std::uint64_t>(j.at("part_threshold"));
        r.part_modulus = ocibake::detail::json_integer<std::uint64_t>(j.at("part_modulus"));
        for (const json& l : j.at("layers")) {
            ImageRecord::Layer layer;
            layer.name = l.at("name").get<std::string>();
            layer.recipe_layer = l.at("recipe_layer").get<std::string>();
            layer.packages = ocibake::detail::json_integer<std::size_t>(l.at("packages"));
            layer.entries = ocibake::detail::json_integer<std::size_t>(l.at("entries"));
            layer.layer.descriptor.digest = Digest::parse(l.at("digest").get<std::string>());
            layer.layer.descriptor.size =
                ocibake::detail::json_integer<std::uint64_t>(l.at("size"));
            layer.layer.descriptor.media_type = l.at("media_type").get<std::string>();
            layer.layer.diff_id = Digest::parse(l.at("diff_id").get<std::string>());
            layer.layer.uncompressed_size =
                ocibake::detail::json_integer<std::uint64_t>(l.at("uncompressed_size"));
            r.layers.push_back(std::move(layer));
        }
        if (r.layers.empty()) {
            throw Error(ErrorKind::integrity, "no layers");
        }
        return r;
    } catch (const json::exception& e) {
        throw Error(ErrorKind::integrity,
                    std::string(origin) + ": not an image record: " + e.what());
    } catch (const Error& e) {
        throw Error(ErrorKind::integrity,
                    std::string(origin) + ": not an image record: " + e.what());
    }
}

} // namespace ocibake::detail
