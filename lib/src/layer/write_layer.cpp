#include "common/names.hpp"
#include "common/thread_pool.hpp"
#include "layer/compress.hpp"
#include "layer/pipeline.hpp"
#include "layer/stream.hpp"
#include "layer/tar_writer.hpp"

#include <optional>

namespace ocibake {

constexpr detail::Named<Compression> compression_names[] = {
    {Compression::gzip, "gzip"},
    {Compression::zstd, "zstd"},
    {Compression::none, "none"},
};

const char* to_string(Compression compression) noexcept {
    return detail::name_of(compression_names, compression, "?");
}

std::optional<Compression> parse_compression(std::string_view text) noexcept {
    return detail::value_named(compression_names, text);
}

std::string_view layer_media_type(Compression compression) noexcept {
    switch (compression) {
    case Compression::gzip:
        return oci::media_type::layer_gzip;
    case Compression::zstd:
        return oci::media_type::layer_zstd;
    case Compression::none:
        return oci::media_type::layer_tar;
    }
    return oci::media_type::layer_tar;
}

int LayerOptions::effective_level() const noexcept {
    if (level >= 0) {
        return level;
    }
    return compression == Compression::zstd ? 3 : 6;
}

namespace detail {

namespace {

std::uint64_t total_bytes(const std::vector<LayerEntry>& entries) {
    std::uint64_t total = 0;
    for (const auto& e : entries) {
        total += 512 + (e.type == EntryType::file ? e.size : 0);
    }
    return total;
}

void check_level(const LayerOptions& options) {
    int level = options.effective_level();
    bool ok = options.compression == Compression::gzip   ? level >= 1 && level <= 12
              : options.compression == Compression::zstd ? level >= 1 && level <= 19
                                                         : true;
    if (!ok) {
        throw Error(ErrorKind::usage, "compression level " + std::to_string(level) +
                                          " is out of range for " + to_string(options.compression));
    }
}

} // namespace

LayerResult write_layer_on(Store& store, const std::vector<LayerEntry>& entries,
                           const LayerOptions& options, ThreadPool* pool, Progress* progress,
                           std::string_view name) {
    return write_layer_stream(store, options, pool, progress, name, total_bytes(entries),
                              [&](TarWriter& tar, ChunkStream&) {
                                  for (const auto& e : entries) {
                                      tar.add(e);
                                  }
                              });
}

LayerResult write_layer_stream(Store& store, const LayerOptions& options, ThreadPool* pool,
                               Progress* progress, std::string_view name, std::uint64_t total,
                               const LayerProducer& produce) {
    check_level(options);
    unsigned threads = resolve_threads(options.threads);
    std::optional<ThreadPool> own_pool;
    if (pool == nullptr && options.compression == Compression::gzip) {
        own_pool.emplace(threads);
        pool = &*own_pool;
    }
    if (progress) {
        progress->layer_started(name, total);
    }

    BufferPool buffers(kChunkSize);
    BlobWriter blob = store.new_blob();
    Sha256 diff;
    std::uint64_t done = 0;
    auto compressor =
        make_compressor(options.compression, options.effective_level(), threads, pool, buffers,
                        [&blob](const char* data, std::size_t size) { blob.write(data, size); });
    ChunkStream stream(buffers, [&](Buffer&& chunk) {
        diff.update(chunk.data.get(), chunk.size);
        done += chunk.size;
        if (progress) {
            progress->layer_progress(name, done);
        }
        compressor->push(std::move(chunk));
    });
    TarWriter tar(stream, options.source_date_epoch);
    produce(tar, stream);
    tar.finish();
    stream.finish();
    compressor->finish();

    LayerResult result;
    result.uncompressed_size = stream.total();
    result.diff_id = diff.finish();
    result.descriptor.media_type = std::string(layer_media_type(options.compression));
    result.descriptor.size = blob.size();
    result.descriptor.digest = blob.commit();
    if (progress) {
        progress->layer_finished(name);
    }
    return result;
}

Digest tar_diff_id(const std::vector<LayerEntry>& entries, std::int64_t source_date_epoch,
                   std::uint64_t* size) {
    BufferPool buffers(kChunkSize);
    Sha256 diff;
    ChunkStream stream(buffers, [&](Buffer&& chunk) {
        diff.update(chunk.data.get(), chunk.size);
        buffers.put(std::move(chunk));
    });
    TarWriter tar(stream, source_date_epoch);
    for (const auto& e : entries) {
        tar.add(e);
    }
    tar.finish();
    stream.finish();
    if (size) {
        *size = stream.total();
    }
    return diff.finish();
}

} // namespace detail

LayerResult write_layer(Store& store, const std::vector<LayerEntry>& entries,
                        const LayerOptions& options, Progress* progress, std::string_view name) {
    return detail::write_layer_on(store, entries, options, nullptr, progress, name);
}

} // namespace ocibake
