// A CDI spec in YAML (the subset yaml_subset.hpp reads), then as `run --gpus` reads it
// from a host's /etc/cdi: the spec's devices and container edits (against an empty fake
// host, so every file it names is missing).
#include "ocibake/gpu.hpp"
#include "runtime/yaml_subset.hpp"
#include "support.hpp"

#include <cstdint>
#include <filesystem>

namespace fs = std::filesystem;

namespace {
fs::path host;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ocibake::fuzz::init();
    host = ocibake::fuzz::fresh_dir("cdi-host");
    fs::create_directories(host / "etc" / "cdi");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        (void)ocibake::detail::parse_yaml_subset(text);
    } catch (const ocibake::detail::YamlError&) {
        return 0;
    }
    ocibake::fuzz::write_scratch_file("cdi-host/etc/cdi/nvidia.yaml", text);
    ocibake::GpuHost fake;
    fake.root = host;
    fake.cdi_dirs = {"/etc/cdi"};
    fake.ldconfig_listing = "";
    try {
        (void)ocibake::find_gpus(fake, ocibake::GpuRequest::parse("all"), {});
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
    }
    return 0;
}
