#include "ocibake/http.hpp"

#include "common/strings.hpp"
#include "http/curl_api.hpp"
#include "ocibake/version.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

namespace ocibake::http {

namespace {

constexpr std::size_t kMaxCollected = 64u << 20; // a collected body (manifests, tokens, errors)
constexpr std::size_t kMaxErrorBody = 64u << 10;

struct EasyDeleter {
    void operator()(CURL* c) const noexcept { detail::curl().easy_cleanup(c); }
};
using Easy = std::unique_ptr<CURL, EasyDeleter>;

struct SlistDeleter {
    void operator()(curl_slist* l) const noexcept { detail::curl().slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (detail::curl().global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            throw Error(ErrorKind::internal, "libcurl: global initialisation failed");
        }
    });
}

// One check() for libcurl's setup calls: throws with libcurl's own message.
void check(CURLcode rc, const char* what) {
    if (rc != CURLE_OK) {
        throw Error(ErrorKind::internal,
                    std::string("libcurl ") + what + ": " + detail::curl().easy_strerror(rc));
    }
}

bool transient_status(long status) {
    return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
           status == 504;
}

bool transient_code(CURLcode rc) {
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SEND_FAIL_REWIND:
        return true;
    default:
        return false;
    }
}

// A failure to reach the host at all (no request was sent): its name did not resolve, the
// connection was refused or not made in time, or the TLS handshake failed. A fact about
// the host, not about one request.
bool unreachable(CURLcode rc, CURL* c) {
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    case CURLE_OPERATION_TIMEDOUT: {
        // Timed out before the connection was ready for the request: the connect timeout.
        curl_off_t pretransfer = 0;
        return detail::curl().easy_getinfo(c, CURLINFO_PRETRANSFER_TIME_T, &pretransfer) ==
                   CURLE_OK &&
               pretransfer == 0;
    }
    default:
        return false;
    }
}

bool is_loopback(std::string_view host) {
    if (host == "localhost" || host == "::1" || host == "[::1]") {
        return true;
    }
    in_addr addr{};
    std::string h(host);
    if (::inet_pton(AF_INET, h.c_str(), &addr) == 1) {
        return (ntohl(addr.s_addr) >> 24) == 127;
    }
    return false;
}

// Split "host:port" (or "[v6]:port") into host and port text.
std::pair<std::string, std::string> split_host_port(std::string_view hp) {
    if (!hp.empty() && hp.front() == '[') {
        auto close = hp.find(']');
        std::string host(hp.substr(0, close + 1));
        std::string port =
            close + 1 < hp.size() && hp[close + 1] == ':' ? std::string(hp.substr(close + 2)) : "";
        return {host, port};
    }
    auto colon = hp.rfind(':');
    if (colon == std::string_view::npos) {
        return {std::string(hp), ""};
    }
    return {std::string(hp.substr(0, colon)), std::string(hp.substr(colon + 1))};
}

// What unreachable hosts are remembered by: "host:port", the name lower-cased and the
// scheme's default port made explicit.
std::string host_key(std::string_view url) {
    auto [host, port] = split_host_port(detail::ascii_lower(host_of(url)));
    if (port.empty()) {
        port = url.rfind("https://", 0) == 0 ? "443" : "80";
    }
    return host + ":" + port;
}

// "3.1 s"
std::string seconds_text(std::chrono::steady_clock::duration d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", std::chrono::duration<double>(d).count());
    return buf;
}

struct Transfer;
/// Receives a successful response's body, with the transfer (status, headers) at hand.
using TransferSink = std::function<void(const Transfer&, const char*, std::size_t)>;

// What a transfer collected, filled by the callbacks.
struct Transfer {
    const Request* request = nullptr;
    const TransferSink* sink = nullptr;
    long status = 0;
    std::map<std::string, std::string> headers;
    std::string body;            // collected body (or error body)
    std::uint64_t delivered = 0; // bytes handed to the sink
    std::string body_text;       // request body when given as text
    std::size_t body_pos = 0;
    std::exception_ptr error;
    char error_text[CURL_ERROR_SIZE] = {}; // libcurl's detail of a failure

    bool accepted(long s) const {
        if (request->accept.empty()) {
            return s >= 200 && s < 300;
        }
        return std::find(request->accept.begin(), request->accept.end(), s) !=
               request->accept.end();
    }
    bool redirecting() const { return request->follow_redirects && status >= 300 && status < 400; }
};

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    std::string_view line(data, size * n);
    try {
        if (line.rfind("HTTP/", 0) == 0) {
            // A new response (the first, or one after a redirect or 100 Continue).
            t->headers.clear();
            auto sp = line.find(' ');
            t->status = sp == std::string_view::npos
                            ? 0
                            : std::strtol(std::string(line.substr(sp + 1, 3)).c_str(), nullptr, 10);
        } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
            t->headers[detail::ascii_lower(detail::trim(line.substr(0, colon)))] =
                detail::trim(line.substr(colon + 1));
        }
    } catch (...) {
        t->error = std::current_exception();
        return 0;
    }
    return size * n;
}

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    std::size_t len = size * n;
    try {
        if (t->redirecting()) {
            return len;
        }
        if (t->sink != nullptr && t->accepted(t->status)) {
            (*t->sink)(*t, data, len);
            t->delivered += len;
        } else {
            std::size_t limit = t->accepted(t->status) ? kMaxCollected : kMaxErrorBody;
            if (t->body.size() + len > limit) {
                if (t->accepted(t->status)) {
                    throw Error(ErrorKind::integrity,
                                "response from " + redact_url(t->request->url) +
                                    " is larger than " + std::to_string(limit) + " bytes");
                }
                len = t->body.size() < limit ? limit - t->body.size() : 0;
                t->body.append(data, len);
                return size * n;
            }
            t->body.append(data, len);
        }
    } catch (...) {
        t->error = std::current_exception();
        return CURL_WRITEFUNC_ERROR;
    }
    return size * n;
}

std::size_t on_read(char* buffer, std::size_t size, std::size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    std::size_t want = size * n;
    try {
        if (t->request->reader) {
            return t->request->reader(buffer, want);
        }
        std::size_t left = t->body_text.size() - t->body_pos;
        std::size_t m = std::min(left, want);
        std::copy_n(t->body_text.data() + t->body_pos, m, buffer);
        t->body_pos += m;
        return m;
    } catch (...) {
        t->error = std::current_exception();
        return CURL_READFUNC_ABORT;
    }
}

// curl rewinds a body when it resends a request (a reused connection that had died).
int on_seek(void* user, curl_off_t offset, int origin) {
    auto* t = static_cast<Transfer*>(user);
    if (offset != 0 || origin != SEEK_SET) {
        return CURL_SEEKFUNC_CANTSEEK;
    }
    try {
        if (t->request->reader) {
            if (!t->request->rewind) {
                return CURL_SEEKFUNC_CANTSEEK;
            }
            t->request->rewind();
        }
        t->body_pos = 0;
        return CURL_SEEKFUNC_OK;
    } catch (...) {
        t->error = std::current_exception();
        return CURL_SEEKFUNC_FAIL;
    }
}

int on_progress(void* user, curl_off_t, curl_off_t dlnow, curl_off_t, curl_off_t ulnow) {
    auto* t = static_cast<Transfer*>(user);
    if (t->request->progress) {
        try {
            t->request->progress(static_cast<std::uint64_t>(std::max(dlnow, ulnow)));
        } catch (...) {
            t->error = std::current_exception();
            return 1;
        }
    }
    return 0;
}

// Seconds to wait from a Retry-After header (delta seconds or an HTTP date).
std::optional<std::chrono::milliseconds> retry_after(const std::string& value) {
    if (value.empty()) {
        return std::nullopt;
    }
    if (std::all_of(value.begin(), value.end(),
                    [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        return std::chrono::seconds(std::stoll(value));
    }
    time_t when = detail::curl().getdate(value.c_str(), nullptr);
    if (when < 0) {
        return std::nullopt;
    }
    auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    return std::chrono::seconds(std::max<long long>(0, when - now));
}

std::string describe_status(long status) {
    switch (status) {
    case 400:
        return "400 Bad Request";
    case 401:
        return "401 Unauthorized";
    case 403:
        return "403 Forbidden";
    case 404:
        return "404 Not Found";
    case 405:
        return "405 Method Not Allowed";
    case 408:
        return "408 Request Timeout";
    case 409:
        return "409 Conflict";
    case 416:
        return "416 Range Not Satisfiable";
    case 429:
        return "429 Too Many Requests";
    case 500:
        return "500 Internal Server Error";
    case 502:
        return "502 Bad Gateway";
    case 503:
        return "503 Service Unavailable";
    case 504:
        return "504 Gateway Timeout";
    default:
        return std::to_string(status);
    }
}

} // namespace

std::string Response::header(std::string_view name) const {
    auto it = headers.find(detail::ascii_lower(name));
    return it == headers.end() ? std::string() : it->second;
}

std::string host_of(std::string_view url) {
    auto scheme = url.find("://");
    std::string_view rest = scheme == std::string_view::npos ? url : url.substr(scheme + 3);
    rest = rest.substr(0, rest.find_first_of("/?#"));
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
        rest = rest.substr(at + 1);
    }
    return std::string(rest);
}

std::string redact_url(std::string_view url) {
    std::string out(url.substr(0, url.find('?')));
    auto scheme = out.find("://");
    if (scheme != std::string::npos) {
        auto at = out.find('@', scheme + 3);
        auto slash = out.find('/', scheme + 3);
        if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
            out.erase(scheme + 3, at - scheme - 2);
        }
    }
    return out;
}

struct Client::Impl {
    using Clock = std::chrono::steady_clock;

    // What the client knows of a host it could not reach.
    struct Host {
        bool probing = false;       // a request is trying to reach it again; others wait
        std::string down;           // the error, while it is remembered as unreachable
        bool down_tls_only = false; // the TLS handshake failed: plain HTTP may still work
        Clock::time_point down_until{};
    };

    Options options;
    std::string ca_bundle; // system CAs + options.ca_file, when an extra CA is given
    std::mutex mutex;
    std::vector<Easy> idle; // handles keep their connections open between requests
    std::mt19937 rng{std::random_device{}()};
    std::map<std::string, Host> hosts; // by host_key(); guarded by mutex
    std::condition_variable host_changed;

    // The error a request to `h` fails with at once, or "" (mutex held).
    std::string known_down(Host& h, bool tls) {
        if (h.down.empty()) {
            return "";
        }
        if (Clock::now() >= h.down_until) {
            h.down.clear();
            return "";
        }
        return tls || !h.down_tls_only ? h.down : "";
    }

    // Before an attempt: waits while another request finds out whether the host can be
    // reached, and fails at once when it is known that it cannot.
    void wait_for_host(const std::string& key, bool tls, const std::string& probing) {
        std::unique_lock lock(mutex);
        Host& h = hosts[key];
        host_changed.wait(lock, [&] { return !h.probing || probing == key; });
        if (std::string down = known_down(h, tls); !down.empty()) {
            throw HttpError::unreachable(down, h.down_tls_only);
        }
    }

    void stop_probing(std::string& key) {
        if (key.empty()) {
            return;
        }
        {
            std::lock_guard lock(mutex);
            hosts[key].probing = false;
        }
        key.clear();
        host_changed.notify_all();
    }

    void tell_retry(const std::string& url, std::string reason, int attempt, int attempts,
                    std::chrono::milliseconds delay) {
        if (options.observer != nullptr) {
            options.observer->retrying(
                Retry{host_of(url), redact_url(url), std::move(reason), attempt, attempts, delay});
        }
    }

    // Wait before attempt `tries` + 1 to reach a host: connect_backoff, doubled for each
    // further attempt, with a little jitter.
    std::chrono::milliseconds connect_delay(int tries) {
        auto base = options.connect_backoff * (1LL << std::min(tries - 1, 8));
        std::uniform_real_distribution<double> jitter(0.9, 1.1);
        double ms = static_cast<double>(base.count());
        {
            std::lock_guard lock(mutex);
            ms *= jitter(rng);
        }
        return std::chrono::milliseconds(std::min<long long>(static_cast<long long>(ms), 30000));
    }

    Easy acquire() {
        {
            std::lock_guard lock(mutex);
            if (!idle.empty()) {
                Easy e = std::move(idle.back());
                idle.pop_back();
                detail::curl().easy_reset(e.get());
                return e;
            }
        }
        Easy e(detail::curl().easy_init());
        if (!e) {
            throw Error(ErrorKind::internal, "libcurl: cannot make a handle");
        }
        return e;
    }
    void release(Easy e) {
        std::lock_guard lock(mutex);
        if (idle.size() < 16) {
            idle.push_back(std::move(e));
        }
    }

    std::chrono::milliseconds backoff(int attempt) {
        auto base = options.backoff * (1LL << std::min(attempt, 8));
        std::uniform_real_distribution<double> jitter(0.5, 1.5);
        double ms = static_cast<double>(base.count());
        {
            std::lock_guard lock(mutex);
            ms *= jitter(rng);
        }
        return std::chrono::milliseconds(std::min<long long>(static_cast<long long>(ms), 30000));
    }

    void check_scheme(const std::string& url) {
        if (url.rfind("http://", 0) == 0) {
            std::string hp = host_of(url);
            bool allowed = is_loopback(split_host_port(hp).first) ||
                           std::find(options.insecure_hosts.begin(), options.insecure_hosts.end(),
                                     hp) != options.insecure_hosts.end() ||
                           std::find(options.insecure_hosts.begin(), options.insecure_hosts.end(),
                                     split_host_port(hp).first) != options.insecure_hosts.end();
            if (!allowed) {
                throw HttpError(ErrorKind::usage,
                                "refusing plain HTTP to " + hp +
                                    ": TLS is required unless the host is named with "
                                    "--insecure-registry",
                                0, false, "");
            }
        } else if (url.rfind("https://", 0) != 0) {
            throw HttpError(ErrorKind::usage, "unsupported URL " + redact_url(url), 0, false, "");
        }
    }

    // One attempt. Returns the curl code; fills `t`.
    CURLcode perform(CURL* c, Transfer& t, const Request& r) {
        check(detail::curl().easy_setopt(c, CURLOPT_URL, r.url.c_str()), "URL");
        check(detail::curl().easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https"), "protocols");
        check(detail::curl().easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"),
              "redirect protocols");
        check(detail::curl().easy_setopt(c, CURLOPT_FOLLOWLOCATION, r.follow_redirects ? 1L : 0L),
              "redirects");
        check(detail::curl().easy_setopt(c, CURLOPT_MAXREDIRS, 10L), "max redirects");
        check(detail::curl().easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS),
              "HTTP version");
        check(detail::curl().easy_setopt(c, CURLOPT_CONNECTTIMEOUT,
                                         static_cast<long>(options.connect_timeout.count())),
              "connect timeout");
        check(detail::curl().easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L), "low speed limit");
        check(detail::curl().easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                                         static_cast<long>(options.stall_timeout.count())),
              "low speed time");
        check(detail::curl().easy_setopt(c, CURLOPT_NOSIGNAL, 1L), "nosignal");
        check(detail::curl().easy_setopt(c, CURLOPT_ERRORBUFFER, t.error_text), "error buffer");
        // Large buffers: a blob is a few callbacks per MB, not sixty.
        check(detail::curl().easy_setopt(c, CURLOPT_BUFFERSIZE, 1024L * 1024L), "buffer size");
        check(detail::curl().easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024L * 1024L),
              "upload buffer size");
        check(detail::curl().easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L), "verify peer");
        check(detail::curl().easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L), "verify host");
        if (!ca_bundle.empty()) {
            curl_blob blob{ca_bundle.data(), ca_bundle.size(), CURL_BLOB_NOCOPY};
            check(detail::curl().easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob), "CA bundle");
        }
        std::string agent =
            options.user_agent.empty() ? std::string("ocibake/") + version() : options.user_agent;
        check(detail::curl().easy_setopt(c, CURLOPT_USERAGENT, agent.c_str()), "user agent");
        check(detail::curl().easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""),
              "encodings"); // gzip etc. for JSON

        curl_slist* raw = nullptr;
        Slist headers;
        auto add = [&](const std::string& h) {
            curl_slist* next = detail::curl().slist_append(raw, h.c_str());
            if (next == nullptr) {
                throw Error(ErrorKind::internal, "libcurl: cannot add a header");
            }
            raw = next;
            headers.release();
            headers.reset(raw);
        };
        for (const auto& [k, v] : r.headers) {
            add(k + ": " + v);
        }
        add("Expect:"); // no 100-continue round trip before uploads
        check(detail::curl().easy_setopt(c, CURLOPT_HTTPHEADER, headers.get()), "headers");

        bool has_body = r.reader || !r.body.empty() || r.body_size.has_value();
        if (r.method == "HEAD") {
            check(detail::curl().easy_setopt(c, CURLOPT_NOBODY, 1L), "HEAD");
        } else if (has_body) {
            t.body_text = r.body;
            t.body_pos = 0;
            std::uint64_t size = r.body_size.value_or(r.body.size());
            check(detail::curl().easy_setopt(c, CURLOPT_UPLOAD, 1L), "upload");
            check(detail::curl().easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
                                             static_cast<curl_off_t>(size)),
                  "body size");
            check(detail::curl().easy_setopt(c, CURLOPT_READFUNCTION, &on_read), "read callback");
            check(detail::curl().easy_setopt(c, CURLOPT_READDATA, &t), "read data");
            check(detail::curl().easy_setopt(c, CURLOPT_SEEKFUNCTION, &on_seek), "seek callback");
            check(detail::curl().easy_setopt(c, CURLOPT_SEEKDATA, &t), "seek data");
            check(detail::curl().easy_setopt(c, CURLOPT_CUSTOMREQUEST, r.method.c_str()), "method");
        } else if (r.method == "POST") {
            check(detail::curl().easy_setopt(c, CURLOPT_POST, 1L), "POST");
            check(detail::curl().easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L), "POST size");
        } else if (r.method != "GET") {
            check(detail::curl().easy_setopt(c, CURLOPT_CUSTOMREQUEST, r.method.c_str()), "method");
        }
        check(detail::curl().easy_setopt(c, CURLOPT_HEADERFUNCTION, &on_header), "header callback");
        check(detail::curl().easy_setopt(c, CURLOPT_HEADERDATA, &t), "header data");
        check(detail::curl().easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_body), "write callback");
        check(detail::curl().easy_setopt(c, CURLOPT_WRITEDATA, &t), "write data");
        check(detail::curl().easy_setopt(c, CURLOPT_NOPROGRESS, r.progress ? 0L : 1L), "progress");
        if (r.progress) {
            check(detail::curl().easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &on_progress),
                  "progress callback");
            check(detail::curl().easy_setopt(c, CURLOPT_XFERINFODATA, &t), "progress data");
        }
        CURLcode rc = detail::curl().easy_perform(c);
        check(detail::curl().easy_setopt(c, CURLOPT_HTTPHEADER, nullptr), "headers");
        check(detail::curl().easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr), "error buffer");
        if (t.error) {
            std::rethrow_exception(t.error);
        }
        return rc;
    }

    // Sends `r`, retrying transient failures that happened before any body byte reached
    // `sink`; a failure after that is thrown (transient) for download() to resume. A host
    // that cannot be reached is tried connect_attempts times by one request (the others to
    // it wait meanwhile), then remembered as unreachable.
    Response run(const Request& r, const TransferSink* sink) {
        check_scheme(r.url);
        const bool tls = r.url.rfind("https://", 0) == 0;
        const std::string key = host_key(r.url);
        const auto started = Clock::now();
        std::string probing; // the host this request is trying to reach again, if any
        struct Done {
            Impl& impl;
            std::string& key;
            ~Done() { impl.stop_probing(key); }
        } done{*this, probing};
        int attempt = 0; // transient failures after the host was reached
        int tries = 0;   // attempts that did not reach the host
        for (bool first = true;; first = false) {
            wait_for_host(key, tls, probing);
            Transfer t;
            t.request = &r;
            t.sink = sink;
            if (!first && r.rewind) {
                r.rewind();
            }
            Easy handle = acquire();
            CURLcode rc = perform(handle.get(), t, r);
            char* effective = nullptr;
            detail::curl().easy_getinfo(handle.get(), CURLINFO_EFFECTIVE_URL, &effective);
            Response response;
            response.status = t.status;
            response.headers = std::move(t.headers);
            response.body = std::move(t.body);
            response.url = effective ? effective : r.url;
            long version = 0;
            detail::curl().easy_getinfo(handle.get(), CURLINFO_HTTP_VERSION, &version);
            response.http_version = version == CURL_HTTP_VERSION_2_0 ? 2
                                    : version == CURL_HTTP_VERSION_3 ? 3
                                                                     : 1;
            if (rc != CURLE_OK && unreachable(rc, handle.get())) {
                // Where it failed (a redirect may have led to another host).
                const std::string& target = response.url;
                const std::string target_key = host_key(target);
                const bool target_tls = target.rfind("https://", 0) == 0;
                const bool handshake = rc == CURLE_SSL_CONNECT_ERROR;
                std::string reason = detail::curl().easy_strerror(rc);
                if (handshake && t.error_text[0] != '\0') {
                    reason += std::string(" (") + t.error_text + ")";
                }
                ++tries;
                std::unique_lock lock(mutex);
                Host& h = hosts[target_key];
                if (std::string down = known_down(h, target_tls); !down.empty()) {
                    throw HttpError::unreachable(down, h.down_tls_only);
                }
                if (h.probing && probing != target_key) {
                    // Another request is finding out whether the host can be reached: this
                    // one goes on as that one ends.
                    host_changed.wait(lock, [&] { return !h.probing; });
                    if (std::string down = known_down(h, target_tls); !down.empty()) {
                        throw HttpError::unreachable(down, h.down_tls_only);
                    }
                    --tries;
                    continue;
                }
                // A failed handshake is not tried again (the next would fail alike, and
                // a registry that speaks plain HTTP is asked so next).
                const int allowed = handshake ? 1 : std::max(1, options.connect_attempts);
                if (tries < allowed && r.retry) {
                    h.probing = true;
                    probing = target_key;
                    lock.unlock();
                    auto delay = connect_delay(tries);
                    tell_retry(target, reason, tries + 1, allowed, delay);
                    std::this_thread::sleep_for(delay);
                    continue;
                }
                if (!r.retry) {
                    lock.unlock();
                    throw HttpError(ErrorKind::io, redact_url(target) + ": " + reason, 0,
                                    !handshake, "");
                }
                std::string message = "cannot reach " + host_of(target) + ": " + reason + " (" +
                                      (tries == 1 ? std::string("1 try")
                                                  : std::to_string(tries) + " tries in " +
                                                        seconds_text(Clock::now() - started)) +
                                      ")";
                h.down = message;
                h.down_tls_only = handshake;
                h.down_until = Clock::now() + options.remember_unreachable;
                lock.unlock();
                throw HttpError::unreachable(message, handshake);
            }
            stop_probing(probing); // the host answered
            if (rc == CURLE_OK) {
                release(std::move(handle));
            }
            // A sink that already got bytes cannot take them again (download() resumes).
            bool can_retry = attempt + 1 < options.attempts && r.retry && t.delivered == 0;
            if (rc != CURLE_OK) {
                bool transient = transient_code(rc);
                std::string reason = detail::curl().easy_strerror(rc);
                if (transient && can_retry) {
                    auto delay = backoff(attempt);
                    ++attempt;
                    tell_retry(r.url, reason, attempt + 1, options.attempts, delay);
                    std::this_thread::sleep_for(delay);
                    continue;
                }
                std::string msg = redact_url(r.url) + ": " + reason;
                if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT) {
                    msg += " (the server's certificate is not trusted: give its CA with --ca-file)";
                }
                throw HttpError(rc == CURLE_SSL_CACERT || rc == CURLE_PEER_FAILED_VERIFICATION
                                    ? ErrorKind::integrity
                                    : ErrorKind::io,
                                msg, 0, transient, "");
            }
            if (t.accepted(response.status)) {
                return response;
            }
            bool transient = transient_status(response.status);
            if (transient && can_retry) {
                auto wait = backoff(attempt);
                if (auto after = retry_after(response.header("retry-after"))) {
                    wait = std::max(wait, std::min<std::chrono::milliseconds>(
                                              *after, std::chrono::seconds(60)));
                }
                ++attempt;
                tell_retry(r.url, describe_status(response.status), attempt + 1, options.attempts,
                           wait);
                std::this_thread::sleep_for(wait);
                continue;
            }
            throw HttpError(ErrorKind::io,
                            r.method + " " + redact_url(r.url) + ": " +
                                describe_status(response.status),
                            response.status, transient, response.body, std::move(response.headers));
        }
    }
};

Client::Client(Options options) : impl_(std::make_unique<Impl>()) {
    global_init();
    impl_->options = std::move(options);
    if (!impl_->options.ca_file.empty()) {
        std::ifstream extra(impl_->options.ca_file, std::ios::binary);
        if (!extra) {
            throw Error(ErrorKind::input, "cannot read CA file " + impl_->options.ca_file.string());
        }
        std::ostringstream bundle;
        for (const char* system :
             {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"}) {
            std::ifstream in(system, std::ios::binary);
            if (in) {
                bundle << in.rdbuf() << "\n";
                break;
            }
        }
        bundle << extra.rdbuf();
        impl_->ca_bundle = bundle.str();
    }
}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

const Options& Client::options() const noexcept {
    return impl_->options;
}

namespace {

// Tells the observer that a request started, and (whatever happens) that it ended.
class Watched {
public:
    Watched(Observer* observer, const std::string& url)
        : observer_(observer), url_(observer ? redact_url(url) : std::string()) {
        if (observer_ != nullptr) {
            observer_->request_started(url_);
        }
    }
    ~Watched() {
        if (observer_ != nullptr) {
            try {
                observer_->request_finished(url_);
            } catch (...) {
            }
        }
    }
    Watched(const Watched&) = delete;
    Watched& operator=(const Watched&) = delete;

private:
    Observer* observer_;
    std::string url_;
};

} // namespace

Response Client::send(const Request& request) {
    Watched watched(impl_->options.observer, request.url);
    return impl_->run(request, nullptr);
}

Response Client::send(const Request& request, const BodySink& sink) {
    Watched watched(impl_->options.observer, request.url);
    TransferSink each = [&sink](const Transfer&, const char* data, std::size_t size) {
        sink(data, size);
    };
    return impl_->run(request, &each);
}

Response Client::download(const Request& request, const BodySink& sink,
                          std::optional<std::uint64_t> expected_size, std::uint64_t start_at) {
    Watched watched(impl_->options.observer, request.url);
    std::uint64_t offset = start_at; // where the sink's bytes end
    int failures = 0;
    for (;;) {
        Request r = request;
        if (offset > 0) {
            r.headers.emplace_back("Range", "bytes=" + std::to_string(offset) + "-");
            r.accept = {200, 206};
        }
        const std::uint64_t start = offset;
        std::uint64_t seen = 0; // bytes of this response
        TransferSink resume = [&](const Transfer& t, const char* data, std::size_t size) {
            if (seen == 0 && t.status == 206) {
                std::string range =
                    t.headers.count("content-range") ? t.headers.at("content-range") : "";
                if (range.rfind("bytes " + std::to_string(start) + "-", 0) != 0) {
                    throw HttpError(ErrorKind::integrity,
                                    redact_url(request.url) +
                                        ": resumed at the wrong offset (Content-Range: " + range +
                                        ", wanted " + std::to_string(start) + ")",
                                    206, false, "");
                }
            }
            // A 200 to a Range request is the whole body again: skip what the sink has.
            std::uint64_t skip = t.status == 200 ? start : 0;
            std::uint64_t drop = seen < skip ? std::min<std::uint64_t>(skip - seen, size) : 0;
            seen += size;
            if (size > drop) {
                sink(data + drop, size - drop);
                offset += size - drop;
            }
        };
        try {
            Response response = impl_->run(r, &resume);
            if (expected_size && offset != *expected_size) {
                throw HttpError(ErrorKind::integrity,
                                redact_url(request.url) + ": got " + std::to_string(offset) +
                                    " bytes, expected " + std::to_string(*expected_size),
                                response.status, false, "");
            }
            return response;
        } catch (const HttpError& e) {
            if (!request.retry ||
                !retry(e, failures, request.url, " after " + std::to_string(offset) + " bytes")) {
                throw;
            }
        }
    }
}

bool Client::retry(const HttpError& e, int& failures, const std::string& url,
                   const std::string& detail) {
    if (!e.transient() || ++failures >= impl_->options.attempts) {
        return false;
    }
    auto delay = impl_->backoff(failures);
    std::string reason = e.what();
    if (auto at = reason.find(redact_url(url) + ": "); at != std::string::npos) {
        reason.erase(0, at + redact_url(url).size() + 2);
    }
    impl_->tell_retry(url, reason + detail, failures + 1, impl_->options.attempts, delay);
    std::this_thread::sleep_for(delay);
    return true;
}

bool Client::allows_plain_http(std::string_view host_port) const {
    auto [host, port] = split_host_port(host_port);
    const auto& insecure = impl_->options.insecure_hosts;
    return is_loopback(host) ||
           std::find(insecure.begin(), insecure.end(), std::string(host_port)) != insecure.end() ||
           std::find(insecure.begin(), insecure.end(), host) != insecure.end();
}

} // namespace ocibake::http
