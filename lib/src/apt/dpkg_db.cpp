#include "apt/dpkg_db.hpp"

#include "apt/internal.hpp"

namespace ocibake::apt::detail {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        pos = nl == std::string::npos ? text.size() : nl + 1;
        if (!line.empty()) {
            out.push_back(std::move(line));
        }
    }
    return out;
}

std::string field_text(const std::string& key, const std::string& value) {
    if (value.starts_with('\n')) {
        return key + ":" + value + "\n";
    }
    return key + ": " + value + "\n";
}

std::string stanza_text(const std::string& name,
                        const std::vector<std::pair<std::string, std::string>>& fields,
                        const std::map<std::string, std::string>& conffile_md5s) {
    std::string out = "Package: " + name + "\nStatus: install ok installed\n";
    std::string conffiles;
    for (const auto& [path, md5] : conffile_md5s) {
        conffiles += "\n " + path + " " + md5;
    }
    bool placed = conffiles.empty();
    for (const auto& [k, v] : fields) {
        if (k == "Package" || k == "Status" || k == "Conffiles") {
            continue;
        }
        if (k == "Description" && !placed) {
            out += "Conffiles:" + conffiles + "\n";
            placed = true;
        }
        out += field_text(k, v);
    }
    if (!placed) {
        out += "Conffiles:" + conffiles + "\n";
    }
    return out;
}

std::map<std::string, std::string> stanzas_of(const std::string& status) {
    std::map<std::string, std::string> out;
    std::string current;
    auto flush = [&] {
        if (current.empty()) {
            return;
        }
        std::string name, arch, multi_arch;
        for_each_paragraph(current, "status", [&](const RawParagraph& p) {
            name = std::string(p.get("Package"));
            arch = std::string(p.get("Architecture"));
            multi_arch = std::string(p.get("Multi-Arch"));
        });
        if (!name.empty()) {
            out[multi_arch == "same" ? name + ":" + arch : name] = current;
        }
        current.clear();
    };
    std::size_t pos = 0;
    while (pos < status.size()) {
        std::size_t nl = status.find('\n', pos);
        std::string line =
            status.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        pos = nl == std::string::npos ? status.size() : nl + 1;
        if (line.find_first_not_of(" \t\r") == std::string::npos) {
            flush();
        } else {
            current += line + "\n";
        }
    }
    flush();
    return out;
}

std::map<std::string, Diversion> diversions_of(const std::string& text) {
    std::map<std::string, Diversion> out;
    std::vector<std::string> lines;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        lines.push_back(text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
        pos = nl == std::string::npos ? text.size() : nl + 1;
    }
    for (std::size_t i = 0; i + 2 < lines.size(); i += 3) {
        out[lines[i]] = {lines[i + 1], lines[i + 2]};
    }
    return out;
}

} // namespace ocibake::apt::detail
