// Internal: a host file's identity (device, inode, mtime, ctime) from stat(2), as the
// layer cache's `layer-tar` key uses it. One definition for every module that makes
// LayerEntry values of files it placed itself (copies, wheel trees, archive trees).
#pragma once

#include "ocibake/layer.hpp"

#include <sys/stat.h>

namespace ocibake::detail {

inline FileIdentity identity_of(const struct stat& st) {
    FileIdentity id;
    id.device = st.st_dev;
    id.inode = st.st_ino;
    id.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    id.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
    return id;
}

} // namespace ocibake::detail
