// What the subcommands of the ocibake command line share: the state main keeps for them,
// the registry flags, progress on a terminal, sizes and times as printed.
#pragma once

#include "ocibake/ocibake.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ocibake::cli {

/// The exit codes, as every --help ends (docs/cli.md has them too).
extern const char* const kExitCodes;

/// "1.0 MB": decimal units, one decimal (bytes: none).
std::string human_size(std::uint64_t bytes);
/// "0.08s".
std::string seconds(double s);

/// Progress on a terminal: one status line on stderr, redrawn at most 10 times a second.
class TtyProgress final : public Progress {
public:
    void layer_started(std::string_view name, std::uint64_t total) override;
    void layer_progress(std::string_view name, std::uint64_t done) override;
    void layer_finished(std::string_view name) override;
    void clear();
    /// What is being downloaded: "fetching FILE from HOST" (and how many more).
    void fetch_started(std::string_view url);
    void fetch_finished(std::string_view url);
    /// A line of its own above the status line.
    void print_above(const std::string& text);

private:
    void draw(bool force);
    std::string fetching_text() const;

    std::mutex mutex_;
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> active_;
    std::vector<std::string> fetching_; // URLs in flight, in the order they started
    std::chrono::steady_clock::time_point last_{};
};

/// Progress of blob transfers on a terminal: a bar per blob in flight, on stderr, redrawn
/// in place at most ten times a second.
class BlobProgress {
public:
    void update(const Digest& digest, std::uint64_t done, std::uint64_t total);
    void clear();
    /// A line of its own above the bars.
    void print_above(const std::string& text);

private:
    struct Row {
        std::string name;
        std::uint64_t done = 0, total = 0;
    };
    static constexpr std::size_t kMaxRows = 8;
    static std::string row_text(const Row& r, std::size_t width);
    void draw();

    std::mutex mutex_;
    std::vector<Row> active_; // in the order they started
    std::size_t drawn_ = 0;   // lines the last draw left on the terminal
    std::chrono::steady_clock::time_point last_{};
};

/// Lines to read while the network is waited on (a retry: what, how long; an upload that
/// starts again, and why), on stderr, above the progress drawn there when there is one.
class Notices final : public http::Observer {
public:
    void show_on(TtyProgress* tty, BlobProgress* bars);
    void say(const std::string& text);
    void retrying(const http::Retry& r) override;
    void request_started(std::string_view url) override;
    void request_finished(std::string_view url) override;

private:
    std::mutex mutex_;
    TtyProgress* tty_ = nullptr;
    BlobProgress* bars_ = nullptr;
};

/// Shows notices above `tty` or `bars` for as long as it lives.
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

/// Flags every registry-speaking subcommand takes.
struct RegistryFlags {
    std::vector<std::string> insecure;
    std::string ca_file;
    std::string creds;
    std::string auth_file;
    unsigned parallel = 4;
    std::string chunk_size = "128M";
    Notices* notices = nullptr; // retries and upload restarts are said here

    void add_to(CLI::App* app);
    /// The options these flags ask for; blob transfers drawn on `progress` when given.
    registry::Options options(BlobProgress* progress = nullptr) const;
};

/// What main keeps for the subcommands: the flags several of them take (each adds its
/// own), and what it needs when one fails.
/// A subcommand: its CLI11 app, and what runs when it was given (returns the exit code).
struct Command {
    CLI::App* app = nullptr;
    std::function<int()> run;
};

struct Shared {
    bool as_json = false;
    bool quiet = false;
    std::string cache_dir;
    Notices notices;
    RegistryFlags registry;
    /// The build's status line, cleared when the command fails.
    std::unique_ptr<TtyProgress> progress;

    Shared() { registry.notices = &notices; }
    Shared(const Shared&) = delete;
    Shared& operator=(const Shared&) = delete;
    /// Adds --cache-dir to `app`.
    void add_cache_dir(CLI::App* app, const std::string& help = "The cache");
    /// Adds --json to `app`.
    void add_json(CLI::App* app, const std::string& help);
    /// The end of a subcommand that reaches registries: the registry flags (its last
    /// options) and the exit codes' footer added to `app`, which runs `run`.
    Command registry_command(CLI::App* app, std::function<int()> run);
    /// A bar per blob when stderr is a terminal and neither --quiet nor --json was given.
    std::unique_ptr<BlobProgress> blob_bars() const;
};

/// Each subcommand adds itself to `app` (cmd_<name>.cpp).
Command add_build(CLI::App& app, Shared& shared);
Command add_lock(CLI::App& app, Shared& shared);
Command add_outdated(CLI::App& app, Shared& shared);
Command add_push(CLI::App& app, Shared& shared);
Command add_pull(CLI::App& app, Shared& shared);
Command add_inspect(CLI::App& app, Shared& shared);
/// `ocibake test` (cmd_test.cpp); `run` is add_run (cmd_run.hpp), `ps`, `stop`, `exec`,
/// `logs`, `rm` add_container_commands (cmd_container.hpp).
Command add_test(CLI::App& app, Shared& shared);
/// `cache gc`, `cache dir`, `cache push|pull|ls`, under `app`'s `cache`.
std::vector<Command> add_cache(CLI::App& app, Shared& shared);

/// The cache directory: the flag, else Store::default_root().
std::filesystem::path cache_root(const std::string& flag);
/// A JSON document (json.hpp) on stdout, with a newline.
void print_json(const std::string& document);
/// Writes `digest` and a newline to `path` (nothing when it is empty).
void write_digest_file(const std::string& path, const Digest& digest);
/// The references as given.
std::vector<registry::Reference> parse_refs(const std::vector<std::string>& texts);
/// The lock diff as tables (cmd_lock.cpp); `label` starts the summary line ("outdated",
/// "updated", "would change").
void print_lock_diff(const LockDiff& d, const Lock& after, const char* label);
/// A push as `ocibake push` prints it (cmd_push.cpp).
void print_push_text(const registry::PushResult& r);
/// `--stand-in PACKAGE=ARCHIVE` (repeatable, on build and lock) into
/// BuildOptions::stand_ins; a malformed or repeated one is a usage error.
std::map<std::string, std::filesystem::path> parse_stand_ins(const std::vector<std::string>& flags);
/// One line on stderr per stand-in: never silent (`built` after a build, else a lock).
void print_stand_ins(const std::vector<StandIn>& stand_ins, bool built);

} // namespace ocibake::cli
