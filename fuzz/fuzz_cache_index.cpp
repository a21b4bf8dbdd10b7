// The remote cache's documents (lib/src/bake/remote_cache.cpp), as a registry serves them:
// the artifact manifest, the index and the records blob. Besides not crashing, what
// parses must write back to text that parses to the same thing.
#include "bake/image_key.hpp"
#include "ocibake/remote_cache.hpp"
#include "support.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace rc = ocibake::remote_cache;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ocibake::fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        rc::Artifact a = rc::parse_artifact(text, "fuzz");
        std::string once = rc::to_json(a);
        if (rc::to_json(rc::parse_artifact(once, "fuzz (written back)")) != once) {
            std::fprintf(stderr, "artifact is not canonical:\n%s\n", once.c_str());
            std::abort();
        }
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
    }
    try {
        rc::Index index = rc::parse_index(text, "fuzz");
        std::string once = rc::to_json(index);
        if (rc::to_json(rc::parse_index(once, "fuzz (written back)")) != once) {
            std::fprintf(stderr, "index is not canonical:\n%s\n", once.c_str());
            std::abort();
        }
        for (const auto& [key, record] : index.records["layer-blob"]) {
            try {
                (void)rc::parse_layer_record(record, key);
            } catch (const ocibake::Error& e) {
                ocibake::fuzz::expected(e);
            }
        }
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
    }
    try {
        // The records blob as a registry serves it: gzip.
        rc::Records records = rc::parse_records_blob(text, "fuzz");
        std::string once = rc::records_blob(records);
        if (rc::records_blob(rc::parse_records_blob(once, "fuzz (written back)")) != once) {
            std::fprintf(stderr, "records blob is not canonical\n");
            std::abort();
        }
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
    }
    try {
        // An image key's record, as the index carries it.
        ocibake::detail::ImageRecord r = ocibake::detail::parse_image_record(text, "fuzz");
        std::string once = ocibake::detail::to_json(r);
        if (ocibake::detail::to_json(ocibake::detail::parse_image_record(once, "fuzz (back)")) !=
            once) {
            std::fprintf(stderr, "image record is not canonical:\n%s\n", once.c_str());
            std::abort();
        }
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
    }
    try {
        rc::Records records = rc::parse_records(text, "fuzz");
        std::string once = rc::records_to_json(records);
        if (rc::records_to_json(rc::parse_records(once, "fuzz (written back)")) != once) {
            std::fprintf(stderr, "records are not canonical:\n%s\n", once.c_str());
            std::abort();
        }
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
    }
    return 0;
}
