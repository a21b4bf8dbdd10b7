// The lock file (recipe.lock): TOML and its schema.
#include "ocibake/lock.hpp"
#include "support.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ocibake::fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        ocibake::Lock lock = ocibake::parse_lock(text, "/fuzz/recipe.lock");
        // What a build does with it next: the canonical text (written back by `lock`).
        std::string again = ocibake::to_text(lock, "fuzz");
        (void)again;
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
    }
    return 0;
}
