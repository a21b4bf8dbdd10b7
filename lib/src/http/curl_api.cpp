#include "http/curl_api.hpp"

#include "common/dynamic_library.hpp"

namespace ocibake::detail {

const CurlApi& curl() {
    // The SONAME the headers were written for (libcurl4 / libcurl4-openssl-dev).
    return load_once<CurlApi>("libcurl.so.4", "HTTP", "libcurl4",
                              [](const DynamicLibrary& lib, CurlApi& api) {
                                  lib.resolve("curl_global_init", api.global_init);
                                  lib.resolve("curl_easy_init", api.easy_init);
                                  lib.resolve("curl_easy_cleanup", api.easy_cleanup);
                                  lib.resolve("curl_easy_reset", api.easy_reset);
                                  lib.resolve("curl_easy_setopt", api.easy_setopt);
                                  lib.resolve("curl_easy_getinfo", api.easy_getinfo);
                                  lib.resolve("curl_easy_perform", api.easy_perform);
                                  lib.resolve("curl_easy_strerror", api.easy_strerror);
                                  lib.resolve("curl_slist_append", api.slist_append);
                                  lib.resolve("curl_slist_free_all", api.slist_free_all);
                                  lib.resolve("curl_getdate", api.getdate);
                              });
}

} // namespace ocibake::detail
