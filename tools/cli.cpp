// What the subcommands share (cli.hpp).
#include "cli.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sys/ioctl.h>
#include <unistd.h>

namespace ocibake::cli {

const char* const kExitCodes = R"(Exit codes:
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

// ---- TtyProgress ---------------------------------------------------------------------

void TtyProgress::layer_started(std::string_view name, std::uint64_t total) {
    std::lock_guard lock(mutex_);
    active_[std::string(name)] = {0, total};
    draw(true);
}

void TtyProgress::layer_progress(std::string_view name, std::uint64_t done) {
    std::lock_guard lock(mutex_);
    active_[std::string(name)].first = done;
    draw(false);
}

void TtyProgress::layer_finished(std::string_view name) {
    std::lock_guard lock(mutex_);
    active_.erase(std::string(name));
    draw(true);
}

void TtyProgress::clear() {
    std::lock_guard lock(mutex_);
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
}

void TtyProgress::fetch_started(std::string_view url) {
    std::lock_guard lock(mutex_);
    fetching_.push_back(std::string(url));
    draw(fetching_.size() == 1);
}

void TtyProgress::fetch_finished(std::string_view url) {
    std::lock_guard lock(mutex_);
    auto at = std::find(fetching_.begin(), fetching_.end(), url);
    if (at != fetching_.end()) {
        fetching_.erase(at);
    }
    draw(fetching_.empty());
}

void TtyProgress::print_above(const std::string& text) {
    std::lock_guard lock(mutex_);
    std::fprintf(stderr, "\r\033[Kocibake: %s\n", text.c_str());
    draw(true);
}

std::string TtyProgress::fetching_text() const {
    const std::string& url = fetching_.front();
    auto scheme = url.find("://");
    auto host_end = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    std::string host =
        url.substr(scheme == std::string::npos ? 0 : scheme + 3,
                   host_end == std::string::npos ? std::string::npos : host_end - scheme - 3);
    std::string file = url.substr(url.rfind('/') + 1);
    std::string text = "fetching " + (file.empty() ? url : file + " from " + host);
    if (fetching_.size() > 1) {
        text += " and " + std::to_string(fetching_.size() - 1) + " more";
    }
    return text;
}

void TtyProgress::draw(bool force) {
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
        line += (line.empty() ? "" : "; ") + fetching_text();
    }
    std::fprintf(stderr, "\r\033[K%s", line.substr(0, 150).c_str());
    std::fflush(stderr);
}

// ---- BlobProgress --------------------------------------------------------------------

namespace {

std::size_t columns() {
    winsize ws{};
    if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) {
        return ws.ws_col;
    }
    return 80;
}

} // namespace

void BlobProgress::update(const Digest& digest, std::uint64_t done, std::uint64_t total) {
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

void BlobProgress::clear() {
    std::lock_guard lock(mutex_);
    active_.clear();
    draw();
    drawn_ = 0;
}

void BlobProgress::print_above(const std::string& text) {
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

std::string BlobProgress::row_text(const Row& r, std::size_t width) {
    constexpr std::size_t kBar = 24;
    std::size_t filled =
        static_cast<std::size_t>(kBar * r.done / std::max<std::uint64_t>(r.total, 1));
    std::string line = r.name + " [" + std::string(filled, '#') + std::string(kBar - filled, '.') +
                       "] " + std::to_string(100 * r.done / std::max<std::uint64_t>(r.total, 1)) +
                       "% " + human_size(r.done) + " / " + human_size(r.total);
    return line.substr(0, width - 1);
}

// Redraws the block of lines in place: the cursor rests at the start of the block's last
// line, so the next draw goes up that many lines first.
void BlobProgress::draw() {
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

// ---- Notices -------------------------------------------------------------------------

void Notices::show_on(TtyProgress* tty, BlobProgress* bars) {
    std::lock_guard lock(mutex_);
    tty_ = tty;
    bars_ = bars;
}

void Notices::say(const std::string& text) {
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

void Notices::retrying(const http::Retry& r) {
    char delay[32];
    std::snprintf(delay, sizeof delay, "%.1f s", std::chrono::duration<double>(r.delay).count());
    say(r.host + ": " + r.reason + "; attempt " + std::to_string(r.attempt) + " of " +
        std::to_string(r.attempts) + " in " + delay);
}

void Notices::request_started(std::string_view url) {
    std::lock_guard lock(mutex_);
    if (tty_ != nullptr) {
        tty_->fetch_started(url);
    }
}

void Notices::request_finished(std::string_view url) {
    std::lock_guard lock(mutex_);
    if (tty_ != nullptr) {
        tty_->fetch_finished(url);
    }
}

// ---- RegistryFlags -------------------------------------------------------------------

namespace {

std::uint64_t parse_size(const std::string& text) {
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
        throw Error(ErrorKind::usage, "size '" + text + "' is not like 512K, 64M or 1G");
    }
    return n * mult;
}

} // namespace

void RegistryFlags::add_to(CLI::App* app) {
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

registry::Options RegistryFlags::options(BlobProgress* progress) const {
    registry::Options o;
    if (progress != nullptr) {
        o.progress = [progress](const Digest& d, std::uint64_t done, std::uint64_t total) {
            progress->update(d, done, total);
        };
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
            throw Error(ErrorKind::usage, "--creds takes USER:PASSWORD");
        }
        o.creds = registry::Credentials{creds.substr(0, colon), creds.substr(colon + 1), ""};
    }
    o.chunk_size = parse_size(chunk_size);
    o.monolithic_limit = std::min<std::uint64_t>(o.monolithic_limit, o.chunk_size);
    return o;
}

// ---- Shared and the helpers ----------------------------------------------------------

void Shared::add_cache_dir(CLI::App* app, const std::string& help) {
    app->add_option("--cache-dir", cache_dir, help);
}

void Shared::add_json(CLI::App* app, const std::string& help) {
    app->add_flag("--json", as_json, help);
}

Command Shared::registry_command(CLI::App* app, std::function<int()> run) {
    registry.add_to(app);
    app->footer(kExitCodes);
    return {app, std::move(run)};
}

std::unique_ptr<BlobProgress> Shared::blob_bars() const {
    if (!quiet && !as_json && ::isatty(2)) {
        return std::make_unique<BlobProgress>();
    }
    return nullptr;
}

std::filesystem::path cache_root(const std::string& flag) {
    return flag.empty() ? Store::default_root() : std::filesystem::path(flag);
}

void print_json(const std::string& document) {
    std::cout << document << "\n";
}

void write_digest_file(const std::string& path, const Digest& digest) {
    if (path.empty()) {
        return;
    }
    std::ofstream out(path, std::ios::trunc);
    out << digest.str() << "\n";
    if (!out) {
        throw Error(ErrorKind::io, "cannot write --digest-file " + path);
    }
}

std::vector<registry::Reference> parse_refs(const std::vector<std::string>& texts) {
    std::vector<registry::Reference> refs;
    for (const auto& t : texts) {
        refs.push_back(registry::Reference::parse(t));
    }
    return refs;
}

std::map<std::string, std::filesystem::path>
parse_stand_ins(const std::vector<std::string>& flags) {
    std::map<std::string, std::filesystem::path> out;
    for (const std::string& f : flags) {
        auto eq = f.find('=');
        if (eq == 0 || eq == std::string::npos || eq + 1 == f.size()) {
            throw Error(ErrorKind::usage, "--stand-in '" + f + "': give PACKAGE=ARCHIVE");
        }
        if (!out.emplace(f.substr(0, eq), f.substr(eq + 1)).second) {
            throw Error(ErrorKind::usage, "--stand-in " + f.substr(0, eq) + " is given twice");
        }
    }
    return out;
}

void print_stand_ins(const std::vector<StandIn>& stand_ins, bool built) {
    for (const auto& s : stand_ins) {
        std::string after = built ? "the image is labelled org.ocibake.stand-in." + s.package +
                                        " and is not the recipe's"
                                  : "that layer was not locked (its entry, if any, is kept as "
                                    "it is)";
        std::fprintf(stderr,
                     "STAND-IN: layer '%s' takes the payload of %s from %s (%s, %llu bytes) "
                     "instead of %s; %s\n",
                     s.layer.c_str(), s.package.c_str(), s.file.string().c_str(),
                     s.sha256.str().c_str(), static_cast<unsigned long long>(s.size),
                     s.replaces.c_str(), after.c_str());
    }
}

} // namespace ocibake::cli
