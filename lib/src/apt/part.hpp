// Internal: writing one part (a group of packages of a recipe layer) as a layer's tar
// stream: the packages' data.tar entries as the planner places them, then their dpkg
// info files and what the part changes of the packages below.
#pragma once

#include "apt/effects.hpp"
#include "apt/planner.hpp"
#include "layer/stream.hpp"
#include "layer/tar_writer.hpp"
#include "ocibake/cas.hpp"

#include <functional>
#include <future>
#include <string>
#include <vector>

namespace ocibake::apt::detail {

/// A package's control data from its control file (or its status stanza). `what` names
/// the package in errors.
PackageMeta meta_of(const std::string& control, const std::string& what);

/// A part's outcome planned from its packages' records alone: nothing is decoded. The
/// same questions are asked of `facts` as writing the part asks.
PartOutcome plan_from_infos(const std::vector<LockedPackage>& packages,
                            const std::vector<const DebInfo*>& infos, PartFacts& facts);

class PartWriter {
public:
    /// `packages` in the part's order; `threads` decode them; `ready` (when given) says
    /// when each is in the store.
    PartWriter(const Store& store, const std::vector<LockedPackage>& packages, PartFacts& facts,
               unsigned threads, const std::vector<std::shared_future<void>>* ready);
    ~PartWriter();
    PartWriter(const PartWriter&) = delete;
    PartWriter& operator=(const PartWriter&) = delete;

    /// Writes the part. `planned` is called once the planner is done (every question to
    /// the image below asked), before the info files and whiteouts are added.
    void write(ocibake::detail::TarWriter& tar, ocibake::detail::ChunkStream& stream,
               const std::function<void(const PartOutcome&)>& planned);

    /// After write(): each package's record, in the part's order.
    const std::vector<DebInfo>& infos() const { return infos_; }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::vector<DebInfo> infos_;
};

} // namespace ocibake::apt::detail
