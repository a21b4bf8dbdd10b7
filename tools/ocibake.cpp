// The ocibake command line: each subcommand parses its flags, calls the library and
// prints (tools/cmd_<name>.cpp); main dispatches and turns errors into exit codes.
#include "cli.hpp"
#include "cmd_container.hpp"
#include "cmd_run.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

using ocibake::cli::Command;
using ocibake::cli::Shared;

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

/// Every subcommand, in the order --help lists them; only `run` when `only_run`.
std::vector<Command> add_commands(CLI::App& app, Shared& s, ocibake::cli::RunFlags& run_flags,
                                  bool only_run) {
    namespace cli = ocibake::cli;
    if (only_run) {
        return {cli::add_run(app, s, run_flags)};
    }
    std::vector<Command> commands = {cli::add_build(app, s),          cli::add_lock(app, s),
                                     cli::add_outdated(app, s),       cli::add_push(app, s),
                                     cli::add_pull(app, s),           cli::add_inspect(app, s),
                                     cli::add_run(app, s, run_flags), cli::add_test(app, s)};
    for (Command& c : cli::add_container_commands(app)) {
        commands.push_back(std::move(c));
    }
    for (Command& c : cli::add_cache(app, s)) {
        commands.push_back(std::move(c));
    }
    commands.push_back({app.add_subcommand("version", "Print the version"), [] {
                            std::cout << "ocibake " << ocibake::version() << "\n";
                            return 0;
                        }});
    return commands;
}

/// The error on stderr (and as JSON on stdout with --json); returns its exit code.
int report_error(const ocibake::Error& e, Shared& s) {
    if (s.progress) {
        s.progress->clear();
    }
    if (s.as_json) {
        ocibake::cli::print_json(ocibake::to_json(e));
    }
    if (dynamic_cast<const ocibake::RecipeError*>(&e) != nullptr) {
        std::cerr << e.what() << "\n";
    } else {
        std::cerr << "ocibake: error: " << e.what() << "\n";
    }
    return ocibake::exit_code_for(e.kind());
}

int run_cli(int argc, char** argv) {
    CLI::App app{"ocibake: reproducible OCI images from pinned recipes, without Docker.\n\n"
                 "  ocibake RECIPE.toml              build (same as `ocibake build RECIPE.toml`)\n"
                 "  ocibake inspect oci:out/NAME     show an image's manifest, config and layers\n"
                 "  ocibake push oci:out/NAME REF    push to a registry; ocibake pull REF fetches\n"
                 "  ocibake cache gc                 drop cache entries unused for 30 days",
                 "ocibake"};
    app.footer(ocibake::cli::kExitCodes);
    app.require_subcommand(0, 1);
    app.set_version_flag("--version", std::string("ocibake ") + ocibake::version());

    Shared shared;
    ocibake::cli::RunFlags run_flags;
    // `ocibake run ...` sets up only `run`: CLI11 building the other subcommands' options
    // took 2 ms of every start, and a warm run's start is what users wait for (and what
    // bench/run.sh holds against runc's).
    bool only_run = argc > 1 && std::string_view(argv[1]) == "run";
    std::vector<Command> commands = add_commands(app, shared, run_flags, only_run);
    CLI::App* run = app.get_subcommand("run");
    std::vector<std::string> args = normalize_args(app, argc, argv, *run, run_flags);
    try {
        app.parse(args);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    try {
        for (const Command& c : commands) {
            if (c.app->parsed()) {
                return c.run();
            }
        }
        std::cerr << app.help();
        return 2;
    } catch (const ocibake::Error& e) {
        return report_error(e, shared);
    } catch (const std::exception& e) {
        if (shared.progress) {
            shared.progress->clear();
        }
        std::cerr << "ocibake: internal error: " << e.what() << "\n";
        return 1;
    }
}

} // namespace

// GCC says __SANITIZE_ADDRESS__; clang, __has_feature.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define OCIBAKE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define OCIBAKE_SANITIZED 1
#endif
#endif

int main(int argc, char** argv) {
    int rc = run_cli(argc, argv);
#ifdef OCIBAKE_SANITIZED
    return rc; // the sanitizers' leak and race reports run at exit
#else
    // Everything the command made is gone by now (its scope has ended). What exit() would
    // still do is run the shared libraries' destructors (OpenSSL's cleanup among them,
    // when it was loaded): ~3 ms of an `ocibake run`, for memory the kernel frees anyway.
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    std::_Exit(rc);
#endif
}
