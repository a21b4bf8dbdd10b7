#include "support.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <memory>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace ocibake::fuzz {

namespace {

fs::path make_scratch() {
    fs::path base;
    if (const char* dir = std::getenv("OCIBAKE_FUZZ_TMP"); dir && *dir) {
        base = dir;
    } else if (::access("/dev/shm", W_OK) == 0) {
        base = "/dev/shm";
    } else {
        base = fs::temp_directory_path();
    }
    std::string pattern = (base / "ocibake-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        std::perror(("mkdtemp " + pattern).c_str());
        std::abort();
    }
    return pattern;
}

void wipe_at(int parent, const char* name) {
    struct stat st;
    if (::fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        ::unlinkat(parent, name, 0);
        return;
    }
    ::fchmodat(parent, name, 0700, 0);
    int fd = ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        std::vector<std::string> children;
        if (DIR* listing = ::fdopendir(::dup(fd))) {
            while (dirent* d = ::readdir(listing)) {
                if (std::strcmp(d->d_name, ".") != 0 && std::strcmp(d->d_name, "..") != 0) {
                    children.emplace_back(d->d_name);
                }
            }
            ::closedir(listing);
        }
        for (const std::string& child : children) {
            wipe_at(fd, child.c_str());
        }
        ::close(fd);
    }
    ::unlinkat(parent, name, AT_REMOVEDIR);
}

/// Drops CAP_MKNOD from the effective and permitted sets (when running as root).
void drop_mknod() {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &header, data) != 0) {
        return;
    }
    data[0].effective &= ~(1u << CAP_MKNOD);
    data[0].permitted &= ~(1u << CAP_MKNOD);
    data[0].inheritable &= ~(1u << CAP_MKNOD);
    ::syscall(SYS_capset, &header, data);
}

std::uint64_t parse_tar_number(const char* field, std::size_t size, bool& ok) {
    ok = true;
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(field[i]); };
    if (byte(0) & 0x80) { // base-256 (GNU): big-endian, the first byte's top bit set
        std::uint64_t v = byte(0) & 0x3f;
        for (std::size_t i = 1; i < size; ++i) {
            if (v >> 55) {
                ok = false;
                return 0;
            }
            v = (v << 8) | byte(i);
        }
        return v;
    }
    std::size_t i = 0;
    while (i < size && (field[i] == ' ' || field[i] == '\0')) {
        ++i;
    }
    std::uint64_t v = 0;
    for (; i < size && field[i] >= '0' && field[i] <= '7'; ++i) {
        v = (v << 3) | static_cast<std::uint64_t>(field[i] - '0');
    }
    return v;
}

} // namespace

void expected(const std::exception& e) {
    static const bool verbose = std::getenv("OCIBAKE_FUZZ_VERBOSE") != nullptr;
    if (verbose) {
        std::fprintf(stderr, "refused: %s\n", e.what());
    }
}

void init() {
    int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0) {
        ::dup2(null, 0);
        ::close(null);
    }
    drop_mknod();
    ::umask(022);
    fs::path empty = scratch() / "empty-path";
    fs::create_directories(empty);
    ::setenv("PATH", empty.c_str(), 1);
}

const fs::path& scratch() {
    static const fs::path dir = [] {
        fs::path d = make_scratch();
        std::atexit([] { wipe(scratch()); });
        return d;
    }();
    return dir;
}

fs::path fresh_dir(std::string_view name) {
    fs::path dir = scratch() / name;
    wipe(dir);
    fs::create_directories(dir);
    return dir;
}

void wipe(const fs::path& dir) {
    wipe_at(AT_FDCWD, dir.c_str());
}

Store& store() {
    static Store s(scratch() / "store");
    return s;
}

TempBlob::TempBlob(std::string_view bytes) : digest_(store().put_bytes(bytes)) {}

TempBlob::~TempBlob() {
    std::error_code ec;
    fs::remove(store().blob_path(digest_), ec);
}

fs::path write_scratch_file(std::string_view name, std::string_view bytes) {
    fs::path file = scratch() / name;
    ::unlink(file.c_str());
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        std::perror(file.c_str());
        std::abort();
    }
    std::size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n <= 0) {
            std::perror(file.c_str());
            std::abort();
        }
        done += static_cast<std::size_t>(n);
    }
    ::close(fd);
    return file;
}

void fix_tar_checksums(std::string& tar, std::size_t begin, std::size_t end) {
    end = std::min(end, tar.size());
    std::size_t at = begin;
    while (at + 512 <= end) {
        char* h = tar.data() + at;
        bool zero = true;
        for (std::size_t i = 0; i < 512 && zero; ++i) {
            zero = h[i] == '\0';
        }
        if (zero) {
            at += 512;
            continue;
        }
        unsigned sum = 0;
        for (std::size_t i = 0; i < 512; ++i) {
            sum += i >= 148 && i < 156 ? ' ' : static_cast<unsigned char>(h[i]);
        }
        char field[9];
        std::snprintf(field, sizeof field, "%06o", sum & 0777777);
        std::memcpy(h + 148, field, 6);
        h[154] = '\0';
        h[155] = ' ';
        bool ok = false;
        std::uint64_t size = parse_tar_number(h + 124, 12, ok);
        if (!ok || size > end - at) {
            return;
        }
        at += 512 + ((size + 511) / 512) * 512;
    }
}

void fix_deb_checksums(std::string& deb) {
    constexpr std::string_view magic = "!<arch>\n";
    if (deb.compare(0, magic.size(), magic) != 0) {
        return;
    }
    std::size_t at = magic.size();
    while (at + 60 <= deb.size()) {
        std::string name = deb.substr(at, 16);
        while (!name.empty() && (name.back() == ' ' || name.back() == '/')) {
            name.pop_back();
        }
        std::uint64_t size = 0;
        for (std::size_t i = 48; i < 58 && deb[at + i] >= '0' && deb[at + i] <= '9'; ++i) {
            size = size * 10 + static_cast<std::uint64_t>(deb[at + i] - '0');
        }
        std::size_t data = at + 60;
        if (size > deb.size() - data) {
            size = deb.size() - data;
        }
        if (name == "control.tar" || name == "data.tar") {
            fix_tar_checksums(deb, data, data + size);
        }
        at = data + size + (size & 1);
    }
}

std::vector<Section> split_sections(std::string_view data, std::string_view marker) {
    std::vector<Section> out;
    std::size_t at = 0;
    while (at < data.size()) {
        std::size_t eol = data.find('\n', at);
        std::string_view line =
            data.substr(at, eol == std::string_view::npos ? std::string_view::npos : eol - at);
        if (line.starts_with(marker)) {
            out.push_back({std::string(line.substr(marker.size())), {}});
        } else if (!out.empty()) {
            out.back().body.append(line);
            if (eol != std::string_view::npos) {
                out.back().body += '\n';
            }
        }
        if (eol == std::string_view::npos) {
            break;
        }
        at = eol + 1;
    }
    return out;
}

} // namespace ocibake::fuzz
