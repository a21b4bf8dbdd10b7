// Internal: numbers written in outside text (indexes, control files, /etc/group).
#pragma once

#include <charconv>
#include <optional>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace ocibake::detail {

/// `text` as a decimal integer of type T: digits only (a leading '-' for a signed T), no
/// spaces or '+'; nullopt when it is not one or does not fit in T. std::stoi and friends
/// throw std::invalid_argument or std::out_of_range instead, which are no ocibake::Error.
template <typename T>
std::optional<T> parse_decimal(std::string_view text) {
    static_assert(std::is_integral_v<T>);
    T value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

} // namespace ocibake::detail
