// The ocibake command line: parses flags, calls the library, prints. No image logic here.
#include "ocibake/ocibake.hpp"
#include "cmd_cache.hpp"
#include "cmd_run.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <sys/ioctl.h>
#include <unistd.h>
#include <vector>

namespace {

using json = nlohmann::json;

constexpr const char* kExitCodes = R"(Exit codes:
  0  success
  1  internal error (a bug: please report it)
  2  usage error (bad flags or arguments)
  3  recipe error (malformed recipe or fragment)
  4  input error: an input refused for what it asks for (a path escaping the
     image, a .wh. name, a path through a symlink), missing or unreadable;
     a registry has no such image or blob, or refuses the credentials
  5  I/O error (writing the output or the cache failed; a registry is unreachable)
  6  integrity error (bytes do not match their digest, or are not the format they
     claim: corrupt archive or image; untrusted TLS certificate)
  7  tests failed (ocibake test: at least one test did not pass)
  8  runtime error (no working OCI runtime, a broken GPU setup on the host)
  9  ocibake outdated: updates are available (none from a security suite)
 10  ocibake outdated: updates are available, at least one from a security suite
`ocibake run` exits with the command's own exit code once it ran.)";

std::string human_size(std::uint64_t bytes) {
    const char* units[] = {"B", "KB", "MB", "GB", "TB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1000 && u < 4) {
        v /= 1000;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
    return buf;
}

std::string seconds(double s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2fs", s);
    return buf;
}

// Progress on a terminal: one status line on stderr, redrawn at most 10 times a second.
class TtyProgress final : public ocibake::Progress {
public:
    void layer_started(std::string_view name, std::uint64_t total) override {
        std::lock_guard lock(mutex_);
        active_[std::string(name)] = {0, total};
        draw(true);
    }
    void layer_progress(std::string_view name, std::uint64_t done) override {
        std::lock_guard lock(mutex_);
        active_[std::string(name)].first = done;
        draw(false);
    }
    void layer_finished(std::string_view name) override {
        std::lock_guard lock(mutex_);
        active_.erase(std::string(name));
        draw(true);
    }
    void clear() {
        std::lock_guard lock(mutex_);
        std::fputs("\r\033[K", stderr);
        std::fflush(stderr);
    }
    // What is being downloaded: "fetching FILE from HOST" (and how many more).
    void fetch_started(std::string_view url) {
        std::lock_guard lock(mutex_);
        fetching_.push_back(std::string(url));
        draw(fetching_.size() == 1);
    }
    void fetch_finished(std::string_view url) {
        std::lock_guard lock(mutex_);
        auto at = std::find(fetching_.begin(), fetching_.end(), url);
        if (at != fetching_.end()) {
            fetching_.erase(at);
        }
        draw(fetching_.empty());
    }
    // A line of its own above the status line.
    void print_above(const std::string& text) {
        std::lock_guard lock(mutex_);
        std::fprintf(stderr, "\r\033[Kocibake: %s\n", text.c_str());
        draw(true);
    }

private:
    void draw(bool force) {
        auto now = std::chrono::steady_clock::now();
        if (!force && now - last_ < std::chrono::milliseconds(100)) {
            return;
        }
        last_ = now;
        std::string line;
        for (const auto& [name, p] : active_) {
            line += (line.empty() ? "building " : ", ") + name + " " + human_size(p.first) + "/" +
                    human_size(p.second);
        }
        if (!fetching_.empty()) {
            const std::string& url = fetching_.front();
            auto scheme = url.find("://");
            auto host_end = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
            std::string host = url.substr(scheme == std::string::npos ? 0 : scheme + 3,
                                          host_end == std::string::npos ? std::string::npos
                                                                        : host_end - scheme - 3);
            std::string file = url.substr(url.rfind('/') + 1);
            line += (line.empty() ? "" : "; ") + std::string("fetching ") +
                    (file.empty() ? url : file + " from " + host);
            if (fetching_.size() > 1) {
                line += " and " + std::to_string(fetching_.size() - 1) + " more";
            }
        }
        std::fprintf(stderr, "\r\033[K%s", line.substr(0, 150).c_str());
        std::fflush(stderr);
    }

    std::mutex mutex_;
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> active_;
    std::vector<std::string> fetching_; // URLs in flight, in the order they started
    std::chrono::steady_clock::time_point last_{};
};

// Progress of blob transfers on a terminal: a bar per blob in flight, on stderr, redrawn
// in place at most ten times a second.
class BlobProgress {
public:
    void update(const ocibake::Digest& digest, std::uint64_t done, std::uint64_t total) {
        std::lock_guard lock(mutex_);
        auto at = std::find_if(active_.begin(), active_.end(),
                               [&](const Row& r) { return r.name == digest.short_hex(); });
        if (done >= total) {
            if (at != active_.end()) {
                active_.erase(at);
            }
        } else if (at != active_.end()) {
            at->done = done;
        } else {
            active_.push_back({digest.short_hex(), done, total});
        }
        auto now = std::chrono::steady_clock::now();
        if (now - last_ < std::chrono::milliseconds(100) && done < total) {
            return;
        }
        last_ = now;
        draw();
    }
    void clear() {
        std::lock_guard lock(mutex_);
        active_.clear();
        draw();
        drawn_ = 0;
    }
    // A line of its own above the bars.
    void print_above(const std::string& text) {
        std::lock_guard lock(mutex_);
        std::string out = "\r";
        if (drawn_ > 1) {
            out += "\033[" + std::to_string(drawn_ - 1) + "A";
        }
        out += "\033[Jocibake: " + text + "\n";
        std::fputs(out.c_str(), stderr);
        drawn_ = 0;
        draw();
    }

private:
    struct Row {
        std::string name;
        std::uint64_t done = 0, total = 0;
    };
    static constexpr std::size_t kMaxRows = 8;

    static std::size_t columns() {
        winsize ws{};
        if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) {
            return ws.ws_col;
        }
        return 80;
    }
    static std::string row_text(const Row& r, std::size_t width) {
        constexpr std::size_t kBar = 24;
        std::size_t filled =
            static_cast<std::size_t>(kBar * r.done / std::max<std::uint64_t>(r.total, 1));
        std::string line = r.name + " [" + std::string(filled, '#') +
                           std::string(kBar - filled, '.') + "] " +
                           std::to_string(100 * r.done / std::max<std::uint64_t>(r.total, 1)) +
                           "% " + human_size(r.done) + " / " + human_size(r.total);
        return line.substr(0, width - 1);
    }
    // Redraws the block of lines in place: the cursor rests at the start of the block's
    // last line, so the next draw goes up that many lines first.
    void draw() {
        std::vector<std::string> rows;
        std::size_t width = columns();
        for (std::size_t i = 0; i < active_.size() && i < kMaxRows; ++i) {
            rows.push_back(row_text(active_[i], width));
        }
        if (active_.size() > kMaxRows) {
            rows.push_back("... and " + std::to_string(active_.size() - kMaxRows) + " more");
        }
        std::string out = "\r";
        if (drawn_ > 1) {
            out += "\033[" + std::to_string(drawn_ - 1) + "A";
        }
        std::size_t lines = std::max<std::size_t>({drawn_, rows.size(), 1});
        for (std::size_t i = 0; i < lines; ++i) {
            out += (i ? "\n\r\033[K" : "\033[K") + (i < rows.size() ? rows[i] : "");
        }
        std::size_t keep = std::max<std::size_t>(rows.size(), 1);
        if (lines > keep) {
            out += "\033[" + std::to_string(lines - keep) + "A\r";
        }
        drawn_ = keep;
        std::fputs(out.c_str(), stderr);
        std::fflush(stderr);
    }

    std::mutex mutex_;
    std::vector<Row> active_; // in the order they started
    std::size_t drawn_ = 0;   // lines the last draw left on the terminal
    std::chrono::steady_clock::time_point last_{};
};

// Lines to read while the network is waited on (a retry: what, how long; an upload that
// starts again, and why), on stderr, above the progress drawn there when there is one.
class Notices final : public ocibake::http::Observer {
public:
    void show_on(TtyProgress* tty, BlobProgress* bars) {
        std::lock_guard lock(mutex_);
        tty_ = tty;
        bars_ = bars;
    }
    void say(const std::string& text) {
        std::lock_guard lock(mutex_);
        if (tty_ != nullptr) {
            tty_->print_above(text);
        } else if (bars_ != nullptr) {
            bars_->print_above(text);
        } else {
            std::fprintf(stderr, "ocibake: %s\n", text.c_str());
            std::fflush(stderr);
        }
    }
    void retrying(const ocibake::http::Retry& r) override {
        char delay[32];
        std::snprintf(delay, sizeof delay, "%.1f s",
                      std::chrono::duration<double>(r.delay).count());
        say(r.host + ": " + r.reason + "; attempt " + std::to_string(r.attempt) + " of " +
            std::to_string(r.attempts) + " in " + delay);
    }
    void request_started(std::string_view url) override {
        std::lock_guard lock(mutex_);
        if (tty_ != nullptr) {
            tty_->fetch_started(url);
        }
    }
    void request_finished(std::string_view url) override {
        std::lock_guard lock(mutex_);
        if (tty_ != nullptr) {
            tty_->fetch_finished(url);
        }
    }

private:
    std::mutex mutex_;
    TtyProgress* tty_ = nullptr;
    BlobProgress* bars_ = nullptr;
};

// Shows notices above `tty` or `bars` for as long as it lives.
class NoticesOn {
public:
    NoticesOn(Notices& notices, TtyProgress* tty, BlobProgress* bars) : notices_(notices) {
        notices_.show_on(tty, bars);
    }
    ~NoticesOn() { notices_.show_on(nullptr, nullptr); }
    NoticesOn(const NoticesOn&) = delete;
    NoticesOn& operator=(const NoticesOn&) = delete;

private:
    Notices& notices_;
};

std::string cache_word(const ocibake::LayerReport& r) {
    if (r.from_base) {
        return "base";
    }
    switch (r.cache) {
    case ocibake::CacheStatus::hit:
        return "cached";
    case ocibake::CacheStatus::verified:
        return "verified";
    case ocibake::CacheStatus::built:
        return "built";
    case ocibake::CacheStatus::remote:
        return "remote";
    }
    return "?";
}

json descriptor_json(const ocibake::oci::Descriptor& d) {
    return {{"digest", d.digest.str()}, {"size", d.size}, {"media_type", d.media_type}};
}

json base_checks_json(const ocibake::BuildResult& r) {
    json out = json::array();
    for (const auto& c : r.base_checks) {
        json j = {{"status", ocibake::to_string(c.status)}};
        if (!c.detail.empty()) {
            j["detail"] = c.detail;
        }
        out.push_back(j);
    }
    return out;
}

json dropped_json(const std::vector<ocibake::DroppedBlob>& dropped) {
    json out = json::array();
    for (const auto& d : dropped) {
        out.push_back(
            {{"digest", d.digest.str()}, {"path", d.path.string()}, {"reason", d.reason}});
    }
    return out;
}

/// One line on stderr per base layer `ocibake run` would refuse, or that was not read.
void print_base_checks(const ocibake::BuildResult& r) {
    std::size_t base = 0;
    for (const auto& l : r.layers) {
        base += l.from_base ? 1 : 0;
    }
    for (std::size_t i = 0; i < r.base_checks.size() && i < base; ++i) {
        const auto& c = r.base_checks[i];
        if (c.status == ocibake::LayerCheck::Status::refused) {
            std::fprintf(stderr,
                         "warning: base %s (ocibake run would refuse it; build --strict refuses "
                         "this base)\n",
                         c.detail.c_str());
        } else if (c.status == ocibake::LayerCheck::Status::unchecked) {
            std::fprintf(stderr,
                         "note: base layer %zu (%s) was not checked: %s (build --strict "
                         "fetches and checks it)\n",
                         i + 1, r.layers[i].layer.descriptor.digest.str().c_str(),
                         c.detail.c_str());
        }
    }
}

/// One line on stderr per locked .deb that its URL no longer had and that came from a
/// mirror or a snapshot service instead.
void print_fetched_elsewhere(const ocibake::BuildResult& r) {
    for (const auto& f : r.fetched_elsewhere) {
        std::string line = f.name + " " + f.version + " (" + f.arch + "): " +
                           (f.gone ? "gone from its URL (" + f.answer + ")"
                                   : "its URL failed (" + f.answer + ")") +
                           "; fetched from " + f.fetched_from;
        if (!f.tried.empty()) {
            line += " (tried first:";
            for (std::size_t i = 0; i < f.tried.size(); ++i) {
                line += (i ? "; " : " ") + f.tried[i].first + ": " + f.tried[i].second;
            }
            line += ")";
        }
        std::fprintf(stderr, "note: %s\n", line.c_str());
    }
}

json fetched_elsewhere_json(const ocibake::BuildResult& r) {
    json out = json::array();
    for (const auto& f : r.fetched_elsewhere) {
        json tried = json::array();
        for (const auto& [url, answer] : f.tried) {
            tried.push_back({{"url", url}, {"answer", answer}});
        }
        out.push_back({{"name", f.name},
                       {"version", f.version},
                       {"arch", f.arch},
                       {"sha256", f.sha256.str()},
                       {"url", f.url},
                       {"answer", f.answer},
                       {"tried", tried},
                       {"fetched_from", f.fetched_from}});
    }
    return out;
}

json lock_diff_json(const ocibake::LockDiff& d, const std::filesystem::path& lock);

/// `--stand-in PACKAGE=ARCHIVE` (repeatable) into BuildOptions::stand_ins.
std::map<std::string, std::filesystem::path>
parse_stand_ins(const std::vector<std::string>& flags) {
    std::map<std::string, std::filesystem::path> out;
    for (const std::string& f : flags) {
        auto eq = f.find('=');
        if (eq == 0 || eq == std::string::npos || eq + 1 == f.size()) {
            throw ocibake::Error(ocibake::ErrorKind::usage,
                                 "--stand-in '" + f + "': give PACKAGE=ARCHIVE");
        }
        if (!out.emplace(f.substr(0, eq), f.substr(eq + 1)).second) {
            throw ocibake::Error(ocibake::ErrorKind::usage,
                                 "--stand-in " + f.substr(0, eq) + " is given twice");
        }
    }
    return out;
}

/// One line on stderr per stand-in: never silent (`built` after a build, else a lock).
void print_stand_ins(const std::vector<ocibake::StandIn>& stand_ins, bool built) {
    for (const auto& s : stand_ins) {
        std::fprintf(stderr,
                     "STAND-IN: layer '%s' takes the payload of %s from %s (%s, %llu bytes) "
                     "instead of %s; %s\n",
                     s.layer.c_str(), s.package.c_str(), s.file.string().c_str(),
                     s.sha256.str().c_str(), static_cast<unsigned long long>(s.size),
                     s.replaces.c_str(),
                     built ? ("the image is labelled org.ocibake.stand-in." + s.package +
                              " and is not the recipe's")
                                 .c_str()
                           : "that layer was not locked (its entry, if any, is kept as it is)");
    }
}

json stand_ins_json(const std::vector<ocibake::StandIn>& stand_ins) {
    json out = json::array();
    for (const auto& s : stand_ins) {
        out.push_back({{"package", s.package},
                       {"layer", s.layer},
                       {"file", s.file.string()},
                       {"sha256", s.sha256.str()},
                       {"size", s.size},
                       {"replaces", s.replaces}});
    }
    return out;
}

/// `DIGEST -> WHERE`: the output written, or (`--push` without `-o`) the references pushed.
void print_digest_line(const ocibake::BuildResult& r, const json& push) {
    if (r.wrote_output) {
        std::printf("%s -> %s\n", r.image.manifest_descriptor.digest.str().c_str(),
                    r.output.str().c_str());
    } else { // `--push` without `-o`: the registry has it, no local image does
        std::string refs;
        json pushed = push.is_object() ? push.value("pushed", json::array()) : json::array();
        for (const auto& ref : pushed) {
            std::string text = ref.get<std::string>(); // REF@DIGEST: the digest is said first
            refs += (refs.empty() ? "" : ", ") + text.substr(0, text.find('@'));
        }
        std::printf("%s -> %s (pushed; no local image was written: add -o %s for one)\n",
                    r.image.manifest_descriptor.digest.str().c_str(), refs.c_str(),
                    r.output.str().c_str());
    }
}

void print_build(const ocibake::BuildResult& r, const std::string& recipe, bool as_json,
                 const json& extra, bool quiet) {
    const auto& image = r.image;
    if (!as_json) {
        for (const auto& d : r.dropped_blobs) {
            std::fprintf(stderr,
                         "ocibake: cached blob %s (%s) was corrupt: %s; dropped it and made it "
                         "again\n",
                         d.digest.str().c_str(), d.path.c_str(), d.reason.c_str());
        }
    }
    if (as_json) {
        json layers = json::array();
        for (const auto& l : r.layers) {
            layers.push_back({{"name", l.name},
                              {"layer", l.recipe_layer},
                              {"packages", l.packages},
                              {"digest", l.layer.descriptor.digest.str()},
                              {"diff_id", l.layer.diff_id.str()},
                              {"size", l.layer.descriptor.size},
                              {"uncompressed_size", l.layer.uncompressed_size},
                              {"media_type", l.layer.descriptor.media_type},
                              {"cache", cache_word(l)},
                              {"entries", l.entries},
                              {"seconds", l.seconds}});
        }
        json out = {
            {"recipe", recipe},
            {"digest", image.manifest_descriptor.digest.str()},
            {"manifest", descriptor_json(image.manifest_descriptor)},
            {"config", descriptor_json(image.config_descriptor)},
            {"output", r.wrote_output ? json(r.output.str()) : json(nullptr)},
            {"base_layers_fetched", r.base_layers_fetched},
            {"base_checks", base_checks_json(r)},
            {"apt_fallbacks", fetched_elsewhere_json(r)},
            {"layers", layers},
            {"layers_built", r.layers_built()},
            {"dropped_blobs", dropped_json(r.dropped_blobs)},
            {"lock_written", r.lock_written},
            {"stand_ins", stand_ins_json(r.stand_ins)},
            {"lock_update", r.lock_update ? lock_diff_json(r.lock_update->diff, r.lock_update->file)
                                          : json(nullptr)},
            {"timings",
             {{"total", r.seconds}, {"layers", r.layer_seconds}, {"output", r.output_seconds}}}};
        if (r.part_threshold > 0) {
            out["parts"] = {{"threshold", r.part_threshold}, {"modulus", r.part_modulus}};
        }
        for (const auto& [key, value] : extra.items()) { // "push", "remote_cache"
            if (!value.is_null()) {
                out[key] = value;
            }
        }
        std::cout << out.dump(2) << "\n";
        return;
    }
    if (quiet) {
        std::cout << image.manifest_descriptor.digest.str() << "\n";
        return;
    }
    std::uint64_t total = 0;
    std::size_t own = 0;
    for (std::size_t i = 0; i < r.layers.size(); ++i) {
        const auto& l = r.layers[i];
        total += l.layer.descriptor.size;
        if (l.from_base) {
            continue;
        }
        ++own;
        // A recipe layer's parts on one line.
        std::size_t end = i + 1;
        while (l.packages > 0 && end < r.layers.size() && r.layers[end].packages > 0 &&
               r.layers[end].recipe_layer == l.recipe_layer) {
            ++end;
        }
        if (end - i > 1) {
            std::uint64_t size = 0;
            double slowest = 0;
            std::map<std::string, std::size_t> counts;
            for (std::size_t k = i; k < end; ++k) {
                size += r.layers[k].layer.descriptor.size;
                slowest = std::max(slowest, r.layers[k].seconds);
                ++counts[cache_word(r.layers[k])];
            }
            std::string what = std::to_string(end - i) + " parts:";
            for (const char* word : {"built", "verified", "cached", "remote"}) {
                if (counts.count(word)) {
                    what += (what.back() == ':' ? " " : ", ") + std::to_string(counts[word]) + " " +
                            word;
                }
            }
            std::printf("  layer %-20s %-30s %10s  %s\n", l.recipe_layer.c_str(), what.c_str(),
                        human_size(size).c_str(), seconds(slowest).c_str());
            own += end - i - 1;
            for (std::size_t k = i + 1; k < end; ++k) {
                total += r.layers[k].layer.descriptor.size;
            }
            i = end - 1;
            continue;
        }
        std::printf("  layer %-20s %-8s %10s  %s  %s\n", l.name.c_str(), cache_word(l).c_str(),
                    human_size(l.layer.descriptor.size).c_str(),
                    l.layer.descriptor.digest.str().substr(0, 19).c_str(),
                    seconds(l.seconds).c_str());
    }
    if (r.part_threshold > 2'000'000) {
        std::printf("  packages grouped in parts of %s and more, boundary hash mod %llu, to stay "
                    "within [build] max_layers (docs/apt.md)\n",
                    human_size(r.part_threshold).c_str(),
                    static_cast<unsigned long long>(r.part_modulus));
    }
    std::size_t base = r.layers.size() - own;
    if (own > 0 && r.layers_built() == 0) {
        std::printf("  nothing to rebuild: all %zu layers were cached\n", own);
    }
    print_digest_line(r, extra.is_object() && extra.contains("push") ? extra["push"] : json());
    std::printf("  %zu layers (%zu from the base, %zu built), %s compressed, %s\n", r.layers.size(),
                base, r.layers_built(), human_size(total).c_str(), seconds(r.seconds).c_str());
}

// ---- lock diffs (`ocibake lock`, `lock --update`, `outdated`) ----------------------------

/// The schema of the diff object `outdated --json` prints (and `lock --json` under "diff").
constexpr const char* kLockDiffSchema = "ocibake.lock-diff/1";

/// `ocibake outdated`'s exit codes (docs/cli.md).
constexpr int kExitUpdates = 9;
constexpr int kExitSecurityUpdates = 10;

json lock_diff_json(const ocibake::LockDiff& d, const std::filesystem::path& lock) {
    json j = {{"schema", kLockDiffSchema},
              {"lock", lock.string()},
              {"up_to_date", d.empty()},
              {"security", d.security()},
              {"base", nullptr}};
    if (d.base) {
        j["base"] = {{"ref", d.base->ref},
                     {"platform", d.base->platform},
                     {"from", d.base->from ? json(d.base->from.str()) : json(nullptr)},
                     {"to", d.base->to.str()},
                     {"new_layer_bytes", d.base->new_layer_bytes}};
    }
    json changes = json::array();
    for (const auto& c : d.changes) {
        bool apt = c.kind == ocibake::LockChange::Kind::apt;
        json e = {{"kind", apt ? "apt" : "wheel"},
                  {"layer", c.layer},
                  {"name", c.name},
                  {"from", c.from.empty() ? json(nullptr) : json(c.from)},
                  {"to", c.to.empty() ? json(nullptr) : json(c.to)},
                  {"size", c.size},
                  {"security", c.security},
                  {"reason", c.reason}};
        if (apt) {
            e["arch"] = c.arch;
            e["source"] = c.source;
        } else {
            e["file"] = c.file.empty() ? json(nullptr) : json(c.file);
        }
        changes.push_back(std::move(e));
    }
    j["changes"] = changes;
    json rebuild = json::array();
    for (const auto& l : d.layers) {
        rebuild.push_back({{"name", l.name},
                           {"layer", l.layer},
                           {"why", l.why},
                           {"bytes", l.bytes ? json(*l.bytes) : json(nullptr)},
                           {"digest", l.digest ? json(l.digest.str()) : json(nullptr)}});
    }
    j["rebuild"] = rebuild;
    j["pull_bytes"] = d.pull_bytes;
    return j;
}

std::string short_digest(const ocibake::Digest& d) {
    return d ? d.str().substr(0, 19) : std::string("(none)");
}

/// How many pins a layer of `lock` has (apt packages or wheels).
std::size_t pins_of(const ocibake::Lock& lock, const std::string& layer, bool apt) {
    if (apt) {
        for (const auto& l : lock.apt) {
            if (l.layer == layer) {
                return l.installs.size();
            }
        }
        return 0;
    }
    const auto* p = lock.python_for(layer);
    return p == nullptr ? 0 : p->wheels.size();
}

/// The diff as tables, one per layer, then what will be rebuilt. `label` starts the
/// summary line ("outdated", "updated", "would update"). A layer whose every pin is new
/// (a first lock) is one line, not a table.
void print_lock_diff(const ocibake::LockDiff& d, const ocibake::Lock& after, const char* label) {
    if (d.base) {
        std::printf("base %s (%s)\n  %s -> %s  (new layers: %s)\n", d.base->ref.c_str(),
                    d.base->platform.c_str(), short_digest(d.base->from).c_str(),
                    short_digest(d.base->to).c_str(), human_size(d.base->new_layer_bytes).c_str());
    }
    std::size_t i = 0;
    while (i < d.changes.size()) {
        std::size_t end = i;
        while (end < d.changes.size() && d.changes[end].layer == d.changes[i].layer &&
               d.changes[end].kind == d.changes[i].kind) {
            ++end;
        }
        bool apt = d.changes[i].kind == ocibake::LockChange::Kind::apt;
        bool all_new = end - i == pins_of(after, d.changes[i].layer, apt) &&
                       std::all_of(d.changes.begin() + static_cast<std::ptrdiff_t>(i),
                                   d.changes.begin() + static_cast<std::ptrdiff_t>(end),
                                   [](const ocibake::LockChange& c) { return c.from.empty(); });
        if (all_new) {
            std::uint64_t bytes = 0;
            for (std::size_t k = i; k < end; ++k) {
                bytes += d.changes[k].size;
            }
            std::printf("%slayer %s (%s): %zu new %s, %s\n", i == 0 && !d.base ? "" : "\n",
                        d.changes[i].layer.c_str(), apt ? "apt" : "wheels", end - i,
                        apt ? (end - i == 1 ? "package" : "packages")
                            : (end - i == 1 ? "wheel" : "wheels"),
                        human_size(bytes).c_str());
            i = end;
            continue;
        }
        std::vector<std::vector<std::string>> rows;
        rows.push_back(
            apt ? std::vector<std::string>{"PACKAGE", "FROM", "TO", "SOURCE", "SECURITY", "SIZE"}
                : std::vector<std::string>{"WHEEL", "FROM", "TO", "FILE", "SIZE"});
        for (std::size_t k = i; k < end; ++k) {
            const auto& c = d.changes[k];
            std::string from = c.from.empty() ? "-" : c.from;
            std::string to = c.to.empty() ? "-" : c.to;
            std::string size = c.to.empty() ? "-" : human_size(c.size);
            if (apt) {
                std::string name =
                    c.arch == "amd64" || c.arch == "all" ? c.name : c.name + ":" + c.arch;
                rows.push_back({name, from, to, c.source, c.security ? "yes" : "no", size});
            } else {
                rows.push_back({c.name, from, to, c.file.empty() ? "-" : c.file, size});
            }
        }
        std::vector<std::size_t> width(rows[0].size(), 0);
        for (const auto& row : rows) {
            for (std::size_t col = 0; col < row.size(); ++col) {
                width[col] = std::max(width[col], row[col].size());
            }
        }
        std::printf("%slayer %s (%s)\n", i == 0 && !d.base ? "" : "\n", d.changes[i].layer.c_str(),
                    apt ? "apt" : "wheels");
        for (std::size_t r = 0; r < rows.size(); ++r) {
            std::string line = "  ";
            for (std::size_t col = 0; col < rows[r].size(); ++col) {
                bool last = col + 1 == rows[r].size();
                line += rows[r][col] +
                        (last ? "" : std::string(width[col] - rows[r][col].size() + 2, ' '));
            }
            std::printf("%s\n", line.c_str());
            if (r > 0 && !d.changes[i + r - 1].reason.empty()) {
                std::printf("      (%s)\n", d.changes[i + r - 1].reason.c_str());
            }
        }
        i = end;
    }
    std::size_t packages = 0, wheels = 0, security = 0;
    std::set<std::string> layers;
    for (const auto& c : d.changes) {
        (c.kind == ocibake::LockChange::Kind::apt ? packages : wheels) += 1;
        security += c.security ? 1 : 0;
        layers.insert(c.layer);
    }
    std::vector<std::string> parts;
    if (packages != 0) {
        parts.push_back(
            std::to_string(packages) + (packages == 1 ? " package" : " packages") +
            (security != 0 ? " (" + std::to_string(security) + " from security suites)" : ""));
    }
    if (wheels != 0) {
        parts.push_back(std::to_string(wheels) + (wheels == 1 ? " wheel" : " wheels"));
    }
    if (d.base) {
        parts.push_back("the base");
    }
    std::string summary;
    for (std::size_t k = 0; k < parts.size(); ++k) {
        summary += (k == 0 ? "" : k + 1 == parts.size() ? " and " : ", ") + parts[k];
    }
    std::printf("\n%s: %s\n", label, summary.c_str());
    if (!d.layers.empty()) {
        std::printf("layers whose digest changes (predicted):\n");
        std::size_t width = 0;
        bool unknown = false;
        for (const auto& l : d.layers) {
            width = std::max(width, l.name.size());
        }
        for (const auto& l : d.layers) {
            unknown = unknown || !l.bytes;
            std::printf("  %-*s  %10s  %s\n", static_cast<int>(width), l.name.c_str(),
                        l.bytes ? human_size(*l.bytes).c_str() : "?", l.why.c_str());
        }
        std::printf("a pull of the new image moves about %s%s\n", human_size(d.pull_bytes).c_str(),
                    unknown ? " and the state layer" : "");
    }
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) {
        out += (out.empty() ? "" : " ") + json(s).dump();
    }
    return "[" + out + "]";
}

void print_inspect(const ocibake::ImageInfo& info, bool as_json) {
    const auto& c = info.config;
    if (as_json) {
        json layers = json::array();
        for (std::size_t i = 0; i < info.manifest.layers.size(); ++i) {
            const auto& d = info.manifest.layers[i];
            json l = descriptor_json(d);
            l["diff_id"] = i < c.diff_ids.size() ? c.diff_ids[i].str() : "";
            if (info.uncompressed_sizes[i] != 0) {
                l["uncompressed_size"] = info.uncompressed_sizes[i];
            }
            layers.push_back(l);
        }
        json out = {{"source", info.source},
                    {"manifest", json::parse(info.manifest_json)},
                    {"config", json::parse(info.config_json)},
                    {"layers", layers}};
        if (info.manifest_descriptor.digest) {
            out["digest"] = info.manifest_descriptor.digest.str();
        }
        std::cout << out.dump(2) << "\n";
        return;
    }
    std::printf("image:       %s\n", info.source.c_str());
    if (info.manifest_descriptor.digest) {
        std::printf("digest:      %s (%s, %llu bytes)\n",
                    info.manifest_descriptor.digest.str().c_str(),
                    info.manifest_descriptor.media_type.c_str(),
                    static_cast<unsigned long long>(info.manifest_descriptor.size));
    } else {
        std::printf("digest:      none (a docker archive holds no manifest)\n");
    }
    std::printf("config:      %s (%llu bytes)\n", info.manifest.config.digest.str().c_str(),
                static_cast<unsigned long long>(info.manifest.config.size));
    std::printf("platform:    %s\n", c.platform.str().c_str());
    if (!c.created.empty()) {
        std::printf("created:     %s\n", c.created.c_str());
    }
    const auto& cc = c.config;
    if (cc.entrypoint) {
        std::printf("entrypoint:  %s\n", join(*cc.entrypoint).c_str());
    }
    if (cc.cmd) {
        std::printf("cmd:         %s\n", join(*cc.cmd).c_str());
    }
    if (!cc.user.empty()) {
        std::printf("user:        %s\n", cc.user.c_str());
    }
    if (!cc.working_dir.empty()) {
        std::printf("workdir:     %s\n", cc.working_dir.c_str());
    }
    if (!cc.stop_signal.empty()) {
        std::printf("stop signal: %s\n", cc.stop_signal.c_str());
    }
    for (const auto& p : cc.exposed_ports) {
        std::printf("port:        %s\n", p.c_str());
    }
    for (const auto& v : cc.volumes) {
        std::printf("volume:      %s\n", v.c_str());
    }
    for (const auto& e : cc.env) {
        std::printf("env:         %s\n", e.c_str());
    }
    for (const auto& [k, v] : cc.labels) {
        std::printf("label:       %s=%s\n", k.c_str(), v.c_str());
    }
    std::uint64_t total = 0;
    for (const auto& l : info.manifest.layers) {
        total += l.size;
    }
    std::printf("layers:      %zu, %s\n", info.manifest.layers.size(), human_size(total).c_str());
    for (std::size_t i = 0; i < info.manifest.layers.size(); ++i) {
        const auto& d = info.manifest.layers[i];
        std::string kind = d.media_type.substr(d.media_type.rfind('.') + 1);
        std::printf("  %2zu  %s  %10s  %s\n", i + 1, d.digest.str().c_str(),
                    human_size(d.size).c_str(), kind.c_str());
    }
}

std::optional<std::int64_t> epoch_from_env() {
    const char* text = std::getenv("SOURCE_DATE_EPOCH");
    if (text == nullptr || *text == '\0') {
        return std::nullopt;
    }
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0) {
        throw ocibake::Error(ocibake::ErrorKind::usage, std::string("SOURCE_DATE_EPOCH='") + text +
                                                            "' is not a non-negative integer");
    }
    return v;
}

std::chrono::seconds parse_age(const std::string& text) {
    if (text.empty()) {
        throw ocibake::Error(ocibake::ErrorKind::usage, "empty --max-age");
    }
    char unit = text.back();
    std::string number =
        std::isdigit(static_cast<unsigned char>(unit)) ? text : text.substr(0, text.size() - 1);
    long long n = 0;
    try {
        std::size_t used = 0;
        n = std::stoll(number, &used);
        if (used != number.size() || n < 0) {
            throw std::invalid_argument("x");
        }
    } catch (const std::exception&) {
        throw ocibake::Error(ocibake::ErrorKind::usage,
                             "--max-age '" + text + "' is not a duration like 30d, 12h, 90m or 0");
    }
    switch (std::isdigit(static_cast<unsigned char>(unit)) ? 's' : unit) {
    case 's':
        return std::chrono::seconds(n);
    case 'm':
        return std::chrono::seconds(n * 60);
    case 'h':
        return std::chrono::seconds(n * 3600);
    case 'd':
        return std::chrono::seconds(n * 86400);
    default:
        throw ocibake::Error(ocibake::ErrorKind::usage,
                             "--max-age '" + text + "' has an unknown unit (use s, m, h or d)");
    }
}

// Flags every registry-speaking subcommand takes.
struct RegistryFlags {
    std::vector<std::string> insecure;
    std::string ca_file;
    std::string creds;
    std::string auth_file;
    unsigned parallel = 4;
    std::string chunk_size = "128M";
    Notices* notices = nullptr; // retries and upload restarts are said here

    void add_to(CLI::App* app) {
        app->add_option("--insecure-registry", insecure,
                        "Speak plain HTTP to this registry host[:port] (loopback may always)");
        app->add_option("--ca-file", ca_file, "Trust this PEM CA bundle too (TLS stays verified)");
        app->add_option("--creds", creds,
                        "USER:PASSWORD for the registry (else the docker/podman auth files)");
        app->add_option("--authfile", auth_file,
                        "Read credentials from this auth.json / config.json only");
        app->add_option("--parallel", parallel, "Blobs transferred at once (default 4)");
        app->add_option("--chunk-size", chunk_size, "Upload chunk for large blobs (default 128M)");
    }

    ocibake::registry::Options options(BlobProgress* progress = nullptr) const {
        ocibake::registry::Options o;
        if (progress != nullptr) {
            o.progress = [progress](const ocibake::Digest& d, std::uint64_t done,
                                    std::uint64_t total) { progress->update(d, done, total); };
        }
        if (notices != nullptr) {
            o.http.observer = notices;
            o.notice = [n = notices](const std::string& text) { n->say(text); };
        }
        o.http.insecure_hosts = insecure;
        o.http.ca_file = ca_file;
        o.auth_file = auth_file;
        o.parallel = std::max(1u, parallel);
        if (!creds.empty()) {
            auto colon = creds.find(':');
            if (colon == std::string::npos) {
                throw ocibake::Error(ocibake::ErrorKind::usage, "--creds takes USER:PASSWORD");
            }
            o.creds =
                ocibake::registry::Credentials{creds.substr(0, colon), creds.substr(colon + 1), ""};
        }
        o.chunk_size = parse_size(chunk_size);
        o.monolithic_limit = std::min<std::uint64_t>(o.monolithic_limit, o.chunk_size);
        return o;
    }

    static std::uint64_t parse_size(const std::string& text) {
        std::size_t used = 0;
        unsigned long long n = 0;
        try {
            n = std::stoull(text, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        std::string unit = text.substr(used);
        std::uint64_t mult = unit.empty() || unit == "B"    ? 1
                             : unit == "K" || unit == "KiB" ? 1ull << 10
                             : unit == "M" || unit == "MiB" ? 1ull << 20
                             : unit == "G" || unit == "GiB" ? 1ull << 30
                                                            : 0;
        if (used == 0 || mult == 0 || n == 0) {
            throw ocibake::Error(ocibake::ErrorKind::usage,
                                 "size '" + text + "' is not like 512K, 64M or 1G");
        }
        return n * mult;
    }
};

std::filesystem::path cache_root(const std::string& flag) {
    return flag.empty() ? ocibake::Store::default_root() : std::filesystem::path(flag);
}

json stats_json(const ocibake::registry::TransferStats& s) {
    return {{"blobs_sent", s.blobs_sent},
            {"bytes_sent", s.bytes_sent},
            {"blobs_skipped", s.blobs_skipped},
            {"bytes_skipped", s.bytes_skipped},
            {"blobs_mounted", s.blobs_mounted},
            {"bytes_mounted", s.bytes_mounted},
            {"blobs_fetched", s.blobs_fetched},
            {"bytes_fetched", s.bytes_fetched},
            {"blobs_streamed", s.blobs_streamed},
            {"bytes_streamed", s.bytes_streamed},
            {"seconds", s.seconds},
            {"protocol", s.protocol}};
}

json push_json(const ocibake::registry::PushResult& r) {
    json refs = json::array();
    for (const auto& p : r.pushed) {
        refs.push_back(p.str());
    }
    return {{"digest", r.digest.str()}, {"pushed", refs}, {"stats", stats_json(r.stats)}};
}

void print_push(const ocibake::registry::PushResult& r, bool as_json, bool quiet) {
    if (as_json) {
        std::cout << push_json(r).dump(2) << "\n";
        return;
    }
    if (quiet) {
        std::cout << r.digest.str() << "\n";
        return;
    }
    for (const auto& p : r.pushed) {
        std::printf("pushed %s\n", p.str().c_str());
    }
    const auto& s = r.stats;
    if (s.blobs_streamed > 0) {
        std::printf("  %llu base layers streamed from their registry (%s)\n",
                    static_cast<unsigned long long>(s.blobs_streamed),
                    human_size(s.bytes_streamed).c_str());
    }
    std::printf("  blobs: %llu sent (%s), %llu already there (%s), %llu mounted (%s); %s\n",
                static_cast<unsigned long long>(s.blobs_sent), human_size(s.bytes_sent).c_str(),
                static_cast<unsigned long long>(s.blobs_skipped),
                human_size(s.bytes_skipped).c_str(),
                static_cast<unsigned long long>(s.blobs_mounted),
                human_size(s.bytes_mounted).c_str(), seconds(s.seconds).c_str());
}

void write_digest_file(const std::string& path, const ocibake::Digest& digest) {
    if (path.empty()) {
        return;
    }
    std::ofstream out(path, std::ios::trunc);
    out << digest.str() << "\n";
    if (!out) {
        throw ocibake::Error(ocibake::ErrorKind::io, "cannot write --digest-file " + path);
    }
}

std::vector<ocibake::registry::Reference> parse_refs(const std::vector<std::string>& texts) {
    std::vector<ocibake::registry::Reference> refs;
    for (const auto& t : texts) {
        refs.push_back(ocibake::registry::Reference::parse(t));
    }
    return refs;
}

struct TestArgs {
    std::string target;
    std::string recipe;
    std::string junit;
    std::string runtime;
    std::string keep_bundle;
    std::string cache_dir;
    bool json = false;
    std::string gpus;
    ocibake::registry::Options registry;
};

bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() &&
           text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int test_image(const TestArgs& a) {
    std::string recipe_path = a.recipe;
    std::string image = a.target;
    bool recipe_mode = a.recipe.empty() && ends_with(a.target, ".toml");
    if (recipe_mode) {
        recipe_path = a.target;
    } else if (a.recipe.empty()) {
        throw ocibake::Error(ocibake::ErrorKind::usage,
                             "ocibake test " + a.target +
                                 " needs --recipe RECIPE.toml: the tests come from the recipe");
    }
    ocibake::Recipe recipe = ocibake::load_recipe(recipe_path);
    if (recipe_mode) {
        std::filesystem::path out = std::filesystem::path("out") / recipe.name;
        std::error_code ec;
        if (!std::filesystem::exists(out, ec)) {
            throw ocibake::Error(ocibake::ErrorKind::input,
                                 "image " + out.string() + " does not exist: build it first (" +
                                     "ocibake " + recipe_path + ")");
        }
        image = "oci:" + out.string() + ":" + recipe.tag;
    }
    ocibake::TestOptions options;
    options.cache_dir = a.cache_dir;
    options.keep_bundle = a.keep_bundle;
    options.runtime = ocibake::cli::runtime_search(a.runtime);
    options.gpus = ocibake::GpuRequest::parse(a.gpus);
    options.registry = a.registry;
    if (!a.json) {
        std::printf("testing %s (%zu tests from %s)\n", image.c_str(), recipe.tests.size(),
                    recipe_path.c_str());
        std::fflush(stdout);
        options.on_result = [](const ocibake::TestResult& r) {
            std::fputs(ocibake::result_text(r).c_str(), stdout);
            std::fflush(stdout);
        };
    }
    ocibake::TestReport report = ocibake::run_tests(recipe.tests, image, options);
    if (!a.junit.empty()) {
        std::ofstream out(a.junit, std::ios::binary | std::ios::trunc);
        out << ocibake::junit_xml(report);
        if (!out) {
            throw ocibake::Error(ocibake::ErrorKind::io, "cannot write " + a.junit);
        }
    }
    if (a.json) {
        std::cout << ocibake::report_json(report);
    } else {
        std::fputs(ocibake::totals_text(report).c_str(), stdout);
    }
    return report.failed() == 0 ? 0 : 7;
}

// `ocibake RECIPE ...` means `ocibake build RECIPE ...`.
std::vector<std::string> normalize_args(CLI::App& app, int argc, char** argv, const CLI::App& run,
                                        ocibake::cli::RunFlags& run_flags) {
    std::set<std::string> commands = {"help"};
    for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
        commands.insert(sub->get_name());
    }
    std::vector<std::string> args(argv + 1, argv + argc);
    if (!args.empty() && args[0] == "help") {
        args[0] = "--help";
    }
    static const std::set<std::string> top_level = {"-h", "--help", "--version"};
    if (!args.empty() && commands.count(args[0]) == 0 && top_level.count(args[0]) == 0) {
        args.insert(args.begin(), "build");
    }
    if (!args.empty() && args[0] == "run") { // IMAGE and COMMAND as `docker run` finds them
        std::vector<std::string> options = ocibake::cli::split_run_args(
            run, std::vector<std::string>(args.begin() + 1, args.end()), run_flags);
        options.insert(options.begin(), "run");
        args = options;
    }
    std::reverse(args.begin(), args.end()); // CLI11 takes them reversed
    return args;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"ocibake: reproducible OCI images from pinned recipes, without Docker.\n\n"
                 "  ocibake RECIPE.toml              build (same as `ocibake build RECIPE.toml`)\n"
                 "  ocibake inspect oci:out/NAME     show an image's manifest, config and layers\n"
                 "  ocibake push oci:out/NAME REF    push to a registry; ocibake pull REF fetches\n"
                 "  ocibake cache gc                 drop cache entries unused for 30 days",
                 "ocibake"};
    app.footer(kExitCodes);
    app.require_subcommand(0, 1);
    app.set_version_flag("--version", std::string("ocibake ") + ocibake::version());

    bool as_json = false;
    bool quiet = false;
    std::string cache_dir;

    // build
    auto* build = app.add_subcommand("build", "Build an image from a recipe (the default command)");
    std::string recipe_path, output, epoch_flag;
    unsigned threads = 0;
    build->add_option("recipe", recipe_path, "The recipe (.toml)")->required();
    build->add_option("-o,--output", output,
                      "oci:DIR[:TAG] or docker-archive:FILE[:NAME:TAG] (default oci:out/NAME)");
    build->add_option(
        "--cache-dir", cache_dir,
        "The cache (default $OCIBAKE_CACHE_DIR, $XDG_CACHE_HOME/ocibake, ~/.cache/ocibake)");
    build->add_option("-j,--threads", threads,
                      "Worker threads (default: all cores; never changes the image)");
    build->add_option(
        "--source-date-epoch", epoch_flag,
        "mtime of every file and the image's created time (default $SOURCE_DATE_EPOCH, "
        "then the recipe, then 0)");
    build->add_flag("--json", as_json, "Print the result as JSON (digest, layers, sizes, timings)");
    build->add_flag("-q,--quiet", quiet, "Print only the image digest");
    std::vector<std::string> push_refs;
    std::string digest_file;
    Notices notices;
    RegistryFlags registry_flags;
    registry_flags.notices = &notices;
    build->add_option("--push", push_refs,
                      "Push the image to this registry reference (repeatable)");
    build->add_option("--digest-file", digest_file, "Write the image digest to this file");
    bool update_lock = false;
    build->add_flag(
        "--update-lock", update_lock,
        "Move every pin to what is offered now (as `ocibake lock --update`), then build");
    bool locked = false;
    build->add_flag("--locked", locked,
                    "Refuse any change to the lock (for CI): a missing or stale entry is an "
                    "error");
    bool strict = false;
    build->add_flag("--strict", strict,
                    "Refuse a base whose layers `ocibake run` would refuse (by default a "
                    "warning), fetching a registry base's layers to check them");
    std::vector<std::string> stand_in_flags;
    build->add_option("--stand-in", stand_in_flags,
                      "PACKAGE=ARCHIVE: take the installer package's payload from this local "
                      "archive instead of the recipe's (for machines that cannot fetch it; the "
                      "image is labelled org.ocibake.stand-in.PACKAGE) (repeatable)");
    registry_flags.add_to(build);
    ocibake_cli::RemoteCacheFlags cache_flags;
    cache_flags.add_to(build);
    build->footer(kExitCodes);

    // lock
    auto* lock =
        app.add_subcommand("lock", "Pin every remote input of a recipe by digest in its lock file");
    std::string lock_recipe_path;
    lock->add_option("recipe", lock_recipe_path, "The recipe (.toml)")->required();
    lock->add_flag("--json", as_json, "Print the lock (and what changed) as JSON");
    lock->add_option("--cache-dir", cache_dir, "The cache");
    ocibake::LockOptions lock_options;
    lock->add_flag("--update", lock_options.update,
                   "Move the pins to what the registry, apt sources and indexes offer now "
                   "(without it, a lock that answers the recipe is left as it is)");
    lock->add_option("--only", lock_options.only,
                     "With --update: move only this apt package, source package, wheel or base "
                     "reference (repeatable), and what must move with it");
    lock->add_flag("--security-only", lock_options.security_only,
                   "With --update: move only apt packages a security suite updates");
    lock->add_flag("--dry-run", lock_options.dry_run, "Print what would change; write nothing");
    lock->add_option("--stand-in", stand_in_flags,
                     "PACKAGE=ARCHIVE: leave the layer that provides this installer package's "
                     "payload unlocked (as `build --stand-in` replaces it) (repeatable)");
    registry_flags.add_to(lock);
    lock->footer(kExitCodes);

    // outdated
    auto* outdated = app.add_subcommand(
        "outdated", "What moved upstream since the lock (the diff `lock --update` would make); "
                    "writes nothing");
    std::string outdated_recipe;
    outdated->add_option("recipe", outdated_recipe, "The recipe (.toml)")->required();
    outdated->add_flag("--json", as_json, "Print the diff as JSON");
    ocibake::LockOptions outdated_options;
    outdated->add_option("--only", outdated_options.only,
                         "Look only at this apt package, source package, wheel or base "
                         "reference (repeatable), and what must move with it");
    outdated->add_flag("--security-only", outdated_options.security_only,
                       "Look only at apt packages a security suite updates (wheels and the "
                       "base are kept as the lock pins them)");
    outdated->add_option("--cache-dir", cache_dir, "The cache");
    registry_flags.add_to(outdated);
    outdated->footer(kExitCodes);

    // push
    auto* push = app.add_subcommand("push", "Push an image (an OCI layout) to registries");
    std::string push_image_ref;
    std::vector<std::string> push_targets;
    push->add_option("image", push_image_ref, "oci:DIR[:TAG] or a layout directory")->required();
    push->add_option("refs", push_targets, "registry/repository[:tag] (one or more)")->required();
    push->add_option("--digest-file", digest_file, "Write the pushed digest to this file");
    push->add_option("--cache-dir", cache_dir, "The cache (remembers uploads to resume)");
    push->add_flag("--json", as_json, "Print the result as JSON");
    push->add_flag("-q,--quiet", quiet, "Print only the digest");
    registry_flags.add_to(push);
    push->footer(kExitCodes);

    // pull
    auto* pull = app.add_subcommand(
        "pull", "Pull an image from a registry into an OCI layout or docker archive");
    std::string pull_ref, pull_output, pull_platform = "linux/amd64";
    bool all_platforms = false;
    pull->add_option("ref", pull_ref, "registry/repository[:tag][@sha256:...]")->required();
    pull->add_option("-o,--output", pull_output,
                     "oci:DIR[:TAG] or docker-archive:FILE (default oci:out/NAME)");
    pull->add_option("--platform", pull_platform, "The platform to pull (default linux/amd64)");
    pull->add_flag("--all-platforms", all_platforms, "Pull the whole index, every platform");
    pull->add_option("--cache-dir", cache_dir, "The cache");
    pull->add_flag("--json", as_json, "Print the result as JSON");
    pull->add_flag("-q,--quiet", quiet, "Print only the digest");
    registry_flags.add_to(pull);
    pull->footer(kExitCodes);

    // inspect
    auto* inspect = app.add_subcommand("inspect", "Show an image's manifest, config and layers");
    std::string image_ref, platform_text = "linux/amd64";
    inspect->add_option("image", image_ref, "oci:DIR[:TAG], docker-archive:FILE, or a path")
        ->required();
    inspect->add_option("--platform", platform_text,
                        "Platform to pick from an index (default linux/amd64)");
    inspect->add_flag("--json", as_json, "Print as JSON");
    inspect->footer(kExitCodes);

    // run
    auto* run = app.add_subcommand(
        "run", "Run a command in an image: unpacked into a bundle, run by crun or runc\n"
               "  ocibake run [OPTIONS] IMAGE [COMMAND [ARG...]]   (as docker run; IMAGE is\n"
               "  oci:DIR[:TAG], docker-archive:FILE, a path, or docker://REGISTRY/REPO:TAG)");
    ocibake::cli::RunFlags run_flags;
    ocibake::cli::add_run_options(run, run_flags);
    run->add_option("--cache-dir", cache_dir, "The cache");
    registry_flags.add_to(run);
    run->footer(kExitCodes);

    // test
    auto* test = app.add_subcommand(
        "test", "Run a recipe's [[test]] entries against its image (with crun or runc)");
    std::string test_target, test_recipe, junit_path, runtime_path, keep_bundle;
    test->add_option("target", test_target,
                     "RECIPE.toml (tests the image it builds by default, oci:out/NAME:TAG), or "
                     "an IMAGE with --recipe (oci:DIR[:TAG], docker-archive:FILE, docker://REF)")
        ->required();
    test->add_option("--recipe", test_recipe, "The recipe whose [[test]] entries run");
    std::string test_gpus = "all";
    test->add_option("--gpus", test_gpus,
                     "NVIDIA GPUs for gpu = true tests: all (the default), none, or a list like "
                     "0,1; without one they are skipped");
    test->add_option("--runtime", runtime_path, "The OCI runtime (default: crun, else runc)");
    test->add_option("--junit", junit_path, "Write a JUnit XML report to FILE");
    test->add_flag("--json", as_json, "Print the report as JSON");
    test->add_option("--keep-bundle", keep_bundle,
                     "Unpack into DIR (must not exist) and keep it afterwards");
    test->add_option("--cache-dir", cache_dir, "The cache");
    registry_flags.add_to(test);
    test->footer(kExitCodes);

    // cache
    auto* cache = app.add_subcommand("cache", "Manage the cache");
    cache->require_subcommand(1);
    auto* gc =
        cache->add_subcommand("gc", "Remove cache entries unused for --max-age, and their blobs");
    std::string max_age = "30d";
    bool dry_run = false;
    gc->add_option("--max-age", max_age,
                   "Keep what was used within this long (e.g. 30d, 12h, 0 = drop all)");
    gc->add_flag("--dry-run", dry_run, "Only report what would be removed");
    bool no_verify = false;
    gc->add_flag("--no-verify", no_verify,
                 "Do not re-hash the blobs that are kept (a corrupt one then stays until a build "
                 "reads it)");
    gc->add_option("--cache-dir", cache_dir, "The cache");
    gc->add_flag("--json", as_json, "Print as JSON");
    auto* dir = cache->add_subcommand("dir", "Print the cache directory");
    dir->add_option("--cache-dir", cache_dir, "The cache");
    ocibake_cli::CacheCommands remote_commands;
    remote_commands.add_to(cache);
    for (CLI::App* sub : {remote_commands.push, remote_commands.pull, remote_commands.ls}) {
        sub->add_option("--cache-dir", cache_dir, "The cache");
        sub->add_flag("--json", as_json, "Print as JSON");
        registry_flags.add_to(sub);
    }

    app.add_subcommand("version", "Print the version");

    std::vector<std::string> args = normalize_args(app, argc, argv, *run, run_flags);
    try {
        app.parse(args);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }

    std::unique_ptr<TtyProgress> progress;
    try {
        if (app.got_subcommand("version")) {
            std::cout << "ocibake " << ocibake::version() << "\n";
            return 0;
        }
        if (build->parsed()) {
            ocibake::BuildOptions options;
            options.cache_dir = cache_dir;
            options.threads = threads;
            options.registry = registry_flags.options();
            options.update_lock = update_lock;
            options.locked = locked;
            options.strict = strict;
            options.stand_ins = parse_stand_ins(stand_in_flags);
            if (locked && update_lock) {
                throw ocibake::Error(ocibake::ErrorKind::usage,
                                     "--locked refuses the lock changes --update-lock makes: "
                                     "give one of them");
            }
            cache_flags.apply(options);
            // Pushing without -o writes no local image (a registry base is then never fetched).
            options.write_output = push_refs.empty() || !output.empty();
            if (!output.empty()) {
                options.output = ocibake::OutputTarget::parse(output);
            }
            if (!epoch_flag.empty()) {
                char* end = nullptr;
                long long v = std::strtoll(epoch_flag.c_str(), &end, 10);
                if (*end != '\0' || v < 0) {
                    throw ocibake::Error(ocibake::ErrorKind::usage,
                                         "--source-date-epoch '" + epoch_flag +
                                             "' is not a non-negative integer");
                }
                options.source_date_epoch = v;
            } else {
                options.source_date_epoch = epoch_from_env();
            }
            if (!quiet && !as_json && ::isatty(2)) {
                progress = std::make_unique<TtyProgress>();
                options.progress = progress.get();
            }
            std::optional<NoticesOn> shown;
            shown.emplace(notices, progress.get(), nullptr);
            ocibake::BuildResult result = ocibake::build_recipe_file(recipe_path, options);
            shown.reset();
            if (progress) {
                progress->clear();
            }
            print_base_checks(result);
            print_fetched_elsewhere(result);
            print_stand_ins(result.stand_ins, true);
            if (result.lock_update && !quiet && !as_json) {
                std::printf("the recipe changed: the lock follows it (as `ocibake lock` does; "
                            "--locked refuses this)\n");
                print_lock_diff(result.lock_update->diff, result.lock_update->lock, "changed");
            }
            if (result.lock_written && !quiet && !as_json) {
                std::printf("wrote the lock %s\n", result.lock_file.string().c_str());
            }
            if (push_refs.empty()) {
                auto wrote = cache_flags.write(result, options);
                print_build(result, recipe_path, as_json,
                            {{"remote_cache", ocibake_cli::remote_cache_json(result, wrote)}},
                            quiet);
                ocibake_cli::print_remote_cache(result, wrote, as_json, quiet);
            } else {
                ocibake::Store store(cache_root(cache_dir));
                std::unique_ptr<BlobProgress> bars;
                if (!quiet && !as_json && ::isatty(2)) {
                    bars = std::make_unique<BlobProgress>();
                }
                NoticesOn above_bars(notices, nullptr, bars.get());
                auto pushed = ocibake::registry::push_image(
                    store, result.image, parse_refs(push_refs), registry_flags.options(bars.get()));
                if (bars) {
                    bars->clear();
                }
                auto wrote = cache_flags.write(result, options);
                print_build(result, recipe_path, as_json,
                            {{"push", push_json(pushed)},
                             {"remote_cache", ocibake_cli::remote_cache_json(result, wrote)}},
                            quiet);
                if (!as_json && !quiet) {
                    print_push(pushed, false, false);
                }
                ocibake_cli::print_remote_cache(result, wrote, as_json, quiet);
            }
            write_digest_file(digest_file, result.image.manifest_descriptor.digest);
            return 0;
        }
        if (lock->parsed()) {
            ocibake::BuildOptions options;
            options.registry = registry_flags.options();
            options.cache_dir = cache_dir;
            options.stand_ins = parse_stand_ins(stand_in_flags);
            auto r =
                ocibake::lock_recipe(ocibake::load_recipe(lock_recipe_path), options, lock_options);
            print_stand_ins(r.stand_ins, false);
            if (as_json) {
                json j = {{"file", r.file.string()},
                          {"changed", r.changed},
                          {"written", r.written},
                          {"diff", lock_diff_json(r.diff, r.file)}};
                if (r.lock.base) {
                    j["base"] = {{"ref", r.lock.base->ref},
                                 {"platform", r.lock.base->platform},
                                 {"manifest", r.lock.base->manifest.str()}};
                    if (r.lock.base->index) {
                        j["base"]["index"] = r.lock.base->index.str();
                    }
                }
                if (!r.lock.python.empty()) {
                    j["python"] = json::array();
                    for (const auto& p : r.lock.python) {
                        json wheels = json::array();
                        for (const auto& w : p.wheels) {
                            wheels.push_back({{"name", w.name},
                                              {"version", w.version},
                                              {"file", w.file},
                                              {"url", w.url},
                                              {"path", w.path},
                                              {"size", w.size},
                                              {"sha256", w.sha256.str()}});
                        }
                        j["python"].push_back({{"layer", p.layer},
                                               {"python", p.python},
                                               {"glibc", p.glibc},
                                               {"machine", p.machine},
                                               {"wheels", wheels}});
                    }
                }
                json apt = json::array();
                for (const auto& layer : r.lock.apt) {
                    json packages = json::array();
                    for (const auto& p : layer.installs) {
                        packages.push_back({{"name", p.name},
                                            {"version", p.version},
                                            {"arch", p.arch},
                                            {"source", p.source},
                                            {"url", p.url},
                                            {"size", p.size},
                                            {"sha256", p.sha256.str()}});
                    }
                    apt.push_back({{"layer", layer.layer},
                                   {"requested", layer.packages},
                                   {"recommends", layer.recommends},
                                   {"packages", packages}});
                }
                j["apt"] = apt;
                std::cout << j.dump(2) << "\n";
            } else {
                if (r.lock.base) {
                    std::printf("base %s (%s) -> %s\n", r.lock.base->ref.c_str(),
                                r.lock.base->platform.c_str(), r.lock.base->manifest.str().c_str());
                }
                for (const auto& p : r.lock.python) {
                    std::printf("layer %s: %zu wheels for CPython %s%s%s, %s\n", p.layer.c_str(),
                                p.wheels.size(), p.python.c_str(),
                                p.glibc.empty() ? "" : ", glibc ", p.glibc.c_str(),
                                p.machine.c_str());
                }
                for (const auto& layer : r.lock.apt) {
                    std::uint64_t bytes = 0;
                    for (const auto& p : layer.installs) {
                        bytes += p.size;
                    }
                    std::printf("layer %s: %zu packages, %s\n", layer.layer.c_str(),
                                layer.installs.size(), human_size(bytes).c_str());
                }
                if (!r.diff.empty()) {
                    std::printf("\n");
                    print_lock_diff(r.diff, r.lock,
                                    lock_options.dry_run  ? "would change"
                                    : lock_options.update ? "updated"
                                                          : "changed");
                }
                std::printf("%s %s\n",
                            !r.changed             ? "unchanged:"
                            : lock_options.dry_run ? "would write"
                                                   : "wrote",
                            r.file.string().c_str());
            }
            return 0;
        }
        if (outdated->parsed()) {
            ocibake::BuildOptions options;
            options.registry = registry_flags.options();
            options.cache_dir = cache_dir;
            ocibake::LockOptions o = outdated_options;
            o.update = true;
            o.dry_run = true;
            auto r = ocibake::lock_recipe(ocibake::load_recipe(outdated_recipe), options, o);
            if (as_json) {
                json j = lock_diff_json(r.diff, r.file);
                j["recipe"] = outdated_recipe;
                std::cout << j.dump(2) << "\n";
            } else if (r.diff.empty()) {
                std::printf("%s is up to date\n", r.file.string().c_str());
            } else {
                print_lock_diff(r.diff, r.lock, "outdated");
            }
            return r.diff.empty() ? 0 : r.diff.security() ? kExitSecurityUpdates : kExitUpdates;
        }
        if (push->parsed()) {
            auto source = ocibake::OutputTarget::parse(push_image_ref);
            if (source.kind != ocibake::OutputTarget::Kind::oci_layout) {
                throw ocibake::Error(
                    ocibake::ErrorKind::usage,
                    "push takes an OCI layout (oci:DIR[:TAG]); a docker archive holds "
                    "uncompressed layers");
            }
            ocibake::Store store(cache_root(cache_dir));
            std::unique_ptr<BlobProgress> bars;
            if (!quiet && !as_json && ::isatty(2)) {
                bars = std::make_unique<BlobProgress>();
            }
            NoticesOn above_bars(notices, nullptr, bars.get());
            auto r = ocibake::registry::push_layout(store, source.path, source.reference,
                                                    parse_refs(push_targets),
                                                    registry_flags.options(bars.get()));
            if (bars) {
                bars->clear();
            }
            print_push(r, as_json, quiet);
            write_digest_file(digest_file, r.digest);
            return 0;
        }
        if (pull->parsed()) {
            auto ref = ocibake::registry::Reference::parse(pull_ref);
            std::string name = ref.repository.substr(ref.repository.rfind('/') + 1);
            auto output =
                ocibake::OutputTarget::parse(pull_output.empty() ? "oci:out/" + name : pull_output);
            std::optional<ocibake::oci::Platform> platform;
            if (!all_platforms) {
                platform = ocibake::oci::Platform::parse(pull_platform);
            }
            ocibake::Store store(cache_root(cache_dir));
            std::unique_ptr<BlobProgress> bars;
            if (!quiet && !as_json && ::isatty(2)) {
                bars = std::make_unique<BlobProgress>();
            }
            NoticesOn above_bars(notices, nullptr, bars.get());
            auto r = ocibake::registry::pull(store, ref, output, platform,
                                             registry_flags.options(bars.get()));
            if (bars) {
                bars->clear();
            }
            if (as_json) {
                std::cout << json{{"digest", r.digest.str()},
                                  {"output", output.str()},
                                  {"stats", stats_json(r.stats)}}
                                 .dump(2)
                          << "\n";
            } else if (quiet) {
                std::cout << r.digest.str() << "\n";
            } else {
                std::printf(
                    "%s -> %s\n  %llu blobs fetched (%s); %s\n", r.digest.str().c_str(),
                    output.str().c_str(), static_cast<unsigned long long>(r.stats.blobs_fetched),
                    human_size(r.stats.bytes_fetched).c_str(), seconds(r.stats.seconds).c_str());
            }
            return 0;
        }
        if (inspect->parsed()) {
            auto platform = ocibake::oci::Platform::parse(platform_text);
            print_inspect(ocibake::inspect_image(image_ref, platform), as_json);
            return 0;
        }
        if (run->parsed()) {
            return ocibake::cli::run_command_in_image(run_flags, cache_dir,
                                                      registry_flags.options());
        }
        if (test->parsed()) {
            return test_image({test_target, test_recipe, junit_path, runtime_path, keep_bundle,
                               cache_dir, as_json, test_gpus, registry_flags.options()});
        }
        if (remote_commands.parsed()) {
            return remote_commands.run(cache_dir, as_json, registry_flags.options());
        }
        if (gc->parsed()) {
            ocibake::GcOptions options;
            options.max_age = parse_age(max_age);
            options.dry_run = dry_run;
            options.verify = !no_verify;
            auto r = ocibake::collect_garbage(cache_dir, options);
            if (as_json) {
                std::cout << json{{"records_removed", r.records_removed},
                                  {"blobs_removed", r.blobs_removed},
                                  {"bytes_removed", r.bytes_removed},
                                  {"temp_files_removed", r.temp_files_removed},
                                  {"blobs_kept", r.blobs_kept},
                                  {"bytes_kept", r.bytes_kept},
                                  {"corrupt_blobs", dropped_json(r.corrupt)},
                                  {"dry_run", dry_run}}
                                 .dump(2)
                          << "\n";
            } else {
                for (const auto& d : r.corrupt) {
                    std::printf("%s corrupt blob %s (%s): %s\n",
                                dry_run ? "would remove" : "removed", d.digest.str().c_str(),
                                d.path.c_str(), d.reason.c_str());
                }
                std::printf(
                    "%s %llu records, %llu blobs (%s), %llu temp files; kept %llu blobs (%s)\n",
                    dry_run ? "would remove" : "removed",
                    static_cast<unsigned long long>(r.records_removed),
                    static_cast<unsigned long long>(r.blobs_removed),
                    human_size(r.bytes_removed).c_str(),
                    static_cast<unsigned long long>(r.temp_files_removed),
                    static_cast<unsigned long long>(r.blobs_kept),
                    human_size(r.bytes_kept).c_str());
            }
            return 0;
        }
        if (dir->parsed()) {
            std::cout << cache_root(cache_dir).string() << "\n";
            return 0;
        }
        std::cerr << app.help();
        return 2;
    } catch (const ocibake::Error& e) {
        if (progress) {
            progress->clear();
        }
        if (as_json) {
            std::cout << json{{"error",
                               {{"kind", ocibake::to_string(e.kind())}, {"message", e.what()}}}}
                             .dump(2)
                      << "\n";
        }
        if (dynamic_cast<const ocibake::RecipeError*>(&e) != nullptr) {
            std::cerr << e.what() << "\n";
        } else {
            std::cerr << "ocibake: error: " << e.what() << "\n";
        }
        return ocibake::exit_code_for(e.kind());
    } catch (const std::exception& e) {
        if (progress) {
            progress->clear();
        }
        std::cerr << "ocibake: internal error: " << e.what() << "\n";
        return 1;
    }
}
