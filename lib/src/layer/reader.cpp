#include "layer/reader.hpp"
#include "common/libarchive.hpp"

#include "common/archive.hpp"
#include "common/bounded_queue.hpp"
#include "layer/compress.hpp"

#include <exception>
#include <optional>
#include <thread>
#include <vector>

namespace ocibake::detail {

namespace {

constexpr std::size_t kQueuePieces = 8;
constexpr std::size_t kPieceSize = 256 << 10;

/// Pieces of the decompressed tar, from the producer to libarchive. Bounded: the
/// producer blocks while it is full (backpressure, no sleeps).
using PieceQueue = BoundedQueue<std::string>;

struct Cancelled {};

} // namespace

std::uint64_t stream_layer_tar(const Store& store, const LayerResult& layer,
                               const std::string& label, const LayerBytesFn& sink) {
    Sha256 diff;
    std::uint64_t size = 0;
    auto decompressor = make_decompressor(
        compression_of_media_type(layer.descriptor.media_type),
        [&](const char* data, std::size_t n) {
            diff.update(data, n);
            size += n;
            sink(data, n);
        },
        label);
    BlobReader reader = store.open_blob(layer.descriptor.digest);
    // A decoder's integrity error may be a corrupt cached blob: decode_blob() tells.
    decode_blob(reader, [&] {
        std::vector<char> buf(1 << 16);
        for (;;) {
            std::size_t n = reader.read(buf.data(), buf.size());
            if (n == 0) {
                break;
            }
            decompressor->feed(buf.data(), n);
        }
        decompressor->finish();
    });
    Digest actual = diff.finish();
    if (actual != layer.diff_id) {
        throw Error(ErrorKind::integrity, label + " decompresses to " + actual.str() +
                                              ", but the image config says " + layer.diff_id.str());
    }
    return size;
}

namespace {

/// The producer: blob -> decompressor -> diffID hash -> queue.
class LayerStream {
public:
    LayerStream(const Store& store, const LayerResult& layer, std::string label)
        : store_(store), layer_(layer), label_(std::move(label)) {
        thread_ = std::thread([this] { produce(); });
    }
    ~LayerStream() { stop(); }

    PieceQueue& queue() noexcept { return queue_; }

    /// Reads what libarchive left (tar padding), waits for the producer and rethrows its
    /// error (a digest mismatch, a corrupt stream).
    void finish() {
        while (queue_.pop()) {
        }
        join();
    }
    /// The consumer failed: stop the producer; its own error, if any, is more telling.
    void abandon() {
        queue_.cancel();
        join();
    }

private:
    void produce() {
        try {
            std::string piece;
            auto flush = [&] {
                if (!piece.empty() && !queue_.push(std::move(piece))) {
                    throw Cancelled{};
                }
                piece.clear();
            };
            stream_layer_tar(store_, layer_, label_, [&](const char* data, std::size_t size) {
                while (size > 0) {
                    std::size_t n = std::min(size, kPieceSize - piece.size());
                    piece.append(data, n);
                    data += n;
                    size -= n;
                    if (piece.size() == kPieceSize) {
                        flush();
                    }
                }
            });
            flush();
        } catch (const Cancelled&) {
        } catch (...) {
            error_ = std::current_exception();
        }
        queue_.close();
    }

    void join() {
        if (thread_.joinable()) {
            thread_.join();
        }
        if (error_) {
            std::exception_ptr e = error_;
            error_ = nullptr;
            std::rethrow_exception(e);
        }
    }
    void stop() noexcept {
        queue_.cancel();
        if (thread_.joinable()) {
            thread_.join();
        }
    }

    const Store& store_;
    const LayerResult& layer_;
    std::string label_;
    PieceQueue queue_{kQueuePieces};
    std::exception_ptr error_;
    std::thread thread_;
};

/// libarchive's read callback: hands out queue pieces. No exception crosses it.
struct ReadContext {
    PieceQueue* queue = nullptr;
    std::string current;
};

la_ssize_t read_piece(archive*, void* opaque, const void** buffer) {
    auto* ctx = static_cast<ReadContext*>(opaque);
    std::optional<std::string> piece = ctx->queue->pop();
    if (!piece) {
        return 0;
    }
    ctx->current = std::move(*piece);
    *buffer = ctx->current.data();
    return static_cast<la_ssize_t>(ctx->current.size());
}

void read_entries(LayerStream& stream, const std::string& label, const LayerEntryFn& each) {
    ArchiveReader a = new_reader();
    libarchive().archive_read_support_format_tar(a.get());
    libarchive().archive_read_support_filter_none(a.get());
    ReadContext ctx{&stream.queue(), {}};
    if (libarchive().archive_read_open(a.get(), &ctx, nullptr, read_piece, nullptr) != ARCHIVE_OK) {
        throw archive_error(a.get(), label, ErrorKind::integrity, "not a tar stream");
    }
    archive_entry* entry = nullptr;
    for (;;) {
        int rc = libarchive().archive_read_next_header(a.get(), &entry);
        if (rc == ARCHIVE_EOF) {
            break;
        }
        check_archive(a.get(), rc, label, "corrupt tar stream");
        each(a.get(), entry);
    }
}

} // namespace

void read_layer(const Store& store, const LayerResult& layer, const std::string& label,
                const LayerEntryFn& each) {
    LayerStream stream(store, layer, label);
    try {
        read_entries(stream, label, each);
    } catch (...) {
        stream.abandon(); // rethrows the producer's error (digest, corrupt data) first
        throw;
    }
    stream.finish();
}

} // namespace ocibake::detail
