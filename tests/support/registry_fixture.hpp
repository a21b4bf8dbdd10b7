// A real CNCF distribution registry (Debian's docker-registry) on loopback, for tests.
#pragma once

#include "support/support.hpp"

#include <filesystem>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ocibake::test {

/// A test certificate authority and a server certificate for 127.0.0.1 / localhost,
/// made with the openssl command.
struct TestCa {
    explicit TestCa(const std::filesystem::path& dir);
    std::filesystem::path ca_cert, server_cert, server_key;
};

struct RegistryConfig {
    std::string address = "127.0.0.1"; ///< the address to listen on
    bool tls = false;                  ///< serve HTTPS with a TestCa certificate
    std::string htpasswd_user;         ///< basic auth (bcrypt htpasswd) when set
    std::string htpasswd_password;
    std::string token_realm; ///< token auth when set (with token_cert below)
    std::filesystem::path token_cert;
    /// A fixed http.secret (as a registry behind a load balancer, or one that resumes
    /// uploads across restarts, must have). Without it the registry makes a new one at
    /// each start and forgets the uploads begun before.
    bool fixed_secret = true;
};

/// Starts `docker-registry serve` on a free port with storage in a scratch directory;
/// stops it on destruction. restart() keeps the port and the storage.
class Registry {
public:
    explicit Registry(RegistryConfig config = {});
    ~Registry();
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

    /// "ADDRESS:PORT"
    const std::string& host() const noexcept { return host_; }
    const std::filesystem::path& storage() const noexcept { return storage_; }
    const std::filesystem::path& dir() const noexcept { return dir_.path(); }
    /// The CA to trust (TLS registries).
    std::filesystem::path ca_cert() const;

    /// SIGKILL: in-flight requests are cut.
    void stop();
    /// SIGTERM: the registry finishes in-flight requests (draintimeout), then exits.
    void stop_gracefully();
    void start();
    /// Stops the registry, runs `docker-registry garbage-collect` on its storage (what an
    /// operator does after deleting blobs through the API), and starts it again.
    void garbage_collect();
    /// DELETE /v2/REPOSITORY/blobs/DIGEST (delete is enabled); the HTTP status.
    int delete_blob(const std::string& repository, const std::string& digest) const;
    /// Path of a blob's bytes inside the storage.
    std::filesystem::path blob_data(const std::string& digest_hex) const;

private:
    ScratchDir dir_;
    RegistryConfig config_;
    std::string host_;
    std::filesystem::path storage_;
    std::filesystem::path config_file_;
    pid_t pid_ = -1;
    std::unique_ptr<TestCa> ca_;
};

/// A helper server from tests/fixtures/registry_helpers.py (a token service or a
/// fault-injecting proxy) on a free port; stopped on destruction.
class HelperServer {
public:
    /// `args` follow the mode and port: see registry_helpers.py.
    HelperServer(const std::string& mode, const std::vector<std::string>& args);
    ~HelperServer();
    HelperServer(const HelperServer&) = delete;
    HelperServer& operator=(const HelperServer&) = delete;
    int port() const noexcept { return port_; }
    std::string host() const { return "127.0.0.1:" + std::to_string(port_); }

private:
    int port_ = 0;
    std::unique_ptr<ReadyProcess> process_;
};

/// The machine's first IPv4 address that is not loopback ("" when it has none).
std::string non_loopback_address();

} // namespace ocibake::test
