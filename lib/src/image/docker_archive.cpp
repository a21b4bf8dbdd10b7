// docker-archive: the `docker save` / `docker load` tar format (manifest.json, the config
// as <hex>.json, each layer uncompressed as <diffid hex>.tar). Entries are written in a
// fixed order with fixed metadata, so equal images give equal archives.
#include "common/archive.hpp"
#include "common/fs.hpp"
#include "image/internal.hpp"
#include "layer/compress.hpp"
#include "layer/reader.hpp"
#include "layer/stream.hpp"
#include "layer/tar_writer.hpp"

#include "common/libarchive.hpp"
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace ocibake::detail {

namespace fs = std::filesystem;

namespace {

// Streams a layer blob from the store, decompressed, to `sink`; checks the diffID.
std::uint64_t stream_layer(const Store& store, const LayerResult& layer, const ByteSink& sink) {
    return detail::stream_layer_tar(store, layer, "layer " + layer.descriptor.digest.str(),
                                    [&](const char* data, std::size_t n) { sink(data, n); });
}

LayerEntry file_entry(std::string path, std::uint64_t size) {
    LayerEntry e;
    e.path = std::move(path);
    e.type = EntryType::file;
    e.mode = 0644;
    e.size = size;
    return e;
}

} // namespace

std::uint64_t uncompressed_size(const Store& store, const LayerResult& layer) {
    if (layer.uncompressed_size != 0) {
        return layer.uncompressed_size;
    }
    if (auto text = store.get_record("layer-size", layer.diff_id.hex())) {
        try {
            return std::stoull(*text);
        } catch (const std::exception&) {
        }
    }
    std::uint64_t size = stream_layer(store, layer, [](const char*, std::size_t) {});
    store.put_record("layer-size", layer.diff_id.hex(), std::to_string(size));
    return size;
}

void write_docker_archive(const Store& store, const BuiltImage& image, const fs::path& file_in,
                          std::string_view repo_tag) {
    fs::path file = fs::absolute(file_in).lexically_normal();
    std::error_code ec;
    if (fs::is_directory(file, ec)) {
        throw Error(ErrorKind::io, "refusing to replace " + file.string() + ": it is a directory");
    }
    fs::create_directories(file.parent_path(), ec);
    OutputTemp tmp(file, OutputTemp::Kind::file);

    BufferPool buffers(kChunkSize);
    ChunkStream stream(buffers, [&](Buffer&& chunk) {
        write_all(tmp.fd(), chunk.data.get(), chunk.size, tmp.path().native());
        buffers.put(std::move(chunk));
    });
    TarWriter tar(stream, 0);

    std::string config_name = image.config_descriptor.digest.hex() + ".json";
    LayerEntry config = file_entry(config_name, image.config_json.size());
    config.content = image.config_json;
    tar.add(config);

    nlohmann::json layers = nlohmann::json::array();
    std::set<Digest> written;
    for (const auto& layer : image.layers) {
        std::string name = layer.diff_id.hex() + ".tar";
        layers.push_back(name);
        if (!written.insert(layer.diff_id).second) {
            continue;
        }
        std::uint64_t size = uncompressed_size(store, layer);
        tar.add_header(file_entry(name, size));
        std::uint64_t streamed = stream_layer(
            store, layer, [&](const char* data, std::size_t n) { stream.append(data, n); });
        if (streamed != size) {
            throw Error(ErrorKind::integrity, "layer " + layer.diff_id.str() + " is " +
                                                  std::to_string(streamed) + " bytes, expected " +
                                                  std::to_string(size));
        }
        tar.pad(size);
    }

    nlohmann::json manifest = nlohmann::json::array();
    manifest.push_back({{"Config", config_name},
                        {"RepoTags", nlohmann::json::array({std::string(repo_tag)})},
                        {"Layers", layers}});
    LayerEntry m = file_entry("manifest.json", 0);
    m.content = manifest.dump();
    m.size = m.content.size();
    tar.add(m);
    tar.finish();
    stream.finish();
    sync_fd(tmp.fd(), tmp.path());
    tmp.commit(file);
}

OutputTarget local_image(std::string_view reference) {
    OutputTarget target = OutputTarget::parse(reference);
    std::error_code ec;
    bool explicit_kind = reference.starts_with("oci:") || reference.starts_with("docker-archive:");
    if (!explicit_kind && fs::is_regular_file(target.path, ec)) {
        target.kind = OutputTarget::Kind::docker_archive;
    }
    if (!fs::exists(target.path, ec)) {
        throw Error(ErrorKind::input, "image " + std::string(reference) + ": " +
                                          target.path.string() + " does not exist");
    }
    return target;
}

nlohmann::json docker_manifest(const std::map<std::string, std::string>& json_files,
                               const std::string& origin) {
    auto mf = json_files.find("manifest.json");
    if (mf == json_files.end()) {
        throw Error(ErrorKind::integrity, origin + " is not a docker archive (no manifest.json)");
    }
    nlohmann::json manifest;
    try {
        manifest = nlohmann::json::parse(mf->second);
    } catch (const std::exception& e) {
        throw Error(ErrorKind::integrity, origin + ": manifest.json: " + e.what());
    }
    return manifest;
}

} // namespace ocibake::detail

// ---- reading ------------------------------------------------------------------------

namespace ocibake {

namespace fs = std::filesystem;

namespace {

using detail::check_archive;

std::string media_type_of_magic(const unsigned char* head, std::size_t size) {
    if (size >= 2 && head[0] == 0x1f && head[1] == 0x8b) {
        return std::string(oci::media_type::layer_gzip);
    }
    if (size >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd) {
        return std::string(oci::media_type::layer_zstd);
    }
    return std::string(oci::media_type::layer_tar);
}

} // namespace

SourceImage load_docker_archive(Store& store, const std::filesystem::path& file) {
    std::string origin = file.string();
    detail::ArchiveReader a = detail::new_reader();
    libarchive().archive_read_support_format_tar(a.get());
    libarchive().archive_read_support_filter_all(a.get());
    if (libarchive().archive_read_open_filename(a.get(), file.c_str(), 1 << 16) != ARCHIVE_OK) {
        throw detail::archive_error(a.get(), "cannot read " + origin, ErrorKind::input, "?");
    }
    // One pass: small JSON files are kept, every other regular file is streamed into
    // the store (the manifest that says which ones are layers may come last).
    std::map<std::string, std::string> json_files;
    struct Blob {
        oci::Descriptor descriptor;
    };
    std::map<std::string, Blob> blobs;
    std::vector<char> buf(1 << 20);
    archive_entry* entry = nullptr;
    for (;;) {
        int rc = libarchive().archive_read_next_header(a.get(), &entry);
        if (rc == ARCHIVE_EOF) {
            break;
        }
        check_archive(a.get(), rc, "cannot read " + origin);
        if (libarchive().archive_entry_filetype(entry) != AE_IFREG) {
            continue;
        }
        std::string name = libarchive().archive_entry_pathname(entry);
        if (name.rfind("./", 0) == 0) {
            name = name.substr(2);
        }
        auto size = static_cast<std::uint64_t>(libarchive().archive_entry_size(entry));
        bool is_json = name.size() > 5 && name.substr(name.size() - 5) == ".json";
        if (is_json && size < (16u << 20)) {
            std::string text(size, '\0');
            la_ssize_t n = libarchive().archive_read_data(a.get(), text.data(), text.size());
            if (n < 0 || static_cast<std::uint64_t>(n) != size) {
                check_archive(a.get(), ARCHIVE_FATAL, "cannot read " + name + " in " + origin);
            }
            json_files[name] = std::move(text);
            continue;
        }
        BlobWriter writer = store.new_blob();
        unsigned char head[4] = {0, 0, 0, 0};
        std::size_t head_size = 0;
        for (;;) {
            la_ssize_t n = libarchive().archive_read_data(a.get(), buf.data(), buf.size());
            check_archive(a.get(), n < 0 ? static_cast<int>(n) : ARCHIVE_OK,
                          "cannot read " + name + " in " + origin);
            if (n == 0) {
                break;
            }
            for (la_ssize_t i = 0; i < n && head_size < sizeof head; ++i) {
                head[head_size++] = static_cast<unsigned char>(buf[static_cast<std::size_t>(i)]);
            }
            writer.write(buf.data(), static_cast<std::size_t>(n));
        }
        Blob blob;
        blob.descriptor.size = writer.size();
        blob.descriptor.digest = writer.commit();
        blob.descriptor.media_type = media_type_of_magic(head, head_size);
        blobs[name] = blob;
    }
    nlohmann::json manifest = detail::docker_manifest(json_files, origin);
    if (!manifest.is_array() || manifest.size() != 1 || !manifest[0].is_object() ||
        !manifest[0].value("Config", nlohmann::json()).is_string() ||
        !manifest[0].value("Layers", nlohmann::json()).is_array()) {
        throw Error(ErrorKind::integrity,
                    origin + ": manifest.json must list exactly one image with Config and Layers");
    }
    std::string config_name = manifest[0]["Config"].get<std::string>();
    auto cf = json_files.find(config_name);
    if (cf == json_files.end()) {
        throw Error(ErrorKind::integrity, origin + ": config " + config_name + " is missing");
    }
    SourceImage out;
    out.config = oci::parse_image_config(cf->second, origin + ":" + config_name);
    out.manifest.config.media_type = std::string(oci::media_type::config);
    out.manifest.config.digest = store.put_bytes(cf->second);
    out.manifest.config.size = cf->second.size();
    const nlohmann::json& layers = manifest[0]["Layers"];
    if (layers.size() != out.config.diff_ids.size()) {
        throw Error(ErrorKind::integrity,
                    origin + ": manifest.json lists " + std::to_string(layers.size()) +
                        " layers, the config " + std::to_string(out.config.diff_ids.size()));
    }
    nlohmann::json kept = nlohmann::json::array();
    for (std::size_t i = 0; i < layers.size(); ++i) {
        std::string name = layers[i].is_string() ? layers[i].get<std::string>() : "";
        auto it = blobs.find(name);
        if (it == blobs.end()) {
            throw Error(ErrorKind::integrity, origin + ": layer " + std::to_string(i + 1) + " (" +
                                                  name + ") is missing from the archive");
        }
        LayerResult layer;
        layer.descriptor = it->second.descriptor;
        layer.diff_id = out.config.diff_ids[i];
        if (layer.descriptor.media_type == oci::media_type::layer_tar) {
            if (layer.descriptor.digest != layer.diff_id) {
                throw Error(ErrorKind::integrity, origin + ": layer " + name + " hashes to " +
                                                      layer.descriptor.digest.str() +
                                                      ", but the config says " +
                                                      layer.diff_id.str());
            }
            layer.uncompressed_size = layer.descriptor.size;
        }
        out.manifest.layers.push_back(layer.descriptor);
        out.layers.push_back(layer);
        kept.push_back(layer.descriptor.digest.str());
    }
    // Keeps the imported blobs alive in the cache while they are used.
    store.put_record("base", out.manifest.config.digest.hex(), kept.dump());
    return out;
}

SourceImage load_image(Store& store, std::string_view reference, const oci::Platform& platform) {
    OutputTarget target = detail::local_image(reference);
    // A registry source ("docker://HOST/NAME:TAG") will be dispatched here.
    if (target.kind == OutputTarget::Kind::docker_archive) {
        return load_docker_archive(store, target.path);
    }
    return load_oci_layout(store, target.path, target.reference, platform);
}

} // namespace ocibake
