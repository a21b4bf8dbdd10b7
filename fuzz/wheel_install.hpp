// Shared by the two wheel targets: a wheel file through what `build` does with it.
#pragma once

#include "ocibake/layer.hpp"
#include "ocibake/python.hpp"
#include "support.hpp"

#include <filesystem>
#include <string_view>

namespace ocibake::fuzz {

/// Writes `bytes` to a file, unpacks it into a fresh store (the zip, RECORD), installs it (WHEEL,
/// METADATA, entry_points.txt, scripts) into a venv or the system's site-packages, and writes the
/// layer. Errors (ocibake::Error) are what hostile wheels should get; anything else
/// escapes to the fuzzer.
inline void install_wheel(std::string_view bytes, std::string_view filename, bool venv) {
    std::filesystem::path file = write_scratch_file("fuzz.whl", bytes);
    std::filesystem::path root = fresh_dir("wheel-store");
    try {
        Store store(root);
        python::UnpackedWheel unpacked =
            python::unpack_wheel(store, file, sha256_of(bytes), filename);
        python::Target target;
        python::Scheme scheme = venv ? python::venv_scheme("/opt/venv", target)
                                     : python::system_scheme("/usr/bin/python3.11", target, true);
        LayerBuilder builder(1);
        python::Installer installer(scheme, builder);
        installer.install(unpacked);
        LayerOptions options;
        options.compression = Compression::none;
        options.threads = 1;
        (void)write_layer(store, builder.finish(), options);
    } catch (const Error& e) {
        expected(e);
    }
    wipe(root);
}

} // namespace ocibake::fuzz
