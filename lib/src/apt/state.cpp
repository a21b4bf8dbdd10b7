#include "apt/state.hpp"

#include "apt/internal.hpp"
#include "apt/paths.hpp"
#include "common/fs.hpp"

#include <fcntl.h>

#include <algorithm>
#include <map>

namespace ocibake::apt::detail {

namespace {

const char* const kAccountFiles[] = {"etc/passwd", "etc/group", "etc/shadow", "etc/gshadow"};

bool account_file(const std::string& path) {
    return std::find(std::begin(kAccountFiles), std::end(kAccountFiles), path) !=
           std::end(kAccountFiles);
}

bool linker_config(const std::string& path) {
    return path == "etc/ld.so.conf" || path.starts_with("etc/ld.so.conf.d/");
}

/// Files of a layer's own entries whose content the state needs.
bool state_input(const std::string& path) {
    return account_file(path) || linker_config(path) || path == "etc/ca-certificates.conf" ||
           ((path.starts_with("usr/share/ca-certificates/") ||
             path.starts_with("usr/local/share/ca-certificates/")) &&
            path.ends_with(".crt"));
}

std::string name_of(const std::string& path) {
    return path.substr(path.rfind('/') + 1);
}

/// A layer entry as the view holds it: content for the files the state reads, the ELF
/// data of libraries when `libraries` (streamed: a library may be hundreds of megabytes).
ImageNode node_of(const LayerEntry& e, bool libraries) {
    ImageNode node;
    switch (e.type) {
    case EntryType::directory:
        node.type = ImageNode::Type::directory;
        break;
    case EntryType::symlink:
        node.type = ImageNode::Type::symlink;
        node.target = e.link_target;
        break;
    case EntryType::file:
    case EntryType::hardlink:
        node.type = ImageNode::Type::file;
        if (e.type == EntryType::file && state_input(e.path)) {
            node.content = e.source.empty()
                               ? e.content
                               : ocibake::detail::read_file(e.source, ErrorKind::input, 1u << 20);
        } else if (e.type == EntryType::file && libraries && is_library_name(name_of(e.path))) {
            ElfScanner scan(e.size);
            if (e.source.empty()) {
                scan.feed(e.content.data(), e.content.size());
            } else {
                ocibake::detail::UniqueFd fd =
                    ocibake::detail::open_file(e.source, O_RDONLY | O_CLOEXEC, ErrorKind::input);
                std::string chunk(1u << 20, '\0');
                for (;;) {
                    std::size_t n = ocibake::detail::read_some(fd.get(), chunk.data(), chunk.size(),
                                                               e.source, ErrorKind::input);
                    if (n == 0) {
                        break;
                    }
                    scan.feed(chunk.data(), n);
                }
            }
            node.elf = scan.finish();
        }
        break;
    default:
        node.type = ImageNode::Type::other;
        break;
    }
    return node;
}

void erase_tree(ImageView& view, const std::string& path) {
    view.erase(path);
    std::string prefix = path + "/";
    for (auto it = view.lower_bound(prefix); it != view.end() && it->first.starts_with(prefix);) {
        it = view.erase(it);
    }
}

} // namespace

void hash_entries(KeyHasher& h, const std::vector<LayerEntry>& entries) {
    h.number(entries.size());
    for (const LayerEntry& e : entries) {
        h.field(e.path);
        h.field(std::to_string(static_cast<int>(e.type)) + " " + std::to_string(e.mode) + " " +
                std::to_string(e.uid) + " " + std::to_string(e.gid) + " " + std::to_string(e.size) +
                " " + std::to_string(e.dev_major) + " " + std::to_string(e.dev_minor));
        h.field(e.link_target);
        for (const auto& [k, v] : e.xattrs) {
            h.field(k);
            h.field(v);
        }
        if (e.type == EntryType::file) {
            if (e.source.empty()) {
                h.field(sha256_of(e.content).str());
            } else {
                h.field(e.source);
                h.field(std::to_string(e.identity.device) + " " + std::to_string(e.identity.inode) +
                        " " + std::to_string(e.identity.mtime_ns) + " " +
                        std::to_string(e.identity.ctime_ns));
            }
        }
    }
}

Digest state_key(const StateInputs& in, const LayerOptions& options) {
    KeyHasher h;
    h.field("ocibake apt-state 1"); // bumped whenever what the state layer holds changes
    h.number(layer_format_version);
    h.field(std::to_string(options.source_date_epoch));
    h.field(in.arch);
    h.field(in.generator);
    h.field(in.base->fingerprint().str());
    h.number(in.items.size());
    for (const StateItem& item : in.items) {
        h.number(item.layer);
        if (item.packages != nullptr) {
            h.field("part");
            h.number(item.packages->size());
            for (const LockedPackage& p : *item.packages) {
                h.field(p.name + " " + p.version + " " + p.arch + " " + p.sha256.str());
            }
        } else {
            h.field("entries");
            hash_entries(h, *item.entries);
        }
    }
    h.number(in.layers.size());
    for (const StateDecl& d : in.layers) {
        h.number(d.accounts.size());
        for (const Account& a : d.accounts) {
            h.field(a.name + ":" + std::to_string(a.uid) + ":" +
                    (a.gid ? std::to_string(*a.gid) : std::string("-")) + ":" + a.group + ":" +
                    a.home + ":" + a.shell + ":" + a.comment);
            h.number(a.groups.size());
            for (const std::string& g : a.groups) {
                h.field(g);
            }
        }
        h.number(d.groups.size());
        for (const Group& g : d.groups) {
            h.field(g.name + ":" + std::to_string(g.gid));
            h.number(g.members.size());
            for (const std::string& m : g.members) {
                h.field(m);
            }
        }
        h.number(d.alternatives.size());
        for (const AlternativeChoice& a : d.alternatives) {
            h.field(a.name + " " + a.path + " " + a.link + " " + std::to_string(a.priority));
        }
        h.field(std::string(d.ldconfig ? "ldconfig" : "-") +
                (d.uses_image_below ? " below" : " -"));
    }
    return h.finish();
}

std::vector<LayerEntry> state_entries(const StateInputs& in) {
    const ImageFacts& base = *in.base;
    ImageView view = view_of(base);
    // The image's state files as its layers leave them, without the state layer.
    ImageFacts top = base;
    std::map<std::string, std::string> status = stanzas_of(base.file("var/lib/dpkg/status"));
    bool parts = false;
    bool adds_libraries = false;
    bool ldconfig = false;
    bool ca_certificates = false;
    std::vector<AltDecl> declared;
    std::vector<AlternativeChoice> chosen;
    std::map<std::string, LayerEntry> accounts; // account files an effect wrote last
    std::size_t next = 0;
    for (std::size_t layer = 0; layer < in.layers.size(); ++layer) {
        const StateDecl& decl = in.layers[layer];
        ldconfig = ldconfig || decl.ldconfig;
        chosen.insert(chosen.end(), decl.alternatives.begin(), decl.alternatives.end());
        // The layer's packages, part by part.
        std::map<std::string, std::string> masters;
        for (; next < in.items.size() && in.items[next].layer == layer &&
               in.items[next].packages != nullptr;
             ++next) {
            const StateItem& item = in.items[next];
            parts = true;
            for (std::size_t i = 0; i < item.infos.size(); ++i) {
                const DebInfo& info = *item.infos[i];
                const LockedPackage& p = (*item.packages)[i];
                for (auto& [key, text] : stanzas_of(info.stanza)) {
                    // A package installed over another architecture's instance replaces it.
                    status.erase(p.name);
                    status[key] = text;
                }
                const std::set<std::string>& unwritten = item.outcome->unwritten[i];
                for (const auto& [dpkg, node] : info.nodes) {
                    std::string path = land(dpkg, base.links);
                    if (path.empty() || unwritten.count(path)) {
                        continue;
                    }
                    if (node.type != ImageNode::Type::directory &&
                        (is_library_name(name_of(path)) || linker_config(path))) {
                        adds_libraries = true;
                    }
                    if (p.name == "base-passwd" && dpkg.starts_with("usr/share/base-passwd/")) {
                        masters[dpkg] = node.content;
                    }
                    put_node(view, path, node);
                }
                declared.insert(declared.end(), info.alternatives.begin(), info.alternatives.end());
                ca_certificates = ca_certificates || p.name == "ca-certificates";
            }
            for (const std::string& path : item.outcome->whiteouts) {
                erase_tree(view, path);
            }
        }
        // What the layer states of accounts, over what the layers below left.
        for (LayerEntry& e : account_entries(top, view, masters, decl.accounts, decl.groups)) {
            top.files[e.path] = e.content;
            accounts[e.path] = std::move(e);
        }
        // The layer's own entries, written after its packages.
        for (; next < in.items.size() && in.items[next].layer == layer; ++next) {
            for (const LayerEntry& e : *in.items[next].entries) {
                if (e.type == EntryType::whiteout) {
                    erase_tree(view, e.path);
                    continue;
                }
                ImageNode node = node_of(e, decl.uses_image_below);
                if (decl.uses_image_below && e.type != EntryType::directory &&
                    (linker_config(e.path) || is_library_name(name_of(e.path)))) {
                    adds_libraries = true;
                }
                if (e.type == EntryType::file && state_input(e.path)) {
                    top.files[e.path] = node.content;
                    accounts.erase(e.path); // the layer's own file is the one in the image
                }
                put_node(view, e.path, std::move(node));
            }
        }
    }
    std::vector<LayerEntry> out;
    if (parts) {
        std::string text;
        for (const auto& [key, stanza] : status) {
            text += stanza + "\n";
        }
        out.push_back(file_entry("var/lib/dpkg/status", std::move(text)));
        out.push_back(file_entry("var/lib/dpkg/info/format", "1\n"));
    }
    for (auto& [path, e] : accounts) {
        out.push_back(std::move(e));
    }
    // update-alternatives, for every group a package or the recipe declares.
    for (LayerEntry& e : alternative_entries(base, view, declared, chosen, base.links)) {
        e.path = land(e.path, base.links);
        if (e.type == EntryType::symlink) {
            ImageNode n;
            n.type = ImageNode::Type::symlink;
            n.target = e.link_target;
            put_node(view, e.path, n);
        }
        out.push_back(std::move(e));
    }
    // ca-certificates' postinst: update-ca-certificates.
    if (ca_certificates) {
        for (LayerEntry& e : ca_certificate_entries(top, view)) {
            out.push_back(std::move(e));
        }
    }
    // ld.so.cache, when a layer adds libraries or linker configuration to an image with
    // glibc's linker configuration (libc-bin's trigger runs ldconfig then).
    if ((adds_libraries && view.count("etc/ld.so.conf")) || ldconfig) {
        LdCache cache = make_ld_cache(view, in.arch, in.generator);
        out.push_back(file_entry("etc/ld.so.cache", std::move(cache.bytes)));
        for (const auto& [path, target] : cache.links) {
            out.push_back(symlink_entry(path, target));
        }
    }
    // One entry per path: a later effect replaces an earlier one.
    std::map<std::string, LayerEntry> unique;
    for (LayerEntry& e : out) {
        unique[e.path] = std::move(e);
    }
    std::vector<LayerEntry> result;
    for (auto& [path, e] : unique) {
        result.push_back(std::move(e));
    }
    return result;
}

LayerEntry file_entry(std::string path, std::string content, std::uint32_t mode) {
    LayerEntry e;
    e.path = std::move(path);
    e.type = EntryType::file;
    e.mode = mode;
    e.size = content.size();
    e.content = std::move(content);
    return e;
}

LayerEntry symlink_entry(std::string path, std::string target) {
    LayerEntry e;
    e.path = std::move(path);
    e.type = EntryType::symlink;
    e.mode = 0777;
    e.link_target = std::move(target);
    return e;
}

} // namespace ocibake::apt::detail
