// Internal: the steps of a build that `ocibake lock` takes too (build.cpp, update.cpp).
#pragma once

#include "ocibake/apt.hpp"
#include "ocibake/build.hpp"

#include <filesystem>
#include <map>
#include <vector>

namespace ocibake::detail {

/// The lock file of a recipe: options.lock_file, else beside the recipe.
std::filesystem::path lock_file_of(const Recipe& recipe, const BuildOptions& options);

/// A library error re-thrown as a diagnostic at a recipe location.
[[noreturn]] void rethrow_at(const SourceLocation& where, const Error& e);

/// A layer's entries: its archives' (planned beforehand, archive_layers.cpp), then its
/// copies and files, then its planned [layer.python] entries; later ones win.
std::vector<LayerEntry> plan_layer(const LayerSpec& spec, unsigned threads,
                                   const std::vector<LayerEntry>& python = {},
                                   const std::vector<LayerEntry>& archives = {});

/// Base layer blobs for the Python planner, fetched when the base is a registry's.
std::vector<LayerResult> local_base_layers(Store& store, const Image& image,
                                           const BuildOptions& options);

/// The recipe's [base] ref resolved in its registry now: the manifest (and index) its tag
/// names for the recipe's platform.
LockedBase resolve_base(const Recipe& recipe, const BuildOptions& options);

/// What the apt layers are added to: the base image's facts (its layers are fetched when
/// they are remote: the dpkg database is in them).
apt::ImageFacts base_facts(Store& store, const std::vector<LayerResult>& layers,
                           const std::map<Digest, RemoteBlob>& remote, const BuildOptions& options);

} // namespace ocibake::detail
