// Internal: what reading and writing the remote cache share (remote_cache.cpp,
// remote_cache_write.cpp).
#pragma once

#include "ocibake/remote_cache.hpp"

#include <map>
#include <string>
#include <vector>

namespace ocibake::remote_cache::detail {

/// An artifact read: its manifest, index and (when fetched) records.
struct Fetched {
    registry::Document manifest;
    Artifact artifact;
    Index index;
    Records records;
};

/// Reads the artifact at `ref` and its index (not the records); throws Error on anything
/// wrong with them.
Fetched fetch_artifact(Store& store, registry::Client& client, const registry::Reference& ref,
                       LookupReport& report);

/// The records blob of an artifact (fetched verified against its digest, gunzipped).
Records fetch_records(Store& store, registry::Client& client, const registry::Reference& ref,
                      const Artifact& artifact, LookupReport& report);

/// The index's layer entries (key -> layer) that name a blob the artifact lists, with the
/// same size and media type; a warning each for the others.
std::map<std::string, LayerResult> listed_layers(const Fetched& f, const std::string& where,
                                                 std::vector<std::string>& warnings);

} // namespace ocibake::remote_cache::detail
