#include "apt/decode.hpp"

#include <algorithm>

namespace ocibake::apt::detail {

namespace {

using ocibake::detail::Buffer;

constexpr std::size_t kEntryCost = 512;

} // namespace

std::string describe(const LockedPackage& p) {
    return "package " + p.name + " " + p.version + " (" + p.arch + ")";
}

Decoders::Decoders(const Store& store, const std::vector<LockedPackage>& packages, unsigned threads,
                   ocibake::detail::BufferPool& buffers,
                   const std::vector<std::shared_future<void>>* ready)
    : store_(store), packages_(packages), buffers_(buffers), ready_(ready), xz_threads_(threads) {
    for (std::size_t i = 0; i < packages.size(); ++i) {
        channels_.push_back(std::make_unique<Channel>(kChannelBytes));
    }
    window_ = threads + 2;
    unsigned n = std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(packages.size())));
    for (unsigned i = 0; i < n; ++i) {
        workers_.emplace_back([this] { run(); });
    }
}

Decoders::~Decoders() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        wake_.notify_all();
    }
    for (auto& c : channels_) {
        c->cancel();
    }
    for (auto& w : workers_) {
        w.join();
    }
}

Channel& Decoders::reach(std::size_t i) {
    std::lock_guard lock(mutex_);
    reached_ = i;
    wake_.notify_all();
    return *channels_[i];
}

void Decoders::run() {
    for (;;) {
        std::size_t i;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || next_ < reached_ + window_; });
            if (stopping_ || next_ >= packages_.size()) {
                return;
            }
            i = next_++;
        }
        decode(i);
    }
}

void Decoders::decode(std::size_t i) {
    Channel& channel = *channels_[i];
    const LockedPackage& p = packages_[i];
    try {
        if (ready_ != nullptr) {
            (*ready_)[i].get(); // its download's error, if it failed
        }
        DebReader reader(store_, p.sha256, describe(p) + " (" + p.url + ")", xz_threads_);
        Event control;
        control.kind = Event::Kind::control;
        control.control = reader.control();
        if (!channel.push(std::move(control), kEntryCost)) {
            return;
        }
        DebEntry entry;
        while (reader.next(entry)) {
            std::uint64_t left = entry.size;
            std::string path = entry.path;
            Event e;
            e.entry = std::move(entry);
            if (!channel.push(std::move(e), kEntryCost)) {
                return;
            }
            while (left > 0) {
                Buffer b = buffers_.get();
                while (b.free() > 0 && left > 0) {
                    std::size_t n = reader.read(
                        b.end(), static_cast<std::size_t>(std::min<std::uint64_t>(b.free(), left)));
                    if (n == 0) {
                        throw Error(ErrorKind::integrity, describe(p) + " (" + p.url +
                                                              "): data.tar: " + path +
                                                              " is shorter than its header says");
                    }
                    b.size += n;
                    left -= n;
                }
                Event d;
                d.kind = Event::Kind::data;
                std::size_t size = b.size;
                d.data = std::move(b);
                if (!channel.push(std::move(d), size)) {
                    return;
                }
            }
        }
        channel.close();
    } catch (...) {
        channel.close(std::current_exception());
    }
}

} // namespace ocibake::apt::detail
