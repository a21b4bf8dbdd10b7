// Internal: libcurl, loaded the first time an HTTP client is made. Most commands never touch the
// network (`ocibake run` of a local image, `test`, `inspect`, `cache`), and libcurl's
// dependencies (TLS, Kerberos, LDAP, IDN, ...: 26 of the CLI's 46 shared libraries) cost
// every one of them ~10 ms of loading and relocation at start (docs/benchmarks.md).
#pragma once

#include <curl/curl.h>

#include <ctime>

namespace ocibake::detail {

/// The libcurl functions the client calls, resolved from libcurl.so.4.
struct CurlApi {
    CURLcode (*global_init)(long flags);
    CURL* (*easy_init)();
    void (*easy_cleanup)(CURL* handle);
    void (*easy_reset)(CURL* handle);
    CURLcode (*easy_setopt)(CURL* handle, CURLoption option, ...);
    CURLcode (*easy_getinfo)(CURL* handle, CURLINFO info, ...);
    CURLcode (*easy_perform)(CURL* handle);
    const char* (*easy_strerror)(CURLcode code);
    curl_slist* (*slist_append)(curl_slist* list, const char* text);
    void (*slist_free_all)(curl_slist* list);
    time_t (*getdate)(const char* text, const time_t* unused);
};

/// Loads libcurl once (thread-safe) and returns its functions. Throws Error(runtime)
/// naming the library and the loader's reason when it is missing or lacks a function.
const CurlApi& curl();

} // namespace ocibake::detail
