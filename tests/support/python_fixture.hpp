// Python test fixtures: wheels built by the tests, zips written by hand (hostile wheels),
// and a loopback simple-index server (tests/fixtures/python_index.py).
#pragma once

#include "ocibake/python.hpp"
#include "support/support.hpp"

#include <filesystem>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace ocibake::test {

/// The interpreter the fixture wheels are built for, Debian 12's: CPython 3.11, glibc
/// 2.36, x86_64.
inline const python::Target cp311{3, 11, python::Glibc{2, 36}, "x86_64"};

/// Debian's wheels (python3-pip-whl, python3-setuptools-whl, python3-wheel-whl).
std::vector<std::filesystem::path> debian_wheels();

/// Builds tests/fixtures/python/{demo,fastmath} with the Debian python3 + setuptools +
/// wheel, offline, into `dist`: ocibake_demo-1.0-py3-none-any.whl (pure: console and GUI
/// entry points, a #!python script, a data file) and
/// ocibake_fastmath-0.1-cp311-cp311-linux_x86_64.whl (a C extension, a header).
struct TestWheels {
    std::filesystem::path demo;
    std::filesystem::path fastmath;
};
TestWheels build_test_wheels(const std::filesystem::path& work, const std::filesystem::path& dist);

/// One zip member for write_zip().
struct ZipMember {
    ZipMember(std::string name_, std::string content_ = {}, unsigned mode_ = 0644,
              std::string symlink_ = {})
        : name(std::move(name_)), content(std::move(content_)), mode(mode_),
          symlink(std::move(symlink_)) {}
    std::string name;
    std::string content;
    unsigned mode = 0644;
    std::string symlink; ///< a symbolic link to this target when set
};

/// Writes a zip file with libarchive, members in the order given.
void write_zip(const std::filesystem::path& path, const std::vector<ZipMember>& members);

/// A wheel made from `files` (path -> content) with a correct WHEEL, METADATA and RECORD,
/// unless `record` is given (then it is RECORD's text, verbatim). Returns its path.
std::filesystem::path make_wheel(const std::filesystem::path& dir, const std::string& filename,
                                 std::vector<ZipMember> files, const std::string* record = nullptr,
                                 const std::string& wheel_version = "1.0");

/// RECORD's line for a file: "path,sha256=<b64>,size".
std::string record_line(const std::string& path, const std::string& content);

/// tests/fixtures/python_index.py serving `dir` ("json" = PEP 691, "html" = PEP 503).
class IndexServer {
public:
    IndexServer(const std::string& mode, const std::filesystem::path& dir,
                const std::filesystem::path& log = {});
    ~IndexServer();
    IndexServer(const IndexServer&) = delete;
    IndexServer& operator=(const IndexServer&) = delete;
    /// "http://127.0.0.1:PORT/simple"
    std::string url() const;

private:
    int port_ = 0;
    std::unique_ptr<ReadyProcess> process_;
};

} // namespace ocibake::test
