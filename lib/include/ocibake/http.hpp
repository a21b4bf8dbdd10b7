// ocibake: HTTP(S) transport (libcurl underneath, kept out of this header).
//
// What every caller gets: TLS verified (system CAs, plus an extra CA file if given),
// plain HTTP only for hosts named insecure (and loopback), HTTP/2 when the server offers
// it, connection reuse, timeouts on every wait, and retries with exponential backoff and
// jitter for transient failures (resets, 408, 429, 5xx), honouring Retry-After.
//
// A host that cannot be reached (its name does not resolve, the connection is refused or
// times out, the TLS handshake fails) is a fact about the host, not about one request:
// one request finds out, with a few quick tries, while the others to that host wait for
// it; once its tries are spent the client remembers the host as unreachable and every
// request to it fails at once with the same error ("cannot reach HOST: ... (3 tries in
// 3.1 s)"). Credentials in headers are never part of an error message.
#pragma once

#include "ocibake/error.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ocibake::http {

/// A failed attempt that is tried again, as reported to an Observer.
struct Retry {
    std::string host;   ///< "host[:port]" as the URL names it
    std::string url;    ///< redacted (no userinfo or query)
    std::string reason; ///< "Couldn't connect to server", "503 Service Unavailable", ...
    int attempt = 0;    ///< the attempt about to be made (2 = the first retry)
    int attempts = 0;   ///< the most there will be
    std::chrono::milliseconds delay{0}; ///< the wait before it
};

/// What a client tells its caller while it works, for progress and notices (called from
/// any thread, never while the client holds a lock; implementations synchronise).
class Observer {
public:
    virtual ~Observer() = default;
    /// A request (with all its retries and resumptions) starts or ends, either way.
    virtual void request_started(std::string_view url) { (void)url; }
    virtual void request_finished(std::string_view url) { (void)url; }
    /// The client waits `retry.delay`, then tries again.
    virtual void retrying(const Retry& retry) { (void)retry; }
};

struct Options {
    /// Extra CA certificates (PEM) trusted besides the system's.
    std::filesystem::path ca_file;
    /// Hosts ("host" or "host:port") spoken to over plain HTTP. Loopback hosts
    /// (127.0.0.0/8, ::1, localhost) may always use plain HTTP.
    std::vector<std::string> insecure_hosts;
    /// Name lookup, TCP connect and TLS handshake together, per attempt.
    std::chrono::seconds connect_timeout{10};
    /// A transfer slower than 1 KB/s for this long is aborted (and retried). This bounds
    /// the wait for a response too.
    std::chrono::seconds stall_timeout{60};
    /// Attempts for a transient failure (a reset, a stall, 408, 429, 5xx), the first
    /// included.
    int attempts = 5;
    /// First backoff; doubled each retry (with jitter), capped at 30 s.
    std::chrono::milliseconds backoff{250};
    /// Attempts to reach a host that cannot be reached (name lookup, connect, TLS
    /// handshake), the first included; then the host is remembered as unreachable.
    int connect_attempts = 3;
    /// Wait before the second attempt to reach a host; doubled for each further one.
    std::chrono::milliseconds connect_backoff{1000};
    /// How long a host that could not be reached is remembered so (requests to it fail at
    /// once meanwhile).
    std::chrono::seconds remember_unreachable{60};
    std::string user_agent;
    /// Told about requests and retries (not owned; may be null).
    Observer* observer = nullptr;
};

/// An HTTP failure: a status the caller did not accept, or a transport error.
class HttpError : public Error {
public:
    HttpError(ErrorKind kind, std::string message, long status, bool transient, std::string body,
              std::map<std::string, std::string> headers = {})
        : Error(kind, std::move(message)), status_(status), transient_(transient),
          body_(std::move(body)), headers_(std::move(headers)) {}
    /// 0 for transport errors.
    long status() const noexcept { return status_; }
    bool transient() const noexcept { return transient_; }
    /// The response body of a failed request (at most 64 KB).
    const std::string& body() const noexcept { return body_; }
    /// A header of the failed response (name lower-cased), or "".
    std::string header(const std::string& name) const {
        auto it = headers_.find(name);
        return it == headers_.end() ? std::string() : it->second;
    }
    const std::map<std::string, std::string>& headers() const noexcept { return headers_; }

    /// "cannot reach HOST: ...": the host could not be reached (its name, the connection,
    /// the TLS handshake); `handshake` when it was the TLS handshake that failed (a server
    /// that speaks plain HTTP, say).
    static HttpError unreachable(std::string message, bool handshake) {
        HttpError e(ErrorKind::io, std::move(message), 0, false, "");
        e.unreachable_ = true;
        e.handshake_ = handshake;
        return e;
    }
    bool unreachable() const noexcept { return unreachable_; }
    bool handshake() const noexcept { return handshake_; }

private:
    long status_;
    bool transient_;
    std::string body_;
    std::map<std::string, std::string> headers_;
    bool unreachable_ = false;
    bool handshake_ = false;
};

struct Response {
    long status = 0;
    /// Header names lower-cased; the last value of repeated headers wins.
    std::map<std::string, std::string> headers;
    std::string body;     ///< unless streamed to a sink
    std::string url;      ///< after redirects
    int http_version = 0; ///< 1 or 2 (HTTP/1.x or HTTP/2), as negotiated

    /// A header's value, or "".
    std::string header(std::string_view name) const;
};

/// Produces the request body: fills up to `size` bytes, returns how many (0 at the end).
using BodyReader = std::function<std::size_t(char* buffer, std::size_t size)>;
/// Receives a response body.
using BodySink = std::function<void(const char* data, std::size_t size)>;
/// Bytes sent or received so far in one transfer.
using ProgressFn = std::function<void(std::uint64_t bytes)>;

struct Request {
    std::string method = "GET";
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    /// Body: `body` text, or `reader` producing `body_size` bytes (must be rewindable
    /// through `rewind` if retries are allowed).
    std::string body;
    BodyReader reader;
    std::function<void()> rewind;
    std::optional<std::uint64_t> body_size;
    bool follow_redirects = true;
    /// Retry transient failures (only safe when the request can be repeated).
    bool retry = true;
    /// Statuses that are a success for this request (default: any 2xx).
    std::vector<long> accept;
    ProgressFn progress;
};

class Client {
public:
    explicit Client(Options options = {});
    ~Client();
    Client(Client&&) noexcept;
    Client& operator=(Client&&) noexcept;

    const Options& options() const noexcept;

    /// Sends the request; the body of the response is collected (up to 64 MB). A status
    /// not accepted is an HttpError (after retries when transient).
    Response send(const Request& request);

    /// Like send(), but a successful response's body goes to `sink`.
    Response send(const Request& request, const BodySink& sink);

    /// GET `url` into `sink`, resuming with Range after a dropped connection: `sink`
    /// sees every byte exactly once, in order. `expected_size` (if known, the whole
    /// resource's) is checked. From `start` on: the first request asks a Range already.
    Response download(const Request& request, const BodySink& sink,
                      std::optional<std::uint64_t> expected_size = std::nullopt,
                      std::uint64_t start = 0);

    /// The one retry policy, for a caller that makes its own next attempt (a download or
    /// an upload that goes on where it stood): after `e` failed a request to `url`, true
    /// when `e` is transient and fewer than Options::attempts have failed (counted in
    /// `failures`); then it has told the observer and waited the backoff. `detail` is
    /// added to the reason the observer gets ("after 1024 bytes").
    bool retry(const HttpError& e, int& failures, const std::string& url,
               const std::string& detail = {});

    /// True when `url` may be fetched over plain HTTP (loopback or an insecure host).
    bool allows_plain_http(std::string_view host_port) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// "host[:port]" of a URL ("" when it has none).
std::string host_of(std::string_view url);
/// A URL with any userinfo and query string removed, for messages.
std::string redact_url(std::string_view url);

} // namespace ocibake::http
