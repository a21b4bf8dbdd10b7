// The documents of `ocibake inspect`, `push`, `pull`, `cache ...` and of an error
// (json.hpp).
#include "json/internal.hpp"

namespace ocibake {

namespace json_doc {

namespace rc = remote_cache;

namespace {

/// A registry transfer's figures (`push`, `pull`).
json transfer_stats(const registry::TransferStats& s) {
    return {{"blobs_sent", s.blobs_sent},
            {"bytes_sent", s.bytes_sent},
            {"blobs_skipped", s.blobs_skipped},
            {"bytes_skipped", s.bytes_skipped},
            {"blobs_mounted", s.blobs_mounted},
            {"bytes_mounted", s.bytes_mounted},
            {"blobs_fetched", s.blobs_fetched},
            {"bytes_fetched", s.bytes_fetched},
            {"blobs_streamed", s.blobs_streamed},
            {"bytes_streamed", s.bytes_streamed},
            {"seconds", s.seconds},
            {"protocol", s.protocol}};
}

/// The remote cache's shorter form of the same figures (ocibake.remote-cache/1).
json remote_stats(const registry::TransferStats& s) {
    return {{"blobs_sent", s.blobs_sent},         {"bytes_sent", s.bytes_sent},
            {"blobs_skipped", s.blobs_skipped},   {"blobs_mounted", s.blobs_mounted},
            {"blobs_streamed", s.blobs_streamed}, {"blobs_fetched", s.blobs_fetched},
            {"bytes_fetched", s.bytes_fetched},   {"seconds", s.seconds}};
}

json lookup(const rc::LookupReport& r) {
    return {{"reference", r.reference},
            {"found", r.found},
            {"digest", r.found ? json(r.digest.str()) : json(nullptr)},
            {"layers", r.layers},
            {"ignored", r.ignored},
            {"requests", {{"lookup", r.requests}, {"verify", r.verify_requests}}},
            {"records_read", r.records_read},
            {"bytes", r.bytes},
            {"seconds", r.seconds},
            {"warnings", r.warnings}};
}

json export_report(const rc::ExportReport& w) {
    return {{"reference", w.reference.str()},
            {"layers", w.layers},
            {"records", w.records},
            {"merged_layers", w.merged_layers},
            {"evicted_layers", w.evicted_layers},
            {"rounds", w.rounds},
            {"warnings", w.warnings},
            {"stats", remote_stats(w.stats)}};
}

} // namespace

std::string dump(const json& document) {
    return document.dump(2);
}

json descriptor(const oci::Descriptor& d) {
    return {{"digest", d.digest.str()}, {"size", d.size}, {"media_type", d.media_type}};
}

json stand_ins(const std::vector<StandIn>& stand_ins) {
    json out = json::array();
    for (const auto& s : stand_ins) {
        out.push_back({{"package", s.package},
                       {"layer", s.layer},
                       {"file", s.file.string()},
                       {"sha256", s.sha256.str()},
                       {"size", s.size},
                       {"replaces", s.replaces}});
    }
    return out;
}

json dropped_blobs(const std::vector<DroppedBlob>& dropped) {
    json out = json::array();
    for (const auto& d : dropped) {
        out.push_back(
            {{"digest", d.digest.str()}, {"path", d.path.string()}, {"reason", d.reason}});
    }
    return out;
}

json push(const registry::PushResult& r) {
    json refs = json::array();
    for (const auto& p : r.pushed) {
        refs.push_back(p.str());
    }
    return {{"schema", schema::push},
            {"digest", r.digest.str()},
            {"pushed", refs},
            {"stats", transfer_stats(r.stats)}};
}

json build_remote_cache(const BuildResult& result, const rc::ExportReport* wrote) {
    if (!result.remote_cache && wrote == nullptr) {
        return nullptr;
    }
    std::size_t served = 0;
    for (const auto& l : result.layers) {
        served += l.cache == CacheStatus::remote && !l.from_base ? 1 : 0;
    }
    json out = {{"schema", schema::remote_cache},
                {"layers", served},
                {"layers_fetched", result.remote_layers_fetched},
                {"bytes_fetched", result.remote_bytes_fetched}};
    out["image_key"] = result.image_key ? json(result.image_key.str()) : json(nullptr);
    out["from_image_key"] = result.image_from_key;
    out["read"] = result.remote_cache ? lookup(*result.remote_cache) : json(nullptr);
    out["wrote"] = wrote != nullptr ? export_report(*wrote) : json(nullptr);
    return out;
}

} // namespace json_doc

using json_doc::json;

std::string to_json(const ImageInfo& info) {
    const auto& c = info.config;
    json layers = json::array();
    for (std::size_t i = 0; i < info.manifest.layers.size(); ++i) {
        json l = json_doc::descriptor(info.manifest.layers[i]);
        l["diff_id"] = i < c.diff_ids.size() ? c.diff_ids[i].str() : "";
        if (info.uncompressed_sizes[i] != 0) {
            l["uncompressed_size"] = info.uncompressed_sizes[i];
        }
        layers.push_back(l);
    }
    json out = {{"schema", schema::inspect},
                {"source", info.source},
                {"manifest", json::parse(info.manifest_json)},
                {"config", json::parse(info.config_json)},
                {"layers", layers}};
    if (info.manifest_descriptor.digest) {
        out["digest"] = info.manifest_descriptor.digest.str();
    }
    return json_doc::dump(out);
}

std::string to_json(const registry::PushResult& result) {
    return json_doc::dump(json_doc::push(result));
}

std::string to_json(const registry::PullResult& r, const OutputTarget& output) {
    return json_doc::dump({{"schema", schema::pull},
                           {"digest", r.digest.str()},
                           {"output", output.str()},
                           {"stats", json_doc::transfer_stats(r.stats)}});
}

std::string to_json(const GcReport& r, const GcOptions& options) {
    return json_doc::dump({{"schema", schema::cache_gc},
                           {"records_removed", r.records_removed},
                           {"blobs_removed", r.blobs_removed},
                           {"bytes_removed", r.bytes_removed},
                           {"temp_files_removed", r.temp_files_removed},
                           {"unpacked_layers_removed", r.layers_removed},
                           {"leases_removed", r.leases_removed},
                           {"blobs_kept", r.blobs_kept},
                           {"bytes_kept", r.bytes_kept},
                           {"corrupt_blobs", json_doc::dropped_blobs(r.corrupt)},
                           {"dry_run", options.dry_run}});
}

std::string to_json(const remote_cache::Listing& l) {
    json layers = json::array();
    for (const auto& row : l.layers) {
        layers.push_back({{"key", row.key},
                          {"digest", row.layer.descriptor.digest.str()},
                          {"size", row.layer.descriptor.size},
                          {"media_type", row.layer.descriptor.media_type},
                          {"diff_id", row.layer.diff_id.str()},
                          {"apt_keys", row.apt_keys},
                          {"verified", row.verified}});
    }
    return json_doc::dump({{"schema", schema::remote_cache},
                           {"lookup", json_doc::lookup(l.report)},
                           {"recipe", l.index.recipe},
                           {"records", l.records},
                           {"entries", layers}});
}

std::string to_json(const remote_cache::PullReport& p) {
    return json_doc::dump({{"schema", schema::remote_cache},
                           {"lookup", json_doc::lookup(p.report)},
                           {"layers", p.layers},
                           {"records", p.records},
                           {"stats", json_doc::remote_stats(p.stats)}});
}

std::string to_json(const remote_cache::ExportReport& wrote, const BuildResult& built) {
    return json_doc::dump({{"schema", schema::remote_cache},
                           {"digest", built.image.manifest_descriptor.digest.str()},
                           {"layers_built", built.layers_built()},
                           {"wrote", json_doc::export_report(wrote)}});
}

std::string to_json(const std::vector<ContainerInfo>& containers) {
    json list = json::array();
    for (const ContainerInfo& i : containers) {
        list.push_back({{"id", i.id},
                        {"name", i.name},
                        {"image", i.image},
                        {"command", i.command},
                        {"created", i.created},
                        {"status", i.status},
                        {"exit_code", i.exit_code ? json(*i.exit_code) : json(nullptr)},
                        {"detached", i.detached},
                        {"ports", i.ports}});
    }
    return json_doc::dump({{"schema", schema::ps}, {"containers", list}});
}

std::string to_json(const Error& e) {
    return json_doc::dump({{"schema", schema::error},
                           {"error", {{"kind", to_string(e.kind())}, {"message", e.what()}}}});
}

} // namespace ocibake
