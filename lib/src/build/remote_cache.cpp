// The remote layer cache (docs/cache.md, "The remote cache"): one OCI artifact per
// recipe in a registry repository, read into an overlay of the store's records.
#include "ocibake/remote_cache.hpp"

#include "ocibake/error.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

namespace ocibake::remote_cache {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kMaxIndex = 16ull << 20;   // an index this large is refused
constexpr std::uint64_t kMaxRecords = 64ull << 20; // and records
constexpr std::size_t kMaxEntries = 100000;

/// Counts the requests of one client (and passes every call on to the caller's observer).
class CountingObserver : public http::Observer {
public:
    explicit CountingObserver(http::Observer* next) : next_(next) {}
    void request_started(std::string_view url) override {
        ++count_;
        if (next_) {
            next_->request_started(url);
        }
    }
    void request_finished(std::string_view url) override {
        if (next_) {
            next_->request_finished(url);
        }
    }
    void retrying(const http::Retry& retry) override {
        if (next_) {
            next_->retrying(retry);
        }
    }
    std::uint64_t count() const noexcept { return count_; }

private:
    http::Observer* next_;
    std::atomic<std::uint64_t> count_{0};
};

[[noreturn]] void bad(std::string_view origin, const std::string& what) {
    throw Error(ErrorKind::integrity, std::string(origin) + ": " + what);
}

bool valid_key(std::string_view key) {
    // What a store record name may be (cas.cpp), so that a key from outside never names
    // another file.
    if (key.empty() || key.size() > 200 || key == "." || key == "..") {
        return false;
    }
    return std::all_of(key.begin(), key.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.';
    });
}

oci::Descriptor descriptor_of(const json& j, std::string_view origin, const char* what) {
    if (!j.is_object()) {
        bad(origin, std::string(what) + " is not a descriptor");
    }
    oci::Descriptor d;
    try {
        d.media_type = j.at("mediaType").get<std::string>();
        d.digest = Digest::parse(j.at("digest").get<std::string>());
        d.size = j.at("size").get<std::uint64_t>();
    } catch (const json::exception& e) {
        bad(origin, std::string(what) + ": " + e.what());
    } catch (const Error& e) {
        bad(origin, std::string(what) + ": " + e.what());
    }
    return d;
}

json descriptor_json(const oci::Descriptor& d) {
    return {{"mediaType", d.media_type}, {"digest", d.digest.str()}, {"size", d.size}};
}

/// namespace -> key -> text, from a JSON object of objects of strings, for `allowed`.
template <std::size_t N>
Records parse_namespaces(const json& j, const std::string_view (&allowed)[N],
                         std::string_view origin) {
    if (!j.is_object()) {
        bad(origin, "\"records\" is not an object");
    }
    Records out;
    std::size_t count = 0;
    for (const auto& [ns, entries] : j.items()) {
        if (std::find(std::begin(allowed), std::end(allowed), ns) == std::end(allowed)) {
            bad(origin, "unknown record namespace \"" + ns + "\"");
        }
        if (!entries.is_object()) {
            bad(origin, "records of \"" + ns + "\" are not an object");
        }
        for (const auto& [key, value] : entries.items()) {
            if (!valid_key(key)) {
                bad(origin, "record key \"" + key.substr(0, 80) + "\" is not a valid name");
            }
            if (!value.is_string()) {
                bad(origin, "record " + ns + "/" + key + " is not a string");
            }
            if (++count > kMaxEntries) {
                bad(origin, "more than " + std::to_string(kMaxEntries) + " records");
            }
            out[ns][key] = value.template get<std::string>();
        }
    }
    return out;
}

json parse_json(std::string_view text, std::string_view origin) {
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        bad(origin, std::string("not JSON: ") + e.what());
    }
}

std::string valid_tag(std::string_view name) {
    // [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
    std::string tag = "ocibake-cache-";
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        tag += ok ? c : '_';
    }
    return tag.substr(0, 128);
}

/// Reads the artifact and its index and records; throws on anything wrong with them.
struct Fetched {
    registry::Document manifest;
    Artifact artifact;
    Index index;
    Records records;
};

Fetched fetch_artifact(Store& store, registry::Client& client, const registry::Reference& ref,
                       LookupReport& report) {
    Fetched f;
    f.manifest = client.get_manifest(ref.repository, ref.manifest_ref());
    std::string where = "remote cache " + ref.str();
    f.artifact =
        parse_artifact(f.manifest.bytes, where + " (manifest " + f.manifest.digest.str() + ")");
    if (f.artifact.index.size > kMaxIndex || f.artifact.records.size > kMaxRecords) {
        bad(where, "its index or records blob is larger than ocibake reads");
    }
    client.fetch_blob(store, ref.repository, f.artifact.index);
    client.fetch_blob(store, ref.repository, f.artifact.records);
    report.bytes = f.artifact.index.size + f.artifact.records.size;
    f.index = parse_index(store.read_blob(f.artifact.index.digest, kMaxIndex),
                          where + " (index " + f.artifact.index.digest.str() + ")");
    f.records = parse_records(store.read_blob(f.artifact.records.digest, kMaxRecords),
                              where + " (records " + f.artifact.records.digest.str() + ")");
    return f;
}

/// The index's layer entries that name a blob the artifact lists, with the same size and
/// media type (warnings for the others).
std::map<std::string, LayerResult> listed_layers(const Fetched& f, const std::string& where,
                                                 std::vector<std::string>& warnings) {
    std::map<Digest, oci::Descriptor> listed;
    for (const auto& d : f.artifact.layers) {
        listed[d.digest] = d;
    }
    std::map<std::string, LayerResult> out;
    auto it = f.index.records.find("layer-blob");
    if (it == f.index.records.end()) {
        return out;
    }
    for (const auto& [key, text] : it->second) {
        std::string entry = where + ", entry layer-blob/" + key;
        try {
            LayerResult l = parse_layer_record(text, entry);
            auto d = listed.find(l.descriptor.digest);
            if (d == listed.end()) {
                throw Error(ErrorKind::integrity,
                            "layer " + l.descriptor.digest.str() + " is not in the artifact");
            }
            if (d->second.size != l.descriptor.size ||
                d->second.media_type != l.descriptor.media_type) {
                throw Error(ErrorKind::integrity, "layer " + l.descriptor.digest.str() +
                                                      " is listed with another size or type");
            }
            if (!l.diff_id || key.rfind(l.diff_id.hex() + ".", 0) != 0) {
                throw Error(ErrorKind::integrity, "its key does not name its diffID");
            }
            out.emplace(key, l);
        } catch (const Error& e) {
            std::string msg = e.what();
            warnings.push_back(entry + " ignored: " +
                               (msg.rfind(entry, 0) == 0 ? msg.substr(entry.size() + 2) : msg));
        }
    }
    return out;
}

void parallel_for(std::size_t n, unsigned workers, const std::function<void(std::size_t)>& fn) {
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> threads;
    for (unsigned w = 0; w < std::min<std::size_t>(workers, n); ++w) {
        threads.emplace_back([&] {
            for (std::size_t i; (i = next++) < n;) {
                fn(i);
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
}

/// HEADs each layer blob in the cache repository; those absent or of another size are
/// dropped from `layers` with a warning.
void verify_blobs(registry::Client& client, const registry::Reference& ref,
                  std::map<std::string, LayerResult>& layers, const std::string& where,
                  std::vector<std::string>& warnings) {
    std::vector<Digest> digests;
    for (const auto& [key, l] : layers) {
        digests.push_back(l.descriptor.digest);
    }
    std::sort(digests.begin(), digests.end());
    digests.erase(std::unique(digests.begin(), digests.end()), digests.end());
    std::vector<std::optional<std::uint64_t>> sizes(digests.size());
    std::vector<std::string> errors(digests.size());
    parallel_for(digests.size(), 8, [&](std::size_t i) {
        try {
            sizes[i] = client.blob_size(ref.repository, digests[i]);
        } catch (const Error& e) {
            errors[i] = e.what();
        }
    });
    std::map<Digest, std::string> refused;
    for (std::size_t i = 0; i < digests.size(); ++i) {
        if (!errors[i].empty()) {
            refused[digests[i]] = errors[i];
        } else if (!sizes[i]) {
            refused[digests[i]] = "the registry does not have blob " + digests[i].str();
        }
    }
    for (auto it = layers.begin(); it != layers.end();) {
        const LayerResult& l = it->second;
        std::string why;
        if (auto r = refused.find(l.descriptor.digest); r != refused.end()) {
            why = r->second;
        } else {
            auto i = std::lower_bound(digests.begin(), digests.end(), l.descriptor.digest) -
                     digests.begin();
            if (*sizes[static_cast<std::size_t>(i)] != l.descriptor.size) {
                why = "the registry has blob " + l.descriptor.digest.str() + " with " +
                      std::to_string(*sizes[static_cast<std::size_t>(i)]) + " bytes, not " +
                      std::to_string(l.descriptor.size);
            }
        }
        if (why.empty()) {
            ++it;
            continue;
        }
        warnings.push_back(where + ", entry layer-blob/" + it->first + " ignored: " + why);
        it = layers.erase(it);
    }
}

} // namespace

registry::Reference cache_reference(std::string_view text, std::string_view recipe_name) {
    registry::Reference ref = registry::Reference::parse(text);
    if (ref.digest) {
        throw Error(ErrorKind::usage,
                    "remote cache " + std::string(text) +
                        ": name a repository (and a tag), not a digest: the cache is written "
                        "under a tag");
    }
    if (ref.tag.empty()) {
        ref.tag = valid_tag(recipe_name);
    }
    return ref;
}

std::string to_json(const Index& index) {
    json records = json::object();
    for (const auto& [ns, entries] : index.records) {
        records[ns] = entries;
    }
    json j = {{"ocibake_cache", index.format}, {"recipe", index.recipe}, {"records", records}};
    return j.dump();
}

Index parse_index(std::string_view text, std::string_view origin) {
    json j = parse_json(text, origin);
    if (!j.is_object() || !j.contains("ocibake_cache")) {
        bad(origin, "not an ocibake cache index");
    }
    const json& format = j.at("ocibake_cache");
    if (!format.is_number_integer() || format.get<std::int64_t>() != format_version) {
        bad(origin, "cache format " + format.dump() + ", but this ocibake reads format " +
                        std::to_string(format_version));
    }
    Index index;
    if (j.contains("recipe")) {
        if (!j.at("recipe").is_string()) {
            bad(origin, "\"recipe\" is not a string");
        }
        index.recipe = j.at("recipe").get<std::string>();
    }
    if (!j.contains("records")) {
        bad(origin, "no \"records\"");
    }
    index.records = parse_namespaces(j.at("records"), index_namespaces, origin);
    return index;
}

std::string records_to_json(const Records& records) {
    json out = json::object();
    for (const auto& [ns, entries] : records) {
        out[ns] = entries;
    }
    return json{{"ocibake_cache", format_version}, {"records", out}}.dump();
}

Records parse_records(std::string_view text, std::string_view origin) {
    json j = parse_json(text, origin);
    if (!j.is_object() || !j.contains("ocibake_cache") || !j.contains("records")) {
        bad(origin, "not an ocibake cache records blob");
    }
    const json& format = j.at("ocibake_cache");
    if (!format.is_number_integer() || format.get<std::int64_t>() != format_version) {
        bad(origin, "cache format " + format.dump() + ", but this ocibake reads format " +
                        std::to_string(format_version));
    }
    return parse_namespaces(j.at("records"), records_namespaces, origin);
}

std::string to_json(const Artifact& a) {
    json layers = json::array({descriptor_json(a.records)});
    for (const auto& l : a.layers) {
        layers.push_back(descriptor_json(l));
    }
    json j = {{"schemaVersion", 2},
              {"mediaType", oci::media_type::manifest},
              {"artifactType", artifact_type},
              {"config", descriptor_json(a.index)},
              {"layers", layers}};
    return j.dump();
}

Artifact parse_artifact(std::string_view text, std::string_view origin) {
    json j = parse_json(text, origin);
    if (!j.is_object()) {
        bad(origin, "not an image manifest");
    }
    auto field = [&](const char* name) -> std::string {
        if (!j.contains(name) || !j.at(name).is_string()) {
            return "";
        }
        return j.at(name).get<std::string>();
    };
    if (!j.contains("schemaVersion") || j.at("schemaVersion") != 2 ||
        field("mediaType") != oci::media_type::manifest) {
        bad(origin, "not an OCI image manifest");
    }
    if (field("artifactType") != artifact_type) {
        bad(origin, "not an ocibake cache (artifactType \"" + field("artifactType").substr(0, 80) +
                        "\", expected \"" + std::string(artifact_type) + "\")");
    }
    Artifact a;
    a.index = descriptor_of(j.value("config", json()), origin, "config");
    if (a.index.media_type != index_media_type) {
        bad(origin, "its config is a " + a.index.media_type.substr(0, 80) + ", not an index (" +
                        std::string(index_media_type) + ")");
    }
    const json& layers = j.value("layers", json());
    if (!layers.is_array() || layers.empty()) {
        bad(origin, "no records blob");
    }
    if (layers.size() > kMaxEntries) {
        bad(origin, "too many layers");
    }
    a.records = descriptor_of(layers.at(0), origin, "layers[0]");
    if (a.records.media_type != records_media_type) {
        bad(origin, "layers[0] is a " + a.records.media_type.substr(0, 80) +
                        ", not the records blob (" + std::string(records_media_type) + ")");
    }
    for (std::size_t i = 1; i < layers.size(); ++i) {
        std::string what = "layers[" + std::to_string(i) + "]";
        a.layers.push_back(descriptor_of(layers.at(i), origin, what.c_str()));
    }
    return a;
}

LayerResult parse_layer_record(std::string_view text, std::string_view origin) {
    json j = parse_json(text, origin);
    try {
        LayerResult r;
        r.descriptor.digest = Digest::parse(j.at("digest").get<std::string>());
        r.descriptor.size = j.at("size").get<std::uint64_t>();
        r.descriptor.media_type = j.at("media_type").get<std::string>();
        r.uncompressed_size = j.at("uncompressed_size").get<std::uint64_t>();
        if (j.contains("diff_id")) {
            r.diff_id = Digest::parse(j.at("diff_id").get<std::string>());
        }
        if (r.descriptor.media_type.find("image.layer") == std::string::npos) {
            bad(origin,
                "media type " + r.descriptor.media_type.substr(0, 80) + " is not a layer's");
        }
        return r;
    } catch (const json::exception& e) {
        bad(origin, std::string("not a layer record: ") + e.what());
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::integrity) {
            throw;
        }
        bad(origin, std::string("not a layer record: ") + e.what());
    }
}

// ---- reading ------------------------------------------------------------------------------

/// The client and its request counter, kept while the HEADs run in the background.
struct Remote::Checks {
    std::unique_ptr<CountingObserver> counter;
    std::unique_ptr<registry::Client> client;
    std::future<void> done;
    std::once_flag joined;
};

Remote::Remote() = default;

Remote::~Remote() {
    if (checks_ && checks_->done.valid()) {
        checks_->done.wait();
    }
}

std::unique_ptr<Remote> Remote::open(Store& store, const registry::Reference& ref,
                                     const registry::Options& options) {
    auto start = Clock::now();
    std::unique_ptr<Remote> remote(new Remote());
    remote->ref_ = ref;
    LookupReport& report = remote->report_;
    report.reference = ref.str();
    std::string where = "remote cache " + ref.str();
    auto checks = std::make_unique<Checks>();
    checks->counter = std::make_unique<CountingObserver>(options.http.observer);
    registry::Options counted = options;
    counted.http.observer = checks->counter.get();
    counted.progress = nullptr;
    std::map<std::string, LayerResult> listed;
    try {
        checks->client = std::make_unique<registry::Client>(ref.registry, counted);
        Fetched f = fetch_artifact(store, *checks->client, ref, report);
        report.requests = checks->counter->count();
        report.found = true;
        report.digest = f.manifest.digest;
        listed = listed_layers(f, where, report.warnings);
        std::set<Digest> diff_ids;
        for (const auto& [key, l] : listed) {
            remote->records_["layer-blob"][key] = f.index.records["layer-blob"][key];
            diff_ids.insert(l.diff_id);
        }
        // An apt key is kept when its diffID has a layer listed.
        for (const auto& [key, text] : f.index.records["apt-layer"]) {
            if (Digest d = Digest::try_parse(text); d && diff_ids.count(d) != 0) {
                remote->records_["apt-layer"][key] = text;
            }
        }
        remote->records_["layer-shape"] = f.index.records["layer-shape"];
        for (auto& [ns, entries] : f.records) {
            remote->records_[ns] = std::move(entries);
        }
    } catch (const Error& e) {
        report.found = false;
        report.requests = checks->counter->count();
        report.warnings.push_back(where + " not used: " + e.what());
        remote->records_.clear();
        listed.clear();
    }
    report.ignored = report.warnings.size();
    report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (report.found) {
        // The HEADs run while the build plans its layers: a layer is used only once they
        // are done (blob_size() waits).
        Remote* self = remote.get();
        Checks* c = checks.get();
        c->done = std::async(
            std::launch::async, [self, c, listed = std::move(listed), where, start]() mutable {
                std::vector<std::string> warnings;
                verify_blobs(*c->client, self->ref_, listed, where, warnings);
                for (const auto& [key, l] : listed) {
                    self->layers_[l.descriptor.digest] = l;
                }
                LookupReport& r = self->report_;
                r.verify_requests = c->counter->count() - r.requests;
                r.warnings.insert(r.warnings.end(), warnings.begin(), warnings.end());
                r.layers = listed.size();
                r.ignored = r.warnings.size();
                r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
            });
    }
    remote->checks_ = std::move(checks);
    return remote;
}

const LookupReport& Remote::report() const {
    if (checks_ && checks_->done.valid()) {
        std::call_once(checks_->joined, [this] { checks_->done.wait(); });
    }
    return report_;
}

const std::map<Digest, LayerResult>& Remote::layers() const {
    (void)report();
    return layers_;
}

std::optional<std::string> Remote::get_record(std::string_view ns, std::string_view key) const {
    auto n = records_.find(std::string(ns));
    if (n == records_.end()) {
        return std::nullopt;
    }
    auto k = n->second.find(std::string(key));
    if (k == n->second.end()) {
        return std::nullopt;
    }
    return k->second;
}

std::optional<std::uint64_t> Remote::blob_size(const Digest& digest) const {
    const auto& checked = layers();
    auto it = checked.find(digest);
    if (it == checked.end()) {
        return std::nullopt;
    }
    return it->second.descriptor.size;
}

// ---- writing ------------------------------------------------------------------------------

ExportReport export_records(Store& store, const Records& records,
                            const std::vector<LayerResult>& layers,
                            const std::map<Digest, RemoteBlob>& remote,
                            const std::string& recipe_name, const registry::Reference& ref,
                            const registry::Options& options) {
    std::map<Digest, const LayerResult*> by_digest;
    for (const auto& l : layers) {
        by_digest[l.descriptor.digest] = &l;
    }
    Index index;
    index.recipe = recipe_name;
    Records rest;
    std::set<Digest> diff_ids;
    std::vector<LayerResult> listed;
    std::set<Digest> seen;
    ExportReport out;
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
            index.records["layer-blob"][key] = j.dump();
            diff_ids.insert(found->second->diff_id);
            if (seen.insert(l.descriptor.digest).second) {
                listed.push_back(*found->second);
            }
            ++out.layers;
        }
    }
    if (auto it = records.find("apt-layer"); it != records.end()) {
        for (const auto& [key, text] : it->second) {
            if (Digest d = Digest::try_parse(text); d && diff_ids.count(d) != 0) {
                index.records["apt-layer"][key] = text;
            }
        }
    }
    if (auto it = records.find("layer-shape"); it != records.end()) {
        index.records["layer-shape"] = it->second; // "a layer like this was built": hash it
    }
    for (std::string_view ns : records_namespaces) {
        if (auto it = records.find(std::string(ns)); it != records.end()) {
            rest[std::string(ns)] = it->second;
            out.records += it->second.size();
        }
    }

    Artifact artifact;
    std::string index_text = to_json(index);
    std::string records_text = records_to_json(rest);
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
    for (const auto& l : listed) {
        artifact.layers.push_back(l.descriptor);
        image.layers.push_back(l);
    }
    image.manifest_json = to_json(artifact);
    image.manifest_descriptor = {std::string(oci::media_type::manifest),
                                 store.put_bytes(image.manifest_json),
                                 image.manifest_json.size(),
                                 {},
                                 std::nullopt};
    image.remote_blobs = remote;
    registry::PushResult pushed = registry::push_image(store, image, {ref}, options);
    out.reference = ref;
    out.reference.digest = pushed.digest;
    out.stats = pushed.stats;
    return out;
}

// ---- inspection and seeding -------------------------------------------------------------

Listing list(Store& store, const registry::Reference& ref, const registry::Options& options) {
    Listing out;
    auto start = Clock::now();
    out.report.reference = ref.str();
    CountingObserver counter(options.http.observer);
    registry::Options counted = options;
    counted.http.observer = &counter;
    registry::Client client(ref.registry, counted);
    Fetched f = fetch_artifact(store, client, ref, out.report);
    out.report.found = true;
    out.report.digest = f.manifest.digest;
    out.report.requests = counter.count();
    out.index = f.index;
    for (const auto& [ns, entries] : f.records) {
        out.records += entries.size();
    }
    std::string where = "remote cache " + ref.str();
    std::map<std::string, LayerResult> layers = listed_layers(f, where, out.report.warnings);
    std::map<std::string, LayerResult> checked = layers;
    verify_blobs(client, ref, checked, where, out.report.warnings);
    out.report.verify_requests = counter.count() - out.report.requests;
    for (const auto& [key, l] : layers) {
        Listing::Layer row{key, l, {}, checked.count(key) != 0};
        for (const auto& [apt, text] : f.index.records["apt-layer"]) {
            if (text == l.diff_id.str()) {
                row.apt_keys.push_back(apt);
            }
        }
        out.layers.push_back(std::move(row));
    }
    out.report.layers = checked.size();
    out.report.ignored = out.report.warnings.size();
    out.report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return out;
}

PullReport pull(Store& store, const registry::Reference& ref, const registry::Options& options) {
    auto start = Clock::now();
    PullReport out;
    std::unique_ptr<Remote> remote = Remote::open(store, ref, options);
    out.report = remote->report();
    if (!out.report.found) {
        throw Error(ErrorKind::input, out.report.warnings.empty()
                                          ? "remote cache " + ref.str() + ": nothing there"
                                          : out.report.warnings.back());
    }
    std::vector<oci::Descriptor> blobs;
    std::map<Digest, RemoteBlob> where;
    for (const auto& [digest, layer] : remote->layers()) {
        blobs.push_back(layer.descriptor);
        where[digest] = RemoteBlob{ref.registry, ref.repository};
        if (store.blob_size(digest) != layer.descriptor.size) {
            ++out.stats.blobs_fetched;
            out.stats.bytes_fetched += layer.descriptor.size;
        }
    }
    // The blobs first (each verified against its digest), then the records that name them.
    registry::fetch_remote_blobs(store, blobs, where, options);
    for (const auto& [ns, entries] : remote->records()) {
        for (const auto& [key, text] : entries) {
            if (ns == "layer-blob" &&
                remote->layers().count(parse_layer_record(text, key).descriptor.digest) == 0) {
                continue; // its blob did not check out
            }
            store.put_record(ns, key, text);
            ++out.records;
        }
    }
    out.layers = blobs.size();
    out.stats.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return out;
}

} // namespace ocibake::remote_cache
