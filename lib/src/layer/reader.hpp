// Internal: the one verified layer reader. A layer blob of the store is streamed: a
// producer thread reads it (its digest checked at the end), decompresses it and hashes
// the tar (the diffID); pieces of the tar go through a bounded queue to libarchive on
// the caller's thread, which hands the caller entry after entry. Memory is bounded by
// the queue, never by the layer's size. A blob whose digest or diffID does not match
// is an Error(integrity) naming the layer, even when the caller stopped early.
//
// Users: `ocibake run`'s unpacker (runtime/unpack.cpp), `build`'s check of base layers
// (layer/check.cpp) and the Python planner's scan of base layers (python/detect.cpp).
#pragma once

#include "ocibake/cas.hpp"
#include "ocibake/layer.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <functional>
#include <string>

namespace ocibake::detail {

/// Called for each tar entry; `a` reads the entry's data (archive_read_data).
using LayerEntryFn = std::function<void(archive* a, archive_entry* entry)>;

/// Reads `layer` from the store and calls `each` for every entry, in order. Returns
/// after the blob's digest and the diffID were checked. `label` starts messages
/// ("layer 2 (sha256:…)"). When `each` throws, the reader stops; its own error (a digest
/// mismatch, a corrupt stream) is thrown instead when there is one: it is the cause.
void read_layer(const Store& store, const LayerResult& layer, const std::string& label,
                const LayerEntryFn& each);

} // namespace ocibake::detail
