// Internal: the one verified layer reader. stream_layer_tar() gives a layer's tar bytes
// (blob digest and diffID checked); read_layer() its entries. A layer blob is streamed: a
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

/// Receives a layer's tar bytes, in order.
using LayerBytesFn = std::function<void(const char* data, std::size_t size)>;

/// Streams `layer`'s blob from the store through its decompressor into `sink`, hashing
/// the tar. Returns the tar's size after the blob's digest and the diffID were checked
/// (Error(integrity) naming `label` when the diffID differs; a corrupt cached blob is
/// dropped, see decode_blob()). What `sink` received before an error must be discarded.
std::uint64_t stream_layer_tar(const Store& store, const LayerResult& layer,
                               const std::string& label, const LayerBytesFn& sink);

/// Called for each tar entry; `a` reads the entry's data (archive_read_data).
using LayerEntryFn = std::function<void(archive* a, archive_entry* entry)>;

/// Reads `layer` from the store and calls `each` for every entry, in order. Returns
/// after the blob's digest and the diffID were checked. `label` starts messages
/// ("layer 2 (sha256:…)"). When `each` throws, the reader stops; its own error (a digest
/// mismatch, a corrupt stream) is thrown instead when there is one: it is the cause.
void read_layer(const Store& store, const LayerResult& layer, const std::string& label,
                const LayerEntryFn& each);

} // namespace ocibake::detail
