// ocibake: a container's network. `ocibake run` gives a container a network namespace of
// its own, reaching out through slirp4netns (as Docker's default bridge does: outbound
// TCP/UDP, DNS at 10.0.2.3), and publishes ports into it (`-p 8888:8888`, `-p 53/udp`)
// with a small forwarder of its own: host sockets, bound by this process, whose
// connections (and datagrams) are relayed to 127.0.0.1:PORT inside the namespace.
//
//     auto ports = {ocibake::PortMapping::parse("8888:8888")};
//     ocibake::NetworkOptions options;                                     // outbound too
//     ocibake::PortForwarder net = ocibake::PortForwarder::create(ports, options);
//     spec.network_namespace = net.namespace_path();                      // config.json
//     runtime.run_attached(bundle, spec);                                 // relays meanwhile
//     // ~PortForwarder: stops relaying, closes the sockets, ends slirp4netns; the
//     // namespace goes with them
//
// docs/runtime.md says why a forwarder of our own for published ports, and slirp4netns
// for the way out.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake {

/// One `-p` / `--publish`: `[IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp]`, as `docker run
/// -p`.
struct PortMapping {
    std::string text;            ///< as given, for messages
    std::string host_ip;         ///< "" = every address (0.0.0.0 and [::]), as Docker
    std::uint16_t host_port = 0; ///< 0 = a free port the kernel picks
    std::uint16_t container_port = 0;
    std::string protocol = "tcp"; ///< "tcp" or "udp"

    /// Parses Docker's forms: `80`, `8080:80`, `127.0.0.1:8080:80`, `127.0.0.1::80`,
    /// `[::1]:8080:80`, each with an optional `/tcp` or `/udp`. Error(usage) naming the
    /// text for anything else (sctp, port ranges, a port out of 1-65535, a bad address).
    static PortMapping parse(std::string_view text);
    /// The text it was parsed from, normalised (`0.0.0.0:8080:80/tcp` style).
    std::string str() const;
};

/// A host socket that a PortForwarder listens on.
struct PublishedPort {
    std::string address; ///< "0.0.0.0:8888", "[::]:8888", "127.0.0.1:41235"
    std::uint16_t host_port = 0;
    std::uint16_t container_port = 0;
    bool picked = false;          ///< the host port was chosen by the kernel (`-p 80`)
    std::string protocol = "tcp"; ///< "tcp" or "udp"

    /// As `docker port` prints it: `80/tcp -> 0.0.0.0:32768`.
    std::string docker_port() const;
    /// As `docker ps` shows it: `0.0.0.0:32768->80/tcp`.
    std::string docker_ps() const;
};

/// How PortForwarder::create() makes the network.
struct NetworkOptions {
    /// Start slirp4netns for the namespace: outbound TCP and UDP through the host's
    /// sockets, DNS at 10.0.2.3 (the host's own loopback stays unreachable). When it is
    /// missing or fails, the namespace keeps loopback only and outbound_problem() says why.
    bool outbound = false;
    /// The slirp4netns program; empty: `slirp4netns` on PATH.
    std::string slirp4netns;
    /// Start relaying at once; false: start() does, later (after add(), or in another
    /// process after a fork).
    bool start = true;
};

/// A network namespace with loopback up, and a thread relaying the published ports into
/// it. Moving it keeps everything running; destroying it stops the thread (promptly: it
/// waits on nothing but its own poll loop), closes every socket and releases the
/// namespace (the container, when still running, keeps it alive).
class PortForwarder {
public:
    /// Makes the namespace and binds every mapping's host sockets now, so a busy port is
    /// found before anything is unpacked: Error(io) naming the `-p` text and the address
    /// ("-p 8888:8888: 0.0.0.0:8888 is in use by another program"). Needs root
    /// (CAP_SYS_ADMIN for the namespace).
    static PortForwarder create(const std::vector<PortMapping>& ports);
    /// The same, with slirp4netns for a way out when options.outbound.
    static PortForwarder create(const std::vector<PortMapping>& ports,
                                const NetworkOptions& options);

    /// Binds more host sockets (`-P`: the image's exposed ports); only before start().
    void add(const std::vector<PortMapping>& ports);
    /// Starts the relaying thread (once; nothing to do when no port is published).
    void start();
    /// Every descriptor this object holds (the namespace, the host sockets, slirp4netns's
    /// exit pipe): what a forked process that carries it on must keep open.
    std::vector<int> fds() const;
    /// After a fork, the other process carries the network on (it called start()): this
    /// one's destructor closes its copies without ending slirp4netns.
    void hand_over();
    /// True when slirp4netns gives the namespace a way out. It is started by create()
    /// and this waits for it, the first time (at most 10 s): call it just before the
    /// container starts, so that the start overlaps the rest of the preparation.
    bool outbound() const;
    /// Why there is no way out although options.outbound asked for one ("" otherwise, or
    /// while slirp4netns is starting: a program that is missing is known at once, one that
    /// fails once outbound() waited for it).
    const std::string& outbound_problem() const;
    /// The container's /etc/resolv.conf with a way out: slirp4netns's DNS forwarder, after
    /// the host's search and options lines.
    std::string resolv_conf() const;

    PortForwarder(PortForwarder&&) noexcept;
    PortForwarder& operator=(PortForwarder&&) noexcept;
    ~PortForwarder();

    /// The namespace as config.json's `linux.namespaces[].path` names it
    /// (`/proc/PID/fd/N`, valid while this object lives).
    std::string namespace_path() const;
    /// Every host socket, in the order of the mappings.
    const std::vector<PublishedPort>& published() const;
    /// Connections relayed so far (accepted and connected inside the namespace).
    std::uint64_t connections() const;

    struct Impl; ///< opaque

private:
    explicit PortForwarder(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace ocibake
