// Internal: .debs decoded in parallel, each into a bounded channel of its own, for a
// writer that takes the packages in order (so the bytes never depend on timing).
//
// Decoding xz (most .debs) is the expensive part, so worker threads decode packages
// ahead of the writer. Memory is bounded by (workers + 2) channels of kChannelBytes,
// never by a package's size.
#pragma once

#include "apt/deb.hpp"
#include "common/bounded_queue.hpp"
#include "layer/stream.hpp"
#include "ocibake/lock.hpp"

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ocibake::apt::detail {

/// The size of the data buffers decoders fill.
inline constexpr std::size_t kDataChunk = 1u << 20;

/// "package NAME VERSION (ARCH)", as messages name a package.
std::string describe(const LockedPackage& p);

/// What a decoder hands the writer: the control members (first), then each data.tar
/// entry's header followed by its data in chunks.
struct Event {
    enum class Kind { control, entry, data } kind = Kind::entry;
    std::map<std::string, ControlFile> control;
    DebEntry entry;
    ocibake::detail::Buffer data;
};

/// A bounded queue (of kChannelBytes, each event weighing its bytes) from one decoder to
/// the writer; the decoder's error is thrown by pop().
using Channel = ocibake::detail::BoundedQueue<Event>;

/// How many bytes of events one channel holds before its decoder waits.
inline constexpr std::size_t kChannelBytes = 8u << 20;

/// Worker threads decoding packages in order, at most `window` ahead of the writer.
class Decoders {
public:
    /// `ready` (when given) says when each package is in the store: its download runs
    /// while earlier packages are decoded.
    Decoders(const Store& store, const std::vector<LockedPackage>& packages, unsigned threads,
             ocibake::detail::BufferPool& buffers,
             const std::vector<std::shared_future<void>>* ready);
    ~Decoders();
    Decoders(const Decoders&) = delete;
    Decoders& operator=(const Decoders&) = delete;

    /// The writer has reached package `i`.
    Channel& reach(std::size_t i);

private:
    void run();
    void decode(std::size_t i);

    const Store& store_;
    const std::vector<LockedPackage>& packages_;
    ocibake::detail::BufferPool& buffers_;
    const std::vector<std::shared_future<void>>* ready_;
    std::vector<std::unique_ptr<Channel>> channels_;
    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::size_t next_ = 0;
    std::size_t reached_ = 0;
    std::size_t window_ = 4;
    /// A multi-block data.tar.xz is decoded on this many threads (a layer's one large
    /// package, such as libcublaslt, would otherwise decode on one core).
    unsigned xz_threads_ = 1;
    bool stopping_ = false;
};

} // namespace ocibake::apt::detail
