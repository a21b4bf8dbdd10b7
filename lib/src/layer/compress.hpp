// Internal: streaming compressors for layer blobs and a decompressor for reading them.
//
// gzip: each kStreamChunk of the tar stream becomes one gzip member (RFC 1952 allows
// several; gunzip, Go's compress/gzip, Python and libarchive read them as one stream,
// which is also how eStargz layers are made). Members are compressed in parallel with
// libdeflate; header mtime 0, OS 255. The bytes depend on the level and the chunk size,
// never on the number of threads.
// zstd: one frame from libzstd's multithreaded mode (nbWorkers >= 1 gives the same
// bytes for any worker count), content checksum on.
#pragma once

#include "common/thread_pool.hpp"
#include "layer/stream.hpp"
#include "ocibake/layer.hpp"

#include <functional>
#include <memory>
#include <string>

namespace ocibake::detail {

/// Receives compressed bytes, in order.
using ByteSink = std::function<void(const char* data, std::size_t size)>;

class Compressor {
public:
    virtual ~Compressor() = default;
    /// Takes one chunk of the uncompressed stream (in order).
    virtual void push(Buffer&& chunk) = 0;
    /// Flushes everything to the sink.
    virtual void finish() = 0;
};

/// `pool` runs gzip members (must outlive the compressor); zstd uses `threads` workers.
std::unique_ptr<Compressor> make_compressor(Compression compression, int level, unsigned threads,
                                            ThreadPool* pool, BufferPool& buffers, ByteSink sink);

/// Version string of the compression library used (part of layer cache keys).
std::string compressor_version(Compression compression);

/// Streaming decompression of gzip (all members), zstd (all frames) or plain data.
class Decompressor {
public:
    virtual ~Decompressor() = default;
    /// Feeds compressed bytes; decompressed output goes to the sink.
    virtual void feed(const char* data, std::size_t size) = 0;
    /// Error(integrity) if the stream ended mid-way.
    virtual void finish() = 0;
};
std::unique_ptr<Decompressor> make_decompressor(Compression compression, ByteSink sink,
                                                std::string origin);

/// Compression of a layer from its media type (gzip, zstd, or none for plain tar);
/// Error(integrity) for unknown types.
Compression compression_of_media_type(std::string_view media_type);

} // namespace ocibake::detail
