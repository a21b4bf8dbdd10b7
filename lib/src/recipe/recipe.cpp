// ocibake: recipes. TOML (toml++) -> the checked model of recipe.hpp.
//
// A Loader reads the top-level file and, depth first, every fragment it includes. Each
// file's includes are merged before the file's own values, so "later wins" falls out of
// the order in which values are applied: fragments in include order, then the file
// that includes them. Every table is read through a list of Fields (key -> setter), so
// the keys a table accepts and the keys it reads are one list (recipe/read.hpp); each
// table kind has a file of its own (recipe/tables.hpp). This file holds the top level,
// [base], [build], [config], includes, and the checks that need the merged recipe (levels
// against the compression in effect, layer names, the default image name), run once at
// the end. docs/recipe.md is the user-facing reference.

#include "ocibake/recipe.hpp"

#include "recipe/read.hpp"
#include "recipe/tables.hpp"

#include "common/names.hpp"
#include "common/toml.hpp"
#include "ocibake/registry.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace ocibake {
namespace {

using namespace detail::recipe_read;
namespace fs = std::filesystem;

// ---- the merged recipe -----------------------------------------------------------------

/// Everything merged so far, in the order values are applied (later wins).
struct Merge {
    Recipe recipe;
    bool named = false;
    std::optional<std::int64_t> build_level;
    SourceLocation build_level_where;
    std::map<std::string, std::string> env;
    std::map<std::string, std::string> labels;
    std::set<std::string> ports;
    std::set<std::string> volumes;
    std::vector<LayerDraft> layers;
    std::vector<TestDraft> tests;
    std::vector<SourceDraft> sources;
};

std::array<Field<Merge>, 10> config_fields() {
    return {{
        {"entrypoint",
         [](Merge& m, const Value& v) { m.recipe.config.entrypoint = texts(as_strings(v)); }},
        {"cmd", [](Merge& m, const Value& v) { m.recipe.config.cmd = texts(as_strings(v)); }},
        {"env", [](Merge& m, const Value& v) { merge_strings(m.env, v, true); }},
        {"user", [](Merge& m, const Value& v) { m.recipe.config.user = as_string(v); }},
        {"workdir",
         [](Merge& m, const Value& v) { m.recipe.config.workdir = as_absolute_path(v); }},
        {"stop_signal",
         [](Merge& m, const Value& v) { m.recipe.config.stop_signal = as_nonempty_string(v); }},
        {"exposed_ports",
         [](Merge& m, const Value& v) {
             for (std::string& port : as_ports(v)) {
                 m.ports.insert(std::move(port));
             }
         }},
        {"volumes",
         [](Merge& m, const Value& v) {
             for (const Located& volume : as_strings(v)) {
                 if (!volume.text.starts_with('/')) {
                     fail(volume.where, "'volumes' entry " + in_quotes(volume.text) +
                                            " must be an absolute path");
                 }
                 m.volumes.insert(volume.text);
             }
         }},
        {"labels", [](Merge& m, const Value& v) { merge_strings(m.labels, v, false); }},
        {"author", [](Merge& m, const Value& v) { m.recipe.config.author = as_string(v); }},
    }};
}

std::array<Field<Merge>, 5> build_fields() {
    return {{
        {"compression",
         [](Merge& m, const Value& v) { m.recipe.build.compression = as_compression(v); }},
        {"level",
         [](Merge& m, const Value& v) {
             m.build_level = as_integer(v);
             m.build_level_where = v.where();
         }},
        {"source_date_epoch",
         [](Merge& m, const Value& v) {
             std::int64_t epoch = as_integer(v);
             if (epoch < 0) {
                 out_of_range(v, std::to_string(epoch), "0 or more");
             }
             m.recipe.build.source_date_epoch = epoch;
         }},
        {"max_layers",
         [](Merge& m, const Value& v) {
             m.recipe.build.max_layers =
                 static_cast<std::size_t>(as_integer_in(v, 2, static_cast<std::int64_t>(1000)));
         }},
        {"cache",
         [](Merge& m, const Value& v) {
             std::string text = as_string(v);
             try {
                 registry::Reference::parse(text);
             } catch (const Error& e) {
                 fail(v.where(), std::string("'cache': ") + e.what(),
                      "write registry/repository, e.g. \"registry.example.com/ci/cache\"");
             }
             m.recipe.build.cache = text;
             m.recipe.build.cache_where = v.where();
         }},
    }};
}

/// "oci:<dir>[:<tag>]" (dir up to the first ':' after "oci:").
BaseSpec oci_base(const Value& value, const std::string& image) {
    std::string_view rest = std::string_view(image).substr(4);
    std::size_t colon = rest.find(':');
    BaseSpec base;
    base.where = value.where();
    base.image = image;
    if (rest.substr(0, colon).empty()) {
        fail(value.where(), "'image' " + in_quotes(image) + " names no directory",
             "write \"oci:<dir>\" or \"oci:<dir>:<tag>\"");
    }
    base.layout = resolve(value.file, rest.substr(0, colon));
    if (colon != std::string_view::npos) {
        base.tag = std::string(rest.substr(colon + 1));
        if (base.tag.empty()) {
            fail(value.where(), "'image' " + in_quotes(image) + " has an empty tag",
                 "write \"oci:<dir>:<tag>\", or leave out ':' to use the layout's only image");
        }
    }
    return base;
}

std::array<Field<Merge>, 2> base_fields() {
    return {{
        {"ref",
         [](Merge& m, const Value& v) {
             std::string text = as_string(v);
             try {
                 m.recipe.base.ref = registry::Reference::parse(text).str();
             } catch (const Error& e) {
                 fail(v.where(), std::string("'ref': ") + e.what(),
                      "write registry/repository:tag, e.g. \"ubuntu:24.04\" or "
                      "\"ghcr.io/org/img:1\"");
             }
             m.recipe.base.image.clear();
             m.recipe.base.layout.clear();
             m.recipe.base.tag.clear();
             m.recipe.base.where = v.where();
         }},
        {"image",
         [](Merge& m, const Value& v) {
             std::string image = as_string(v);
             if (image.starts_with("oci:")) {
                 m.recipe.base = oci_base(v, image);
             } else if (image == "scratch") {
                 m.recipe.base.ref.clear();
                 m.recipe.base.image = "scratch";
                 m.recipe.base.layout.clear();
                 m.recipe.base.tag.clear();
                 m.recipe.base.where = v.where();
             } else {
                 fail(v.where(),
                      "'image' must be \"scratch\" or \"oci:<dir>[:<tag>]\", not " +
                          in_quotes(image),
                      "for an image in a registry write ref = \"" + image + "\"");
             }
         }},
    }};
}

/// Where a top-level key that belongs in a table goes ("" when it is not one).
std::string_view home_of(std::string_view key) {
    auto in = [&](const auto& fields) {
        return std::any_of(fields.begin(), fields.end(),
                           [&](const auto& field) { return field.key == key; });
    };
    if (in(config_fields())) {
        return "[config]";
    }
    if (in(build_fields())) {
        return "[build]";
    }
    if (in(base_fields())) {
        return "[base]";
    }
    return {};
}

std::array<Field<Merge>, 10> top_fields() {
    return {{
        {"include", [](Merge&, const Value&) {}}, // read before the rest, see Loader::read()
        {"name",
         [](Merge& m, const Value& v) {
             m.recipe.name = as_image_name(v);
             m.named = true;
         }},
        {"tag", [](Merge& m, const Value& v) { m.recipe.tag = as_tag(v); }},
        {"platform", [](Merge& m, const Value& v) { m.recipe.platform = as_platform(v); }},
        {"base",
         [](Merge& m, const Value& v) {
             read_fields(Section(as_table(v), "[base]", v.file), m, base_fields());
         }},
        {"build",
         [](Merge& m, const Value& v) {
             read_fields(Section(as_table(v), "[build]", v.file), m, build_fields());
         }},
        {"config",
         [](Merge& m, const Value& v) {
             read_fields(Section(as_table(v), "[config]", v.file), m, config_fields());
         }},
        {"layer",
         [](Merge& m, const Value& v) {
             for (const toml::table* table :
                  as_tables(v, "start each layer with [[layer]] (two brackets), then its "
                               "[[layer.copy]] and [[layer.files]]")) {
                 m.layers.push_back(read_layer(Section(*table, "[[layer]]", v.file)));
             }
         }},
        {"test",
         [](Merge& m, const Value& v) {
             for (const toml::table* table :
                  as_tables(v, "write [[test]] (two brackets) for each test")) {
                 m.tests.push_back(read_test(Section(*table, "[[test]]", v.file)));
             }
         }},
        {"apt", [](Merge& m,
                   const Value& v) { read_apt(Section(as_table(v), "[apt]", v.file), m.sources); }},
    }};
}

// ---- checks on the merged recipe -------------------------------------------------------

/// Throws when `level` is outside the range of `compression` (none takes any level).
void check_level(std::int64_t level, Compression compression, const SourceLocation& where,
                 std::string hint = {}) {
    if (compression == Compression::none) {
        return;
    }
    std::int64_t high = compression == Compression::gzip ? 12 : 19;
    if (level < 1 || level > high) {
        fail(where,
             "'level' " + std::to_string(level) + " is out of range for " + to_string(compression) +
                 " (1.." + std::to_string(high) + ")",
             std::move(hint));
    }
}

int to_int(std::int64_t level) {
    return static_cast<int>(std::clamp<std::int64_t>(level, INT_MIN, INT_MAX));
}

void check_levels(Merge& m) {
    Compression build = m.recipe.build.compression;
    if (m.build_level) {
        check_level(*m.build_level, build, m.build_level_where);
        m.recipe.build.level = to_int(*m.build_level);
    }
    for (LayerDraft& layer : m.layers) {
        Compression compression = layer.spec.compression.value_or(build);
        if (layer.level) {
            check_level(*layer.level, compression, layer.level_where);
            layer.spec.level = to_int(*layer.level);
        }
        // A layer that picks another compression without a level gets that compression's
        // default level: [build].level was chosen for [build].compression.
    }
}

/// Default names ("<what>-<n>") for the layers or tests that have none, then uniqueness.
template <typename Draft>
void name_drafts(std::vector<Draft>& drafts, const std::string& what) {
    std::map<std::string, const Draft*> seen;
    for (std::size_t i = 0; i < drafts.size(); ++i) {
        Draft& draft = drafts[i];
        if (!draft.name_where) {
            draft.spec.name = what + "-" + std::to_string(i + 1);
        }
        auto [first, fresh] = seen.emplace(draft.spec.name, &draft);
        if (!fresh) {
            const Draft& other = *first->second;
            fail(draft.name_where.value_or(draft.spec.where),
                 what + " name " + in_quotes(draft.spec.name) + " is used twice",
                 other.name_where ? "first used at " + other.name_where->str()
                                  : "the " + what + " at " + other.spec.where.str() +
                                        " has this name by default");
        }
    }
}

/// `after` names tests before this one: the order is the recipe's, so there is no cycle.
void check_after(std::vector<TestDraft>& tests) {
    std::map<std::string, std::size_t> position;
    for (std::size_t i = 0; i < tests.size(); ++i) {
        position.emplace(tests[i].spec.name, i);
    }
    for (std::size_t i = 0; i < tests.size(); ++i) {
        TestDraft& test = tests[i];
        for (const Located& name : test.after) {
            if (name.text == test.spec.name) {
                fail(name.where, "test " + in_quotes(test.spec.name) + " names itself in 'after'");
            }
            auto it = position.find(name.text);
            if (it == position.end() || it->second > i) {
                fail(name.where,
                     "'after' names " + in_quotes(name.text) +
                         (it == position.end() ? ", which is no test of this recipe"
                                               : ", which comes later in the recipe"),
                     "a test can only wait for tests before it (included fragments' tests come "
                     "first)");
            }
            test.spec.after.push_back(name.text);
        }
    }
}

void default_name(Merge& m, const FileContext& top) {
    if (m.named) {
        return;
    }
    std::string name = top.absolute.stem().string();
    std::transform(name.begin(), name.end(), name.begin(), [](char c) {
        return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    });
    if (!valid_image_name(name)) {
        fail(SourceLocation{top.display, 0, 0},
             "image name " + in_quotes(name) + " (from the file name) is not valid",
             "set 'name' in the recipe; " + std::string(name_rules));
    }
    m.recipe.name = std::move(name);
}

/// Default source names ("source-<n>"), their uniqueness, and sources for packages.
void check_sources(Merge& m) {
    std::map<std::string, const SourceDraft*> seen;
    for (std::size_t i = 0; i < m.sources.size(); ++i) {
        SourceDraft& source = m.sources[i];
        if (!source.name_where) {
            source.spec.name = "source-" + std::to_string(i + 1);
        }
        auto [first, fresh] = seen.emplace(source.spec.name, &source);
        if (!fresh) {
            fail(source.name_where.value_or(source.spec.where),
                 "apt source name " + in_quotes(source.spec.name) + " is used twice",
                 "first used at " +
                     first->second->name_where.value_or(first->second->spec.where).str());
        }
        m.recipe.apt_sources.push_back(source.spec);
    }
    if (!m.sources.empty()) {
        return;
    }
    for (const LayerDraft& layer : m.layers) {
        if (!layer.spec.packages.empty()) {
            fail(layer.spec.packages_where,
                 "layer " + in_quotes(layer.spec.name) +
                     " lists packages, but the recipe has "
                     "no [[apt.source]]",
                 "add [[apt.source]] with url, suites, components and keyring (docs/apt.md)");
        }
    }
}

Recipe finish(Merge& m, const FileContext& top) {
    check_levels(m);
    name_drafts(m.layers, "layer");
    name_drafts(m.tests, "test");
    check_after(m.tests);
    check_sources(m);
    default_name(m, top);
    Recipe& recipe = m.recipe;
    recipe.file = top.absolute;
    recipe.where = SourceLocation{top.display, 0, 0};
    recipe.config.env.assign(m.env.begin(), m.env.end());
    recipe.config.labels.assign(m.labels.begin(), m.labels.end());
    recipe.config.exposed_ports.assign(m.ports.begin(), m.ports.end());
    recipe.config.volumes.assign(m.volumes.begin(), m.volumes.end());
    for (LayerDraft& layer : m.layers) {
        recipe.layers.push_back(std::move(layer.spec));
    }
    for (TestDraft& test : m.tests) {
        recipe.tests.push_back(std::move(test.spec));
    }
    return std::move(recipe);
}

// ---- includes ------------------------------------------------------------------------

std::string include_hint(const Value& value) {
    const auto* text = value.node.as_string();
    return "write include = [\"" + (text ? text->get() : std::string("file.toml")) + "\"]";
}

/// Reads a recipe and its fragments into one Merge.
class Loader {
public:
    Recipe load(const fs::path& file, std::optional<std::string_view> text) {
        FileContext top{file.string(), fs::absolute(file).lexically_normal()};
        std::string read;
        if (!text) {
            read = read_text(top.absolute, SourceLocation{top.display, 0, 0}, "recipe");
            text = read;
        }
        enter(top, *text);
        return finish(merge_, top);
    }

private:
    struct Open {
        fs::path identity;
        std::string display;
    };

    static fs::path identity(const fs::path& path) {
        std::error_code ec;
        fs::path canonical = fs::weakly_canonical(path, ec);
        return ec ? path : canonical;
    }

    void enter(const FileContext& file, std::string_view text) {
        fs::path id = identity(file.absolute);
        open_.push_back({id, file.display});
        merge_.recipe.sources.push_back(file.absolute);
        read(file, text);
        open_.pop_back();
        done_.insert(id);
    }

    void read(const FileContext& file, std::string_view text) {
        toml::table table = detail::parse_toml(text, file.display);
        Section top(table, "the top level", file);
        top.allow_only(keys_of(top_fields()), home_of);
        if (const Value* includes = top.get("include")) {
            for (const Located& item : as_strings(*includes, include_hint(*includes))) {
                include(file, item);
            }
        }
        read_fields(top, merge_, top_fields(), home_of);
    }

    void include(const FileContext& from, const Located& item) {
        if (item.text.empty()) {
            fail(item.where, "'include' entries must not be empty");
        }
        FileContext file{
            (fs::path(from.display).parent_path() / item.text).lexically_normal().string(),
            resolve(from, item.text)};
        fs::path id = identity(file.absolute);
        auto cycle = std::find_if(open_.begin(), open_.end(),
                                  [&](const Open& open) { return open.identity == id; });
        if (cycle != open_.end()) {
            std::string chain;
            for (auto it = cycle; it != open_.end(); ++it) {
                chain += it->display + " -> ";
            }
            fail(item.where, "include cycle: " + chain + file.display,
                 "a file cannot include itself, directly or through other fragments");
        }
        if (done_.contains(id)) {
            return; // already merged (included twice, e.g. by two fragments)
        }
        std::string text =
            read_text(file.absolute, item.where, "include " + in_quotes(file.display));
        enter(file, text);
    }

    Merge merge_;
    std::vector<Open> open_;
    std::set<fs::path> done_;
};

} // namespace

constexpr detail::Named<TestType> test_type_names[] = {
    {TestType::command, "command"},
    {TestType::file, "file"},
    {TestType::metadata, "metadata"},
    {TestType::service, "service"},
};

const char* to_string(TestType type) noexcept {
    return detail::name_of(test_type_names, type, "command");
}

Recipe load_recipe(const std::filesystem::path& file) {
    return Loader().load(file, std::nullopt);
}

Recipe parse_recipe(std::string_view text, const std::filesystem::path& file) {
    return Loader().load(file, text);
}

} // namespace ocibake
