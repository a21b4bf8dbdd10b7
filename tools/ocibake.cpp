// The ocibake command line: each subcommand parses its flags, calls the library and
// prints (tools/cmd_<name>.cpp); main dispatches and turns errors into exit codes.
#include "cli.hpp"
#include "cmd_run.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <vector>

namespace {

using ocibake::cli::Command;
using ocibake::cli::Shared;

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
        std::filesystem::path out = ocibake::OutputTarget::default_for(recipe.name).path;
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

Command add_test(CLI::App& app, Shared& s) {
    auto a = std::make_shared<TestArgs>();
    a->gpus = "all";
    auto* test = app.add_subcommand(
        "test", "Run a recipe's [[test]] entries against its image (with crun or runc)");
    test->add_option("target", a->target,
                     "RECIPE.toml (tests the image it builds by default, oci:out/NAME:TAG), or "
                     "an IMAGE with --recipe (oci:DIR[:TAG], docker-archive:FILE, docker://REF)")
        ->required();
    test->add_option("--recipe", a->recipe, "The recipe whose [[test]] entries run");
    test->add_option("--gpus", a->gpus,
                     "NVIDIA GPUs for gpu = true tests: all (the default), none, or a list like "
                     "0,1; without one they are skipped");
    test->add_option("--runtime", a->runtime, "The OCI runtime (default: crun, else runc)");
    test->add_option("--junit", a->junit, "Write a JUnit XML report to FILE");
    s.add_json(test, "Print the report as JSON");
    test->add_option("--keep-bundle", a->keep_bundle,
                     "Unpack into DIR (must not exist) and keep it afterwards");
    s.add_cache_dir(test);
    s.registry.add_to(test);
    test->footer(ocibake::cli::kExitCodes);
    return {test, [a, &s] {
                TestArgs args = *a;
                args.cache_dir = s.cache_dir;
                args.json = s.as_json;
                args.registry = s.registry.options();
                return test_image(args);
            }};
}

Command add_run(CLI::App& app, Shared& s, ocibake::cli::RunFlags& flags) {
    auto* run = app.add_subcommand(
        "run", "Run a command in an image: unpacked into a bundle, run by crun or runc\n"
               "  ocibake run [OPTIONS] IMAGE [COMMAND [ARG...]]   (as docker run; IMAGE is\n"
               "  oci:DIR[:TAG], docker-archive:FILE, a path, or docker://REGISTRY/REPO:TAG)");
    ocibake::cli::add_run_options(run, flags);
    s.add_cache_dir(run);
    s.registry.add_to(run);
    run->footer(ocibake::cli::kExitCodes);
    return {run, [&flags, &s] {
                return ocibake::cli::run_command_in_image(flags, s.cache_dir, s.registry.options());
            }};
}

/// Every subcommand, in the order --help lists them.
std::vector<Command> add_commands(CLI::App& app, Shared& s, ocibake::cli::RunFlags& run_flags) {
    namespace cli = ocibake::cli;
    std::vector<Command> commands = {cli::add_build(app, s),     cli::add_lock(app, s),
                                     cli::add_outdated(app, s),  cli::add_push(app, s),
                                     cli::add_pull(app, s),      cli::add_inspect(app, s),
                                     add_run(app, s, run_flags), add_test(app, s)};
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

} // namespace

int main(int argc, char** argv) {
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
    std::vector<Command> commands = add_commands(app, shared, run_flags);
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
