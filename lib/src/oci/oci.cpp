#include "ocibake/oci.hpp"
#include "common/json_number.hpp"

#include "common/strings.hpp"
#include "common/text.hpp"
#include "common/time.hpp"
#include "ocibake/error.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace ocibake::oci {

namespace {

using json = nlohmann::json;

[[noreturn]] void bad(std::string_view origin, const std::string& why) {
    throw Error(ErrorKind::integrity, std::string(origin) + ": " + why);
}

/// Refuses a list longer than `limit` before its elements are read.
void check_count(std::size_t count, std::size_t limit, std::string_view origin,
                 const std::string& what, const std::string& why) {
    if (count > limit) {
        throw Error(ErrorKind::input,
                    std::string(origin) + ": the image has " + std::to_string(count) + " " + what +
                        "; ocibake accepts at most " + std::to_string(limit) + " (" + why + ")");
    }
}

const char* const kWhyLayers = "no runtime stacks more than about 128 layers";

json parse_object(std::string_view text, std::string_view origin) {
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        bad(origin, std::string("invalid JSON: ") + e.what());
    }
    if (!j.is_object()) {
        bad(origin, "expected a JSON object");
    }
    return j;
}

std::string get_string(const json& j, const char* key, std::string_view origin) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return {};
    }
    if (!it->is_string()) {
        bad(origin, std::string("'") + key + "' must be a string");
    }
    return it->get<std::string>();
}

std::optional<std::vector<std::string>> get_strings(const json& j, const char* key,
                                                    std::string_view origin) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return std::nullopt;
    }
    if (!it->is_array()) {
        bad(origin, std::string("'") + key + "' must be an array of strings");
    }
    std::vector<std::string> out;
    for (const auto& v : *it) {
        if (!v.is_string()) {
            bad(origin, std::string("'") + key + "' must be an array of strings");
        }
        out.push_back(v.get<std::string>());
    }
    return out;
}

std::vector<std::string> get_set_keys(const json& j, const char* key, std::string_view origin) {
    std::vector<std::string> out;
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return out;
    }
    if (!it->is_object()) {
        bad(origin, std::string("'") + key + "' must be an object");
    }
    for (const auto& [k, v] : it->items()) {
        out.push_back(k);
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::map<std::string, std::string> get_string_map(const json& j, const char* key,
                                                  std::string_view origin) {
    std::map<std::string, std::string> out;
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return out;
    }
    if (!it->is_object()) {
        bad(origin, std::string("'") + key + "' must be an object of strings");
    }
    for (const auto& [k, v] : it->items()) {
        if (!v.is_string()) {
            bad(origin, std::string("'") + key + "." + k + "' must be a string");
        }
        out[k] = v.get<std::string>();
    }
    return out;
}

// Fields not modelled are kept: the object minus `known` keys, as JSON text.
std::string extras(const json& j, std::initializer_list<const char*> known) {
    json rest = json::object();
    for (const auto& [k, v] : j.items()) {
        if (std::find_if(known.begin(), known.end(), [&k = k](const char* n) { return k == n; }) ==
            known.end()) {
            rest[k] = v;
        }
    }
    return rest.empty() ? std::string() : rest.dump();
}

json with_extras(const std::string& extra) {
    if (extra.empty()) {
        return json::object();
    }
    json j = json::parse(extra);
    return j.is_object() ? j : json::object();
}

json platform_json(const Platform& p) {
    json j = {{"architecture", p.architecture}, {"os", p.os}};
    if (!p.variant.empty()) {
        j["variant"] = p.variant;
    }
    return j;
}

Platform parse_platform_json(const json& j, std::string_view origin) {
    Platform p;
    p.os = get_string(j, "os", origin);
    p.architecture = get_string(j, "architecture", origin);
    p.variant = get_string(j, "variant", origin);
    return p;
}

json descriptor_json(const Descriptor& d) {
    json j = {{"mediaType", d.media_type}, {"digest", d.digest.str()}, {"size", d.size}};
    if (!d.annotations.empty()) {
        j["annotations"] = d.annotations;
    }
    if (d.platform) {
        j["platform"] = platform_json(*d.platform);
    }
    return j;
}

Descriptor parse_descriptor(const json& j, std::string_view origin) {
    if (!j.is_object()) {
        bad(origin, "a descriptor must be an object");
    }
    Descriptor d;
    d.media_type = get_string(j, "mediaType", origin);
    std::string digest = get_string(j, "digest", origin);
    d.digest = Digest::try_parse(digest);
    if (!d.digest) {
        bad(origin, "unsupported or invalid digest '" + digest + "' (ocibake handles sha256)");
    }
    auto size = j.find("size");
    if (size == j.end() || !size->is_number_unsigned()) {
        bad(origin, "descriptor " + digest + " has no valid size");
    }
    d.size = ocibake::detail::json_integer<std::uint64_t>(*size);
    d.annotations = get_string_map(j, "annotations", origin);
    if (auto p = j.find("platform"); p != j.end() && !p->is_null()) {
        if (!p->is_object()) {
            bad(origin, "descriptor " + digest + " has a platform that is not an object");
        }
        d.platform = parse_platform_json(*p, origin);
    }
    return d;
}

} // namespace

std::string oci_layer_media_type(std::string_view media_type) {
    if (media_type == media_type::docker_layer_gzip) {
        return std::string(media_type::layer_gzip);
    }
    if (media_type == "application/vnd.docker.image.rootfs.diff.tar.zstd") {
        return std::string(media_type::layer_zstd);
    }
    if (media_type == "application/vnd.docker.image.rootfs.diff.tar") {
        return std::string(media_type::layer_tar);
    }
    return std::string(media_type);
}

Platform Platform::parse(std::string_view text) {
    std::vector<std::string> parts = detail::split(text, '/');
    bool ok =
        (parts.size() == 2 || parts.size() == 3) &&
        std::none_of(parts.begin(), parts.end(), [](const std::string& s) { return s.empty(); });
    if (!ok) {
        throw Error(ErrorKind::usage,
                    "invalid platform '" + detail::printable(text) +
                        "' (expected os/arch or os/arch/variant, e.g. linux/amd64)");
    }
    Platform p;
    p.os = parts[0];
    p.architecture = parts[1];
    p.variant = parts.size() == 3 ? parts[2] : "";
    return p;
}

std::string Platform::str() const {
    return os + "/" + architecture + (variant.empty() ? "" : "/" + variant);
}

bool Platform::matches(const Platform& other) const {
    return match_rank(other) > 0;
}

int Platform::match_rank(const Platform& other) const {
    if (os != other.os || architecture != other.architecture) {
        return 0;
    }
    // Variants as containerd normalises them: arm64 is v8 and arm v7 unless they say.
    auto normal = [](const Platform& p) {
        if (p.variant.empty() && p.architecture == "arm64") {
            return std::string("v8");
        }
        if (p.variant.empty() && p.architecture == "arm") {
            return std::string("v7");
        }
        return p.variant;
    };
    std::string want = normal(*this);
    std::string have = normal(other);
    if (want == have) {
        return 100;
    }
    auto arm_level = [](const std::string& v) {
        return v.size() == 2 && v[0] == 'v' && v[1] >= '5' && v[1] <= '8' ? v[1] - '0' : 0;
    };
    if (architecture == "arm" && arm_level(have) != 0 && arm_level(have) < arm_level(want)) {
        return 50 + arm_level(have);
    }
    return variant.empty() && architecture != "arm" ? 10 : 0;
}

const Descriptor* best_platform_match(const std::vector<Descriptor>& manifests,
                                      const Platform& wanted) {
    const Descriptor* best = nullptr;
    int best_rank = 0;
    for (const auto& d : manifests) {
        int rank = d.platform ? wanted.match_rank(*d.platform) : 0;
        if (rank > best_rank) {
            best = &d;
            best_rank = rank;
        }
    }
    return best;
}

void ContainerConfig::set_env(std::string_view key, std::string_view value) {
    std::string entry = std::string(key) + "=" + std::string(value);
    for (auto& e : env) {
        if (e.size() > key.size() && e.compare(0, key.size(), key) == 0 && e[key.size()] == '=') {
            e = entry;
            return;
        }
    }
    env.push_back(entry);
}

std::optional<std::string> ContainerConfig::env_value(std::string_view key) const {
    for (const auto& e : env) {
        if (e.size() > key.size() && e.compare(0, key.size(), key) == 0 && e[key.size()] == '=') {
            return e.substr(key.size() + 1);
        }
    }
    return std::nullopt;
}

std::string to_json(const ImageConfig& c) {
    json j = with_extras(c.extra_json);
    j["architecture"] = c.platform.architecture;
    j["os"] = c.platform.os;
    if (!c.platform.variant.empty()) {
        j["variant"] = c.platform.variant;
    }
    if (!c.os_version.empty()) {
        j["os.version"] = c.os_version;
    }
    if (!c.created.empty()) {
        j["created"] = c.created;
    }
    if (!c.author.empty()) {
        j["author"] = c.author;
    }
    const ContainerConfig& cc = c.config;
    json cfg = with_extras(cc.extra_json);
    if (!cc.user.empty()) {
        cfg["User"] = cc.user;
    }
    if (!cc.exposed_ports.empty()) {
        json ports = json::object();
        for (const auto& p : cc.exposed_ports) {
            ports[p] = json::object();
        }
        cfg["ExposedPorts"] = ports;
    }
    if (!cc.env.empty()) {
        cfg["Env"] = cc.env;
    }
    if (cc.entrypoint) {
        cfg["Entrypoint"] = *cc.entrypoint;
    }
    if (cc.cmd) {
        cfg["Cmd"] = *cc.cmd;
    }
    if (!cc.volumes.empty()) {
        json vols = json::object();
        for (const auto& v : cc.volumes) {
            vols[v] = json::object();
        }
        cfg["Volumes"] = vols;
    }
    if (!cc.working_dir.empty()) {
        cfg["WorkingDir"] = cc.working_dir;
    }
    if (!cc.labels.empty()) {
        cfg["Labels"] = cc.labels;
    }
    if (!cc.stop_signal.empty()) {
        cfg["StopSignal"] = cc.stop_signal;
    }
    j["config"] = cfg;
    json diff_ids = json::array();
    for (const auto& d : c.diff_ids) {
        diff_ids.push_back(d.str());
    }
    j["rootfs"] = {{"type", "layers"}, {"diff_ids", diff_ids}};
    if (!c.history.empty()) {
        json history = json::array();
        for (const auto& h : c.history) {
            json e = json::object();
            if (!h.created.empty()) {
                e["created"] = h.created;
            }
            if (!h.created_by.empty()) {
                e["created_by"] = h.created_by;
            }
            if (!h.comment.empty()) {
                e["comment"] = h.comment;
            }
            if (!h.author.empty()) {
                e["author"] = h.author;
            }
            if (h.empty_layer) {
                e["empty_layer"] = true;
            }
            history.push_back(e);
        }
        j["history"] = history;
    }
    return j.dump();
}

static ImageConfig parse_image_config_unchecked(std::string_view text, std::string_view origin) {
    json j = parse_object(text, origin);
    ImageConfig c;
    c.platform.architecture = get_string(j, "architecture", origin);
    c.platform.os = get_string(j, "os", origin);
    c.platform.variant = get_string(j, "variant", origin);
    c.os_version = get_string(j, "os.version", origin);
    c.created = get_string(j, "created", origin);
    c.author = get_string(j, "author", origin);
    c.extra_json = extras(j, {"architecture", "os", "variant", "os.version", "created", "author",
                              "config", "rootfs", "history"});
    if (auto it = j.find("config"); it != j.end() && it->is_object()) {
        const json& cfg = *it;
        ContainerConfig& cc = c.config;
        cc.user = get_string(cfg, "User", origin);
        cc.env = get_strings(cfg, "Env", origin).value_or(std::vector<std::string>{});
        cc.entrypoint = get_strings(cfg, "Entrypoint", origin);
        cc.cmd = get_strings(cfg, "Cmd", origin);
        cc.exposed_ports = get_set_keys(cfg, "ExposedPorts", origin);
        cc.volumes = get_set_keys(cfg, "Volumes", origin);
        cc.working_dir = get_string(cfg, "WorkingDir", origin);
        cc.labels = get_string_map(cfg, "Labels", origin);
        cc.stop_signal = get_string(cfg, "StopSignal", origin);
        cc.extra_json = extras(cfg, {"User", "Env", "Entrypoint", "Cmd", "ExposedPorts", "Volumes",
                                     "WorkingDir", "Labels", "StopSignal"});
    }
    if (auto it = j.find("rootfs"); it != j.end() && it->is_object()) {
        json ids = it->value("diff_ids", json::array());
        check_count(ids.size(), max_layers, origin, "layers (rootfs.diff_ids)", kWhyLayers);
        for (const auto& d : ids) {
            if (!d.is_string() || !Digest::try_parse(d.get<std::string>())) {
                bad(origin, "rootfs.diff_ids holds an invalid digest");
            }
            c.diff_ids.push_back(Digest::parse(d.get<std::string>()));
        }
    } else {
        bad(origin, "the image config has no rootfs");
    }
    if (auto it = j.find("history"); it != j.end() && it->is_array()) {
        check_count(it->size(), max_history, origin, "history entries",
                    "ten for each layer an image may have");
        for (const auto& e : *it) {
            HistoryEntry h;
            h.created = get_string(e, "created", origin);
            h.created_by = get_string(e, "created_by", origin);
            h.comment = get_string(e, "comment", origin);
            h.author = get_string(e, "author", origin);
            h.empty_layer = e.value("empty_layer", false);
            c.history.push_back(h);
        }
    }
    return c;
}

std::string to_json(const Manifest& m) {
    json j = {
        {"schemaVersion", 2}, {"mediaType", m.media_type}, {"config", descriptor_json(m.config)}};
    json layers = json::array();
    for (const auto& l : m.layers) {
        layers.push_back(descriptor_json(l));
    }
    j["layers"] = layers;
    if (!m.annotations.empty()) {
        j["annotations"] = m.annotations;
    }
    return j.dump();
}

static Manifest parse_manifest_unchecked(std::string_view text, std::string_view origin) {
    json j = parse_object(text, origin);
    if (auto v = j.find("schemaVersion"); v == j.end() || !v->is_number_integer() || *v != 2) {
        bad(origin, "not a schema version 2 manifest");
    }
    Manifest m;
    m.media_type = get_string(j, "mediaType", origin);
    if (m.media_type.empty()) {
        m.media_type = std::string(media_type::manifest);
    }
    if (m.media_type != media_type::manifest && m.media_type != media_type::docker_manifest) {
        bad(origin, "not an image manifest (mediaType " + m.media_type + ")");
    }
    auto cfg = j.find("config");
    if (cfg == j.end()) {
        bad(origin, "the manifest has no config");
    }
    m.config = parse_descriptor(*cfg, origin);
    auto layers = j.find("layers");
    if (layers == j.end() || !layers->is_array()) {
        bad(origin, "the manifest has no layers array");
    }
    check_count(layers->size(), max_layers, origin, "layers", kWhyLayers);
    for (const auto& l : *layers) {
        m.layers.push_back(parse_descriptor(l, origin));
    }
    m.annotations = get_string_map(j, "annotations", origin);
    return m;
}

std::string to_json(const Index& index) {
    json j = {{"schemaVersion", 2}, {"mediaType", index.media_type}};
    json manifests = json::array();
    for (const auto& d : index.manifests) {
        manifests.push_back(descriptor_json(d));
    }
    j["manifests"] = manifests;
    if (!index.annotations.empty()) {
        j["annotations"] = index.annotations;
    }
    return j.dump();
}

static Index parse_index_unchecked(std::string_view text, std::string_view origin) {
    json j = parse_object(text, origin);
    if (auto v = j.find("schemaVersion"); v == j.end() || !v->is_number_integer() || *v != 2) {
        bad(origin, "not a schema version 2 index");
    }
    Index index;
    index.media_type = get_string(j, "mediaType", origin);
    if (index.media_type.empty()) {
        index.media_type = std::string(media_type::index);
    }
    if (index.media_type != media_type::index &&
        index.media_type != media_type::docker_manifest_list) {
        bad(origin, "not an image index (mediaType " + index.media_type + ")");
    }
    auto manifests = j.find("manifests");
    if (manifests == j.end() || !manifests->is_array()) {
        bad(origin, "the index has no manifests array");
    }
    for (const auto& d : *manifests) {
        index.manifests.push_back(parse_descriptor(d, origin));
    }
    index.annotations = get_string_map(j, "annotations", origin);
    return index;
}

static std::string document_media_type_unchecked(std::string_view text, std::string_view origin) {
    json j = parse_object(text, origin);
    std::string mt = get_string(j, "mediaType", origin);
    if (!mt.empty()) {
        return mt;
    }
    if (j.contains("manifests")) {
        return std::string(media_type::index);
    }
    if (j.contains("layers") || j.contains("config")) {
        return std::string(media_type::manifest);
    }
    bad(origin, "neither a manifest nor an index");
}

ImageConfig parse_image_config(std::string_view text, std::string_view origin) {
    try {
        return parse_image_config_unchecked(text, origin);
    } catch (const json::exception& e) {
        bad(origin, e.what());
    }
}

Manifest parse_manifest(std::string_view text, std::string_view origin) {
    try {
        return parse_manifest_unchecked(text, origin);
    } catch (const json::exception& e) {
        bad(origin, e.what());
    }
}

Index parse_index(std::string_view text, std::string_view origin) {
    try {
        return parse_index_unchecked(text, origin);
    } catch (const json::exception& e) {
        bad(origin, e.what());
    }
}

std::string document_media_type(std::string_view text, std::string_view origin) {
    try {
        return document_media_type_unchecked(text, origin);
    } catch (const json::exception& e) {
        bad(origin, e.what());
    }
}

std::string rfc3339(std::int64_t seconds) {
    return detail::utc_text(seconds, "%Y-%m-%dT%H:%M:%SZ");
}

} // namespace ocibake::oci
