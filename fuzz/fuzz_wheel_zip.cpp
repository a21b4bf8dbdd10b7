// A wheel file as downloaded: the bytes are the zip (its central directory, members,
// CRCs, modes), then RECORD, WHEEL, METADATA and the install. Mutations of member
// contents mostly stop at the zip's CRC or RECORD's hashes: fuzz_wheel covers those.
#include "support.hpp"
#include "wheel_install.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ocibake::fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    ocibake::fuzz::install_wheel(bytes, "demo-1.0-py3-none-any.whl", (size & 1) != 0);
    return 0;
}
