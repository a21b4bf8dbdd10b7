// Internal: what the registry client's files share: the client's state (Client::Impl:
// the HTTP client, the registry's auth challenge, bearer tokens per scope, one call()
// that authorises, refreshes a token once on 401 and words failures) and its helpers.
// client.cpp holds the manifest and blob reads; upload.cpp the blob upload's steps.
#pragma once

#include "common/fs.hpp"
#include "common/libcrypto.hpp"
#include "common/strings.hpp"
#include "ocibake/registry.hpp"
#include "registry/auth.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace ocibake::registry {

using Scope = std::vector<std::string>;

inline Scope pull_scope(const std::string& repo) {
    return {"repository:" + repo + ":pull"};
}
inline Scope push_scope(const std::string& repo) {
    return {"repository:" + repo + ":pull,push"};
}

inline std::string base64(const std::string& text) {
    std::string out(4 * ((text.size() + 2) / 3) + 1, '\0');
    int n = libcrypto().EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                        reinterpret_cast<const unsigned char*>(text.data()),
                                        static_cast<int>(text.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

inline std::string url_encode(std::string_view s) {
    return ocibake::detail::percent_encode(s);
}

// The registry's error codes in plain words (distribution spec, "Error codes").
inline std::string plain_words(const std::string& code) {
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

struct Client::Impl {
    using json = nlohmann::json;

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

    // Who the credentials name, for messages: "anonymous" without any.
    std::string user() {
        std::lock_guard lock(mutex);
        const auto& c = credentials();
        if (!c) {
            return "anonymous";
        }
        return c->username.empty() ? "the identity token's user" : c->username;
    }

    // A push the registry refuses although the credentials were good: 403, or 401 with a
    // token that lacks the push action (error="insufficient_scope" in the challenge, or
    // the token's own claims say so). Empty when `e` is not that.
    std::string push_denied(const http::HttpError& e, const std::string& repo,
                            const std::string& auth_header) {
        std::string why;
        if (e.status() == 403) {
            why = "HTTP 403";
        } else if (e.status() == 401) {
            auto challenge = auth::parse_challenge(e.header("www-authenticate"));
            if (challenge.params["error"] == "insufficient_scope") {
                why = "HTTP 401, insufficient_scope";
            } else if (auth_header.rfind("Bearer ", 0) == 0 &&
                       auth::token_grants(auth_header.substr(7), repo, "push") == false) {
                why = "HTTP 401, the token grants no push";
            }
        }
        if (why.empty()) {
            return "";
        }
        std::string u = user();
        return "denied: " + u + " may not push to " + repo +
               (u == "anonymous"
                    ? ": give credentials (--creds, an auth file or a credential helper)"
                    : "") +
               " (" + why + ")";
    }

    [[noreturn]] void fail(const http::HttpError& e, const std::string& repo,
                           const std::string& what, bool pushing = false,
                           const std::string& auth_header = "") {
        std::string msg = where(repo, what) + ": ";
        if (pushing) {
            if (std::string denied = push_denied(e, repo, auth_header); !denied.empty()) {
                throw http::HttpError(ErrorKind::input, msg + denied, e.status(), false, e.body(),
                                      e.headers());
            }
        }
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
                std::string hint =
                    e.unreachable() && !e.handshake()
                        ? ""
                        : " (if it speaks plain HTTP, refusing plain HTTP to " + host +
                              " unless it is named with --insecure-registry " + host + ")";
                throw http::HttpError(ErrorKind::io, where("", "") + ": " + e.what() + hint, 0,
                                      e.transient(), "");
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
            auto [kind, params] = auth::parse_challenge(response.header("www-authenticate"));
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
                bool pushing =
                    std::find(scope.begin(), scope.end(), push_scope(repo).front()) != scope.end();
                fail(e, repo, what, pushing, auth_header);
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

} // namespace ocibake::registry
