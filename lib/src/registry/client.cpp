// The distribution-spec client: /v2/ ping and auth challenge, bearer tokens per scope
// (refreshed once on 401), manifests and blob reads. Uploads: upload.cpp.
#include "registry/client_impl.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>
#include <unistd.h>

namespace ocibake::registry {

namespace fs = std::filesystem;
using json = nlohmann::json;

Client::Client(std::string registry, Options options)
    : impl_(std::make_unique<Impl>(std::move(registry), std::move(options))) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

const std::string& Client::registry() const noexcept {
    return impl_->registry;
}

std::string Client::protocol() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->http_version == 0 ? "" : impl_->http_version == 2 ? "HTTP/2" : "HTTP/1.1";
}

Document Client::get_manifest(const std::string& repo, const std::string& ref) {
    http::Request r;
    r.url = impl_->base() + "/v2/" + repo + "/manifests/" + ref;
    r.headers.emplace_back("Accept", std::string(oci::media_type::index) + ", " +
                                         std::string(oci::media_type::manifest) + ", " +
                                         std::string(oci::media_type::docker_manifest_list) + ", " +
                                         std::string(oci::media_type::docker_manifest));
    http::Response response = impl_->call(r, pull_scope(repo), repo, "manifest " + ref);
    Document doc;
    doc.bytes = std::move(response.body);
    doc.digest = sha256_of(doc.bytes);
    doc.media_type = response.header("content-type");
    std::string origin = impl_->where(repo, "manifest " + ref);
    if (doc.media_type.empty() || doc.media_type.find("json") == std::string::npos ||
        doc.media_type == "application/json") {
        doc.media_type = oci::document_media_type(doc.bytes, origin);
    }
    Digest asked = Digest::try_parse(ref);
    if (asked && asked != doc.digest) {
        throw Error(ErrorKind::integrity,
                    origin + ": the registry served content hashing to " + doc.digest.str());
    }
    if (!asked) {
        // By tag: the bytes must be what the registry says they are. Without the header
        // (the distribution spec makes it optional) the digest of the bytes is what counts.
        std::string said = response.header("docker-content-digest");
        std::transform(said.begin(), said.end(), said.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (!said.empty() && said.rfind("sha256:", 0) == 0 && said != doc.digest.str()) {
            throw Error(ErrorKind::integrity,
                        origin + ": the registry says the manifest is " + said +
                            " (Docker-Content-Digest), but the bytes it served hash to " +
                            doc.digest.str() + "; refusing them");
        }
    }
    return doc;
}

std::optional<oci::Descriptor> Client::head_manifest(const std::string& repo,
                                                     const std::string& ref) {
    http::Request r;
    r.method = "HEAD";
    r.url = impl_->base() + "/v2/" + repo + "/manifests/" + ref;
    r.accept = {200, 404};
    r.headers.emplace_back("Accept", std::string(oci::media_type::index) + ", " +
                                         std::string(oci::media_type::manifest) + ", " +
                                         std::string(oci::media_type::docker_manifest_list) + ", " +
                                         std::string(oci::media_type::docker_manifest));
    http::Response response = impl_->call(r, pull_scope(repo), repo, "manifest " + ref);
    if (response.status == 404) {
        return std::nullopt;
    }
    oci::Descriptor d;
    d.media_type = response.header("content-type");
    d.digest = Digest::try_parse(response.header("docker-content-digest"));
    std::string length = response.header("content-length");
    d.size = length.empty() ? 0 : std::stoull(length);
    return d;
}

void Client::put_manifest(const std::string& repo, const std::string& ref, const Document& doc) {
    http::Request r;
    r.method = "PUT";
    r.url = impl_->base() + "/v2/" + repo + "/manifests/" + ref;
    r.headers.emplace_back("Content-Type", doc.media_type);
    r.body = doc.bytes;
    r.body_size = doc.bytes.size();
    r.accept = {200, 201, 202};
    http::Response response = impl_->call(r, push_scope(repo), repo, "manifest " + ref);
    Digest echoed = Digest::try_parse(response.header("docker-content-digest"));
    if (echoed && echoed != doc.digest) {
        throw Error(ErrorKind::integrity, impl_->where(repo, "manifest " + ref) +
                                              ": the registry stored it as " + echoed.str() +
                                              ", not " + doc.digest.str());
    }
}

std::optional<std::uint64_t> Client::blob_size(const std::string& repo, const Digest& digest) {
    http::Request r;
    r.method = "HEAD";
    r.url = impl_->base() + "/v2/" + repo + "/blobs/" + digest.str();
    r.accept = {200, 404};
    http::Response response = impl_->call(r, pull_scope(repo), repo, "blob " + digest.str());
    if (response.status == 404) {
        return std::nullopt;
    }
    std::string length = response.header("content-length");
    return length.empty() ? 0 : std::stoull(length);
}

void Client::stream_blob(const std::string& repo, const oci::Descriptor& blob,
                         const http::BodySink& sink, std::uint64_t start) {
    http::Request r;
    r.url = impl_->base() + "/v2/" + repo + "/blobs/" + blob.digest.str();
    std::uint64_t done = start;
    http::BodySink counted = [&](const char* data, std::size_t size) {
        sink(data, size);
        done += size;
        if (impl_->options.progress) {
            impl_->options.progress(blob.digest, done, blob.size);
        }
    };
    impl_->call(r, pull_scope(repo), repo, "blob " + blob.digest.str(), &counted, /*download=*/true,
                blob.size, start);
}

void Client::fetch_blob(Store& store, const std::string& repo, const oci::Descriptor& blob) {
    if (store.blob_size(blob.digest) == blob.size) {
        return;
    }
    BlobWriter writer = store.new_blob();
    stream_blob(repo, blob,
                [&writer](const char* data, std::size_t size) { writer.write(data, size); });
    try {
        writer.commit(blob.digest);
    } catch (const Error& e) {
        throw Error(ErrorKind::integrity, impl_->where(repo, "blob " + blob.digest.str()) +
                                              ": the registry served other bytes (" + e.what() +
                                              "); nothing was stored");
    }
}

} // namespace ocibake::registry
