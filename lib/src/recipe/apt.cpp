// ocibake: the recipe's [apt] table and its [[apt.source]]s (docs/apt.md).
#include "recipe/tables.hpp"

#include "common/text.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ocibake::detail::recipe_read {

namespace {

namespace fs = std::filesystem;

/// The root of an archive (a mirror, a snapshot service): http:// or https://, a host, no
/// query or fragment; a trailing '/' dropped.
std::string archive_url(std::string url, const SourceLocation& where, const std::string& key,
                        const char* example) {
    std::string_view rest = url.starts_with("https://")  ? std::string_view(url).substr(8)
                            : url.starts_with("http://") ? std::string_view(url).substr(7)
                                                         : std::string_view();
    if (rest.empty() || rest.front() == '/' || url.find_first_of("?# ") != std::string::npos) {
        fail(where,
             in_quotes(key) + " " + in_quotes(url) +
                 " is not an http:// or https:// URL of an archive's root",
             std::string("e.g. \"") + example + "\"");
    }
    while (url.ends_with('/')) {
        url.pop_back();
    }
    return url;
}

std::vector<std::string> nonempty_texts(const Value& value) {
    std::vector<std::string> out;
    for (const Located& item : as_strings(value)) {
        if (item.text.empty()) {
            fail(item.where, in_quotes(value.name) + " entries must not be empty");
        }
        out.push_back(item.text);
    }
    return out;
}

std::array<Field<SourceDraft>, 10> source_fields() {
    return {{
        {"name",
         [](SourceDraft& s, const Value& v) {
             s.spec.name = as_nonempty_string(v);
             s.name_where = v.where();
         }},
        {"url",
         [](SourceDraft& s, const Value& v) {
             std::string url = as_nonempty_string(v);
             if (!url.starts_with("http://") && !url.starts_with("https://")) {
                 fail(v.where(), "'url' " + in_quotes(url) + " is not an http:// or https:// URL",
                      "write the repository's root, e.g. \"http://deb.debian.org/debian\"");
             }
             while (url.ends_with('/') && url.size() > 8) {
                 url.pop_back();
             }
             s.spec.url = url;
         }},
        {"suites",
         [](SourceDraft& s, const Value& v) {
             s.spec.suites = nonempty_texts(v);
             if (s.spec.suites.empty()) {
                 fail(v.where(), "'suites' must not be empty",
                      "write suites = [\"bookworm\"], or [\"/\"] for a flat repository");
             }
             s.suites_seen = true;
         }},
        {"components",
         [](SourceDraft& s, const Value& v) {
             s.spec.components = nonempty_texts(v);
             s.components = &v;
         }},
        {"architectures",
         [](SourceDraft& s, const Value& v) { s.spec.architectures = nonempty_texts(v); }},
        {"keyring",
         [](SourceDraft& s, const Value& v) {
             s.spec.keyring = resolve(v.file, as_nonempty_string(v));
             s.spec.keyring_where = v.where();
             s.keyring = &v;
         }},
        {"priority",
         [](SourceDraft& s, const Value& v) {
             s.spec.priority = static_cast<int>(as_integer_in(v, -10000, 10000));
         }},
        {"trusted",
         [](SourceDraft& s, const Value& v) {
             s.spec.trusted = as_bool(v);
             s.trusted = &v;
         }},
        {"mirrors",
         [](SourceDraft& s, const Value& v) {
             s.spec.mirrors.clear();
             for (const Located& item : as_strings(v)) {
                 s.spec.mirrors.push_back(archive_url(item.text, item.where, "mirrors",
                                                      "http://ftp.de.debian.org/debian"));
             }
         }},
        {"snapshot",
         [](SourceDraft& s, const Value& v) {
             s.snapshot_derived.reset();
             if (const auto* flag = v.node.as_boolean()) {
                 s.spec.snapshot = flag->get() ? std::nullopt : std::optional<std::string>("");
                 if (flag->get()) {
                     s.snapshot_derived = v.where();
                 }
                 return;
             }
             if (!v.node.is_string()) {
                 wrong_type(v, "a URL or false",
                            "write the service's URL for this archive, e.g. "
                            "\"https://snapshot.debian.org/archive/debian\", or false");
             }
             s.spec.snapshot = archive_url(as_nonempty_string(v), v.where(), "snapshot",
                                           "https://snapshot.debian.org/archive/debian");
         }},
    }};
}

SourceDraft read_source(const Section& section) {
    SourceDraft draft;
    draft.spec.where = section.where();
    read_fields(section, draft, source_fields());
    if (draft.spec.url.empty()) {
        section.missing(in_quotes("url"), "the repository's root, e.g. url = "
                                          "\"http://deb.debian.org/debian\"");
    }
    if (!draft.suites_seen) {
        section.missing(in_quotes("suites"),
                        "e.g. suites = [\"bookworm\"], or [\"/\"] for a flat repository");
    }
    bool all_flat = std::all_of(draft.spec.suites.begin(), draft.spec.suites.end(),
                                [](const std::string& suite) { return suite.ends_with('/'); });
    if (draft.components == nullptr) {
        if (!all_flat) {
            draft.spec.components = {"main"};
        }
    } else if (all_flat && !draft.spec.components.empty()) {
        fail(draft.components->where(),
             "'components' is not used by a flat repository (every suite ends in '/')",
             "leave out 'components' for a repository listed as `deb URL /`");
    }
    if (draft.spec.trusted && draft.keyring) {
        fail(draft.keyring->where(), "'keyring' and 'trusted = true' are mutually exclusive",
             "trusted = true turns signature checks off; keep only one of them");
    }
    if (!draft.spec.trusted && !draft.keyring) {
        section.missing(in_quotes("keyring"),
                        "the OpenPGP keyring that signs the repository, relative to this file "
                        "(or trusted = true for an unsigned repository)");
    }
    if (draft.snapshot_derived && apt::snapshot_service_for(draft.spec.url).empty()) {
        fail(*draft.snapshot_derived,
             "no snapshot service is known for " + in_quotes(draft.spec.url),
             "write the service's URL (snapshot = \"https://...\"), or leave 'snapshot' out");
    }
    // The values belong to `section`, which ends here.
    draft.components = draft.keyring = draft.trusted = nullptr;
    return draft;
}

std::array<Field<std::vector<SourceDraft>>, 1> apt_fields() {
    return {{
        {"source",
         [](std::vector<SourceDraft>& sources, const Value& v) {
             for (const toml::table* table :
                  as_tables(v, "write [[apt.source]] (two brackets) for each source")) {
                 sources.push_back(read_source(Section(*table, "[[apt.source]]", v.file)));
             }
         }},
    }};
}

} // namespace

void read_apt(const Section& section, std::vector<SourceDraft>& sources) {
    read_fields(section, sources, apt_fields());
}

} // namespace ocibake::detail::recipe_read
