// Internal: the tables of a recipe, one file each (layer.cpp, archive.cpp, apt.cpp,
// test.cpp), read through the located reader (read.hpp). A table is read into a draft that
// keeps what the checks on the merged recipe need (recipe.cpp: default names, levels
// against the compression in effect, sources for packages).
#pragma once

#include "ocibake/apt.hpp"
#include "ocibake/error.hpp"
#include "ocibake/layer.hpp"
#include "ocibake/recipe.hpp"
#include "recipe/read.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace ocibake::detail::recipe_read {

/// A layer being read, with what the final checks need.
struct LayerDraft {
    LayerSpec spec;
    std::optional<SourceLocation> name_where; ///< set when the name was written
    std::optional<std::int64_t> level;
    SourceLocation level_where;
};

/// A source being read, with what the final checks need.
struct SourceDraft {
    apt::SourceSpec spec;
    std::optional<SourceLocation> name_where;
    const Value* components = nullptr;
    const Value* keyring = nullptr;
    const Value* trusted = nullptr;
    bool suites_seen = false;
    std::optional<SourceLocation> snapshot_derived; ///< where `snapshot = true` is written
};

/// A test being read, with what the final checks need.
struct TestDraft {
    TestSpec spec;
    std::optional<SourceLocation> name_where;
    std::vector<Located> after; ///< `after`, checked once every test has its name
};

/// `[[layer]]` (recipe/layer.cpp), its name and level not yet checked.
LayerDraft read_layer(const Section& section);
/// `[[layer.archive]]` (recipe/archive.cpp).
ArchiveItem read_archive(const Section& section);
/// `[[layer.nvidia]]` (recipe/archive.cpp): `manifest` made from product and version when
/// not stated.
NvidiaItem read_nvidia(const Section& section);
/// `[apt]` (recipe/apt.cpp): its `[[apt.source]]`s appended to `sources`.
void read_apt(const Section& section, std::vector<SourceDraft>& sources);
/// `[[test]]` (recipe/test.cpp).
TestDraft read_test(const Section& section);

} // namespace ocibake::detail::recipe_read
