// Stopping cleanly: Interrupt (a flag, a descriptor to poll, a forwarder) and
// SignalWatch (SIGINT, SIGTERM and SIGHUP read from a signalfd on a thread of its own).
#include "common/fs.hpp"
#include "ocibake/run.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <thread>

namespace ocibake {

Interrupt::Interrupt() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (fd_ < 0) {
        detail::throw_errno(ErrorKind::io, "eventfd", errno);
    }
}

Interrupt::~Interrupt() {
    ::close(fd_);
}

void Interrupt::raise(int signal) {
    int none = 0;
    signal_.compare_exchange_strong(none, signal);
    ++count_;
    std::uint64_t one = 1;
    (void)!::write(fd_, &one, sizeof one);
    std::lock_guard lock(mutex_);
    if (forward_) {
        forward_(signal);
    }
}

void Interrupt::check() const {
    int s = signal_.load();
    if (s != 0) {
        const char* name = sigabbrev_np(s);
        throw Error(ErrorKind::interrupted,
                    std::string("interrupted by SIG") + (name != nullptr ? name : "?"));
    }
}

void Interrupt::drain() const noexcept {
    std::uint64_t value = 0;
    (void)!::read(fd_, &value, sizeof value);
}

void Interrupt::forward_to(std::function<void(int)> forward) const {
    std::lock_guard lock(mutex_);
    forward_ = std::move(forward);
}

struct SignalWatch::Impl {
    Interrupt& interrupt;
    sigset_t old_mask{};
    detail::UniqueFd signals;
    detail::UniqueFd stop; ///< an eventfd: the destructor ends the thread with it
    std::thread thread;

    explicit Impl(Interrupt& i) : interrupt(i) {}

    void watch() {
        pollfd fds[2] = {{signals.get(), POLLIN, 0}, {stop.get(), POLLIN, 0}};
        for (;;) {
            if (::poll(fds, 2, -1) < 0) {
                if (errno == EINTR) {
                    continue;
                }
                return;
            }
            if (fds[1].revents != 0) {
                return;
            }
            signalfd_siginfo info;
            if (::read(signals.get(), &info, sizeof info) == sizeof info) {
                interrupt.raise(static_cast<int>(info.ssi_signo));
            }
        }
    }
};

SignalWatch::SignalWatch(Interrupt& interrupt) : impl_(std::make_unique<Impl>(interrupt)) {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) {
        sigaddset(&set, s);
    }
    ::pthread_sigmask(SIG_BLOCK, &set, &impl_->old_mask);
    impl_->signals = detail::UniqueFd(::signalfd(-1, &set, SFD_CLOEXEC));
    impl_->stop = detail::UniqueFd(::eventfd(0, EFD_CLOEXEC));
    if (!impl_->signals || !impl_->stop) {
        int err = errno;
        ::pthread_sigmask(SIG_SETMASK, &impl_->old_mask, nullptr);
        detail::throw_errno(ErrorKind::io, "cannot watch signals", err);
    }
    impl_->thread = std::thread([impl = impl_.get()] { impl->watch(); });
}

SignalWatch::~SignalWatch() {
    std::uint64_t one = 1;
    (void)!::write(impl_->stop.get(), &one, sizeof one);
    impl_->thread.join();
    ::pthread_sigmask(SIG_SETMASK, &impl_->old_mask, nullptr);
}

} // namespace ocibake
