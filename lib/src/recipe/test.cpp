// ocibake: the recipe's [[test]] tables (docs/testing.md).
#include "recipe/tables.hpp"

#include "common/regex.hpp"
#include "common/text.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ocibake::detail::recipe_read {

namespace {

namespace fs = std::filesystem;

/// Where byte `offset` of the pattern `text` is: its own column when the string is
/// written on one line as it reads (no escapes), otherwise where the string starts.
SourceLocation pattern_where(const FileContext& file, const toml::source_region& region,
                             std::string_view text, std::size_t offset) {
    SourceLocation where = locate(file, region);
    bool verbatim = region.begin.line == region.end.line &&
                    region.end.column == region.begin.column + text.size() + 2 &&
                    std::all_of(text.begin(), text.end(),
                                [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    if (verbatim && offset < text.size()) {
        where.column += static_cast<std::uint32_t>(1 + offset);
    }
    return where;
}

/// A pattern as messages quote it: cut after 80 bytes (at a character boundary).
std::string quoted_pattern(std::string_view text) {
    constexpr std::size_t shown = 80;
    if (text.size() <= shown) {
        return in_quotes(text);
    }
    std::size_t cut = shown - 3;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
        --cut;
    }
    return in_quotes(std::string(text.substr(0, cut)) + "...");
}

/// A regular expression, or an array of them (all must match). Each is compiled here, so
/// that what the harness cannot match (detail::Regex) is a recipe error at its position.
std::vector<TestPattern> as_patterns(const Value& value) {
    std::vector<const toml::node*> nodes;
    if (value.node.is_string()) {
        nodes.push_back(&value.node);
    } else if (value.node.is_array()) {
        as_strings(value); // every element is a string
        for (const toml::node& item : *value.node.as_array()) {
            nodes.push_back(&item);
        }
    } else {
        wrong_type(value, "a string or an array of strings");
    }
    std::vector<TestPattern> out;
    for (const toml::node* node : nodes) {
        const std::string& text = node->as_string()->get();
        try {
            detail::Regex::compile(text);
        } catch (const detail::RegexError& e) {
            using Why = detail::RegexError::Why;
            fail(pattern_where(value.file, node->source(), text, e.offset()),
                 in_quotes(value.name) + " " + quoted_pattern(text) +
                     (e.why() == Why::invalid       ? " is not a valid regular expression: "
                      : e.why() == Why::unsupported ? " is not supported: "
                                                    : " is too large: ") +
                     e.reason(),
                 "patterns are ECMAScript regular expressions (as in JavaScript) without "
                 "backreferences and lookaround; see docs/recipe.md");
        }
        out.push_back({text, locate(value.file, node->source())});
    }
    return out;
}

std::int64_t as_seconds(const Value& value, std::int64_t low) {
    return as_integer_in(value, low, 86400);
}

std::vector<std::pair<std::string, std::string>> as_env_table(const Value& value) {
    std::map<std::string, std::string> env;
    merge_strings(env, value, true);
    return {env.begin(), env.end()};
}

std::array<Field<TestDraft>, 35> test_fields() {
    return {{
        {"name",
         [](TestDraft& t, const Value& v) {
             t.spec.name = as_nonempty_string(v);
             t.name_where = v.where();
         }},
        {"type", [](TestDraft&, const Value&) {}}, // read first, see read_test()
        {"gpu", [](TestDraft& t, const Value& v) { t.spec.gpu = as_bool(v); }},
        {"timeout", [](TestDraft& t, const Value& v) { t.spec.timeout = as_seconds(v, 1); }},
        {"after", [](TestDraft& t, const Value& v) { t.after = as_strings(v); }},
        {"serial", [](TestDraft& t, const Value& v) { t.spec.serial = as_bool(v); }},
        {"args",
         [](TestDraft& t, const Value& v) {
             t.spec.args = texts(as_strings(v));
             if (t.spec.args->empty()) {
                 fail(v.where(), "'args' must not be empty");
             }
         }},
        {"shell", [](TestDraft& t, const Value& v) { t.spec.shell = as_nonempty_string(v); }},
        {"env", [](TestDraft& t, const Value& v) { t.spec.env = as_env_table(v); }},
        {"exit_code",
         [](TestDraft& t, const Value& v) {
             t.spec.exit_code = static_cast<int>(as_integer_in(v, 0, 255));
         }},
        {"stdout", [](TestDraft& t, const Value& v) { t.spec.stdout_match = as_patterns(v); }},
        {"stderr", [](TestDraft& t, const Value& v) { t.spec.stderr_match = as_patterns(v); }},
        {"stdout_not", [](TestDraft& t, const Value& v) { t.spec.stdout_not = as_patterns(v); }},
        {"stderr_not", [](TestDraft& t, const Value& v) { t.spec.stderr_not = as_patterns(v); }},
        {"distinct", [](TestDraft& t, const Value& v) { t.spec.distinct = as_bool(v); }},
        {"path", [](TestDraft& t, const Value& v) { t.spec.path = as_image_path(v, false); }},
        {"exists", [](TestDraft& t, const Value& v) { t.spec.exists = as_bool(v); }},
        {"file_type",
         [](TestDraft& t, const Value& v) {
             std::string text = as_string(v);
             if (text == "file") {
                 t.spec.file_type = EntryType::file;
             } else if (text == "dir") {
                 t.spec.file_type = EntryType::directory;
             } else if (text == "symlink") {
                 t.spec.file_type = EntryType::symlink;
             } else {
                 fail(v.where(),
                      "'file_type' must be one of file, dir, symlink, not " + in_quotes(text));
             }
         }},
        {"mode", [](TestDraft& t, const Value& v) { t.spec.mode = as_mode(v); }},
        {"uid", [](TestDraft& t, const Value& v) { t.spec.uid = as_id(v); }},
        {"gid", [](TestDraft& t, const Value& v) { t.spec.gid = as_id(v); }},
        {"contains", [](TestDraft& t, const Value& v) { t.spec.contains = as_patterns(v); }},
        {"target", [](TestDraft& t, const Value& v) { t.spec.target = as_nonempty_string(v); }},
        {"entrypoint",
         [](TestDraft& t, const Value& v) { t.spec.entrypoint = texts(as_strings(v)); }},
        {"cmd", [](TestDraft& t, const Value& v) { t.spec.cmd = texts(as_strings(v)); }},
        {"exposed_ports", [](TestDraft& t, const Value& v) { t.spec.exposed_ports = as_ports(v); }},
        {"user", [](TestDraft& t, const Value& v) { t.spec.user = as_string(v); }},
        {"workdir", [](TestDraft& t, const Value& v) { t.spec.workdir = as_string(v); }},
        {"port",
         [](TestDraft& t, const Value& v) {
             t.spec.port = static_cast<std::uint16_t>(as_integer_in(v, 1, 65535));
         }},
        {"http_path",
         [](TestDraft& t, const Value& v) {
             std::string path = as_string(v);
             if (!path.starts_with('/')) {
                 fail(v.where(), "'http_path' must start with '/'");
             }
             t.spec.http_path = path;
         }},
        {"http_status",
         [](TestDraft& t, const Value& v) {
             t.spec.http_status = static_cast<int>(as_integer_in(v, 100, 599));
         }},
        {"http_body", [](TestDraft& t, const Value& v) { t.spec.http_body = as_patterns(v); }},
        {"ready_timeout",
         [](TestDraft& t, const Value& v) { t.spec.ready_timeout = as_seconds(v, 1); }},
        {"stop_timeout",
         [](TestDraft& t, const Value& v) { t.spec.stop_timeout = as_seconds(v, 0); }},
        {"comment", [](TestDraft&, const Value& v) { as_string(v); }},
    }};
}

/// The `type`s of [[test]] and the keys each takes.
const std::array<TypeKeys<TestType>, 4>& test_types() {
    static constexpr std::array<std::string_view, 16> command_keys{
        "name",  "type", "gpu",    "timeout", "comment",    "after",      "serial",    "args",
        "shell", "env",  "stdout", "stderr",  "stdout_not", "stderr_not", "exit_code", "distinct"};
    static constexpr std::array<std::string_view, 15> file_keys{
        "name",   "type",      "gpu",  "timeout", "comment", "after",    "serial", "path",
        "exists", "file_type", "mode", "uid",     "gid",     "contains", "target"};
    static constexpr std::array<std::string_view, 13> metadata_keys{
        "name", "type",       "gpu", "timeout",       "comment", "after",  "serial",
        "env",  "entrypoint", "cmd", "exposed_ports", "user",    "workdir"};
    static constexpr std::array<std::string_view, 15> service_keys{
        "name",      "type",        "gpu",       "timeout",       "comment",
        "after",     "serial",      "args",      "env",           "port",
        "http_path", "http_status", "http_body", "ready_timeout", "stop_timeout"};
    static const std::array<TypeKeys<TestType>, 4> types{{
        {"command", TestType::command, command_keys},
        {"file", TestType::file, file_keys},
        {"metadata", TestType::metadata, metadata_keys},
        {"service", TestType::service, service_keys},
    }};
    return types;
}

} // namespace

TestDraft read_test(const Section& section) {
    auto fields = test_fields();
    section.allow_only(keys_of(fields));
    const TypeKeys<TestType>& kind =
        read_type(section, test_types(), "is not allowed in a test of type");
    TestDraft test;
    test.spec.where = section.where();
    test.spec.type = kind.type;
    read_fields(section, test, fields);
    const TestSpec& t = test.spec;
    switch (t.type) {
    case TestType::command:
        if (section.get("args") && section.get("shell")) {
            const Value* second = std::max(section.get("args"), section.get("shell"));
            fail(second->key_where(), "'args' and 'shell' are mutually exclusive",
                 "'args' is the argv; 'shell' is run with /bin/sh -c");
        }
        if (!t.args && !t.shell) {
            section.missing("'args' or 'shell'",
                            "args = [\"/bin/prog\", \"--version\"] or shell = \"prog | wc -l\"");
        }
        break;
    case TestType::file:
        if (!section.get("path")) {
            section.missing(in_quotes("path"),
                            "the image path to check, e.g. path = \"/etc/motd\"");
        }
        if (!t.exists) {
            for (std::string_view key : {"file_type", "mode", "uid", "gid", "contains", "target"}) {
                if (const Value* v = section.get(key)) {
                    fail(v->key_where(),
                         in_quotes(key) + " cannot be checked on a path that must not exist");
                }
            }
        }
        if (t.target && t.file_type && *t.file_type != EntryType::symlink) {
            fail(section.get("target")->key_where(),
                 "'target' is only for file_type = \"symlink\"");
        }
        break;
    case TestType::metadata:
        if (!t.entrypoint && !t.cmd && !t.user && !t.workdir && t.env.empty() &&
            t.exposed_ports.empty()) {
            section.missing("at least one of 'env', 'entrypoint', 'cmd', 'exposed_ports', 'user', "
                            "'workdir'");
        }
        break;
    case TestType::service:
        if (!section.get("port")) {
            section.missing(in_quotes("port"), "the TCP port the service listens on");
        }
        if (!t.http_path && (section.get("http_status") || section.get("http_body"))) {
            test.spec.http_path = "/";
        }
        break;
    }
    return test;
}

} // namespace ocibake::detail::recipe_read
