// An archive as [[layer.archive]] downloads it (tar: plain, gzip, xz, zstd, bzip2; or
// zip): the members read and checked from memory (read_archive_members), then, as a
// build does, the blob unpacked into the cache tree (unpack_archive) and placed in a
// layer with a strip, a rename and an include (add_archive, LayerBuilder::finish).
// Plain tar inputs get their header checksums repaired so mutations reach the members.
#include "support.hpp"

#include "layer/archive_input.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ocibake::fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace ocibake;
    std::string bytes(reinterpret_cast<const char*>(data), size);
    if (size >= 512 && bytes.compare(257, 5, "ustar") == 0) {
        fuzz::fix_tar_checksums(bytes);
    }
    std::uint64_t total = 0;
    try {
        // A few KB of bzip2 or zstd can expand to gigabytes: such a member is refused at
        // 16 MiB here, and an archive whose members add up to more is not unpacked.
        detail::read_archive_members(
            bytes, "fuzz",
            [&](const detail::ArchiveMember&, std::string_view d) { total += d.size(); },
            std::uint64_t{16} << 20);
    } catch (const Error& e) {
        fuzz::expected(e);
        return 0;
    }
    if (total > (std::uint64_t{64} << 20)) {
        return 0;
    }
    try {
        fuzz::TempBlob blob(bytes);
        detail::UnpackedArchive a = detail::unpack_archive(fuzz::store(), blob.digest(), "fuzz");
        LayerBuilder b(1);
        detail::ArchivePlacement p;
        p.strip = (size & 1) != 0 ? 1 : 0;
        p.dst = "/opt/x";
        p.renames = {{"lib", "lib64"}};
        if ((size & 2) != 0) {
            p.options.include = {"lib64/**", "bin/*"};
        }
        detail::add_archive(b, a, p);
        b.finish();
        fuzz::wipe(a.tree);
    } catch (const Error& e) {
        fuzz::expected(e);
    }
    return 0;
}
