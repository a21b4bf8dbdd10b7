// OCI image layout (image-spec "image-layout.md"): oci-layout, index.json, blobs/sha256/.
#include "common/fs.hpp"
#include "common/thread_pool.hpp"
#include "digest/hash_fd.hpp"
#include "image/internal.hpp"
#include "layer/compress.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <future>
#include <nlohmann/json.hpp>
#include <set>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace ocibake {

namespace fs = std::filesystem;

namespace detail {

namespace {

std::string list_tags(const oci::Index& index) {
    std::string out;
    for (const auto& d : index.manifests) {
        auto it = d.annotations.find(std::string(oci::ref_name_annotation));
        if (it != d.annotations.end()) {
            out += (out.empty() ? "" : ", ") + it->second;
        }
    }
    return out.empty() ? "none" : out;
}

std::string list_platforms(const oci::Index& index) {
    std::string out;
    for (const auto& d : index.manifests) {
        out +=
            (out.empty() ? "" : ", ") + (d.platform ? d.platform->str() : std::string("unknown"));
    }
    return out;
}

// A rebuild into the same target: the previous output's copy of a blob is linked into the
// new output instead of being copied from the cache again (it costs a read, not a write),
// when it is a file of its own (one link: never a cache file, as ocibake 0.1 made them,
// nor a file another output shares) and its bytes, read through the new link, hash to the
// digest: linked first and hashed after, so what was verified is the inode the new output
// holds, and a blob edited or corrupted in the old output is never carried over. The old
// output goes when the new one is swapped in (until then, the two share these inodes,
// never one with the cache). Anything else (absent, shared, edited) is copied from the
// cache (Store::export_blob, hashed too).
bool reuse_previous_blob(const fs::path& previous, const fs::path& dest, const Digest& digest) {
    struct stat st {};
    if (::lstat(previous.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
        return false;
    }
    if (::link(previous.c_str(), dest.c_str()) != 0) {
        return false;
    }
    bool intact = false;
    int fd = ::open(dest.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
        UniqueFd guard(fd);
        struct stat now {};
        // Exactly the old name and the new one: nothing linked it meanwhile.
        if (::fstat(fd, &now) == 0 && S_ISREG(now.st_mode) && now.st_nlink == 2 &&
            now.st_ino == st.st_ino && now.st_dev == st.st_dev) {
            int error = 0;
            std::optional<Digest> actual = sha256_of_fd(fd, error);
            // On disk before the swap, as a copy would be (a no-op when it was).
            intact = actual && *actual == digest && ::fsync(fd) == 0;
        }
    }
    if (!intact) {
        ::unlink(dest.c_str());
    }
    return intact;
}

} // namespace

fs::path layout_blob(const fs::path& dir, const Digest& digest) {
    return dir / "blobs" / "sha256" / digest.hex();
}

std::string read_layout_blob(const fs::path& dir, const Digest& digest, std::uint64_t size) {
    fs::path path = layout_blob(dir, digest);
    std::string bytes = read_file(path, ErrorKind::integrity, 64 << 20);
    Digest actual = sha256_of(bytes);
    if (actual != digest) {
        throw Error(ErrorKind::integrity, "blob " + path.string() + " is corrupt: expected " +
                                              digest.str() + ", its bytes hash to " + actual.str());
    }
    if (size != 0 && bytes.size() != size) {
        throw Error(ErrorKind::integrity, "blob " + digest.str() + " in " + dir.string() + " is " +
                                              std::to_string(bytes.size()) +
                                              " bytes, its descriptor says " +
                                              std::to_string(size));
    }
    return bytes;
}

LayoutManifest read_layout_manifest(const fs::path& dir, std::string_view tag,
                                    const oci::Platform& platform) {
    if (!fs::exists(dir / "oci-layout")) {
        throw Error(ErrorKind::input,
                    dir.string() + " is not an OCI image layout (it has no oci-layout file)");
    }
    std::string index_path = (dir / "index.json").string();
    oci::Index index =
        oci::parse_index(read_file(dir / "index.json", ErrorKind::integrity), index_path);

    std::vector<oci::Descriptor> candidates;
    for (const auto& d : index.manifests) {
        auto it = d.annotations.find(std::string(oci::ref_name_annotation));
        if (tag.empty() || (it != d.annotations.end() && it->second == tag)) {
            candidates.push_back(d);
        }
    }
    if (candidates.empty()) {
        throw Error(ErrorKind::input, "OCI layout " + dir.string() + " has no image tagged '" +
                                          std::string(tag) + "' (tags: " + list_tags(index) + ")");
    }
    if (candidates.size() > 1) {
        // One tag for several platforms is fine when they are told apart by platform.
        std::vector<oci::Descriptor> by_platform;
        for (const auto& d : candidates) {
            if (!d.platform || platform.matches(*d.platform)) {
                by_platform.push_back(d);
            }
        }
        if (by_platform.size() != 1) {
            throw Error(ErrorKind::input, "OCI layout " + dir.string() + " holds " +
                                              std::to_string(candidates.size()) +
                                              " images; name one as oci:" + dir.string() +
                                              ":TAG (tags: " + list_tags(index) + ")");
        }
        candidates = by_platform;
    }
    oci::Descriptor desc = candidates.front();
    std::string doc = read_layout_blob(dir, desc.digest, desc.size);
    std::string origin = dir.string() + "@" + desc.digest.str();
    // A descriptor that says manifest is taken at its word here (parse_manifest refuses an
    // index); other documents are looked into (one JSON parse saved on every run).
    std::string mt = desc.media_type == oci::media_type::manifest ||
                             desc.media_type == oci::media_type::docker_manifest
                         ? desc.media_type
                         : oci::document_media_type(doc, origin);
    if (mt == oci::media_type::index || mt == oci::media_type::docker_manifest_list) {
        oci::Index nested = oci::parse_index(doc, origin);
        const oci::Descriptor* match = oci::best_platform_match(nested.manifests, platform);
        if (match == nullptr) {
            throw Error(ErrorKind::input, "image " + origin + " has no manifest for " +
                                              platform.str() +
                                              " (it has: " + list_platforms(nested) + ")");
        }
        desc = *match;
        doc = read_layout_blob(dir, desc.digest, desc.size);
        origin = dir.string() + "@" + desc.digest.str();
    }
    LayoutManifest out;
    out.dir = dir;
    out.descriptor = desc;
    out.manifest_json = doc;
    out.manifest = oci::parse_manifest(doc, origin);
    out.config_json = read_layout_blob(dir, out.manifest.config.digest, out.manifest.config.size);
    out.config = oci::parse_image_config(out.config_json,
                                         dir.string() + "@" + out.manifest.config.digest.str());
    if (!out.config.platform.os.empty() && !platform.matches(out.config.platform)) {
        throw Error(ErrorKind::input, "image " + origin + " is for " + out.config.platform.str() +
                                          ", not " + platform.str());
    }
    if (out.config.diff_ids.size() != out.manifest.layers.size()) {
        throw Error(ErrorKind::integrity,
                    "image " + origin + " has " + std::to_string(out.manifest.layers.size()) +
                        " layers but its config lists " +
                        std::to_string(out.config.diff_ids.size()) + " diff_ids");
    }
    return out;
}

void write_layout_from_store(const Store& store, const oci::Descriptor& root,
                             const std::vector<Digest>& blobs, const fs::path& dir_in,
                             std::string_view ref_name, unsigned threads) {
    fs::path dir = fs::absolute(dir_in).lexically_normal();
    if (dir.filename().empty()) {
        dir = dir.parent_path();
    }
    std::error_code ec;
    if (fs::exists(dir, ec)) {
        bool is_layout = fs::exists(dir / "oci-layout", ec);
        bool empty_dir = fs::is_directory(dir, ec) && fs::is_empty(dir, ec);
        if (!is_layout && !empty_dir) {
            throw Error(ErrorKind::io, "refusing to replace " + dir.string() +
                                           ": it exists and is not an OCI layout");
        }
    }
    fs::create_directories(dir.parent_path(), ec);
    if (ec) {
        throw Error(ErrorKind::io,
                    "cannot create " + dir.parent_path().string() + ": " + ec.message());
    }
    OutputTemp tmp(dir, OutputTemp::Kind::directory);
    fs::create_directories(tmp.path() / "blobs" / "sha256", ec);
    if (ec) {
        throw Error(ErrorKind::io, "cannot create " + tmp.path().string() + ": " + ec.message());
    }
    atomic_write_file(tmp.path() / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    std::vector<Digest> all;
    std::set<Digest> seen;
    for (const Digest& d : blobs) {
        if (seen.insert(d).second) {
            all.push_back(d);
        }
    }
    if (seen.insert(root.digest).second) {
        all.push_back(root.digest);
    }
    // Each blob is read whole (hashed), and copied: a few at once use the cores and disk.
    std::vector<std::future<void>> placed;
    {
        ThreadPool pool(static_cast<unsigned>(
            std::min<std::size_t>(resolve_threads(threads), std::max<std::size_t>(all.size(), 1))));
        for (const Digest& d : all) {
            placed.push_back(pool.submit([&, d] {
                fs::path dest = layout_blob(tmp.path(), d);
                if (!reuse_previous_blob(layout_blob(dir, d), dest, d)) {
                    store.export_blob(d, dest);
                }
            }));
        }
    }
    for (auto& p : placed) {
        p.get(); // the first failure, once all are done
    }
    oci::Index index;
    oci::Descriptor d = root;
    if (!ref_name.empty()) {
        d.annotations[std::string(oci::ref_name_annotation)] = std::string(ref_name);
    }
    index.manifests.push_back(d);
    atomic_write_file(tmp.path() / "index.json", oci::to_json(index));
    sync_dir(tmp.path() / "blobs" / "sha256");
    sync_dir(tmp.path());
    tmp.commit(dir);
}

void write_oci_layout(const Store& store, const BuiltImage& image, const fs::path& dir,
                      std::string_view ref_name, unsigned threads) {
    std::vector<Digest> blobs;
    for (const auto& l : image.layers) {
        blobs.push_back(l.descriptor.digest);
    }
    blobs.push_back(image.config_descriptor.digest);
    write_layout_from_store(store, image.manifest_descriptor, blobs, dir, ref_name, threads);
}

} // namespace detail

SourceImage load_oci_layout(Store& store, const fs::path& dir, std::string_view tag,
                            const oci::Platform& platform) {
    detail::LayoutManifest m = detail::read_layout_manifest(dir, tag, platform);
    SourceImage out;
    out.manifest_descriptor = m.descriptor;
    out.manifest = m.manifest;
    out.config = m.config;
    nlohmann::json blobs = nlohmann::json::array();
    for (std::size_t i = 0; i < m.manifest.layers.size(); ++i) {
        const oci::Descriptor& d = m.manifest.layers[i];
        detail::compression_of_media_type(d.media_type); // refuses foreign/unknown layers
        fs::path src = detail::layout_blob(dir, d.digest);
        if (!store.has_blob(d.digest)) {
            if (!fs::exists(src)) {
                throw Error(ErrorKind::integrity,
                            "OCI layout " + dir.string() + " lacks layer blob " + d.digest.str());
            }
            store.put_file(src, d.digest);
        }
        LayerResult layer;
        layer.descriptor = d;
        layer.descriptor.media_type = oci::oci_layer_media_type(d.media_type);
        layer.diff_id = m.config.diff_ids[i];
        out.layers.push_back(layer);
        blobs.push_back(d.digest.str());
    }
    // Keeps the imported blobs alive in the cache as long as builds use this base. Read
    // first: an unchanged record is only marked used (every `ocibake run` comes here).
    std::string kept = blobs.dump();
    if (store.get_record("base", m.descriptor.digest.hex()) != kept) {
        store.put_record("base", m.descriptor.digest.hex(), kept);
    }
    return out;
}

} // namespace ocibake
