// The blob upload of the distribution spec ("Pushing blobs"), as its named steps:
//   mount     POST /v2/<repo>/blobs/uploads/?mount=<digest>&from=<other>   201: done
//   initiate  POST /v2/<repo>/blobs/uploads/                               202 + Location
//   stream    one PUT of the whole blob that also commits it (monolithic), or PATCHes
//             of chunks with Content-Range (chunked)
//   status    GET <location>: the Range the registry holds, to go on after a failure
//   commit    PUT <location>?digest=<digest>                               201
// A failed request is tried again under the HTTP client's one retry policy
// (http::Client::retry: transient failures only, the same backoff, told to the observer).
// A chunked upload's location is kept in the store ("upload" records), so a push run
// again after a crash goes on where the registry says it stands.
#include "registry/client_impl.hpp"

#include <fcntl.h>
#include <optional>
#include <unistd.h>

namespace ocibake::registry {

namespace fs = std::filesystem;

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

// Where an upload stands: its location and the next byte the registry wants.
struct Position {
    std::string location;
    std::uint64_t offset = 0;
};

// One blob's upload, step by step (see the top of this file).
class BlobUpload {
public:
    BlobUpload(Client::Impl& impl, const std::string& repo, const Digest& digest,
               std::uint64_t size, UploadSource& source, const Store* store)
        : impl_(impl), repo_(repo), digest_(digest), size_(size), source_(source), store_(store),
          what_("blob " + digest.str()), scope_(push_scope(repo)),
          key_(sha256_of(impl.registry + "\n" + repo + "\n" + digest.str()).hex()) {}

    // Returns the bytes sent: the size, or more when parts were sent again.
    std::uint64_t run() {
        return size_ <= impl_.options.monolithic_limit ? monolithic() : chunked();
    }

private:
    Client::Impl& impl_;
    const std::string& repo_;
    const Digest& digest_;
    std::uint64_t size_;
    UploadSource& source_;
    const Store* store_;
    std::string what_;
    Scope scope_;
    std::string key_; // of the "upload" record
    std::uint64_t sent_ = 0;

    // initiate: opens an upload; returns its location.
    std::string initiate() {
        http::Request post;
        post.method = "POST";
        post.url = impl_.base() + "/v2/" + repo_ + "/blobs/uploads/";
        post.accept = {202};
        http::Response response = impl_.call(post, scope_, repo_, what_);
        std::string location = response.header("location");
        if (location.empty()) {
            throw Error(ErrorKind::io, impl_.where(repo_, what_) + ": the upload has no Location");
        }
        return impl_.absolute(location);
    }

    // The source from its first byte again, and a new upload.
    Position initiate_from_start() {
        if (!source_.seek(0)) {
            throw Error(ErrorKind::io, impl_.where(repo_, what_) + ": cannot read the blob again");
        }
        return {initiate(), 0};
    }

    // Gives `length` of the source's bytes as `r`'s body, reporting progress from the
    // blob's byte `offset`; `pos` counts what was read.
    void attach(http::Request& r, std::uint64_t offset, std::uint64_t length, std::uint64_t& pos) {
        r.progress = [this, offset](std::uint64_t now) {
            if (impl_.options.progress) {
                impl_.options.progress(digest_, offset + now, size_);
            }
        };
        Client::Impl::attach(r, source_, length, pos);
    }

    // stream, monolithic: one PUT of the whole blob, which commits it. A failed attempt
    // starts a new upload.
    std::uint64_t monolithic() {
        for (int failures = 0;;) {
            Position at = initiate_from_start();
            std::uint64_t pos = 0;
            http::Request put;
            put.method = "PUT";
            put.url = impl_.with_digest(at.location, digest_);
            put.accept = {201};
            attach(put, 0, size_, pos);
            try {
                impl_.call(put, scope_, repo_, what_);
                source_.finish();
                return sent_ + size_;
            } catch (const http::HttpError& e) {
                sent_ += pos;
                if (e.kind() == ErrorKind::integrity && pos == size_) {
                    source_.finish(); // says better which bytes were wrong, when it can
                }
                if (!impl_.http.retry(e, failures, put.url)) {
                    throw;
                }
            }
        }
    }

    // status: where the upload at `location` stands; nothing when it cannot go on.
    std::optional<Position> status(const std::string& location) {
        http::Request get;
        get.url = location;
        get.accept = {204, 400, 404};
        http::Response state = impl_.call(get, scope_, repo_, what_);
        if (state.status != 204) {
            // Forgotten (expired, or a registry restarted with another http.secret: its
            // upload URLs are signed with it), or (docker-registry) holding part of a
            // chunk the client never had acknowledged: it cannot go on; start again.
            if (impl_.options.notice) {
                impl_.options.notice(
                    impl_.where(repo_, what_) + ": " +
                    (state.status == 404
                         ? "the registry forgot the upload begun earlier (restarted without a "
                           "fixed http.secret, or the upload expired)"
                         : "the registry cannot go on with the upload begun earlier (it holds "
                           "part of a chunk it never acknowledged)") +
                    ": starting it again from byte 0");
            }
            return std::nullopt;
        }
        std::string range = state.header("range");
        auto dash = range.find('-');
        std::uint64_t next = range.empty() || dash == std::string::npos
                                 ? 0
                                 : std::stoull(range.substr(dash + 1)) + 1;
        std::string moved = state.header("location");
        return Position{moved.empty() ? location : impl_.absolute(moved), next};
    }

    // Where the upload goes on: where the registry says the one this store remembers
    // stands, else where it stands after a failure, else a new upload from byte 0.
    Position resume(const std::string& location) {
        if (auto now = status(location); now && source_.seek(now->offset)) {
            return *now;
        }
        return initiate_from_start();
    }

    void remember(const std::string& location) {
        if (store_) {
            store_->put_record("upload", key_, location);
        }
    }

    // stream, chunked: PATCHes of chunk_size bytes; after a failure, status says where
    // to go on from.
    std::uint64_t chunked() {
        Position at;
        if (store_) {
            if (auto saved = store_->get_record("upload", key_); saved && !saved->empty()) {
                at = resume(*saved);
            }
        }
        if (at.location.empty()) {
            at = initiate_from_start();
        }
        remember(at.location);
        int failures = 0;
        while (at.offset < size_) {
            std::uint64_t length = std::min(impl_.options.chunk_size, size_ - at.offset);
            std::uint64_t pos = 0;
            http::Request patch;
            patch.method = "PATCH";
            patch.url = at.location;
            patch.accept = {202, 204};
            patch.headers.emplace_back("Content-Range", std::to_string(at.offset) + "-" +
                                                            std::to_string(at.offset + length - 1));
            attach(patch, at.offset, length, pos);
            try {
                http::Response response = impl_.call(patch, scope_, repo_, what_);
                sent_ += length;
                at.offset += length;
                source_.acknowledged(at.offset);
                if (std::string next = response.header("location"); !next.empty()) {
                    at.location = impl_.absolute(next);
                    remember(at.location);
                }
            } catch (const http::HttpError& e) {
                sent_ += pos;
                if (!impl_.http.retry(e, failures, patch.url)) {
                    throw;
                }
                at = resume(at.location);
                remember(at.location);
            }
        }
        source_.finish();
        commit(at.location);
        if (store_) {
            store_->put_record("upload", key_, "");
        }
        return sent_;
    }

    // commit: the upload becomes the blob `digest_` (the registry checks it).
    void commit(const std::string& location) {
        http::Request put;
        put.method = "PUT";
        put.url = impl_.with_digest(location, digest_);
        put.accept = {201};
        impl_.call(put, scope_, repo_, what_);
    }
};

} // namespace

std::uint64_t Client::upload_blob(const std::string& repo, const Digest& digest, std::uint64_t size,
                                  const fs::path& file, const Store* store) {
    FileSource source(file);
    return upload_blob(repo, digest, size, source, store);
}

std::uint64_t Client::upload_blob(const std::string& repo, const Digest& digest, std::uint64_t size,
                                  UploadSource& source, const Store* store) {
    return BlobUpload(*impl_, repo, digest, size, source, store).run();
}

} // namespace ocibake::registry
