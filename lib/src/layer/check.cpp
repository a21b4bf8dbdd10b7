// Layers checked with `ocibake run`'s unpacking rules without unpacking them: the
// changeset rules (layer/changeset.hpp) applied to a model of the tree, which knows of
// each path only what the rules look at (a directory, a symlink and its target, or
// something else).
#include "common/libarchive.hpp"
#include "common/names.hpp"
#include "layer/changeset.hpp"
#include "layer/reader.hpp"
#include "ocibake/layer.hpp"

#include <nlohmann/json.hpp>

#include <map>

namespace ocibake {

namespace {

using detail::NodeInfo;

/// The tree a stack of layers makes: a Tree for walk_tree() and a Target for Changeset.
class TreeModel {
public:
    // --- Tree --------------------------------------------------------------------------
    using Dir = std::string; ///< a directory's path ("" for the root)

    NodeInfo look(const Dir* at, const std::string& name, const std::string&) const {
        auto it = nodes_.find(join(at ? *at : "", name));
        return it == nodes_.end() ? NodeInfo{} : it->second;
    }
    void make_dir(const Dir* at, const std::string& name, const std::string&) {
        nodes_[join(at ? *at : "", name)] = {NodeInfo::Type::directory, {}};
    }
    Dir enter(const Dir* at, const std::string& name, const std::string&) const {
        return join(at ? *at : "", name);
    }
    Dir hold(const Dir* at) const { return at ? *at : ""; }

    // --- Target ------------------------------------------------------------------------
    using Location = std::pair<std::string, std::string>; ///< a directory's path, a name

    std::optional<Location> parent(std::string_view path, bool create, const std::string& what) {
        return detail::walk_tree(*this, path, detail::Symlinks::strict, create, false, what);
    }
    Location root() const { return {"", "."}; }
    NodeInfo::Type type_at(const Location& at) const {
        std::string path = full(at);
        if (path.empty()) {
            return NodeInfo::Type::directory;
        }
        auto it = nodes_.find(path);
        return it == nodes_.end() ? NodeInfo::Type::missing : it->second.type;
    }
    void remove(const Location& at, const std::string&) { erase_tree(full(at)); }
    void make_directory(const Location& at, const std::string&) {
        nodes_[full(at)] = {NodeInfo::Type::directory, {}};
    }
    void empty_directory(const Location& at, const std::string& dir,
                         const std::set<std::string>& keep, const std::string&) {
        std::string path = full(at);
        std::string prefix = path.empty() ? "" : path + "/";
        std::set<std::string> children;
        for (auto it = nodes_.lower_bound(prefix);
             it != nodes_.end() && it->first.starts_with(prefix); ++it) {
            std::string_view rest = std::string_view(it->first).substr(prefix.size());
            children.emplace(rest.substr(0, rest.find('/')));
        }
        for (const std::string& child : children) {
            if (keep.count((dir.empty() ? "" : dir + "/") + child) == 0) {
                erase_tree(prefix + child);
            }
        }
    }
    std::uint64_t add(const Location& at, const std::string&, archive_entry* entry,
                      const std::string&) {
        std::string path = full(at);
        auto type = libarchive().archive_entry_filetype(entry);
        auto it = nodes_.find(path);
        if (type == AE_IFDIR && it != nodes_.end() &&
            it->second.type == NodeInfo::Type::directory) {
            return 0; // a directory stays: only its metadata changes
        }
        erase_tree(path);
        NodeInfo& node = nodes_[path];
        if (type == AE_IFDIR) {
            node.type = NodeInfo::Type::directory;
        } else if (type == AE_IFLNK) {
            node.type = NodeInfo::Type::symlink;
            const char* target = libarchive().archive_entry_symlink(entry);
            node.target = target ? target : "";
        } else {
            node.type = NodeInfo::Type::other;
        }
        return 0;
    }
    void link(const Location& at, const Location&, const std::string&, const std::string&) {
        std::string path = full(at);
        erase_tree(path);
        nodes_[path] = {NodeInfo::Type::other, {}};
    }

private:
    static std::string join(const std::string& dir, const std::string& name) {
        return dir.empty() ? name : dir + "/" + name;
    }
    static std::string full(const Location& at) {
        return at.second == "." ? at.first : join(at.first, at.second);
    }
    void erase_tree(const std::string& path) {
        nodes_.erase(path);
        std::string prefix = path + "/";
        for (auto it = nodes_.lower_bound(prefix);
             it != nodes_.end() && it->first.starts_with(prefix);) {
            it = nodes_.erase(it);
        }
    }

    std::map<std::string, NodeInfo> nodes_;
};

/// Bumped whenever the rules change what they refuse: kept verdicts are then read again.
constexpr const char* kRulesVersion = "ocibake layer-check 1";

std::string label_of(std::size_t i, const LayerResult& layer) {
    return "layer " + std::to_string(i + 1) + " (" + layer.descriptor.digest.str() + ")";
}

/// The record key of a layer's verdict: its ChainID (image-spec config.md) under the
/// rules' version.
std::vector<std::string> record_keys(const std::vector<LayerResult>& layers) {
    std::vector<std::string> out;
    Digest chain;
    for (const LayerResult& l : layers) {
        chain = chain ? sha256_of(chain.str() + " " + l.diff_id.str()) : l.diff_id;
        out.push_back(sha256_of(std::string(kRulesVersion) + " " + chain.str()).hex());
    }
    return out;
}

/// A kept verdict, its message without the layer's label (the same layer may sit in
/// another image under another compressed digest).
std::optional<LayerCheck> kept(const Store& store, const std::string& key,
                               const std::string& label) {
    auto text = store.get_record("layer-check", key);
    if (!text) {
        return std::nullopt;
    }
    try {
        auto j = nlohmann::json::parse(*text);
        LayerCheck c;
        std::string status = j.at("status").get<std::string>();
        if (status == "passed") {
            c.status = LayerCheck::Status::passed;
        } else if (status == "refused") {
            c.status = LayerCheck::Status::refused;
            c.detail = label + j.at("detail").get<std::string>();
        } else {
            return std::nullopt;
        }
        return c;
    } catch (const std::exception&) {
        return std::nullopt; // a damaged record is a miss
    }
}

void keep(const Store& store, const std::string& key, const std::string& label,
          const LayerCheck& c) {
    nlohmann::json j = {{"status", to_string(c.status)}};
    if (c.status == LayerCheck::Status::refused) {
        j["detail"] = c.detail.starts_with(label) ? c.detail.substr(label.size()) : c.detail;
    }
    try {
        store.put_record("layer-check", key, j.dump());
    } catch (const nlohmann::json::exception&) {
        // a message that is not UTF-8 cannot be kept: the layer is read again next time
    }
}

} // namespace

constexpr detail::Named<LayerCheck::Status> check_status_names[] = {
    {LayerCheck::Status::passed, "passed"},
    {LayerCheck::Status::refused, "refused"},
    {LayerCheck::Status::unchecked, "unchecked"},
};

const char* to_string(LayerCheck::Status status) noexcept {
    return detail::name_of(check_status_names, status, "?");
}

std::vector<LayerCheck> check_layers(Store& store, const std::vector<LayerResult>& layers) {
    std::vector<std::string> keys = record_keys(layers);
    std::vector<LayerCheck> out(layers.size());
    bool all_kept = true;
    for (std::size_t i = 0; i < layers.size(); ++i) {
        if (auto c = kept(store, keys[i], label_of(i, layers[i]))) {
            out[i] = *c;
        } else {
            all_kept = false;
        }
    }
    if (all_kept) {
        return out;
    }
    // Read from the bottom: a layer's verdict depends on the tree below it.
    TreeModel tree;
    std::string stop; // why the layers from here up cannot be read
    for (std::size_t i = 0; i < layers.size(); ++i) {
        const LayerResult& layer = layers[i];
        std::string label = label_of(i, layer);
        if (stop.empty() && !store.has_blob(layer.descriptor.digest)) {
            if (out[i].status == LayerCheck::Status::unchecked) {
                out[i].detail = "its blob is not in the cache";
            }
            stop = "the blob of " + label + " below it is not in the cache";
            continue;
        }
        if (!stop.empty()) {
            if (out[i].status == LayerCheck::Status::unchecked) {
                out[i].detail = stop;
            }
            continue;
        }
        detail::Changeset<TreeModel> changes(tree, label);
        detail::ChangeCounts counts;
        LayerCheck verdict;
        verdict.status = LayerCheck::Status::passed;
        try {
            detail::read_layer(store, layer, label, [&](archive*, archive_entry* entry) {
                changes.apply(entry, counts);
            });
        } catch (const Error& e) {
            verdict.status = LayerCheck::Status::refused;
            verdict.kind = e.kind();
            verdict.detail = e.what();
            if (e.kind() != ErrorKind::input) {
                // Not read to the end: the layers above it cannot be checked.
                out[i] = verdict;
                stop = "a layer below it (" + label + ") could not be read";
                continue;
            }
        }
        out[i] = verdict;
        keep(store, keys[i], label, verdict);
    }
    return out;
}

} // namespace ocibake
