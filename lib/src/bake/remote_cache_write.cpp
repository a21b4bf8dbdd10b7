// The remote layer cache, writing (docs/cache.md, "Two writers, one cache"): this build's
// entries merged over the artifact that is there, pushed, and the tag read again.
#include "bake/remote_cache_detail.hpp"

#include "ocibake/error.hpp"

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

namespace ocibake::remote_cache {

using detail::fetch_artifact;
using detail::fetch_records;
using detail::Fetched;
using detail::listed_layers;
using json = nlohmann::json;

// ---- writing ------------------------------------------------------------------------------

namespace {

constexpr std::size_t kMaxLayers = 1000;             // layer blobs one artifact lists
constexpr std::size_t kMaxMergedRecords = 32u << 20; // the records' JSON kept from others

/// What one build writes: its index entries, records and layers.
struct Ours {
    Index index;
    Records records;
    std::vector<LayerResult> layers;
};

Ours our_entries(const Records& records, const std::vector<LayerResult>& layers,
                 const std::string& recipe_name) {
    std::map<Digest, const LayerResult*> by_digest;
    for (const auto& l : layers) {
        by_digest[l.descriptor.digest] = &l;
    }
    Ours out;
    out.index.recipe = recipe_name;
    std::set<Digest> diff_ids;
    std::set<Digest> seen;
    if (auto it = records.find("layer-blob"); it != records.end()) {
        for (const auto& [key, text] : it->second) {
            LayerResult l;
            try {
                l = parse_layer_record(text, "layer-blob/" + key);
            } catch (const Error&) {
                continue;
            }
            auto found = by_digest.find(l.descriptor.digest);
            if (found == by_digest.end() || found->second->descriptor.size != l.descriptor.size) {
                continue; // not a layer of this image
            }
            json j = json::parse(text);
            j["diff_id"] = found->second->diff_id.str();
            out.index.records["layer-blob"][key] = j.dump();
            diff_ids.insert(found->second->diff_id);
            if (seen.insert(l.descriptor.digest).second) {
                out.layers.push_back(*found->second);
            }
        }
    }
    if (auto it = records.find("apt-layer"); it != records.end()) {
        for (const auto& [key, text] : it->second) {
            if (Digest d = Digest::try_parse(text); d && diff_ids.count(d) != 0) {
                out.index.records["apt-layer"][key] = text;
            }
        }
    }
    if (auto it = records.find("layer-shape"); it != records.end()) {
        out.index.records["layer-shape"] = it->second; // "a layer like this was built": hash it
    }
    if (auto it = records.find("image-key"); it != records.end()) {
        out.index.records["image-key"] = it->second; // checked against the layers by readers
    }
    for (std::string_view ns : records_namespaces) {
        if (auto it = records.find(std::string(ns)); it != records.end()) {
            out.records[std::string(ns)] = it->second;
        }
    }
    return out;
}

/// The artifact there now (nullopt when there is none, or it is not one this ocibake
/// reads: it is then replaced).
std::optional<Fetched> read_existing(Store& store, registry::Client& client,
                                     const registry::Reference& ref) {
    try {
        LookupReport ignored;
        Fetched f = fetch_artifact(store, client, ref, ignored);
        f.records = fetch_records(store, client, ref, f.artifact, ignored);
        return f;
    } catch (const Error&) {
        return std::nullopt;
    }
}

/// Ours over what is there: the other entries stay while their layers are listed, the
/// most recently written first, up to kMaxLayers layers (docs/cache.md, "Two writers").
std::pair<Index, Records> merge(const Ours& ours, const std::optional<Fetched>& there,
                                std::vector<LayerResult>& listed, std::size_t& evicted) {
    Index index = ours.index;
    Records records = ours.records;
    index.writes = there ? there->index.writes + 1 : 1;
    listed = ours.layers;
    std::set<Digest> kept;
    for (const auto& l : ours.layers) {
        kept.insert(l.descriptor.digest);
        index.written[l.descriptor.digest.str()] = index.writes;
    }
    if (!there) {
        return {index, records};
    }
    std::vector<std::string> w;
    std::map<std::string, LayerResult> theirs = listed_layers(*there, "", w);
    // Their layers, newest write first (then by digest, for the same bytes every time).
    std::map<Digest, std::uint64_t> age;
    for (const auto& [key, l] : theirs) {
        auto it = there->index.written.find(l.descriptor.digest.str());
        age[l.descriptor.digest] = it == there->index.written.end() ? 0 : it->second;
    }
    std::vector<std::pair<std::uint64_t, Digest>> order;
    for (const auto& [d, n] : age) {
        if (kept.count(d) == 0) {
            order.emplace_back(n, d);
        }
    }
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    std::set<Digest> theirs_kept;
    for (const auto& [n, d] : order) {
        if (kept.size() + theirs_kept.size() >= kMaxLayers) {
            ++evicted;
            continue;
        }
        theirs_kept.insert(d);
        index.written[d.str()] = n;
    }
    std::set<Digest> diff_ids;
    for (const auto& [key, l] : theirs) {
        if (theirs_kept.count(l.descriptor.digest) != 0 || kept.count(l.descriptor.digest) != 0) {
            index.records["layer-blob"].emplace(key, there->index.records.at("layer-blob").at(key));
            diff_ids.insert(l.diff_id);
        }
    }
    for (const auto& entry : theirs) {
        const LayerResult& l = entry.second;
        if (theirs_kept.count(l.descriptor.digest) != 0) {
            auto found = std::find_if(listed.begin(), listed.end(), [&](const LayerResult& x) {
                return x.descriptor.digest == l.descriptor.digest;
            });
            if (found == listed.end()) {
                listed.push_back(l);
            }
        }
    }
    for (const auto& l : ours.layers) {
        diff_ids.insert(l.diff_id);
    }
    auto keep_if = [&](const char* ns, const std::function<bool(const std::string&)>& ok) {
        auto it = there->index.records.find(ns);
        if (it == there->index.records.end()) {
            return;
        }
        for (const auto& [key, text] : it->second) {
            if (ok(text)) {
                index.records[ns].emplace(key, text); // ours win
            }
        }
    };
    keep_if("apt-layer", [&](const std::string& text) {
        Digest d = Digest::try_parse(text);
        return d && diff_ids.count(d) != 0;
    });
    keep_if("layer-shape", [](const std::string&) { return true; });
    keep_if("image-key", [&](const std::string& text) {
        // Kept while every layer it names is listed (the reader checks this again).
        try {
            for (const json& l : json::parse(text).at("layers")) {
                if (kept.count(Digest::parse(l.at("digest").get<std::string>())) == 0 &&
                    theirs_kept.count(Digest::parse(l.at("digest").get<std::string>())) == 0) {
                    return false;
                }
            }
            return true;
        } catch (const std::exception&) {
            return false;
        }
    });
    // Their records too, unless that would make the blob too large (ours are kept).
    std::size_t size = 0;
    for (const auto& [ns, entries] : there->records) {
        for (const auto& [key, text] : entries) {
            size += key.size() + text.size() + 8;
        }
    }
    if (size <= kMaxMergedRecords) {
        for (const auto& [ns, entries] : there->records) {
            for (const auto& [key, text] : entries) {
                records[ns].emplace(key, text);
            }
        }
    }
    return {index, records};
}

/// Whether `index` has every entry of `ours` (a concurrent writer merged ours in).
bool holds(const Index& index, const Ours& ours) {
    for (const auto& [ns, entries] : ours.index.records) {
        auto it = index.records.find(ns);
        for (const auto& [key, text] : entries) {
            if (it == index.records.end() || it->second.count(key) == 0) {
                return false;
            }
        }
    }
    return true;
}

} // namespace

ExportReport export_records(Store& store, const Records& records,
                            const std::vector<LayerResult>& layers,
                            const std::map<Digest, RemoteBlob>& remote,
                            const std::string& recipe_name, const registry::Reference& ref,
                            const registry::Options& options) {
    Ours ours = our_entries(records, layers, recipe_name);
    ExportReport out;
    out.layers = ours.index.records["layer-blob"].size();
    for (const auto& [ns, entries] : ours.records) {
        out.records += entries.size();
    }
    registry::Client client(ref.registry, options);
    // Read, merge, write; then read the tag again: a writer that replaced it in between
    // must have merged ours, else ours are merged into theirs and written again.
    constexpr int kRounds = 3;
    for (int round = 1;; ++round) {
        std::optional<Fetched> there = read_existing(store, client, ref);
        std::vector<LayerResult> listed;
        std::size_t evicted = 0;
        auto [index, merged] = merge(ours, there, listed, evicted);
        out.merged_layers = listed.size() - ours.layers.size();
        out.evicted_layers = evicted;
        Artifact artifact;
        std::string index_text = to_json(index);
        std::string records_text = records_blob(merged);
        artifact.index = {std::string(index_media_type),
                          store.put_bytes(index_text),
                          index_text.size(),
                          {},
                          std::nullopt};
        artifact.records = {std::string(records_media_type),
                            store.put_bytes(records_text),
                            records_text.size(),
                            {},
                            std::nullopt};
        BuiltImage image;
        image.config_descriptor = artifact.index;
        LayerResult records_blob;
        records_blob.descriptor = artifact.records;
        image.layers.push_back(records_blob);
        std::map<Digest, RemoteBlob> where = remote;
        for (const auto& l : listed) {
            artifact.layers.push_back(l.descriptor);
            image.layers.push_back(l);
            if (!store.has_blob(l.descriptor.digest) && where.count(l.descriptor.digest) == 0) {
                where[l.descriptor.digest] = RemoteBlob{ref.registry, ref.repository};
            }
        }
        image.manifest_json = to_json(artifact);
        image.manifest_descriptor = {std::string(oci::media_type::manifest),
                                     store.put_bytes(image.manifest_json),
                                     image.manifest_json.size(),
                                     {},
                                     std::nullopt};
        image.remote_blobs = where;
        registry::PushResult pushed = registry::push_image(store, image, {ref}, options);
        out.reference = ref;
        out.reference.digest = pushed.digest;
        out.stats = pushed.stats;
        out.rounds = static_cast<std::size_t>(round);
        std::optional<Fetched> now = read_existing(store, client, ref);
        if (!now || now->manifest.digest == pushed.digest || holds(now->index, ours)) {
            break;
        }
        if (round == kRounds) {
            out.warnings.push_back("remote cache " + ref.str() + ": another writer replaced it " +
                                   std::to_string(kRounds) +
                                   " times while this build wrote it; this build's entries "
                                   "may be missing there");
            break;
        }
    }
    return out;
}

} // namespace ocibake::remote_cache
