// The distribution-spec client: /v2/ ping and auth challenge, bearer tokens per scope
// (refreshed once on 401), manifests, blobs, mounts, monolithic and chunked uploads.
#include "common/fs.hpp"
#include "ocibake/registry.hpp"
#include "registry/challenge.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <fcntl.h>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>
#include <unistd.h>

namespace ocibake::registry {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

using Scope = std::vector<std::string>;

Scope pull_scope(const std::string& repo) {
    return {"repository:" + repo + ":pull"};
}
Scope push_scope(const std::string& repo) {
    return {"repository:" + repo + ":pull,push"};
}

std::string base64(const std::string& text) {
    std::string out(4 * ((text.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(text.data()),
                            static_cast<int>(text.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::string url_encode(std::string_view s) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

} // namespace

// `Bearer realm="...",service="...",scope="..."` -> scheme and parameters.
std::pair<std::string, std::map<std::string, std::string>>
parse_challenge(const std::string& header) {
    std::map<std::string, std::string> params;
    auto sp = header.find(' ');
    std::string scheme = header.substr(0, sp);
    for (char& c : scheme) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    std::size_t i = sp == std::string::npos ? header.size() : sp + 1;
    while (i < header.size()) {
        while (i < header.size() && (header[i] == ' ' || header[i] == ',')) {
            ++i;
        }
        auto eq = header.find('=', i);
        if (eq == std::string::npos) {
            break;
        }
        std::string key = header.substr(i, eq - i);
        std::string value;
        i = eq + 1;
        if (i < header.size() && header[i] == '"') {
            ++i;
            while (i < header.size() && header[i] != '"') {
                if (header[i] == '\\' && i + 1 < header.size()) {
                    ++i;
                }
                value += header[i++];
            }
            ++i;
        } else {
            auto end = header.find(',', i);
            value = header.substr(i, end == std::string::npos ? std::string::npos : end - i);
            i = end == std::string::npos ? header.size() : end;
        }
        params[key] = value;
    }
    return {scheme, params};
}

namespace {

// The registry's error codes in plain words (distribution spec, "Error codes").
std::string plain_words(const std::string& code) {
    static const std::map<std::string, std::string> words = {
        {"BLOB_UNKNOWN", "the blob is not in the repository"},
        {"BLOB_UPLOAD_INVALID", "the upload was refused as invalid"},
        {"BLOB_UPLOAD_UNKNOWN",
         "the upload is unknown to the registry (it expired or was cancelled)"},
        {"DIGEST_INVALID", "the content does not match its digest"},
        {"MANIFEST_BLOB_UNKNOWN", "the manifest refers to a blob the repository does not have"},
        {"MANIFEST_INVALID", "the registry refused the manifest as invalid"},
        {"MANIFEST_UNKNOWN", "the manifest is not in the repository"},
        {"NAME_INVALID", "the repository name is invalid"},
        {"NAME_UNKNOWN", "the repository is not known to the registry"},
        {"SIZE_INVALID", "the content's length does not match what was declared"},
        {"UNAUTHORIZED", "authentication is required: give credentials (--creds, an auth file or a "
                         "credential helper) or check them"},
        {"DENIED", "access is denied"},
        {"UNSUPPORTED", "the registry does not support this operation"},
        {"TOOMANYREQUESTS", "too many requests: the registry is rate-limiting"},
    };
    auto it = words.find(code);
    return it == words.end() ? "" : it->second;
}

} // namespace

struct Client::Impl {
    std::string registry;
    std::string host;
    Options options;
    http::Client http;

    std::mutex mutex;
    std::string scheme; // "https" or "http", decided by the first ping
    int http_version = 0;
    enum class Auth { unknown, none, basic, bearer } auth = Auth::unknown;
    std::string realm, service;
    std::map<std::string, std::string> tokens; // scope key -> bearer token
    bool creds_loaded = false;
    std::optional<Credentials> creds;

    Impl(std::string r, Options o)
        : registry(std::move(r)), options(std::move(o)), http(options.http) {
        Reference probe;
        probe.registry = registry;
        host = probe.api_host();
    }

    // "registry R, repository P, <what>: " for messages.
    std::string where(const std::string& repo, const std::string& what) const {
        std::string out = "registry " + registry;
        if (!repo.empty()) {
            out += ", repository " + repo;
        }
        if (!what.empty()) {
            out += ", " + what;
        }
        return out;
    }

    [[noreturn]] void fail(const http::HttpError& e, const std::string& repo,
                           const std::string& what) {
        std::string msg = where(repo, what) + ": ";
        std::string codes;
        try {
            json body = json::parse(e.body());
            for (const auto& err : body.at("errors")) {
                std::string code = err.value("code", "");
                std::string text = plain_words(code);
                if (text.empty()) {
                    text = err.value("message", "");
                }
                codes += (codes.empty() ? "" : "; ") + code + (text.empty() ? "" : ": " + text);
            }
        } catch (const std::exception&) {
        }
        if (codes.empty() && (e.status() == 401 || e.status() == 403)) {
            // HEAD answers have no body: say what the status means.
            codes = e.status() == 401 ? "UNAUTHORIZED: " + plain_words("UNAUTHORIZED")
                                      : "DENIED: " + plain_words("DENIED");
        }
        if (!codes.empty()) {
            msg += codes + " (HTTP " + std::to_string(e.status()) + ")";
        } else {
            msg += e.what();
        }
        ErrorKind kind = e.status() == 401 || e.status() == 403 || e.status() == 404
                             ? ErrorKind::input
                             : e.kind();
        if (codes.find("DIGEST_INVALID") != std::string::npos) {
            kind = ErrorKind::integrity;
        }
        throw http::HttpError(kind, msg, e.status(), e.transient(), e.body());
    }

    const std::optional<Credentials>& credentials() {
        if (!creds_loaded) {
            creds = find_credentials(registry, options);
            creds_loaded = true;
        }
        return creds;
    }

    // Learns the scheme and the auth challenge from GET /v2/ (once).
    std::string base() {
        std::lock_guard lock(mutex);
        if (!scheme.empty()) {
            return scheme + "://" + host;
        }
        http::Request r;
        r.url = "https://" + host + "/v2/";
        r.accept = {200, 401};
        http::Response response;
        try {
            response = http.send(r);
            scheme = "https";
        } catch (const http::HttpError& e) {
            // Plain HTTP only where allowed, and never after a certificate was refused
            // (that server speaks TLS: its CA is what is missing).
            if (e.status() != 0 || e.kind() == ErrorKind::integrity) {
                fail(e, "", "");
            }
            if (!http.allows_plain_http(host)) {
                throw http::HttpError(ErrorKind::io,
                                      where("", "") + ": " + e.what() +
                                          " (if it speaks plain HTTP, refusing plain HTTP to " +
                                          host + " unless it is named with --insecure-registry " +
                                          host + ")",
                                      0, e.transient(), "");
            }
            r.url = "http://" + host + "/v2/";
            try {
                response = http.send(r);
            } catch (const http::HttpError& plain) {
                fail(plain, "", "");
            }
            scheme = "http";
        }
        http_version = response.http_version;
        if (response.status == 401) {
            auto [kind, params] = parse_challenge(response.header("www-authenticate"));
            if (kind == "bearer") {
                auth = Auth::bearer;
                realm = params["realm"];
                service = params["service"];
                if (realm.empty()) {
                    throw Error(ErrorKind::io,
                                where("", "") + ": its bearer challenge names no realm");
                }
            } else {
                auth = Auth::basic;
            }
        } else {
            auth = Auth::none;
        }
        return scheme + "://" + host;
    }

    std::string fetch_token(const Scope& scope) {
        http::Request r;
        std::string query = "?service=" + url_encode(service);
        for (const auto& s : scope) {
            query += "&scope=" + url_encode(s);
        }
        const auto& c = credentials();
        if (c && !c->identity_token.empty()) {
            // OAuth2 refresh-token grant, as docker login stores it.
            r.method = "POST";
            r.url = realm;
            r.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
            r.body = "grant_type=refresh_token&client_id=ocibake&service=" + url_encode(service) +
                     "&refresh_token=" + url_encode(c->identity_token);
            for (const auto& s : scope) {
                r.body += "&scope=" + url_encode(s);
            }
        } else {
            r.url = realm + query;
            if (c) {
                r.headers.emplace_back("Authorization",
                                       "Basic " + base64(c->username + ":" + c->password));
            }
        }
        http::Response response;
        try {
            response = http.send(r);
        } catch (const http::HttpError& e) {
            std::string why = e.status() == 401 || e.status() == 403
                                  ? (c ? "the credentials were refused"
                                       : "anonymous access was refused; give credentials")
                                  : e.what();
            throw http::HttpError(ErrorKind::input,
                                  where("", "token service " + http::redact_url(realm)) + ": " +
                                      why,
                                  e.status(), e.transient(), "");
        }
        try {
            json j = json::parse(response.body);
            std::string token = j.value("token", "");
            if (token.empty()) {
                token = j.value("access_token", "");
            }
            if (token.empty()) {
                throw std::runtime_error("no token");
            }
            return token;
        } catch (const std::exception&) {
            throw Error(ErrorKind::io, where("", "token service " + http::redact_url(realm)) +
                                           ": the answer holds no token");
        }
    }

    // The Authorization header for a scope ("" when none is needed or known).
    std::string authorization(const Scope& scope, bool refresh) {
        base();
        std::lock_guard lock(mutex);
        if (auth == Auth::basic) {
            const auto& c = credentials();
            return c ? "Basic " + base64(c->username + ":" + c->password) : "";
        }
        if (auth != Auth::bearer) {
            return "";
        }
        std::string key;
        for (const auto& s : scope) {
            key += s + " ";
        }
        auto it = tokens.find(key);
        if (it == tokens.end() || refresh) {
            tokens[key] = fetch_token(scope);
            it = tokens.find(key);
        }
        return "Bearer " + it->second;
    }

    std::string absolute(const std::string& location) {
        if (location.rfind("http://", 0) == 0 || location.rfind("https://", 0) == 0) {
            return location;
        }
        return base() + (location.empty() || location[0] != '/' ? "/" : "") + location;
    }

    // Sends with credentials for `scope`; a 401 refreshes the token once. Other failures
    // become messages naming the registry, repository and object.
    http::Response call(http::Request r, const Scope& scope, const std::string& repo,
                        const std::string& what, const http::BodySink* sink = nullptr,
                        bool download = false, std::optional<std::uint64_t> size = std::nullopt,
                        std::uint64_t start = 0) {
        for (int attempt = 0;; ++attempt) {
            http::Request attempt_request = r;
            std::string auth_header = authorization(scope, attempt > 0);
            if (!auth_header.empty()) {
                attempt_request.headers.emplace_back("Authorization", auth_header);
            }
            try {
                if (download) {
                    return http.download(attempt_request, *sink, size, start);
                }
                return sink ? http.send(attempt_request, *sink) : http.send(attempt_request);
            } catch (const http::HttpError& e) {
                if (e.status() == 401 && attempt == 0) {
                    continue; // the token expired or lacked a scope: once more with a new one
                }
                fail(e, repo, what);
            }
        }
    }

    // Gives `length` bytes of `source` as a request body (no retries: a failed upload
    // request is resumed by the caller, from what the registry holds).
    static void attach(http::Request& r, UploadSource& source, std::uint64_t length,
                       std::uint64_t& pos) {
        r.reader = [&source, &pos, length](char* buf, std::size_t want) -> std::size_t {
            std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(want, length - pos));
            if (n == 0) {
                return 0;
            }
            std::size_t got = source.read(buf, n);
            if (got == 0) {
                throw Error(ErrorKind::integrity,
                            "the blob ended " + std::to_string(length - pos) + " bytes early");
            }
            pos += got;
            return got;
        };
        r.retry = false;
        r.body_size = length;
        r.headers.emplace_back("Content-Type", "application/octet-stream");
    }

    std::string with_digest(std::string location, const Digest& digest) {
        location += (location.find('?') == std::string::npos ? "?" : "&");
        return location + "digest=" + url_encode(digest.str());
    }
};

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

bool Client::mount_blob(const std::string& repo, const Digest& digest, const std::string& from) {
    http::Request r;
    r.method = "POST";
    r.url = impl_->base() + "/v2/" + repo + "/blobs/uploads/?mount=" + url_encode(digest.str()) +
            "&from=" + url_encode(from);
    r.accept = {201, 202};
    Scope scope = push_scope(repo);
    scope.push_back("repository:" + from + ":pull");
    http::Response response =
        impl_->call(r, scope, repo, "mount of " + digest.str() + " from " + from);
    if (response.status == 201) {
        return true;
    }
    // The registry opened an upload instead; close it.
    std::string location = response.header("location");
    if (!location.empty()) {
        http::Request cancel;
        cancel.method = "DELETE";
        cancel.url = impl_->absolute(location);
        cancel.accept = {200, 202, 204, 404};
        try {
            impl_->call(cancel, push_scope(repo), repo, "upload");
        } catch (const Error&) {
        }
    }
    return false;
}

namespace {

// A file's bytes, read with pread from wherever the upload asks.
class FileSource final : public UploadSource {
public:
    explicit FileSource(const fs::path& file)
        : fd_(detail::open_file(file, O_RDONLY, ErrorKind::io)), path_(file.string()) {}
    bool seek(std::uint64_t offset) override {
        pos_ = offset;
        return true;
    }
    std::size_t read(char* buffer, std::size_t size) override {
        ssize_t got = ::pread(fd_.get(), buffer, size, static_cast<off_t>(pos_));
        if (got < 0) {
            throw Error(ErrorKind::io, "cannot read " + path_ + " for upload");
        }
        pos_ += static_cast<std::uint64_t>(got);
        return static_cast<std::size_t>(got);
    }

private:
    detail::UniqueFd fd_;
    std::string path_;
    std::uint64_t pos_ = 0;
};

} // namespace

std::uint64_t Client::upload_blob(const std::string& repo, const Digest& digest, std::uint64_t size,
                                  const fs::path& file, const Store* store) {
    FileSource source(file);
    return upload_blob(repo, digest, size, source, store);
}

std::uint64_t Client::upload_blob(const std::string& repo, const Digest& digest, std::uint64_t size,
                                  UploadSource& source, const Store* store) {
    std::string what = "blob " + digest.str();
    Scope scope = push_scope(repo);
    auto start_upload = [&] {
        http::Request post;
        post.method = "POST";
        post.url = impl_->base() + "/v2/" + repo + "/blobs/uploads/";
        post.accept = {202};
        http::Response response = impl_->call(post, scope, repo, what);
        std::string location = response.header("location");
        if (location.empty()) {
            throw Error(ErrorKind::io, impl_->where(repo, what) + ": the upload has no Location");
        }
        return impl_->absolute(location);
    };
    auto from_start = [&] {
        if (!source.seek(0)) {
            throw Error(ErrorKind::io, impl_->where(repo, what) + ": cannot read the blob again");
        }
    };
    std::uint64_t sent = 0;
    auto report = [&](std::uint64_t base_offset) {
        return [this, &digest, base_offset, size](std::uint64_t now) {
            if (impl_->options.progress) {
                impl_->options.progress(digest, base_offset + now, size);
            }
        };
    };

    if (size <= impl_->options.monolithic_limit) {
        // One PUT with the whole blob; a failed attempt starts a new upload.
        for (int attempt = 0;; ++attempt) {
            from_start();
            std::string location = start_upload();
            std::uint64_t pos = 0;
            http::Request put;
            put.method = "PUT";
            put.url = impl_->with_digest(location, digest);
            put.accept = {201};
            put.progress = report(0);
            Impl::attach(put, source, size, pos);
            try {
                impl_->call(put, scope, repo, what);
                source.finish();
                return sent + size;
            } catch (const http::HttpError& e) {
                sent += pos;
                if (e.kind() == ErrorKind::integrity && pos == size) {
                    source.finish(); // says better which bytes were wrong, when it can
                }
                if (!e.transient() || attempt + 1 >= impl_->options.http.attempts) {
                    throw;
                }
            }
        }
    }

    // Chunked: PATCH pieces; after a failure ask the upload where it stands and go on
    // from the last byte the registry acknowledged. The upload's location is kept in the
    // store, so a push run again after a crash or a dropped registry goes on too.
    std::string key = sha256_of(impl_->registry + "\n" + repo + "\n" + digest.str()).hex();
    auto where_upload_stands =
        [&](const std::string& at) -> std::optional<std::pair<std::string, std::uint64_t>> {
        http::Request status;
        status.url = at;
        status.accept = {204, 400, 404};
        http::Response state = impl_->call(status, scope, repo, what);
        if (state.status != 204) {
            // Expired, unknown, or (docker-registry) holding part of a chunk the client
            // never had acknowledged: it cannot go on; start again.
            return std::nullopt;
        }
        std::string range = state.header("range");
        auto dash = range.find('-');
        std::uint64_t next = range.empty() || dash == std::string::npos
                                 ? 0
                                 : std::stoull(range.substr(dash + 1)) + 1;
        std::string moved = state.header("location");
        return std::make_pair(moved.empty() ? at : impl_->absolute(moved), next);
    };
    std::string location;
    std::uint64_t offset = 0;
    if (store) {
        if (auto saved = store->get_record("upload", key); saved && !saved->empty()) {
            if (auto state = where_upload_stands(*saved); state && source.seek(state->second)) {
                std::tie(location, offset) = *state;
            }
        }
    }
    if (location.empty()) {
        from_start();
        location = start_upload();
    }
    auto remember = [&] {
        if (store) {
            store->put_record("upload", key, location);
        }
    };
    remember();
    int failures = 0;
    while (offset < size) {
        std::uint64_t length = std::min(impl_->options.chunk_size, size - offset);
        std::uint64_t pos = 0;
        http::Request patch;
        patch.method = "PATCH";
        patch.url = location;
        patch.accept = {202, 204};
        patch.progress = report(offset);
        patch.headers.emplace_back("Content-Range", std::to_string(offset) + "-" +
                                                        std::to_string(offset + length - 1));
        Impl::attach(patch, source, length, pos);
        try {
            http::Response response = impl_->call(patch, scope, repo, what);
            sent += length;
            offset += length;
            source.acknowledged(offset);
            if (std::string next = response.header("location"); !next.empty()) {
                location = impl_->absolute(next);
                remember();
            }
        } catch (const http::HttpError& e) {
            sent += pos;
            if (!e.transient() || ++failures >= impl_->options.http.attempts) {
                throw;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(200 * failures));
            if (auto state = where_upload_stands(location); state && source.seek(state->second)) {
                std::tie(location, offset) = *state;
            } else {
                from_start();
                location = start_upload();
                offset = 0;
            }
            remember();
        }
    }
    source.finish();
    http::Request finish;
    finish.method = "PUT";
    finish.url = impl_->with_digest(location, digest);
    finish.accept = {201};
    impl_->call(finish, scope, repo, what);
    if (store) {
        store->put_record("upload", key, "");
    }
    return sent;
}

} // namespace ocibake::registry
