// PEP 751 pylock.toml.
#include "python/pylock.hpp"
#include "support.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ocibake::fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        auto packages = ocibake::detail::parse_pylock(text, "/fuzz/pylock.toml", "pylock.toml");
        (void)packages;
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
    }
    return 0;
}
