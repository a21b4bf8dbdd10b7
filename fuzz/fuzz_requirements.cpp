// A hashed requirements.txt (pip's syntax: options, continuations, markers, `-r`), and the
// environment markers it carries, evaluated as the lock step does.
#include "ocibake/python.hpp"
#include "support.hpp"

#include <cstdint>
#include <filesystem>

namespace fs = std::filesystem;

namespace {
fs::path file;
std::map<std::string, std::string> environment;
} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ocibake::fuzz::init();
    // `-r other.txt` resolves here: one include that exists, one that includes itself.
    fs::path dir = ocibake::fuzz::fresh_dir("requirements");
    ocibake::fuzz::write_scratch_file("requirements/other.txt",
                                      "demo==1.0 --hash=sha256:" + std::string(64, 'a') + "\n");
    ocibake::fuzz::write_scratch_file("requirements/loop.txt", "-r loop.txt\n");
    file = dir / "requirements.txt";
    ocibake::python::Target target;
    environment = ocibake::python::marker_environment(target);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        ocibake::python::Requirements r =
            ocibake::python::parse_requirements(text, file, "requirements.txt");
        for (const auto& item : r.items) {
            if (!item.marker.empty()) {
                try {
                    (void)ocibake::python::evaluate_marker(item.marker, environment, "fuzz");
                } catch (const ocibake::Error& e) {
                    ocibake::fuzz::expected(e);
                }
            }
        }
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
    }
    return 0;
}
