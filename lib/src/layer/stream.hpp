// Internal: the byte pipeline of a layer: tar producer -> chunks -> consumer.
#pragma once

#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace ocibake::detail {

/// Size of the chunks the tar stream is cut into. Each gzip member holds one chunk, so
/// this is part of the layer byte format (layer_format_version).
inline constexpr std::size_t kChunkSize = 1 << 20;

/// A heap buffer with a fill level.
struct Buffer {
    std::unique_ptr<char[]> data;
    std::size_t size = 0;
    std::size_t capacity = 0;

    static Buffer make(std::size_t capacity) {
        return Buffer{std::unique_ptr<char[]>(new char[capacity]), 0, capacity};
    }
    std::size_t free() const noexcept { return capacity - size; }
    char* end() noexcept { return data.get() + size; }
};

/// Recycles chunk buffers between the producer and the compressors (thread-safe).
class BufferPool {
public:
    explicit BufferPool(std::size_t capacity) : capacity_(capacity) {}
    Buffer get() {
        std::lock_guard lock(mutex_);
        if (free_.empty()) {
            return Buffer::make(capacity_);
        }
        Buffer b = std::move(free_.back());
        free_.pop_back();
        b.size = 0;
        return b;
    }
    void put(Buffer b) {
        if (b.capacity != capacity_) {
            return;
        }
        std::lock_guard lock(mutex_);
        if (free_.size() < 64) {
            free_.push_back(std::move(b));
        }
    }

private:
    std::size_t capacity_;
    std::mutex mutex_;
    std::vector<Buffer> free_;
};

/// Cuts a byte stream into kChunkSize chunks and hands each full one to `sink`.
class ChunkStream {
public:
    ChunkStream(BufferPool& pool, std::function<void(Buffer&&)> sink)
        : pool_(pool), sink_(std::move(sink)), current_(pool_.get()) {}

    void append(const void* data, std::size_t size) {
        const char* p = static_cast<const char*>(data);
        while (size > 0) {
            std::size_t n = size < current_.free() ? size : current_.free();
            std::memcpy(current_.end(), p, n);
            current_.size += n;
            p += n;
            size -= n;
            total_ += n;
            if (current_.free() == 0) {
                flush();
            }
        }
    }
    void append_zeros(std::size_t size) {
        while (size > 0) {
            std::size_t n = size < current_.free() ? size : current_.free();
            std::memset(current_.end(), 0, n);
            current_.size += n;
            size -= n;
            total_ += n;
            if (current_.free() == 0) {
                flush();
            }
        }
    }
    /// Free space in the current chunk, for reading straight into it; then commit(n).
    char* writable(std::size_t& available) {
        available = current_.free();
        return current_.end();
    }
    void commit(std::size_t n) {
        current_.size += n;
        total_ += n;
        if (current_.free() == 0) {
            flush();
        }
    }
    /// Hands over the last, partial chunk.
    void finish() {
        if (current_.size > 0) {
            flush();
        }
    }
    std::uint64_t total() const noexcept { return total_; }

private:
    void flush() {
        sink_(std::move(current_));
        current_ = pool_.get();
    }

    BufferPool& pool_;
    std::function<void(Buffer&&)> sink_;
    Buffer current_;
    std::uint64_t total_ = 0;
};

} // namespace ocibake::detail
