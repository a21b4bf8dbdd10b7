// ocibake: the OCI distribution-spec client: references, credentials, pull and push.
//
//     ocibake::registry::Options o;
//     auto ref = ocibake::registry::Reference::parse("localhost:5000/ml/app:1.0");
//     ocibake::registry::push_layout(store, "out/app", "latest", {ref}, o);
//
// Errors name the registry, the repository, the digest and the server's error code in
// plain words ("MANIFEST_UNKNOWN: the manifest is not in the repository"). Secrets
// (passwords, tokens) never appear in messages.
#pragma once

#include "ocibake/cas.hpp"
#include "ocibake/digest.hpp"
#include "ocibake/http.hpp"
#include "ocibake/image.hpp"
#include "ocibake/oci.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake::registry {

/// [registry/]repository[:tag][@sha256:<hex>]. A name without a registry is on Docker
/// Hub ("ubuntu:24.04" is docker.io/library/ubuntu:24.04); a first component with a '.'
/// or ':' or "localhost" is a registry.
struct Reference {
    std::string registry;   ///< "docker.io", "localhost:5000", ...
    std::string repository; ///< "library/ubuntu"
    std::string tag;        ///< "" when only a digest is given
    Digest digest;

    /// Error(usage) naming the text when it is not a valid reference.
    static Reference parse(std::string_view text);
    /// "registry/repository[:tag][@digest]"
    std::string str() const;
    /// The host the API lives on (docker.io -> registry-1.docker.io).
    std::string api_host() const;
    /// What a manifest request names: the digest if set, else the tag ("latest" if none).
    std::string manifest_ref() const;
};

/// What to authenticate with: a username and password (Basic, or the token service's
/// password grant), or an identity token (an OAuth2 refresh token, as `docker login`
/// stores one: an auth file's `identitytoken`, or a credential helper's answer with the
/// username "<token>", which becomes this field with an empty username).
struct Credentials {
    std::string username;
    std::string password;
    std::string identity_token; ///< when set, used instead of username and password
};

struct Options {
    http::Options http;
    /// --creds user:password; used for every registry when set.
    std::optional<Credentials> creds;
    /// An auth file to read instead of the usual ones ($REGISTRY_AUTH_FILE,
    /// $XDG_RUNTIME_DIR/containers/auth.json, $DOCKER_CONFIG/config.json, ~/.docker/config.json).
    std::filesystem::path auth_file;
    /// Blobs transferred at once.
    unsigned parallel = 4;
    /// Blobs larger than this are uploaded in PATCH chunks of chunk_size, and a dropped
    /// connection resumes from the last acknowledged chunk.
    std::uint64_t chunk_size = 128ull << 20;
    /// A blob up to this size is uploaded in one PUT (POST, then PUT with the bytes);
    /// a larger one in chunks of chunk_size (POST, PATCH..., PUT).
    std::uint64_t monolithic_limit = 16ull << 20;
    /// Called from worker threads: (digest, bytes done, bytes total).
    std::function<void(const Digest&, std::uint64_t, std::uint64_t)> progress;
    /// Told, in one line, what the user should know while a transfer goes on (an upload
    /// that starts again, and why). Called from worker threads.
    std::function<void(const std::string&)> notice;
};

/// Credentials for `registry` from the places docker, podman and skopeo keep them:
/// options.creds, then the auth file's "auths", "credHelpers" and "credsStore" (running
/// docker-credential-<name> get). nullopt when none is found (anonymous).
std::optional<Credentials> find_credentials(std::string_view registry, const Options& options);

/// A manifest or index as served, with its digest (checked when asked by digest).
struct Document {
    std::string media_type;
    std::string bytes;
    Digest digest;
};

/// Where an upload's bytes come from. The upload reads them in order from where seek()
/// puts it: 0 first, and after a dropped connection the offset the registry says it
/// holds, so a source must be able to start again there, or say that it cannot.
class UploadSource {
public:
    virtual ~UploadSource() = default;
    /// The next read() gives the byte at `offset`. False when the source cannot start
    /// there (the upload then starts again from 0).
    virtual bool seek(std::uint64_t offset) = 0;
    /// Up to `size` bytes; 0 at the end.
    virtual std::size_t read(char* buffer, std::size_t size) = 0;
    /// The registry holds every byte before `offset` (a chunk was acknowledged).
    virtual void acknowledged(std::uint64_t offset) { (void)offset; }
    /// Every byte was read: the last check before the upload is closed.
    virtual void finish() {}
};

/// A client for one registry host. Thread-safe: blob transfers run in parallel.
class Client {
public:
    Client(std::string registry, Options options);
    ~Client();
    Client(Client&&) noexcept;
    Client& operator=(Client&&) noexcept;

    const std::string& registry() const noexcept;
    /// "HTTP/1.1" or "HTTP/2": what the registry negotiated ("" before the first request).
    std::string protocol() const;

    /// A manifest or index by tag or digest. Its digest is always the sha256 of the bytes
    /// received: asked by digest, they must hash to it; asked by tag, to the registry's
    /// Docker-Content-Digest when it sends one. Error(integrity) otherwise.
    Document get_manifest(const std::string& repository, const std::string& ref);
    /// HEAD of a manifest: its descriptor, or nullopt when it is not there. The digest is
    /// the registry's word (Docker-Content-Digest; empty without it), not checked against
    /// any bytes: use it to compare, never to pin (get_manifest() for that).
    std::optional<oci::Descriptor> head_manifest(const std::string& repository,
                                                 const std::string& ref);
    void put_manifest(const std::string& repository, const std::string& ref,
                      const Document& document);

    /// Size of a blob in the repository, or nullopt.
    std::optional<std::uint64_t> blob_size(const std::string& repository, const Digest& digest);
    /// Streams a blob into the store, verified against its digest; resumes with Range.
    void fetch_blob(Store& store, const std::string& repository, const oci::Descriptor& blob);
    /// Streams a blob's bytes from `start` on to `sink` (resuming with Range); the
    /// caller verifies.
    void stream_blob(const std::string& repository, const oci::Descriptor& blob,
                     const http::BodySink& sink, std::uint64_t start = 0);
    /// Mounts a blob from another repository of this registry; false when the registry
    /// started an upload instead (the blob is not there, or mounting is not allowed).
    bool mount_blob(const std::string& repository, const Digest& digest, const std::string& from);
    /// Uploads `size` bytes of `file` as blob `digest` (monolithic or chunked). With a
    /// store, a chunked upload's place is remembered there, so that a push run again
    /// after a failure resumes it. Returns the bytes sent (less than size when resumed).
    std::uint64_t upload_blob(const std::string& repository, const Digest& digest,
                              std::uint64_t size, const std::filesystem::path& file,
                              const Store* store = nullptr);
    /// The same from any source (another registry's blob, streamed): a chunked upload
    /// that loses its connection goes on from the last chunk the registry acknowledged
    /// when the source can start again there.
    std::uint64_t upload_blob(const std::string& repository, const Digest& digest,
                              std::uint64_t size, UploadSource& source,
                              const Store* store = nullptr);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

struct TransferStats {
    std::uint64_t blobs_sent = 0;
    std::uint64_t bytes_sent = 0;
    std::uint64_t blobs_skipped = 0; ///< already there
    std::uint64_t bytes_skipped = 0;
    std::uint64_t blobs_mounted = 0;
    std::uint64_t bytes_mounted = 0;
    std::uint64_t blobs_fetched = 0;
    std::uint64_t bytes_fetched = 0;
    std::uint64_t blobs_streamed = 0; ///< registry to registry, never on disk
    std::uint64_t bytes_streamed = 0;
    std::string protocol; ///< "HTTP/1.1" or "HTTP/2", as the (last) registry negotiated
    double seconds = 0;
};

struct PushResult {
    Digest digest; ///< of the manifest pushed
    std::vector<Reference> pushed;
    TransferStats stats;
};

/// Pushes the image `tag` of an OCI layout to every target: blobs first (HEAD, mount,
/// upload; in parallel), then the manifest under each target's tag.
PushResult push_layout(const Store& store, const std::filesystem::path& layout,
                       std::string_view tag, const std::vector<Reference>& targets,
                       const Options& options);

/// Pushes a freshly built image from the store.
PushResult push_image(const Store& store, const BuiltImage& image,
                      const std::vector<Reference>& targets, const Options& options);

struct PullResult {
    Digest digest;          ///< what index.json points to (manifest or index)
    Digest manifest_digest; ///< the platform's manifest
    TransferStats stats;
};

/// Pulls `reference` into the store and writes it to `output` (an OCI layout or a docker
/// archive). With a platform, only that platform's image; without, the whole index.
PullResult pull(Store& store, const Reference& reference, const OutputTarget& output,
                const std::optional<oci::Platform>& platform, const Options& options);

/// A registry image resolved for one platform: the manifest digest to pin in a lock.
struct Resolved {
    Digest index_digest;    ///< when the reference named an index (else empty)
    Digest manifest_digest; ///< the platform's manifest
    oci::Manifest manifest;
    oci::ImageConfig config;
};

/// Resolves `reference` (a tag or a digest) to the manifest for `platform`.
Resolved resolve(Client& client, const Reference& reference, const oci::Platform& platform);

/// Loads a registry image by manifest digest as a build base: its manifest and config are
/// read; its layers are listed in SourceImage::remote_blobs and fetched only by
/// fetch_remote_blobs() (when their bytes are needed).
SourceImage load_registry_base(Store& store, const Reference& reference,
                               const Digest& manifest_digest, const oci::Platform& platform,
                               const Options& options);

/// Fetches those of `blobs` that are not in the store from where `remote` says they are.
/// Returns how many were fetched.
std::size_t fetch_remote_blobs(Store& store, const std::vector<oci::Descriptor>& blobs,
                               const std::map<Digest, RemoteBlob>& remote, const Options& options);

/// True when `text` names a registry image: "docker://REF", or (when no file or directory
/// of that name exists) a reference whose first component is a registry host.
bool is_registry_reference(std::string_view text);

/// Reads an image into the store with every layer's bytes: a registry image
/// ("docker://REF", see is_registry_reference) is resolved for `platform` and fetched;
/// anything else goes to ocibake::load_image (an OCI layout or a docker archive).
SourceImage load_image(Store& store, std::string_view reference, const oci::Platform& platform,
                       const Options& options);

} // namespace ocibake::registry
