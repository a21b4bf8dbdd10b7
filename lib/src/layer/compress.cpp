#include "layer/compress.hpp"

#include "common/bounded_queue.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <exception>
#include <future>
#include <libdeflate.h>
#include <mutex>
#include <optional>
#include <thread>
#include <zlib.h>
// For ZSTD_getCParams and ZSTD_estimateCCtxSize_usingCParams (exported by libzstd.so).
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

namespace ocibake::detail {

namespace {

// One check() for libzstd: throws with its own message.
std::size_t zcheck(std::size_t rc, const char* what) {
    if (ZSTD_isError(rc)) {
        throw Error(ErrorKind::internal,
                    std::string("zstd ") + what + ": " + ZSTD_getErrorName(rc));
    }
    return rc;
}

struct DeflaterDeleter {
    void operator()(libdeflate_compressor* c) const noexcept { libdeflate_free_compressor(c); }
};
using Deflater = std::unique_ptr<libdeflate_compressor, DeflaterDeleter>;

// A libdeflate compressor per worker thread and level, made once.
libdeflate_compressor* thread_deflater(int level) {
    thread_local Deflater deflater;
    thread_local int deflater_level = -1;
    if (!deflater || deflater_level != level) {
        deflater.reset(libdeflate_alloc_compressor(level));
        if (!deflater) {
            throw Error(ErrorKind::internal,
                        "libdeflate: cannot make a level " + std::to_string(level) + " compressor");
        }
        deflater_level = level;
    }
    return deflater.get();
}

// Memory of a compressor, whatever the thread count: a layer's peak RSS stays under
// 100 MB with -j 1 or -j 64 (docs/benchmarks.md). The bytes never depend on it.
constexpr std::size_t kCompressorMemory = std::size_t{48} << 20;

// gzip members in flight: each holds a chunk and its compressed copy. Twice the pool
// keeps every thread busy; past the budget (more than 11 threads) some wait.
std::size_t gzip_in_flight(std::size_t threads) {
    std::size_t most = kCompressorMemory / (2 * kChunkSize);
    return std::min(2 * threads + 2, most);
}

class GzipCompressor final : public Compressor {
public:
    GzipCompressor(int level, ThreadPool& pool, BufferPool& buffers, ByteSink sink)
        : level_(level), pool_(pool), buffers_(buffers), sink_(std::move(sink)),
          max_in_flight_(gzip_in_flight(pool.size())) {}

    ~GzipCompressor() override {
        // Jobs reference this object: wait for any still queued (after an error).
        for (auto& f : in_flight_) {
            if (f.valid()) {
                f.wait();
            }
        }
    }

    void push(Buffer&& chunk) override {
        auto input = std::make_shared<Buffer>(std::move(chunk));
        in_flight_.push_back(pool_.submit([this, input] {
            libdeflate_compressor* c = thread_deflater(level_);
            std::size_t bound = libdeflate_gzip_compress_bound(c, input->size);
            Buffer out = Buffer::make(bound);
            out.size = libdeflate_gzip_compress(c, input->data.get(), input->size, out.data.get(),
                                                out.capacity);
            if (out.size == 0) {
                throw Error(ErrorKind::internal, "libdeflate: output did not fit its bound");
            }
            buffers_.put(std::move(*input));
            return out;
        }));
        while (in_flight_.size() >= max_in_flight_) {
            drain_one();
        }
    }

    void finish() override {
        while (!in_flight_.empty()) {
            drain_one();
        }
    }

private:
    void drain_one() {
        Buffer out = in_flight_.front().get();
        in_flight_.pop_front();
        sink_(out.data.get(), out.size);
    }

    int level_;
    ThreadPool& pool_;
    BufferPool& buffers_;
    ByteSink sink_;
    std::size_t max_in_flight_;
    std::deque<std::future<Buffer>> in_flight_;
};

struct ZstdCCtxDeleter {
    void operator()(ZSTD_CCtx* c) const noexcept { ZSTD_freeCCtx(c); }
};

// Fixed 4 MiB jobs (part of the layer format: the bytes depend on it).
constexpr std::size_t kZstdJobSize = std::size_t{4} << 20;
// Chunks queued for the feeder thread.
constexpr std::size_t kZstdQueued = 4;

// libzstd's multithreaded mode holds, for N workers, a round input buffer of N + 3 jobs,
// an output buffer (the job's compress bound) for each job in flight (up to N + 3) and a
// compression context for each worker: 24 MiB plus some 9 MiB a worker at level 3, all
// touched when the data does not compress; 8 workers took 150 MB in all. The workers
// are as many as the threads, up to what kCompressorMemory allows at this level (2 at
// levels 1-6, 1 from level 7 on): memory does not grow with -j.
unsigned zstd_workers(int level, unsigned threads) {
    ZSTD_compressionParameters params = ZSTD_getCParams(level, kZstdJobSize, 0);
    std::size_t per_worker = 2 * kZstdJobSize + ZSTD_estimateCCtxSize_usingCParams(params);
    std::size_t fixed = 6 * kZstdJobSize;
    std::size_t most = kCompressorMemory > fixed ? (kCompressorMemory - fixed) / per_worker : 0;
    return static_cast<unsigned>(
        std::max<std::size_t>(1, std::min<std::size_t>(threads > 0 ? threads : 1, most)));
}

// zstd on its own feeder thread: libzstd's multithreaded mode blocks the caller whenever
// its workers are busy, and the caller (the tar producer) would then stop reading and
// hashing. A small bounded queue (backpressure, no sleeps) lets both run at once.
class ZstdCompressor final : public Compressor {
public:
    ZstdCompressor(int level, unsigned threads, BufferPool& buffers, ByteSink sink)
        : ctx_(ZSTD_createCCtx()), buffers_(buffers), sink_(std::move(sink)),
          out_(Buffer::make(ZSTD_CStreamOutSize())) {
        if (!ctx_) {
            throw Error(ErrorKind::internal, "zstd: cannot make a compression context");
        }
        zcheck(ZSTD_CCtx_setParameter(ctx_.get(), ZSTD_c_compressionLevel, level), "level");
        zcheck(ZSTD_CCtx_setParameter(ctx_.get(), ZSTD_c_checksumFlag, 1), "checksum");
        // Any nbWorkers >= 1 gives the same bytes; 0 (single-threaded mode) would not.
        zcheck(ZSTD_CCtx_setParameter(ctx_.get(), ZSTD_c_nbWorkers,
                                      static_cast<int>(zstd_workers(level, threads))),
               "nbWorkers (libzstd built without threads?)");
        // Fixed 4 MiB jobs (part of the layer format), where zstd's default (4 windows)
        // takes about 30 MB more, for +0.35% size.
        zcheck(ZSTD_CCtx_setParameter(ctx_.get(), ZSTD_c_jobSize, static_cast<int>(kZstdJobSize)),
               "jobSize");
        feeder_ = std::thread([this] { feed(); });
    }

    ~ZstdCompressor() override {
        abandoned_ = true;
        queue_.close();
        if (feeder_.joinable()) {
            feeder_.join();
        }
    }

    void push(Buffer&& chunk) override {
        if (!queue_.push(std::move(chunk))) {
            rethrow(); // the feeder failed and cancelled the queue
        }
    }

    void finish() override {
        queue_.close();
        feeder_.join();
        if (error_) {
            rethrow();
        }
    }

private:
    // error_ is written by the feeder before it cancels the queue (or ends), and read
    // after push() saw the cancel or after join(): the queue's mutex orders the two.
    [[noreturn]] void rethrow() {
        if (!error_) {
            throw Error(ErrorKind::internal, "zstd: the compression thread stopped");
        }
        std::rethrow_exception(error_);
    }

    void feed() {
        try {
            while (std::optional<Buffer> chunk = queue_.pop()) {
                if (abandoned_) {
                    return;
                }
                ZSTD_inBuffer in{chunk->data.get(), chunk->size, 0};
                while (in.pos < in.size) {
                    run(in, ZSTD_e_continue);
                }
                buffers_.put(std::move(*chunk));
            }
            if (abandoned_) {
                return;
            }
            ZSTD_inBuffer in{nullptr, 0, 0};
            while (run(in, ZSTD_e_end) != 0) {
            }
        } catch (...) {
            error_ = std::current_exception();
            queue_.cancel();
        }
    }

    std::size_t run(ZSTD_inBuffer& in, ZSTD_EndDirective mode) {
        ZSTD_outBuffer out{out_.data.get(), out_.capacity, 0};
        std::size_t left = zcheck(ZSTD_compressStream2(ctx_.get(), &out, &in, mode), "compress");
        if (out.pos > 0) {
            sink_(out_.data.get(), out.pos);
        }
        return left;
    }

    std::unique_ptr<ZSTD_CCtx, ZstdCCtxDeleter> ctx_;
    BufferPool& buffers_;
    ByteSink sink_;
    Buffer out_;

    ocibake::detail::BoundedQueue<Buffer> queue_{kZstdQueued};
    std::atomic<bool> abandoned_{false}; // the owner went away: stop, write nothing more
    std::exception_ptr error_;
    std::thread feeder_; // last: started when everything above exists
};

class PlainCompressor final : public Compressor {
public:
    PlainCompressor(BufferPool& buffers, ByteSink sink)
        : buffers_(buffers), sink_(std::move(sink)) {}
    void push(Buffer&& chunk) override {
        sink_(chunk.data.get(), chunk.size);
        buffers_.put(std::move(chunk));
    }
    void finish() override {}

private:
    BufferPool& buffers_;
    ByteSink sink_;
};

// --- decompression ---------------------------------------------------------------------

struct InflaterDeleter {
    void operator()(libdeflate_decompressor* d) const noexcept { libdeflate_free_decompressor(d); }
};

// gzip: members whose output fits kWholeMember are decompressed whole by libdeflate, which
// is several times faster than zlib's inflate (ocibake's own layers are members of 1 MiB,
// kChunkSize, each). From the first member that does not fit or does not decode (another
// tool's single member, or a corrupt one), zlib streams the rest, so its errors word what
// is wrong. The bytes handed on are the same either way.
constexpr std::size_t kWholeMember = std::size_t{2} << 20;
// A member is tried once this much input is buffered (or at the end): enough for any member
// whose output fits kWholeMember, headers and stored blocks included, short of odd headers.
constexpr std::size_t kWholeMemberInput = kWholeMember + (std::size_t{64} << 10);

class GzipDecompressor final : public Decompressor {
public:
    GzipDecompressor(ByteSink sink, std::string origin)
        : sink_(std::move(sink)), origin_(std::move(origin)), out_(1 << 18),
          inflater_(libdeflate_alloc_decompressor()) {
        std::memset(&z_, 0, sizeof z_);
        if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) {
            throw Error(ErrorKind::internal, "zlib: inflateInit2 failed");
        }
        if (inflater_) {
            whole_.resize(kWholeMember);
        }
    }
    ~GzipDecompressor() override { inflateEnd(&z_); }

    void feed(const char* data, std::size_t size) override {
        if (!inflater_) {
            stream(data, size);
            return;
        }
        in_.insert(in_.end(), data, data + size);
        while (inflater_ && in_.size() - pos_ >= kWholeMemberInput) {
            whole_member();
        }
        if (inflater_ && pos_ > 0) {
            in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(pos_));
            pos_ = 0;
        }
    }
    void finish() override {
        while (inflater_ && pos_ < in_.size()) {
            whole_member();
        }
        if (inflater_) {
            if (members_ == 0) {
                fail("the gzip stream is truncated");
            }
            return;
        }
        // Drain what zlib still holds.
        while (!member_done_ && step() > 0) {
        }
        if (!member_done_) {
            fail("the gzip stream is truncated");
        }
    }

private:
    /// The member at pos_ with libdeflate; when it fails, zlib takes over from there.
    void whole_member() {
        std::size_t in_used = 0;
        std::size_t out_used = 0;
        libdeflate_result rc =
            libdeflate_gzip_decompress_ex(inflater_.get(), in_.data() + pos_, in_.size() - pos_,
                                          whole_.data(), whole_.size(), &in_used, &out_used);
        if (rc == LIBDEFLATE_SUCCESS) {
            pos_ += in_used;
            ++members_;
            sink_(whole_.data(), out_used);
            return;
        }
        inflater_.reset();
        std::vector<char> rest(in_.begin() + static_cast<std::ptrdiff_t>(pos_), in_.end());
        in_ = {};
        whole_ = {};
        pos_ = 0;
        stream(rest.data(), rest.size());
    }

    /// zlib: the input, a member after the other.
    void stream(const char* data, std::size_t size) {
        z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
        z_.avail_in = static_cast<uInt>(size);
        while (z_.avail_in > 0) {
            if (member_done_) {
                // Another gzip member follows.
                if (inflateReset(&z_) != Z_OK) {
                    fail("inflateReset failed");
                }
                member_done_ = false;
            }
            step();
        }
    }

    // One inflate() call into out_; returns the bytes it produced.
    std::size_t step() {
        z_.next_out = reinterpret_cast<Bytef*>(out_.data());
        z_.avail_out = static_cast<uInt>(out_.size());
        int rc = inflate(&z_, Z_NO_FLUSH);
        std::size_t produced = out_.size() - z_.avail_out;
        if (produced > 0) {
            sink_(out_.data(), produced);
        }
        if (rc == Z_STREAM_END) {
            member_done_ = true;
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            fail(z_.msg ? z_.msg : "corrupt data");
        }
        return produced;
    }

    [[noreturn]] void fail(const std::string& why) {
        throw Error(ErrorKind::integrity, origin_ + ": gzip: " + why);
    }
    ByteSink sink_;
    std::string origin_;
    std::vector<char> out_;
    z_stream z_;
    bool member_done_ = false;
    // libdeflate, while it has every member so far (null once zlib took over).
    std::unique_ptr<libdeflate_decompressor, InflaterDeleter> inflater_;
    std::vector<char> in_; ///< input not decoded yet, from pos_
    std::size_t pos_ = 0;
    std::vector<char> whole_; ///< one member's output
    std::size_t members_ = 0;
};

struct ZstdDCtxDeleter {
    void operator()(ZSTD_DCtx* c) const noexcept { ZSTD_freeDCtx(c); }
};

class ZstdDecompressor final : public Decompressor {
public:
    ZstdDecompressor(ByteSink sink, std::string origin)
        : ctx_(ZSTD_createDCtx()), sink_(std::move(sink)), origin_(std::move(origin)),
          out_(ZSTD_DStreamOutSize()) {
        if (!ctx_) {
            throw Error(ErrorKind::internal, "zstd: cannot make a decompression context");
        }
    }
    void feed(const char* data, std::size_t size) override {
        ZSTD_inBuffer in{data, size, 0};
        while (in.pos < in.size) {
            step(in);
        }
    }
    void finish() override {
        ZSTD_inBuffer in{nullptr, 0, 0};
        while (last_ != 0) {
            std::size_t before = produced_;
            step(in);
            if (produced_ == before) {
                throw Error(ErrorKind::integrity, origin_ + ": zstd: the stream is truncated");
            }
        }
    }

private:
    void step(ZSTD_inBuffer& in) {
        ZSTD_outBuffer out{out_.data(), out_.size(), 0};
        last_ = ZSTD_decompressStream(ctx_.get(), &out, &in);
        if (ZSTD_isError(last_)) {
            throw Error(ErrorKind::integrity, origin_ + ": zstd: " + ZSTD_getErrorName(last_));
        }
        if (out.pos > 0) {
            produced_ += out.pos;
            sink_(out_.data(), out.pos);
        }
    }
    std::unique_ptr<ZSTD_DCtx, ZstdDCtxDeleter> ctx_;
    ByteSink sink_;
    std::string origin_;
    std::vector<char> out_;
    std::size_t last_ = 0;
    std::uint64_t produced_ = 0;
};

class PlainDecompressor final : public Decompressor {
public:
    explicit PlainDecompressor(ByteSink sink) : sink_(std::move(sink)) {}
    void feed(const char* data, std::size_t size) override { sink_(data, size); }
    void finish() override {}

private:
    ByteSink sink_;
};

} // namespace

std::unique_ptr<Compressor> make_compressor(Compression compression, int level, unsigned threads,
                                            ThreadPool* pool, BufferPool& buffers, ByteSink sink) {
    switch (compression) {
    case Compression::gzip:
        if (pool == nullptr) {
            throw Error(ErrorKind::internal, "gzip compression needs a thread pool");
        }
        return std::make_unique<GzipCompressor>(level, *pool, buffers, std::move(sink));
    case Compression::zstd:
        return std::make_unique<ZstdCompressor>(level, threads, buffers, std::move(sink));
    case Compression::none:
        return std::make_unique<PlainCompressor>(buffers, std::move(sink));
    }
    throw Error(ErrorKind::internal, "unknown compression");
}

std::string compressor_version(Compression compression) {
    switch (compression) {
    case Compression::gzip:
        return std::string("libdeflate-") + LIBDEFLATE_VERSION_STRING;
    case Compression::zstd:
        return std::string("zstd-") + ZSTD_versionString();
    case Compression::none:
        return "none";
    }
    return "unknown";
}

std::unique_ptr<Decompressor> make_decompressor(Compression compression, ByteSink sink,
                                                std::string origin) {
    switch (compression) {
    case Compression::gzip:
        return std::make_unique<GzipDecompressor>(std::move(sink), std::move(origin));
    case Compression::zstd:
        return std::make_unique<ZstdDecompressor>(std::move(sink), std::move(origin));
    case Compression::none:
        return std::make_unique<PlainDecompressor>(std::move(sink));
    }
    throw Error(ErrorKind::internal, "unknown compression");
}

Compression compression_of_media_type(std::string_view mt) {
    auto ends_with = [&](std::string_view suffix) {
        return mt.size() >= suffix.size() && mt.substr(mt.size() - suffix.size()) == suffix;
    };
    if (ends_with("tar+gzip") || ends_with("tar.gzip") || ends_with(".tar.gz")) {
        return Compression::gzip;
    }
    if (ends_with("tar+zstd") || ends_with("tar.zstd")) {
        return Compression::zstd;
    }
    if (ends_with(".tar") || ends_with("layer.v1.tar") || ends_with("rootfs.diff.tar")) {
        return Compression::none;
    }
    throw Error(ErrorKind::integrity, "unsupported layer media type '" + std::string(mt) + "'");
}

} // namespace ocibake::detail
