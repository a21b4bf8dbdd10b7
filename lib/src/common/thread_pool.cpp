#include "common/thread_pool.hpp"

namespace ocibake::detail {

unsigned resolve_threads(unsigned requested) noexcept {
    if (requested > 0) {
        return requested;
    }
    unsigned n = std::thread::hardware_concurrency();
    return n > 0 ? n : 1;
}

ThreadPool::ThreadPool(unsigned threads) {
    threads = threads > 0 ? threads : 1;
    workers_.reserve(threads);
    for (unsigned i = 0; i < threads; ++i) {
        workers_.emplace_back([this] { run(); });
    }
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& worker : workers_) {
        worker.join();
    }
}

void ThreadPool::run() {
    for (;;) {
        std::function<void()> task;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) {
                return; // stopping, and everything queued has run
            }
            task = std::move(queue_.front());
            queue_.pop_front();
        }
        task(); // packaged_task stores exceptions in its future
    }
}

} // namespace ocibake::detail
