#include "ocibake/build.hpp"

#include "apt/image_build.hpp"
#include "bake/apt_layers.hpp"
#include "bake/archive_layers.hpp"
#include "bake/image_key.hpp"
#include "bake/python_layers.hpp"
#include "bake/steps.hpp"
#include "common/names.hpp"
#include "common/thread_pool.hpp"
#include "layer/pipeline.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <future>
#include <nlohmann/json.hpp>
#include <set>

namespace ocibake {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

} // namespace

namespace detail {

// Re-throws a library error as a diagnostic at a recipe location (dropping the
// location prefix the library may already have put in front).
[[noreturn]] void rethrow_at(const SourceLocation& where, const Error& e) {
    std::string msg = e.what();
    std::string prefix = where.str() + ": ";
    if (msg.rfind(prefix, 0) == 0) {
        msg = msg.substr(prefix.size());
    }
    throw RecipeError(e.kind(), where, msg);
}

std::vector<LayerEntry> plan_layer(const LayerSpec& spec, unsigned threads,
                                   const std::vector<LayerEntry>& python,
                                   const std::vector<LayerEntry>& archives) {
    LayerBuilder b(threads);
    for (const auto& e : archives) { // [[layer.archive]], [[layer.nvidia]]
        b.add(e);
    }
    for (const auto& copy : spec.copies) {
        try {
            b.add_tree(copy.src, copy.dst, copy.options, copy.src_where.str());
        } catch (const RecipeError&) {
            throw;
        } catch (const Error& e) {
            rethrow_at(copy.src_where, e);
        }
    }
    for (const auto& f : spec.files) {
        std::string origin = f.where.str();
        try {
            switch (f.type) {
            case EntryType::file:
                if (f.content) {
                    b.add_content(f.path, *f.content, f.mode.value_or(0644), f.uid, f.gid, origin);
                } else {
                    b.add_file(f.path, f.src, f.mode.value_or(0644), f.uid, f.gid,
                               f.src_where.str());
                }
                break;
            case EntryType::directory:
                b.add_directory(f.path, f.mode.value_or(0755), f.uid, f.gid, origin);
                break;
            case EntryType::symlink:
                b.add_symlink(f.path, f.target, f.uid, f.gid, origin);
                break;
            case EntryType::hardlink:
                b.add_hardlink(f.path, f.target, origin);
                break;
            default:
                b.add_special(f.path, f.type, f.mode.value_or(0644), 0, 0, f.uid, f.gid, origin);
                break;
            }
        } catch (const Error& e) {
            rethrow_at(f.type == EntryType::file && !f.content ? f.src_where : f.where, e);
        }
    }
    for (const auto& e : python) { // [layer.python], planned beforehand (python_layers.cpp)
        b.add(e);
    }
    return b.finish();
}

// Base layer blobs for the Python planner, fetched when the base is a registry's.
std::vector<LayerResult> local_base_layers(Store& store, const Image& image,
                                           const BuildOptions& options) {
    std::vector<oci::Descriptor> layers;
    std::vector<LayerResult> out;
    for (const auto& l : image.layers) {
        layers.push_back(l.blob.descriptor);
        out.push_back(l.blob);
    }
    registry::fetch_remote_blobs(store, layers, image.remote_blobs, options.registry);
    return out;
}

} // namespace detail

namespace {

using detail::lock_file_of;
using detail::plan_layer;
using detail::rethrow_at;

LayerOptions layer_options(const Recipe& recipe, const LayerSpec& spec, std::int64_t epoch,
                           unsigned threads) {
    LayerOptions o;
    o.compression = spec.compression.value_or(recipe.build.compression);
    if (spec.level) {
        o.level = *spec.level;
    } else if (o.compression == recipe.build.compression) {
        o.level = recipe.build.level;
    }
    o.source_date_epoch = epoch;
    o.threads = threads;
    return o;
}

void merge_unique(std::vector<std::string>& into, const std::vector<std::string>& more) {
    into.insert(into.end(), more.begin(), more.end());
    std::sort(into.begin(), into.end());
    into.erase(std::unique(into.begin(), into.end()), into.end());
}

// The recipe's [config] over the base's, as a Dockerfile's instructions would apply.
void merge_config(oci::ContainerConfig& c, const ConfigSpec& spec) {
    for (const auto& [k, v] : spec.env) {
        c.set_env(k, v);
    }
    if (spec.entrypoint) {
        c.entrypoint = *spec.entrypoint;
        // Setting ENTRYPOINT resets an inherited CMD (Docker's rule).
        c.cmd = spec.cmd;
    } else if (spec.cmd) {
        c.cmd = *spec.cmd;
    }
    if (spec.user) {
        c.user = *spec.user;
    }
    if (spec.workdir) {
        c.working_dir = *spec.workdir;
    }
    if (spec.stop_signal) {
        c.stop_signal = *spec.stop_signal;
    }
    merge_unique(c.exposed_ports, spec.exposed_ports);
    merge_unique(c.volumes, spec.volumes);
    for (const auto& [k, v] : spec.labels) {
        c.labels[k] = v;
    }
}

} // namespace

std::filesystem::path detail::lock_file_of(const Recipe& recipe, const BuildOptions& options) {
    return options.lock_file.empty() ? lock_path_for(recipe.file) : options.lock_file;
}

LockedBase detail::resolve_base(const Recipe& recipe, const BuildOptions& options) {
    auto ref = registry::Reference::parse(recipe.base.ref);
    registry::Client client(ref.registry, options.registry);
    registry::Resolved r;
    try {
        r = registry::resolve(client, ref, recipe.platform);
    } catch (const Error& e) {
        rethrow_at(recipe.base.where, e);
    }
    LockedBase b;
    b.ref = recipe.base.ref;
    b.platform = recipe.platform.str();
    b.index = r.index_digest;
    b.manifest = r.manifest_digest;
    return b;
}

namespace {

// The base the lock pins for this recipe; resolved and written when the lock has none
// (or with update_lock); an error when the lock pins another base.
LockedBase locked_base(const Recipe& recipe, const BuildOptions& options, bool& written) {
    std::filesystem::path file = lock_file_of(recipe, options);
    Lock lock = read_lock(file).value_or(Lock{});
    if (lock.base && !options.update_lock) {
        const LockedBase& b = *lock.base;
        if (b.ref == recipe.base.ref && b.platform == recipe.platform.str()) {
            return b;
        }
        throw RecipeError(ErrorKind::recipe, b.where,
                          "the lock pins base " + b.ref + " (" + b.platform +
                              "), but the recipe asks for " + recipe.base.ref + " (" +
                              recipe.platform.str() + ") at " + recipe.base.where.str(),
                          "run `ocibake lock " + recipe.file.string() +
                              "` to pin the new base (a build without --locked does it too)");
    }
    if (options.locked) {
        throw RecipeError(ErrorKind::recipe, recipe.base.where,
                          "the lock " + file.string() + " has no entry for base " +
                              recipe.base.ref + ", and --locked forbids adding one",
                          "run `ocibake lock " + recipe.file.string() + "` to pin it");
    }
    lock.base = detail::resolve_base(recipe, options);
    write_lock(file, lock, recipe.file.filename().string());
    written = true;
    return *lock.base;
}

/// The base's layers read with `ocibake run`'s unpacking rules (check_layers()). Layers
/// of a registry base are fetched first when the output will need them anyway, or when
/// `strict` asks for every layer to be checked. With `strict`, the first layer refused
/// fails the build.
void check_base(Store& store, const Recipe& recipe, const SourceImage& base,
                const BuildOptions& options, BuildResult& result) {
    if (options.strict || options.write_output) {
        std::vector<oci::Descriptor> descriptors;
        for (const LayerResult& l : base.layers) {
            descriptors.push_back(l.descriptor);
        }
        try {
            result.base_layers_fetched += registry::fetch_remote_blobs(
                store, descriptors, base.remote_blobs, options.registry);
        } catch (const Error& e) {
            rethrow_at(recipe.base.where, e);
        }
    }
    result.base_checks = check_layers(store, base.layers);
    if (!options.strict) {
        return;
    }
    std::string name = recipe.base.ref.empty() ? recipe.base.image : recipe.base.ref;
    for (const LayerCheck& c : result.base_checks) {
        if (c.status == LayerCheck::Status::refused) {
            throw Error(c.kind, "base " + name + ": " + c.detail +
                                    " (--strict refuses a base that `ocibake run` would refuse)");
        }
    }
}

} // namespace

apt::ImageFacts detail::base_facts(Store& store, const std::vector<LayerResult>& layers,
                                   const std::map<Digest, RemoteBlob>& remote,
                                   const BuildOptions& options) {
    std::vector<oci::Descriptor> descriptors;
    for (const LayerResult& l : layers) {
        descriptors.push_back(l.descriptor);
    }
    // A registry base's layers are fetched only when no record (local, or a remote
    // cache's) has their facts.
    return apt::read_image_facts(store, layers, [&] {
        registry::fetch_remote_blobs(store, descriptors, remote, options.registry);
    });
}

/// The cache column of a build's layer table (shorter than to_string(CacheStatus)).
constexpr detail::Named<CacheStatus, std::string_view> cache_words[] = {
    {CacheStatus::hit, "cached"},
    {CacheStatus::verified, "verified"},
    {CacheStatus::built, "built"},
    {CacheStatus::remote, "remote"},
};

std::string_view LayerReport::cache_word() const {
    if (from_base) {
        return "base";
    }
    return detail::name_of(cache_words, cache, "?");
}

std::size_t BuildResult::layers_built() const {
    return static_cast<std::size_t>(
        std::count_if(layers.begin(), layers.end(), [](const LayerReport& r) {
            return !r.from_base && r.cache == CacheStatus::built;
        }));
}

namespace {

constexpr const char* kStateComment =
    "whole-image state: dpkg status, ld.so.cache, accounts, alternatives, certificates";

// The image's layers from the remote cache's entry for its image key, when it has one
// whose every layer is a layer blob the cache lists (with the same size, type and
// diffID): then nothing is planned, downloaded or built.
bool layers_from_key(Store& store, const Recipe& recipe, const remote_cache::Remote& remote,
                     Image& image, BuildResult& result) {
    std::optional<std::string> text = remote.get_record("image-key", result.image_key.hex());
    if (!text) {
        return false;
    }
    detail::ImageRecord record;
    try {
        record = detail::parse_image_record(*text, "image-key/" + result.image_key.hex());
    } catch (const Error&) {
        return false; // the layers are looked up one by one, as without it
    }
    for (const auto& l : record.layers) {
        auto it = remote.layers().find(l.layer.descriptor.digest);
        if (it == remote.layers().end() || it->second.descriptor.size != l.layer.descriptor.size ||
            it->second.descriptor.media_type != l.layer.descriptor.media_type ||
            it->second.diff_id != l.layer.diff_id) {
            return false;
        }
    }
    for (const auto& l : record.layers) {
        LayerReport report;
        report.name = l.name;
        report.recipe_layer = l.recipe_layer;
        report.packages = l.packages;
        report.entries = l.entries;
        report.layer = remote.layers().at(l.layer.descriptor.digest);
        report.cache = CacheStatus::remote;
        const oci::Descriptor& blob = report.layer.descriptor;
        if (store.blob_size(blob.digest) == blob.size) {
            report.cache = CacheStatus::hit;
        } else {
            image.remote_blobs[blob.digest] =
                RemoteBlob{remote.reference().registry, remote.reference().repository};
        }
        std::string comment = kStateComment;
        if (!l.recipe_layer.empty()) {
            auto spec = std::find_if(recipe.layers.begin(), recipe.layers.end(),
                                     [&](const LayerSpec& s) { return s.name == l.recipe_layer; });
            comment = spec == recipe.layers.end() ? std::string() : spec->comment;
        }
        image.add_layer(report.layer, "ocibake layer " + report.name, comment);
        result.layers.push_back(std::move(report));
    }
    result.part_threshold = record.part_threshold;
    result.part_modulus = record.part_modulus;
    result.image_from_key = true;
    return true;
}

// The record of the image key: the image's own layers as this build made them.
std::string image_record(const BuildResult& result) {
    detail::ImageRecord record;
    record.part_threshold = result.part_threshold;
    record.part_modulus = result.part_modulus;
    for (const auto& l : result.layers) {
        if (!l.from_base) {
            record.layers.push_back({l.name, l.recipe_layer, l.packages, l.entries, l.layer});
        }
    }
    return detail::to_json(record);
}

void finish_image(Store& store, const Recipe& recipe, const BuildOptions& options, Image& image,
                  BuildResult& result, unsigned threads);

// One attempt of build(), into `result`.
void build_into(Store& store, const Recipe& recipe, const BuildOptions& options,
                const remote_cache::Remote* remote, BuildResult& result) {
    std::int64_t epoch =
        options.source_date_epoch.value_or(recipe.build.source_date_epoch.value_or(0));
    if (epoch < 0) {
        throw Error(ErrorKind::usage, "SOURCE_DATE_EPOCH must not be negative");
    }
    unsigned threads = detail::resolve_threads(options.threads);

    result.output = options.output.value_or(OutputTarget::default_for(recipe.name));
    result.layers.clear();

    Image image;
    if (!recipe.base.scratch()) {
        SourceImage base;
        try {
            if (!recipe.base.ref.empty()) {
                LockedBase pinned = locked_base(recipe, options, result.lock_written);
                result.lock_file = lock_file_of(recipe, options);
                base = registry::load_registry_base(store, registry::Reference::parse(pinned.ref),
                                                    pinned.manifest, recipe.platform,
                                                    options.registry);
            } else {
                base = load_oci_layout(store, recipe.base.layout, recipe.base.tag, recipe.platform);
            }
        } catch (const RecipeError&) {
            throw;
        } catch (const Error& e) {
            rethrow_at(recipe.base.where, e);
        }
        image.config = base.config;
        image.base_history = base.config.history;
        image.remote_blobs = base.remote_blobs;
        for (const auto& layer : base.layers) {
            image.layers.push_back({layer, std::nullopt});
            LayerReport report;
            report.name = "base";
            report.layer = layer;
            report.from_base = true;
            result.layers.push_back(report);
        }
        check_base(store, recipe, base, options, result);
    } else {
        image.config.platform = recipe.platform;
    }
    if (image.layers.empty() && recipe.layers.empty()) {
        // An image manifest lists at least one layer (image-spec: "layers" has minItems 1).
        if (recipe.base.scratch()) {
            throw RecipeError(ErrorKind::recipe, recipe.where,
                              "the image would have no layers: the recipe has no [[layer]] and "
                              "no base",
                              "add a [[layer]] (an empty one is enough), or a [base]");
        }
        throw RecipeError(ErrorKind::recipe, recipe.base.where,
                          "the image would have no layers: the base has none, and the recipe "
                          "has no [[layer]]",
                          "add a [[layer]] (an empty one is enough)");
    }
    image.config.created = oci::rfc3339(epoch);
    if (!recipe.config.author.empty()) {
        image.config.author = recipe.config.author;
    }
    merge_config(image.config.config, recipe.config);

    // The image key: a remote cache that has an entry for it gives every layer at once.
    if (remote != nullptr || options.keep_cache_records) {
        result.image_key = detail::image_key(recipe, options, image, epoch, threads);
    }
    if (result.image_key && remote != nullptr && !options.keep_cache_records &&
        layers_from_key(store, recipe, *remote, image, result)) {
        finish_image(store, recipe, options, image, result, threads);
        return;
    }

    // Layers with packages: pinned by the lock (resolved and written when it has none).
    std::vector<LockedAptLayer> apt_layers;
    apt::ImageFacts facts;
    std::optional<http::Client> apt_http;
    std::unique_ptr<apt::detail::Fallbacks> fallbacks;
    if (detail::uses_image_below(recipe)) {
        std::vector<LayerResult> base_layers;
        for (const auto& l : image.layers) {
            base_layers.push_back(l.blob);
        }
        facts = detail::base_facts(store, base_layers, image.remote_blobs, options);
        if (detail::has_apt_layers(recipe)) {
            apt_layers = detail::locked_apt_layers(
                recipe, store, options, facts, lock_file_of(recipe, options), result.lock_written);
            result.lock_file = lock_file_of(recipe, options);
        }
        apt_http.emplace(detail::apt_client(recipe, options));
        fallbacks = detail::apt_fallbacks(recipe, apt_layers);
    }

    // [layer.python] is planned before the layers are built, in recipe order (layers may
    // share a venv; an earlier apt layer's python3.X is the target of a later one).
    std::vector<std::vector<LayerEntry>> python(recipe.layers.size());
    if (detail::has_python_layers(recipe)) {
        detail::PythonContext context{
            recipe,
            options,
            store,
            [&] { return detail::local_base_layers(store, image, options); },
            [&](const LayerSpec& spec) { return plan_layer(spec, threads); },
            &apt_layers};
        bool written = false;
        python = detail::plan_python_layers(context, written);
        if (written) {
            result.lock_written = true;
            result.lock_file = lock_file_of(recipe, options);
        }
    }

    // Archives: pinned in the lock (written when it has no entry for a layer), fetched
    // once into the store, unpacked once into the cache.
    std::vector<std::vector<LayerEntry>> archives(recipe.layers.size());
    if (detail::has_archive_layers(recipe)) {
        bool written = false;
        archives = detail::plan_archive_layers({recipe, options, store}, written);
        if (written) {
            result.lock_written = true;
            result.lock_file = lock_file_of(recipe, options);
        }
    }

    // Each layer's own entries (archives, copies, files, wheels), listed in parallel.
    auto layers_start = Clock::now();
    std::size_t parallel =
        std::max<std::size_t>(1, std::min<std::size_t>(threads, recipe.layers.size()));
    std::vector<std::vector<LayerEntry>> entries(recipe.layers.size());
    std::vector<LayerOptions> options_of;
    {
        detail::ThreadPool plan_pool(static_cast<unsigned>(parallel));
        std::vector<std::future<std::vector<LayerEntry>>> planned;
        for (std::size_t index = 0; index < recipe.layers.size(); ++index) {
            options_of.push_back(layer_options(recipe, recipe.layers[index], epoch, threads));
            planned.push_back(plan_pool.submit([&, index] {
                return plan_layer(recipe.layers[index], threads, python[index], archives[index]);
            }));
        }
        for (std::size_t index = 0; index < planned.size(); ++index) {
            const LayerSpec& spec = recipe.layers[index];
            try {
                entries[index] = planned[index].get(); // the first error, in the recipe's order
            } catch (const RecipeError&) {
                throw;
            } catch (const Error& e) {
                throw Error(e.kind(),
                            "layer '" + spec.name + "' (" + spec.where.str() + "): " + e.what());
            }
        }
    }

    // The layers to build: the recipe's, or, when some layer is built on the image below,
    // its packages in parts, the layers' own entries, and the state layer on top.
    struct Job {
        std::string name;
        std::size_t layer; ///< the recipe layer (recipe.layers.size(): the state layer)
        std::size_t packages = 0;
    };
    std::vector<Job> jobs;
    std::optional<apt::detail::AptImage> apt_image;
    if (detail::uses_image_below(recipe)) {
        detail::ImagePlan plan = detail::plan_image(
            recipe, apt_layers, std::move(entries), options_of,
            layer_options(recipe, LayerSpec{}, epoch, threads), image.layers.size());
        result.part_threshold = plan.split.threshold;
        result.part_modulus = plan.split.modulus;
        for (const auto& item : plan.items) {
            jobs.push_back({item.name, item.layer, item.packages.size()});
        }
        apt::detail::AptImageOptions ao;
        ao.arch = detail::apt_native_arch(recipe);
        ao.generator = "ocibake (ld.so.cache format 1)";
        ao.fallbacks = fallbacks.get();
        apt_image.emplace(store, apt_http ? &*apt_http : nullptr, facts, std::move(plan.items),
                          std::move(plan.layers), ao);
    } else {
        for (std::size_t index = 0; index < recipe.layers.size(); ++index) {
            jobs.push_back({recipe.layers[index].name, index});
        }
    }

    // Built in parallel, sharing one compression pool (an item built on the image below
    // waits for the items below it to have planned; see AptImage).
    detail::ThreadPool compress_pool(threads);
    std::vector<std::future<LayerReport>> futures;
    {
        detail::ThreadPool layer_pool(static_cast<unsigned>(
            std::max<std::size_t>(1, std::min<std::size_t>(threads, jobs.size()))));
        for (std::size_t j = 0; j < jobs.size(); ++j) {
            futures.push_back(layer_pool.submit([&, j] {
                auto t = Clock::now();
                const Job& job = jobs[j];
                LayerReport report;
                report.name = job.name;
                report.packages = job.packages;
                const LayerSpec* spec =
                    job.layer < recipe.layers.size() ? &recipe.layers[job.layer] : nullptr;
                report.recipe_layer = spec ? spec->name : "";
                try {
                    if (apt_image) {
                        const auto& item = apt_image->items()[j];
                        report.entries = item.entries.size();
                        report.layer =
                            apt_image->build(j, &compress_pool, options.progress, &report.cache);
                    } else {
                        report.entries = entries[job.layer].size();
                        report.layer = detail::build_layer_on(
                            store, entries[job.layer], options_of[job.layer], &compress_pool,
                            &report.cache, options.progress, job.name);
                    }
                } catch (const RecipeError&) {
                    throw;
                } catch (const Error& e) {
                    if (spec == nullptr) {
                        throw Error(e.kind(), "the state layer: " + std::string(e.what()));
                    }
                    throw Error(e.kind(), "layer '" + spec->name + "' (" + spec->where.str() +
                                              "): " + e.what());
                }
                report.seconds = seconds_since(t);
                return report;
            }));
        }
        // The pool's destructor waits for every layer, failed or not.
    }
    std::exception_ptr first_error;
    for (std::size_t j = 0; j < futures.size(); ++j) {
        try {
            LayerReport report = futures[j].get();
            const oci::Descriptor& blob = report.layer.descriptor;
            if (remote != nullptr && !store.has_blob(blob.digest) &&
                remote->blob_size(blob.digest) == blob.size) {
                // Found in the remote cache: the blob stays in its registry until an output
                // needs its bytes (a push mounts or skips it).
                report.cache = CacheStatus::remote;
                image.remote_blobs[blob.digest] =
                    RemoteBlob{remote->reference().registry, remote->reference().repository};
            }
            std::string comment = jobs[j].layer < recipe.layers.size()
                                      ? recipe.layers[jobs[j].layer].comment
                                      : kStateComment;
            image.add_layer(report.layer, "ocibake layer " + report.name, comment);
            result.layers.push_back(std::move(report));
        } catch (...) {
            if (!first_error) {
                first_error = std::current_exception();
            }
        }
    }
    if (first_error) {
        std::rethrow_exception(first_error);
    }
    result.layer_seconds = seconds_since(layers_start);
    if (fallbacks) {
        result.fetched_elsewhere = fallbacks->fetched();
    }
    finish_image(store, recipe, options, image, result, threads);
}

// The image's config and manifest, and its output.
void finish_image(Store& store, const Recipe& recipe, const BuildOptions& options, Image& image,
                  BuildResult& result, unsigned threads) {
    if (image.layers.size() > oci::max_layers) {
        throw Error(ErrorKind::input, recipe.file.string() + ": the image would have " +
                                          std::to_string(image.layers.size()) + " layers (" +
                                          std::to_string(result.base_checks.size()) +
                                          " of the base); ocibake " + "accepts at most " +
                                          std::to_string(oci::max_layers));
    }
    auto output_start = Clock::now();
    result.image = assemble_image(store, image);
    nlohmann::json keep = {result.image.config_descriptor.digest.str(),
                           result.image.manifest_descriptor.digest.str()};
    store.put_record("image", result.image.manifest_descriptor.digest.hex(), keep.dump());
    if (options.write_output) {
        std::vector<oci::Descriptor> layers;
        for (const auto& l : result.image.layers) {
            layers.push_back(l.descriptor);
        }
        for (const auto& l : result.layers) {
            if (l.cache == CacheStatus::remote &&
                store.blob_size(l.layer.descriptor.digest) != l.layer.descriptor.size) {
                ++result.remote_layers_fetched;
                result.remote_bytes_fetched += l.layer.descriptor.size;
            }
        }
        // The output holds every blob: a registry base's layers (and those a remote cache
        // served) are fetched now.
        result.base_layers_fetched += registry::fetch_remote_blobs(
            store, layers, result.image.remote_blobs, options.registry);
        write_image(store, result.image, result.output, recipe.name, recipe.tag, threads);
        result.wrote_output = true;
    }
    result.output_seconds = seconds_since(output_start);
    result.base_layers_fetched -=
        std::min(result.base_layers_fetched, result.remote_layers_fetched);
    if (options.keep_cache_records) {
        for (const RecordUse& use : store.journal()) {
            if (auto text = store.get_record(use.ns, use.key)) {
                result.cache_records[use.ns][use.key] = *text;
            }
        }
    }
}

} // namespace

namespace {

// What `ocibake lock` does, before a build without --locked or --update-lock: the lock's
// entries whose recipe inputs changed (or that are missing) are resolved again, every
// other pin stays. Returns what moved when a lock existed and changed; a first lock is
// only written (BuildResult::lock_written).
std::optional<LockResult> follow_recipe(const Recipe& recipe, const BuildOptions& options,
                                        bool& written) {
    bool remote = !recipe.base.ref.empty() || detail::has_apt_layers(recipe) ||
                  detail::has_python_layers(recipe);
    if (options.locked || options.update_lock || !remote) {
        return std::nullopt;
    }
    LockOptions lo;
    lo.dry_run = true; // a lock that does not parse is an error here, not remade
    LockResult r = lock_recipe(recipe, options, lo);
    bool existed = fs::exists(r.file);
    if (!r.changed || (!existed && r.lock == Lock{})) {
        return std::nullopt;
    }
    write_lock(r.file, r.lock, recipe.file.filename().string());
    r.written = true;
    written = true;
    if (!existed) {
        return std::nullopt;
    }
    return r;
}

} // namespace

BuildResult build(const Recipe& recipe_as_written, const BuildOptions& options) {
    auto start = Clock::now();
    // A stand-in is said in the image itself: a label per installer package it replaces.
    std::vector<StandIn> stand_ins = detail::resolve_stand_ins(recipe_as_written, options);
    Recipe labelled;
    if (!stand_ins.empty()) {
        labelled = recipe_as_written;
        for (const StandIn& s : stand_ins) {
            std::string key = "org.ocibake.stand-in." + s.package;
            auto& labels = labelled.config.labels;
            auto it = std::find_if(labels.begin(), labels.end(),
                                   [&](const auto& l) { return l.first == key; });
            if (it == labels.end()) {
                labels.emplace_back(key, s.label());
            } else {
                it->second = s.label();
            }
        }
        std::sort(labelled.config.labels.begin(), labelled.config.labels.end());
    }
    const Recipe& recipe = stand_ins.empty() ? recipe_as_written : labelled;
    bool lock_written = false;
    std::optional<LockResult> lock_update = follow_recipe(recipe, options, lock_written);
    Store store(options.cache_dir.empty() ? Store::default_root() : options.cache_dir);
    std::vector<std::string> kept(std::begin(remote_cache::index_namespaces),
                                  std::end(remote_cache::index_namespaces));
    kept.insert(kept.end(), std::begin(remote_cache::records_namespaces),
                std::end(remote_cache::records_namespaces));
    store.keep_journal(kept);
    std::unique_ptr<remote_cache::Remote> remote;
    std::string from = options.cache_from;
    if (from.empty() && !options.no_cache_from) {
        from = recipe.build.cache;
    }
    if (!from.empty()) {
        remote = remote_cache::Remote::open(store, remote_cache::cache_reference(from, recipe.name),
                                            options.registry, options.cache_from_ignore);
        store.set_overlay(remote.get());
    }
    std::map<Digest, std::string> gone = options.cache_from_ignore;
    // A reader that finds a cached blob corrupt (a layer that does not decompress, a base
    // layer or .deb whose bytes do not hash to its name, a blob copied into the output)
    // drops it from the cache. Building again then makes it anew: the layer is rebuilt,
    // the base layer or package fetched again. Each retry needs a newly dropped blob.
    constexpr int kMaxRetries = 3;
    fs::path lock_file = lock_written ? lock_file_of(recipe, options) : fs::path();
    for (int attempt = 0;; ++attempt) {
        std::size_t dropped = store.dropped_blobs().size();
        BuildResult result;
        result.lock_written = lock_written;
        result.lock_file = lock_file;
        try {
            build_into(store, recipe, options, remote.get(), result);
        } catch (const Error&) {
            if (attempt == kMaxRetries) {
                throw;
            }
            if (store.dropped_blobs().size() == dropped) {
                // A layer the remote cache served whose blob is gone (deleted from the
                // registry): its entry is ignored from now on, and the layer built.
                std::map<Digest, std::string> missing;
                if (remote) {
                    missing = remote_cache_missing(result, options, remote->reference());
                }
                if (missing.empty()) {
                    throw;
                }
                gone.insert(missing.begin(), missing.end());
                store.set_overlay(nullptr);
                remote =
                    remote_cache::Remote::open(store, remote->reference(), options.registry, gone);
                store.set_overlay(remote.get());
            }
            lock_written = result.lock_written;
            lock_file = result.lock_file;
            continue;
        }
        result.dropped_blobs = store.dropped_blobs();
        result.lock_update = lock_update;
        if (options.keep_cache_records && result.image_key) {
            result.cache_records["image-key"][result.image_key.hex()] = image_record(result);
        }
        if (remote) {
            result.remote_cache = remote->report(); // complete once its HEADs are done
        }
        result.recipe_name = recipe.name;
        result.stand_ins = stand_ins;
        result.seconds = seconds_since(start);
        return result;
    }
}

std::map<Digest, std::string> remote_cache_missing(const BuildResult& result,
                                                   const BuildOptions& options,
                                                   const registry::Reference& ref) {
    std::vector<oci::Descriptor> served;
    for (const auto& l : result.layers) {
        if (l.cache == CacheStatus::remote && !l.from_base) {
            served.push_back(l.layer.descriptor);
        }
    }
    if (served.empty()) {
        return {};
    }
    return remote_cache::check_blobs(ref, served, options.registry);
}

std::map<Digest, std::string> remote_cache_missing(const BuildResult& result,
                                                   const BuildOptions& options) {
    if (!result.remote_cache || !result.remote_cache->found) {
        return {};
    }
    return remote_cache_missing(result, options,
                                registry::Reference::parse(result.remote_cache->reference));
}

registry::PushResult push_or_rebuild(const Store& store, BuildResult& result, BuildOptions options,
                                     const fs::path& recipe,
                                     const std::vector<registry::Reference>& refs,
                                     const registry::Options& registry,
                                     const std::function<void(const std::string&)>& warn) {
    std::map<Digest, std::string> missing;
    try {
        return registry::push_image(store, result.image, refs, registry);
    } catch (const Error& e) {
        missing = remote_cache_missing(result, options);
        if (missing.empty()) {
            throw;
        }
        if (warn) {
            warn("the push failed (" + std::string(e.what()) +
                 "): " + std::to_string(missing.size()) +
                 " layer(s) the remote cache served are not there as it said; building them");
        }
    }
    options.cache_from_ignore.insert(missing.begin(), missing.end());
    std::set<Digest> built;
    for (const auto& l : result.layers) {
        if (l.cache == CacheStatus::built) {
            built.insert(l.layer.descriptor.digest);
        }
    }
    result = build_recipe_file(recipe, options);
    for (auto& l : result.layers) {
        // What this command did: a layer the first build made is found in the cache by the
        // second.
        if (l.cache == CacheStatus::hit && built.count(l.layer.descriptor.digest) != 0) {
            l.cache = CacheStatus::built;
        }
    }
    return registry::push_image(store, result.image, refs, registry);
}

BuildResult build_recipe_file(const fs::path& recipe, const BuildOptions& options) {
    return build(load_recipe(recipe), options);
}

remote_cache::ExportReport export_cache(const BuildResult& result, std::string_view ref,
                                        const BuildOptions& options) {
    Store store(options.cache_dir.empty() ? Store::default_root() : options.cache_dir);
    std::vector<LayerResult> layers;
    for (const auto& l : result.layers) {
        if (!l.from_base) {
            layers.push_back(l.layer);
        }
    }
    return remote_cache::export_records(
        store, result.cache_records, layers, result.image.remote_blobs, result.recipe_name,
        remote_cache::cache_reference(ref, result.recipe_name), options.registry);
}

GcReport collect_garbage(const fs::path& cache_dir, const GcOptions& options) {
    Store store(cache_dir.empty() ? Store::default_root() : cache_dir, StoreLock::exclusive);
    return store.gc(options);
}

std::optional<std::int64_t> source_date_epoch_of(std::string_view flag) {
    // One parser for both, each named as the user wrote it.
    auto parse = [](const std::string& text, const std::string& named) {
        char* end = nullptr;
        errno = 0;
        long long v = std::strtoll(text.c_str(), &end, 10);
        if (errno != 0 || *end != '\0' || v < 0) {
            throw Error(ErrorKind::usage, named + " is not a non-negative integer");
        }
        return static_cast<std::int64_t>(v);
    };
    if (!flag.empty()) {
        std::string text(flag);
        return parse(text, "--source-date-epoch '" + text + "'");
    }
    const char* env = std::getenv("SOURCE_DATE_EPOCH");
    if (env == nullptr || *env == '\0') {
        return std::nullopt;
    }
    return parse(env, std::string("SOURCE_DATE_EPOCH='") + env + "'");
}

} // namespace ocibake
