// A simple index's project page: PEP 691 JSON and PEP 503 HTML (links resolved against
// the page's URL).
#include "ocibake/python.hpp"
#include "support.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ocibake::fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view body(reinterpret_cast<const char*>(data), size);
    constexpr std::string_view page = "https://pypi.example/simple/demo/";
    try {
        (void)ocibake::python::parse_simple_json(body, page);
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
    }
    try {
        (void)ocibake::python::parse_simple_html(body, page);
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
    }
    return 0;
}
