// Internal: the names of an enum's values as one table, looked up both ways (to_string()
// and parse_*() of the public headers). Not installed.
//
//     constexpr detail::Named<Compression> compression_names[] = {
//         {Compression::gzip, "gzip"}, {Compression::zstd, "zstd"}, {Compression::none, "none"}};
//     const char* to_string(Compression c) noexcept {
//         return detail::name_of(compression_names, c, "?");
//     }
//
// A table has one row per value, next to the enum's to_string(); a value it does not
// list gets the fallback. (A switch would warn about a missing value at compile time: a
// new enum value needs its row added by hand.)
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <type_traits>

namespace ocibake::detail {

/// One value of an enum and its name.
template <typename Enum, typename Text = const char*>
struct Named {
    Enum value;
    Text name;
};

/// The row of `table` for `value`, or nullptr. Any row type with a `value` member.
template <typename Row, std::size_t N, typename Enum>
constexpr const Row* row_of(const Row (&table)[N], Enum value) noexcept {
    for (const Row& row : table) {
        if (row.value == value) {
            return &row;
        }
    }
    return nullptr;
}

/// The name of `value` in `table`; `fallback` when the table does not list it.
template <typename Enum, typename Text, std::size_t N>
constexpr Text name_of(const Named<Enum, Text> (&table)[N], Enum value,
                       std::type_identity_t<Text> fallback) noexcept {
    const Named<Enum, Text>* row = row_of(table, value);
    return row ? row->name : fallback;
}

/// The value named `name` in `table` (exactly, case and all), or nullopt.
template <typename Enum, typename Text, std::size_t N>
constexpr std::optional<Enum> value_named(const Named<Enum, Text> (&table)[N],
                                          std::string_view name) noexcept {
    for (const Named<Enum, Text>& row : table) {
        if (std::string_view(row.name) == name) {
            return row.value;
        }
    }
    return std::nullopt;
}

} // namespace ocibake::detail
