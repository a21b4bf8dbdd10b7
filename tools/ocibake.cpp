// The ocibake command line: parses flags, calls the library, prints. No image logic here.
#include "ocibake/ocibake.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

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
#include <unistd.h>

namespace {

using json = nlohmann::json;

constexpr const char* kExitCodes = R"(Exit codes:
  0  success
  1  internal error (a bug: please report it)
  2  usage error (bad flags or arguments)
  3  recipe error (malformed recipe or fragment)
  4  input error (a file the recipe names is missing, unreadable or unsafe)
  5  I/O error (writing the output or the cache failed)
  6  integrity error (bytes do not match their digest, corrupt image)
  7  tests failed (ocibake test: at least one test did not pass)
  8  runtime error (no working OCI runtime, a broken GPU setup on the host)
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
        std::fprintf(stderr, "\r\033[K%s", line.substr(0, 150).c_str());
        std::fflush(stderr);
    }

    std::mutex mutex_;
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> active_;
    std::chrono::steady_clock::time_point last_{};
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
    }
    return "?";
}

json descriptor_json(const ocibake::oci::Descriptor& d) {
    return {{"digest", d.digest.str()}, {"size", d.size}, {"media_type", d.media_type}};
}

void print_build(const ocibake::BuildResult& r, const std::string& recipe, bool as_json,
                 bool quiet) {
    const auto& image = r.image;
    if (as_json) {
        json layers = json::array();
        for (const auto& l : r.layers) {
            layers.push_back({{"name", l.name},
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
            {"output", r.output.str()},
            {"layers", layers},
            {"layers_built", r.layers_built()},
            {"timings",
             {{"total", r.seconds}, {"layers", r.layer_seconds}, {"output", r.output_seconds}}}};
        std::cout << out.dump(2) << "\n";
        return;
    }
    if (quiet) {
        std::cout << image.manifest_descriptor.digest.str() << "\n";
        return;
    }
    std::uint64_t total = 0;
    std::size_t own = 0;
    for (const auto& l : r.layers) {
        total += l.layer.descriptor.size;
        if (!l.from_base) {
            ++own;
            std::printf("  layer %-20s %-8s %10s  %s  %s\n", l.name.c_str(), cache_word(l).c_str(),
                        human_size(l.layer.descriptor.size).c_str(),
                        l.layer.descriptor.digest.str().substr(0, 19).c_str(),
                        seconds(l.seconds).c_str());
        }
    }
    std::size_t base = r.layers.size() - own;
    if (own > 0 && r.layers_built() == 0) {
        std::printf("  nothing to rebuild: all %zu layers were cached\n", own);
    }
    std::printf("%s -> %s\n", image.manifest_descriptor.digest.str().c_str(),
                r.output.str().c_str());
    std::printf("  %zu layers (%zu from the base, %zu built), %s compressed, %s\n", r.layers.size(),
                base, r.layers_built(), human_size(total).c_str(), seconds(r.seconds).c_str());
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

struct RunArgs {
    std::string image;
    std::vector<std::string> command;
    std::vector<std::string> volumes;
    std::vector<std::string> env;
    std::string network;
    bool read_only = false;
    std::string user;
    std::string workdir;
    std::optional<std::string> entrypoint;
    std::string runtime;
    std::string keep_bundle;
    std::string cache_dir;
    std::string gpus;
};

ocibake::RuntimeSearch runtime_search(const std::string& runtime) {
    ocibake::RuntimeSearch search;
    if (!runtime.empty()) {
        search.runtime = runtime;
    }
    return search;
}

/// A bundle directory removed at the end unless the user keeps it.
struct BundleDir {
    std::filesystem::path path;
    bool keep = false;
    explicit BundleDir(const std::string& keep_dir)
        : path(keep_dir.empty() ? ocibake::new_bundle_path() : std::filesystem::path(keep_dir)),
          keep(!keep_dir.empty()) {}
    ~BundleDir() {
        if (!keep) {
            std::error_code ec;
            std::filesystem::remove_all(path, ec);
        }
    }
};

int run_command_in_image(const RunArgs& a) {
    ocibake::ContainerOverrides o;
    if (a.entrypoint) {
        std::vector<std::string> args;
        if (!a.entrypoint->empty()) {
            args.push_back(*a.entrypoint);
        }
        args.insert(args.end(), a.command.begin(), a.command.end());
        o.args = args;
    } else if (!a.command.empty()) {
        o.cmd = a.command;
    }
    for (const std::string& kv : a.env) {
        if (kv.empty() || kv[0] == '=') {
            throw ocibake::Error(ocibake::ErrorKind::usage, "-e '" + kv + "' must be KEY=VALUE");
        }
        o.env.push_back(kv.find('=') == std::string::npos
                            ? kv + "=" + (std::getenv(kv.c_str()) ? std::getenv(kv.c_str()) : "")
                            : kv);
    }
    for (const std::string& v : a.volumes) {
        o.mounts.push_back(ocibake::Mount::parse_volume(v));
    }
    o.network = a.network == "host" ? ocibake::Network::host : ocibake::Network::none;
    o.read_only_root = a.read_only;
    if (!a.user.empty()) {
        o.user = a.user;
    }
    if (!a.workdir.empty()) {
        o.workdir = a.workdir;
    }
    o.terminal = ::isatty(0) && ::isatty(1);
    ocibake::GpuRequest gpus = ocibake::GpuRequest::parse(a.gpus);
    ocibake::OciRuntime runtime = ocibake::find_runtime(runtime_search(a.runtime));
    ocibake::Store store(a.cache_dir.empty() ? ocibake::Store::default_root()
                                             : std::filesystem::path(a.cache_dir));
    ocibake::SourceImage image = ocibake::load_image(store, a.image);
    BundleDir dir(a.keep_bundle);
    ocibake::Bundle bundle = ocibake::Bundle::create(store, image, dir.path);
    ocibake::ContainerSpec spec = bundle.spec_for(o);
    if (gpus.kind != ocibake::GpuRequest::Kind::none) {
        auto edits = ocibake::find_gpus({}, gpus, spec.env);
        if (!edits) {
            throw ocibake::Error(ocibake::ErrorKind::runtime,
                                 "--gpus " + a.gpus + ": " +
                                     ocibake::no_gpu_reason({}, gpus, spec.env));
        }
        std::fprintf(stderr, "ocibake: %s\n", edits->summary().c_str());
        ocibake::apply_gpu_edits(*edits, bundle, spec);
    }
    return runtime.run_attached(bundle, spec);
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
    options.runtime = runtime_search(a.runtime);
    options.gpus = ocibake::GpuRequest::parse(a.gpus);
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
std::vector<std::string> normalize_args(int argc, char** argv) {
    static const std::set<std::string> commands = {"build", "inspect", "run", "test",
                                                   "cache", "version", "help"};
    std::vector<std::string> args(argv + 1, argv + argc);
    if (!args.empty() && args[0] == "help") {
        args[0] = "--help";
    }
    static const std::set<std::string> top_level = {"-h", "--help", "--version"};
    if (!args.empty() && commands.count(args[0]) == 0 && top_level.count(args[0]) == 0) {
        args.insert(args.begin(), "build");
    }
    std::reverse(args.begin(), args.end()); // CLI11 takes them reversed
    return args;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"ocibake: reproducible OCI images from pinned recipes, without Docker.\n\n"
                 "  ocibake RECIPE.toml              build (same as `ocibake build RECIPE.toml`)\n"
                 "  ocibake inspect oci:out/NAME     show an image's manifest, config and layers\n"
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
    build->footer(kExitCodes);

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
        "run", "Run a command in an image: unpacked into a bundle, run by crun or runc");
    std::string run_image, network = "none", run_user, run_workdir, keep_bundle, runtime_path;
    std::vector<std::string> run_command, volumes, run_env;
    std::optional<std::string> entrypoint;
    bool read_only = false;
    run->add_option("image", run_image, "oci:DIR[:TAG], docker-archive:FILE, or a path")
        ->required();
    run->add_option("command", run_command,
                    "Replaces the image's cmd (the entrypoint stays); write it after --");
    run->add_option("-v,--volume", volumes, "Bind mount HOST:CONTAINER[:ro|:rw]");
    run->add_option("-e,--env", run_env, "Set KEY=VALUE in the container");
    run->add_option("--network", network, "none (loopback only, the default) or host")
        ->check(CLI::IsMember({"none", "host"}));
    run->add_flag("--read-only", read_only, "Mount the image's root file system read-only");
    run->add_option("-u,--user", run_user, "User: name, uid, name:group or uid:gid");
    run->add_option("-w,--workdir", run_workdir, "Working directory in the container");
    run->add_option("--entrypoint", entrypoint,
                    "Replaces the entrypoint (\"\" clears it; the command follows it)");
    std::string run_gpus = "none";
    run->add_option("--gpus", run_gpus, "NVIDIA GPUs: none (the default), all, or a list like 0,1");
    run->add_option("--runtime", runtime_path, "The OCI runtime (default: crun, else runc)");
    run->add_option("--keep-bundle", keep_bundle,
                    "Unpack into DIR (must not exist) and keep it afterwards");
    run->add_option("--cache-dir", cache_dir, "The cache");
    run->footer(kExitCodes);

    // test
    auto* test = app.add_subcommand(
        "test", "Run a recipe's [[test]] entries against its image (with crun or runc)");
    std::string test_target, test_recipe, junit_path;
    test->add_option("target", test_target,
                     "RECIPE.toml (tests the image it builds by default, oci:out/NAME:TAG), or "
                     "an IMAGE with --recipe")
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
    gc->add_option("--cache-dir", cache_dir, "The cache");
    gc->add_flag("--json", as_json, "Print as JSON");
    auto* dir = cache->add_subcommand("dir", "Print the cache directory");
    dir->add_option("--cache-dir", cache_dir, "The cache");

    app.add_subcommand("version", "Print the version");

    std::vector<std::string> args = normalize_args(argc, argv);
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
            ocibake::BuildResult result = ocibake::build_recipe_file(recipe_path, options);
            if (progress) {
                progress->clear();
            }
            print_build(result, recipe_path, as_json, quiet);
            return 0;
        }
        if (inspect->parsed()) {
            auto platform = ocibake::oci::Platform::parse(platform_text);
            print_inspect(ocibake::inspect_image(image_ref, platform), as_json);
            return 0;
        }
        if (run->parsed()) {
            return run_command_in_image({run_image, run_command, volumes, run_env, network,
                                         read_only, run_user, run_workdir, entrypoint, runtime_path,
                                         keep_bundle, cache_dir, run_gpus});
        }
        if (test->parsed()) {
            return test_image({test_target, test_recipe, junit_path, runtime_path, keep_bundle,
                               cache_dir, as_json, test_gpus});
        }
        if (gc->parsed()) {
            ocibake::GcOptions options;
            options.max_age = parse_age(max_age);
            options.dry_run = dry_run;
            auto r = ocibake::collect_garbage(cache_dir, options);
            if (as_json) {
                std::cout << json{{"records_removed", r.records_removed},
                                  {"blobs_removed", r.blobs_removed},
                                  {"bytes_removed", r.bytes_removed},
                                  {"temp_files_removed", r.temp_files_removed},
                                  {"blobs_kept", r.blobs_kept},
                                  {"bytes_kept", r.bytes_kept},
                                  {"dry_run", dry_run}}
                                 .dump(2)
                          << "\n";
            } else {
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
            std::cout << (cache_dir.empty() ? ocibake::Store::default_root().string() : cache_dir)
                      << "\n";
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
