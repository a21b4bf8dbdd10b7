// `ocibake test`: a recipe's [[test]] entries against an image (harness.hpp).
#include "cli.hpp"
#include "cmd_container.hpp"
#include "cmd_run.hpp"

#include <cstdio>
#include <fstream>
#include <iostream>

namespace ocibake::cli {

namespace {

struct TestArgs {
    std::string target;
    std::string recipe;
    std::string junit;
    std::string runtime;
    std::string keep_bundle;
    std::string cache_dir;
    bool json = false;
    unsigned jobs = 0;
    std::string gpus;
    registry::Options registry;
};

int test_image(const TestArgs& a) {
    std::string recipe_path = a.recipe;
    std::string image = a.target;
    bool recipe_mode = a.recipe.empty() && a.target.ends_with(".toml");
    if (recipe_mode) {
        recipe_path = a.target;
    } else if (a.recipe.empty()) {
        throw Error(ErrorKind::usage,
                    "ocibake test " + a.target +
                        " needs --recipe RECIPE.toml: the tests come from the recipe");
    }
    Recipe recipe = load_recipe(recipe_path);
    if (recipe_mode) {
        std::filesystem::path out = OutputTarget::default_for(recipe.name).path;
        std::error_code ec;
        if (!std::filesystem::exists(out, ec)) {
            throw Error(ErrorKind::input, "image " + out.string() +
                                              " does not exist: build it first (" + "ocibake " +
                                              recipe_path + ")");
        }
        image = "oci:" + out.string() + ":" + recipe.tag;
    }
    TestOptions options;
    options.cache_dir = a.cache_dir;
    options.jobs = a.jobs;
    options.keep_bundle = a.keep_bundle;
    options.runtime = runtime_search(a.runtime);
    options.runtime.verdicts = default_state_dir();
    options.gpus = GpuRequest::parse(a.gpus);
    options.registry = a.registry;
    if (!a.json) {
        std::printf("testing %s (%zu tests from %s)\n", image.c_str(), recipe.tests.size(),
                    recipe_path.c_str());
        std::fflush(stdout);
        options.on_result = [](const TestResult& r) {
            std::fputs(result_text(r).c_str(), stdout);
            std::fflush(stdout);
        };
    }
    Interrupt interrupt;
    SignalWatch signals(interrupt); // SIGINT, SIGTERM, SIGHUP stop it cleanly
    options.interrupt = &interrupt;
    options.on_progress = unpack_progress();
    TestReport report = run_tests(recipe.tests, image, options);
    if (!a.junit.empty()) {
        std::ofstream out(a.junit, std::ios::binary | std::ios::trunc);
        out << junit_xml(report);
        if (!out) {
            throw Error(ErrorKind::io, "cannot write " + a.junit);
        }
    }
    if (a.json) {
        std::cout << report_json(report);
    } else {
        std::fputs(totals_text(report).c_str(), stdout);
    }
    return report.failed() == 0 ? 0 : 7;
}

} // namespace

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
    test->add_option("-j,--jobs", a->jobs,
                     "Run up to N tests at a time (default: one per core); the report keeps the "
                     "recipe's order")
        ->check(CLI::Range(1u, 1024u));
    test->add_option("--runtime", a->runtime, "The OCI runtime (default: crun, else runc)");
    test->add_option("--junit", a->junit, "Write a JUnit XML report to FILE");
    s.add_json(test, "Print the report as JSON");
    test->add_option("--keep-bundle", a->keep_bundle,
                     "Unpack into DIR (must not exist) and keep it afterwards");
    s.add_cache_dir(test);
    return s.registry_command(test, [a, &s] {
        TestArgs args = *a;
        args.cache_dir = s.cache_dir;
        args.json = s.as_json;
        args.registry = s.registry.options();
        return test_image(args);
    });
}

} // namespace ocibake::cli
