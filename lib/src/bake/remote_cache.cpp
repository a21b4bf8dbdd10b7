// The remote layer cache (docs/cache.md, "The remote cache"): one OCI artifact per
// recipe in a registry repository, read into an overlay of the store's records.
#include "ocibake/remote_cache.hpp"
#include "common/json_number.hpp"

#include "bake/remote_cache_detail.hpp"

#include "ocibake/error.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <zlib.h>

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
        d.size = ocibake::detail::json_integer<std::uint64_t>(j.at("size"));
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

/// The records blob's bytes: gzip (level 9; the header has no time or name, so the same
/// records give the same bytes).
std::string gzip(std::string_view text) {
    z_stream z{};
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
        throw Error(ErrorKind::internal, "zlib: deflateInit2 failed");
    }
    std::string out(deflateBound(&z, static_cast<uLong>(text.size())), '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    z.avail_in = static_cast<uInt>(text.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    int rc = deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        throw Error(ErrorKind::internal, "zlib: deflate did not finish");
    }
    return out;
}

/// gunzip, refusing more than `limit` bytes of output or anything after the member.
std::string gunzip(std::string_view bytes, std::uint64_t limit, std::string_view origin) {
    z_stream z{};
    if (inflateInit2(&z, 15 + 16) != Z_OK) {
        throw Error(ErrorKind::internal, "zlib: inflateInit2 failed");
    }
    std::string out;
    char buf[1 << 16];
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
    z.avail_in = static_cast<uInt>(bytes.size());
    int rc = Z_OK;
    while (rc == Z_OK) {
        z.next_out = reinterpret_cast<Bytef*>(buf);
        z.avail_out = sizeof buf;
        rc = inflate(&z, Z_NO_FLUSH);
        out.append(buf, sizeof buf - z.avail_out);
        if (out.size() > limit) {
            inflateEnd(&z);
            bad(origin, "more than " + std::to_string(limit) + " bytes uncompressed");
        }
        if (rc == Z_BUF_ERROR && z.avail_in == 0) {
            break;
        }
    }
    bool trailing = z.avail_in != 0;
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        bad(origin,
            std::string("not a complete gzip stream") + (z.msg ? std::string(": ") + z.msg : ""));
    }
    if (trailing) {
        bad(origin, "bytes after the gzip stream");
    }
    return out;
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

} // namespace

namespace detail {

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
    report.bytes = f.artifact.index.size;
    f.index = parse_index(store.read_blob(f.artifact.index.digest, kMaxIndex),
                          where + " (index " + f.artifact.index.digest.str() + ")");
    return f;
}

/// The records blob of an artifact (fetched verified against its digest, gunzipped).
Records fetch_records(Store& store, registry::Client& client, const registry::Reference& ref,
                      const Artifact& artifact, LookupReport& report) {
    client.fetch_blob(store, ref.repository, artifact.records);
    report.bytes += artifact.records.size;
    std::string origin =
        "remote cache " + ref.str() + " (records " + artifact.records.digest.str() + ")";
    return parse_records_blob(store.read_blob(artifact.records.digest, kMaxRecords), origin);
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

} // namespace detail

namespace {

using detail::fetch_artifact;
using detail::fetch_records;
using detail::Fetched;
using detail::listed_layers;

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

/// The layers whose blobs check_blobs() found wrong, dropped from `layers` with a warning.
void drop_refused(std::map<std::string, LayerResult>& layers,
                  const std::map<Digest, std::string>& refused, const std::string& where,
                  std::vector<std::string>& warnings) {
    for (auto it = layers.begin(); it != layers.end();) {
        auto r = refused.find(it->second.descriptor.digest);
        if (r == refused.end()) {
            ++it;
            continue;
        }
        warnings.push_back(where + ", entry layer-blob/" + it->first + " ignored: " + r->second);
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

std::map<Digest, std::string> check_blobs(const registry::Reference& ref,
                                          const std::vector<oci::Descriptor>& blobs,
                                          const registry::Options& options) {
    std::map<Digest, std::uint64_t> want;
    for (const auto& b : blobs) {
        want.emplace(b.digest, b.size);
    }
    std::vector<std::pair<Digest, std::uint64_t>> list(want.begin(), want.end());
    std::vector<std::string> why(list.size());
    registry::Client client(ref.registry, options);
    parallel_for(list.size(), 8, [&](std::size_t i) {
        const auto& [digest, size] = list[i];
        try {
            std::optional<std::uint64_t> have = client.blob_size(ref.repository, digest);
            if (!have) {
                why[i] = "the registry does not have blob " + digest.str() + " (any more)";
            } else if (*have != size) {
                why[i] = "the registry has blob " + digest.str() + " with " +
                         std::to_string(*have) + " bytes, not " + std::to_string(size);
            }
        } catch (const Error& e) {
            why[i] = e.what();
        }
    });
    std::map<Digest, std::string> out;
    for (std::size_t i = 0; i < list.size(); ++i) {
        if (!why[i].empty()) {
            out.emplace(list[i].first, why[i]);
        }
    }
    return out;
}

std::string to_json(const Index& index) {
    json records = json::object();
    for (const auto& [ns, entries] : index.records) {
        records[ns] = entries;
    }
    json j = {{"ocibake_cache", index.format}, {"recipe", index.recipe}, {"records", records}};
    j["writes"] = index.writes;
    j["written"] = index.written;
    return j.dump();
}

Index parse_index(std::string_view text, std::string_view origin) {
    json j = parse_json(text, origin);
    if (!j.is_object() || !j.contains("ocibake_cache")) {
        bad(origin, "not an ocibake cache index");
    }
    const json& format = j.at("ocibake_cache");
    if (!format.is_number_integer() || format != format_version) {
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
    try {
        if (j.contains("writes")) {
            index.writes = ocibake::detail::json_integer<std::uint64_t>(j.at("writes"));
        }
        if (j.contains("written")) {
            const json& written = j.at("written");
            if (!written.is_object()) {
                bad(origin, "\"written\" is not an object");
            }
            for (auto it = written.begin(); it != written.end(); ++it) {
                const std::string& digest = it.key();
                if (Digest::try_parse(digest).str() != digest) {
                    bad(origin, "\"written\" names \"" + digest.substr(0, 80) + "\", not a digest");
                }
                index.written[digest] = ocibake::detail::json_integer<std::uint64_t>(it.value());
            }
        }
    } catch (const json::exception& e) {
        bad(origin, std::string("\"writes\" or \"written\": ") + e.what());
    }
    if (index.written.size() > kMaxEntries) {
        bad(origin, "more than " + std::to_string(kMaxEntries) + " \"written\" entries");
    }
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
    if (!format.is_number_integer() || format != format_version) {
        bad(origin, "cache format " + format.dump() + ", but this ocibake reads format " +
                        std::to_string(format_version));
    }
    return parse_namespaces(j.at("records"), records_namespaces, origin);
}

std::string records_blob(const Records& records) {
    return gzip(records_to_json(records));
}

Records parse_records_blob(std::string_view bytes, std::string_view origin) {
    return parse_records(gunzip(bytes, kMaxRecords, origin), origin);
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
        r.descriptor.size = ocibake::detail::json_integer<std::uint64_t>(j.at("size"));
        r.descriptor.media_type = j.at("media_type").get<std::string>();
        r.uncompressed_size =
            ocibake::detail::json_integer<std::uint64_t>(j.at("uncompressed_size"));
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

/// The client (kept for the records blob, read when a layer is planned) and its counter.
struct Remote::Lazy {
    Store* store = nullptr;
    std::unique_ptr<CountingObserver> counter;
    std::unique_ptr<registry::Client> client;
    Artifact artifact;
    std::once_flag records_once;
    mutable std::mutex mutex; ///< guards report_ after open()
};

Remote::Remote() = default;
Remote::~Remote() = default;

std::unique_ptr<Remote> Remote::open(Store& store, const registry::Reference& ref,
                                     const registry::Options& options,
                                     const std::map<Digest, std::string>& ignore) {
    auto start = Clock::now();
    std::unique_ptr<Remote> remote(new Remote());
    remote->ref_ = ref;
    LookupReport& report = remote->report_;
    report.reference = ref.str();
    std::string where = "remote cache " + ref.str();
    auto lazy = std::make_unique<Lazy>();
    lazy->store = &store;
    lazy->counter = std::make_unique<CountingObserver>(options.http.observer);
    registry::Options counted = options;
    counted.http.observer = lazy->counter.get();
    counted.progress = nullptr;
    try {
        lazy->client = std::make_unique<registry::Client>(ref.registry, counted);
        Fetched f = fetch_artifact(store, *lazy->client, ref, report);
        report.found = true;
        report.digest = f.manifest.digest;
        lazy->artifact = f.artifact;
        std::map<std::string, LayerResult> listed = listed_layers(f, where, report.warnings);
        drop_refused(listed, ignore, where, report.warnings);
        std::set<Digest> diff_ids;
        for (const auto& [key, l] : listed) {
            remote->records_["layer-blob"][key] = f.index.records["layer-blob"][key];
            remote->layers_[l.descriptor.digest] = l;
            diff_ids.insert(l.diff_id);
        }
        // An apt key is kept when its diffID has a layer listed.
        for (const auto& [key, text] : f.index.records["apt-layer"]) {
            if (Digest d = Digest::try_parse(text); d && diff_ids.count(d) != 0) {
                remote->records_["apt-layer"][key] = text;
            }
        }
        remote->records_["layer-shape"] = f.index.records["layer-shape"];
        // An image key's layers are checked where it is used (build.cpp): each must be a
        // layer listed here.
        remote->records_["image-key"] = f.index.records["image-key"];
        for (std::string_view ns : records_namespaces) {
            remote->records_[std::string(ns)]; // filled by read_records(), in place
        }
        report.layers = listed.size();
    } catch (const Error& e) {
        report.found = false;
        report.warnings.push_back(where + " not used: " + e.what());
        remote->records_.clear();
        remote->layers_.clear();
    }
    report.requests = lazy->counter->count();
    report.ignored = report.warnings.size();
    report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    remote->lazy_ = std::move(lazy);
    return remote;
}

void Remote::read_records() const {
    Lazy& lazy = *lazy_;
    std::call_once(lazy.records_once, [&] {
        if (!report_.found) {
            return;
        }
        auto start = Clock::now();
        auto* self = const_cast<Remote*>(this);
        LookupReport r;
        std::string warning;
        Records records;
        try {
            records = fetch_records(*lazy.store, *lazy.client, ref_, lazy.artifact, r);
        } catch (const Error& e) {
            warning = "remote cache " + ref_.str() + ": its records are not used: " + e.what();
        }
        std::lock_guard lock(lazy.mutex);
        for (auto& [ns, entries] : records) {
            self->records_[ns] = std::move(entries);
        }
        self->report_.records_read = true;
        self->report_.bytes += r.bytes;
        self->report_.requests = lazy.counter->count();
        self->report_.seconds += std::chrono::duration<double>(Clock::now() - start).count();
        if (!warning.empty()) {
            self->report_.warnings.push_back(warning);
            self->report_.ignored = self->report_.warnings.size();
        }
    });
}

LookupReport Remote::report() const {
    std::lock_guard lock(lazy_->mutex);
    return report_;
}

const Records& Remote::records() const {
    read_records();
    return records_;
}

std::optional<std::string> Remote::get_record(std::string_view ns, std::string_view key) const {
    if (std::find(std::begin(records_namespaces), std::end(records_namespaces), ns) !=
        std::end(records_namespaces)) {
        read_records();
    }
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
    auto it = layers_.find(digest);
    if (it == layers_.end()) {
        return std::nullopt;
    }
    return it->second.descriptor.size;
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
    f.records = fetch_records(store, client, ref, f.artifact, out.report);
    out.report.records_read = true;
    out.report.requests = counter.count();
    out.index = f.index;
    for (const auto& [ns, entries] : f.records) {
        out.records += entries.size();
    }
    std::string where = "remote cache " + ref.str();
    std::map<std::string, LayerResult> layers = listed_layers(f, where, out.report.warnings);
    std::map<std::string, LayerResult> checked = layers;
    std::vector<oci::Descriptor> blobs;
    for (const auto& [key, l] : layers) {
        blobs.push_back(l.descriptor);
    }
    drop_refused(checked, check_blobs(ref, blobs, options), where, out.report.warnings);
    out.report.verify_requests = blobs.size();
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
    // The blobs are about to be fetched: those gone are left out beforehand, with a warning.
    std::vector<oci::Descriptor> listed;
    for (const auto& [digest, layer] : remote->layers()) {
        listed.push_back(layer.descriptor);
    }
    if (auto refused = check_blobs(ref, listed, options); !refused.empty()) {
        remote = Remote::open(store, ref, options, refused);
    }
    out.report = remote->report();
    out.report.verify_requests = listed.size();
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
    std::uint64_t heads = out.report.verify_requests;
    out.report = remote->report();
    out.report.verify_requests = heads;
    out.layers = blobs.size();
    out.stats.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return out;
}

} // namespace ocibake::remote_cache
