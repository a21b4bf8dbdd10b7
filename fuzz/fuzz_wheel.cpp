// A wheel described as text, zipped here with a RECORD that matches, so that mutations
// reach what lies behind the hashes: RECORD's CSV, WHEEL, METADATA, entry_points.txt,
// scripts, .data directories, member names. The input:
//
//     demo-1.0-py3-none-any.whl          the wheel's file name (first line)
//     === demo/__init__.py               a member (==x: executable; a name ending in /: a
//     print("hi")                        directory), its content up to the next marker
//     === RECORD+                        text appended to the generated RECORD
//
// A member named *.dist-info/RECORD replaces the generated RECORD.
#include "ocibake/digest.hpp"
#include "ocibake/python.hpp"
#include "support.hpp"
#include "wheel_install.hpp"

#include <zlib.h>

#include <cstdint>

namespace {

struct Member {
    std::string name;
    std::string content;
    bool exec = false;
};

/// A CSV field as Python's csv module writes it.
std::string csv(const std::string& field) {
    if (field.find_first_of(",\"") == std::string::npos) {
        return field;
    }
    std::string out = "\"";
    for (char c : field) {
        out += c == '"' ? "\"\"" : std::string(1, c);
    }
    return out + "\"";
}

void put16(std::string& out, unsigned v) {
    out += static_cast<char>(v & 0xff);
    out += static_cast<char>((v >> 8) & 0xff);
}

void put32(std::string& out, std::uint32_t v) {
    put16(out, v & 0xffff);
    put16(out, v >> 16);
}

/// A zip of stored members with Unix modes in the central directory. Written here, byte
/// by byte, so that any name (any bytes) reaches the reader.
std::string zip(const std::vector<Member>& members) {
    std::string out, central;
    for (const Member& m : members) {
        bool dir = m.name.ends_with('/');
        const std::string& data = dir ? std::string() : m.content;
        auto crc = static_cast<std::uint32_t>(
            crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
        // No UTF-8 flag: libarchive hands the name's bytes over as they are (with the flag
        // it converts them, and a name that is not UTF-8 comes out empty).
        unsigned flags = 0;
        auto offset = static_cast<std::uint32_t>(out.size());
        auto fields = [&](std::string& to) { // from "version needed" to "extra length"
            put16(to, 20);
            put16(to, flags);
            put16(to, 0);      // stored
            put16(to, 0);      // 00:00:00
            put16(to, 0x0021); // 1980-01-01
            put32(to, crc);
            put32(to, static_cast<std::uint32_t>(data.size()));
            put32(to, static_cast<std::uint32_t>(data.size()));
            put16(to, static_cast<unsigned>(m.name.size()));
            put16(to, 0);
        };
        put32(out, 0x04034b50);
        fields(out);
        out += m.name;
        out += data;
        put32(central, 0x02014b50);
        put16(central, (3 << 8) | 20); // made by: Unix
        fields(central);
        put16(central, 0); // comment
        put16(central, 0); // disk
        put16(central, 0); // internal attributes
        put32(central, (dir ? 040755u : m.exec ? 0100755u : 0100644u) << 16);
        put32(central, offset);
        central += m.name;
    }
    auto at = static_cast<std::uint32_t>(out.size());
    out += central;
    put32(out, 0x06054b50);
    put16(out, 0);
    put16(out, 0);
    put16(out, static_cast<unsigned>(members.size()));
    put16(out, static_cast<unsigned>(members.size()));
    put32(out, static_cast<std::uint32_t>(central.size()));
    put32(out, at);
    put16(out, 0);
    return out;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ocibake::fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::size_t eol = text.find('\n');
    std::string filename(text.substr(0, eol));
    if (filename.empty() || filename.find('/') != std::string::npos ||
        filename.find('\0') != std::string::npos) {
        return 0; // a file name the download would never have
    }
    std::vector<Member> members;
    std::string record_extra;
    std::string dist_info;
    bool own_record = false;
    for (const auto& s : ocibake::fuzz::split_sections(text, "==")) {
        if (s.header.empty() || (s.header[0] != '=' && s.header[0] != 'x')) {
            continue;
        }
        std::string name = s.header.substr(1);
        while (!name.empty() && name.front() == ' ') {
            name.erase(0, 1);
        }
        if (name == "RECORD+") {
            record_extra += s.body;
            continue;
        }
        if (std::size_t slash = name.find('/');
            slash != std::string::npos && name.substr(0, slash).ends_with(".dist-info")) {
            dist_info = name.substr(0, slash);
            own_record = own_record || name.substr(slash) == "/RECORD";
        }
        members.push_back({name, s.body, s.header[0] == 'x'});
    }
    if (!own_record && !dist_info.empty()) {
        std::string record;
        for (const Member& m : members) {
            if (m.name.ends_with('/')) {
                continue;
            }
            record += csv(m.name) +
                      ",sha256=" + ocibake::python::record_hash(ocibake::sha256_of(m.content)) +
                      "," + std::to_string(m.content.size()) + "\n";
        }
        record += dist_info + "/RECORD,,\n" + record_extra;
        members.push_back({dist_info + "/RECORD", record, false});
    }
    ocibake::fuzz::install_wheel(zip(members), filename, (size & 1) != 0);
    return 0;
}
