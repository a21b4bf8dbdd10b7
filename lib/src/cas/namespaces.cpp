// The cache's record namespaces, declared once (cas.hpp: RecordNamespace). Store refuses a
// record in a namespace not listed here, `cache gc` reads what each one keeps from here,
// and docs/cache.md's table is this one rendered (a unit test compares them).
#include "common/names.hpp"
#include "ocibake/cas.hpp"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

namespace ocibake {

namespace {

using Refs = RecordRefs;

constexpr std::array kNamespaces{
    RecordNamespace{"layer-tar", "layer",
                    "sha256 of a layer's entries (paths, types, modes, owners, link targets, "
                    "sizes, xattrs), each host file's identity (path, device, inode, mtime, "
                    "ctime), the tar format version and SOURCE_DATE_EPOCH",
                    "`{\"diff_id\", \"size\"}`", "what tar stream these exact inputs make",
                    Refs::none},
    RecordNamespace{"layer-shape", "layer", "the same without host identities", "`{}`",
                    "a layer like this was built before", Refs::none},
    RecordNamespace{"layer-blob", "layer",
                    "`<diffID hex>.<compression>.<level>.<compressor version>`",
                    "`{\"digest\", \"size\", \"media_type\", \"uncompressed_size\"}`",
                    "the compressed blob of a tar stream", Refs::digest_member},
    RecordNamespace{"layer-size", "image", "diffID hex", "decimal size",
                    "uncompressed size of a base layer (for docker archives)", Refs::none},
    RecordNamespace{"layer-check", "layer",
                    "sha256 of the rules' version and a layer's ChainID (its diffID over "
                    "those of the layers below)",
                    "`{\"status\": \"passed\"}` or `{\"status\": \"refused\", \"detail\": "
                    "\"…\"}`",
                    "what `run`'s unpacking rules say of a base layer over the layers below "
                    "it (`build` reads a base layer once; [cli.md](cli.md))",
                    Refs::none},
    RecordNamespace{"overlay-check", "runtime",
                    "sha256 of the rules' version and an image's diffIDs", "`ok`, or why not",
                    "whether an overlay of these unpacked layers shows the same tree as a full "
                    "unpack ([runtime.md](runtime.md#the-unpacked-layer-store))",
                    Refs::none},
    RecordNamespace{"test-cost", "runtime", "sha256 of a recipe's test names, in order",
                    "lines `SECONDS NAME`",
                    "how long each test took the last time: `ocibake test -j` starts the "
                    "longest first, as ctest does ([runtime.md](runtime.md#tests-in-parallel))",
                    Refs::none},
    RecordNamespace{"base", "registry", "manifest digest hex", "JSON array of digests",
                    "blobs imported from a base image", Refs::digest_array},
    RecordNamespace{"image", "build", "manifest digest hex", "JSON array of digests",
                    "config and manifest of a built image", Refs::digest_array},
    RecordNamespace{"image-key", "build",
                    "an image key: the recipe's files, its lock, each layer's own inputs, the "
                    "base's layers, the format versions ([cache.md](cache.md#the-image-key))",
                    "JSON: the image's own layers in order (name, descriptor, diffID)",
                    "every layer of an image, found without planning one (read from a "
                    "remote cache)",
                    Refs::none},
    RecordNamespace{"apt-image", "apt", "sha256 of a base's layer digests", "JSON",
                    "what apt layers need of that base (dpkg status, accounts, linker "
                    "configuration, alternatives, directories, symlinks, libraries)",
                    Refs::none},
    RecordNamespace{"apt-layer", "apt",
                    "a package part's key (its packages and the facts of the image below it "
                    "used), or the state layer's (the base's facts, every package and own "
                    "entry of the image, the declarations) ([apt.md](apt.md#a-parts-key))",
                    "diffID", "the layer these exact inputs make (its blob: `layer-blob`)",
                    Refs::none},
    RecordNamespace{"apt-deb", "apt", "a `.deb`'s sha256 hex", "JSON",
                    "its dpkg status stanza, paths (types, link targets, libraries' ELF "
                    "data, the contents the state layer reads), alternatives and control "
                    "members: a part is planned, and its key found, from these without "
                    "decoding",
                    Refs::none},
    RecordNamespace{
        "python-wheel", "python", "a downloaded wheel's sha256 hex", "JSON array of that digest",
        "keeps a wheel fetched from an index (its blob) while it is used", Refs::digest_array},
    RecordNamespace{"archive", "build", "a pinned archive's sha256 hex",
                    "JSON array of that digest",
                    "keeps a fetched [[layer.archive]] or [[layer.nvidia]] archive (its blob) "
                    "while it is used",
                    Refs::digest_array},
    RecordNamespace{"python-scan", "python", "a base layer blob's sha256 hex", "JSON",
                    "the Python interpreters, glibc and dist-packages that layer holds (what "
                    "a [layer.python] on that base targets)",
                    Refs::none},
    RecordNamespace{"blob-at", "registry", "sha256 of a registry and a blob digest",
                    "repositories, one per line, most recent first",
                    "where that registry was seen to hold the blob: a push mounts it from "
                    "there (a hint that may be stale)",
                    Refs::none},
    RecordNamespace{"upload", "registry", "sha256 of a registry, repository and blob digest",
                    "the upload's location URL, or empty",
                    "an interrupted chunked upload, resumed from where the registry says it "
                    "stands",
                    Refs::none},
};

std::string cell(std::string_view text) {
    std::string out;
    for (char c : text) {
        out += c == '|' ? std::string("\\|") : std::string(1, c);
    }
    return out;
}

} // namespace

std::span<const RecordNamespace> record_namespaces() {
    return kNamespaces;
}

const RecordNamespace* find_record_namespace(std::string_view name) {
    auto it = std::find_if(kNamespaces.begin(), kNamespaces.end(),
                           [&](const RecordNamespace& ns) { return ns.name == name; });
    return it == kNamespaces.end() ? nullptr : &*it;
}

std::vector<Digest> record_references(std::string_view ns, std::string_view value) {
    const RecordNamespace* n = find_record_namespace(ns);
    std::vector<Digest> out;
    if (n == nullptr || n->refs == RecordRefs::none) {
        return out;
    }
    try {
        nlohmann::json j = nlohmann::json::parse(value);
        if (n->refs == RecordRefs::digest_member) {
            out.push_back(Digest::parse(j.at("digest").get<std::string>()));
        } else {
            for (const auto& d : j) {
                out.push_back(Digest::parse(d.get<std::string>()));
            }
        }
    } catch (const std::exception&) {
        return {};
    }
    return out;
}

namespace {

constexpr detail::Named<RecordRefs, std::string_view> record_refs_texts[] = {
    {RecordRefs::none, "nothing (dropped when unused)"},
    {RecordRefs::digest_member, "the blob its `digest` names"},
    {RecordRefs::digest_array, "the blobs it lists"},
};

std::string_view to_string(RecordRefs refs) {
    return detail::name_of(record_refs_texts, refs, "?");
}

} // namespace

std::string record_namespaces_markdown() {
    std::string out = "| namespace | owner | key | value | meaning | gc keeps |\n"
                      "|---|---|---|---|---|---|\n";
    for (const RecordNamespace& ns : kNamespaces) {
        out += "| `" + std::string(ns.name) + "` | " + std::string(ns.owner) + " | " +
               cell(ns.key) + " | " + cell(ns.value) + " | " + cell(ns.meaning) + " | " +
               std::string(to_string(ns.refs)) + " |\n";
    }
    return out;
}

} // namespace ocibake
