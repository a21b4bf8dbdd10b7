#include "apt/effects.hpp"
#include "common/json_number.hpp"

#include "apt/internal.hpp"
#include "common/number.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <set>

namespace ocibake::apt::detail {

namespace {

using json = nlohmann::json;

std::vector<std::string> lines_of(std::string_view text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        out.emplace_back(
            text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
        pos = nl == std::string_view::npos ? text.size() : nl + 1;
    }
    return out;
}

/// Shell words of a line, quotes removed; nullopt for a word the shell would expand.
std::vector<std::optional<std::string>> shell_words(const std::string& line) {
    std::vector<std::optional<std::string>> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) {
            ++i;
        }
        if (i >= line.size()) {
            break;
        }
        std::string word;
        bool expands = false;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') {
            char c = line[i];
            if (c == '\'') {
                std::size_t end = line.find('\'', i + 1);
                if (end == std::string::npos) {
                    end = line.size();
                }
                word += line.substr(i + 1, end - i - 1);
                i = end + 1;
                continue;
            }
            if (c == '"') {
                std::size_t end = line.find('"', i + 1);
                if (end == std::string::npos) {
                    end = line.size();
                }
                std::string inner = line.substr(i + 1, end - i - 1);
                expands = expands || inner.find_first_of("$`\\") != std::string::npos;
                word += inner;
                i = end + 1;
                continue;
            }
            if (c == ';' || c == '&' || c == '|' || c == '>' || c == '<' || c == '(' || c == ')') {
                if (word.empty()) {
                    word = std::string(1, c); // an operator is a word of its own
                    ++i;
                }
                break;
            }
            expands = expands || c == '$' || c == '`' || c == '\\' || c == '*' || c == '?';
            word += c;
            ++i;
        }
        if (expands) {
            out.push_back(std::nullopt);
        } else {
            out.push_back(word);
        }
    }
    return out;
}

} // namespace

std::vector<AltDecl> parse_alternatives(std::string_view postinst) {
    // Logical lines: backslash-newline joins; comment lines dropped.
    std::vector<std::string> logical;
    std::string current;
    for (std::string line : lines_of(postinst)) {
        std::size_t first = line.find_first_not_of(" \t");
        if (current.empty() && first != std::string::npos && line[first] == '#') {
            continue;
        }
        if (line.ends_with('\\')) {
            line.pop_back();
            current += line + " ";
            continue;
        }
        current += line;
        logical.push_back(current);
        current.clear();
    }
    if (!current.empty()) {
        logical.push_back(current);
    }
    std::vector<AltDecl> out;
    for (const std::string& line : logical) {
        auto words = shell_words(line);
        for (std::size_t i = 0; i < words.size(); ++i) {
            if (!words[i] || *words[i] != "update-alternatives") {
                continue;
            }
            std::size_t k = i + 1;
            while (k < words.size() && words[k] && words[k]->starts_with("--") &&
                   *words[k] != "--install") {
                // --quiet, --verbose, --force; --altdir/--admindir/--log take an argument
                bool takes =
                    *words[k] == "--altdir" || *words[k] == "--admindir" || *words[k] == "--log";
                k += takes ? 2 : 1;
            }
            if (k + 4 >= words.size() || !words[k] || *words[k] != "--install") {
                continue;
            }
            bool plain = true;
            for (std::size_t arg = k + 1; arg <= k + 4; ++arg) {
                plain = plain && words[arg].has_value();
            }
            if (!plain) {
                continue; // built from shell variables: only running the script would tell
            }
            AltDecl d;
            d.link = *words[k + 1];
            d.name = *words[k + 2];
            d.path = *words[k + 3];
            // (std::stoi threw for "-" or past int: a postinst is outside input)
            std::optional<int> prio = ocibake::detail::parse_decimal<int>(*words[k + 4]);
            if (!prio || !d.link.starts_with('/') || !d.path.starts_with('/')) {
                continue;
            }
            d.priority = *prio;
            std::size_t s = k + 5;
            bool complete = true;
            while (s < words.size() && words[s] && *words[s] == "--slave") {
                if (s + 3 >= words.size() || !words[s + 1] || !words[s + 2] || !words[s + 3]) {
                    complete = false;
                    break;
                }
                d.slaves.push_back({*words[s + 1], *words[s + 2], *words[s + 3]});
                s += 4;
            }
            if (s < words.size() && !words[s]) {
                complete = false; // a slave or more built from variables
            }
            if (complete) {
                out.push_back(std::move(d));
            }
            i = s;
        }
    }
    return out;
}

std::optional<AltGroup> parse_alt_admin(std::string_view text) {
    std::vector<std::string> l = lines_of(text);
    std::size_t i = 0;
    auto next = [&]() -> std::optional<std::string> {
        if (i >= l.size()) {
            return std::nullopt;
        }
        return l[i++];
    };
    AltGroup g;
    auto mode = next();
    auto link = next();
    if (!mode || !link || (*mode != "auto" && *mode != "manual")) {
        return std::nullopt;
    }
    g.mode = *mode;
    g.link = *link;
    std::vector<std::string> slave_order;
    for (;;) {
        auto name = next();
        if (!name) {
            return std::nullopt;
        }
        if (name->empty()) {
            break;
        }
        auto slink = next();
        if (!slink) {
            return std::nullopt;
        }
        g.slaves[*name] = *slink;
        slave_order.push_back(*name);
    }
    for (;;) {
        auto path = next();
        if (!path || path->empty()) {
            break;
        }
        auto prio_text = next();
        std::optional<int> prio =
            prio_text ? ocibake::detail::parse_decimal<int>(*prio_text) : std::nullopt;
        if (!prio) {
            return std::nullopt;
        }
        AltGroup::Choice c;
        c.priority = *prio;
        for (const std::string& s : slave_order) {
            auto sp = next();
            if (!sp) {
                return std::nullopt;
            }
            if (!sp->empty()) {
                c.slave_paths[s] = *sp;
            }
        }
        g.choices[*path] = c;
    }
    return g;
}

std::string alt_admin_text(const AltGroup& g) {
    std::string out = g.mode + "\n" + g.link + "\n";
    for (const auto& [name, link] : g.slaves) {
        out += name + "\n" + link + "\n";
    }
    out += "\n";
    for (const auto& [path, c] : g.choices) {
        out += path + "\n" + std::to_string(c.priority) + "\n";
        for (const auto& [name, link] : g.slaves) {
            auto it = c.slave_paths.find(name);
            out += (it == c.slave_paths.end() ? std::string() : it->second) + "\n";
        }
    }
    out += "\n";
    return out;
}

// ---- DebInfo records ------------------------------------------------------------------------

std::optional<std::string> to_json(const DebInfo& info) {
    json nodes = json::array();
    for (const auto& [path, node] : info.nodes) {
        json n = json::array({path, static_cast<int>(node.type), node.target});
        if (node.elf) {
            n.push_back(json::array({node.elf->soname, node.elf->flags, node.elf->osversion}));
        } else {
            n.push_back(nullptr);
        }
        n.push_back(node.content);
        nodes.push_back(std::move(n));
    }
    json alts = json::array();
    for (const AltDecl& d : info.alternatives) {
        json slaves = json::array();
        for (const auto& s : d.slaves) {
            slaves.push_back(json::array({s.link, s.name, s.path}));
        }
        alts.push_back(json::array({d.link, d.name, d.path, d.priority, slaves}));
    }
    try {
        return json{{"version", 2},
                    {"stanza", info.stanza},
                    {"nodes", nodes},
                    {"alternatives", alts},
                    {"control", info.control}}
            .dump();
    } catch (const json::type_error&) {
        return std::nullopt; // not UTF-8
    }
}

std::optional<DebInfo> deb_info_from_json(std::string_view text) {
    try {
        json j = json::parse(text);
        if (j.at("version") != 2) {
            return std::nullopt; // an older record: the package is read again
        }
        DebInfo info;
        info.stanza = j.at("stanza").get<std::string>();
        for (const json& n : j.at("nodes")) {
            ImageNode node;
            node.type = static_cast<ImageNode::Type>(ocibake::detail::json_integer<int>(n.at(1)));
            node.target = n.at(2).get<std::string>();
            if (!n.at(3).is_null()) {
                node.elf = ElfInfo{n.at(3).at(0).get<std::string>(),
                                   ocibake::detail::json_integer<std::int32_t>(n.at(3).at(1)),
                                   ocibake::detail::json_integer<std::uint32_t>(n.at(3).at(2))};
            }
            node.content = n.at(4).get<std::string>();
            info.nodes.emplace_back(n.at(0).get<std::string>(), std::move(node));
        }
        for (const json& a : j.at("alternatives")) {
            AltDecl d;
            d.link = a.at(0).get<std::string>();
            d.name = a.at(1).get<std::string>();
            d.path = a.at(2).get<std::string>();
            d.priority = ocibake::detail::json_integer<int>(a.at(3));
            for (const json& s : a.at(4)) {
                d.slaves.push_back({s.at(0).get<std::string>(), s.at(1).get<std::string>(),
                                    s.at(2).get<std::string>()});
            }
            info.alternatives.push_back(std::move(d));
        }
        info.control = j.at("control").get<std::vector<std::string>>();
        return info;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

// ---- the view -----------------------------------------------------------------------------------

ImageView view_of(const ImageFacts& facts) {
    ImageView view;
    for (const std::string& d : facts.dirs) {
        view[d].type = ImageNode::Type::directory;
    }
    for (const auto& [path, target] : facts.symlinks) {
        ImageNode n;
        n.type = ImageNode::Type::symlink;
        n.target = target;
        view[path] = n;
    }
    for (const auto& [path, lib] : facts.libraries) {
        ImageNode n;
        n.elf = ElfInfo{lib.soname, lib.flags, lib.osversion};
        view[path] = n;
    }
    for (const auto& [path, content] : facts.files) {
        ImageNode n;
        n.content = content;
        view[path] = n;
    }
    return view;
}

void put_node(ImageView& view, const std::string& path, ImageNode node) {
    // Missing parents exist once unpacked (unpackers create them).
    for (std::size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
        auto [it, fresh] = view.try_emplace(path.substr(0, slash));
        if (fresh) {
            it->second.type = ImageNode::Type::directory;
        }
    }
    auto it = view.find(path);
    if (it != view.end() && it->second.type == ImageNode::Type::directory &&
        node.type == ImageNode::Type::directory) {
        return; // an existing directory stays as it is
    }
    if (it != view.end() && it->second.type == ImageNode::Type::directory) {
        // A directory replaced by something else: what was below it is gone.
        std::string prefix = path + "/";
        for (auto below = view.lower_bound(prefix);
             below != view.end() && below->first.starts_with(prefix);) {
            below = view.erase(below);
        }
    }
    view[path] = std::move(node);
}

// ---- accounts -----------------------------------------------------------------------------------

namespace {

/// The gid of an /etc/group row (of the image below, or of base-passwd's group.master).
std::uint32_t gid_in_group_file(const std::vector<std::string>& row) {
    std::optional<std::uint32_t> gid = ocibake::detail::parse_decimal<std::uint32_t>(row[2]);
    if (!gid) {
        throw Error(ErrorKind::input, "/etc/group gives group '" + row[0] + "' the gid '" + row[2] +
                                          "', which is not a number");
    }
    return *gid;
}

struct Table {
    std::vector<std::vector<std::string>> rows; ///< fields of each line
    std::vector<std::string> raw;               ///< lines that are not records, kept

    static Table parse(const std::string& text) {
        Table t;
        for (const std::string& line : lines_of(text)) {
            if (line.empty() || line.starts_with('#') || line.starts_with('+') ||
                line.starts_with('-')) {
                t.rows.push_back({});
                t.raw.push_back(line);
                continue;
            }
            std::vector<std::string> fields;
            std::size_t pos = 0;
            for (;;) {
                std::size_t colon = line.find(':', pos);
                fields.push_back(
                    line.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos));
                if (colon == std::string::npos) {
                    break;
                }
                pos = colon + 1;
            }
            t.rows.push_back(std::move(fields));
            t.raw.push_back({});
        }
        return t;
    }
    std::vector<std::string>* find(const std::string& name) {
        for (auto& r : rows) {
            if (!r.empty() && r[0] == name) {
                return &r;
            }
        }
        return nullptr;
    }
    std::vector<std::string>* find_id(const std::string& id, std::size_t column) {
        for (auto& r : rows) {
            if (r.size() > column && r[column] == id) {
                return &r;
            }
        }
        return nullptr;
    }
    std::string text() const {
        std::string out;
        for (std::size_t i = 0; i < rows.size(); ++i) {
            if (rows[i].empty()) {
                out += raw[i] + "\n";
                continue;
            }
            for (std::size_t f = 0; f < rows[i].size(); ++f) {
                out += (f ? ":" : "") + rows[i][f];
            }
            out += "\n";
        }
        return out;
    }
};

void add_member(std::vector<std::string>& row, std::size_t column, const std::string& user) {
    while (row.size() <= column) {
        row.emplace_back();
    }
    std::string& list = row[column];
    std::vector<std::string> members = words([&] {
        std::string spaced = list;
        std::replace(spaced.begin(), spaced.end(), ',', ' ');
        return spaced;
    }());
    if (std::find(members.begin(), members.end(), user) == members.end()) {
        list += (list.empty() ? "" : ",") + user;
    }
}

} // namespace

std::vector<LayerEntry> account_entries(const ImageFacts& below, const ImageView& view,
                                        const std::map<std::string, std::string>& masters,
                                        const std::vector<Account>& accounts,
                                        const std::vector<Group>& groups) {
    (void)view;
    std::string passwd_text = below.file("etc/passwd");
    std::string group_text = below.file("etc/group");
    bool from_masters = false;
    if (passwd_text.empty() && masters.count("usr/share/base-passwd/passwd.master")) {
        // base-passwd's postinst: no /etc/passwd yet, so the master files are copied.
        passwd_text = masters.at("usr/share/base-passwd/passwd.master");
        from_masters = true;
    }
    if (group_text.empty() && masters.count("usr/share/base-passwd/group.master")) {
        group_text = masters.at("usr/share/base-passwd/group.master");
        from_masters = true;
    }
    if (!from_masters && accounts.empty() && groups.empty()) {
        return {};
    }
    Table passwd = Table::parse(passwd_text);
    Table group = Table::parse(group_text);
    Table shadow = Table::parse(below.file("etc/shadow"));
    Table gshadow = Table::parse(below.file("etc/gshadow"));
    // The passwd package's postinst runs `shadowconfig on`: passwords move to shadow.
    for (auto& row : passwd.rows) {
        if (row.size() >= 7 && !shadow.find(row[0])) {
            std::string password = row[1] == "x" ? "*" : row[1];
            shadow.rows.push_back({row[0], password, "", "0", "99999", "7", "", "", ""});
            shadow.raw.emplace_back();
            row[1] = "x";
        }
    }
    for (auto& row : group.rows) {
        if (row.size() >= 4 && !gshadow.find(row[0])) {
            std::string password = row[1] == "x" ? "*" : row[1];
            gshadow.rows.push_back({row[0], password, "", row[3]});
            gshadow.raw.emplace_back();
            row[1] = "x";
        }
    }
    auto add_group = [&](const std::string& name, std::uint32_t gid, const SourceLocation& where) {
        std::string id = std::to_string(gid);
        if (auto* row = group.find(name)) {
            if (row->size() < 3 || (*row)[2] != id) {
                throw RecipeError(ErrorKind::recipe, where,
                                  "group '" + name + "' is gid " +
                                      (row->size() > 2 ? (*row)[2] : std::string("?")) +
                                      " in the image below, not " + id);
            }
            return;
        }
        if (auto* other = group.find_id(id, 2)) {
            throw RecipeError(ErrorKind::recipe, where,
                              "gid " + id + " is group '" + (*other)[0] +
                                  "' in the image below, so it cannot be '" + name + "'");
        }
        group.rows.push_back({name, "x", id, ""});
        group.raw.emplace_back();
        gshadow.rows.push_back({name, "*", "", ""});
        gshadow.raw.emplace_back();
    };
    for (const Group& g : groups) {
        add_group(g.name, g.gid, g.where);
        for (const std::string& m : g.members) {
            add_member(*group.find(g.name), 3, m);
            add_member(*gshadow.find(g.name), 3, m);
        }
    }
    for (const Account& a : accounts) {
        std::string uid = std::to_string(a.uid);
        std::string primary = a.group.empty() ? a.name : a.group;
        std::uint32_t gid = a.gid.value_or(a.uid);
        if (auto* row = group.find(primary); row && row->size() > 2) {
            if (a.gid && (*row)[2] != std::to_string(*a.gid)) {
                throw RecipeError(ErrorKind::recipe, a.where,
                                  "group '" + primary + "' is gid " + (*row)[2] +
                                      " in the image below, not " + std::to_string(*a.gid));
            }
            gid = gid_in_group_file(*row);
        } else {
            add_group(primary, gid, a.where);
        }
        if (auto* row = passwd.find(a.name)) {
            if (row->size() < 3 || (*row)[2] != uid) {
                throw RecipeError(ErrorKind::recipe, a.where,
                                  "user '" + a.name + "' is uid " +
                                      (row->size() > 2 ? (*row)[2] : std::string("?")) +
                                      " in the image below, not " + uid);
            }
        } else {
            if (auto* other = passwd.find_id(uid, 2)) {
                throw RecipeError(ErrorKind::recipe, a.where,
                                  "uid " + uid + " is user '" + (*other)[0] +
                                      "' in the image below, so it cannot be '" + a.name + "'");
            }
            passwd.rows.push_back(
                {a.name, "x", uid, std::to_string(gid), a.comment, a.home, a.shell});
            passwd.raw.emplace_back();
            if (!shadow.find(a.name)) {
                shadow.rows.push_back({a.name, "*", "", "0", "99999", "7", "", "", ""});
                shadow.raw.emplace_back();
            }
        }
        for (const std::string& g : a.groups) {
            auto* row = group.find(g);
            if (row == nullptr) {
                throw RecipeError(ErrorKind::recipe, a.where,
                                  "user '" + a.name + "': group '" + g +
                                      "' does not exist in the image below",
                                  "declare it with [[layer.group]] or pick an existing group");
            }
            add_member(*row, 3, a.name);
            if (auto* gs = gshadow.find(g)) {
                add_member(*gs, 3, a.name);
            }
        }
    }
    std::uint32_t shadow_gid = 0;
    if (auto* row = group.find("shadow"); row && row->size() > 2) {
        shadow_gid = gid_in_group_file(*row);
    }
    std::vector<LayerEntry> out;
    auto file = [&](const char* path, std::string content, std::uint32_t mode, std::uint32_t gid) {
        LayerEntry e;
        e.path = path;
        e.type = EntryType::file;
        e.mode = mode;
        e.gid = gid;
        e.size = content.size();
        e.content = std::move(content);
        out.push_back(std::move(e));
    };
    file("etc/group", group.text(), 0644, 0);
    file("etc/gshadow", gshadow.text(), 0640, shadow_gid);
    file("etc/passwd", passwd.text(), 0644, 0);
    file("etc/shadow", shadow.text(), 0640, shadow_gid);
    return out;
}

// ---- alternatives
// --------------------------------------------------------------------------------

std::vector<LayerEntry> alternative_entries(const ImageFacts& below, const ImageView& view,
                                            const std::vector<AltDecl>& declared,
                                            const std::vector<AlternativeChoice>& chosen,
                                            const std::map<std::string, std::string>& links) {
    (void)links;
    std::set<std::string> names;
    for (const AltDecl& d : declared) {
        names.insert(d.name);
    }
    for (const AlternativeChoice& c : chosen) {
        names.insert(c.name);
    }
    auto exists = [&](const std::string& path) {
        return !resolve_in(view, path.substr(path.find_first_not_of('/'))).empty();
    };
    std::vector<LayerEntry> out;
    auto symlink = [&](const std::string& path, const std::string& target) {
        out.push_back(symlink_entry(path.substr(path.find_first_not_of('/')), target));
    };
    for (const std::string& name : names) {
        std::string admin = "var/lib/dpkg/alternatives/" + name;
        AltGroup group = parse_alt_admin(below.file(admin)).value_or(AltGroup{});
        for (const AltDecl& d : declared) {
            if (d.name != name || !exists(d.path)) {
                continue; // update-alternatives refuses a path that does not exist
            }
            group.link = d.link;
            AltGroup::Choice c;
            c.priority = d.priority;
            for (const auto& s : d.slaves) {
                group.slaves[s.name] = s.link;
                c.slave_paths[s.name] = s.path;
            }
            group.choices[d.path] = c;
        }
        std::optional<std::string> manual;
        for (const AlternativeChoice& c : chosen) {
            if (c.name != name) {
                continue;
            }
            if (!c.link.empty()) {
                group.link = c.link;
            }
            if (!group.choices.count(c.path)) {
                if (c.link.empty() && group.link.empty()) {
                    throw RecipeError(ErrorKind::recipe, c.where,
                                      "no package of this layer or below declares the "
                                      "alternative '" +
                                          name + "'",
                                      "give its 'link' (and 'priority') to declare it here");
                }
                if (!exists(c.path)) {
                    throw RecipeError(ErrorKind::recipe, c.where,
                                      "alternative '" + name + "': " + c.path +
                                          " is not in the image");
                }
                group.choices[c.path].priority = c.priority;
            }
            manual = c.path;
        }
        if (group.choices.empty() || group.link.empty()) {
            continue;
        }
        std::string best;
        if (manual) {
            group.mode = "manual";
            best = *manual;
        } else {
            group.mode = "auto";
            int top = 0;
            for (const auto& [path, c] : group.choices) {
                if (best.empty() || c.priority > top) {
                    best = path;
                    top = c.priority;
                }
            }
        }
        const AltGroup::Choice& c = group.choices.at(best);
        symlink(group.link, "/etc/alternatives/" + name);
        symlink("/etc/alternatives/" + name, best);
        for (const auto& [sname, slink] : group.slaves) {
            auto sp = c.slave_paths.find(sname);
            if (sp != c.slave_paths.end() && exists(sp->second)) {
                symlink(slink, "/etc/alternatives/" + sname);
                symlink("/etc/alternatives/" + sname, sp->second);
            }
        }
        LayerEntry e;
        e.path = admin;
        e.type = EntryType::file;
        e.mode = 0644;
        e.content = alt_admin_text(group);
        e.size = e.content.size();
        out.push_back(std::move(e));
    }
    return out;
}

// ---- ca-certificates
// ------------------------------------------------------------------------------

std::vector<LayerEntry> ca_certificate_entries(const ImageFacts& below, const ImageView& view) {
    const std::string shared = "usr/share/ca-certificates/";
    const std::string local = "usr/local/share/ca-certificates/";
    auto certs_under = [&](const std::string& prefix) {
        std::vector<std::string> out; // relative to prefix, sorted (find | sort)
        for (auto it = view.lower_bound(prefix); it != view.end() && it->first.starts_with(prefix);
             ++it) {
            if (it->second.type == ImageNode::Type::file && it->first.ends_with(".crt")) {
                out.push_back(it->first.substr(prefix.size()));
            }
        }
        return out;
    };
    std::vector<std::string> available = certs_under(shared);
    // The configuration: the image's, with what it does not mention yet added (debconf's
    // "trust new certificates" default), or a new one listing every certificate.
    std::string conf = below.file("etc/ca-certificates.conf");
    bool conf_changed = false;
    if (conf.empty()) {
        conf = "# This file lists certificates that you wish to use or to ignore to be\n"
               "# installed in /etc/ssl/certs.\n"
               "# update-ca-certificates(8) will update /etc/ssl/certs by reading this file.\n"
               "#\n"
               "# This is autogenerated by dpkg-reconfigure ca-certificates.\n"
               "# Certificates should be installed under /usr/share/ca-certificates\n"
               "# and files with extension '.crt' is recognized as available certs.\n"
               "#\n"
               "# line begins with # is comment.\n"
               "# line begins with ! is certificate filename to be deselected.\n"
               "#\n";
        conf_changed = true;
    }
    std::set<std::string> mentioned;
    for (const std::string& line : lines_of(conf)) {
        if (!line.empty() && line[0] != '#') {
            mentioned.insert(line[0] == '!' ? line.substr(1) : line);
        }
    }
    for (const std::string& c : available) {
        if (!mentioned.count(c)) {
            conf += c + "\n";
            conf_changed = true;
        }
    }
    std::vector<std::string> trusted; // image paths, in update-ca-certificates' order
    for (const std::string& line : lines_of(conf)) {
        if (line.empty() || line[0] == '#' || line[0] == '!') {
            continue;
        }
        auto it = view.find(shared + line);
        if (it != view.end() && it->second.type == ImageNode::Type::file) {
            trusted.push_back(shared + line);
        }
    }
    for (const std::string& c : certs_under(local)) {
        trusted.push_back(local + c);
    }
    std::vector<LayerEntry> out;
    auto symlink = [&](const std::string& path, const std::string& target) {
        out.push_back(symlink_entry(path, target));
    };
    std::string bundle;
    std::map<std::string, std::string> pems; // link name -> certificate text
    for (const std::string& cert : trusted) {
        std::string name = cert.substr(cert.rfind('/') + 1);
        name = name.substr(0, name.size() - 4); // basename "$CERT" .crt
        for (char& c : name) {
            c = c == ' ' || c == ',' ? '_' : c == '(' || c == ')' ? '=' : c;
        }
        const std::string& text = view.at(cert).content;
        pems[name + ".pem"] = text;
        symlink("etc/ssl/certs/" + name + ".pem", "/" + cert);
        bundle += text;
        if (!text.empty() && text.back() != '\n') {
            bundle += '\n'; // update-ca-certificates adds a missing final newline
        }
    }
    // openssl rehash: HASH.N -> NAME.pem, N counting certificates with the same hash.
    std::map<unsigned long, int> seen;
    for (const auto& [name, text] : pems) {
        if (auto hash = subject_hash(text)) {
            char link[32];
            std::snprintf(link, sizeof link, "%08lx.%d", *hash, seen[*hash]++);
            symlink(std::string("etc/ssl/certs/") + link, name);
        }
    }
    LayerEntry b;
    b.path = "etc/ssl/certs/ca-certificates.crt";
    b.type = EntryType::file;
    b.mode = 0644;
    b.content = std::move(bundle);
    b.size = b.content.size();
    out.push_back(std::move(b));
    if (conf_changed) {
        LayerEntry c;
        c.path = "etc/ca-certificates.conf";
        c.type = EntryType::file;
        c.mode = 0644;
        c.content = conf;
        c.size = conf.size();
        out.push_back(std::move(c));
    }
    return out;
}

} // namespace ocibake::apt::detail
