// Internal: path globs for include/exclude, independent of locale.
//
// A pattern matches a whole '/'-separated relative path. In a component, '*' matches
// any run of bytes, '?' one byte, '[a-z]' / '[!a-z]' a byte in (or not in) a set, '\x'
// the byte x. A component that is exactly '**' matches zero or more whole components.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ocibake::detail {

class Glob {
public:
    /// Error(usage) for a malformed pattern (unclosed '[' or trailing '\').
    explicit Glob(std::string_view pattern);
    bool matches(std::string_view path) const;
    /// True when some path below `dir` could match (used to prune walks).
    bool could_match_below(std::string_view dir) const;
    const std::string& pattern() const noexcept { return pattern_; }

private:
    std::string pattern_;
    std::vector<std::string> parts_;
};

/// True if `path` matches any of `globs`.
bool matches_any(const std::vector<Glob>& globs, std::string_view path);

} // namespace ocibake::detail
