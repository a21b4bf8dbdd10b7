#include "common/dynamic_library.hpp"

#include "ocibake/error.hpp"

#include <dlfcn.h>
#include <string>

namespace ocibake::detail {

DynamicLibrary::DynamicLibrary(const char* soname, const char* purpose, const char* debian_package)
    : soname_(soname) {
    handle_ = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (handle_ == nullptr) {
        const char* why = ::dlerror();
        throw Error(ErrorKind::runtime, std::string(purpose) + " needs " + soname +
                                            ", which could not be loaded: " +
                                            (why != nullptr ? why : "no reason given") +
                                            " (Debian: apt-get install " + debian_package + ")");
    }
}

void* DynamicLibrary::symbol(const char* name) const {
    ::dlerror();
    void* found = ::dlsym(handle_, name);
    if (found == nullptr) {
        const char* why = ::dlerror();
        throw Error(ErrorKind::runtime, std::string(soname_) + " has no " + name + " (" +
                                            (why != nullptr ? why : "a null symbol") +
                                            "): it is not the version ocibake was built for");
    }
    return found;
}

} // namespace ocibake::detail
