// deb822 as apt sources serve it: a Release file, a Packages index (added to an Index and
// resolved, as `lock` does), a dpkg status file; relationship fields and versions.
#include "ocibake/apt.hpp"
#include "support.hpp"

#include <cstdint>

namespace apt = ocibake::apt;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ocibake::fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        for (const apt::Paragraph& p : apt::parse_paragraphs(text, "fuzz")) {
            for (const char* field : {"Depends", "Pre-Depends", "Provides", "Breaks"}) {
                if (auto value = p.find(field)) {
                    try {
                        (void)apt::parse_relations(*value, "fuzz");
                    } catch (const ocibake::Error& e) {
                        ocibake::fuzz::expected(e);
                    }
                }
            }
            if (auto version = p.find("Version")) {
                (void)apt::version_problem(*version);
                (void)apt::compare_versions(*version, "1:2.3-4");
            }
        }
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
    }
    try {
        (void)apt::parse_release(text, "fuzz Release");
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
    }
    std::vector<apt::InstalledPackage> installed;
    try {
        installed = apt::parse_status(text, "fuzz status");
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
    }
    try {
        apt::Index index;
        index.native_arch = "amd64";
        index.architectures = {"amd64"};
        index.add_packages(text, "fuzz Packages", "https://deb.example/debian/", 500, 0,
                           {"amd64", "all"});
        std::vector<std::string> names = index.names();
        // Resolve a few of the packages it offers, against the status file's.
        for (std::size_t i = 0; i < names.size() && i < 3; ++i) {
            try {
                auto request = apt::parse_request(names[i]);
                if (request) {
                    (void)apt::resolve(index, {*request}, {}, installed);
                }
            } catch (const ocibake::Error& e) {
                ocibake::fuzz::expected(e);
            }
        }
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
    }
    return 0;
}
