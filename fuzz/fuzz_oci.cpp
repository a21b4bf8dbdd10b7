// OCI JSON: image index, manifest, image config (and Docker's equivalents). Besides not
// crashing, what parses must serialise canonically: to_json(parse(to_json(x))) is
// to_json(x) (equal values give equal bytes and equal digests).
#include "ocibake/oci.hpp"
#include "support.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace oci = ocibake::oci;

namespace {

template <typename Parse>
void round_trip(std::string_view text, Parse parse, const char* what) {
    std::string once;
    try {
        once = oci::to_json(parse(text, "fuzz"));
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
        return;
    }
    std::string twice;
    try {
        twice = oci::to_json(parse(once, "fuzz (written back)"));
    } catch (const ocibake::Error& e) {
        std::fprintf(stderr, "%s written back does not parse: %s\n%s\n", what, e.what(),
                     once.c_str());
        std::abort();
    }
    if (once != twice) {
        std::fprintf(stderr, "%s is not canonical:\n%s\n%s\n", what, once.c_str(), twice.c_str());
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ocibake::fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    round_trip(text, oci::parse_index, "index");
    round_trip(text, oci::parse_manifest, "manifest");
    round_trip(text, oci::parse_image_config, "config");
    try {
        (void)oci::document_media_type(text, "fuzz");
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
    }
    return 0;
}
