// Internal: layer writing with a caller-provided thread pool (shared by parallel layer
// builds), and the hash-only pass used by the layer cache.
#pragma once

#include "common/thread_pool.hpp"
#include "layer/stream.hpp"
#include "layer/tar_writer.hpp"
#include "ocibake/layer.hpp"

#include <functional>
#include <optional>

namespace ocibake::detail {

/// Writes a layer's tar stream: `produce` adds entries through `tar` (and, for files
/// whose data it streams itself, appends the data to `stream` after tar.add_header() and
/// calls tar.pad()); the end-of-archive marker is added after it returns. Compressed and
/// hashed as write_layer_on() does. `total` is the expected size, for progress only.
using LayerProducer = std::function<void(TarWriter& tar, ChunkStream& stream)>;
LayerResult write_layer_stream(Store& store, const LayerOptions& options, ThreadPool* pool,
                               Progress* progress, std::string_view name, std::uint64_t total,
                               const LayerProducer& produce);

/// The layer cache's blob for a diffID with these options (nullopt when there is none, or
/// its blob is gone), and remembering one: for layers cached under keys of their own.
std::optional<LayerResult> find_layer_blob(Store& store, const Digest& diff_id,
                                           const LayerOptions& options);
void remember_layer_blob(Store& store, const LayerResult& result, const LayerOptions& options);

/// write_layer() compressing gzip members on `pool` (when not null; else its own pool).
LayerResult write_layer_on(Store& store, const std::vector<LayerEntry>& entries,
                           const LayerOptions& options, ThreadPool* pool, Progress* progress,
                           std::string_view name);

/// build_layer() on a shared pool.
LayerResult build_layer_on(Store& store, const std::vector<LayerEntry>& entries,
                           const LayerOptions& options, ThreadPool* pool, CacheStatus* status,
                           Progress* progress, std::string_view name);

/// The diffID the entries would have (the tar stream hashed, nothing stored).
Digest tar_diff_id(const std::vector<LayerEntry>& entries, std::int64_t source_date_epoch,
                   std::uint64_t* size = nullptr);

} // namespace ocibake::detail
