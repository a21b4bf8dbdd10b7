// Internal: the sha256 of an open file, for the callers that judge a failed read
// themselves (gc's check of a blob, the OCI layout's reuse of a previous blob). Not
// installed.
#pragma once

#include "ocibake/digest.hpp"

#include <optional>

namespace ocibake::detail {

/// The sha256 of what is left to read of `fd`, read to its end (sequential read-ahead
/// advised); nullopt when a read fails, with the errno in `error`.
std::optional<Digest> sha256_of_fd(int fd, int& error);

} // namespace ocibake::detail
