// Unpacking layers into a root directory, per the OCI image-spec's layer changeset rules.
//
// The layer streams through the one verified layer reader (layer/reader.hpp); the rules
// (what a whiteout removes, which entries are refused) are layer/changeset.hpp's, the
// same code `build` checks base layers with. Here is only what they do to a directory.
#include "layer/reader.hpp"
#include "ocibake/run.hpp"
#include "ocibake/runtime.hpp"
#include "runtime/dir_target.hpp"
#include "runtime/rootfs.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <vector>

namespace ocibake {

namespace fs = std::filesystem;
using detail::DirTarget;
using detail::RootDir;
using detail::Symlinks;
using detail::UniqueFd;

UnpackStats unpack_layer(const Store& store, const LayerResult& layer, const fs::path& rootfs,
                         std::string_view label, const Interrupt* interrupt) {
    RootDir root(rootfs);
    std::string name(label);
    DirTarget target(root, name);
    detail::Changeset<DirTarget> changes(target, name);
    detail::ChangeCounts counts;
    detail::read_layer(store, layer, name, [&](archive* a, archive_entry* entry) {
        if (interrupt != nullptr) {
            interrupt->check();
        }
        target.reading(a);
        changes.apply(entry, counts);
    });
    target.finish();
    return UnpackStats{counts.entries, counts.bytes, counts.whiteouts};
}

UnpackStats unpack_image(const Store& store, const SourceImage& image, const fs::path& rootfs,
                         const Interrupt* interrupt) {
    std::error_code ec;
    fs::create_directories(rootfs, ec);
    if (ec) {
        throw Error(ErrorKind::io, "cannot create " + rootfs.string() + ": " + ec.message());
    }
    ::chmod(rootfs.c_str(), 0755);
    UnpackStats total;
    for (std::size_t i = 0; i < image.layers.size(); ++i) {
        const LayerResult& layer = image.layers[i];
        std::string label =
            "layer " + std::to_string(i + 1) + " (" + layer.descriptor.digest.str() + ")";
        UnpackStats s = unpack_layer(store, layer, rootfs, label, interrupt);
        total.entries += s.entries;
        total.bytes += s.bytes;
        total.whiteouts += s.whiteouts;
    }
    return total;
}

} // namespace ocibake
