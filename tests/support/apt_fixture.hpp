// The apt fixture: real Debian 12 packages in a signed repository served on loopback
// (tests/fixtures/apt/make-repo.sh and serve.py).
#pragma once

#include "support/support.hpp"

#include <filesystem>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace ocibake::test {

/// The packages packages.txt asks for, and the closure apt downloaded ("name=version").
std::vector<std::string> apt_fixture_requests();
std::vector<std::string> apt_fixture_closure();

/// Runs make-repo.sh: `repo OUT` with the given environment (REPO_LAYOUT, REPO_SIGN,
/// REPO_VALID_UNTIL, REPO_PACKAGES), fetching the .debs once into the fixture cache.
void make_apt_repo(const std::filesystem::path& out, const std::vector<std::string>& env = {});

/// The signed fixture repository as make_apt_repo makes it by default, made once per test
/// program; a test that changes it works on a copy.
const std::filesystem::path& shared_apt_repo();

/// Signs OUT/dists/bookworm/Release (or `dist`) again with OUT's key.
void sign_apt_repo(const std::filesystem::path& out, const std::filesystem::path& dist = {});

/// serve.py on a free loopback port; stopped on destruction.
class AptServer {
public:
    /// With `log`, every GET path is appended to that file.
    explicit AptServer(const std::filesystem::path& dir, const std::filesystem::path& log = {});
    ~AptServer();
    AptServer(const AptServer&) = delete;
    AptServer& operator=(const AptServer&) = delete;
    int port() const noexcept { return port_; }
    /// "http://127.0.0.1:PORT"
    std::string url() const;

private:
    int port_ = 0;
    std::unique_ptr<ReadyProcess> process_;
};

/// snapshot.py on a free loopback port (a snapshot service with snapshot.debian.org's
/// URL scheme, serving the runs under `dir`: dir/<archive>/<YYYYMMDDTHHMMSSZ>/...);
/// stopped on destruction.
class SnapshotServer {
public:
    /// With `log`, every GET path is appended to that file.
    explicit SnapshotServer(const std::filesystem::path& dir,
                            const std::filesystem::path& log = {});
    ~SnapshotServer();
    SnapshotServer(const SnapshotServer&) = delete;
    SnapshotServer& operator=(const SnapshotServer&) = delete;
    /// "http://127.0.0.1:PORT"
    std::string url() const;

private:
    int port_ = 0;
    std::unique_ptr<ReadyProcess> process_;
};

/// A recipe's [[apt.source]] for a fixture repository.
std::string apt_source_toml(const std::string& url, const std::filesystem::path& keyring,
                            const std::string& suites = "[\"bookworm\"]");

/// `packages = [...]` for the given names.
std::string packages_toml(const std::vector<std::string>& names);

/// A .deb made with dpkg-deb: control fields (`extra_control` after Package, Version,
/// Architecture: amd64 and Maintainer), and files (path -> content) in data.tar; written
/// to dir/pool/NAME_VERSION_amd64.deb.
std::filesystem::path make_deb(const std::filesystem::path& dir, const std::string& name,
                               const std::string& version, const std::string& extra_control,
                               const std::vector<std::pair<std::string, std::string>>& files);

/// An unsigned repository (trusted = true) of the .debs in dir/pool (suite "local",
/// indexed with apt-ftparchive); returns its [[apt.source]] for a recipe.
std::string local_repo(const std::filesystem::path& dir, const std::string& url);

} // namespace ocibake::test
