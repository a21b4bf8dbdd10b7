// What an image holds: its Python interpreters and its glibc, read from layers.
#include "common/archive.hpp"
#include "common/fs.hpp"
#include "common/number.hpp"
#include "layer/reader.hpp"
#include "ocibake/python.hpp"

#include "common/libarchive.hpp"
#include <archive.h>
#include <archive_entry.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <memory>

namespace ocibake::python {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

/// "usr/bin/python3.11" -> "3.11"; "" when the path is not an interpreter.
std::string python_of(std::string_view path) {
    for (std::string_view dir : {"usr/bin/python", "usr/local/bin/python"}) {
        if (!path.starts_with(dir)) {
            continue;
        }
        std::string_view v = path.substr(dir.size());
        std::size_t dot = v.find('.');
        if (dot == std::string_view::npos || v.substr(0, dot) != "3" || dot + 1 >= v.size() ||
            v.substr(dot + 1).find_first_not_of("0123456789") != std::string_view::npos) {
            return {};
        }
        return std::string(v);
    }
    return {};
}

bool libc_path(std::string_view path) {
    if (!path.ends_with("/libc.so.6") &&
        !(path.find("/libc-2.") != std::string_view::npos && path.ends_with(".so"))) {
        return false;
    }
    return path.starts_with("lib") || path.starts_with("usr/lib");
}

/// "libc-2.31.so" -> 2.31
std::optional<Glibc> glibc_from_name(std::string_view name) {
    std::size_t at = name.rfind("libc-2.");
    if (at == std::string_view::npos || !name.ends_with(".so")) {
        return std::nullopt;
    }
    std::string_view minor = name.substr(at + 7, name.size() - at - 7 - 3);
    std::optional<int> number = ocibake::detail::parse_decimal<int>(minor);
    if (!number || minor.find_first_not_of("0123456789") != std::string_view::npos) {
        return std::nullopt; // (std::stoi threw past int: a base layer's file name)
    }
    return Glibc{2, *number};
}

/// The highest GLIBC_2.N symbol version in libc's bytes, fed in pieces.
class GlibcScanner {
public:
    void feed(const char* data, std::size_t size) {
        tail_.append(data, size);
        std::size_t pos = 0;
        while ((pos = tail_.find("GLIBC_2.", pos)) != std::string::npos) {
            std::size_t end = pos + 8;
            while (end < tail_.size() && tail_[end] >= '0' && tail_[end] <= '9') {
                ++end;
            }
            if (end == tail_.size()) {
                break; // maybe cut: look again with the next piece
            }
            if (end > pos + 8 && end - pos - 8 < 4) {
                best_ = std::max(best_, std::stoi(tail_.substr(pos + 8, end - pos - 8)));
            }
            pos = end;
        }
        if (tail_.size() > 16) {
            tail_.erase(0, tail_.size() - 16);
        }
    }
    std::optional<Glibc> result() const {
        return best_ > 0 ? std::optional<Glibc>(Glibc{2, best_}) : std::nullopt;
    }

private:
    std::string tail_;
    int best_ = 0;
};

void note_path(ImageFacts& facts, std::string path, bool directory) {
    while (path.starts_with("./") || path.starts_with("/")) {
        path.erase(0, path.starts_with("./") ? 2 : 1);
    }
    if (directory &&
        (path == "usr/lib/python3/dist-packages" || path == "usr/lib/python3/dist-packages/")) {
        facts.dist_packages = true;
    }
    std::string name = fs::path(path).filename().string();
    if (name.starts_with(".wh.")) {
        std::string gone = (fs::path(path).parent_path() / name.substr(4)).generic_string();
        if (std::string v = python_of(gone); !v.empty()) {
            facts.whiteouts.insert(v);
        }
        return;
    }
    if (std::string v = python_of(path); !v.empty()) {
        facts.pythons[v] = "/" + path;
        facts.whiteouts.erase(v);
    }
}

json to_json(const ImageFacts& f) {
    json j = {
        {"pythons", f.pythons}, {"dist_packages", f.dist_packages}, {"whiteouts", f.whiteouts}};
    if (f.glibc) {
        j["glibc"] = std::to_string(f.glibc->major) + "." + std::to_string(f.glibc->minor);
    }
    return j;
}

ImageFacts from_json(const json& j) {
    ImageFacts f;
    f.pythons = j.at("pythons").get<std::map<std::string, std::string>>();
    f.dist_packages = j.at("dist_packages").get<bool>();
    f.whiteouts = j.at("whiteouts").get<std::set<std::string>>();
    if (j.contains("glibc")) {
        std::string g = j["glibc"].get<std::string>();
        f.glibc = Glibc{2, std::stoi(g.substr(2))};
    }
    return f;
}

} // namespace

void ImageFacts::merge(const ImageFacts& later) {
    for (const auto& v : later.whiteouts) {
        pythons.erase(v);
    }
    for (const auto& [v, path] : later.pythons) {
        pythons[v] = path;
    }
    if (later.glibc) {
        glibc = later.glibc;
    }
    dist_packages = dist_packages || later.dist_packages;
}

ImageFacts scan_layer(Store& store, const LayerResult& layer) {
    const Digest& blob = layer.descriptor.digest;
    if (auto cached = store.get_record("python-scan", blob.hex())) {
        try {
            return from_json(json::parse(*cached));
        } catch (const std::exception&) {
            // a damaged record: scan again
        }
    }
    ImageFacts facts;
    std::vector<char> buffer(1 << 16);
    const std::string label = "layer " + blob.str();
    ocibake::detail::read_layer(store, layer, label, [&](archive* a, archive_entry* e) {
        std::string name =
            libarchive().archive_entry_pathname(e) ? libarchive().archive_entry_pathname(e) : "";
        auto type = libarchive().archive_entry_filetype(e);
        note_path(facts, name, type == AE_IFDIR);
        while (name.starts_with("./") || name.starts_with("/")) {
            name.erase(0, name.starts_with("./") ? 2 : 1);
        }
        if (!libc_path(name)) {
            return;
        }
        if (auto g = glibc_from_name(name)) {
            facts.glibc = g;
        } else if (type == AE_IFLNK && libarchive().archive_entry_symlink(e)) {
            if (auto t = glibc_from_name(libarchive().archive_entry_symlink(e))) {
                facts.glibc = t;
            }
        } else if (type == AE_IFREG) {
            GlibcScanner scan;
            la_ssize_t n = 0;
            while ((n = libarchive().archive_read_data(a, buffer.data(), buffer.size())) > 0) {
                scan.feed(buffer.data(), static_cast<std::size_t>(n));
            }
            ocibake::detail::check_archive(a, n < 0 ? static_cast<int>(n) : ARCHIVE_OK,
                                           label + " cannot be read");
            if (auto g = scan.result()) {
                facts.glibc = g;
            }
        }
    });
    store.put_record("python-scan", blob.hex(), to_json(facts).dump());
    return facts;
}

ImageFacts scan_entries(const std::vector<LayerEntry>& entries) {
    ImageFacts facts;
    for (const LayerEntry& e : entries) {
        note_path(facts, e.path, e.type == EntryType::directory);
        if (!libc_path(e.path)) {
            continue;
        }
        if (auto g = glibc_from_name(e.path)) {
            facts.glibc = g;
        } else if (e.type == EntryType::symlink) {
            if (auto t = glibc_from_name(e.link_target)) {
                facts.glibc = t;
            }
        } else if (e.type == EntryType::file) {
            GlibcScanner scan;
            if (e.source.empty()) {
                scan.feed(e.content.data(), e.content.size());
            } else {
                detail::UniqueFd fd = detail::open_file(e.source, O_RDONLY, ErrorKind::input);
                std::vector<char> buffer(1 << 16);
                while (std::size_t n = detail::read_some(fd.get(), buffer.data(), buffer.size(),
                                                         e.source, ErrorKind::input)) {
                    scan.feed(buffer.data(), n);
                }
            }
            if (auto g = scan.result()) {
                facts.glibc = g;
            }
        }
    }
    return facts;
}

} // namespace ocibake::python
