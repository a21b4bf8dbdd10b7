#include "common/libarchive.hpp"

#include "common/dynamic_library.hpp"

#include <mutex>

namespace ocibake {

const LibArchive& libarchive() {
    static std::once_flag once;
    static LibArchive api;
    std::call_once(once, [] {
        detail::DynamicLibrary lib("libarchive.so.13", "reading archives", "libarchive13");
        LibArchive loaded;
#define OCIBAKE_LIBARCHIVE_RESOLVE(name) lib.resolve(#name, loaded.name);
        OCIBAKE_LIBARCHIVE_FUNCTIONS(OCIBAKE_LIBARCHIVE_RESOLVE)
#undef OCIBAKE_LIBARCHIVE_RESOLVE
        api = loaded;
    });
    return api;
}

} // namespace ocibake
