// The [layer.python] part of builds and locks: the target of each layer (stated, or read
// from the base and the layers below), its locked wheels (from the lock, or resolved),
// and the entries that install them.
#include "bake/python_layers.hpp"

#include "common/fs.hpp"
#include "common/thread_pool.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>

namespace ocibake::detail {

namespace fs = std::filesystem;
namespace py = ocibake::python;

namespace {

[[noreturn]] void fail_at(const SourceLocation& where, const std::string& what,
                          const std::string& hint = {}) {
    throw RecipeError(ErrorKind::recipe, where, what, hint);
}

/// A library error re-thrown at a recipe location, its kind kept.
[[noreturn]] void rethrow_at(const SourceLocation& where, const Error& e) {
    if (dynamic_cast<const RecipeError*>(&e) != nullptr) {
        throw;
    }
    throw RecipeError(e.kind(), where, e.what());
}

/// `step()`, an Error from it made a RecipeError at `where` (a RecipeError passes as it is).
template <typename Step>
auto at(const SourceLocation& where, Step step) {
    try {
        return step();
    } catch (const Error& e) {
        rethrow_at(where, e);
    }
}

std::string glibc_text(const std::optional<py::Glibc>& g) {
    return g ? std::to_string(g->major) + "." + std::to_string(g->minor) : "";
}

/// What one Python layer installs into, and for which Python.
struct LayerTarget {
    py::Target target;
    std::string interpreter; ///< the image's python3.X
    bool dist_packages = false;
};

class Planner {
public:
    explicit Planner(const PythonContext& c) : c_(c) {}

    LayerTarget target_of(std::size_t index) {
        const LayerSpec& layer = c_.recipe.layers[index];
        const PythonSpec& spec = *layer.python;
        LayerTarget t;
        t.target.machine = py::machine_for(c_.recipe.platform.architecture);
        bool need_facts = !spec.python || !spec.glibc || !spec.interpreter;
        py::ImageFacts facts = need_facts ? facts_below(index) : py::ImageFacts{};
        std::string version;
        if (spec.python) {
            version = *spec.python;
        } else if (facts.pythons.size() == 1) {
            version = facts.pythons.begin()->first;
        } else if (facts.pythons.empty()) {
            fail_at(spec.where,
                    "cannot tell the target Python of layer '" + layer.name +
                        "': the image below it has no /usr/bin/python3.X or "
                        "/usr/local/bin/python3.X",
                    "state it in [layer.python]: python = \"3.11\"");
        } else {
            std::string list;
            for (const auto& [v, path] : facts.pythons) {
                list += (list.empty() ? "" : ", ") + path;
            }
            fail_at(
                spec.where,
                "layer '" + layer.name + "': the image below it has several Pythons (" + list + ")",
                "pick one in [layer.python]: python = \"" + facts.pythons.rbegin()->first + "\"");
        }
        std::size_t dot = version.find('.');
        t.target.python_major = std::stoi(version.substr(0, dot));
        t.target.python_minor = std::stoi(version.substr(dot + 1));
        if (spec.interpreter) {
            t.interpreter = *spec.interpreter;
        } else if (auto it = facts.pythons.find(version); it != facts.pythons.end()) {
            t.interpreter = it->second;
        } else {
            t.interpreter = "/usr/bin/python" + version;
        }
        if (spec.glibc) {
            if (*spec.glibc != "none") {
                t.target.glibc = py::Glibc{2, std::stoi(spec.glibc->substr(2))};
            }
        } else if (facts.glibc) {
            t.target.glibc = facts.glibc;
        } else {
            fail_at(spec.where,
                    "cannot tell the glibc of the image below layer '" + layer.name +
                        "': no libc.so.6 found",
                    "state it in [layer.python]: glibc = \"2.36\" (or \"none\" for "
                    "platform-independent wheels only)");
        }
        t.dist_packages = facts.dist_packages && t.interpreter.starts_with("/usr/bin/");
        return t;
    }

private:
    /// The facts of the base and of layers [0, index) together.
    py::ImageFacts facts_below(std::size_t index) {
        if (!base_) {
            base_.emplace();
            for (const LayerResult& layer : c_.base_layers()) {
                base_->merge(py::scan_layer(c_.store, layer));
            }
        }
        py::ImageFacts facts = *base_;
        for (std::size_t j = 0; j < index; ++j) {
            if (layer_facts_.size() <= j) {
                const LayerSpec& below = c_.recipe.layers[j];
                py::ImageFacts f;
                if (!below.packages.empty() && c_.apt != nullptr) {
                    for (const LockedAptLayer& a : *c_.apt) {
                        if (a.layer == below.name) {
                            f = facts_of_packages(a);
                        }
                    }
                }
                // The layer's own files come after its packages (they win).
                f.merge(py::scan_entries(c_.plan(below)));
                layer_facts_.push_back(std::move(f));
            }
            facts.merge(layer_facts_[j]);
        }
        return facts;
    }

    const PythonContext& c_;
    std::optional<py::ImageFacts> base_;
    std::vector<py::ImageFacts> layer_facts_;
};

} // namespace

py::ImageFacts facts_of_packages(const LockedAptLayer& layer) {
    py::ImageFacts f;
    auto digits = [](std::string_view s) {
        return !s.empty() &&
               std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    for (const LockedPackage& p : layer.installs) {
        std::string_view name = p.name;
        if (name.ends_with("-minimal")) {
            name.remove_suffix(8);
        }
        if (name.starts_with("python3.") && digits(name.substr(8))) {
            std::string version(name.substr(6));
            f.pythons[version] = "/usr/bin/python" + version;
            f.dist_packages = true;
        }
        if (p.name == "libc6") {
            // "2.36-9+deb12u7": the upstream version's first two numbers.
            std::string_view v = p.version;
            if (auto colon = v.find(':'); colon != std::string_view::npos) {
                v.remove_prefix(colon + 1);
            }
            std::size_t dot = v.find('.');
            std::size_t end = v.find_first_not_of("0123456789", dot + 1);
            if (dot != std::string_view::npos && digits(v.substr(0, dot)) && end != dot + 1) {
                f.glibc = py::Glibc{std::stoi(std::string(v.substr(0, dot))),
                                    std::stoi(std::string(v.substr(dot + 1, end - dot - 1)))};
            }
        }
    }
    return f;
}

namespace {

http::Client client_for(const BuildOptions& options) {
    return http::Client(options.registry.http);
}

fs::path lock_file_of(const PythonContext& c) {
    return c.options.lock_file.empty() ? lock_path_for(c.recipe.file) : c.options.lock_file;
}

/// Local wheel files are the recipe's, not the lock's; still, every one that cannot
/// install on the target is said at lock time, all in one error, as for locked wheels.
void check_local_wheels(const PythonSpec& spec, const py::Target& target) {
    std::string problems;
    std::size_t bad = 0;
    std::optional<std::size_t> first;
    for (std::size_t k = 0; k < spec.wheels.size(); ++k) {
        try {
            py::check_compatible(py::WheelFilename::parse(spec.wheels[k].filename().string()),
                                 target);
        } catch (const Error& e) {
            problems += "\n  " + spec.wheels_where[k].str() + ": " + e.what();
            ++bad;
            first = first.value_or(k);
        }
    }
    if (first) {
        throw RecipeError(ErrorKind::input, spec.wheels_where[*first],
                          "cannot install " + std::to_string(bad) + " local wheel" +
                              (bad == 1 ? "" : "s") + " for " + target.str() + ":" + problems);
    }
}

/// Resolves one layer's inputs to locked wheels.
LockedPython resolve(const PythonContext& c, const LayerSpec& layer, const LayerTarget& t,
                     http::Client& client) {
    const PythonSpec& spec = *layer.python;
    LockedPython out;
    out.layer = layer.name;
    out.python = t.target.python_version();
    out.glibc = glibc_text(t.target.glibc);
    out.machine = t.target.machine;
    py::LockContext ctx;
    ctx.target = t.target;
    ctx.client = &client;
    ctx.store = &c.store;
    if (!spec.index_url.empty()) {
        ctx.default_index = spec.index_url;
    }
    ctx.extra_indexes = spec.extra_index_urls;
    ctx.lock_dir = lock_file_of(c).parent_path();
    check_local_wheels(spec, t.target);
    if (!spec.requirements.empty()) {
        py::Requirements reqs = py::read_requirements(spec.requirements, spec.requirements_display);
        out.wheels = at(spec.requirements_where, [&] { return py::lock_requirements(reqs, ctx); });
    } else if (!spec.pylock.empty()) {
        auto packages = py::read_pylock(spec.pylock, spec.pylock_display);
        out.wheels = at(spec.pylock_where, [&] { return py::lock_pylock(packages, ctx); });
    }
    return out;
}

std::string hint_for(const PythonContext& c) {
    return "run `ocibake lock " + c.recipe.file.string() +
           "` to lock the Python inputs again (a build without --locked does it too)";
}

/// What a layer's requirements (or pylock) ask for, by normalised name: one entry per
/// requirement whose marker holds for the target.
struct Want {
    std::string spec;
    std::string version;
    std::vector<Digest> hashes;
    SourceLocation where;
};

std::map<std::string, Want> wanted_of(const PythonSpec& spec, const py::Target& target) {
    std::map<std::string, Want> wanted;
    auto env = py::marker_environment(target);
    if (!spec.requirements.empty()) {
        auto reqs = py::read_requirements(spec.requirements, spec.requirements_display);
        for (const auto& r : reqs.items) {
            if (!r.marker.empty() && !py::evaluate_marker(r.marker, env, r.where.str())) {
                continue;
            }
            wanted[py::normalize_name(r.name)] = {r.url.empty() ? r.name + "==" + r.version
                                                                : r.name + " @ " + r.url,
                                                  r.version, r.hashes, r.where};
        }
    } else if (!spec.pylock.empty()) {
        for (const auto& p : py::read_pylock(spec.pylock, spec.pylock_display)) {
            if (!p.marker.empty() && !py::evaluate_marker(p.marker, env, p.where.str())) {
                continue;
            }
            Want w{p.name + (p.version.empty() ? "" : " " + p.version), p.version, {}, p.where};
            for (const auto& f : p.wheels) {
                w.hashes.push_back(f.sha256);
            }
            wanted[py::normalize_name(p.name)] = w;
        }
    }
    return wanted;
}

/// Does the requirement still allow the locked wheel (its version, one of its hashes)?
bool allows(const Want& want, const LockedWheel& w, bool* version_ok = nullptr) {
    bool hash_ok = std::find(want.hashes.begin(), want.hashes.end(), w.sha256) != want.hashes.end();
    bool version = want.version.empty() || py::version_matches(want.version, w.version);
    if (version_ok != nullptr) {
        *version_ok = version;
    }
    return hash_ok && version;
}

std::string target_text(const LockedPython& locked) {
    return "CPython " + locked.python + ", " +
           (locked.glibc.empty() ? "no glibc" : "glibc " + locked.glibc) + ", " + locked.machine;
}

/// Why a lock entry no longer answers the recipe, checked without any network: another
/// target, a locked wheel the inputs no longer allow or ask for, a requirement without a
/// wheel. nullopt when it still answers it.
struct Stale {
    SourceLocation where;
    std::string why;
};

std::optional<Stale> stale_entry(const LayerSpec& layer, const LayerTarget& t,
                                 const LockedPython& locked) {
    const PythonSpec& spec = *layer.python;
    std::string now = t.target.str();
    std::string then = target_text(locked);
    if (now != then) {
        return Stale{locked.where, "the lock pins the wheels of layer '" + layer.name + "' for " +
                                       then + ", but the recipe now targets " + now};
    }
    std::map<std::string, Want> wanted = wanted_of(spec, t.target);
    std::set<std::string> seen;
    for (const LockedWheel& w : locked.wheels) {
        auto it = wanted.find(w.name);
        if (it == wanted.end()) {
            return Stale{
                w.where,
                "the lock pins " + w.file + " for layer '" + layer.name + "', which " +
                    (spec.requirements.empty() ? spec.pylock_display : spec.requirements_display) +
                    " no longer asks for"};
        }
        const Want& want = it->second;
        bool version_ok = false;
        if (!allows(want, w, &version_ok)) {
            return Stale{w.where, "the lock pins " + w.file + " (" + w.sha256.str() +
                                      ") for layer '" + layer.name + "', but " + want.where.str() +
                                      " asks for " + want.spec +
                                      (version_ok ? " with other hashes" : "")};
        }
        seen.insert(w.name);
    }
    for (const auto& [name, want] : wanted) {
        if (seen.count(name) == 0) {
            return Stale{locked.where, "the lock of layer '" + layer.name + "' has no wheel for " +
                                           want.spec + " (" + want.where.str() + ")"};
        }
    }
    return std::nullopt;
}

/// Checks that a lock entry still answers the recipe (no network), as stale_entry() says.
void check_matches(const PythonContext& c, const LayerSpec& layer, const LayerTarget& t,
                   const LockedPython& locked) {
    if (std::optional<Stale> stale = stale_entry(layer, t, locked)) {
        fail_at(stale->where, stale->why, hint_for(c));
    }
}

} // namespace

bool has_python_layers(const Recipe& recipe) {
    return std::any_of(recipe.layers.begin(), recipe.layers.end(),
                       [](const LayerSpec& l) { return l.python.has_value(); });
}

std::vector<LockedPython>
lock_python_layers(const PythonContext& c, const std::vector<LockedPython>& old, bool keep_current,
                   const std::function<bool(const LockedWheel&)>& may_move) {
    std::vector<LockedPython> out;
    Planner planner(c);
    http::Client client = client_for(c.options);
    for (std::size_t i = 0; i < c.recipe.layers.size(); ++i) {
        const LayerSpec& layer = c.recipe.layers[i];
        if (layer.python &&
            (!layer.python->requirements.empty() || !layer.python->pylock.empty())) {
            LayerTarget t = planner.target_of(i);
            auto entry = std::find_if(old.begin(), old.end(),
                                      [&](const LockedPython& p) { return p.layer == layer.name; });
            if (entry != old.end() && keep_current && !stale_entry(layer, t, *entry)) {
                check_local_wheels(*layer.python, t.target);
                out.push_back(*entry);
                continue;
            }
            LockedPython fresh = resolve(c, layer, t, client);
            if (entry != old.end() && target_text(*entry) == t.target.str()) {
                // The locked wheels that stay: not freed, and still allowed.
                std::map<std::string, Want> wanted = wanted_of(*layer.python, t.target);
                for (LockedWheel& w : fresh.wheels) {
                    for (const LockedWheel& was : entry->wheels) {
                        auto want = wanted.find(was.name);
                        if (was.name == w.name && (!may_move || !may_move(was)) &&
                            want != wanted.end() && allows(want->second, was) &&
                            was.direct == w.direct) {
                            w = was;
                            w.where = {};
                        }
                    }
                }
            }
            out.push_back(std::move(fresh));
        } else if (layer.python && !layer.python->wheels.empty()) {
            check_local_wheels(*layer.python, planner.target_of(i).target);
        }
    }
    return out;
}

std::vector<std::vector<LayerEntry>> plan_python_layers(const PythonContext& c, bool& written) {
    std::vector<std::vector<LayerEntry>> out(c.recipe.layers.size());
    if (!has_python_layers(c.recipe)) {
        return out;
    }
    Planner planner(c);
    http::Client client = client_for(c.options);
    fs::path lock_file = lock_file_of(c);
    Lock lock = read_lock(lock_file).value_or(Lock{});
    bool changed = false;

    // What each scheme (a venv, or a system site-packages) holds so far, across layers.
    std::map<std::string, std::map<std::string, std::string>> installed;
    std::map<std::string, std::string> venv_python; // venv -> "3.11", once made

    for (std::size_t i = 0; i < c.recipe.layers.size(); ++i) {
        const LayerSpec& layer = c.recipe.layers[i];
        if (!layer.python) {
            continue;
        }
        const PythonSpec& spec = *layer.python;
        LayerTarget t = planner.target_of(i);

        // The lock's wheels for this layer (resolved when missing or when asked to).
        const LockedPython* pinned = lock.python_for(layer.name);
        bool wants_lock = !spec.requirements.empty() || !spec.pylock.empty();
        LockedPython fresh;
        if (wants_lock && pinned == nullptr && c.options.locked) {
            throw RecipeError(ErrorKind::recipe, spec.where,
                              "the lock " + lock_file_of(c).string() +
                                  " has no Python entry for layer '" + layer.name +
                                  "', and --locked forbids adding one",
                              hint_for(c));
        }
        if (wants_lock && (pinned == nullptr || c.options.update_lock)) {
            fresh = resolve(c, layer, t, client);
            auto it = std::find_if(lock.python.begin(), lock.python.end(),
                                   [&](const LockedPython& p) { return p.layer == layer.name; });
            if (it == lock.python.end()) {
                lock.python.push_back(fresh);
            } else if (!(*it == fresh)) {
                *it = fresh;
            } else {
                fresh = *it;
            }
            changed = true;
            pinned = &fresh;
        } else if (wants_lock) {
            check_matches(c, layer, t, *pinned);
        }

        LayerBuilder builder(1);
        py::Scheme scheme = spec.venv.empty()
                                ? py::system_scheme(t.interpreter, t.target, t.dist_packages)
                                : py::venv_scheme(spec.venv, t.target);
        try {
            if (!spec.venv.empty()) {
                auto made = venv_python.find(scheme.venv);
                if (made == venv_python.end()) {
                    py::add_venv(builder, scheme.venv, t.interpreter, t.target);
                    venv_python[scheme.venv] = t.target.python_version();
                } else if (made->second != t.target.python_version()) {
                    fail_at(spec.venv_where, "venv " + scheme.venv + " was made for Python " +
                                                 made->second + " by an earlier layer, not " +
                                                 t.target.python_version());
                }
            }
            // Wheels are fetched and unpacked in parallel (each is independent), then
            // installed in the lock's order (the entries never depend on it).
            std::vector<std::future<py::UnpackedWheel>> ready;
            {
                ThreadPool pool(resolve_threads(c.options.threads));
                if (pinned != nullptr) {
                    for (const LockedWheel& w : pinned->wheels) {
                        ready.push_back(pool.submit([&, w_ptr = &w] {
                            const LockedWheel& w = *w_ptr;
                            py::check_compatible(py::WheelFilename::parse(w.file), t.target);
                            fs::path file =
                                py::fetch_wheel(c.store, client, w, lock_file.parent_path());
                            if (!w.url.empty()) {
                                nlohmann::json keep = {w.sha256.str()};
                                c.store.put_record("python-wheel", w.sha256.hex(), keep.dump());
                            }
                            return py::unpack_wheel(c.store, file, w.sha256, w.file);
                        }));
                    }
                }
                for (std::size_t k = 0; k < spec.wheels.size(); ++k) {
                    ready.push_back(pool.submit([&, k] {
                        const fs::path& file = spec.wheels[k];
                        try {
                            auto name = py::WheelFilename::parse(file.filename().string());
                            py::check_compatible(name, t.target);
                            // A missing file or a FIFO is refused as an input (exit 4).
                            open_regular(file, ErrorKind::input);
                            return py::unpack_wheel(c.store, file, sha256_of_file(file));
                        } catch (const RecipeError&) {
                            throw;
                        } catch (const Error& e) {
                            rethrow_at(spec.wheels_where[k], e);
                        }
                    }));
                }
                // The pool's destructor waits for every wheel, failed or not.
            }
            py::Installer installer(scheme, builder);
            installer.set_installed_before(installed[scheme.purelib]);
            std::vector<std::string> direct_urls;
            if (pinned != nullptr) {
                for (const LockedWheel& w : pinned->wheels) {
                    direct_urls.push_back(w.direct ? w.url : std::string());
                }
            }
            direct_urls.resize(ready.size());
            for (std::size_t k = 0; k < ready.size(); ++k) {
                // The first failure in order is reported.
                installer.install(ready[k].get(), direct_urls[k]);
            }
            for (const auto& [path, wheel] : installer.installed()) {
                installed[scheme.purelib][path] = wheel;
            }
        } catch (const RecipeError&) {
            throw;
        } catch (const Error& e) {
            throw Error(e.kind(),
                        "layer '" + layer.name + "' (" + spec.where.str() + "): " + e.what());
        }
        out[i] = builder.finish();
    }
    if (changed) {
        // Keep the entries in the recipe's layer order.
        std::vector<LockedPython> ordered;
        for (const LayerSpec& layer : c.recipe.layers) {
            if (const LockedPython* p = lock.python_for(layer.name)) {
                ordered.push_back(*p);
            }
        }
        lock.python = ordered;
        std::optional<Lock> old = read_lock(lock_file);
        if (!old || !(*old == lock)) {
            write_lock(lock_file, lock, c.recipe.file.filename().string());
            written = true;
        }
    }
    return out;
}

} // namespace ocibake::detail
