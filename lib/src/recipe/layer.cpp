// ocibake: the recipe's [[layer]] table and what it holds: [[layer.copy]], [[layer.files]],
// [layer.python], [[layer.account]], [[layer.group]], [[layer.alternative]]
// (docs/recipe.md). [[layer.archive]] and [[layer.nvidia]] are in recipe/archive.cpp.
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

// ---- [[layer.copy]] ------------------------------------------------------------------

std::array<Field<CopyItem>, 11> copy_fields() {
    return {{
        {"src",
         [](CopyItem& c, const Value& v) {
             c.src = resolve(v.file, as_nonempty_string(v));
             c.src_where = v.where();
         }},
        {"dst",
         [](CopyItem& c, const Value& v) {
             c.dst = as_image_path(v, true);
             c.dst_where = v.where();
         }},
        {"include", [](CopyItem& c, const Value& v) { c.options.include = texts(as_strings(v)); }},
        {"exclude", [](CopyItem& c, const Value& v) { c.options.exclude = texts(as_strings(v)); }},
        {"mode", [](CopyItem& c, const Value& v) { c.options.file_mode = as_mode(v); }},
        {"dir_mode", [](CopyItem& c, const Value& v) { c.options.dir_mode = as_mode(v); }},
        {"uid", [](CopyItem& c, const Value& v) { c.options.uid = as_id(v); }},
        {"gid", [](CopyItem& c, const Value& v) { c.options.gid = as_id(v); }},
        {"preserve_modes",
         [](CopyItem& c, const Value& v) { c.options.preserve_modes = as_bool(v); }},
        {"xattrs", [](CopyItem& c, const Value& v) { c.options.xattrs = as_bool(v); }},
        {"follow_symlinks",
         [](CopyItem& c, const Value& v) { c.options.follow_symlinks = as_bool(v); }},
    }};
}

CopyItem read_copy(const Section& section) {
    CopyItem item;
    item.where = section.where();
    item.dst_where = section.where();
    read_fields(section, item, copy_fields());
    if (!section.get("src")) {
        section.missing(in_quotes("src"),
                        "the host file or directory to copy, relative to this file");
    }
    return item;
}

// ---- [[layer.files]] -----------------------------------------------------------------

std::array<Field<FileItem>, 8> files_fields() {
    return {{
        {"path",
         [](FileItem& f, const Value& v) {
             f.path = as_image_path(v, false);
             f.path_where = v.where();
         }},
        {"type", [](FileItem&, const Value&) {}}, // read first, see read_files()
        {"src",
         [](FileItem& f, const Value& v) {
             f.src = resolve(v.file, as_nonempty_string(v));
             f.src_where = v.where();
         }},
        {"content", [](FileItem& f, const Value& v) { f.content = as_string(v); }},
        {"target", [](FileItem& f, const Value& v) { f.target = as_nonempty_string(v); }},
        {"mode", [](FileItem& f, const Value& v) { f.mode = as_mode(v); }},
        {"uid", [](FileItem& f, const Value& v) { f.uid = as_id(v); }},
        {"gid", [](FileItem& f, const Value& v) { f.gid = as_id(v); }},
    }};
}

/// The `type`s of [[layer.files]] and the keys each takes.
const std::array<TypeKeys<EntryType>, 5>& files_types() {
    static constexpr std::array<std::string_view, 7> file_keys{"path", "type", "src", "content",
                                                               "mode", "uid",  "gid"};
    static constexpr std::array<std::string_view, 5> dir_keys{"path", "type", "mode", "uid", "gid"};
    static constexpr std::array<std::string_view, 5> symlink_keys{"path", "type", "target", "uid",
                                                                  "gid"};
    static constexpr std::array<std::string_view, 3> hardlink_keys{"path", "type", "target"};
    static const std::array<TypeKeys<EntryType>, 5> types{{
        {"file", EntryType::file, file_keys},
        {"dir", EntryType::directory, dir_keys},
        {"symlink", EntryType::symlink, symlink_keys},
        {"hardlink", EntryType::hardlink, hardlink_keys},
        {"fifo", EntryType::fifo, dir_keys},
    }};
    return types;
}

void check_file_source(const Section& section) {
    const Value* src = section.get("src");
    const Value* content = section.get("content");
    if (src && content) {
        const Value* second = std::max(src, content); // values() is in text order
        fail(second->where(), "'src' and 'content' are mutually exclusive",
             "use 'src' for a host file or 'content' for inline text");
    }
    if (!src && !content) {
        section.missing("'src' or 'content'",
                        "a file needs 'src' (a host file) or 'content' (inline text)");
    }
}

void check_files_target(const Section& section, const FileItem& item) {
    const Value* target = section.get("target");
    if (target == nullptr) {
        section.missing(in_quotes("target"), item.type == EntryType::symlink
                                                 ? "a symlink needs the path it points to"
                                                 : "a hard link needs the image path of its file");
    }
    if (item.type == EntryType::hardlink) {
        as_image_path(*target, false);
    }
}

FileItem read_files(const Section& section) {
    section.allow_only(keys_of(files_fields()));
    const TypeKeys<EntryType>& type = read_type(section, files_types(), "is not allowed for type");
    FileItem item;
    item.where = section.where();
    item.type = type.type;
    read_fields(section, item, files_fields());
    if (!section.get("path")) {
        section.missing(in_quotes("path"),
                        "the image path of the entry, e.g. path = \"/etc/motd\"");
    }
    if (item.type == EntryType::file) {
        check_file_source(section);
    }
    if (item.type == EntryType::symlink || item.type == EntryType::hardlink) {
        check_files_target(section, item);
    }
    return item;
}

// ---- [layer.python] -------------------------------------------------------------------

/// How messages name a host path written in `file`: joined to the file's display folder.
std::string display_of(const FileContext& file, std::string_view text) {
    if (!text.empty() && text.front() == '/') {
        return std::string(text);
    }
    return (fs::path(file.display).parent_path() / fs::path(text)).lexically_normal().string();
}

/// "3.11": a major.minor Python version.
std::string as_python_version(const Value& value) {
    std::string text = as_string(value);
    std::size_t dot = text.find('.');
    bool ok = dot != std::string::npos && dot > 0 && dot + 1 < text.size() &&
              text.find_first_not_of("0123456789.") == std::string::npos &&
              text.find('.', dot + 1) == std::string::npos;
    if (!ok) {
        fail(value.where(), in_quotes(value.name) + " " + in_quotes(text) + " is not like \"3.11\"",
             "the target Python as major.minor");
    }
    return text;
}

std::vector<apt::PackageRequest> as_packages(const Value& value) {
    std::vector<apt::PackageRequest> out;
    for (const Located& item : as_strings(value)) {
        std::string why;
        std::optional<apt::PackageRequest> request = apt::parse_request(item.text, &why);
        if (!request) {
            fail(item.where, "'packages' entry " + in_quotes(item.text) + ": " + why,
                 "write \"name\", \"name=version\" or \"name:arch\", e.g. "
                 "\"openssh-server=1:9.2p1-2+deb12u3\"");
        }
        request->where = item.where;
        auto same = std::find_if(out.begin(), out.end(), [&](const apt::PackageRequest& r) {
            return r.name == request->name && r.arch == request->arch;
        });
        if (same != out.end()) {
            fail(item.where, "package " + in_quotes(request->name) + " is listed twice",
                 "first listed at " + same->where.str());
        }
        out.push_back(std::move(*request));
    }
    return out;
}

/// A user or group name as shadow's tools accept it: [a-z_][a-z0-9_-]*[$]?, 1..32.
std::string as_account_name(const Value& value) {
    std::string name = as_string(value);
    bool ok = !name.empty() && name.size() <= 32 &&
              ((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_');
    for (std::size_t i = 0; ok && i < name.size(); ++i) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
             (c == '$' && i + 1 == name.size());
    }
    if (!ok) {
        fail(value.where(),
             in_quotes(value.name) + " " + in_quotes(name) + " is not a user or group name",
             "lowercase letters, digits, '_' and '-', starting with a letter or '_', at most 32");
    }
    return name;
}

std::vector<std::string> as_account_names(const Value& value) {
    std::vector<std::string> out;
    const auto* array = value.node.as_array();
    if (array == nullptr) {
        wrong_type(value, "an array of strings");
    }
    for (const toml::node& item : *array) {
        out.push_back(as_account_name(Value{item, value.name, value.file}));
    }
    return out;
}

/// A field of /etc/passwd: no ':' and no newline.
std::string as_passwd_field(const Value& value, bool absolute) {
    std::string text = absolute ? as_absolute_path(value) : as_string(value);
    if (text.find_first_of(":\n") != std::string::npos) {
        fail(value.where(), in_quotes(value.name) + " must not contain ':' or a newline");
    }
    return text;
}

std::array<Field<PythonSpec>, 9> python_fields() {
    return {{
        {"requirements",
         [](PythonSpec& p, const Value& v) {
             std::string text = as_nonempty_string(v);
             p.requirements = resolve(v.file, text);
             p.requirements_display = display_of(v.file, text);
             p.requirements_where = v.where();
         }},
        {"pylock",
         [](PythonSpec& p, const Value& v) {
             std::string text = as_nonempty_string(v);
             p.pylock = resolve(v.file, text);
             p.pylock_display = display_of(v.file, text);
             p.pylock_where = v.where();
         }},
        {"wheels",
         [](PythonSpec& p, const Value& v) {
             for (const Located& w : as_strings(v)) {
                 if (!w.text.ends_with(".whl")) {
                     fail(w.where, "'wheels' entry " + in_quotes(w.text) + " is not a .whl file");
                 }
                 p.wheels.push_back(resolve(v.file, w.text));
                 p.wheels_where.push_back(w.where);
             }
         }},
        {"venv",
         [](PythonSpec& p, const Value& v) {
             p.venv = as_absolute_path(v);
             as_image_path(v, false);
             p.venv_where = v.where();
         }},
        {"python",
         [](PythonSpec& p, const Value& v) {
             p.python = as_python_version(v);
             p.python_where = v.where();
         }},
        {"glibc",
         [](PythonSpec& p, const Value& v) {
             std::string text = as_string(v);
             if (text != "none" && (text.find_first_not_of("0123456789.") != std::string::npos ||
                                    !text.starts_with("2.") || text.size() < 3)) {
                 fail(v.where(),
                      "'glibc' " + in_quotes(text) + " is not like \"2.36\" or \"none\"");
             }
             p.glibc = text;
         }},
        {"interpreter",
         [](PythonSpec& p, const Value& v) {
             p.interpreter = as_absolute_path(v);
             as_image_path(v, false);
         }},
        {"index_url", [](PythonSpec& p, const Value& v) { p.index_url = as_nonempty_string(v); }},
        {"extra_index_urls",
         [](PythonSpec& p, const Value& v) { p.extra_index_urls = texts(as_strings(v)); }},
    }};
}

PythonSpec read_python(const Section& section) {
    PythonSpec spec;
    spec.where = section.where();
    read_fields(section, spec, python_fields());
    if (!section.get("requirements") && !section.get("pylock") && !section.get("wheels")) {
        section.missing(
            "'requirements', 'pylock' or 'wheels'",
            "requirements = \"requirements.txt\" (hashed, as pip-compile "
            "--generate-hashes writes it), pylock = \"pylock.toml\", or wheels = [...]");
    }
    if (section.get("requirements") && section.get("pylock")) {
        fail(section.get("pylock")->where(), "'requirements' and 'pylock' are mutually exclusive",
             "one lock of Python packages per layer; use another layer for the other");
    }
    return spec;
}

std::array<Field<apt::Account>, 8> account_fields() {
    return {{
        {"name", [](apt::Account& a, const Value& v) { a.name = as_account_name(v); }},
        {"uid", [](apt::Account& a, const Value& v) { a.uid = as_id(v); }},
        {"gid", [](apt::Account& a, const Value& v) { a.gid = as_id(v); }},
        {"group", [](apt::Account& a, const Value& v) { a.group = as_account_name(v); }},
        {"groups", [](apt::Account& a, const Value& v) { a.groups = as_account_names(v); }},
        {"home", [](apt::Account& a, const Value& v) { a.home = as_passwd_field(v, true); }},
        {"shell", [](apt::Account& a, const Value& v) { a.shell = as_passwd_field(v, true); }},
        {"comment",
         [](apt::Account& a, const Value& v) {
             a.comment = as_passwd_field(v, false);
             if (a.comment.find(',') != std::string::npos) {
                 // GECOS subfields are separated by ','; one free-text field is enough here.
                 fail(v.where(), "'comment' must not contain ','");
             }
         }},
    }};
}

std::array<Field<apt::Group>, 3> group_fields() {
    return {{
        {"name", [](apt::Group& g, const Value& v) { g.name = as_account_name(v); }},
        {"gid", [](apt::Group& g, const Value& v) { g.gid = as_id(v); }},
        {"members", [](apt::Group& g, const Value& v) { g.members = as_account_names(v); }},
    }};
}

std::array<Field<apt::AlternativeChoice>, 4> alternative_fields() {
    return {{
        {"name",
         [](apt::AlternativeChoice& a, const Value& v) {
             a.name = as_nonempty_string(v);
             if (a.name.find_first_of("/ \t\n") != std::string::npos) {
                 fail(v.where(), "'name' " + in_quotes(a.name) +
                                     " is not an alternative name (no '/' or spaces)");
             }
         }},
        {"path",
         [](apt::AlternativeChoice& a, const Value& v) { a.path = as_passwd_field(v, true); }},
        {"link",
         [](apt::AlternativeChoice& a, const Value& v) { a.link = as_passwd_field(v, true); }},
        {"priority",
         [](apt::AlternativeChoice& a, const Value& v) {
             a.priority = static_cast<int>(as_integer_in(v, -1000000, 1000000));
         }},
    }};
}

template <typename Item, std::size_t N>
std::vector<Item> read_items(const Value& v, const std::string& label, const std::string& hint,
                             const std::array<Field<Item>, N>& fields,
                             std::initializer_list<std::pair<const char*, const char*>> required) {
    std::vector<Item> out;
    for (const toml::table* table : as_tables(v, hint)) {
        Section section(*table, label, v.file);
        Item item;
        item.where = section.where();
        read_fields(section, item, fields);
        for (const auto& [key, why] : required) {
            if (!section.get(key)) {
                section.missing(in_quotes(key), why);
            }
        }
        out.push_back(std::move(item));
    }
    return out;
}

std::array<Field<LayerDraft>, 16> layer_fields() {

    return {{
        {"name",
         [](LayerDraft& l, const Value& v) {
             l.spec.name = as_nonempty_string(v);
             l.name_where = v.where();
         }},
        {"comment", [](LayerDraft& l, const Value& v) { l.spec.comment = as_string(v); }},
        {"compression",
         [](LayerDraft& l, const Value& v) { l.spec.compression = as_compression(v); }},
        {"level",
         [](LayerDraft& l, const Value& v) {
             l.level = as_integer(v);
             l.level_where = v.where();
         }},
        {"copy",
         [](LayerDraft& l, const Value& v) {
             for (const toml::table* table :
                  as_tables(v, "write [[layer.copy]] (two brackets) for each copy")) {
                 l.spec.copies.push_back(read_copy(Section(*table, "[[layer.copy]]", v.file)));
             }
         }},
        {"files",
         [](LayerDraft& l, const Value& v) {
             for (const toml::table* table :
                  as_tables(v, "write [[layer.files]] (two brackets) for each entry")) {
                 l.spec.files.push_back(read_files(Section(*table, "[[layer.files]]", v.file)));
             }
         }},
        {"archive",
         [](LayerDraft& l, const Value& v) {
             for (const toml::table* table :
                  as_tables(v, "write [[layer.archive]] (two brackets) for each archive")) {
                 l.spec.archives.push_back(
                     read_archive(Section(*table, "[[layer.archive]]", v.file)));
             }
         }},
        {"nvidia",
         [](LayerDraft& l, const Value& v) {
             for (const toml::table* table :
                  as_tables(v, "write [[layer.nvidia]] (two brackets) for each manifest")) {
                 l.spec.nvidia.push_back(read_nvidia(Section(*table, "[[layer.nvidia]]", v.file)));
             }
         }},
        {"python",
         [](LayerDraft& l, const Value& v) {
             l.spec.python = read_python(Section(as_table(v), "[layer.python]", v.file));
         }},
        {"packages",
         [](LayerDraft& l, const Value& v) {
             l.spec.packages = as_packages(v);
             l.spec.packages_where = v.where();
         }},
        {"recommends", [](LayerDraft& l, const Value& v) { l.spec.recommends = as_bool(v); }},
        {"ldconfig", [](LayerDraft& l, const Value& v) { l.spec.ldconfig = as_bool(v); }},
        {"split", [](LayerDraft& l, const Value& v) { l.spec.split = as_bool(v); }},
        {"account",
         [](LayerDraft& l, const Value& v) {
             l.spec.accounts = read_items<apt::Account>(
                 v, "[[layer.account]]", "write [[layer.account]] (two brackets) for each user",
                 account_fields(),
                 {{"name", "the user's name, e.g. name = \"sshd\""},
                  {"uid", "a fixed user id, e.g. uid = 100"}});
         }},
        {"group",
         [](LayerDraft& l, const Value& v) {
             l.spec.groups = read_items<apt::Group>(
                 v, "[[layer.group]]", "write [[layer.group]] (two brackets) for each group",
                 group_fields(),
                 {{"name", "the group's name"}, {"gid", "a fixed group id, e.g. gid = 101"}});
         }},
        {"alternative",
         [](LayerDraft& l, const Value& v) {
             l.spec.alternatives = read_items<apt::AlternativeChoice>(
                 v, "[[layer.alternative]]",
                 "write [[layer.alternative]] (two brackets) for each choice", alternative_fields(),
                 {{"name", "the alternative's name, as update-alternatives --display shows it"},
                  {"path", "the path the alternative should point to"}});
         }},
    }};
}

} // namespace

LayerDraft read_layer(const Section& section) {
    LayerDraft layer;
    layer.spec.where = section.where();
    read_fields(section, layer, layer_fields());
    return layer;
}

} // namespace ocibake::detail::recipe_read
