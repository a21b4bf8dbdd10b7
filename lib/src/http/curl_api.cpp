#include "http/curl_api.hpp"

#include "common/dynamic_library.hpp"

#include <mutex>

namespace ocibake::detail {

const CurlApi& curl() {
    // A failed load is not remembered: call_once runs again after a throw.
    static std::once_flag once;
    static CurlApi api{};
    std::call_once(once, [] {
        // The SONAME the headers were written for (libcurl4 / libcurl4-openssl-dev).
        DynamicLibrary lib("libcurl.so.4", "HTTP", "libcurl4");
        CurlApi loaded{};
        lib.resolve("curl_global_init", loaded.global_init);
        lib.resolve("curl_easy_init", loaded.easy_init);
        lib.resolve("curl_easy_cleanup", loaded.easy_cleanup);
        lib.resolve("curl_easy_reset", loaded.easy_reset);
        lib.resolve("curl_easy_setopt", loaded.easy_setopt);
        lib.resolve("curl_easy_getinfo", loaded.easy_getinfo);
        lib.resolve("curl_easy_perform", loaded.easy_perform);
        lib.resolve("curl_easy_strerror", loaded.easy_strerror);
        lib.resolve("curl_slist_append", loaded.slist_append);
        lib.resolve("curl_slist_free_all", loaded.slist_free_all);
        lib.resolve("curl_getdate", loaded.getdate);
        api = loaded;
    });
    return api;
}

} // namespace ocibake::detail
