// Internal: a shared library opened with dlopen when a feature first needs it, not at
// every start of the program (http/curl_api.cpp, common/libarchive.cpp). Not installed.
#pragma once

#include <mutex>

namespace ocibake::detail {

/// An open library; never closed (what it made lives until the process ends).
class DynamicLibrary {
public:
    /// dlopen(soname). Error(runtime) "PURPOSE needs SONAME, which could not be loaded:
    /// <the loader's reason> (Debian: apt-get install PACKAGE)".
    DynamicLibrary(const char* soname, const char* purpose, const char* debian_package);

    /// The function `name`, as the type of `slot`. Error(runtime) when the library lacks
    /// it (another version than the one ocibake was built for).
    template <typename F>
    void resolve(const char* name, F& slot) const {
        slot = reinterpret_cast<F>(symbol(name));
    }

private:
    void* symbol(const char* name) const;

    void* handle_ = nullptr;
    const char* soname_;
};

/// The table of functions `Api` of library `soname`, loaded by the first call (thread-safe;
/// one per `Api` type) with `resolve_all(const DynamicLibrary&, Api&)`. A failed load
/// throws, and the next call tries again.
template <typename Api, typename ResolveAll>
const Api& load_once(const char* soname, const char* purpose, const char* debian_package,
                     ResolveAll resolve_all) {
    static std::once_flag once;
    static Api api{};
    std::call_once(once, [&] {
        DynamicLibrary lib(soname, purpose, debian_package);
        Api loaded{};
        resolve_all(lib, loaded);
        api = loaded;
    });
    return api;
}

} // namespace ocibake::detail
