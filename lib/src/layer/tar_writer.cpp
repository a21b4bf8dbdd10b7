#include "layer/tar_writer.hpp"

#include "layer/changeset.hpp"

#include <optional>

#include "common/fs.hpp"
#include "common/names.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace ocibake::detail {

namespace {

constexpr std::size_t kBlock = 512;
constexpr std::uint64_t kMaxOctal7 = 07777777;         // uid, gid, mode fields
constexpr std::uint64_t kMaxOctal11 = 077777777777ull; // size, mtime fields

using Header = std::array<char, kBlock>;

void put_string(Header& h, std::size_t offset, std::size_t width, std::string_view value) {
    std::copy_n(value.data(), std::min(width, value.size()), h.data() + offset);
}

// Zero-padded octal with a trailing NUL, filling the field.
void put_octal(Header& h, std::size_t offset, std::size_t width, std::uint64_t value) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%0*llo", static_cast<int>(width - 1),
                  static_cast<unsigned long long>(value));
    std::copy_n(buf, width - 1, h.data() + offset);
    h[offset + width - 1] = '\0';
}

void put_checksum(Header& h) {
    std::fill_n(h.data() + 148, 8, ' ');
    unsigned sum = 0;
    for (char c : h) {
        sum += static_cast<unsigned char>(c);
    }
    char buf[8];
    std::snprintf(buf, sizeof buf, "%06o", sum);
    std::copy_n(buf, 6, h.data() + 148);
    h[154] = '\0';
    h[155] = ' ';
}

constexpr detail::Named<EntryType, char> type_flags[] = {
    {EntryType::file, '0'},        {EntryType::hardlink, '1'},     {EntryType::symlink, '2'},
    {EntryType::char_device, '3'}, {EntryType::block_device, '4'}, {EntryType::directory, '5'},
    {EntryType::fifo, '6'},        {EntryType::whiteout, '0'}, // an empty regular file named
                                                               // .wh.NAME
};

char type_flag(EntryType type) {
    return detail::name_of(type_flags, type, '0');
}

// Splits `name` into ustar prefix (<= 155) and name (<= 100) at a '/', if possible.
bool split_ustar(std::string_view name, std::string_view& prefix, std::string_view& rest) {
    if (name.size() <= 100) {
        prefix = {};
        rest = name;
        return true;
    }
    if (name.size() > 256) {
        return false;
    }
    // The last '/' that leaves at most 100 bytes after it and at most 155 before it.
    for (std::size_t i = name.size() - 1; i > 0; --i) {
        if (name[i] != '/') {
            continue;
        }
        if (name.size() - i - 1 > 100) {
            break;
        }
        if (i <= 155 && name.size() - i - 1 > 0) {
            prefix = name.substr(0, i);
            rest = name.substr(i + 1);
            return true;
        }
    }
    return false;
}

void add_record(std::string& out, std::string_view key, std::string_view value) {
    // "<len> <key>=<value>\n" where len counts the whole record, its own digits included.
    std::size_t body = 1 + key.size() + 1 + value.size() + 1;
    std::size_t len = body + 1;
    while (std::to_string(len).size() + body != len) {
        len = std::to_string(len).size() + body;
    }
    out += std::to_string(len);
    out += ' ';
    out += key;
    out += '=';
    out += value;
    out += '\n';
}

} // namespace

void TarWriter::add_header(const LayerEntry& e) {
    if (whiteout_component(e.path)) {
        // The last line of defence: producers refuse such names with their own context.
        std::string where = e.origin.empty() ? std::string() : e.origin + ": ";
        throw Error(ErrorKind::input, where + whiteout_refusal(e.path));
    }
    if (e.type != EntryType::whiteout) {
        write_header(e);
        return;
    }
    LayerEntry w;
    std::size_t slash = e.path.rfind('/');
    w.path = slash == std::string::npos
                 ? ".wh." + e.path
                 : e.path.substr(0, slash + 1) + ".wh." + e.path.substr(slash + 1);
    w.type = EntryType::file;
    w.mode = 0;
    write_header(w);
}

void TarWriter::write_header(const LayerEntry& e) {
    std::string name = e.path;
    if (e.type == EntryType::directory) {
        name += '/';
    }
    std::uint64_t size = e.type == EntryType::file ? e.size : 0;
    std::string_view link;
    if (e.type == EntryType::symlink || e.type == EntryType::hardlink) {
        link = e.link_target;
    }

    std::vector<std::pair<std::string, std::string>> pax;
    std::string_view prefix, rest;
    if (!split_ustar(name, prefix, rest)) {
        pax.emplace_back("path", name);
        prefix = {};
        rest = std::string_view(name).substr(0, 100);
    }
    if (link.size() > 100) {
        pax.emplace_back("linkpath", std::string(link));
    }
    if (size > kMaxOctal11) {
        pax.emplace_back("size", std::to_string(size));
    }
    if (e.uid > kMaxOctal7) {
        pax.emplace_back("uid", std::to_string(e.uid));
    }
    if (e.gid > kMaxOctal7) {
        pax.emplace_back("gid", std::to_string(e.gid));
    }
    if (mtime_ < 0 || static_cast<std::uint64_t>(mtime_) > kMaxOctal11) {
        pax.emplace_back("mtime", std::to_string(mtime_));
    }
    for (const auto& [k, v] : e.xattrs) {
        pax.emplace_back("SCHILY.xattr." + k, v);
    }

    if (!pax.empty()) {
        std::sort(pax.begin(), pax.end());
        std::string records;
        for (const auto& [k, v] : pax) {
            add_record(records, k, v);
        }
        std::string base = e.path.substr(e.path.rfind('/') + 1);
        std::string pax_name = "PaxHeaders/" + base.substr(0, 100 - 11);
        Header h{};
        put_string(h, 0, 100, pax_name);
        put_octal(h, 100, 8, 0644);
        put_octal(h, 108, 8, 0);
        put_octal(h, 116, 8, 0);
        put_octal(h, 124, 12, records.size());
        put_octal(h, 136, 12,
                  mtime_ >= 0 && static_cast<std::uint64_t>(mtime_) <= kMaxOctal11 ? mtime_ : 0);
        h[156] = 'x';
        put_string(h, 257, 6, std::string_view("ustar\0", 6));
        put_string(h, 263, 2, "00");
        put_checksum(h);
        out_.append(h.data(), h.size());
        out_.append(records.data(), records.size());
        pad(records.size());
    }

    Header h{};
    put_string(h, 0, 100, rest);
    put_octal(h, 100, 8, e.mode & 07777);
    put_octal(h, 108, 8, std::min<std::uint64_t>(e.uid, kMaxOctal7));
    put_octal(h, 116, 8, std::min<std::uint64_t>(e.gid, kMaxOctal7));
    put_octal(h, 124, 12, size > kMaxOctal11 ? 0 : size);
    put_octal(h, 136, 12,
              mtime_ >= 0 && static_cast<std::uint64_t>(mtime_) <= kMaxOctal11 ? mtime_ : 0);
    h[156] = type_flag(e.type);
    put_string(h, 157, 100, link.substr(0, 100));
    put_string(h, 257, 6, std::string_view("ustar\0", 6));
    put_string(h, 263, 2, "00");
    if (e.type == EntryType::char_device || e.type == EntryType::block_device) {
        put_octal(h, 329, 8, e.dev_major);
        put_octal(h, 337, 8, e.dev_minor);
    }
    put_string(h, 345, 155, prefix);
    put_checksum(h);
    out_.append(h.data(), h.size());
}

void TarWriter::pad(std::uint64_t size) {
    std::size_t rem = static_cast<std::size_t>(size % kBlock);
    if (rem != 0) {
        out_.append_zeros(kBlock - rem);
    }
}

void TarWriter::add(const LayerEntry& e) {
    add_header(e);
    if (e.type != EntryType::file) {
        return;
    }
    if (e.source.empty()) {
        out_.append(e.content.data(), e.content.size());
    } else {
        copy_file(e);
    }
    pad(e.size);
}

void TarWriter::copy_file(const LayerEntry& e) {
    auto changed = [&](const std::string& why) {
        std::string where = e.origin.empty() ? std::string() : e.origin + ": ";
        return Error(ErrorKind::input,
                     where + e.source + " " + why + " while the layer was written; build again");
    };
    int fd = ::open(e.source.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
    if (fd < 0 && errno == EPERM) {
        fd = ::open(e.source.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
        std::string where = e.origin.empty() ? std::string() : e.origin + ": ";
        throw_errno(ErrorKind::input, where + "cannot read " + e.source, errno);
    }
    UniqueFd guard(fd);
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        throw changed("was replaced");
    }
    if (static_cast<std::uint64_t>(st.st_size) != e.size) {
        throw changed("changed size (" + std::to_string(e.size) + " -> " +
                      std::to_string(st.st_size) + " bytes)");
    }
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    std::optional<Sha256> hash;
    if (e.digest) {
        hash.emplace();
    }
    std::uint64_t left = e.size;
    while (left > 0) {
        std::size_t avail = 0;
        char* dst = out_.writable(avail);
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(avail, left));
        std::size_t n = read_some(fd, dst, want, e.source, ErrorKind::input);
        if (n == 0) {
            throw changed("shrank");
        }
        if (hash) {
            hash->update(dst, n);
        }
        out_.commit(n);
        left -= n;
    }
    char probe;
    if (read_some(fd, &probe, 1, e.source, ErrorKind::input) != 0) {
        throw changed("grew");
    }
    if (hash) {
        Digest got = hash->finish();
        if (got != e.digest) {
            std::string where = e.origin.empty() ? std::string() : e.origin + ": ";
            throw Error(ErrorKind::integrity, where + e.source + " has sha256 " + got.hex() +
                                                  ", not " + e.digest.hex() +
                                                  " (it changed after it was verified)");
        }
    }
}

void TarWriter::finish() {
    out_.append_zeros(2 * kBlock);
}

} // namespace ocibake::detail
