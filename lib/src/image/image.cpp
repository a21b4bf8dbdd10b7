#include "image/internal.hpp"
#include "ocibake/error.hpp"

namespace ocibake {

void Image::add_layer(const LayerResult& blob, std::string_view created_by,
                      std::string_view comment) {
    Layer layer;
    layer.blob = blob;
    layer.history.emplace();
    layer.history->created_by = std::string(created_by);
    layer.history->comment = std::string(comment);
    layer.history->created = config.created;
    layers.push_back(std::move(layer));
}

BuiltImage assemble_image(Store& store, const Image& image) {
    BuiltImage built;
    built.config = image.config;
    built.config.diff_ids.clear();
    built.config.history = image.base_history;
    for (const auto& layer : image.layers) {
        built.config.diff_ids.push_back(layer.blob.diff_id);
        if (layer.history) {
            built.config.history.push_back(*layer.history);
        }
        built.layers.push_back(layer.blob);
    }
    built.config_json = oci::to_json(built.config);
    built.config_descriptor.media_type = std::string(oci::media_type::config);
    built.config_descriptor.digest = store.put_bytes(built.config_json);
    built.config_descriptor.size = built.config_json.size();

    built.manifest.config = built.config_descriptor;
    for (const auto& layer : built.layers) {
        built.manifest.layers.push_back(layer.descriptor);
    }
    built.manifest.annotations = image.manifest_annotations;
    built.manifest_json = oci::to_json(built.manifest);
    built.manifest_descriptor.media_type = std::string(oci::media_type::manifest);
    built.manifest_descriptor.digest = store.put_bytes(built.manifest_json);
    built.manifest_descriptor.size = built.manifest_json.size();
    built.manifest_descriptor.platform = built.config.platform;
    built.remote_blobs = image.remote_blobs;
    return built;
}

OutputTarget OutputTarget::default_for(std::string_view name) {
    return parse("oci:out/" + std::string(name));
}

OutputTarget OutputTarget::parse(std::string_view text) {
    OutputTarget t;
    auto take = [&](std::string_view prefix) {
        if (text.substr(0, prefix.size()) == prefix) {
            text.remove_prefix(prefix.size());
            return true;
        }
        return false;
    };
    if (take("docker-archive:")) {
        t.kind = Kind::docker_archive;
        // FILE[:NAME:TAG] or FILE[:NAME]
        std::size_t colon = text.find(':');
        t.path = std::string(text.substr(0, colon));
        if (colon != std::string_view::npos) {
            t.reference = std::string(text.substr(colon + 1));
        }
    } else {
        take("oci:");
        t.kind = Kind::oci_layout;
        std::size_t colon = text.find(':');
        t.path = std::string(text.substr(0, colon));
        if (colon != std::string_view::npos) {
            t.reference = std::string(text.substr(colon + 1));
        }
    }
    if (t.path.empty()) {
        throw Error(ErrorKind::usage, "output '" + std::string(text) +
                                          "' names no path (use oci:DIR[:TAG] or "
                                          "docker-archive:FILE[:NAME:TAG])");
    }
    return t;
}

std::string OutputTarget::str() const {
    std::string out = kind == Kind::oci_layout ? "oci:" : "docker-archive:";
    out += path.string();
    if (!reference.empty()) {
        out += ":" + reference;
    }
    return out;
}

void write_image(const Store& store, const BuiltImage& image, const OutputTarget& target,
                 std::string_view name, std::string_view tag, unsigned threads) {
    if (target.kind == OutputTarget::Kind::oci_layout) {
        std::string ref = target.reference.empty() ? std::string(tag) : target.reference;
        detail::write_oci_layout(store, image, target.path, ref, threads);
    } else {
        std::string ref = target.reference;
        if (ref.empty()) {
            ref = std::string(name) + ":" + std::string(tag);
        } else if (ref.find(':') == std::string::npos) {
            ref += ":" + std::string(tag);
        }
        detail::write_docker_archive(store, image, target.path, ref);
    }
}

} // namespace ocibake
