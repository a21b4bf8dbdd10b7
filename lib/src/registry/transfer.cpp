// Pull and push whole images: blobs in parallel (bounded), manifests and indexes last.
#include "common/bounded_queue.hpp"
#include "common/fs.hpp"
#include "common/thread_pool.hpp"
#include "image/internal.hpp"
#include "ocibake/registry.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

namespace ocibake::registry {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

bool is_index(std::string_view media_type) {
    return media_type == oci::media_type::index ||
           media_type == oci::media_type::docker_manifest_list;
}

// Runs fn(i) for i in [0, n) on up to `workers` threads; rethrows the first failure (by
// index) after every task has ended.
void parallel_for(std::size_t n, unsigned workers, const std::function<void(std::size_t)>& fn) {
    if (n == 0) {
        return;
    }
    detail::ThreadPool pool(static_cast<unsigned>(std::min<std::size_t>(std::max(1u, workers), n)));
    std::vector<std::future<void>> done;
    done.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        done.push_back(pool.submit([&fn, i] { fn(i); }));
    }
    std::exception_ptr first;
    for (auto& f : done) {
        try {
            f.get();
        } catch (...) {
            if (!first) {
                first = std::current_exception();
            }
        }
    }
    if (first) {
        std::rethrow_exception(first);
    }
}

// A bounded byte stream between a download (writer) and an upload (reader) on two
// threads, over the one BoundedQueue weighed in bytes: backpressure both ways, and either
// side's failure ends the other.
class BytePipe {
public:
    explicit BytePipe(std::size_t limit) : queue_(limit) {}

    void write(const char* data, std::size_t size) {
        if (!queue_.push(std::string(data, size), size)) {
            throw Error(ErrorKind::io, "the upload this download feeds has stopped");
        }
    }
    /// Up to `size` bytes; 0 at the end. The writer's error is thrown here.
    std::size_t read(char* buffer, std::size_t size) {
        while (offset_ == current_.size()) {
            std::optional<std::string> next = queue_.pop();
            if (!next) {
                return 0;
            }
            current_ = std::move(*next);
            offset_ = 0;
        }
        std::size_t n = std::min(size, current_.size() - offset_);
        std::copy_n(current_.data() + offset_, n, buffer);
        offset_ += n;
        return n;
    }
    void close(std::exception_ptr error = nullptr) { queue_.close(error); }
    void abort() { queue_.cancel(); }

private:
    ocibake::detail::BoundedQueue<std::string> queue_;
    std::string current_; // the chunk being read, touched by the reader only
    std::size_t offset_ = 0;
};

// A blob of another registry as an upload's source, never written anywhere: a download
// thread fills a pipe that the upload reads, and the bytes are hashed as the upload takes
// them. The hash is saved at each chunk the target registry acknowledges, so after a
// dropped upload the download starts again there (with Range), not at 0.
class StreamSource final : public UploadSource {
public:
    StreamSource(Client& from, std::string repo, const oci::Descriptor& blob)
        : from_(from), repo_(std::move(repo)), blob_(blob) {}
    StreamSource(const StreamSource&) = delete;
    StreamSource& operator=(const StreamSource&) = delete;
    ~StreamSource() override { stop(); }

    bool seek(std::uint64_t offset) override {
        if (offset != 0 && !(saved_ && saved_offset_ == offset)) {
            return false;
        }
        stop();
        hash_ = offset == 0 ? Sha256() : saved_->clone();
        pos_ = offset;
        pipe_ = std::make_unique<BytePipe>(8u << 20);
        producer_ = std::thread([this, offset] {
            try {
                from_.stream_blob(
                    repo_, blob_,
                    [this](const char* data, std::size_t size) { pipe_->write(data, size); },
                    offset);
                pipe_->close();
            } catch (...) {
                pipe_->close(std::current_exception());
            }
        });
        return true;
    }
    std::size_t read(char* buffer, std::size_t size) override {
        std::size_t n = pipe_->read(buffer, size);
        hash_.update(buffer, n);
        pos_ += n;
        return n;
    }
    void acknowledged(std::uint64_t offset) override {
        if (offset == pos_) {
            saved_ = hash_.clone();
            saved_offset_ = offset;
        }
    }
    void finish() override {
        char extra = 0;
        if (pos_ != blob_.size || pipe_->read(&extra, 1) != 0) {
            throw Error(ErrorKind::integrity, origin() + ": the registry served more bytes than " +
                                                  std::to_string(blob_.size));
        }
        Digest got = hash_.finish();
        if (got != blob_.digest) {
            throw Error(ErrorKind::integrity, origin() +
                                                  ": the registry served other bytes (they hash "
                                                  "to " +
                                                  got.str() + ")");
        }
        stop();
    }

private:
    std::string origin() const {
        return "registry " + from_.registry() + ", repository " + repo_ + ", blob " +
               blob_.digest.str();
    }
    void stop() {
        if (producer_.joinable()) {
            pipe_->abort();
            producer_.join();
        }
    }

    Client& from_;
    std::string repo_;
    oci::Descriptor blob_;
    std::unique_ptr<BytePipe> pipe_;
    std::thread producer_;
    Sha256 hash_;
    std::uint64_t pos_ = 0;
    std::optional<Sha256> saved_;
    std::uint64_t saved_offset_ = 0;
};

// Copies a blob from one registry to another without writing it anywhere.
void stream_between(Client& from, const std::string& from_repo, Client& to,
                    const std::string& to_repo, const oci::Descriptor& blob) {
    StreamSource source(from, from_repo, blob);
    to.upload_blob(to_repo, blob.digest, blob.size, source);
}

// Where a registry is known to hold a blob: the repositories a push put it in or a pull
// found it in, most recent first (cache record "blob-at", a hint that may be stale). A
// later push to another repository of that registry mounts it from one of them instead
// of uploading it.
constexpr std::size_t kReposPerBlob = 4;

std::string blob_at_key(const std::string& registry, const Digest& digest) {
    return sha256_of(registry + "\n" + digest.str()).hex();
}

std::vector<std::string> repositories_holding(const Store* store, const std::string& registry,
                                              const Digest& digest) {
    std::vector<std::string> repos;
    if (!store) {
        return repos;
    }
    std::string text = store->get_record("blob-at", blob_at_key(registry, digest)).value_or("");
    std::size_t at = 0;
    while (at < text.size()) {
        std::size_t end = text.find('\n', at);
        if (end == std::string::npos) {
            end = text.size();
        }
        if (end > at) {
            repos.push_back(text.substr(at, end - at));
        }
        at = end + 1;
    }
    return repos;
}

void remember_repository(const Store* store, const std::string& registry, const Digest& digest,
                         const std::string& repo) {
    if (!store) {
        return;
    }
    std::vector<std::string> repos = repositories_holding(store, registry, digest);
    if (!repos.empty() && repos.front() == repo) {
        return;
    }
    repos.erase(std::remove(repos.begin(), repos.end(), repo), repos.end());
    repos.insert(repos.begin(), repo);
    if (repos.size() > kReposPerBlob) {
        repos.resize(kReposPerBlob);
    }
    std::string text;
    for (const auto& r : repos) {
        text += r + "\n";
    }
    store->put_record("blob-at", blob_at_key(registry, digest), text);
}

// Mounts a blob from a repository the cache says holds it. A refusal (the blob is gone,
// or the credentials may not read that repository) is no error: the caller uploads.
bool mount_from_known(Client& client, const Store* store, const std::string& registry,
                      const std::string& repo, const Digest& digest, const std::string& skip) {
    int tries = 0;
    for (const std::string& from : repositories_holding(store, registry, digest)) {
        if (from == repo || from == skip) {
            continue;
        }
        if (++tries > 2) {
            break;
        }
        try {
            if (client.mount_blob(repo, digest, from)) {
                return true;
            }
        } catch (const http::HttpError& e) {
            if (e.status() != 401 && e.status() != 403 && e.status() != 404) {
                throw;
            }
        }
    }
    return false;
}

// An image to push: documents (manifests, then the root last) and the blobs they need.
struct PushSource {
    std::vector<Document> children; // manifests of an index, pushed by digest first
    Document root;
    std::vector<oci::Descriptor> blobs;
    std::function<fs::path(const Digest&)> path_of;
    /// Blobs that may not be local (a lazy base): mounted or streamed from there.
    std::map<Digest, RemoteBlob> remote;
};

void add_manifest_blobs(const Document& doc, const std::string& origin,
                        std::vector<oci::Descriptor>& blobs, std::set<Digest>& seen) {
    oci::Manifest m = oci::parse_manifest(doc.bytes, origin);
    if (seen.insert(m.config.digest).second) {
        blobs.push_back(m.config);
    }
    for (const auto& l : m.layers) {
        if (seen.insert(l.digest).second) {
            blobs.push_back(l);
        }
    }
}

PushResult push_source(const Store* store, const PushSource& source,
                       const std::vector<Reference>& targets, const Options& options) {
    auto start = Clock::now();
    PushResult result;
    result.digest = source.root.digest;
    std::mutex stats_mutex;
    auto count = [&](std::uint64_t TransferStats::*blobs, std::uint64_t TransferStats::*bytes,
                     std::uint64_t n) {
        std::lock_guard lock(stats_mutex);
        ++(result.stats.*blobs);
        result.stats.*bytes += n;
    };
    for (const auto& t : targets) {
        if (t.digest && t.digest != source.root.digest) {
            throw Error(ErrorKind::usage, "cannot push " + source.root.digest.str() + " as " +
                                              t.str() + ": the reference names another digest");
        }
    }

    std::map<std::string, std::vector<Reference>> by_registry;
    for (const auto& t : targets) {
        by_registry[t.registry].push_back(t);
    }
    for (const auto& [registry, refs] : by_registry) {
        Client client(registry, options);
        std::vector<std::string> repos;
        for (const auto& r : refs) {
            if (std::find(repos.begin(), repos.end(), r.repository) == repos.end()) {
                repos.push_back(r.repository);
            }
        }
        // Largest first: the long uploads start at once and the small ones fill in around
        // them (the order blobs are listed in has them last, typically).
        std::vector<oci::Descriptor> order = source.blobs;
        std::stable_sort(
            order.begin(), order.end(),
            [](const oci::Descriptor& a, const oci::Descriptor& b) { return a.size > b.size; });
        std::string uploaded_to; // a repository of this registry that has every blob now
        for (const auto& repo : repos) {
            // (registry named explicitly: clang 14 cannot capture a structured binding)
            parallel_for(order.size(), options.parallel, [&, &registry = registry](std::size_t i) {
                const oci::Descriptor& blob = order[i];
                std::optional<std::uint64_t> there = client.blob_size(repo, blob.digest);
                if (there == blob.size) {
                    count(&TransferStats::blobs_skipped, &TransferStats::bytes_skipped, blob.size);
                    remember_repository(store, registry, blob.digest, repo);
                    return;
                }
                if (there && source.remote.count(blob.digest) != 0) {
                    // A blob the image names but never held (a base's, a remote cache's):
                    // the descriptor is what is wrong, and the manifest must not go out.
                    throw Error(ErrorKind::integrity,
                                "the registry has blob " + blob.digest.str() + " in " + repo +
                                    " with " + std::to_string(*there) + " bytes, the image says " +
                                    std::to_string(blob.size));
                }
                if ((!uploaded_to.empty() && client.mount_blob(repo, blob.digest, uploaded_to)) ||
                    mount_from_known(client, store, registry, repo, blob.digest, uploaded_to)) {
                    count(&TransferStats::blobs_mounted, &TransferStats::bytes_mounted, blob.size);
                    remember_repository(store, registry, blob.digest, repo);
                    return;
                }
                fs::path file = source.path_of(blob.digest);
                std::error_code ec;
                auto remote = source.remote.find(blob.digest);
                if (fs::file_size(file, ec) != blob.size && remote != source.remote.end()) {
                    // A base layer that was never fetched: mount it from the base's
                    // repository when that is this registry, else stream it across.
                    if (remote->second.registry == registry &&
                        client.mount_blob(repo, blob.digest, remote->second.repository)) {
                        count(&TransferStats::blobs_mounted, &TransferStats::bytes_mounted,
                              blob.size);
                        return;
                    }
                    Options quiet = options; // the upload's progress is the one shown
                    quiet.progress = nullptr;
                    Client from(remote->second.registry, quiet);
                    stream_between(from, remote->second.repository, client, repo, blob);
                    count(&TransferStats::blobs_streamed, &TransferStats::bytes_streamed,
                          blob.size);
                    remember_repository(store, registry, blob.digest, repo);
                    return;
                }
                if (fs::file_size(file, ec) != blob.size) {
                    throw Error(ErrorKind::integrity, "blob " + blob.digest.str() + " (" +
                                                          file.string() + ") is missing or not " +
                                                          std::to_string(blob.size) + " bytes");
                }
                std::uint64_t sent = client.upload_blob(repo, blob.digest, blob.size, file, store);
                count(&TransferStats::blobs_sent, &TransferStats::bytes_sent, sent);
                remember_repository(store, registry, blob.digest, repo);
            });
            uploaded_to = repo;
            result.stats.protocol = client.protocol();
            for (const auto& child : source.children) {
                client.put_manifest(repo, child.digest.str(), child);
            }
            bool tagged = false;
            for (const auto& r : refs) {
                if (r.repository != repo) {
                    continue;
                }
                client.put_manifest(repo, r.tag.empty() ? source.root.digest.str() : r.tag,
                                    source.root);
                tagged = true;
                Reference pushed = r;
                pushed.digest = source.root.digest;
                result.pushed.push_back(pushed);
            }
            (void)tagged;
        }
    }
    result.stats.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return result;
}

// Fetches every blob a manifest needs into the store.
void fetch_manifest_blobs(Store& store, Client& client, const std::string& repo,
                          const Document& doc, const std::string& origin, const Options& options,
                          TransferStats& stats, std::mutex& stats_mutex) {
    std::vector<oci::Descriptor> blobs;
    std::set<Digest> seen;
    add_manifest_blobs(doc, origin, blobs, seen);
    std::stable_sort(
        blobs.begin(), blobs.end(),
        [](const oci::Descriptor& a, const oci::Descriptor& b) { return a.size > b.size; });
    parallel_for(blobs.size(), options.parallel, [&](std::size_t i) {
        const oci::Descriptor& blob = blobs[i];
        if (store.blob_size(blob.digest) != blob.size) {
            client.fetch_blob(store, repo, blob);
            std::lock_guard lock(stats_mutex);
            ++stats.blobs_fetched;
            stats.bytes_fetched += blob.size;
        }
        // The registry holds every blob of a manifest it serves: a later push of them to
        // another repository there mounts them from this one.
        remember_repository(&store, client.registry(), blob.digest, repo);
    });
}

const oci::Descriptor& pick_platform(const oci::Index& index, const oci::Platform& platform,
                                     const std::string& origin) {
    if (const oci::Descriptor* best = oci::best_platform_match(index.manifests, platform)) {
        return *best;
    }
    std::string have;
    for (const auto& d : index.manifests) {
        have +=
            (have.empty() ? "" : ", ") + (d.platform ? d.platform->str() : std::string("unknown"));
    }
    throw Error(ErrorKind::input,
                origin + " has no image for " + platform.str() + " (it has: " + have + ")");
}

} // namespace

PushResult push_layout(const Store& store, const fs::path& layout, std::string_view tag,
                       const std::vector<Reference>& targets, const Options& options) {
    if (!fs::exists(layout / "oci-layout")) {
        throw Error(ErrorKind::input,
                    layout.string() + " is not an OCI image layout (it has no oci-layout file)");
    }
    oci::Index index =
        oci::parse_index(detail::read_file(layout / "index.json", ErrorKind::integrity),
                         (layout / "index.json").string());
    const oci::Descriptor* root = nullptr;
    for (const auto& d : index.manifests) {
        auto name = d.annotations.find(std::string(oci::ref_name_annotation));
        if (tag.empty() ? index.manifests.size() == 1
                        : (name != d.annotations.end() && name->second == tag)) {
            root = &d;
        }
    }
    if (root == nullptr) {
        throw Error(ErrorKind::input,
                    "OCI layout " + layout.string() +
                        (tag.empty() ? " holds several images: name one as oci:DIR:TAG"
                                     : " has no image tagged '" + std::string(tag) + "'"));
    }
    PushSource source;
    source.path_of = [&layout](const Digest& d) { return detail::layout_blob(layout, d); };
    source.root.bytes = detail::read_layout_blob(layout, root->digest, root->size);
    source.root.digest = root->digest;
    source.root.media_type = root->media_type;
    std::set<Digest> seen;
    std::string origin = layout.string() + "@" + root->digest.str();
    if (is_index(root->media_type)) {
        for (const auto& child : oci::parse_index(source.root.bytes, origin).manifests) {
            Document doc{child.media_type,
                         detail::read_layout_blob(layout, child.digest, child.size), child.digest};
            add_manifest_blobs(doc, layout.string() + "@" + child.digest.str(), source.blobs, seen);
            source.children.push_back(std::move(doc));
        }
    } else {
        add_manifest_blobs(source.root, origin, source.blobs, seen);
    }
    return push_source(&store, source, targets, options);
}

PushResult push_image(const Store& store, const BuiltImage& image,
                      const std::vector<Reference>& targets, const Options& options) {
    PushSource source;
    source.root = {image.manifest_descriptor.media_type, image.manifest_json,
                   image.manifest_descriptor.digest};
    source.blobs.push_back(image.config_descriptor);
    std::set<Digest> seen{image.config_descriptor.digest};
    for (const auto& l : image.layers) {
        if (seen.insert(l.descriptor.digest).second) {
            source.blobs.push_back(l.descriptor);
        }
    }
    source.path_of = [&store](const Digest& d) { return store.blob_path(d); };
    source.remote = image.remote_blobs;
    return push_source(&store, source, targets, options);
}

Resolved resolve(Client& client, const Reference& reference, const oci::Platform& platform) {
    Resolved out;
    const std::string& repo = reference.repository;
    std::string origin =
        "registry " + reference.registry + ", repository " + repo + ", " + reference.manifest_ref();
    Document doc = client.get_manifest(repo, reference.manifest_ref());
    if (is_index(doc.media_type)) {
        out.index_digest = doc.digest;
        const oci::Descriptor& d =
            pick_platform(oci::parse_index(doc.bytes, origin), platform, origin);
        doc = client.get_manifest(repo, d.digest.str());
    }
    out.manifest_digest = doc.digest;
    out.manifest = oci::parse_manifest(doc.bytes, origin);
    return out;
}

SourceImage load_registry_base(Store& store, const Reference& reference,
                               const Digest& manifest_digest, const oci::Platform& platform,
                               const Options& options) {
    Client client(reference.registry, options);
    const std::string& repo = reference.repository;
    std::string origin = "registry " + reference.registry + ", repository " + repo + ", manifest " +
                         manifest_digest.str();
    Document doc = client.get_manifest(repo, manifest_digest.str());
    store.put_bytes(doc.bytes);
    SourceImage out;
    out.manifest_descriptor = {doc.media_type, doc.digest, doc.bytes.size(), {}, std::nullopt};
    out.manifest = oci::parse_manifest(doc.bytes, origin);
    client.fetch_blob(store, repo, out.manifest.config); // layers stay remote until needed
    out.config =
        oci::parse_image_config(store.read_blob(out.manifest.config.digest), origin + " config");
    if (!out.config.platform.os.empty() && !platform.matches(out.config.platform)) {
        throw Error(ErrorKind::input,
                    origin + " is for " + out.config.platform.str() + ", not " + platform.str());
    }
    if (out.config.diff_ids.size() != out.manifest.layers.size()) {
        throw Error(ErrorKind::integrity,
                    origin + " has " + std::to_string(out.manifest.layers.size()) +
                        " layers but its config lists " +
                        std::to_string(out.config.diff_ids.size()) + " diff_ids");
    }
    nlohmann::json keep = nlohmann::json::array();
    for (std::size_t i = 0; i < out.manifest.layers.size(); ++i) {
        LayerResult layer;
        layer.descriptor = out.manifest.layers[i];
        layer.descriptor.media_type = oci::oci_layer_media_type(layer.descriptor.media_type);
        layer.diff_id = out.config.diff_ids[i];
        out.remote_blobs[layer.descriptor.digest] = RemoteBlob{reference.registry, repo};
        out.layers.push_back(layer);
        keep.push_back(layer.descriptor.digest.str());
    }
    keep.push_back(out.manifest.config.digest.str());
    store.put_record("base", doc.digest.hex(), keep.dump());
    return out;
}

std::size_t fetch_remote_blobs(Store& store, const std::vector<oci::Descriptor>& blobs,
                               const std::map<Digest, RemoteBlob>& remote, const Options& options) {
    std::vector<oci::Descriptor> missing;
    for (const auto& b : blobs) {
        if (remote.count(b.digest) != 0 && store.blob_size(b.digest) != b.size) {
            missing.push_back(b);
        }
    }
    std::map<std::string, std::unique_ptr<Client>> clients;
    for (const auto& b : missing) {
        const RemoteBlob& where = remote.at(b.digest);
        if (!clients.count(where.registry)) {
            clients[where.registry] = std::make_unique<Client>(where.registry, options);
        }
    }
    parallel_for(missing.size(), options.parallel, [&](std::size_t i) {
        const RemoteBlob& where = remote.at(missing[i].digest);
        clients.at(where.registry)->fetch_blob(store, where.repository, missing[i]);
    });
    return missing.size();
}

bool is_registry_reference(std::string_view text) {
    if (text.rfind("docker://", 0) == 0) {
        return true;
    }
    if (text.rfind("oci:", 0) == 0 || text.rfind("docker-archive:", 0) == 0) {
        return false;
    }
    std::error_code ec;
    if (fs::exists(fs::path(std::string(text)), ec)) {
        return false;
    }
    std::string_view head = text.substr(0, text.find('/'));
    bool registry_host = text.find('/') != std::string_view::npos &&
                         (head.find('.') != std::string_view::npos ||
                          head.find(':') != std::string_view::npos || head == "localhost");
    if (!registry_host) {
        return false;
    }
    try {
        Reference::parse(text);
        return true;
    } catch (const Error&) {
        return false;
    }
}

SourceImage load_image(Store& store, std::string_view text, const oci::Platform& platform,
                       const Options& options) {
    if (!is_registry_reference(text)) {
        return ocibake::load_image(store, text, platform);
    }
    if (text.rfind("docker://", 0) == 0) {
        text.remove_prefix(9);
    }
    Reference ref = Reference::parse(text);
    Client client(ref.registry, options);
    Resolved resolved = resolve(client, ref, platform);
    SourceImage image = load_registry_base(store, ref, resolved.manifest_digest, platform, options);
    std::vector<oci::Descriptor> layers;
    for (const auto& l : image.layers) {
        layers.push_back(l.descriptor);
    }
    fetch_remote_blobs(store, layers, image.remote_blobs, options);
    image.remote_blobs.clear();
    return image;
}

PullResult pull(Store& store, const Reference& reference, const OutputTarget& output,
                const std::optional<oci::Platform>& platform, const Options& options) {
    auto start = Clock::now();
    Client client(reference.registry, options);
    const std::string& repo = reference.repository;
    std::string origin =
        "registry " + reference.registry + ", repository " + repo + ", " + reference.manifest_ref();
    PullResult result;
    std::mutex stats_mutex;
    Document root = client.get_manifest(repo, reference.manifest_ref());
    store.put_bytes(root.bytes);
    std::vector<Digest> blobs{root.digest};
    Document manifest = root;
    if (is_index(root.media_type)) {
        oci::Index index = oci::parse_index(root.bytes, origin);
        if (platform) {
            const oci::Descriptor& d = pick_platform(index, *platform, origin);
            manifest = client.get_manifest(repo, d.digest.str());
            root = manifest;
            blobs = {root.digest};
            store.put_bytes(manifest.bytes);
        } else {
            for (const auto& d : index.manifests) {
                Document child = client.get_manifest(repo, d.digest.str());
                store.put_bytes(child.bytes);
                blobs.push_back(child.digest);
                std::string child_origin = origin + "@" + d.digest.str();
                fetch_manifest_blobs(store, client, repo, child, child_origin, options,
                                     result.stats, stats_mutex);
                oci::Manifest m = oci::parse_manifest(child.bytes, child_origin);
                blobs.push_back(m.config.digest);
                for (const auto& l : m.layers) {
                    blobs.push_back(l.digest);
                }
            }
        }
    }
    if (!is_index(root.media_type)) {
        fetch_manifest_blobs(store, client, repo, manifest, origin, options, result.stats,
                             stats_mutex);
        oci::Manifest m = oci::parse_manifest(manifest.bytes, origin);
        blobs.push_back(m.config.digest);
        for (const auto& l : m.layers) {
            blobs.push_back(l.digest);
        }
        result.manifest_digest = manifest.digest;
    }
    result.digest = root.digest;
    result.stats.protocol = client.protocol();
    nlohmann::json keep = nlohmann::json::array();
    for (const auto& d : blobs) {
        keep.push_back(d.str());
    }
    store.put_record("image", root.digest.hex(), keep.dump());

    oci::Descriptor root_descriptor{
        root.media_type, root.digest, root.bytes.size(), {}, std::nullopt};
    std::string tag = reference.tag.empty() ? "latest" : reference.tag;
    if (output.kind == OutputTarget::Kind::oci_layout) {
        if (!output.reference.empty()) {
            tag = output.reference;
        }
        detail::write_layout_from_store(store, root_descriptor, blobs, output.path, tag);
    } else {
        if (is_index(root.media_type)) {
            throw Error(ErrorKind::usage,
                        "a docker archive holds one image: pull with --platform for " + origin);
        }
        BuiltImage image;
        image.manifest_descriptor = root_descriptor;
        image.manifest_json = root.bytes;
        image.manifest = oci::parse_manifest(root.bytes, origin);
        image.config_descriptor = image.manifest.config;
        image.config_json = store.read_blob(image.manifest.config.digest);
        image.config = oci::parse_image_config(image.config_json, origin + " config");
        for (std::size_t i = 0; i < image.manifest.layers.size(); ++i) {
            LayerResult l;
            l.descriptor = image.manifest.layers[i];
            l.diff_id = image.config.diff_ids.at(i);
            image.layers.push_back(l);
        }
        std::string name =
            reference.registry == "docker.io" && reference.repository.rfind("library/", 0) == 0
                ? reference.repository.substr(8)
                : reference.registry + "/" + reference.repository;
        write_image(store, image, output, name, tag);
    }
    result.stats.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return result;
}

} // namespace ocibake::registry
