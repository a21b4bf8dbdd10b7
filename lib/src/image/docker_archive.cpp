// docker-archive: the `docker save` / `docker load` tar format (manifest.json, the config
// as <hex>.json, each layer uncompressed as <diffid hex>.tar). Entries are written in a
// fixed order with fixed metadata, so equal images give equal archives.
#include "common/fs.hpp"
#include "image/internal.hpp"
#include "layer/compress.hpp"
#include "layer/stream.hpp"
#include "layer/tar_writer.hpp"

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <set>

namespace ocibake::detail {

namespace fs = std::filesystem;

namespace {

// Streams a layer blob from the store, decompressed, to `sink`; checks the diffID.
std::uint64_t stream_layer(const Store& store, const LayerResult& layer, const ByteSink& sink) {
    Sha256 diff;
    std::uint64_t size = 0;
    auto decompressor = make_decompressor(
        compression_of_media_type(layer.descriptor.media_type),
        [&](const char* data, std::size_t n) {
            diff.update(data, n);
            size += n;
            sink(data, n);
        },
        "layer " + layer.descriptor.digest.str());
    BlobReader reader = store.open_blob(layer.descriptor.digest);
    std::vector<char> buf(1 << 20);
    for (;;) {
        std::size_t n = reader.read(buf.data(), buf.size());
        if (n == 0) {
            break;
        }
        decompressor->feed(buf.data(), n);
    }
    decompressor->finish();
    Digest actual = diff.finish();
    if (actual != layer.diff_id) {
        throw Error(ErrorKind::integrity, "layer " + layer.descriptor.digest.str() +
                                              " decompresses to " + actual.str() +
                                              ", but the image config says " + layer.diff_id.str());
    }
    return size;
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
    fs::path tmp =
        file.parent_path() / ("." + file.filename().string() + ".tmp-" + random_suffix());
    UniqueFd fd = open_file(tmp, O_WRONLY | O_CREAT | O_EXCL, ErrorKind::io, 0644);
    struct Cleanup {
        fs::path path;
        ~Cleanup() {
            if (!path.empty()) {
                ::unlink(path.c_str());
            }
        }
    } cleanup{tmp};

    BufferPool buffers(kChunkSize);
    ChunkStream stream(buffers, [&](Buffer&& chunk) {
        write_all(fd.get(), chunk.data.get(), chunk.size, tmp.native());
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
    sync_fd(fd.get(), tmp);
    fd.reset();
    replace_path(tmp, file);
    cleanup.path.clear();
}

} // namespace ocibake::detail
