#include "support/python_fixture.hpp"

#include "ocibake/digest.hpp"
#include "ocibake/python.hpp"
#include "support/registry_fixture.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <stdexcept>
#include <unistd.h>

namespace ocibake::test {

namespace fs = std::filesystem;

std::vector<fs::path> debian_wheels() {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator("/usr/share/python-wheels")) {
        std::string name = e.path().filename().string();
        if (name.starts_with("pip-") || name.starts_with("setuptools-") ||
            name.starts_with("wheel-")) {
            out.push_back(e.path());
        }
    }
    std::sort(out.begin(), out.end());
    if (out.size() != 3) {
        throw std::runtime_error("Debian's wheels are missing: install python3-pip-whl "
                                 "python3-setuptools-whl python3-wheel-whl");
    }
    return out;
}

TestWheels build_test_wheels(const fs::path& work, const fs::path& dist) {
    fs::create_directories(work);
    fs::create_directories(dist);
    fs::copy(source_dir() / "tests/fixtures/python", work / "src", fs::copy_options::recursive);
    for (const char* project : {"demo", "fastmath"}) {
        // Debian's python3 (not a pyenv or venv one), offline, no build isolation.
        auto r = run({"/usr/bin/python3", "setup.py", "-q", "bdist_wheel", "-d", dist.string()},
                     {"SOURCE_DATE_EPOCH=1700000000", "PYTHONDONTWRITEBYTECODE=1"},
                     work / "src" / project);
        if (r.exit_code != 0) {
            throw std::runtime_error("building the " + std::string(project) +
                                     " wheel failed (python3-setuptools, python3-wheel, "
                                     "python3-dev installed?):\n" +
                                     r.out + r.err);
        }
    }
    TestWheels w{dist / "ocibake_demo-1.0-py3-none-any.whl",
                 dist / "ocibake_fastmath-0.1-cp311-cp311-linux_x86_64.whl"};
    if (!fs::exists(w.demo) || !fs::exists(w.fastmath)) {
        throw std::runtime_error("the test wheels were not made in " + dist.string());
    }
    return w;
}

void write_zip(const fs::path& path, const std::vector<ZipMember>& members) {
    std::unique_ptr<archive, int (*)(archive*)> a(archive_write_new(), archive_write_free);
    archive_write_set_format_zip(a.get());
    if (archive_write_open_filename(a.get(), path.c_str()) != ARCHIVE_OK) {
        throw std::runtime_error("cannot write " + path.string());
    }
    for (const auto& m : members) {
        std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(),
                                                                   archive_entry_free);
        archive_entry_set_pathname(e.get(), m.name.c_str());
        archive_entry_set_mtime(e.get(), 1700000000, 0);
        if (!m.symlink.empty()) {
            archive_entry_set_filetype(e.get(), AE_IFLNK);
            archive_entry_set_symlink(e.get(), m.symlink.c_str());
            archive_entry_set_perm(e.get(), 0777);
            archive_entry_set_size(e.get(), 0);
        } else {
            archive_entry_set_filetype(e.get(), AE_IFREG);
            archive_entry_set_perm(e.get(), m.mode);
            archive_entry_set_size(e.get(), static_cast<la_int64_t>(m.content.size()));
        }
        if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK) {
            throw std::runtime_error(std::string("zip header: ") + archive_error_string(a.get()));
        }
        if (m.symlink.empty() && !m.content.empty()) {
            archive_write_data(a.get(), m.content.data(), m.content.size());
        }
    }
    archive_write_close(a.get());
}

std::string record_line(const std::string& path, const std::string& content) {
    return path + ",sha256=" + python::record_hash(sha256_of(content)) + "," +
           std::to_string(content.size()) + "\n";
}

fs::path make_wheel(const fs::path& dir, const std::string& filename, std::vector<ZipMember> files,
                    const std::string* record, const std::string& wheel_version) {
    auto name = python::WheelFilename::parse(filename);
    std::string info = name.distribution + "-" + name.version + ".dist-info";
    bool pure = name.abi_tags[0] == "none";
    files.push_back({info + "/METADATA", "Metadata-Version: 2.1\nName: " + name.distribution +
                                             "\nVersion: " + name.version + "\n"});
    std::string tags;
    for (const auto& t : name.tags()) {
        tags += "Tag: " + t + "\n";
    }
    files.push_back({info + "/WHEEL", "Wheel-Version: " + wheel_version +
                                          "\nGenerator: ocibake-tests\nRoot-Is-Purelib: " +
                                          (pure ? "true" : "false") + "\n" + tags});
    std::string text;
    for (const auto& f : files) {
        if (f.symlink.empty()) {
            text += record_line(f.name, f.content);
        }
    }
    text += info + "/RECORD,,\n";
    files.push_back({info + "/RECORD", record ? *record : text});
    fs::create_directories(dir);
    write_zip(dir / filename, files);
    return dir / filename;
}

IndexServer::IndexServer(const std::string& mode, const fs::path& dir, const fs::path& log) {
    port_ = free_port();
    std::vector<std::string> argv{"python3",
                                  (source_dir() / "tests/fixtures/python_index.py").string(), mode,
                                  std::to_string(port_), dir.string()};
    if (!log.empty()) {
        argv.push_back(log.string());
    }
    process_ = std::make_unique<ReadyProcess>(argv, "the python index server");
}

IndexServer::~IndexServer() = default;

std::string IndexServer::url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/simple";
}

} // namespace ocibake::test
