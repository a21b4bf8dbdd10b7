// The pieces the JSON documents share (json.hpp), as nlohmann values.
#pragma once

#include "ocibake/json.hpp"

#include <nlohmann/json.hpp>

namespace ocibake::json_doc {

using json = nlohmann::json;

/// The document as json.hpp returns it: indented by two spaces.
std::string dump(const json& document);

/// {"digest", "size", "media_type"}.
json descriptor(const oci::Descriptor& d);
/// [{"digest", "path", "reason"}]: blobs found corrupt.
json dropped_blobs(const std::vector<DroppedBlob>& dropped);
/// BuildResult::stand_ins: package, layer, file, sha256, size, replaces.
json stand_ins(const std::vector<StandIn>& stand_ins);
/// A lock diff's document (ocibake.lock-diff/1) without "recipe".
json lock_diff(const LockDiff& d, const std::filesystem::path& lock);
/// A push's document (ocibake.push/1).
json push(const registry::PushResult& r);
/// The remote cache's object in a build's document (null when none was read or written).
json build_remote_cache(const BuildResult& result, const remote_cache::ExportReport* wrote);

} // namespace ocibake::json_doc
