// The layer cache (format in docs/cache.md):
//
//   records/layer-tar/<key>    key = sha256 of the entries' metadata, their host file
//                              identities (path, device, inode, mtime, ctime) and the
//                              tar format; value {"diff_id", "size"}
//   records/layer-shape/<key>  same without host identities: "a layer like this was built"
//   records/layer-blob/<diffid hex>.<compression>.<level>.<compressor version>
//                              value {"digest", "size", "media_type", "uncompressed_size"}
//
// A rebuild with untouched inputs finds the tar record without reading a byte. Inputs
// that were touched, copied or checked out again miss it, but hit the shape record: then
// the tar stream is hashed (no compression) and, if its diffID has a blob, that is used.
#include "common/json_number.hpp"
#include "common/names.hpp"
#include "common/thread_pool.hpp"
#include "layer/compress.hpp"
#include "layer/pipeline.hpp"

#include <nlohmann/json.hpp>

namespace ocibake {

namespace {

using json = nlohmann::json;

// Key material is length-prefixed fields, gathered in a buffer and hashed in large
// pieces (one EVP call per field would dominate for trees of many small files).
class KeyHasher {
public:
    void field(std::string_view value) {
        field(static_cast<std::uint64_t>(value.size()));
        buffer_.append(value);
        flush_if_full();
    }
    void field(std::uint64_t value) {
        buffer_.append(reinterpret_cast<const char*>(&value), sizeof value);
        flush_if_full();
    }
    Digest finish() {
        hash_.update(buffer_);
        buffer_.clear();
        return hash_.finish();
    }

private:
    void flush_if_full() {
        if (buffer_.size() >= (1u << 16)) {
            hash_.update(buffer_);
            buffer_.clear();
        }
    }
    Sha256 hash_;
    std::string buffer_;
};

Digest entries_key(const std::vector<LayerEntry>& entries, const LayerOptions& options,
                   bool with_identity) {
    KeyHasher h;
    h.field(with_identity ? "ocibake layer-tar" : "ocibake layer-shape");
    h.field(static_cast<std::uint64_t>(layer_format_version));
    h.field(static_cast<std::uint64_t>(options.source_date_epoch));
    h.field(entries.size());
    for (const auto& e : entries) {
        h.field(e.path);
        h.field(static_cast<std::uint64_t>(e.type));
        h.field(e.mode);
        h.field(e.uid);
        h.field(e.gid);
        h.field(e.link_target);
        h.field(e.size);
        h.field(e.dev_major);
        h.field(e.dev_minor);
        h.field(e.xattrs.size());
        for (const auto& [k, v] : e.xattrs) {
            h.field(k);
            h.field(v);
        }
        if (e.type != EntryType::file) {
            continue;
        }
        if (e.source.empty()) {
            h.field("content");
            h.field(sha256_of(e.content).str());
        } else if (with_identity) {
            h.field(e.source);
            h.field(e.identity.device);
            h.field(e.identity.inode);
            h.field(static_cast<std::uint64_t>(e.identity.mtime_ns));
            h.field(static_cast<std::uint64_t>(e.identity.ctime_ns));
        } else {
            h.field("file");
        }
    }
    return h.finish();
}

std::string blob_key(const Digest& diff_id, const LayerOptions& options) {
    std::string version = detail::compressor_version(options.compression);
    for (char& c : version) {
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
        if (!ok) {
            c = '_';
        }
    }
    return diff_id.hex() + "." + to_string(options.compression) + "." +
           std::to_string(options.effective_level()) + "." + version;
}

std::optional<LayerResult> find_blob(Store& store, const Digest& diff_id,
                                     const LayerOptions& options) {
    auto text = store.get_record("layer-blob", blob_key(diff_id, options));
    if (!text) {
        return std::nullopt;
    }
    try {
        json j = json::parse(*text);
        LayerResult r;
        r.diff_id = diff_id;
        r.descriptor.digest = Digest::parse(j.at("digest").get<std::string>());
        r.descriptor.size = ocibake::detail::json_integer<std::uint64_t>(j.at("size"));
        r.descriptor.media_type = j.at("media_type").get<std::string>();
        r.uncompressed_size =
            ocibake::detail::json_integer<std::uint64_t>(j.at("uncompressed_size"));
        // The blob may have been collected, or lost; then the layer is built again. A
        // remote cache (the store's overlay) may hold it instead: it was checked there.
        if (store.blob_size(r.descriptor.digest) != r.descriptor.size &&
            store.overlay_blob_size(r.descriptor.digest) != r.descriptor.size) {
            return std::nullopt;
        }
        return r;
    } catch (const std::exception&) {
        return std::nullopt; // a damaged record is a miss; the rebuild rewrites it
    }
}

std::optional<Digest> find_tar(Store& store, const Digest& key) {
    auto text = store.get_record("layer-tar", key.hex());
    if (!text) {
        return std::nullopt;
    }
    try {
        return Digest::parse(json::parse(*text).at("diff_id").get<std::string>());
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

void remember(Store& store, const Digest& tar_key, const Digest& shape_key, const LayerResult& r,
              const LayerOptions& options) {
    detail::remember_layer_blob(store, r, options);
    json tar = {{"diff_id", r.diff_id.str()}, {"size", r.uncompressed_size}};
    store.put_record("layer-tar", tar_key.hex(), tar.dump());
    store.put_record("layer-shape", shape_key.hex(), "{}");
}

} // namespace

constexpr detail::Named<CacheStatus> cache_status_names[] = {
    {CacheStatus::hit, "cached"},
    {CacheStatus::verified, "cached (inputs re-hashed)"},
    {CacheStatus::built, "built"},
    {CacheStatus::remote, "remote cache"},
};

const char* to_string(CacheStatus status) noexcept {
    return detail::name_of(cache_status_names, status, "?");
}

namespace detail {

std::optional<LayerResult> find_layer_blob(Store& store, const Digest& diff_id,
                                           const LayerOptions& options) {
    return find_blob(store, diff_id, options);
}

void remember_layer_blob(Store& store, const LayerResult& r, const LayerOptions& options) {
    json blob = {{"digest", r.descriptor.digest.str()},
                 {"size", r.descriptor.size},
                 {"media_type", r.descriptor.media_type},
                 {"uncompressed_size", r.uncompressed_size}};
    store.put_record("layer-blob", blob_key(r.diff_id, options), blob.dump());
}

LayerResult build_layer_on(Store& store, const std::vector<LayerEntry>& entries,
                           const LayerOptions& options, ThreadPool* pool, CacheStatus* status,
                           Progress* progress, std::string_view name) {
    auto report = [&](CacheStatus s) {
        if (status) {
            *status = s;
        }
    };
    Digest tar_key = entries_key(entries, options, true);
    Digest shape_key = entries_key(entries, options, false);
    if (auto diff_id = find_tar(store, tar_key)) {
        if (auto hit = find_blob(store, *diff_id, options)) {
            // The shape record is what another machine finds this layer by (a remote
            // cache exports the records a build read): read it, or make it when a cache
            // of an older ocibake lacks it.
            if (!store.get_record("layer-shape", shape_key.hex())) {
                store.put_record("layer-shape", shape_key.hex(), "{}");
            }
            report(CacheStatus::hit);
            return *hit;
        }
    } else if (store.get_record("layer-shape", shape_key.hex())) {
        Digest diff_id = tar_diff_id(entries, options.source_date_epoch);
        if (auto hit = find_blob(store, diff_id, options)) {
            remember(store, tar_key, shape_key, *hit, options);
            report(CacheStatus::verified);
            return *hit;
        }
    }
    LayerResult built = write_layer_on(store, entries, options, pool, progress, name);
    remember(store, tar_key, shape_key, built, options);
    report(CacheStatus::built);
    return built;
}

} // namespace detail

LayerResult build_layer(Store& store, const std::vector<LayerEntry>& entries,
                        const LayerOptions& options, CacheStatus* status, Progress* progress,
                        std::string_view name) {
    return detail::build_layer_on(store, entries, options, nullptr, status, progress, name);
}

} // namespace ocibake
