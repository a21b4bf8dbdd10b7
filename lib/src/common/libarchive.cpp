#include "common/libarchive.hpp"

#include "common/dynamic_library.hpp"

namespace ocibake {

const LibArchive& libarchive() {
    return detail::load_once<LibArchive>("libarchive.so.13", "reading archives", "libarchive13",
                                         [](const detail::DynamicLibrary& lib, LibArchive& api) {
#define OCIBAKE_LIBARCHIVE_RESOLVE(name) lib.resolve(#name, api.name);
                                             OCIBAKE_LIBARCHIVE_FUNCTIONS(
                                                 OCIBAKE_LIBARCHIVE_RESOLVE)
#undef OCIBAKE_LIBARCHIVE_RESOLVE
                                         });
}

} // namespace ocibake
