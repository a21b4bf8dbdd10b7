// toml++'s implementation, compiled into the static archive the CLI links
// (OCIBAKE_STATIC_CLI), so that the CLI does not load libtomlplusplus.so at every start.
// Debian builds toml++ as a shared library, with the configuration its CMake package gives
// (TOML_HEADER_ONLY=0, TOML_SHARED_LIB=1); this file is compiled with the same definitions,
// so it defines exactly the functions libocibake's objects call.
#define TOML_IMPLEMENTATION
#include <toml++/toml.h>
