// The `--json` documents (docs/cli.md, "JSON documents"): every command's real output
// checked against the example docs/cli.md shows for it, member by member and type by type.
// An example is a ```json block whose first line names its command (`// ocibake lock
// --json`); `//` comments are stripped, and a comment holding "optional" (the member may be
// absent) or "or null" (it may be null) applies to the members it names in quotes, else
// to the first member on its line.
// String values are placeholders except "schema", which must be exactly the documented
// one; an example's null accepts any value, an empty object any object, and an array's
// first element is the shape of every element.
#include "support/checks.hpp"
#include "support/registry_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace ocibake::test;

namespace {

struct Example {
    json doc;
    std::set<std::string> optional, nullable;
};

/// The line without its `//` comment (outside strings); the comment into `comment`.
std::string strip_comment(const std::string& line, std::string& comment) {
    bool in_string = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        if (in_string && line[i] == '\\') {
            ++i;
        } else if (line[i] == '"') {
            in_string = !in_string;
        } else if (!in_string && line.compare(i, 2, "//") == 0) {
            comment = line.substr(i + 2);
            return line.substr(0, i);
        }
    }
    comment.clear();
    return line;
}

/// One example block (its lines after the command line) as JSON and its markers.
Example parse_example(const std::vector<std::string>& lines) {
    static const std::regex key(R"re("([A-Za-z_]+)"\s*:)re");
    static const std::regex quoted(R"re("([A-Za-z_]+)")re");
    Example e;
    std::string text;
    for (const auto& line : lines) {
        std::string comment;
        std::string code = strip_comment(line, comment);
        text += code + "\n";
        // The members a marker is for: those the comment names in quotes, else the
        // first one on the line.
        std::vector<std::string> named;
        std::smatch m;
        for (auto it = std::sregex_iterator(comment.begin(), comment.end(), quoted);
             it != std::sregex_iterator(); ++it) {
            named.push_back((*it)[1]);
        }
        if (named.empty() && std::regex_search(code, m, key)) {
            named.push_back(m[1]);
        }
        for (const auto& name : named) {
            if (comment.find("optional") != std::string::npos) {
                e.optional.insert(name);
            }
            if (comment.find("or null") != std::string::npos) {
                e.nullable.insert(name);
            }
        }
    }
    e.doc = json::parse(text);
    return e;
}

/// docs/cli.md's examples: "ocibake build --json" -> its example.
std::map<std::string, Example> documented() {
    std::istringstream doc(read_file(source_dir() / "docs/cli.md"));
    std::map<std::string, Example> out;
    std::string line;
    while (std::getline(doc, line)) {
        if (line != "```json") {
            continue;
        }
        std::vector<std::string> lines;
        while (std::getline(doc, line) && line != "```") {
            lines.push_back(line);
        }
        if (!lines.empty() && lines[0].rfind("// ocibake ", 0) == 0) {
            std::string command = lines[0].substr(3);
            INFO("docs/cli.md example for " << command);
            out[command] = parse_example({lines.begin() + 1, lines.end()});
        }
    }
    return out;
}

bool same_type(const json& a, const json& b) {
    return (a.is_number() && b.is_number()) || a.type() == b.type();
}

/// Where `actual` differs from `example` in its members or their types.
void compare(const json& actual, const json& example, const Example& ex, const std::string& path,
             std::vector<std::string>& problems) {
    std::string key = path.substr(path.rfind('.') + 1);
    if (example.is_null() || (actual.is_null() && ex.nullable.count(key))) {
        return;
    }
    if (!same_type(actual, example)) {
        problems.push_back(path + ": " + actual.type_name() + ", documented as " +
                           example.type_name());
        return;
    }
    if (key == "schema" && actual != example) {
        problems.push_back(path + ": " + actual.dump() + ", documented as " + example.dump());
    }
    if (example.is_array() && !example.empty()) {
        for (std::size_t i = 0; i < actual.size(); ++i) {
            compare(actual[i], example[0], ex, path + "[" + std::to_string(i) + "]", problems);
        }
    }
    if (!example.is_object() || example.empty()) {
        return;
    }
    for (const auto& [k, v] : actual.items()) {
        if (!example.contains(k)) {
            problems.push_back(path + "." + k + ": not documented");
        } else {
            compare(v, example[k], ex, path + "." + k, problems);
        }
    }
    for (const auto& [k, v] : example.items()) {
        if (!actual.contains(k) && !ex.optional.count(k)) {
            problems.push_back(path + "." + k + ": documented, missing");
        }
    }
}

struct Checker {
    std::map<std::string, Example> examples = documented();
    std::set<std::string> checked;

    /// Runs the CLI (with --cache-dir `cache` unless it is empty), expects `exit_code`, and
    /// checks stdout against the example for `command`.
    json check(const std::string& command, const std::vector<std::string>& args,
               const fs::path& cache, int exit_code = 0) {
        std::vector<std::string> argv{cli().string()};
        argv.insert(argv.end(), args.begin(), args.end());
        auto r = cache.empty() ? run(argv, {"SOURCE_DATE_EPOCH="})
                               : run_cli(args, cache, {"SOURCE_DATE_EPOCH="});
        INFO(command << "\nstdout: " << r.out << "\nstderr: " << r.err);
        REQUIRE(r.exit_code == exit_code);
        REQUIRE(examples.count(command) == 1);
        json actual = json::parse(r.out);
        std::vector<std::string> problems;
        compare(actual, examples[command].doc, examples[command], "$", problems);
        for (const auto& p : problems) {
            FAIL_CHECK(command << ": " << p);
        }
        CHECK(problems.empty());
        checked.insert(command);
        return actual;
    }
};

void write_recipe(const fs::path& dir, const std::string& extra) {
    write_file(dir / "src/bin/hello", "#!/bin/sh\necho hello\n", 0755);
    write_file(dir / "r.toml", "name = \"cli\"\n[config]\ncmd = [\"/bin/hello\"]\n"
                               "[[layer]]\nname = \"bin\"\n[[layer.copy]]\nsrc = \"src/bin\"\n"
                               "dst = \"/bin\"\n[[test]]\nname = \"hello\"\ntype = \"file\"\n"
                               "path = \"/bin/hello\"\n" +
                                   extra);
}

} // namespace

TEST_CASE("every --json document matches its example in docs/cli.md") {
    require_program("docker-registry", "docker-registry");
    ScratchDir dir("schemas");
    Registry registry;
    Checker c;
    REQUIRE(c.examples.size() >= 12);
    fs::path cache = dir / "cache";
    std::string r = (dir / "r.toml").string(), out = (dir / "out").string();
    std::string ref = registry.host() + "/app:1";
    write_recipe(dir.path(), "");
    c.check("ocibake build --json", {"build", r, "-o", "oci:" + out, "--json"}, cache);
    c.check("ocibake inspect --json", {"inspect", "oci:" + out, "--json"}, {});
    c.check("ocibake push --json", {"push", "oci:" + out, ref, "--json"}, cache);
    c.check("ocibake pull --json", {"pull", ref, "-o", "oci:" + out + "2", "--json"}, cache);
    c.check("ocibake test --json", {"test", "oci:" + out, "--recipe", r, "--json"}, cache);

    write_file(dir / "b.toml", "name = \"b\"\n[base]\nref = \"" + ref + "\"\n");
    std::string b = (dir / "b.toml").string();
    c.check("ocibake lock --json", {"lock", b, "--json"}, cache);
    // The tag moves to another image (pushed by a build): the base is outdated (exit 9).
    json pushed = c.check("ocibake build --json",
                          {"build", r, "--push", ref, "--source-date-epoch", "7", "--json"}, cache);
    CHECK(pushed.contains("push"));
    c.check("ocibake outdated --json", {"outdated", b, "--json"}, cache, 9);

    std::string remote = registry.host() + "/cache:ocibake-cache-cli";
    c.check("ocibake cache push --json", {"cache", "push", r, remote, "--json"}, cache);
    c.check("ocibake cache ls --json", {"cache", "ls", remote, "--json"}, cache);
    c.check("ocibake cache pull --json", {"cache", "pull", remote, "--json"}, dir / "cache2");
    c.check("ocibake cache gc --json", {"cache", "gc", "--dry-run", "--json"}, cache);
    c.check("ocibake ps --json", {"ps", "-a", "--json"}, {});
    c.check("ocibake --json, on an error", {"inspect", (dir / "none").string(), "--json"}, {}, 4);

    // Every documented example was checked.
    for (const auto& [command, example] : c.examples) {
        CHECK(c.checked.count(command) == 1);
    }
}
