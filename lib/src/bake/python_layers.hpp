// Internal: the [layer.python] part of builds and locks (see docs/python.md).
#pragma once

#include "ocibake/build.hpp"
#include "ocibake/python.hpp"

#include <functional>
#include <vector>

namespace ocibake::detail {

struct PythonContext {
    const Recipe& recipe;
    const BuildOptions& options;
    Store& store;
    /// The base image's layer blobs (in the store), bottom first: scanned for the Python
    /// and glibc when a layer does not state them.
    std::function<std::vector<LayerResult>()> base_layers;
    /// A layer's entries from its copies and files (for the facts of earlier layers).
    std::function<std::vector<LayerEntry>(const LayerSpec&)> plan;
    /// The recipe's apt layers as locked (empty without packages): an earlier layer's
    /// python3.X and libc6 packages tell the Python and glibc a later layer targets.
    const std::vector<LockedAptLayer>* apt = nullptr;
};

/// What a locked apt layer tells about Python: `python3.X` / `python3.X-minimal` give
/// the interpreter /usr/bin/python3.X (Debian's dist-packages layout), `libc6` the glibc.
python::ImageFacts facts_of_packages(const LockedAptLayer& layer);

/// Entries of every layer's [layer.python] (empty for layers without one), planned in
/// recipe order so that layers sharing a venv see what earlier ones installed. Locked
/// wheels come from the lock file; missing entries are resolved and written (`written`);
/// an entry that no longer matches the recipe is an error naming it, unless update_lock.
std::vector<std::vector<LayerEntry>> plan_python_layers(const PythonContext& context,
                                                        bool& written);

/// `ocibake lock`: every Python layer's entry, in recipe order. With `keep_current`, an
/// entry of `old` that still answers the recipe is kept as it is (no index is asked).
/// Other layers are resolved afresh from their requirements or pylock; a wheel of the old
/// entry that `may_move` does not free and that its requirement still allows (version
/// and hash, same target) stays instead of the new choice.
std::vector<LockedPython>
lock_python_layers(const PythonContext& context, const std::vector<LockedPython>& old,
                   bool keep_current, const std::function<bool(const LockedWheel&)>& may_move);

/// True when the recipe has a [layer.python].
bool has_python_layers(const Recipe& recipe);

} // namespace ocibake::detail
