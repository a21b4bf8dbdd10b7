// An InRelease file (a clearsigned Release) as a trusted source takes it, an armored key
// (a recipe's keyring), and the Release inside.
#include "apt/internal.hpp"
#include "support.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ocibake::fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    (void)ocibake::apt::detail::dearmor(text);
    try {
        std::string payload = ocibake::apt::detail::clearsigned_text(text);
        (void)ocibake::apt::parse_release(payload, "fuzz InRelease");
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
    }
    return 0;
}
