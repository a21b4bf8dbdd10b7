// The documents of `ocibake build`, `lock` and `outdated` (json.hpp).
#include "json/internal.hpp"

namespace ocibake {

namespace json_doc {

namespace {

json layers(const BuildResult& r) {
    json out = json::array();
    for (const auto& l : r.layers) {
        out.push_back({{"name", l.name},
                       {"layer", l.recipe_layer},
                       {"packages", l.packages},
                       {"digest", l.layer.descriptor.digest.str()},
                       {"diff_id", l.layer.diff_id.str()},
                       {"size", l.layer.descriptor.size},
                       {"uncompressed_size", l.layer.uncompressed_size},
                       {"media_type", l.layer.descriptor.media_type},
                       {"cache", l.cache_word()},
                       {"entries", l.entries},
                       {"seconds", l.seconds}});
    }
    return out;
}

json base_checks(const BuildResult& r) {
    json out = json::array();
    for (const auto& c : r.base_checks) {
        json j = {{"status", to_string(c.status)}};
        if (!c.detail.empty()) {
            j["detail"] = c.detail;
        }
        out.push_back(j);
    }
    return out;
}

json fetched_elsewhere(const BuildResult& r) {
    json out = json::array();
    for (const auto& f : r.fetched_elsewhere) {
        json tried = json::array();
        for (const auto& [url, answer] : f.tried) {
            tried.push_back({{"url", url}, {"answer", answer}});
        }
        out.push_back({{"name", f.name},
                       {"version", f.version},
                       {"arch", f.arch},
                       {"sha256", f.sha256.str()},
                       {"url", f.url},
                       {"answer", f.answer},
                       {"tried", tried},
                       {"fetched_from", f.fetched_from}});
    }
    return out;
}

json change(const LockChange& c) {
    bool apt = c.kind == LockChange::Kind::apt;
    json e = {{"kind", apt                                 ? "apt"
                       : c.kind == LockChange::Kind::wheel ? "wheel"
                                                           : "archive"},
              {"layer", c.layer},
              {"name", c.name},
              {"from", c.from.empty() ? json(nullptr) : json(c.from)},
              {"to", c.to.empty() ? json(nullptr) : json(c.to)},
              {"size", c.size},
              {"security", c.security},
              {"reason", c.reason}};
    if (apt) {
        e["arch"] = c.arch;
        e["source"] = c.source;
    } else {
        e["file"] = c.file.empty() ? json(nullptr) : json(c.file);
    }
    return e;
}

json locked_base(const Lock& lock) {
    json j = {{"ref", lock.base->ref},
              {"platform", lock.base->platform},
              {"manifest", lock.base->manifest.str()}};
    if (lock.base->index) {
        j["index"] = lock.base->index.str();
    }
    return j;
}

json locked_python(const Lock& lock) {
    json out = json::array();
    for (const auto& p : lock.python) {
        json wheels = json::array();
        for (const auto& w : p.wheels) {
            wheels.push_back({{"name", w.name},
                              {"version", w.version},
                              {"file", w.file},
                              {"url", w.url},
                              {"path", w.path},
                              {"size", w.size},
                              {"sha256", w.sha256.str()}});
        }
        out.push_back({{"layer", p.layer},
                       {"python", p.python},
                       {"glibc", p.glibc},
                       {"machine", p.machine},
                       {"wheels", wheels}});
    }
    return out;
}

json locked_apt(const Lock& lock) {
    json out = json::array();
    for (const auto& layer : lock.apt) {
        json packages = json::array();
        for (const auto& p : layer.installs) {
            packages.push_back({{"name", p.name},
                                {"version", p.version},
                                {"arch", p.arch},
                                {"source", p.source},
                                {"url", p.url},
                                {"size", p.size},
                                {"sha256", p.sha256.str()}});
        }
        out.push_back({{"layer", layer.layer},
                       {"requested", layer.packages},
                       {"recommends", layer.recommends},
                       {"packages", packages}});
    }
    return out;
}

} // namespace

json lock_diff(const LockDiff& d, const std::filesystem::path& lock) {
    json j = {{"schema", schema::lock_diff},
              {"lock", lock.string()},
              {"up_to_date", d.empty()},
              {"security", d.security()},
              {"base", nullptr}};
    if (d.base) {
        j["base"] = {{"ref", d.base->ref},
                     {"platform", d.base->platform},
                     {"from", d.base->from ? json(d.base->from.str()) : json(nullptr)},
                     {"to", d.base->to.str()},
                     {"new_layer_bytes", d.base->new_layer_bytes}};
    }
    json changes = json::array();
    for (const auto& c : d.changes) {
        changes.push_back(change(c));
    }
    j["changes"] = changes;
    json rebuild = json::array();
    for (const auto& l : d.layers) {
        rebuild.push_back({{"name", l.name},
                           {"layer", l.layer},
                           {"why", l.why},
                           {"bytes", l.bytes ? json(*l.bytes) : json(nullptr)},
                           {"digest", l.digest ? json(l.digest.str()) : json(nullptr)}});
    }
    j["rebuild"] = rebuild;
    j["pull_bytes"] = d.pull_bytes;
    return j;
}

} // namespace json_doc

using json_doc::json;

std::string to_json(const BuildResult& r, const BuildJsonContext& context) {
    const auto& image = r.image;
    json out = {
        {"schema", schema::build},
        {"recipe", context.recipe},
        {"digest", image.manifest_descriptor.digest.str()},
        {"manifest", json_doc::descriptor(image.manifest_descriptor)},
        {"config", json_doc::descriptor(image.config_descriptor)},
        {"output", r.wrote_output ? json(r.output.str()) : json(nullptr)},
        {"base_layers_fetched", r.base_layers_fetched},
        {"base_checks", json_doc::base_checks(r)},
        {"apt_fallbacks", json_doc::fetched_elsewhere(r)},
        {"layers", json_doc::layers(r)},
        {"layers_built", r.layers_built()},
        {"dropped_blobs", json_doc::dropped_blobs(r.dropped_blobs)},
        {"lock_written", r.lock_written},
        {"stand_ins", json_doc::stand_ins(r.stand_ins)},
        {"lock_update", r.lock_update
                            ? json_doc::lock_diff(r.lock_update->diff, r.lock_update->file)
                            : json(nullptr)},
        {"timings",
         {{"total", r.seconds}, {"layers", r.layer_seconds}, {"output", r.output_seconds}}}};
    if (r.part_threshold > 0) {
        out["parts"] = {{"threshold", r.part_threshold}, {"modulus", r.part_modulus}};
    }
    if (context.push != nullptr) {
        out["push"] = json_doc::push(*context.push);
    }
    if (json cache = json_doc::build_remote_cache(r, context.cache_written); !cache.is_null()) {
        out["remote_cache"] = cache;
    }
    return json_doc::dump(out);
}

std::string to_json(const LockDiff& diff, const std::filesystem::path& lock,
                    std::string_view recipe) {
    json j = json_doc::lock_diff(diff, lock);
    if (!recipe.empty()) {
        j["recipe"] = recipe;
    }
    return json_doc::dump(j);
}

std::string to_json(const LockResult& r) {
    json j = {{"schema", schema::lock},
              {"file", r.file.string()},
              {"changed", r.changed},
              {"written", r.written},
              {"diff", json_doc::lock_diff(r.diff, r.file)}};
    if (r.lock.base) {
        j["base"] = json_doc::locked_base(r.lock);
    }
    if (!r.lock.python.empty()) {
        j["python"] = json_doc::locked_python(r.lock);
    }
    j["apt"] = json_doc::locked_apt(r.lock);
    return json_doc::dump(j);
}

} // namespace ocibake
