// Internal: libarchive handles for the apt module.
#pragma once

#include "common/archive.hpp"

#include <string>
#include <string_view>

namespace ocibake::apt::detail {

using ArchivePtr = ocibake::detail::ArchiveReader;
using ocibake::detail::check_archive;
using ocibake::detail::new_reader;

} // namespace ocibake::apt::detail
