#include "apt/fetch.hpp"

#include "apt/decode.hpp"
#include "common/strings.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <tuple>

namespace ocibake::apt::detail {

namespace {

/// How one place answered.
struct Answer {
    enum class Kind {
        ok,      ///< it had the file: in the store now
        missing, ///< 404 or 410, or a snapshot service that does not list the file
        refused, ///< it served other bytes (another size or sha256)
        failed,  ///< any other failure (a server error, a host that cannot be reached, ...)
    };
    Kind kind = Kind::ok;
    bool wrong_size = false;              ///< refused: another size than the lock's
    std::string text;                     ///< what it answered, for messages
    ErrorKind error = ErrorKind::input;   ///< what the failure is, as an error
    std::string url;                      ///< where the bytes came from (after redirects)
    std::optional<http::HttpError> cause; ///< a failure as the client reported it
};

std::string status_text(long status) {
    switch (status) {
    case 404:
        return "HTTP 404 Not Found";
    case 410:
        return "HTTP 410 Gone";
    default:
        return "HTTP " + std::to_string(status);
    }
}

/// The client's message without the "GET URL: " or "URL: " it starts with (the list of
/// places names the URL already).
std::string without_url(std::string message, const std::string& url) {
    for (const std::string& prefix :
         {"GET " + http::redact_url(url) + ": ", http::redact_url(url) + ": "}) {
        if (message.starts_with(prefix)) {
            return message.substr(prefix.size());
        }
    }
    return message;
}

/// Downloads `url` into the store as package `p`: its bytes must have the lock's size and
/// sha256. A host that cannot be reached is an answer too (the caller decides).
Answer try_file(Store& store, http::Client& client, const LockedPackage& p,
                const std::string& url) {
    BlobWriter blob = store.new_blob();
    http::Request r;
    r.url = url;
    Answer a;
    bool too_long = false;
    try {
        http::Response response = client.download(
            r,
            [&](const char* data, std::size_t size) {
                // A longer file is cut off at the lock's size: no place fills the disk.
                if (blob.size() + size > p.size) {
                    too_long = true;
                    throw http::HttpError(ErrorKind::integrity,
                                          http::redact_url(url) + ": more bytes than expected", 200,
                                          false, "");
                }
                blob.write(data, size);
            },
            p.size);
        a.url = response.url.empty() ? url : response.url;
    } catch (const http::HttpError& e) {
        a.cause = e;
        std::string msg = e.what();
        if (e.status() == 404 || e.status() == 410) {
            a.kind = Answer::Kind::missing;
            a.text = status_text(e.status());
        } else if (e.kind() == ErrorKind::integrity && e.status() != 0 &&
                   msg.find("expected") != std::string::npos) {
            a.kind = Answer::Kind::refused;
            a.wrong_size = true;
            a.error = ErrorKind::integrity;
            a.text =
                "sent " +
                (too_long ? "more than " + std::to_string(p.size) : std::to_string(blob.size())) +
                " bytes, the lock pins " + std::to_string(p.size);
        } else {
            a.kind = Answer::Kind::failed;
            a.error = e.kind();
            a.text = e.unreachable() ? msg : without_url(msg, url);
        }
        return a;
    }
    try {
        blob.commit(p.sha256);
    } catch (const Error& e) {
        if (e.kind() != ErrorKind::integrity) {
            throw;
        }
        a.kind = Answer::Kind::refused;
        a.error = ErrorKind::integrity;
        a.text = "served other bytes (" + std::to_string(p.size) +
                 " of them, but not the lock's sha256)";
    }
    return a;
}

/// Percent-encodes everything but RFC 3986's unreserved characters (for a path segment).
std::string segment(std::string_view text) {
    return ocibake::detail::percent_encode(text);
}

bool sha1_hex(const std::string& s) {
    return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

/// A snapshot.debian.org-like service at `root`: its /mr/ answer for the package's name
/// and version, and the /file/SHA1 URLs of the files it lists for the package's
/// architecture (with the .deb's name and the lock's size, where it says them). An
/// answer for the /mr/ URL when it lists none.
std::vector<std::string> files_by_hash(http::Client& client, const LockedPackage& p,
                                       const std::string& root, std::string& api, Answer& failure) {
    api =
        root + "/mr/binary/" + segment(p.name) + "/" + segment(p.version) + "/binfiles?fileinfo=1";
    http::Request r;
    r.url = api;
    std::string body;
    try {
        body = client.send(r).body;
    } catch (const http::HttpError& e) {
        failure.cause = e;
        if (e.status() == 404 || e.status() == 410) {
            failure.kind = Answer::Kind::missing;
            failure.text = status_text(e.status());
        } else {
            failure.kind = Answer::Kind::failed;
            failure.error = e.kind();
            failure.text = e.unreachable() ? e.what() : without_url(e.what(), api);
        }
        return {};
    }
    std::string deb = p.url.substr(p.url.rfind('/') + 1);
    std::vector<std::string> out;
    try {
        nlohmann::json j = nlohmann::json::parse(body);
        const nlohmann::json* info = j.contains("fileinfo") ? &j.at("fileinfo") : nullptr;
        for (const nlohmann::json& item : j.at("result")) {
            std::string hash = item.at("hash").get<std::string>();
            if (!sha1_hex(hash) ||
                (item.contains("architecture") && item.at("architecture") != p.arch)) {
                continue;
            }
            if (info != nullptr && info->contains(hash)) {
                bool named = false;
                for (const nlohmann::json& f : info->at(hash)) {
                    bool name_ok = !f.contains("name") || f.at("name") == deb;
                    bool size_ok = !f.contains("size") || f.at("size") == p.size;
                    named = named || (name_ok && size_ok);
                }
                if (!named) {
                    continue;
                }
            }
            std::string url = root + "/file/" + hash;
            if (std::find(out.begin(), out.end(), url) == out.end()) {
                out.push_back(url);
            }
        }
    } catch (const nlohmann::json::exception& e) {
        failure.kind = Answer::Kind::failed;
        failure.error = ErrorKind::integrity;
        failure.text = std::string("not the snapshot service's JSON (") + e.what() + ")";
        return {};
    }
    if (out.empty()) {
        failure.kind = Answer::Kind::missing;
        failure.text = "lists no " + deb + " of " + std::to_string(p.size) + " bytes";
    }
    return out;
}

/// The download of `p` from its url failed in a way no other place can mend: said as
/// before there were other places.
[[noreturn]] void throw_as_before(const LockedPackage& p, const Answer& a) {
    std::string what = describe(p);
    if (a.kind == Answer::Kind::refused && a.wrong_size) {
        throw Error(ErrorKind::integrity, what + ": " + p.url + ": the server " + a.text);
    }
    if (a.kind == Answer::Kind::refused) {
        throw Error(ErrorKind::integrity,
                    what + ": " + p.url + ": the file does not match the lock's sha256 (" +
                        p.sha256.str() + "); it was changed on the server, or in transit");
    }
    throw Error(a.error, what + ": " + (a.cause ? std::string(a.cause->what()) : a.text));
}

} // namespace

void Fallbacks::add(const Digest& sha256, std::vector<DebPlace> places) {
    places_[sha256] = std::move(places);
}

const std::vector<DebPlace>& Fallbacks::places(const Digest& sha256) const {
    static const std::vector<DebPlace> none;
    auto it = places_.find(sha256);
    return it == places_.end() ? none : it->second;
}

void Fallbacks::record(FetchedElsewhere fetched) {
    std::lock_guard lock(mutex_);
    fetched_.push_back(std::move(fetched));
}

std::vector<FetchedElsewhere> Fallbacks::fetched() const {
    std::lock_guard lock(mutex_);
    std::vector<FetchedElsewhere> out = fetched_;
    std::sort(out.begin(), out.end(), [](const FetchedElsewhere& a, const FetchedElsewhere& b) {
        return std::tie(a.name, a.arch, a.version, a.sha256) <
               std::tie(b.name, b.arch, b.version, b.sha256);
    });
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

void fetch_deb(Store& store, http::Client& client, const LockedPackage& p, Fallbacks* fallbacks) {
    Answer first = try_file(store, client, p, p.url);
    if (first.kind == Answer::Kind::ok) {
        return;
    }
    if (first.cause && first.cause->unreachable()) {
        // The source's host is down: every package from it fails at once (exit 5).
        throw Error(first.cause->kind(), describe(p) + ": " + first.cause->what());
    }
    static const std::vector<DebPlace> none;
    const std::vector<DebPlace>& places = fallbacks ? fallbacks->places(p.sha256) : none;
    if (places.empty() && first.kind != Answer::Kind::missing) {
        throw_as_before(p, first);
    }
    std::vector<std::pair<std::string, std::string>> tried;
    bool other_bytes = first.kind == Answer::Kind::refused;
    auto found = [&](const Answer& a) {
        fallbacks->record({p.name, p.version, p.arch, p.sha256, p.url, first.text,
                           first.kind == Answer::Kind::missing, tried, a.url});
    };
    auto note = [&](const std::string& url, const Answer& a) {
        tried.emplace_back(url, a.text);
        other_bytes = other_bytes || a.kind == Answer::Kind::refused;
    };
    for (const DebPlace& place : places) {
        if (place.kind == DebPlace::Kind::file) {
            Answer a = try_file(store, client, p, place.url);
            if (a.kind == Answer::Kind::ok) {
                found(a);
                return;
            }
            note(place.url, a);
            continue;
        }
        std::string api;
        Answer listed;
        for (const std::string& url : files_by_hash(client, p, place.url, api, listed)) {
            Answer a = try_file(store, client, p, url);
            if (a.kind == Answer::Kind::ok) {
                found(a);
                return;
            }
            note(url, a);
        }
        if (listed.kind != Answer::Kind::ok) {
            note(api, listed);
        }
    }
    // Nowhere: every place with its answer, and what to do.
    std::string summary = "package " + p.name + " " + p.version + " (" + p.arch + "), " +
                          p.sha256.str() + ": no place has the file the lock pins:\n  " + p.url +
                          ": " + first.text;
    for (const auto& [url, answer] : tried) {
        summary += "\n  " + url + ": " + answer;
    }
    ErrorKind kind = other_bytes                           ? ErrorKind::integrity
                     : first.kind == Answer::Kind::missing ? ErrorKind::input
                                                           : first.error;
    throw RecipeError(kind, p.where, summary,
                      "run `ocibake lock --update` to pin the versions the archive has now, or "
                      "name a mirror or snapshot service that keeps this one ([[apt.source]] "
                      "mirrors, snapshot: docs/apt.md)");
}

std::vector<std::shared_future<void>> start_fetches(Store& store, http::Client& client,
                                                    const std::vector<LockedPackage>& packages,
                                                    ocibake::detail::ThreadPool& pool,
                                                    Fallbacks* fallbacks) {
    std::vector<std::shared_future<void>> out;
    for (const LockedPackage& p : packages) {
        if (store.has_blob(p.sha256)) {
            std::promise<void> done;
            done.set_value();
            out.push_back(done.get_future().share());
        } else {
            out.push_back(pool.submit([&store, &client, &p, fallbacks] {
                                  fetch_deb(store, client, p, fallbacks);
                              })
                              .share());
        }
    }
    return out;
}

void fetch_debs(Store& store, http::Client& client, const std::vector<LockedPackage>& packages,
                unsigned parallel, Fallbacks* fallbacks) {
    std::vector<std::shared_future<void>> done;
    {
        ocibake::detail::ThreadPool pool(std::max(1u, parallel));
        done = start_fetches(store, client, packages, pool, fallbacks);
    }
    for (auto& f : done) {
        f.get(); // the first failure in the lock's order
    }
}

} // namespace ocibake::apt::detail
