// The YAML subset reader of CDI specs: what it reads equals what PyYAML reads (where YAML
// 1.1, PyYAML's, and 1.2, ours, agree), what lies outside the subset is an error at its
// line and column.
#include "runtime/yaml_subset.hpp"
#include "support/checks.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

using ocibake::detail::parse_yaml_subset;
using ocibake::detail::YamlError;
using namespace ocibake::test;
using json = nlohmann::json;

namespace {

/// What PyYAML (python3-yaml) makes of `doc`, as JSON.
json pyyaml(const std::string& doc) {
    CommandResult r =
        ocibake::test::run({"/usr/bin/python3", "-c",
                            "import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))"},
                           {}, {}, doc);
    INFO("PyYAML (the Debian package python3-yaml) on:\n"
         << doc << "\nexit code: " << r.exit_code << "\nstderr:\n"
         << r.err);
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out);
}

/// The error `doc` gives: "LINE:COLUMN: MESSAGE".
std::string yaml_error_of(const std::string& doc) {
    try {
        json j = parse_yaml_subset(doc);
        FAIL("no error; read as " << j.dump());
    } catch (const YamlError& e) {
        CHECK(std::string(e.what()) ==
              std::to_string(e.line()) + ":" + std::to_string(e.column()) + ": " + e.message());
        return e.what();
    }
    return {};
}

// Named documents, each read the same by PyYAML and by us.
const std::vector<std::pair<std::string, std::string>> kSameAsPyYaml = {
    {"nvidia-ctk today (go-yaml v3: four spaces, sequences indented)", R"(---
cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
    - name: "0"
      containerEdits:
        deviceNodes:
            - path: /dev/nvidia0
              hostPath: /dev/nvidia0
    - name: GPU-4f2c1a3e-8b7d-4c6a-9e0f-123456789abc
      containerEdits:
        deviceNodes:
            - path: /dev/nvidia0
    - name: all
      containerEdits:
        deviceNodes:
            - path: /dev/nvidia0
containerEdits:
    env:
        - NVIDIA_CTK_LIBCUDA_DIR=/lib/x86_64-linux-gnu
        - NVIDIA_VISIBLE_DEVICES=void
    deviceNodes:
        - path: /dev/nvidiactl
          fileMode: 432
          gid: 44
    hooks:
        - hookName: createContainer
          path: /usr/bin/nvidia-cdi-hook
          args:
            - nvidia-cdi-hook
            - create-symlinks
            - --link
            - libcuda.so.1::/lib/x86_64-linux-gnu/libcuda.so
            - --link
            - ../card1::/dev/dri/by-path/pci-0000:01:00.0-card
          env:
            - NVIDIA_CTK_DEBUG=false
        - hookName: createContainer
          path: /usr/bin/nvidia-cdi-hook
          args:
            - nvidia-cdi-hook
            - chmod
            - --mode
            - "755"
          timeout: 30
    mounts:
        - hostPath: /lib/x86_64-linux-gnu/libcuda.so.550.54.15
          containerPath: /lib/x86_64-linux-gnu/libcuda.so.550.54.15
          options:
            - ro
            - nosuid
            - nodev
            - rbind
            - rprivate
    additionalGIDs:
        - 44
)"},
    {"nvidia-ctk before (go-yaml v2: two spaces, sequences at their key's indentation)",
     R"(---
cdiVersion: 0.3.0
containerEdits:
  deviceNodes:
  - path: /dev/nvidia-uvm
  - path: /dev/nvidiactl
  hooks:
  - args:
    - nvidia-ctk
    - hook
    - update-ldcache
    hookName: createContainer
    path: /usr/bin/nvidia-ctk
  mounts:
  - containerPath: /usr/bin/nvidia-smi
    hostPath: /usr/bin/nvidia-smi
    options:
    - ro
    - nosuid
devices:
- containerEdits:
    deviceNodes:
    - path: /dev/nvidia0
  name: "0"
kind: nvidia.com/gpu
)"},
    {"comments and document markers", R"(# a comment before the document
--- # and on its marker
a: 1 # after a value
  # indented, between keys
b: '# not a comment' # but this is
c: a#b
d: "x" # after a quoted scalar
e: [x, y] # after a flow sequence
f: # after a key
  - g # after an item
...
# after the end
)"},
    {"scalars typed alike by YAML 1.1 and 1.2", R"(nulls: [~, null, Null, NULL, ]
empty:
booleans: [true, True, TRUE, false, False, FALSE]
integers: [0, 7, -17, +5, -0, 0x1F, 0xff, 12345678901234567890]
floats: [1.5, -0.25, 1., .5, 1.0e+3, 6.02E-23]
strings: [0.5.0, 1.2.3.4, v1, 1a, 0x, nullish, trueish, "0", '1', "true", '~', 'null']
path: /usr/lib/x86_64-linux-gnu
)"},
    {"quoted scalars", R"(single: 'it''s ''quoted'''
single_specials: 'a: b, [c] {d} #e \n'
double: "a \"b\" c\\d"
escapes: "tab\there\nnew line \u00e9 \u263A \U0001F600 \x41 \/ \e"
empty_single: ''
empty_double: ""
plain_apostrophe: don't
'quoted key': 1
"double key": 2
"key: with colon": 3
)"},
    {"flow sequences and empty collections", R"(options: [ro, nosuid, nodev, "bind"]
mixed: [ 1, 2.5, null, true, 'x', "y z", plain words ]
trailing_comma: [a, b,]
empty_list: []
spaced_empty_list: [ ]
empty_map: {}
spaced_empty_map: { }
colons: [a:b, "c: d", http://e.com:80/f]
)"},
    {"nested block sequences", R"(- - a
  - b
- - - c
-
  - d
- [e, f]
)"},
    {"mappings in sequences (compact, and wider after the dash)", R"(-   name: x
    value: 1
- name: y
  list:
  - p
  - q
  after: z
- name: w
  nested:
    deeper: [1]
)"},
    {"empty values are null", R"(a:
b:
  c:
  d:
e:
- 
- x
-
f: ~
)"},
    {"keys and colons", R"(long key with spaces: v
url: http://example.com:8080/x?y=z
double_colon: a::b
time_like: 12h30
key_trailing_space   : v2
"": empty key
)"},
    {"odd indentation", R"(  a:
   b: 1
   c:
         - x
         -  y
  d:
   - e:
      f: 2
)"},
    {"keys typed, then written as JSON writes them", R"(0x10: hex
true: boolean
-0: zero
7: seven
"~": quoted
'null': quoted too
)"},
    {"CRLF line ends", "a: 1\r\nb:\r\n  - x\r\n  - 'y'\r\nc: \"z\"\r\n"},
};

} // namespace

TEST_CASE("yaml subset: documents read as PyYAML reads them") {
    for (const auto& [name, doc] : kSameAsPyYaml) {
        INFO(name << ":\n" << doc);
        CHECK(parse_yaml_subset(doc).dump() == pyyaml(doc).dump());
    }
    // Small documents: whole documents that are a scalar, a flow sequence, or nothing.
    for (const char* doc : {"hello world", "42", "\"quoted\"", "[1, two]", "{}", "", "# only\n",
                            "---\n", "--- \n...\n", "- a\n- b: c\n", "~"}) {
        INFO("document: " << doc);
        CHECK(parse_yaml_subset(doc).dump() == pyyaml(doc).dump());
    }
}

TEST_CASE("yaml subset: YAML 1.2 core schema where PyYAML (YAML 1.1) differs") {
    json j = parse_yaml_subset("yes: [yes, no, on, off, y, n, Yes, NO]\n"
                               "octal: [0o17, 010, 0o0]\n"
                               "exponent: [1e3, 2E-2, -1e+2]\n"
                               "special: [.inf, -.inf, +.Inf, .nan, .NaN]\n"
                               "underscore: 1_000\n"
                               "sexagesimal: 1:30\n");
    CHECK(j["yes"] == json::parse(R"(["yes", "no", "on", "off", "y", "n", "Yes", "NO"])"));
    CHECK(j["octal"].dump() == "[15,10,0]");
    CHECK(j["exponent"].dump() == "[1000.0,0.02,-100.0]");
    CHECK(j["special"][0].get<double>() == std::numeric_limits<double>::infinity());
    CHECK(j["special"][1].get<double>() == -std::numeric_limits<double>::infinity());
    CHECK(j["special"][2].get<double>() == std::numeric_limits<double>::infinity());
    CHECK(std::isnan(j["special"][3].get<double>()));
    CHECK(std::isnan(j["special"][4].get<double>()));
    CHECK(j["underscore"] == "1_000");
    CHECK(j["sexagesimal"] == "1:30");

    // Numbers as nlohmann::json::parse makes them: non-negative integers unsigned.
    json n = parse_yaml_subset("gid: 44\nneg: -1\nbig: 18446744073709551615\nmin: "
                               "-9223372036854775808\nf: 1.0\n");
    CHECK(n["gid"].is_number_unsigned());
    CHECK(n["neg"].is_number_integer());
    CHECK_FALSE(n["neg"].is_number_unsigned());
    CHECK(n["big"].get<std::uint64_t>() == 18446744073709551615u);
    CHECK(n["min"].get<std::int64_t>() == std::numeric_limits<std::int64_t>::min());
    CHECK(n["f"].is_number_float());
    CHECK(n == json::parse(R"({"gid": 44, "neg": -1, "big": 18446744073709551615,
                              "min": -9223372036854775808, "f": 1.0})"));

    // A byte order mark is skipped; a quoted scalar is a string whatever it holds.
    CHECK(parse_yaml_subset("\xEF\xBB\xBF"
                            "a: 1\n") == json::parse(R"({"a": 1})"));
    CHECK(parse_yaml_subset("cdiVersion: 0.5.0\nname: \"0\"\nmode: '0o17'\n") ==
          json::parse(R"({"cdiVersion": "0.5.0", "name": "0", "mode": "0o17"})"));
}

TEST_CASE("yaml subset: what lies outside it is an error at its line and column") {
    const std::string outside = " (outside the YAML subset read here)";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"a: &x 1\n", "1:4: found an anchor '&x'" + outside},
        {"a: 1\nb: *x\n", "2:4: found an alias '*x'" + outside},
        {"- *x\n", "1:3: found an alias '*x'" + outside},
        {"a: [b, *x]\n", "1:8: found an alias '*x'" + outside},
        {"&a key: v\n", "1:1: found an anchor '&a'" + outside},
        {"a: !!str 1\n", "1:4: found a tag '!!str'" + outside},
        {"a: |\n  text\n", "1:4: found a block scalar '|'" + outside},
        {"a: >-\n  text\n", "1:4: found a block scalar '>-'" + outside},
        {"%YAML 1.2\n---\na: 1\n", "1:1: found a directive '%YAML'" + outside},
        {"---\na: 1\n---\nb: 2\n", "3:1: found a second document ('---'): multi-document "
                                   "streams are outside the YAML subset read here"},
        {"a: 1\n---\n", "2:1: found a second document ('---'): multi-document streams are "
                        "outside the YAML subset read here"},
        {"a: 1\n...\nb: 2\n", "3:1: found 'b: 2' after the document's end ('...'): "
                              "multi-document streams are outside the YAML subset read here"},
        {"--- a: 1\n", "1:5: found 'a: 1' after '---' (content on a document marker's line "
                       "is outside the YAML subset read here)"},
        {"a: {b: 1}\n", "1:5: found 'b: 1}' in a flow mapping (flow mappings with content are "
                        "outside the YAML subset read here)"},
        {"a: [x: y]\n", "1:6: found ': y]' in a flow sequence (flow mappings are outside the "
                        "YAML subset read here)"},
        {"a: [b, [c]]\n", "1:8: found a nested flow collection '[c]]'" + outside},
        {"a: [b,\n  c]\n", "1:4: found a '[' that is not closed on its line (multi-line flow "
                           "sequences are outside the YAML subset read here)"},
        {"a: [b c d\n", "1:4: found a '[' that is not closed on its line (multi-line flow "
                        "sequences are outside the YAML subset read here)"},
        {"a: [b,,c]\n", "1:7: found ',' where an item of the flow sequence was expected"},
        {"a: ['b' c]\n", "1:9: found 'c]' where ',' or ']' was expected"},
        {"? a\n: b\n", "1:1: found a complex key '? a'" + outside},
        {"a:\n\tb: 1\n", "2:1: found a tab in the indentation (YAML indents with spaces)"},
        {"a:\n  \tb: 1\n", "2:3: found a tab in the indentation (YAML indents with spaces)"},
        {"-\tx\n", "1:2: found a tab in the indentation (YAML indents with spaces)"},
        {"a: 1\nb: 2\na: 3\n", "3:1: found the key 'a' a second time (first on line 1)"},
        {"- x: 1\n  'x': 2\n", "2:3: found the key 'x' a second time (first on line 1)"},
        {"a: b: c\n", "1:5: found ': c' inside a plain scalar (a mapping cannot start on its "
                      "key's line: quote the value, or move the mapping to the lines below)"},
        {"a: - b\n", "1:4: found a sequence entry '- b' where a value was expected (a block "
                     "sequence starts on a line of its own)"},
        {"a: 1\n  b: 2\n", "2:3: found 'b: 2' indented deeper than its block (multi-line "
                           "scalars are outside the YAML subset read here)"},
        {"key: a long\n  value\n", "2:3: found 'value' indented deeper than its block "
                                   "(multi-line scalars are outside the YAML subset read here)"},
        {"a:\n  - x\n  b: 1\n", "3:3: found 'b: 1' indented deeper than its block (multi-line "
                                "scalars are outside the YAML subset read here)"},
        {"- a\nb: 1\n", "2:1: found 'b: 1' after the document's top-level sequence"},
        {"a: 1\n- b\n", "2:1: found '- b' where a 'key: value' line was expected"},
        {"a: 1\njust text\n", "2:1: found 'just text' where a 'key: value' line was expected"},
        {"a: 'open\n", "1:4: found a quoted scalar that does not end on its line (multi-line "
                       "scalars are outside the YAML subset read here)"},
        {"a: \"x\\q\"\n", "1:6: found an unknown escape '\\q'"},
        {"a: \"\\u12\"\n", "1:5: found '\\u12\"', expected 4 hex digits after '\\u'"},
        {"a: \"\\ud800\"\n", "1:5: found '\\ud800\"', which is not a Unicode character"},
        {"a: \"x\" y\n", "1:8: found 'y' after the value"},
        {"a: \"x\"# c\n", "1:7: found '# c' after the value"},
        {"a: 18446744073709551616\n",
         "1:4: found the integer '18446744073709551616', which is out of range"},
        {"a: -9223372036854775809\n",
         "1:4: found the integer '-9223372036854775809', which is out of range"},
        {"a: @x\n", "1:4: found '@x', which cannot start a plain scalar"},
        {"a: [b, ?c]\n", "1:8: found a complex key '?c]'" + outside},
        {"~: x\n", "1:1: found the key '~', which is null (quote it for a string)"},
        {"- 1.5: x\n", "1:3: found the key '1.5', which is a float (quote it for a string)"},
    };
    for (const auto& [doc, message] : cases) {
        INFO("document:\n" << doc);
        CHECK(yaml_error_of(doc) == message);
    }
    std::string deep;
    for (int i = 0; i < 100; ++i) {
        deep += std::string(static_cast<std::size_t>(i) * 2, ' ') + "- \n";
    }
    CHECK(yaml_error_of(deep + std::string(200, ' ') + "x\n")
              .find("found nesting deeper than 64 "
                    "levels") != std::string::npos);
}
