// Published ports: a network namespace of the container's own, and a forwarder thread.
//
// The namespace is made by a short-lived thread (unshare(CLONE_NEWNET) applies to the
// calling thread only), which brings its loopback up and hands back an fd of it; runc
// joins it through config.json (`/proc/PID/fd/N`). The host sockets are bound by the
// caller's thread, in the host's namespace, before anything else happens (a busy port
// fails the run at once). The forwarder thread then setns()'s into the container's
// namespace for good: what it accepts on the host sockets stays in the host's namespace
// (an accepted socket is its listener's), what it creates (the connection to
// 127.0.0.1:PORT) is in the container's. One poll loop relays every connection, with a
// bounded buffer per direction (a side is read only while the other has room: no
// unbounded memory), half-closes passed on, and a bounded connect.
#include "ocibake/network.hpp"

#include "common/fs.hpp"
#include "ocibake/error.hpp"
#include "runtime/slirp.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <future>
#include <list>
#include <optional>
#include <vector>

namespace ocibake {

using detail::UniqueFd;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kBuffer = 64 << 10;    ///< per direction and connection
constexpr std::size_t kMaxConnections = 512; ///< more are accepted and closed at once
constexpr auto kConnectLimit = std::chrono::seconds(10);
constexpr auto kUdpIdle = std::chrono::seconds(90); ///< a UDP "connection" ends (Docker's)

[[noreturn]] void bad_port(std::string_view text, const std::string& why) {
    throw Error(ErrorKind::usage, "-p '" + std::string(text) + "': " + why +
                                      " (the form is [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp])");
}

std::uint16_t port_number(std::string_view text, std::string_view whole, const char* which) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.find('-') != std::string_view::npos) {
        bad_port(whole, "port ranges are not supported; publish each port with its own -p");
    }
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value == 0 ||
        value > 65535) {
        bad_port(whole, std::string(which) + " '" + std::string(text) +
                            "' is not a port number (1-65535)");
    }
    return static_cast<std::uint16_t>(value);
}

/// A socket address for `ip` (IPv4 or IPv6 text) and `port`.
bool make_address(const std::string& ip, std::uint16_t port, sockaddr_storage& out,
                  socklen_t& len) {
    std::memset(&out, 0, sizeof out);
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
    if (::inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        len = sizeof(sockaddr_in);
        return true;
    }
    if (::inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        len = sizeof(sockaddr_in6);
        return true;
    }
    return false;
}

std::string address_text(const std::string& ip, std::uint16_t port) {
    bool v6 = ip.find(':') != std::string::npos;
    return (v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
}

/// A listening TCP socket (a bound UDP one with `udp`) on ip:port; -1 with errno set when
/// it cannot be made.
int listen_on(const std::string& ip, std::uint16_t port, std::uint16_t& bound, bool udp) {
    sockaddr_storage addr{};
    socklen_t len = 0;
    make_address(ip, port, addr, len);
    UniqueFd fd(::socket(addr.ss_family,
                         (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        return -1;
    }
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (addr.ss_family == AF_INET6) {
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        (!udp && ::listen(fd.get(), 128) != 0)) {
        return -1;
    }
    len = sizeof addr;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    bound = ntohs(addr.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&addr)->sin_port
                                            : reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    return fd.release();
}

/// A new network namespace with its loopback up, made on a thread of its own.
UniqueFd new_network_namespace() {
    int fd = -1;
    std::string failed;
    int err = 0;
    std::thread maker([&] {
        if (::unshare(CLONE_NEWNET) != 0) {
            failed = "unshare(CLONE_NEWNET)";
            err = errno;
            return;
        }
        fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        ifreq ifr{};
        std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
        if (fd < 0 || !s || ::ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) {
            failed = "the new network namespace's loopback";
            err = errno;
            return;
        }
        ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
        if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0) {
            failed = "bringing up the loopback of the new network namespace";
            err = errno;
        }
    });
    maker.join();
    UniqueFd out(fd);
    if (!failed.empty()) {
        throw Error(ErrorKind::runtime, "cannot make a network namespace for -p: " + failed + ": " +
                                            std::strerror(err) +
                                            (err == EPERM ? " (ocibake run needs root)" : ""));
    }
    return out;
}

/// Bytes on their way from one socket to the other.
struct Flow {
    std::unique_ptr<char[]> data = std::make_unique<char[]>(kBuffer);
    std::size_t start = 0, end = 0;
    bool eof = false;  ///< the reading side said EOF
    bool shut = false; ///< passed on as shutdown(SHUT_WR)
    bool empty() const { return start == end; }
};

/// The datagrams of one client of a published UDP port: relayed through a socket of its
/// own in the container's namespace (so replies find their way back), until idle.
struct UdpFlow {
    std::size_t listener = 0;
    sockaddr_storage client{};
    socklen_t client_len = 0;
    UniqueFd inner; ///< connected to 127.0.0.1:PORT in the container's namespace
    Clock::time_point last;
};

struct Connection {
    UniqueFd host;  ///< accepted on a published port (the host's namespace)
    UniqueFd inner; ///< to 127.0.0.1:PORT in the container's namespace
    bool connecting = true;
    Clock::time_point deadline;
    Flow to_inner, to_host;
    bool dead = false;
};

/// Reads what `from` has into `flow` (only when the flow is empty), writes what it has to
/// `to`. False on an error (the connection is then dropped).
bool pump(int from, int to, Flow& flow, short from_events, short to_events) {
    if (!flow.eof && flow.empty() && (from_events & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = ::recv(from, flow.data.get(), kBuffer, 0);
        if (n == 0) {
            flow.eof = true;
        } else if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                return false;
            }
        } else {
            flow.start = 0;
            flow.end = static_cast<std::size_t>(n);
        }
    }
    if (!flow.empty() && (to_events & (POLLOUT | POLLERR))) {
        ssize_t n = ::send(to, flow.data.get() + flow.start, flow.end - flow.start, MSG_NOSIGNAL);
        if (n < 0) {
            return errno == EAGAIN || errno == EINTR;
        }
        flow.start += static_cast<std::size_t>(n);
    }
    if (flow.eof && flow.empty() && !flow.shut) {
        ::shutdown(to, SHUT_WR);
        flow.shut = true;
    }
    return true;
}

} // namespace

// ---- PortMapping ---------------------------------------------------------------------------

PortMapping PortMapping::parse(std::string_view text) {
    std::string_view rest = text;
    PortMapping m;
    m.text = std::string(text);
    if (std::size_t slash = rest.find('/'); slash != std::string_view::npos) {
        std::string_view proto = rest.substr(slash + 1);
        if (proto != "tcp" && proto != "udp") {
            bad_port(text, "protocol '" + std::string(proto) + "' is not supported (tcp or udp)");
        }
        m.protocol = std::string(proto);
        rest = rest.substr(0, slash);
    }
    if (rest.starts_with('[')) { // [IPv6]:HOST:CONTAINER
        std::size_t close = rest.find(']');
        if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
            bad_port(text, "an IPv6 address must be written [ADDRESS]:HOST_PORT:CONTAINER_PORT");
        }
        m.host_ip = std::string(rest.substr(1, close - 1));
        rest = rest.substr(close + 2);
        std::size_t colon = rest.find(':');
        if (colon == std::string_view::npos) {
            bad_port(text, "no container port");
        }
        if (colon > 0) {
            m.host_port = port_number(rest.substr(0, colon), text, "host port");
        }
        m.container_port = port_number(rest.substr(colon + 1), text, "container port");
    } else {
        std::size_t last = rest.rfind(':');
        m.container_port = port_number(
            last == std::string_view::npos ? rest : rest.substr(last + 1), text, "container port");
        if (last != std::string_view::npos) {
            std::string_view front = rest.substr(0, last);
            std::size_t colon = front.rfind(':');
            std::string_view host =
                colon == std::string_view::npos ? front : front.substr(colon + 1);
            if (colon != std::string_view::npos) {
                m.host_ip = std::string(front.substr(0, colon));
                if (m.host_ip.find(':') != std::string::npos) {
                    bad_port(text, "an IPv6 address must be in brackets: [ADDRESS]");
                }
            }
            if (!host.empty()) {
                m.host_port = port_number(host, text, "host port");
            } else if (colon == std::string_view::npos) {
                bad_port(text, "an empty host port needs an address before it (IP::PORT)");
            }
        }
    }
    sockaddr_storage addr{};
    socklen_t len = 0;
    if (!m.host_ip.empty() && !make_address(m.host_ip, 0, addr, len)) {
        bad_port(text, "'" + m.host_ip + "' is not an IP address");
    }
    return m;
}

std::string PortMapping::str() const {
    std::string ip = host_ip.empty() ? "0.0.0.0" : host_ip;
    bool v6 = ip.find(':') != std::string::npos;
    return (v6 ? "[" + ip + "]" : ip) + ":" + (host_port ? std::to_string(host_port) : "") + ":" +
           std::to_string(container_port) + "/" + protocol;
}

std::string PublishedPort::docker_port() const {
    return std::to_string(container_port) + "/" + protocol + " -> " + address;
}

std::string PublishedPort::docker_ps() const {
    return address + "->" + std::to_string(container_port) + "/" + protocol;
}

// ---- PortForwarder --------------------------------------------------------------------------

struct PortForwarder::Impl {
    UniqueFd netns;
    UniqueFd wake; ///< an eventfd: written once to stop the thread
    std::vector<UniqueFd> listeners;
    std::vector<PublishedPort> published; ///< one per listener, in the same order
    std::list<Connection> connections;
    std::list<UdpFlow> flows;
    std::atomic<std::uint64_t> relayed{0};
    std::thread thread;
    bool started = false;
    bool outbound_asked = false;
    detail::Slirp slirp;
    /// One datagram, used by the forwarder thread only. Not thread_local: a static TLS
    /// block is allocated and zeroed for every thread of the process, forwarder or not.
    std::vector<char> datagram;

    ~Impl() {
        if (thread.joinable()) {
            std::uint64_t one = 1;
            [[maybe_unused]] ssize_t n = ::write(wake.get(), &one, sizeof one);
            thread.join();
        }
    }

    void bind_all(const std::vector<PortMapping>& ports);
    /// The forwarder thread: enters the namespace (says so through `entered`), relays.
    void loop(std::promise<std::string>& entered);
    /// One round of poll(2) over everything; false when asked to stop.
    bool round(std::vector<pollfd>& fds);
    void accept_from(std::size_t listener);
    void step(Connection& c, short host_events, short inner_events);
    void datagrams_from_host(std::size_t listener);
    void datagrams_from_inner(UdpFlow& flow);
};

void PortForwarder::Impl::bind_all(const std::vector<PortMapping>& ports) {
    for (const PortMapping& m : ports) {
        std::vector<std::string> ips = {m.host_ip};
        if (m.host_ip.empty()) {
            ips = {"0.0.0.0", "::"}; // Docker's default: every address, IPv4 and IPv6
        }
        std::uint16_t port = m.host_port;
        bool udp = m.protocol == "udp";
        for (const std::string& ip : ips) {
            std::uint16_t bound = 0;
            int fd = listen_on(ip, port, bound, udp);
            if (fd < 0) {
                int err = errno;
                bool optional_v6 = m.host_ip.empty() && ip == "::" &&
                                   (err == EAFNOSUPPORT || err == EADDRNOTAVAIL ||
                                    (m.host_port == 0 && err == EADDRINUSE));
                if (optional_v6) {
                    continue; // no IPv6 here (Docker skips it too)
                }
                std::string where = address_text(ip, port) + (udp ? "/udp" : "");
                std::string what = "-p " + (m.text.empty() ? m.str() : m.text);
                if (err == EADDRINUSE) {
                    throw Error(ErrorKind::io, what + ": " + where +
                                                   " is in use by another program (pick "
                                                   "another host port: -p OTHER:" +
                                                   std::to_string(m.container_port) +
                                                   (udp ? "/udp" : "") + ")");
                }
                if (err == EADDRNOTAVAIL) {
                    throw Error(ErrorKind::usage,
                                what + ": " + ip + " is not an address of this host");
                }
                detail::throw_errno(ErrorKind::io, what + ": cannot listen on " + where, err);
            }
            listeners.emplace_back(fd);
            port = bound; // `-p 80`: IPv6 gets the port IPv4 got
            published.push_back(
                {address_text(ip, bound), bound, m.container_port, m.host_port == 0, m.protocol});
        }
    }
}

void PortForwarder::Impl::accept_from(std::size_t i) {
    for (;;) {
        UniqueFd host(
            ::accept4(listeners[i].get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!host) {
            return; // EAGAIN (drained), or an error on one connection: nothing to keep
        }
        if (connections.size() >= kMaxConnections) {
            continue; // closed at once: the client sees its connection reset
        }
        // This thread lives in the container's namespace: the new socket is there.
        UniqueFd inner(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!inner) {
            continue;
        }
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(published[i].container_port);
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int rc = ::connect(inner.get(), reinterpret_cast<sockaddr*>(&to), sizeof to);
        if (rc != 0 && errno != EINPROGRESS) {
            continue; // nothing listens there (yet): the client's connection is closed
        }
        Connection& c = connections.emplace_back();
        c.host = std::move(host);
        c.inner = std::move(inner);
        c.deadline = Clock::now() + kConnectLimit;
    }
}

void PortForwarder::Impl::datagrams_from_host(std::size_t i) {
    datagram.resize(65536);
    char* buf = datagram.data();
    for (;;) {
        sockaddr_storage from{};
        socklen_t len = sizeof from;
        ssize_t n = ::recvfrom(listeners[i].get(), buf, datagram.size(), 0,
                               reinterpret_cast<sockaddr*>(&from), &len);
        if (n < 0) {
            return; // drained
        }
        UdpFlow* flow = nullptr;
        for (UdpFlow& f : flows) {
            if (f.listener == i && f.client_len == len && std::memcmp(&f.client, &from, len) == 0) {
                flow = &f;
                break;
            }
        }
        if (flow == nullptr) {
            if (flows.size() >= kMaxConnections) {
                continue; // dropped, as a full network would
            }
            // In the container's namespace (this thread's): replies come back on it.
            UniqueFd inner(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
            sockaddr_in to{};
            to.sin_family = AF_INET;
            to.sin_port = htons(published[i].container_port);
            to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (!inner ||
                ::connect(inner.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
                continue;
            }
            flow = &flows.emplace_back();
            flow->listener = i;
            flow->client = from;
            flow->client_len = len;
            flow->inner = std::move(inner);
            ++relayed;
        }
        flow->last = Clock::now();
        ::send(flow->inner.get(), buf, static_cast<std::size_t>(n), 0); // lost when full: UDP
    }
}

void PortForwarder::Impl::datagrams_from_inner(UdpFlow& f) {
    datagram.resize(65536);
    char* buf = datagram.data();
    for (;;) {
        ssize_t n = ::recv(f.inner.get(), buf, datagram.size(), 0);
        if (n < 0) {
            return; // drained, or ECONNREFUSED (nothing listens there yet): not fatal
        }
        f.last = Clock::now();
        ::sendto(listeners[f.listener].get(), buf, static_cast<std::size_t>(n), 0,
                 reinterpret_cast<const sockaddr*>(&f.client), f.client_len);
    }
}

void PortForwarder::Impl::step(Connection& c, short host_events, short inner_events) {
    if (c.connecting) {
        if (inner_events == 0) {
            c.dead = Clock::now() >= c.deadline; // a connect that never finishes is dropped
            return;
        }
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.inner.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            c.dead = true; // refused: nothing listens on the port in the container
            return;
        }
        c.connecting = false;
        ++relayed;
        return;
    }
    if (((host_events | inner_events) & (POLLERR | POLLNVAL)) != 0) {
        c.dead = true; // reset or broken: nothing more will pass (and poll would not wait)
        return;
    }
    if (!pump(c.host.get(), c.inner.get(), c.to_inner, host_events, inner_events) ||
        !pump(c.inner.get(), c.host.get(), c.to_host, inner_events, host_events)) {
        c.dead = true;
        return;
    }
    c.dead = c.to_inner.shut && c.to_host.shut;
}

/// The poll(2) timeout for `deadline`, merged into `timeout` (-1: none yet).
static void sooner(int& timeout, Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    int ms = static_cast<int>(std::max<std::int64_t>(0, left.count()) + 1);
    timeout = timeout < 0 ? ms : std::min(timeout, ms);
}

bool PortForwarder::Impl::round(std::vector<pollfd>& fds) {
    fds.clear();
    fds.push_back({wake.get(), POLLIN, 0});
    for (const UniqueFd& l : listeners) {
        fds.push_back({l.get(), POLLIN, 0});
    }
    int timeout = -1;
    for (const Connection& c : connections) {
        short h = 0, in = 0;
        if (c.connecting) {
            in = POLLOUT;
            sooner(timeout, c.deadline);
        } else {
            h = static_cast<short>((c.to_inner.eof || !c.to_inner.empty() ? 0 : POLLIN) |
                                   (c.to_host.empty() ? 0 : POLLOUT));
            in = static_cast<short>((c.to_host.eof || !c.to_host.empty() ? 0 : POLLIN) |
                                    (c.to_inner.empty() ? 0 : POLLOUT));
        }
        fds.push_back({c.host.get(), h, 0});
        fds.push_back({c.inner.get(), in, 0});
    }
    for (const UdpFlow& f : flows) {
        fds.push_back({f.inner.get(), POLLIN, 0});
        sooner(timeout, f.last + kUdpIdle);
    }
    if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
        return false; // cannot happen with valid fds; the run goes on, unpublished
    }
    if (fds[0].revents != 0) {
        return false; // asked to stop
    }
    std::size_t at = 1 + listeners.size();
    for (Connection& c : connections) { // the ones accepted below are not in fds yet
        step(c, fds[at].revents, fds[at + 1].revents);
        at += 2;
    }
    connections.remove_if([](const Connection& c) { return c.dead; });
    for (UdpFlow& f : flows) {
        if (fds[at++].revents != 0) {
            datagrams_from_inner(f);
        }
    }
    auto now = Clock::now();
    flows.remove_if([now](const UdpFlow& f) { return now - f.last >= kUdpIdle; });
    for (std::size_t i = 0; i < listeners.size(); ++i) {
        if (fds[1 + i].revents & POLLIN) {
            if (published[i].protocol == "udp") {
                datagrams_from_host(i);
            } else {
                accept_from(i);
            }
        }
    }
    return true;
}

void PortForwarder::Impl::loop(std::promise<std::string>& entered) {
    if (::setns(netns.get(), CLONE_NEWNET) != 0) {
        entered.set_value(std::string("setns(CLONE_NEWNET): ") + std::strerror(errno));
        return;
    }
    entered.set_value("");
    std::vector<pollfd> fds;
    while (round(fds)) {
    }
}

PortForwarder PortForwarder::create(const std::vector<PortMapping>& ports) {
    return create(ports, NetworkOptions{});
}

PortForwarder PortForwarder::create(const std::vector<PortMapping>& ports,
                                    const NetworkOptions& options) {
    auto impl = std::make_unique<Impl>();
    impl->bind_all(ports); // in this thread's namespace: the host's
    impl->netns = new_network_namespace();
    impl->wake = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!impl->wake) {
        detail::throw_errno(ErrorKind::io, "eventfd", errno);
    }
    PortForwarder net(std::move(impl));
    net.impl_->outbound_asked = options.outbound;
    if (options.outbound) {
        net.impl_->slirp = detail::Slirp::start(net.namespace_path(), options.slirp4netns);
    }
    if (options.start) {
        net.start();
    }
    return net;
}

void PortForwarder::add(const std::vector<PortMapping>& ports) {
    if (impl_->started) {
        throw Error(ErrorKind::runtime, "PortForwarder::add() after start()");
    }
    impl_->bind_all(ports);
}

void PortForwarder::start() {
    if (impl_->started) {
        return;
    }
    impl_->started = true;
    if (impl_->listeners.empty()) {
        return; // nothing to relay
    }
    Impl* raw = impl_.get();
    auto entered = std::make_shared<std::promise<std::string>>(); // the thread's too
    std::future<std::string> entering = entered->get_future();
    impl_->thread = std::thread([raw, entered] { raw->loop(*entered); });
    // setns() is immediate; the bound is only there so that nothing waits forever.
    if (entering.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
        throw Error(ErrorKind::runtime, "the port forwarder did not start within 10 s");
    }
    if (std::string failed = entering.get(); !failed.empty()) {
        impl_->thread.join();
        throw Error(ErrorKind::runtime, "the port forwarder cannot enter the container's "
                                        "network namespace: " +
                                            failed);
    }
}

std::vector<int> PortForwarder::fds() const {
    std::vector<int> out = {impl_->netns.get(), impl_->wake.get()};
    for (const UniqueFd& l : impl_->listeners) {
        out.push_back(l.get());
    }
    if (impl_->slirp.exit_fd() >= 0) {
        out.push_back(impl_->slirp.exit_fd());
    }
    return out;
}

void PortForwarder::hand_over() {
    impl_->slirp.hand_over();
}

bool PortForwarder::outbound() const {
    return impl_->slirp.wait_ready();
}

const std::string& PortForwarder::outbound_problem() const {
    return impl_->slirp.problem();
}

std::string PortForwarder::resolv_conf() const {
    std::string out;
    std::ifstream in("/etc/resolv.conf");
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with("search ") || line.starts_with("domain ") ||
            line.starts_with("options ")) {
            out += line + "\n";
        }
    }
    return out + "nameserver " + std::string(detail::kSlirpDns) + "\n";
}

PortForwarder::PortForwarder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PortForwarder::PortForwarder(PortForwarder&&) noexcept = default;
PortForwarder& PortForwarder::operator=(PortForwarder&&) noexcept = default;
PortForwarder::~PortForwarder() = default;

std::string PortForwarder::namespace_path() const {
    return "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(impl_->netns.get());
}

const std::vector<PublishedPort>& PortForwarder::published() const {
    return impl_->published;
}

std::uint64_t PortForwarder::connections() const {
    return impl_->relayed.load();
}

} // namespace ocibake
