#include "support/apt_fixture.hpp"
#include "support/checks.hpp"

#include "support/checks.hpp"

#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace ocibake::test {

namespace fs = std::filesystem;

namespace {

fs::path script() {
    return source_dir() / "tests/fixtures/apt/make-repo.sh";
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line[0] != '#') {
            out.push_back(line);
        }
    }
    return out;
}

std::string checked(const CommandResult& r, const std::string& what) {
    if (r.exit_code != 0) {
        throw std::runtime_error(what + " failed (exit " + std::to_string(r.exit_code) + "):\n" +
                                 r.out + r.err);
    }
    return r.out;
}

} // namespace

std::vector<std::string> apt_fixture_requests() {
    return lines_of(read_file(source_dir() / "tests/fixtures/apt/packages.txt"));
}

std::vector<std::string> apt_fixture_closure() {
    std::string debs = checked(run({script().string(), "fetch"}), "make-repo.sh fetch");
    while (!debs.empty() && debs.back() == '\n') {
        debs.pop_back();
    }
    return lines_of(read_file(fs::path(debs).parent_path() / "closure"));
}

void make_apt_repo(const fs::path& out, const std::vector<std::string>& env) {
    checked(run({script().string(), "repo", out.string()}, env), "make-repo.sh repo");
}

const fs::path& shared_apt_repo() {
    static ScratchDir dir("apt-repo");
    static const fs::path repo = [] {
        make_apt_repo(dir / "repo");
        return dir / "repo";
    }();
    return repo;
}

void sign_apt_repo(const fs::path& out, const fs::path& dist) {
    std::vector<std::string> argv{script().string(), "sign", out.string()};
    if (!dist.empty()) {
        argv.push_back(dist.string());
    }
    checked(run(argv), "make-repo.sh sign");
}

namespace {

/// Starts tests/fixtures/apt/SCRIPT DIR [--log LOG]; its port from "ready PORT". With -B:
/// snapshot.py imports serve.py, and nothing may write __pycache__ into the source tree.
int start_server(const std::string& script, const std::string& what, const fs::path& dir,
                 const fs::path& log, std::unique_ptr<ReadyProcess>& process) {
    std::vector<std::string> argv{
        "python3", "-B", (source_dir() / "tests/fixtures/apt" / script).string(), dir.string()};
    if (!log.empty()) {
        argv.push_back("--log");
        argv.push_back(log.string());
    }
    process = std::make_unique<ReadyProcess>(argv, what, "/dev/null");
    const std::string& line = process->ready_line(); // "ready PORT"
    if (!line.starts_with("ready ")) {
        throw std::runtime_error(what + " said '" + line + "', not 'ready PORT'");
    }
    return std::stoi(line.substr(6));
}

} // namespace

AptServer::AptServer(const fs::path& dir, const fs::path& log) {
    port_ = start_server("serve.py", "the apt fixture server", dir, log, process_);
}

AptServer::~AptServer() = default;

std::string AptServer::url() const {
    return "http://127.0.0.1:" + std::to_string(port_);
}

SnapshotServer::SnapshotServer(const fs::path& dir, const fs::path& log) {
    port_ = start_server("snapshot.py", "the snapshot fixture server", dir, log, process_);
}

SnapshotServer::~SnapshotServer() = default;

std::string SnapshotServer::url() const {
    return "http://127.0.0.1:" + std::to_string(port_);
}

std::string apt_source_toml(const std::string& url, const fs::path& keyring,
                            const std::string& suites) {
    std::string out =
        "[[apt.source]]\nname = \"fixture\"\nurl = \"" + url + "\"\nsuites = " + suites + "\n";
    if (keyring.empty()) {
        out += "trusted = true\n";
    } else {
        out += "keyring = \"" + keyring.string() + "\"\n";
    }
    return out;
}

std::string packages_toml(const std::vector<std::string>& names) {
    std::string out = "packages = [";
    for (std::size_t i = 0; i < names.size(); ++i) {
        out += (i ? ", \"" : "\"") + names[i] + "\"";
    }
    return out + "]\n";
}

fs::path make_deb(const fs::path& dir, const std::string& name, const std::string& version,
                  const std::string& extra_control,
                  const std::vector<std::pair<std::string, std::string>>& files) {
    fs::path root = dir / ("src-" + name + "-" + version);
    for (const auto& [path, content] : files) {
        write_file(root / path, content);
    }
    write_file(root / "DEBIAN/control", "Package: " + name + "\nVersion: " + version +
                                            "\nArchitecture: amd64\nMaintainer: t <t@t>\n" +
                                            extra_control + "Description: test package\n");
    fs::path deb = dir / "pool" / (name + "_" + version + "_amd64.deb");
    fs::create_directories(deb.parent_path());
    must({"dpkg-deb", "--root-owner-group", "-Zxz", "--build", root.string(), deb.string()});
    return deb;
}

std::string local_repo(const fs::path& dir, const std::string& url) {
    fs::path bin = dir / "dists/local/main/binary-amd64";
    fs::create_directories(bin);
    must({"sh", "-c",
          "cd '" + dir.string() + "' && apt-ftparchive packages pool > '" +
              (bin / "Packages").string() +
              "' && cd dists/local && apt-ftparchive release . > "
              "Release"});
    return "[[apt.source]]\nname = \"local\"\nurl = \"" + url +
           "\"\nsuites = [\"local\"]\ntrusted = true\n";
}

} // namespace ocibake::test
