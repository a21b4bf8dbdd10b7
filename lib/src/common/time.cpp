#include "common/time.hpp"

#include <ctime>

namespace ocibake::detail {

std::string utc_text(std::int64_t seconds, const char* format) {
    std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char text[64];
    std::strftime(text, sizeof text, format, &tm);
    return text;
}

} // namespace ocibake::detail
