#include "support/registry_fixture.hpp"

#include <arpa/inet.h>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace ocibake::test {

namespace fs = std::filesystem;

namespace {

bool port_open(int port, const std::string& address = "127.0.0.1") {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, address.c_str(), &addr.sin_addr);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

void must_sh(const std::string& script) {
    auto r = sh(script);
    if (r.exit_code != 0) {
        throw std::runtime_error("fixture command failed: " + script + "\n" + r.err);
    }
}

} // namespace

TestCa::TestCa(const fs::path& dir) {
    fs::create_directories(dir);
    ca_cert = dir / "ca.crt";
    server_cert = dir / "server.crt";
    server_key = dir / "server.key";
    std::string d = dir.string();
    must_sh("cd '" + d +
            "' && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ocibake-test-ca "
            "-keyout ca.key -out ca.crt 2>/dev/null && "
            "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out "
            "server.csr "
            "2>/dev/null && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext.cnf && "
            "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
            "-extfile ext.cnf -out server.crt 2>/dev/null");
}

Registry::Registry(RegistryConfig config) : dir_("registry"), config_(std::move(config)) {
    if (!have_program("docker-registry")) {
        throw std::runtime_error(
            "docker-registry is not installed (Debian package docker-registry)");
    }
    int port = free_port();
    host_ = config_.address + ":" + std::to_string(port);
    storage_ = dir_ / "storage";
    config_file_ = dir_ / "config.yml";
    std::ofstream c(config_file_);
    c << "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
      << "storage:\n  filesystem:\n    rootdirectory: " << storage_.string()
      << "\n  delete:\n    enabled: true\n"
      << "http:\n  addr: " << host_ << "\n"
      << (config_.fixed_secret ? "  secret: ocibake-test-secret\n" : "") << "  draintimeout: 10s\n";
    if (config_.tls) {
        ca_ = std::make_unique<TestCa>(dir_ / "tls");
        c << "  tls:\n    certificate: " << ca_->server_cert.string()
          << "\n    key: " << ca_->server_key.string() << "\n";
    }
    if (!config_.htpasswd_user.empty()) {
        fs::path file = dir_ / "htpasswd";
        must_sh("htpasswd -Bbn '" + config_.htpasswd_user + "' '" + config_.htpasswd_password +
                "' > '" + file.string() + "'");
        c << "auth:\n  htpasswd:\n    realm: ocibake-test\n    path: " << file.string() << "\n";
    } else if (!config_.token_realm.empty()) {
        c << "auth:\n  token:\n    realm: " << config_.token_realm
          << "\n    service: ocibake-test-registry\n"
          << "    issuer: ocibake-test-issuer\n    rootcertbundle: " << config_.token_cert.string()
          << "\n";
    }
    c.close();
    start();
}

Registry::~Registry() {
    stop();
}

void Registry::garbage_collect() {
    stop_gracefully();
    must_sh("docker-registry garbage-collect '" + config_file_.string() + "' > '" +
            (dir_ / "gc.log").string() + "' 2>&1");
    start();
}

int Registry::delete_blob(const std::string& repository, const std::string& digest) const {
    CommandResult r = run({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE",
                           "http://" + host_ + "/v2/" + repository + "/blobs/" + digest});
    return std::atoi(r.out.c_str());
}

fs::path Registry::ca_cert() const {
    return ca_ ? ca_->ca_cert : fs::path();
}

void Registry::start() {
    pid_ = ::fork();
    if (pid_ == 0) {
        int devnull = ::open("/dev/null", O_RDWR);
        ::dup2(devnull, 0);
        ::dup2(devnull, 1);
        int log =
            ::open((dir_.path() / "registry.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        ::dup2(log, 2);
        ::execlp("docker-registry", "docker-registry", "serve", config_file_.c_str(), nullptr);
        ::_exit(127);
    }
    int port = std::stoi(host_.substr(host_.rfind(':') + 1));
    for (int i = 0; i < 200; ++i) {
        if (port_open(port, config_.address)) {
            return;
        }
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("docker-registry exited at start; see " +
                                     (dir_ / "registry.log").string());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    throw std::runtime_error("docker-registry did not listen on " + host_);
}

void Registry::stop() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }
}

void Registry::stop_gracefully() {
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }
}

fs::path Registry::blob_data(const std::string& hex) const {
    return storage_ / "docker/registry/v2/blobs/sha256" / hex.substr(0, 2) / hex / "data";
}

std::string non_loopback_address() {
    auto r = sh("hostname -I 2>/dev/null");
    std::istringstream words(r.out);
    std::string w;
    while (words >> w) {
        if (w.find('.') != std::string::npos && w.rfind("127.", 0) != 0) {
            return w;
        }
    }
    return "";
}

HelperServer::HelperServer(const std::string& mode, const std::vector<std::string>& args) {
    port_ = free_port();
    std::vector<std::string> argv{"python3",
                                  (source_dir() / "tests/fixtures/registry_helpers.py").string(),
                                  mode, std::to_string(port_)};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string log = "/tmp/ocibake-helper-" + mode + "-" + std::to_string(::getpid()) + ".log";
    // "ready" once listening. The pipe stays open as long as the server runs, so that
    // nothing it writes later can fail.
    process_ = std::make_unique<ReadyProcess>(
        argv, "the " + mode + " helper", std::getenv("OCIBAKE_HELPER_LOG") ? log : "/dev/null");
}

HelperServer::~HelperServer() = default;

} // namespace ocibake::test
