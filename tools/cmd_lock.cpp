// `ocibake lock` and `ocibake outdated`, and the lock diff as tables.
#include "cli.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

namespace ocibake::cli {

namespace {

/// `ocibake outdated`'s exit codes (docs/cli.md).
constexpr int kExitUpdates = 9;
constexpr int kExitSecurityUpdates = 10;

std::string short_digest(const Digest& d) {
    return d ? d.str().substr(0, 19) : std::string("(none)");
}

using Kind = LockChange::Kind;

/// How many pins of one kind a layer of `lock` has (apt packages, wheels or archives).
std::size_t pins_of(const Lock& lock, const std::string& layer, Kind kind) {
    if (kind == Kind::apt) {
        for (const auto& l : lock.apt) {
            if (l.layer == layer) {
                return l.installs.size();
            }
        }
        return 0;
    }
    if (kind == Kind::archive) {
        const auto* a = lock.archives_for(layer);
        return a == nullptr ? 0 : a->files.size();
    }
    const auto* p = lock.python_for(layer);
    return p == nullptr ? 0 : p->wheels.size();
}

/// A layer's label for a kind of pin, and its nouns (one, many).
const char* kind_label(Kind kind) {
    return kind == Kind::apt ? "apt" : kind == Kind::wheel ? "wheels" : "archives";
}
const char* kind_noun(Kind kind, std::size_t n) {
    switch (kind) {
    case Kind::apt:
        return n == 1 ? "package" : "packages";
    case Kind::wheel:
        return n == 1 ? "wheel" : "wheels";
    case Kind::archive:
        break;
    }
    return n == 1 ? "archive" : "archives";
}

using Rows = std::vector<std::vector<std::string>>;

/// The changes [i, end) of one layer and kind as table rows, the header first.
Rows change_rows(const LockDiff& d, std::size_t i, std::size_t end, Kind kind) {
    bool apt = kind == Kind::apt;
    Rows rows;
    rows.push_back(
        apt ? std::vector<std::string>{"PACKAGE", "FROM", "TO", "SOURCE", "SECURITY", "SIZE"}
        : kind == Kind::wheel ? std::vector<std::string>{"WHEEL", "FROM", "TO", "FILE", "SIZE"}
                              : std::vector<std::string>{"ARCHIVE", "FROM", "TO", "URL", "SIZE"});
    for (std::size_t k = i; k < end; ++k) {
        const auto& c = d.changes[k];
        std::string from = c.from.empty() ? "-" : c.from;
        std::string to = c.to.empty() ? "-" : c.to;
        std::string size = c.to.empty() ? "-" : human_size(c.size);
        if (apt) {
            std::string name =
                c.arch == "amd64" || c.arch == "all" ? c.name : c.name + ":" + c.arch;
            rows.push_back({name, from, to, c.source, c.security ? "yes" : "no", size});
        } else {
            rows.push_back({c.name, from, to, c.file.empty() ? "-" : c.file, size});
        }
    }
    return rows;
}

/// The changes [i, end) as a table, each reason on the line below its row.
void print_table(const LockDiff& d, std::size_t i, std::size_t end, Kind kind) {
    Rows rows = change_rows(d, i, end, kind);
    std::vector<std::size_t> width(rows[0].size(), 0);
    for (const auto& row : rows) {
        for (std::size_t col = 0; col < row.size(); ++col) {
            width[col] = std::max(width[col], row[col].size());
        }
    }
    std::printf("%slayer %s (%s)\n", i == 0 && !d.base ? "" : "\n", d.changes[i].layer.c_str(),
                kind_label(kind));
    for (std::size_t r = 0; r < rows.size(); ++r) {
        std::string line = "  ";
        for (std::size_t col = 0; col < rows[r].size(); ++col) {
            bool last = col + 1 == rows[r].size();
            line +=
                rows[r][col] + (last ? "" : std::string(width[col] - rows[r][col].size() + 2, ' '));
        }
        std::printf("%s\n", line.c_str());
        if (r > 0 && !d.changes[i + r - 1].reason.empty()) {
            std::printf("      (%s)\n", d.changes[i + r - 1].reason.c_str());
        }
    }
}

/// Prints the changes [i, end) as one line when every pin of their layer is new (a first
/// lock); returns whether it did.
bool print_all_new(const LockDiff& d, const Lock& after, std::size_t i, std::size_t end,
                   Kind kind) {
    bool all_new = end - i == pins_of(after, d.changes[i].layer, kind) &&
                   std::all_of(d.changes.begin() + static_cast<std::ptrdiff_t>(i),
                               d.changes.begin() + static_cast<std::ptrdiff_t>(end),
                               [](const LockChange& c) { return c.from.empty(); });
    if (!all_new) {
        return false;
    }
    std::uint64_t bytes = 0;
    for (std::size_t k = i; k < end; ++k) {
        bytes += d.changes[k].size;
    }
    std::printf("%slayer %s (%s): %zu new %s, %s\n", i == 0 && !d.base ? "" : "\n",
                d.changes[i].layer.c_str(), kind_label(kind), end - i, kind_noun(kind, end - i),
                human_size(bytes).c_str());
    return true;
}

/// "2 packages (1 from security suites), 1 wheel, 1 archive and the base".
std::string summary_of(const LockDiff& d) {
    std::size_t packages = 0, wheels = 0, archives = 0, security = 0;
    for (const auto& c : d.changes) {
        (c.kind == Kind::apt ? packages : c.kind == Kind::wheel ? wheels : archives) += 1;
        security += c.security ? 1 : 0;
    }
    std::vector<std::string> parts;
    if (packages != 0) {
        parts.push_back(
            std::to_string(packages) + (packages == 1 ? " package" : " packages") +
            (security != 0 ? " (" + std::to_string(security) + " from security suites)" : ""));
    }
    if (wheels != 0) {
        parts.push_back(std::to_string(wheels) + (wheels == 1 ? " wheel" : " wheels"));
    }
    if (archives != 0) {
        parts.push_back(std::to_string(archives) + (archives == 1 ? " archive" : " archives"));
    }
    if (d.base) {
        parts.push_back("the base");
    }
    std::string summary;
    for (std::size_t k = 0; k < parts.size(); ++k) {
        summary += (k == 0 ? "" : k + 1 == parts.size() ? " and " : ", ") + parts[k];
    }
    return summary;
}

/// The layers whose digests will change, and what a pull of the new image moves.
void print_forecast(const LockDiff& d) {
    if (d.layers.empty()) {
        return;
    }
    std::printf("layers whose digest changes (predicted):\n");
    std::size_t width = 0;
    bool unknown = false;
    for (const auto& l : d.layers) {
        width = std::max(width, l.name.size());
    }
    for (const auto& l : d.layers) {
        unknown = unknown || !l.bytes;
        std::printf("  %-*s  %10s  %s\n", static_cast<int>(width), l.name.c_str(),
                    l.bytes ? human_size(*l.bytes).c_str() : "?", l.why.c_str());
    }
    std::printf("a pull of the new image moves about %s%s\n", human_size(d.pull_bytes).c_str(),
                unknown ? " and the state layer" : "");
}

struct LockFlags {
    std::string recipe;
    LockOptions options;
    std::vector<std::string> stand_ins;
};

/// --only and --security-only: which pins `lock --update` moves, or `outdated` looks at.
void add_selection(CLI::App* command, LockOptions& options, const std::string& only,
                   const std::string& security_only) {
    command->add_option("--only", options.only, only);
    command->add_flag("--security-only", options.security_only, security_only);
}

/// One line per input of the new lock.
void print_lock_inputs(const Lock& lock) {
    if (lock.base) {
        std::printf("base %s (%s) -> %s\n", lock.base->ref.c_str(), lock.base->platform.c_str(),
                    lock.base->manifest.str().c_str());
    }
    for (const auto& p : lock.python) {
        std::printf("layer %s: %zu wheels for CPython %s%s%s, %s\n", p.layer.c_str(),
                    p.wheels.size(), p.python.c_str(), p.glibc.empty() ? "" : ", glibc ",
                    p.glibc.c_str(), p.machine.c_str());
    }
    for (const auto& layer : lock.apt) {
        std::uint64_t bytes = 0;
        for (const auto& p : layer.installs) {
            bytes += p.size;
        }
        std::printf("layer %s: %zu packages, %s\n", layer.layer.c_str(), layer.installs.size(),
                    human_size(bytes).c_str());
    }
}

BuildOptions resolve_options(Shared& s) {
    BuildOptions options;
    options.registry = s.registry.options();
    options.cache_dir = s.cache_dir;
    return options;
}

int run_lock(const LockFlags& f, Shared& s) {
    BuildOptions options = resolve_options(s);
    options.stand_ins = parse_stand_ins(f.stand_ins);
    auto r = lock_recipe(load_recipe(f.recipe), options, f.options);
    print_stand_ins(r.stand_ins, false);
    if (s.as_json) {
        print_json(to_json(r));
        return 0;
    }
    print_lock_inputs(r.lock);
    const LockOptions& o = f.options;
    if (!r.diff.empty()) {
        std::printf("\n");
        print_lock_diff(r.diff, r.lock,
                        o.dry_run  ? "would change"
                        : o.update ? "updated"
                                   : "changed");
    }
    std::printf("%s %s\n",
                !r.changed  ? "unchanged:"
                : o.dry_run ? "would write"
                            : "wrote",
                r.file.string().c_str());
    return 0;
}

int run_outdated(const LockFlags& f, Shared& s) {
    BuildOptions options = resolve_options(s);
    LockOptions o = f.options;
    o.update = true;
    o.dry_run = true;
    auto r = lock_recipe(load_recipe(f.recipe), options, o);
    if (s.as_json) {
        print_json(to_json(r.diff, r.file, f.recipe));
    } else if (r.diff.empty()) {
        std::printf("%s is up to date\n", r.file.string().c_str());
    } else {
        print_lock_diff(r.diff, r.lock, "outdated");
    }
    return r.diff.empty() ? 0 : r.diff.security() ? kExitSecurityUpdates : kExitUpdates;
}

} // namespace

void print_lock_diff(const LockDiff& d, const Lock& after, const char* label) {
    if (d.base) {
        std::printf("base %s (%s)\n  %s -> %s  (new layers: %s)\n", d.base->ref.c_str(),
                    d.base->platform.c_str(), short_digest(d.base->from).c_str(),
                    short_digest(d.base->to).c_str(), human_size(d.base->new_layer_bytes).c_str());
    }
    std::size_t i = 0;
    while (i < d.changes.size()) {
        std::size_t end = i;
        while (end < d.changes.size() && d.changes[end].layer == d.changes[i].layer &&
               d.changes[end].kind == d.changes[i].kind) {
            ++end;
        }
        if (!print_all_new(d, after, i, end, d.changes[i].kind)) {
            print_table(d, i, end, d.changes[i].kind);
        }
        i = end;
    }
    std::printf("\n%s: %s\n", label, summary_of(d).c_str());
    print_forecast(d);
}

Command add_lock(CLI::App& app, Shared& s) {
    auto f = std::make_shared<LockFlags>();
    auto* lock =
        app.add_subcommand("lock", "Pin every remote input of a recipe by digest in its lock file");
    lock->add_option("recipe", f->recipe, "The recipe (.toml)")->required();
    s.add_json(lock, "Print the lock (and what changed) as JSON");
    s.add_cache_dir(lock);
    lock->add_flag("--update", f->options.update,
                   "Move the pins to what the registry, apt sources and indexes offer now "
                   "(without it, a lock that answers the recipe is left as it is)");
    add_selection(lock, f->options,
                  "With --update: move only this apt package, source package, wheel or base "
                  "reference (repeatable), and what must move with it",
                  "With --update: move only apt packages a security suite updates");
    lock->add_flag("--dry-run", f->options.dry_run, "Print what would change; write nothing");
    lock->add_option("--stand-in", f->stand_ins,
                     "PACKAGE=ARCHIVE: leave the layer that provides this installer package's "
                     "payload unlocked (as `build --stand-in` replaces it) (repeatable)");
    return s.registry_command(lock, [f, &s] { return run_lock(*f, s); });
}

Command add_outdated(CLI::App& app, Shared& s) {
    auto f = std::make_shared<LockFlags>();
    auto* outdated = app.add_subcommand(
        "outdated", "What moved upstream since the lock (the diff `lock --update` would make); "
                    "writes nothing");
    outdated->add_option("recipe", f->recipe, "The recipe (.toml)")->required();
    s.add_json(outdated, "Print the diff as JSON");
    add_selection(outdated, f->options,
                  "Look only at this apt package, source package, wheel or base reference "
                  "(repeatable), and what must move with it",
                  "Look only at apt packages a security suite updates (wheels and the base are "
                  "kept as the lock pins them)");
    s.add_cache_dir(outdated);
    return s.registry_command(outdated, [f, &s] { return run_outdated(*f, s); });
}

} // namespace ocibake::cli
