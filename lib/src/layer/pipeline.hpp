// Internal: layer writing with a caller-provided thread pool (shared by parallel layer
// builds), and the hash-only pass used by the layer cache.
#pragma once

#include "common/thread_pool.hpp"
#include "ocibake/layer.hpp"

namespace ocibake::detail {

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
