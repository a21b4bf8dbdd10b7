// Locking: requirements / pylock packages -> one wheel each, by hash and by tags.
#include "ocibake/python.hpp"

#include <algorithm>

namespace ocibake::python {

namespace fs = std::filesystem;

namespace {

struct Problem {
    std::string where;
    std::string what;
};

[[noreturn]] void report(const std::vector<Problem>& problems, const Target& target) {
    std::string text = "cannot lock " + std::to_string(problems.size()) + " Python requirement" +
                       (problems.size() == 1 ? "" : "s") + " for " + target.str() + ":";
    for (const auto& p : problems) {
        text += "\n  " + (p.where.empty() ? std::string() : p.where + ": ") + p.what;
    }
    throw Error(ErrorKind::input, text);
}

std::string tags_of(const WheelFilename& w) {
    std::string out;
    for (const auto& t : w.tags()) {
        out += (out.empty() ? "" : ".") + t;
    }
    return out;
}

/// Downloads `url` into the store; its digest must be one of `allowed`.
std::pair<Digest, std::uint64_t> download(Store& store, http::Client& client,
                                          const std::string& url,
                                          const std::vector<Digest>& allowed,
                                          std::optional<std::uint64_t> size) {
    BlobWriter blob = store.new_blob();
    http::Request request;
    request.url = url;
    client.download(
        request, [&](const char* data, std::size_t n) { blob.write(data, n); }, size);
    std::uint64_t got = blob.size();
    std::optional<Digest> expected;
    if (allowed.size() == 1) {
        expected = allowed[0];
    }
    Digest d;
    try {
        d = blob.commit(expected);
    } catch (const Error& e) {
        throw Error(e.kind(), http::redact_url(url) + ": " + e.what());
    }
    if (std::find(allowed.begin(), allowed.end(), d) == allowed.end()) {
        throw Error(ErrorKind::integrity, http::redact_url(url) + " has sha256 " + d.hex() +
                                              ", which is not among the requirement's hashes");
    }
    return {d, got};
}

/// The size of a remote file: HEAD's Content-Length, else a download into the store.
std::uint64_t remote_size(const LockContext& ctx, const std::string& url, const Digest& sha256) {
    if (ctx.store && ctx.store->has_blob(sha256)) {
        return *ctx.store->blob_size(sha256);
    }
    http::Request head;
    head.method = "HEAD";
    head.url = url;
    http::Response r = ctx.client->send(head);
    std::string length = r.header("content-length");
    if (!length.empty() && length.find_first_not_of("0123456789") == std::string::npos) {
        return std::stoull(length);
    }
    if (ctx.store == nullptr) {
        throw Error(ErrorKind::input, http::redact_url(url) + " gives no size");
    }
    return download(*ctx.store, *ctx.client, url, {sha256}, std::nullopt).second;
}

/// Picks the best-fitting wheel among candidates; "" problem when one fits.
const IndexFile* best_fit(const std::vector<const IndexFile*>& candidates, const Target& target,
                          std::string& problem) {
    auto supported = target.supported_tags();
    const IndexFile* best = nullptr;
    std::size_t best_rank = 0;
    std::string unfit;
    for (const IndexFile* f : candidates) {
        WheelFilename w = WheelFilename::parse(f->filename);
        auto rank = tag_rank(w, supported);
        if (!rank) {
            unfit += (unfit.empty() ? "" : ", ") + f->filename + " (" + tags_of(w) + ")";
            continue;
        }
        if (!best || *rank < best_rank || (*rank == best_rank && f->filename < best->filename)) {
            best = f;
            best_rank = *rank;
        }
    }
    if (!best) {
        problem = "no wheel fits: " + unfit;
    }
    return best;
}

// best_fit() where one must fit: an Error saying why none does (a resolver's catch makes
// it the requirement's problem).
const IndexFile* must_fit(const std::vector<const IndexFile*>& candidates, const Target& target) {
    std::string problem;
    const IndexFile* best = best_fit(candidates, target, problem);
    if (!best) {
        throw Error(ErrorKind::input, problem);
    }
    return best;
}

LockedWheel locked(const IndexFile& f, std::uint64_t size) {
    WheelFilename w = WheelFilename::parse(f.filename);
    LockedWheel out;
    out.name = normalize_name(w.distribution);
    out.version = w.version;
    out.file = f.filename;
    out.url = f.url;
    out.size = size;
    out.sha256 = f.sha256;
    return out;
}

// The end of a resolution: the wheels sorted by name and file, or every problem met on
// the way (and each name asked for twice) reported at once.
std::vector<LockedWheel> finish(std::vector<LockedWheel> wheels, std::vector<Problem>& problems,
                                const Target& target) {
    std::sort(wheels.begin(), wheels.end(), [](const LockedWheel& a, const LockedWheel& b) {
        return std::tie(a.name, a.file) < std::tie(b.name, b.file);
    });
    for (std::size_t i = 1; i < wheels.size(); ++i) {
        if (wheels[i].name == wheels[i - 1].name) {
            problems.push_back({"", "'" + wheels[i].name + "' is asked for twice (" +
                                        wheels[i - 1].file + " and " + wheels[i].file + ")"});
        }
    }
    if (!problems.empty()) {
        report(problems, target);
    }
    return wheels;
}

std::string relative_path(const fs::path& file, const fs::path& dir) {
    if (dir.empty()) {
        return file.string();
    }
    return fs::path(file).lexically_relative(dir).generic_string();
}

} // namespace

std::vector<LockedWheel> lock_requirements(const Requirements& reqs, const LockContext& ctx) {
    auto env = marker_environment(ctx.target);
    std::vector<std::string> indexes;
    indexes.push_back(reqs.index_url.empty() ? ctx.default_index : reqs.index_url);
    for (const auto& e : reqs.extra_index_urls) {
        indexes.push_back(e);
    }
    if (reqs.extra_index_urls.empty()) {
        indexes.insert(indexes.end(), ctx.extra_indexes.begin(), ctx.extra_indexes.end());
    }
    std::vector<LockedWheel> out;
    std::vector<Problem> problems;
    for (const Requirement& r : reqs.items) {
        std::string where = r.where.str();
        if (!r.marker.empty() && !evaluate_marker(r.marker, env, where)) {
            continue;
        }
        std::string spec = r.url.empty() ? r.name + "==" + r.version : r.name + " @ " + r.url;
        try {
            if (!r.url.empty()) {
                std::string file = r.url.substr(0, r.url.find_first_of("?#"));
                file = file.substr(file.rfind('/') + 1);
                IndexFile f;
                f.filename = file;
                f.url = r.url.substr(0, r.url.find('#'));
                WheelFilename w = WheelFilename::parse(file);
                if (normalize_name(w.distribution) != normalize_name(r.name)) {
                    problems.push_back({where, spec + ": the URL holds '" + w.distribution + "'"});
                    continue;
                }
                std::string problem;
                if (!best_fit({&f}, ctx.target, problem)) {
                    problems.push_back({where, spec + ": " + problem});
                    continue;
                }
                auto [digest, size] =
                    download(*ctx.store, *ctx.client, f.url, r.hashes, std::nullopt);
                f.sha256 = digest;
                out.push_back(locked(f, size));
                out.back().direct = true;
                continue;
            }
            std::vector<IndexFile> files;
            std::string unknown;
            for (const auto& index : indexes) {
                try {
                    auto more = list_project_files(*ctx.client, index, r.name);
                    files.insert(files.end(), more.begin(), more.end());
                } catch (const Error& e) {
                    if (e.kind() != ErrorKind::input) {
                        throw;
                    }
                    unknown = e.what();
                }
            }
            if (files.empty()) {
                problems.push_back({where, spec + ": " + (unknown.empty() ? "no files" : unknown)});
                continue;
            }
            std::vector<const IndexFile*> hashed;
            std::vector<const IndexFile*> candidates;
            std::set<Digest> seen;
            for (const auto& f : files) {
                if (!f.sha256 ||
                    std::find(r.hashes.begin(), r.hashes.end(), f.sha256) == r.hashes.end()) {
                    continue;
                }
                hashed.push_back(&f);
                if (!f.filename.ends_with(".whl") || !seen.insert(f.sha256).second) {
                    continue;
                }
                WheelFilename w = WheelFilename::parse(f.filename);
                if (normalize_name(w.distribution) == normalize_name(r.name) &&
                    version_matches(r.version, w.version)) {
                    candidates.push_back(&f);
                }
            }
            if (hashed.empty()) {
                problems.push_back(
                    {where, spec + ": no file on " + indexes[0] +
                                (indexes.size() > 1 ? " (or the extra indexes)" : "") +
                                " has one of its " + std::to_string(r.hashes.size()) + " hash" +
                                (r.hashes.size() == 1 ? "" : "es")});
                continue;
            }
            if (candidates.empty()) {
                problems.push_back({where, spec + ": only " + hashed[0]->filename +
                                               " matches its hashes, and ocibake installs wheels "
                                               "of this name and version only"});
                continue;
            }
            const IndexFile* best = must_fit(candidates, ctx.target);
            std::uint64_t size =
                best->size ? *best->size : remote_size(ctx, best->url, best->sha256);
            out.push_back(locked(*best, size));
        } catch (const Error& e) {
            problems.push_back({where, spec + ": " + e.what()});
        }
    }
    return finish(std::move(out), problems, ctx.target);
}

std::vector<LockedWheel> lock_pylock(const std::vector<PylockPackage>& packages,
                                     const LockContext& ctx) {
    auto env = marker_environment(ctx.target);
    std::vector<LockedWheel> out;
    std::vector<Problem> problems;
    for (const PylockPackage& p : packages) {
        std::string where = p.where.str();
        if (!p.marker.empty() && !evaluate_marker(p.marker, env, where)) {
            continue;
        }
        std::string spec = p.name + (p.version.empty() ? "" : " " + p.version);
        if (p.wheels.empty()) {
            problems.push_back(
                {where, spec + ": " +
                            (p.other_source.empty() ? std::string("lists no wheels")
                                                    : "has no wheels, only its " + p.other_source +
                                                          "; ocibake installs wheels")});
            continue;
        }
        try {
            std::vector<IndexFile> files;
            for (const auto& f : p.wheels) {
                IndexFile i;
                i.filename = f.name;
                i.url = f.url.empty() ? f.path : f.url;
                i.sha256 = f.sha256;
                i.size = f.size;
                files.push_back(i);
            }
            std::vector<const IndexFile*> candidates;
            std::string mismatch;
            for (const auto& f : files) {
                if (!f.filename.ends_with(".whl")) {
                    continue;
                }
                // A wheel of another project or version (a hand-edited or broken lock)
                // would install something the lock does not say.
                WheelFilename w = WheelFilename::parse(f.filename);
                auto same_version = [](std::string a, std::string b) {
                    for (std::string* v : {&a, &b}) {
                        std::transform(v->begin(), v->end(), v->begin(), [](unsigned char c) {
                            return c == '_' ? '-' : static_cast<char>(std::tolower(c));
                        });
                    }
                    return a == b;
                };
                if (normalize_name(w.distribution) != normalize_name(p.name) ||
                    (!p.version.empty() && !same_version(w.version, p.version))) {
                    mismatch += (mismatch.empty() ? "" : ", ") + f.filename + " is " +
                                w.distribution + " " + w.version;
                    continue;
                }
                candidates.push_back(&f);
            }
            if (!mismatch.empty()) {
                problems.push_back(
                    {where, spec + ": a wheel of another project or version: " + mismatch});
                continue;
            }
            const IndexFile* best = must_fit(candidates, ctx.target);
            const PylockFile& chosen = p.wheels[static_cast<std::size_t>(best - files.data())];
            LockedWheel w;
            if (!chosen.path.empty()) {
                fs::path file = chosen.path;
                Digest actual = sha256_of_file(file);
                if (actual != chosen.sha256) {
                    throw Error(ErrorKind::integrity, file.string() + " has sha256 " +
                                                          actual.hex() + ", but the pylock says " +
                                                          chosen.sha256.hex());
                }
                IndexFile f = *best;
                f.url.clear();
                w = locked(f, fs::file_size(file));
                w.path = relative_path(file, ctx.lock_dir);
            } else {
                w = locked(*best,
                           best->size ? *best->size : remote_size(ctx, best->url, best->sha256));
            }
            out.push_back(std::move(w));
        } catch (const Error& e) {
            problems.push_back({where, spec + ": " + e.what()});
        }
    }
    return finish(std::move(out), problems, ctx.target);
}

fs::path fetch_wheel(Store& store, http::Client& client, const LockedWheel& wheel,
                     const fs::path& lock_dir) {
    if (!wheel.path.empty()) {
        fs::path file = (lock_dir / wheel.path).lexically_normal();
        return file; // unpack_wheel() hashes it against the lock's sha256
    }
    if (store.blob_size(wheel.sha256) == wheel.size) {
        return store.blob_path(wheel.sha256);
    }
    BlobWriter blob = store.new_blob();
    http::Request request;
    request.url = wheel.url;
    try {
        client.download(
            request, [&](const char* data, std::size_t n) { blob.write(data, n); }, wheel.size);
        blob.commit(wheel.sha256);
    } catch (const Error& e) {
        throw Error(e.kind(), "wheel " + wheel.file + " from " + http::redact_url(wheel.url) +
                                  ": " + e.what());
    }
    return store.blob_path(wheel.sha256);
}

} // namespace ocibake::python
