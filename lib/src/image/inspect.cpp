#include "common/archive.hpp"
#include "common/fs.hpp"
#include "image/internal.hpp"

#include "common/libarchive.hpp"
#include <archive.h>
#include <archive_entry.h>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

namespace ocibake {

namespace fs = std::filesystem;

namespace {

using detail::check_archive;

ImageInfo inspect_docker_archive(const fs::path& file, std::string_view source) {
    detail::ArchiveReader a = detail::new_reader();
    libarchive().archive_read_support_format_tar(a.get());
    libarchive().archive_read_support_filter_all(a.get());
    if (libarchive().archive_read_open_filename(a.get(), file.c_str(), 1 << 16) != ARCHIVE_OK) {
        throw detail::archive_error(a.get(), "cannot read " + file.string(), ErrorKind::input, "?");
    }
    std::map<std::string, std::string> json_files;
    std::map<std::string, std::uint64_t> sizes;
    archive_entry* entry = nullptr;
    for (;;) {
        int rc = libarchive().archive_read_next_header(a.get(), &entry);
        if (rc == ARCHIVE_EOF) {
            break;
        }
        check_archive(a.get(), rc, "cannot read " + file.string());
        std::string name = libarchive().archive_entry_pathname(entry);
        if (name.rfind("./", 0) == 0) {
            name = name.substr(2);
        }
        auto size = static_cast<std::uint64_t>(libarchive().archive_entry_size(entry));
        sizes[name] = size;
        if (name.size() > 5 && name.substr(name.size() - 5) == ".json" && size < (16u << 20)) {
            std::string text(size, '\0');
            la_ssize_t n = libarchive().archive_read_data(a.get(), text.data(), text.size());
            if (n < 0 || static_cast<std::uint64_t>(n) != size) {
                check_archive(a.get(), ARCHIVE_FATAL,
                              "cannot read " + name + " in " + file.string());
            }
            json_files[name] = text;
        }
    }
    std::string origin = file.string();
    nlohmann::json manifest = detail::docker_manifest(json_files, origin);
    if (!manifest.is_array() || manifest.size() != 1 || !manifest[0].is_object()) {
        throw Error(ErrorKind::integrity, origin + ": manifest.json must list exactly one image");
    }
    std::string config_name = manifest[0].value("Config", "");
    auto cf = json_files.find(config_name);
    if (cf == json_files.end()) {
        throw Error(ErrorKind::integrity, origin + ": config " + config_name + " is missing");
    }
    ImageInfo info;
    info.source = std::string(source);
    info.config_json = cf->second;
    info.config = oci::parse_image_config(info.config_json, origin + ":" + config_name);
    info.manifest.config.media_type = std::string(oci::media_type::config);
    info.manifest.config.digest = sha256_of(info.config_json);
    info.manifest.config.size = info.config_json.size();
    const auto& layers = manifest[0].value("Layers", nlohmann::json::array());
    if (layers.size() != info.config.diff_ids.size()) {
        throw Error(ErrorKind::integrity,
                    origin + ": manifest.json lists " + std::to_string(layers.size()) +
                        " layers, the config " + std::to_string(info.config.diff_ids.size()));
    }
    for (std::size_t i = 0; i < layers.size(); ++i) {
        std::string name = layers[i].get<std::string>();
        oci::Descriptor d;
        d.media_type = std::string(oci::media_type::layer_tar);
        d.digest = info.config.diff_ids[i];
        d.size = sizes.count(name) ? sizes[name] : 0;
        info.manifest.layers.push_back(d);
        info.uncompressed_sizes.push_back(d.size);
    }
    info.manifest_json = oci::to_json(info.manifest);
    return info;
}

} // namespace

ImageInfo inspect_image(std::string_view reference, const oci::Platform& platform) {
    OutputTarget target = detail::local_image(reference);
    if (target.kind == OutputTarget::Kind::docker_archive) {
        return inspect_docker_archive(target.path, reference);
    }
    detail::LayoutManifest m =
        detail::read_layout_manifest(target.path, target.reference, platform);
    ImageInfo info;
    info.source = std::string(reference);
    info.manifest_descriptor = m.descriptor;
    info.manifest = m.manifest;
    info.manifest_json = m.manifest_json;
    info.config = m.config;
    info.config_json = m.config_json;
    info.uncompressed_sizes.assign(m.manifest.layers.size(), 0);
    return info;
}

} // namespace ocibake
