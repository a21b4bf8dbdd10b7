// A .deb as `build` takes it: the ar archive, control.tar (control, md5sums, conffiles,
// scripts) and data.tar read by DebReader; then, when its control file names a package,
// the whole apt part built from it (paths, links, conffiles, dpkg's info files) and the
// state layer over it (the dpkg database, ELF libraries for ld.so.cache), as a lock that
// pins this very file would.
//
// Inside control.tar and data.tar of a .deb built with `dpkg-deb -Znone` the tar header
// checksums are fixed here first (so mutations reach the entries). Packages whose data
// is larger than 16 MiB unpacked are not built into a layer (it lives in memory).
#include "apt/deb.hpp"
#include "apt/image_build.hpp"
#include "apt/internal.hpp"
#include "support.hpp"

#include <cstdint>
#include <vector>

namespace fs = std::filesystem;
namespace apt = ocibake::apt;

namespace {

constexpr std::uint64_t max_unpacked = 16 << 20;

/// Reads the package as the layer writer would; the lock entry that pins it when its
/// control file names it (nullopt otherwise, or when it is too large to build).
std::optional<ocibake::LockedPackage> read_deb(const ocibake::Store& store,
                                               const ocibake::Digest& digest, std::uint64_t size) {
    apt::detail::DebReader reader(store, digest, "package fuzz");
    auto control = reader.control();
    apt::detail::DebEntry entry;
    std::vector<char> buffer(1 << 16);
    std::uint64_t total = 0;
    while (reader.next(entry)) {
        while (std::size_t n = reader.read(buffer.data(), buffer.size())) {
            total += n;
            if (total > max_unpacked) {
                return std::nullopt;
            }
        }
    }
    ocibake::LockedPackage p;
    apt::detail::for_each_paragraph(control["control"].content, "fuzz control",
                                    [&](const apt::detail::RawParagraph& para) {
                                        if (p.name.empty()) {
                                            p.name = para.get("Package");
                                            p.version = para.get("Version");
                                            p.arch = para.get("Architecture");
                                        }
                                    });
    if (p.name.empty() || p.version.empty() || p.arch.empty()) {
        return std::nullopt;
    }
    p.url = "https://deb.example/debian/pool/" + p.name + ".deb";
    p.size = size;
    p.sha256 = digest;
    return p;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ocibake::fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string deb(reinterpret_cast<const char*>(data), size);
    ocibake::fuzz::fix_deb_checksums(deb);
    fs::path root = ocibake::fuzz::fresh_dir("deb");
    try {
        ocibake::Store store(root / "store");
        ocibake::Digest digest = store.put_bytes(deb);
        std::optional<ocibake::LockedPackage> package = read_deb(store, digest, deb.size());
        if (package) {
            static ocibake::http::Client client;
            ocibake::LayerOptions options;
            options.compression = ocibake::Compression::none;
            options.threads = 1;
            (void)apt::detail::build_one_part_image(store, &client, ocibake::apt::ImageFacts{},
                                                    {*package}, options);
        }
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
    }
    ocibake::fuzz::wipe(root);
    return 0;
}
