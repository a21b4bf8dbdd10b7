// ld.so.cache written as glibc's ldconfig (2.32 and later) writes it, and the ELF
// reading it needs. The rules follow glibc's elf/ldconfig.c (search_dir, create_links),
// elf/readelflib.c, elf/cache.c (save_cache) and sysdeps/generic/dl-cache.h; the result
// is tested against `ldconfig -r` on the same tree.
#include "apt/ldcache.hpp"
#include "common/strings.hpp"

#include <algorithm>
#include <cstring>
#include <fnmatch.h>
#include <set>

namespace ocibake::apt::detail {

namespace {

constexpr std::size_t kHeadLimit = 32u << 20;

// ldconfig's flags (sysdeps/generic/ldconfig.h).
constexpr std::int32_t kFlagElf = 1;
constexpr std::int32_t kFlagElfLibc5 = 2;
constexpr std::int32_t kFlagElfLibc6 = 3;
constexpr std::int32_t kFlagX8664Lib64 = 0x0300;
constexpr std::int32_t kFlagX8664Libx32 = 0x0800;
constexpr std::int32_t kFlagArmLibHf = 0x0900;
constexpr std::int32_t kFlagAarch64Lib64 = 0x0a00;
constexpr std::int32_t kFlagArmLibSf = 0x0b00;

constexpr std::uint16_t kEtDyn = 3;
constexpr std::uint16_t kEm386 = 3;
constexpr std::uint16_t kEmArm = 40;
constexpr std::uint16_t kEmX8664 = 62;
constexpr std::uint16_t kEmAarch64 = 183;

struct Reader {
    const std::string& bytes;
    bool big;
    bool has(std::uint64_t offset, std::uint64_t n) const {
        return offset <= bytes.size() && n <= bytes.size() - offset;
    }
    std::uint64_t get(std::uint64_t offset, int width) const {
        std::uint64_t v = 0;
        for (int i = 0; i < width; ++i) {
            auto b = static_cast<unsigned char>(bytes[offset + static_cast<std::uint64_t>(i)]);
            if (big) {
                v = (v << 8) | b;
            } else {
                v |= static_cast<std::uint64_t>(b) << (8 * i);
            }
        }
        return v;
    }
};

struct Phdr {
    std::uint32_t type;
    std::uint64_t offset, vaddr, filesz, align;
};

struct Header {
    bool is64 = false, big = false;
    std::uint16_t type = 0, machine = 0;
    std::uint32_t eflags = 0;
    std::vector<Phdr> phdrs;
};

/// Parses the ELF header and program headers from `head`; nullopt when they are not
/// (yet) all there or the file is not ELF.
std::optional<Header> parse_header(const std::string& head, bool& not_elf) {
    if (head.size() < 64) {
        return std::nullopt;
    }
    if (std::memcmp(head.data(),
                    "\x7f"
                    "ELF",
                    4) != 0 ||
        (head[4] != 1 && head[4] != 2) || (head[5] != 1 && head[5] != 2)) {
        not_elf = true;
        return std::nullopt;
    }
    Header h;
    h.is64 = head[4] == 2;
    h.big = head[5] == 2;
    Reader r{head, h.big};
    h.type = static_cast<std::uint16_t>(r.get(16, 2));
    h.machine = static_cast<std::uint16_t>(r.get(18, 2));
    std::uint64_t phoff = h.is64 ? r.get(32, 8) : r.get(28, 4);
    h.eflags = static_cast<std::uint32_t>(h.is64 ? r.get(48, 4) : r.get(36, 4));
    std::uint64_t phentsize = h.is64 ? r.get(54, 2) : r.get(42, 2);
    std::uint64_t phnum = h.is64 ? r.get(56, 2) : r.get(44, 2);
    if (phentsize < (h.is64 ? 56u : 32u) || phnum > 4096) {
        not_elf = true;
        return std::nullopt;
    }
    if (!r.has(phoff, phentsize * phnum)) {
        if (phoff + phentsize * phnum > kHeadLimit) {
            not_elf = true;
        }
        return std::nullopt;
    }
    for (std::uint64_t i = 0; i < phnum; ++i) {
        std::uint64_t p = phoff + i * phentsize;
        Phdr ph{};
        ph.type = static_cast<std::uint32_t>(r.get(p, 4));
        if (h.is64) {
            ph.offset = r.get(p + 8, 8);
            ph.vaddr = r.get(p + 16, 8);
            ph.filesz = r.get(p + 32, 8);
            ph.align = r.get(p + 48, 8);
        } else {
            ph.offset = r.get(p + 4, 4);
            ph.vaddr = r.get(p + 8, 4);
            ph.filesz = r.get(p + 16, 4);
            ph.align = r.get(p + 28, 4);
        }
        h.phdrs.push_back(ph);
    }
    return h;
}

std::int32_t known_flag(std::string_view name, bool interpreter) {
    static const char* interpreters[] = {
        "/lib/ld-linux.so.2",         "/libx32/ld-linux-x32.so.2", "/lib64/ld-linux-x86-64.so.2",
        "/lib/ld-linux-aarch64.so.1", "/lib/ld-linux-armhf.so.3",  "/lib/ld-linux.so.3"};
    if (interpreter) {
        for (const char* i : interpreters) {
            if (name == i) {
                return kFlagElfLibc6;
            }
        }
        return 0;
    }
    if (name == "libc.so.6" || name == "libm.so.6") {
        return kFlagElfLibc6;
    }
    if (name == "libc.so.5" || name == "libm.so.5") {
        return kFlagElfLibc5;
    }
    return 0;
}

} // namespace

bool is_library_name(std::string_view name) {
    return ((name.starts_with("lib") || name.starts_with("ld-")) &&
            name.find(".so") != std::string_view::npos) ||
           name.starts_with("ld.so.") || name.starts_with("ld64.so.");
}

void ElfScanner::feed(const char* data, std::size_t size) {
    if (bad_) {
        return;
    }
    std::uint64_t start = at_;
    if (head_.size() < kHeadLimit && at_ == head_.size()) {
        std::size_t take =
            static_cast<std::size_t>(std::min<std::uint64_t>(size, kHeadLimit - head_.size()));
        head_.append(data, take);
    }
    at_ += size;
    if (!planned_) {
        plan();
    }
    for (Range& r : ranges_) {
        // The part of [r.offset, r.offset + r.size) within this chunk.
        std::uint64_t from = std::max(r.offset + r.bytes.size(), start);
        std::uint64_t to = std::min(r.offset + r.size, at_);
        if (from < to && from == r.offset + r.bytes.size()) {
            r.bytes.append(data + (from - start), static_cast<std::size_t>(to - from));
        }
    }
}

void ElfScanner::plan() {
    bool not_elf = false;
    std::optional<Header> h = parse_header(head_, not_elf);
    if (not_elf) {
        bad_ = true;
        return;
    }
    if (!h) {
        return;
    }
    planned_ = true;
    for (const Phdr& p : h->phdrs) {
        if ((p.type == 2 /* PT_DYNAMIC */ || p.type == 4 /* PT_NOTE */ ||
             p.type == 3 /* PT_INTERP */) &&
            p.filesz <= (1u << 20) && p.offset + p.filesz <= size_) {
            Range r{p.offset, p.filesz, {}};
            // What already went by is in the head.
            if (p.offset < head_.size()) {
                std::uint64_t n = std::min<std::uint64_t>(p.filesz, head_.size() - p.offset);
                r.bytes =
                    head_.substr(static_cast<std::size_t>(p.offset), static_cast<std::size_t>(n));
            }
            ranges_.push_back(std::move(r));
        }
    }
}

std::optional<ElfInfo> ElfScanner::finish() const {
    if (bad_ || !planned_) {
        return std::nullopt;
    }
    bool not_elf = false;
    std::optional<Header> h = parse_header(head_, not_elf);
    if (!h || h->type != kEtDyn) {
        return std::nullopt;
    }
    auto range = [&](const Phdr& p) -> const std::string* {
        for (const Range& r : ranges_) {
            if (r.offset == p.offset && r.size == p.filesz && r.bytes.size() == r.size) {
                return &r.bytes;
            }
        }
        return nullptr;
    };
    const int word = h->is64 ? 8 : 4;
    ElfInfo info;
    std::int32_t flag = kFlagElf;
    const Phdr* dynamic = nullptr;
    for (const Phdr& p : h->phdrs) {
        if (p.type == 2 && dynamic == nullptr) {
            dynamic = &p;
        } else if (p.type == 3) {
            if (const std::string* interp = range(p)) {
                std::string name = interp->substr(0, interp->find('\0'));
                if (std::int32_t f = known_flag(name, true)) {
                    flag = f;
                }
            }
        } else if (p.type == 4 && info.osversion == 0 && p.filesz >= 32) {
            std::uint64_t align = p.align < 4 ? 4 : p.align;
            if (align != 4 && align != 8) {
                continue;
            }
            const std::string* notes = range(p);
            if (notes == nullptr) {
                continue;
            }
            Reader r{*notes, h->big};
            std::uint64_t off = 0;
            while (r.has(off, 32)) {
                std::uint64_t namesz = r.get(off, 4), descsz = r.get(off + 4, 4),
                              type = r.get(off + 8, 4);
                if (namesz == 4 && descsz == 16 && type == 1 &&
                    std::memcmp(notes->data() + off + 12, "GNU", 4) == 0) {
                    info.osversion = static_cast<std::uint32_t>(
                        (r.get(off + 16, 4) << 24) | ((r.get(off + 20, 4) & 0xff) << 16) |
                        ((r.get(off + 24, 4) & 0xff) << 8) | (r.get(off + 28, 4) & 0xff));
                    break;
                }
                auto up = [&](std::uint64_t v) { return (v + align - 1) / align * align; };
                std::uint64_t next = up(12 + namesz) + up(descsz);
                if (next == 0 || notes->size() - off - 32 < next) {
                    break;
                }
                off += next;
            }
        }
    }
    if (dynamic == nullptr) {
        return std::nullopt;
    }
    const std::string* dyn = range(*dynamic);
    if (dyn == nullptr) {
        return std::nullopt;
    }
    Reader d{*dyn, h->big};
    std::optional<std::uint64_t> strtab;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> names; // (tag, value)
    for (std::uint64_t off = 0; d.has(off, 2 * static_cast<std::uint64_t>(word));
         off += 2 * static_cast<std::uint64_t>(word)) {
        std::uint64_t tag = d.get(off, word);
        std::uint64_t val = d.get(off + static_cast<std::uint64_t>(word), word);
        if (tag == 0) {
            break;
        }
        if (tag == 5 && !strtab) { // DT_STRTAB
            strtab = val;
        } else if (tag == 1 || tag == 14) { // DT_NEEDED, DT_SONAME
            names.emplace_back(tag, val);
        }
    }
    if (!strtab) {
        return std::nullopt;
    }
    std::uint64_t loadoff = 0;
    for (const Phdr& p : h->phdrs) {
        if (p.type == 1 && *strtab >= p.vaddr && *strtab - p.vaddr < p.filesz) {
            loadoff = p.vaddr - p.offset;
            break;
        }
    }
    auto string_at = [&](std::uint64_t value) -> std::optional<std::string> {
        std::uint64_t off = *strtab - loadoff + value;
        if (off >= head_.size()) {
            return std::nullopt;
        }
        std::size_t end = head_.find('\0', static_cast<std::size_t>(off));
        if (end == std::string::npos) {
            return std::nullopt;
        }
        return head_.substr(static_cast<std::size_t>(off), end - static_cast<std::size_t>(off));
    };
    bool have_soname = false;
    for (const auto& [tag, value] : names) {
        std::optional<std::string> name = string_at(value);
        if (!name) {
            return std::nullopt; // the string table is beyond what was kept
        }
        if (tag == 1) {
            if (flag == kFlagElf) {
                if (std::int32_t f = known_flag(*name, false)) {
                    flag = f;
                }
            }
        } else if (!have_soname) {
            info.soname = *name;
            have_soname = true;
        }
    }
    switch (h->machine) {
    case kEmX8664:
        flag = h->is64 ? (kFlagX8664Lib64 | kFlagElfLibc6) : (kFlagX8664Libx32 | kFlagElfLibc6);
        break;
    case kEmAarch64:
        if (h->is64) {
            flag = kFlagAarch64Lib64 | kFlagElfLibc6;
        }
        break;
    case kEmArm:
        flag |= (h->eflags & 0x400) ? kFlagArmLibHf : kFlagArmLibSf;
        break;
    case kEm386:
    default:
        break;
    }
    info.flags = flag;
    return info;
}

int libcmp(std::string_view a, std::string_view b) {
    std::size_t i = 0, j = 0;
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    while (i < a.size()) {
        if (digit(a[i])) {
            if (j < b.size() && digit(b[j])) {
                long long x = 0, y = 0;
                while (i < a.size() && digit(a[i])) {
                    x = x * 10 + (a[i++] - '0');
                }
                while (j < b.size() && digit(b[j])) {
                    y = y * 10 + (b[j++] - '0');
                }
                if (x != y) {
                    return x < y ? -1 : 1;
                }
            } else {
                return 1;
            }
        } else if (j < b.size() && digit(b[j])) {
            return -1;
        } else if (j >= b.size() || a[i] != b[j]) {
            int ca = static_cast<unsigned char>(a[i]);
            int cb = j < b.size() ? static_cast<unsigned char>(b[j]) : 0;
            return ca - cb;
        } else {
            ++i;
            ++j;
        }
    }
    return j < b.size() ? -static_cast<unsigned char>(b[j]) : 0;
}

std::string resolve_in(const ImageView& view, const std::string& path) {
    std::vector<std::string> todo;
    auto push_parts = [&](const std::string& p, std::vector<std::string>& stack) {
        std::vector<std::string_view> parts = ocibake::detail::split_views(p, '/');
        for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
            if (!it->empty() && *it != ".") {
                stack.emplace_back(*it);
            }
        }
    };
    push_parts(path, todo);
    std::vector<std::string> done;
    int hops = 0;
    while (!todo.empty()) {
        std::string part = todo.back();
        todo.pop_back();
        if (part == "..") {
            if (!done.empty()) {
                done.pop_back();
            }
            continue;
        }
        done.push_back(part);
        std::string here;
        for (const std::string& d : done) {
            here += (here.empty() ? "" : "/") + d;
        }
        auto it = view.find(here);
        if (it == view.end()) {
            return {};
        }
        if (it->second.type == ImageNode::Type::symlink) {
            if (++hops > 40) {
                return {};
            }
            done.pop_back();
            const std::string& target = it->second.target;
            if (target.starts_with('/')) {
                done.clear();
            }
            push_parts(target, todo);
        }
    }
    std::string out;
    for (const std::string& d : done) {
        out += (out.empty() ? "" : "/") + d;
    }
    return out;
}

namespace {

std::string content_of(const ImageView& view, const std::string& path) {
    std::string real = resolve_in(view, path);
    auto it = view.find(real);
    if (real.empty() || it == view.end() || it->second.type != ImageNode::Type::file) {
        return {};
    }
    return it->second.content;
}

void parse_conf(const ImageView& view, const std::string& file, std::vector<std::string>& out,
                int depth) {
    if (depth > 16) {
        return;
    }
    std::string text = content_of(view, file);
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        pos = nl == std::string::npos ? text.size() : nl + 1;
        if (std::size_t hash = line.find('#'); hash != std::string::npos) {
            line.erase(hash);
        }
        line = ocibake::detail::trim(line, " \t\r");
        if (line.empty()) {
            continue;
        }
        if (line.starts_with("include") && line.size() > 7 && (line[7] == ' ' || line[7] == '\t')) {
            std::string rest(ocibake::detail::trim(line.substr(8), " \t\r"));
            std::size_t start = 0;
            while (start < rest.size()) {
                std::size_t end = rest.find_first_of(" \t", start);
                std::string pattern =
                    rest.substr(start, end == std::string::npos ? std::string::npos : end - start);
                start = end == std::string::npos ? rest.size() : rest.find_first_not_of(" \t", end);
                if (pattern.empty()) {
                    continue;
                }
                if (!pattern.starts_with('/')) {
                    std::string dir = "/" + file.substr(0, file.rfind('/'));
                    pattern = dir + "/" + pattern;
                }
                // glob(3) with a sorted result: the view's paths in order.
                std::vector<std::string> matches;
                std::string pat = pattern.substr(1);
                std::string dir = pat.substr(0, pat.rfind('/'));
                std::string real_dir = resolve_in(view, dir);
                for (auto it = view.lower_bound(real_dir + "/");
                     it != view.end() && it->first.starts_with(real_dir + "/"); ++it) {
                    std::string name = it->first.substr(real_dir.size() + 1);
                    if (name.find('/') != std::string::npos) {
                        continue;
                    }
                    std::string candidate = dir + "/" + name;
                    if (::fnmatch(pat.c_str(), candidate.c_str(), FNM_PATHNAME | FNM_PERIOD) == 0) {
                        matches.push_back(candidate);
                    }
                }
                std::sort(matches.begin(), matches.end());
                for (const std::string& m : matches) {
                    parse_conf(view, m, out, depth + 1);
                }
            }
            continue;
        }
        if (line.starts_with("hwcap") && line.size() > 5 && (line[5] == ' ' || line[5] == '\t')) {
            continue;
        }
        // "dir" or "dir=type"; several may share a line.
        std::size_t start = 0;
        while (start < line.size()) {
            std::size_t end = line.find_first_of(" \t,:", start);
            std::string dir =
                line.substr(start, end == std::string::npos ? std::string::npos : end - start);
            start = end == std::string::npos ? line.size() : end + 1;
            if (std::size_t eq = dir.find('='); eq != std::string::npos) {
                dir.erase(eq);
            }
            while (dir.size() > 1 && dir.ends_with('/')) {
                dir.pop_back();
            }
            if (!dir.empty()) {
                out.push_back(dir);
            }
        }
    }
}

void put32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        out += static_cast<char>((v >> (8 * i)) & 0xff);
    }
}

void put64(std::string& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
        out += static_cast<char>((v >> (8 * i)) & 0xff);
    }
}

} // namespace

std::vector<std::string> library_dirs(const ImageView& view, const std::string& arch) {
    std::vector<std::string> dirs;
    parse_conf(view, "etc/ld.so.conf", dirs, 0);
    (void)arch; // Debian's ldconfig: slibdir /lib, libdir /usr/lib on every architecture
    dirs.push_back("/lib");
    dirs.push_back("/usr/lib");
    std::vector<std::string> out;
    std::set<std::string> seen; // ldconfig skips a directory it has (same device and inode)
    for (const std::string& d : dirs) {
        std::string real = resolve_in(view, d.substr(1));
        if (real.empty() && d != "/") {
            continue;
        }
        auto it = view.find(real);
        if (it == view.end() || it->second.type != ImageNode::Type::directory) {
            continue;
        }
        if (seen.insert(real).second) {
            out.push_back(d);
        }
    }
    return out;
}

LdCache make_ld_cache(const ImageView& view, const std::string& arch,
                      const std::string& generator) {
    struct Entry {
        std::string key, value;
        std::int32_t flags;
        std::uint32_t osversion;
    };
    struct Dlib {
        std::string name, soname;
        std::int32_t flag;
        bool is_link;
        std::uint32_t osversion;
    };
    LdCache out;
    out.dirs = library_dirs(view, arch);
    std::vector<Entry> entries;
    for (const std::string& dir : out.dirs) {
        std::string real_dir = resolve_in(view, dir.substr(1));
        std::vector<Dlib> dlibs;
        for (auto it = view.lower_bound(real_dir + "/");
             it != view.end() && it->first.starts_with(real_dir + "/"); ++it) {
            std::string name = it->first.substr(real_dir.size() + 1);
            if (name.find('/') != std::string::npos || !is_library_name(name)) {
                continue;
            }
            if (name.ends_with(".#prelink#") || name.find(".#prelink#.") != std::string::npos) {
                continue;
            }
            bool is_link = it->second.type == ImageNode::Type::symlink;
            const ImageNode* node = &it->second;
            if (is_link) {
                std::string target = resolve_in(view, it->first);
                auto t = view.find(target);
                if (target.empty() || t == view.end()) {
                    continue;
                }
                node = &t->second;
            }
            if (node->type != ImageNode::Type::file || !node->elf) {
                continue;
            }
            std::string soname = node->elf->soname.empty() ? name : node->elf->soname;
            if (is_link && name != soname) {
                if (!(name.ends_with(".so") && soname.compare(0, name.size(), name) == 0)) {
                    is_link = false;
                }
            }
            if (is_link) {
                soname = name;
            }
            auto same = std::find_if(dlibs.begin(), dlibs.end(),
                                     [&](const Dlib& d) { return d.soname == soname; });
            if (same != dlibs.end()) {
                if ((!is_link && same->is_link) ||
                    (is_link == same->is_link && libcmp(same->name, name) < 0)) {
                    if (same->flag != node->elf->flags) {
                        if (same->flag == kFlagElf && (node->elf->flags == kFlagElfLibc5 ||
                                                       node->elf->flags == kFlagElfLibc6)) {
                            same->flag = node->elf->flags;
                        } else if ((same->flag == kFlagElfLibc5 || same->flag == kFlagElfLibc6) &&
                                   node->elf->flags == kFlagElf) {
                            same->flag = node->elf->flags;
                        }
                    }
                    same->name = name;
                    same->is_link = is_link;
                    same->osversion = node->elf->osversion;
                }
                continue;
            }
            dlibs.push_back({name, soname, node->elf->flags, is_link, node->elf->osversion});
        }
        for (const Dlib& d : dlibs) {
            if (!d.is_link && d.name != d.soname) {
                // create_links(): the soname link, unless it already leads to this file.
                std::string link = real_dir + "/" + d.soname;
                auto existing = view.find(link);
                bool fine = false;
                if (existing != view.end()) {
                    if (existing->second.type != ImageNode::Type::symlink) {
                        fine = true; // "is not a symbolic link": ldconfig leaves it
                    } else {
                        fine = resolve_in(view, link) == real_dir + "/" + d.name;
                    }
                }
                if (!fine) {
                    out.links[link] = d.name;
                }
            }
            entries.push_back({d.soname, dir + "/" + d.soname, d.flag, d.osversion});
        }
    }
    // ld.so searches the entries by binary search in this order (cache.c: compare()).
    std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        int c = libcmp(a.key, b.key);
        if (c != 0) {
            return c > 0;
        }
        if (a.flags != b.flags) {
            return a.flags > b.flags;
        }
        return a.osversion > b.osversion;
    });
    // The string table: every string once.
    std::string strings;
    std::map<std::string, std::uint32_t> offsets;
    const std::uint32_t header = 48, entry_size = 24;
    const std::uint32_t base = header + entry_size * static_cast<std::uint32_t>(entries.size());
    auto intern = [&](const std::string& s) {
        auto [it, fresh] = offsets.emplace(s, 0);
        if (fresh) {
            it->second = base + static_cast<std::uint32_t>(strings.size());
            strings += s;
            strings += '\0';
        }
        return it->second;
    };
    std::vector<std::pair<std::uint32_t, std::uint32_t>> kv;
    for (const Entry& e : entries) {
        std::uint32_t k = intern(e.key);
        std::uint32_t v = intern(e.value);
        kv.emplace_back(k, v);
    }
    std::uint32_t extension = (base + static_cast<std::uint32_t>(strings.size()) + 3) & ~3u;
    std::string& b = out.bytes;
    b = "glibc-ld.so.cache1.1";
    put32(b, static_cast<std::uint32_t>(entries.size()));
    put32(b, static_cast<std::uint32_t>(strings.size()));
    b += '\x02'; // cache_file_new_flags_endian_little
    b.append(3, '\0');
    put32(b, extension);
    b.append(12, '\0');
    for (std::size_t i = 0; i < entries.size(); ++i) {
        put32(b, static_cast<std::uint32_t>(entries[i].flags));
        put32(b, kv[i].first);
        put32(b, kv[i].second);
        put32(b, entries[i].osversion);
        put64(b, 0);
    }
    b += strings;
    b.append(extension - b.size(), '\0');
    // The extension directory: one section, the generator string.
    put32(b, 0xeaa42174u); // cache_extension_magic, (uint32_t) -358342284
    put32(b, 1);
    put32(b, 0); // cache_extension_tag_generator
    put32(b, 0);
    put32(b, extension + 24);
    put32(b, static_cast<std::uint32_t>(generator.size()));
    b += generator;
    return out;
}

} // namespace ocibake::apt::detail
