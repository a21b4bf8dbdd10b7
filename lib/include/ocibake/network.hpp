// ocibake: a container's network. `ocibake run` gives a container a network namespace of
// its own (loopback only) and publishes ports into it (`-p 8888:8888`) with a small
// forwarder of its own: host sockets, bound by this process, whose connections are
// relayed to 127.0.0.1:PORT inside the namespace.
//
//     auto ports = {ocibake::PortMapping::parse("8888:8888")};
//     ocibake::PortForwarder net = ocibake::PortForwarder::create(ports);  // binds now
//     spec.network_namespace = net.namespace_path();                      // config.json
//     runtime.run_attached(bundle, spec);                                 // relays meanwhile
//     // ~PortForwarder: stops relaying, closes the sockets; the namespace goes with them
//
// docs/runtime.md says why a forwarder of our own and not slirp4netns or pasta.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake {

/// One `-p` / `--publish`: `[IP:][HOST_PORT:]CONTAINER_PORT[/tcp]`, as `docker run -p`.
struct PortMapping {
    std::string text;            ///< as given, for messages
    std::string host_ip;         ///< "" = every address (0.0.0.0 and [::]), as Docker
    std::uint16_t host_port = 0; ///< 0 = a free port the kernel picks
    std::uint16_t container_port = 0;

    /// Parses Docker's forms: `80`, `8080:80`, `127.0.0.1:8080:80`, `127.0.0.1::80`,
    /// `[::1]:8080:80`, each with an optional `/tcp`. Error(usage) naming the text for
    /// anything else (udp and sctp, port ranges, a port out of 1-65535, a bad address).
    static PortMapping parse(std::string_view text);
    /// The text it was parsed from, normalised (`0.0.0.0:8080:80/tcp` style).
    std::string str() const;
};

/// A host socket that a PortForwarder listens on.
struct PublishedPort {
    std::string address; ///< "0.0.0.0:8888", "[::]:8888", "127.0.0.1:41235"
    std::uint16_t host_port = 0;
    std::uint16_t container_port = 0;
    bool picked = false; ///< the host port was chosen by the kernel (`-p 80`)
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
