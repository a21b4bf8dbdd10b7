// Internal: the one queue between a producer thread and a consumer (STYLE.md, "Backpressure,
// not sleeps"): bounded, so a producer that is ahead blocks; closed by the producer (with
// its error, if it failed); cancelled by a consumer that gives up. Not installed.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <utility>

namespace ocibake::detail {

template <typename T>
class BoundedQueue {
public:
    /// `capacity`: how much may wait, in the weights push() is given (1 each by default: a
    /// count of items; a byte count when each is pushed with its size).
    explicit BoundedQueue(std::size_t capacity) : capacity_(capacity) {}
    BoundedQueue(const BoundedQueue&) = delete;
    BoundedQueue& operator=(const BoundedQueue&) = delete;

    /// Blocks while `capacity` or more is waiting (an item is taken whatever its weight
    /// once there is room). False, with `item` dropped, when the consumer has cancelled.
    bool push(T item, std::size_t weight = 1) {
        std::unique_lock lock(mutex_);
        space_.wait(lock, [&] { return cancelled_ || waiting_ < capacity_; });
        if (cancelled_) {
            return false;
        }
        waiting_ += weight;
        items_.emplace_back(std::move(item), weight);
        ready_.notify_all();
        return true;
    }

    /// The next item, waiting for one; nullopt once the queue is closed and empty. A
    /// producer's error given to close() is thrown here instead, after the items before it.
    std::optional<T> pop() {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [&] { return !items_.empty() || closed_; });
        if (!items_.empty()) {
            std::optional<T> item(std::move(items_.front().first));
            waiting_ -= items_.front().second;
            items_.pop_front();
            space_.notify_all();
            return item;
        }
        if (error_) {
            std::rethrow_exception(error_);
        }
        return std::nullopt;
    }

    /// The producer is done (`error`: it failed, and pop() throws it).
    void close(std::exception_ptr error = nullptr) {
        std::lock_guard lock(mutex_);
        closed_ = true;
        error_ = error;
        ready_.notify_all();
    }

    /// The consumer gives up: push() returns false from now on, and a blocked one wakes.
    void cancel() {
        std::lock_guard lock(mutex_);
        cancelled_ = true;
        space_.notify_all();
    }

private:
    const std::size_t capacity_;
    std::mutex mutex_;
    std::condition_variable space_, ready_;
    std::deque<std::pair<T, std::size_t>> items_;
    std::size_t waiting_ = 0;
    bool closed_ = false;
    bool cancelled_ = false;
    std::exception_ptr error_;
};

} // namespace ocibake::detail
