// ocibake: version of the library.
#pragma once

namespace ocibake {

/// "MAJOR.MINOR.PATCH" of the library the program runs with.
const char* version() noexcept;

} // namespace ocibake
