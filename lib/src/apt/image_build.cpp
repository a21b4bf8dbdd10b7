#include "apt/image_build.hpp"

#include "apt/fetch.hpp"
#include "apt/part.hpp"
#include "layer/pipeline.hpp"

#include <algorithm>

namespace ocibake::apt::detail {

namespace {

using ocibake::detail::ChunkStream;
using ocibake::detail::TarWriter;

/// What the store knows of this key: the layer, when its blob is still there.
std::optional<LayerResult> cached(Store& store, const Digest& key, const LayerOptions& options) {
    if (auto text = store.get_record("apt-layer", key.hex())) {
        if (Digest diff_id = Digest::try_parse(*text)) {
            return ocibake::detail::find_layer_blob(store, diff_id, options);
        }
    }
    return std::nullopt;
}

Digest part_key(const ImageItem& item, const PartFacts& facts) {
    KeyHasher h;
    h.field("ocibake apt-part 1"); // bumped whenever what a part holds changes
    h.number(layer_format_version);
    h.field(std::to_string(item.options.source_date_epoch));
    h.number(item.packages.size());
    for (const LockedPackage& p : item.packages) {
        h.field(p.name + " " + p.version + " " + p.arch + " " + p.sha256.str());
    }
    h.field(facts.digest().str());
    return h.finish();
}

std::uint64_t progress_total(const std::vector<LockedPackage>& packages) {
    std::uint64_t total = 0;
    for (const LockedPackage& p : packages) {
        total += p.size * 4; // a guess, for progress only
    }
    return total;
}

} // namespace

std::uint64_t source_hash(const std::string& source) {
    const Digest digest = sha256_of(source);
    const auto& bytes = digest.bytes();
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < 8; ++i) {
        n = (n << 8) | bytes[i];
    }
    return n;
}

std::vector<PartPlan> split_packages(const std::string& layer,
                                     const std::vector<LockedPackage>& packages, bool split,
                                     const SplitOptions& options) {
    if (packages.empty()) {
        return {};
    }
    if (!split) {
        return {{layer, packages}};
    }
    std::map<std::string, std::uint64_t> units; // source -> its .debs' size
    auto source_of = [](const LockedPackage& p) { return p.source.empty() ? p.name : p.source; };
    for (const LockedPackage& p : packages) {
        units[source_of(p)] += p.size;
    }
    std::vector<std::vector<std::string>> groups;
    std::vector<std::string> current;
    for (const auto& [source, size] : units) {
        if (size >= options.threshold) {
            groups.push_back({source});
            continue;
        }
        current.push_back(source);
        if (source_hash(source) % options.modulus == 0) {
            groups.push_back(std::move(current));
            current.clear();
        }
    }
    if (!current.empty()) {
        groups.push_back(std::move(current));
    }
    std::sort(groups.begin(), groups.end(),
              [](const auto& a, const auto& b) { return a.front() < b.front(); });
    std::map<std::string, std::size_t> part_of;
    std::vector<PartPlan> out(groups.size());
    for (std::size_t g = 0; g < groups.size(); ++g) {
        out[g].name = groups.size() == 1 ? layer : layer + "/" + groups[g].front();
        for (const std::string& source : groups[g]) {
            part_of[source] = g;
        }
    }
    for (const LockedPackage& p : packages) {
        out[part_of.at(source_of(p))].packages.push_back(p);
    }
    return out;
}

// ---- turns -----------------------------------------------------------------------------

/// Item i's turn at the model: waited for when made (or by wait()), passed on with pass();
/// left without passing (an error), the items above are not built.
class AptImage::Turn {
public:
    Turn(AptImage& image, std::size_t i, bool wait_now = true) : image_(image), i_(i) {
        if (wait_now) {
            wait();
        }
    }
    ~Turn() {
        if (!passed_) {
            image_.break_turns();
        }
    }
    Turn(const Turn&) = delete;
    Turn& operator=(const Turn&) = delete;
    void wait() { image_.wait_turn(i_); }
    void pass() {
        image_.pass_turn(i_);
        passed_ = true;
    }

private:
    AptImage& image_;
    std::size_t i_;
    bool passed_ = false;
};

void AptImage::wait_turn(std::size_t i) {
    std::unique_lock lock(mutex_);
    turn_changed_.wait(lock, [&] { return turn_ == i || broken_; });
    if (turn_ != i) {
        throw Error(ErrorKind::internal, "not built: a layer below it failed");
    }
}

void AptImage::pass_turn(std::size_t i) {
    std::lock_guard lock(mutex_);
    if (turn_ == i) {
        turn_ = i + 1;
    }
    turn_changed_.notify_all();
}

void AptImage::break_turns() {
    std::lock_guard lock(mutex_);
    broken_ = true;
    turn_changed_.notify_all();
}

// ---- the image -----------------------------------------------------------------------

AptImage::AptImage(Store& store, http::Client* client, const ImageFacts& base,
                   std::vector<ImageItem> items, std::vector<StateDecl> layers,
                   AptImageOptions options)
    : store_(store), client_(client), base_(base), items_(std::move(items)),
      layers_(std::move(layers)), options_(std::move(options)),
      model_(std::make_unique<ImageModel>(base_)), outcomes_(items_.size()) {}

AptImage::~AptImage() = default;

LayerResult AptImage::build(std::size_t i, ocibake::detail::ThreadPool* pool, Progress* progress,
                            CacheStatus* status) {
    const ImageItem& item = items_[i];
    switch (item.kind) {
    case ImageItem::Kind::part:
        return build_part(i, pool, progress, status);
    case ImageItem::Kind::state:
        return build_state(i, pool, progress, status);
    case ImageItem::Kind::entries:
        break;
    }
    {
        Turn turn(*this, i);
        model_->begin_layer(item.layer);
        model_->commit(item.entries);
        turn.pass();
    }
    return ocibake::detail::build_layer_on(store_, item.entries, item.options, pool, status,
                                           progress, item.name);
}

LayerResult AptImage::build_part(std::size_t i, ocibake::detail::ThreadPool* pool,
                                 Progress* progress, CacheStatus* status) {
    const ImageItem& item = items_[i];
    // The packages' records, when an earlier build unpacked them.
    std::vector<DebInfo> known;
    for (const LockedPackage& p : item.packages) {
        std::optional<DebInfo> info;
        if (auto text = store_.get_record("apt-deb", p.sha256.hex())) {
            info = deb_info_from_json(*text);
        }
        if (!info) {
            break;
        }
        known.push_back(std::move(*info));
    }
    auto remember = [&](const std::vector<DebInfo>& infos, const PartOutcome& outcome) {
        for (std::size_t k = 0; k < infos.size(); ++k) {
            infos_[item.packages[k].sha256] = infos[k];
        }
        outcomes_[i] = std::make_unique<PartOutcome>(outcome);
    };
    unsigned threads = ocibake::detail::resolve_threads(item.options.threads);
    std::optional<ocibake::detail::ThreadPool> downloads; // outlives the writer's decoders
    PartFacts facts(model_.get());
    if (known.size() == item.packages.size()) {
        // Planned from the records: the key is known before anything is decoded.
        {
            Turn turn(*this, i);
            model_->begin_layer(item.layer);
            std::vector<const DebInfo*> infos;
            for (const DebInfo& info : known) {
                infos.push_back(&info);
            }
            PartOutcome outcome = plan_from_infos(item.packages, infos, facts);
            model_->commit(outcome);
            remember(known, outcome);
            turn.pass();
        }
        facts.detach();
        Digest key = part_key(item, facts);
        if (auto hit = cached(store_, key, item.options)) {
            if (status) {
                *status = CacheStatus::hit;
            }
            return *hit;
        }
        if (client_ == nullptr) {
            throw Error(ErrorKind::internal, "no HTTP client for the packages of " + item.name);
        }
        downloads.emplace(8);
        std::vector<std::shared_future<void>> ready =
            start_fetches(store_, *client_, item.packages, *downloads);
        PartWriter writer(store_, item.packages, facts, threads, &ready);
        LayerResult result = ocibake::detail::write_layer_stream(
            store_, item.options, pool, progress, item.name, progress_total(item.packages),
            [&](TarWriter& tar, ChunkStream& stream) {
                writer.write(tar, stream, [](const PartOutcome&) {});
            });
        ocibake::detail::remember_layer_blob(store_, result, item.options);
        store_.put_record("apt-layer", key.hex(), result.diff_id.str());
        if (status) {
            *status = CacheStatus::built;
        }
        return result;
    }
    // Some package was never unpacked: the part is written as it is planned, its packages
    // decoded ahead while the items below it are planned.
    if (client_ == nullptr) {
        throw Error(ErrorKind::internal, "no HTTP client for the packages of " + item.name);
    }
    downloads.emplace(8);
    std::vector<std::shared_future<void>> ready =
        start_fetches(store_, *client_, item.packages, *downloads);
    Turn turn(*this, i, false);
    PartWriter writer(store_, item.packages, facts, threads, &ready);
    turn.wait();
    model_->begin_layer(item.layer);
    LayerResult result = ocibake::detail::write_layer_stream(
        store_, item.options, pool, progress, item.name, progress_total(item.packages),
        [&](TarWriter& tar, ChunkStream& stream) {
            writer.write(tar, stream, [&](const PartOutcome& outcome) {
                model_->commit(outcome);
                remember(writer.infos(), outcome);
                facts.detach();
                turn.pass();
            });
        });
    Digest key = part_key(item, facts);
    ocibake::detail::remember_layer_blob(store_, result, item.options);
    store_.put_record("apt-layer", key.hex(), result.diff_id.str());
    for (std::size_t k = 0; k < item.packages.size(); ++k) {
        store_.put_record("apt-deb", item.packages[k].sha256.hex(), to_json(writer.infos()[k]));
    }
    if (status) {
        *status = CacheStatus::built;
    }
    return result;
}

LayerResult AptImage::build_state(std::size_t i, ocibake::detail::ThreadPool* pool,
                                  Progress* progress, CacheStatus* status) {
    const ImageItem& item = items_[i];
    Turn turn(*this, i); // every item below has told what it did
    StateInputs inputs;
    inputs.base = &base_;
    inputs.layers = layers_;
    inputs.arch = options_.arch;
    inputs.generator = options_.generator;
    for (std::size_t k = 0; k < i; ++k) {
        const ImageItem& below = items_[k];
        StateItem s;
        s.layer = below.layer;
        if (below.kind == ImageItem::Kind::part) {
            s.packages = &below.packages;
            for (const LockedPackage& p : below.packages) {
                s.infos.push_back(&infos_.at(p.sha256));
            }
            s.outcome = outcomes_[k].get();
        } else {
            s.entries = &below.entries;
        }
        inputs.items.push_back(std::move(s));
    }
    turn.pass();
    Digest key = state_key(inputs, item.options);
    if (auto hit = cached(store_, key, item.options)) {
        if (status) {
            *status = CacheStatus::hit;
        }
        return *hit;
    }
    std::vector<LayerEntry> entries = state_entries(inputs);
    LayerResult result =
        ocibake::detail::write_layer_on(store_, entries, item.options, pool, progress, item.name);
    ocibake::detail::remember_layer_blob(store_, result, item.options);
    store_.put_record("apt-layer", key.hex(), result.diff_id.str());
    if (status) {
        *status = CacheStatus::built;
    }
    return result;
}

} // namespace ocibake::apt::detail
