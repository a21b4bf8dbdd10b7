// Internal: integers read from outside JSON (manifests, indexes, records, state files).
// nlohmann's get<std::uint64_t>() converts a float or a negative number with a plain cast,
// which is undefined behaviour when the value does not fit (found by fuzz_cache_index).
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace ocibake::detail {

/// `j` as a T when it is a JSON integer that fits in T; nullopt otherwise (a float, a
/// negative number for an unsigned T, one past T's range, or no number at all).
template <typename T>
std::optional<T> json_integer_if(const nlohmann::json& j) {
    static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
    if (j.is_number_unsigned()) {
        const auto v = j.get<std::uint64_t>();
        if (std::in_range<T>(v)) {
            return static_cast<T>(v);
        }
    } else if (j.is_number_integer()) {
        const auto v = j.get<std::int64_t>();
        if (std::in_range<T>(v)) {
            return static_cast<T>(v);
        }
    }
    return std::nullopt;
}

/// json_integer_if(), or the json::type_error (302) that get<T>() throws for a string, so
/// callers' existing catch clauses apply.
template <typename T>
T json_integer(const nlohmann::json& j) {
    if (std::optional<T> v = json_integer_if<T>(j)) {
        return *v;
    }
    throw nlohmann::json::type_error::create(
        302,
        std::string("expected an integer from ") + std::to_string(std::numeric_limits<T>::min()) +
            " to " + std::to_string(std::numeric_limits<T>::max()) + ", found " +
            (j.is_number() ? j.dump() : std::string(j.type_name())),
        &j);
}

} // namespace ocibake::detail
