#include "apt/part.hpp"

#include "apt/decode.hpp"
#include "apt/internal.hpp"
#include "apt/md5.hpp"
#include "apt/paths.hpp"
#include "layer/changeset.hpp"

#include <algorithm>
#include <optional>

namespace ocibake::apt::detail {

namespace {

using ocibake::detail::BufferPool;
using ocibake::detail::ChunkStream;
using ocibake::detail::TarWriter;

/// Files whose content the state layer needs: the linker's configuration, base-passwd's
/// master files, the certificates.
bool keeps_content(const std::string& dpkg_path) {
    return dpkg_path == "etc/ld.so.conf" || dpkg_path.starts_with("etc/ld.so.conf.d/") ||
           dpkg_path == "usr/share/base-passwd/passwd.master" ||
           dpkg_path == "usr/share/base-passwd/group.master" ||
           (dpkg_path.starts_with("usr/share/ca-certificates/") && dpkg_path.ends_with(".crt"));
}

ImageNode node_of(const DebEntry& e) {
    ImageNode n;
    switch (e.type) {
    case DebEntry::Type::directory:
        n.type = ImageNode::Type::directory;
        break;
    case DebEntry::Type::symlink:
        n.type = ImageNode::Type::symlink;
        n.target = e.link;
        break;
    case DebEntry::Type::file:
    case DebEntry::Type::hardlink:
        n.type = ImageNode::Type::file;
        break;
    default:
        n.type = ImageNode::Type::other;
        break;
    }
    return n;
}

EntryShape::Kind kind_of(ImageNode::Type type) {
    switch (type) {
    case ImageNode::Type::directory:
        return EntryShape::Kind::directory;
    case ImageNode::Type::symlink:
        return EntryShape::Kind::symlink;
    case ImageNode::Type::file:
        return EntryShape::Kind::file;
    default:
        return EntryShape::Kind::other;
    }
}

EntryShape::Kind kind_of(DebEntry::Type type) {
    switch (type) {
    case DebEntry::Type::directory:
        return EntryShape::Kind::directory;
    case DebEntry::Type::symlink:
        return EntryShape::Kind::symlink;
    case DebEntry::Type::file:
        return EntryShape::Kind::file;
    case DebEntry::Type::hardlink:
        return EntryShape::Kind::hardlink;
    default:
        return EntryShape::Kind::other;
    }
}

} // namespace

PackageMeta meta_of(const std::string& control, const std::string& what) {
    PackageMeta m;
    bool first = true;
    for_each_paragraph(control, what + ": control", [&](const RawParagraph& p) {
        if (!first) {
            return;
        }
        first = false;
        for (const auto& [k, v] : p.fields) {
            m.fields.emplace_back(std::string(k), std::string(v));
        }
    });
    auto field = [&](std::string_view key) {
        for (const auto& [k, v] : m.fields) {
            if (ocibake::detail::ascii_iequals(k, key)) {
                return v;
            }
        }
        return std::string();
    };
    m.name = field("Package");
    m.version = field("Version");
    m.arch = field("Architecture");
    m.multi_arch = field("Multi-Arch");
    m.replaces = parse_relations(field("Replaces"), what + ": Replaces");
    return m;
}

PartOutcome plan_from_infos(const std::vector<LockedPackage>& packages,
                            const std::vector<const DebInfo*>& infos, PartFacts& facts) {
    PartPlanner planner(packages, facts);
    for (std::size_t i = 0; i < packages.size(); ++i) {
        const DebInfo& info = *infos[i];
        PackageMeta meta = meta_of(info.stanza, describe(packages[i]));
        meta.members = info.control;
        planner.begin(i, std::move(meta));
        for (const auto& [path, node] : info.nodes) {
            planner.place(i, {path, kind_of(node.type), node.target});
        }
    }
    return planner.finish();
}

struct PartWriter::Impl {
    Impl(const Store& store, const std::vector<LockedPackage>& packages, PartFacts& facts,
         unsigned threads, const std::vector<std::shared_future<void>>* ready)
        : packages(packages), buffers(kDataChunk), planner(packages, facts),
          decoders(store, packages, threads, buffers, ready), unpacked(packages.size()) {}

    struct Unpacked {
        std::map<std::string, ControlFile> control;
        std::set<std::string> conffiles;                  ///< dpkg paths
        std::map<std::string, std::string> conffile_md5s; ///< dpkg path -> md5
    };

    const std::vector<LockedPackage>& packages;
    BufferPool buffers;
    PartPlanner planner;
    Decoders decoders;
    std::vector<Unpacked> unpacked;

    std::string what(std::size_t i) const {
        return describe(packages[i]) + " (" + packages[i].url + ")";
    }

    void take_control(std::size_t i, std::map<std::string, ControlFile> control) {
        Unpacked& u = unpacked[i];
        u.control = std::move(control);
        PackageMeta meta = meta_of(u.control.at("control").content, describe(packages[i]));
        for (const auto& [name, member] : u.control) {
            if (name != "control") {
                meta.members.push_back(name);
            }
        }
        if (auto it = u.control.find("conffiles"); it != u.control.end()) {
            for (const std::string& line : words(it->second.content)) {
                if (line.starts_with('/')) {
                    u.conffiles.insert(line);
                }
            }
        }
        planner.begin(i, std::move(meta));
    }

    /// Writes one data.tar entry's header where the planner places it (its data follows);
    /// false when it is not written.
    bool entry(std::size_t i, const DebEntry& e, const std::string& dpkg, TarWriter& tar) {
        EntryShape shape{dpkg, kind_of(e.type), e.link};
        if (e.type == DebEntry::Type::hardlink) {
            shape.link = clean_path(e.link, what(i));
        }
        Placement placed = planner.place(i, shape);
        if (!placed.write) {
            return false;
        }
        LayerEntry le;
        le.path = placed.path;
        le.type = e.type;
        le.mode = e.mode;
        le.uid = e.uid;
        le.gid = e.gid;
        le.dev_major = e.dev_major;
        le.dev_minor = e.dev_minor;
        if (e.type == EntryType::file) {
            le.size = e.size;
            tar.add_header(le);
            return true;
        }
        if (e.type == EntryType::symlink) {
            le.link_target = e.link;
        } else if (e.type == EntryType::hardlink) {
            le.link_target = placed.link_target;
        }
        tar.add(le);
        return false;
    }

    void unpack(std::size_t i, TarWriter& tar, ChunkStream& stream, DebInfo& info) {
        Channel& channel = decoders.reach(i);
        Unpacked& u = unpacked[i];
        bool writing = false;
        std::uint64_t left = 0;
        std::uint64_t size = 0;
        std::string conffile; // the dpkg path of the file being written, when a conffile
        Md5 md5;
        std::optional<ElfScanner> elf;
        std::string* content = nullptr; // a file whose content is kept
        ImageNode* node = nullptr;
        auto end_file = [&] {
            if (writing) {
                tar.pad(size);
            }
            if (!conffile.empty()) {
                u.conffile_md5s[conffile] = md5.finish_hex();
                conffile.clear();
            }
            if (elf) {
                node->elf = elf->finish();
                elf.reset();
            }
            content = nullptr;
            writing = false;
        };
        bool control = false;
        while (std::optional<Event> next = channel.pop()) {
            Event& event = *next;
            switch (event.kind) {
            case Event::Kind::control:
                take_control(i, std::move(event.control));
                control = true;
                break;
            case Event::Kind::entry: {
                if (!control) {
                    throw Error(ErrorKind::internal, describe(packages[i]) + ": no control file");
                }
                const DebEntry& e = event.entry;
                std::string dpkg = clean_path(e.path, what(i));
                if (ocibake::detail::whiteout_component(dpkg)) {
                    throw Error(ErrorKind::input,
                                what(i) + ": data.tar: " + ocibake::detail::whiteout_refusal(dpkg) +
                                    " (dpkg would make a file of that name; an image cannot)");
                }
                writing = entry(i, e, dpkg, tar);
                left = size = e.size;
                if (!dpkg.empty()) {
                    info.nodes.emplace_back(dpkg, node_of(e));
                    node = &info.nodes.back().second;
                    if (e.type == DebEntry::Type::hardlink) {
                        std::string target = clean_path(e.link, what(i));
                        for (const auto& [p, n] : info.nodes) {
                            if (p == target) {
                                node->elf = n.elf;
                                node->content = n.content;
                            }
                        }
                    }
                }
                if (e.type == DebEntry::Type::file) {
                    if (u.conffiles.count("/" + dpkg)) {
                        conffile = "/" + dpkg;
                    }
                    std::string name = dpkg.substr(dpkg.rfind('/') + 1);
                    if (is_library_name(name)) {
                        elf.emplace(e.size);
                    }
                    if (keeps_content(dpkg)) {
                        content = &node->content;
                    }
                }
                if (left == 0) {
                    end_file();
                }
                break;
            }
            case Event::Kind::data:
                if (writing) {
                    stream.append(event.data.data.get(), event.data.size);
                }
                if (!conffile.empty()) {
                    md5.update(event.data.data.get(), event.data.size);
                }
                if (elf) {
                    elf->feed(event.data.data.get(), event.data.size);
                }
                if (content != nullptr && content->size() < (1u << 20)) {
                    content->append(event.data.data.get(), event.data.size);
                }
                left -= std::min<std::uint64_t>(left, event.data.size);
                buffers.put(std::move(event.data));
                if (left == 0) {
                    end_file();
                }
                break;
            }
        }
        if (!control) {
            throw Error(ErrorKind::integrity, describe(packages[i]) + ": the package is empty");
        }
        const PackageMeta& meta = planner.meta(i);
        info.stanza = stanza_text(meta.name, meta.fields, u.conffile_md5s);
        if (auto it = u.control.find("postinst"); it != u.control.end()) {
            info.alternatives = parse_alternatives(it->second.content);
        }
        info.control = meta.members;
    }

    /// The part's dpkg info files, and what it changes of the packages below, by path.
    std::vector<LayerEntry> tail(const PartOutcome& outcome) const {
        std::vector<LayerEntry> out;
        std::set<std::string> written;
        for (std::size_t i = 0; i < packages.size(); ++i) {
            const PartOutcome::Installed& installed = outcome.installed[i];
            std::string prefix = "var/lib/dpkg/info/" + installed.meta.key() + ".";
            std::string list;
            for (const std::string& line : installed.list) {
                list += line + "\n";
            }
            out.push_back(file_entry(prefix + "list", std::move(list), 0644));
            for (const auto& [name, member] : unpacked[i].control) {
                if (name != "control") {
                    out.push_back(file_entry(prefix + name, member.content, member.mode));
                }
            }
        }
        for (const auto& [key, lines] : outcome.lists) {
            std::string list;
            for (const std::string& line : lines) {
                list += line + "\n";
            }
            out.push_back(file_entry("var/lib/dpkg/info/" + key + ".list", std::move(list), 0644));
        }
        for (const LayerEntry& e : out) {
            written.insert(e.path);
        }
        for (const std::string& path : outcome.whiteouts) {
            if (written.count(path)) {
                continue;
            }
            LayerEntry e;
            e.path = path;
            e.type = EntryType::whiteout;
            e.mode = 0;
            out.push_back(std::move(e));
        }
        std::sort(out.begin(), out.end(),
                  [](const LayerEntry& a, const LayerEntry& b) { return a.path < b.path; });
        return out;
    }
};

PartWriter::PartWriter(const Store& store, const std::vector<LockedPackage>& packages,
                       PartFacts& facts, unsigned threads,
                       const std::vector<std::shared_future<void>>* ready)
    : impl_(std::make_unique<Impl>(store, packages, facts, threads, ready)),
      infos_(packages.size()) {}

PartWriter::~PartWriter() = default;

void PartWriter::write(TarWriter& tar, ChunkStream& stream,
                       const std::function<void(const PartOutcome&)>& planned) {
    for (std::size_t i = 0; i < impl_->packages.size(); ++i) {
        impl_->unpack(i, tar, stream, infos_[i]);
    }
    PartOutcome outcome = impl_->planner.finish();
    planned(outcome);
    for (const LayerEntry& e : impl_->tail(outcome)) {
        tar.add(e);
    }
}

} // namespace ocibake::apt::detail
