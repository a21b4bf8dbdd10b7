// Internal: a Unix time written as UTC text, the one place that calls gmtime_r and
// strftime (never the local zone). Not installed.
#pragma once

#include <cstdint>
#include <string>

namespace ocibake::detail {

/// `seconds` since the epoch as strftime() writes `format` for that time in UTC
/// ("%Y-%m-%dT%H:%M:%SZ" gives RFC 3339). The C locale's names for %a and %b.
std::string utc_text(std::int64_t seconds, const char* format);

} // namespace ocibake::detail
