// Internal: the one regular-expression engine of the library (recipe test patterns).
// Not installed.
//
// A Thompson NFA, simulated over the text a byte at a time (no backtracking and no
// recursion on the text): search() takes O(states x text) time and O(states) memory, so
// a hostile pattern such as `^(a+)+$` costs the same as any other of its size. Only
// "does it match somewhere" is answered, so lazy quantifiers are accepted and mean the
// same as greedy ones.
//
// The syntax is the ECMAScript (JavaScript) one, without what needs backtracking:
//   literals, `.` (any byte but \n and \r), `[...]` and `[^...]` with ranges,
//   `\d \w \s \D \W \S`, `\b \B`, escapes (`\t \n \r \f \v \0 \cX \xHH \uHHHH` up to
//   0x7F, `\` before any punctuation), `^ $` (at the text's ends and at every line end:
//   multiline, a line ending at \n or \r), groups `( )`, `(?: )`, `(?<name> )`,
//   alternation `|`, quantifiers `* + ? {n} {n,} {n,m}` and their lazy forms.
// Refused with a RegexError naming the construct: backreferences (`\1`, `\k<name>`),
// lookahead and lookbehind (`(?= (?! (?<= (?<!`), POSIX classes (`[[:alpha:]]`), and
// anything malformed. Patterns and texts are bytes: `.` and a negated class match one
// byte, a non-ASCII character written in a pattern matches its UTF-8 bytes (and a
// quantifier after it repeats the whole character); classes hold ASCII only.
//
// Bounds (so compiling is bounded too): a pattern of at most kMaxPatternSize bytes,
// groups nested at most kMaxDepth deep, counts in `{n,m}` of at most kMaxRepeat, and a
// compiled program of at most kMaxStates states and the final one (`{n,m}` copies its
// operand). At most kMaxStates states are live at once, so one search costs at most
// kMaxStates steps per byte of text (about 1 s for 256 KiB, the harness's limit).
#pragma once

#include "ocibake/error.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake::detail {

/// A pattern refused by Regex::compile. kind() is ErrorKind::recipe; what() is
/// "<reason> at offset <n>".
class RegexError : public Error {
public:
    enum class Why {
        invalid,     ///< not a regular expression (unclosed group, bad range, ...)
        unsupported, ///< valid ECMAScript that needs backtracking (backreference, lookaround)
        too_large,   ///< over one of the bounds
    };
    RegexError(Why why, std::string reason, std::size_t offset);
    Why why() const noexcept { return why_; }
    /// What is wrong, naming the construct ("backreference '\\1' is not supported ...").
    const std::string& reason() const noexcept { return reason_; }
    /// Byte offset in the pattern where the construct starts.
    std::size_t offset() const noexcept { return offset_; }

private:
    Why why_;
    std::string reason_;
    std::size_t offset_;
};

/// A compiled pattern. Immutable after compile(); search() may run on many threads.
class Regex {
public:
    static constexpr std::size_t kMaxPatternSize = 1024;
    static constexpr std::size_t kMaxDepth = 64;
    static constexpr std::uint32_t kMaxRepeat = 1000;
    static constexpr std::size_t kMaxStates = 1024;

    /// Compiles `pattern`; throws RegexError.
    static Regex compile(std::string_view pattern);

    /// True when the pattern matches somewhere in `text` (ECMAScript search, multiline).
    bool search(std::string_view text) const;

    /// Number of states of the compiled program (for tests and bounds).
    std::size_t states() const noexcept { return program_.size(); }

    /// One instruction of the program (public for the compiler in regex.cpp).
    struct Inst {
        enum class Op : std::uint8_t { byte, split, jump, assert, match };
        Op op = Op::match;
        std::uint8_t arg = 0; ///< the assertion for Op::assert
        std::uint32_t x = 0;  ///< class index (byte), target (jump), first branch (split)
        std::uint32_t y = 0;  ///< second branch (split)
    };
    /// A set of bytes.
    using ByteSet = std::array<std::uint64_t, 4>;

private:
    Regex() = default;
    std::vector<Inst> program_;
    std::vector<ByteSet> classes_;
    friend class RegexCompiler;
};

} // namespace ocibake::detail
