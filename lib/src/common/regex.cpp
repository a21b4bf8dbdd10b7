// The regular-expression engine: a parser to a small tree, a compiler to a Thompson NFA
// program, and a simulation that keeps the set of live states (Russ Cox, "Regular
// Expression Matching Can Be Simple And Fast", 2007; RE2's NFA without captures).
#include "common/regex.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <utility>

namespace ocibake::detail {

namespace {

using ByteSet = Regex::ByteSet;
using Inst = Regex::Inst;

/// Why lookaround and backreferences are refused.
constexpr const char* kBacktracking =
    " (it needs backtracking; patterns are matched in linear time)";

constexpr std::uint32_t kInfinite = std::numeric_limits<std::uint32_t>::max();

enum Assertion : std::uint8_t { line_begin, line_end, word_boundary, not_word_boundary };

void add_byte(ByteSet& set, unsigned char c) {
    set[c >> 6] |= std::uint64_t{1} << (c & 63);
}

bool has_byte(const ByteSet& set, unsigned char c) {
    return (set[c >> 6] >> (c & 63)) & 1;
}

void add_range(ByteSet& set, unsigned char low, unsigned char high) {
    for (unsigned c = low; c <= high; ++c) {
        add_byte(set, static_cast<unsigned char>(c));
    }
}

void add_set(ByteSet& set, const ByteSet& other) {
    for (std::size_t i = 0; i < set.size(); ++i) {
        set[i] |= other[i];
    }
}

ByteSet complement(ByteSet set) {
    for (std::uint64_t& word : set) {
        word = ~word;
    }
    return set;
}

ByteSet single(unsigned char c) {
    ByteSet set{};
    add_byte(set, c);
    return set;
}

bool is_word(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

unsigned hex_value(char c) {
    if (is_digit(c)) {
        return static_cast<unsigned>(c - '0');
    }
    return static_cast<unsigned>((c | 0x20) - 'a' + 10);
}

bool is_line_end(int c) {
    return c == '\n' || c == '\r';
}

/// `\d`, `\w`, `\s` and their complements (ASCII, as std::regex in the "C" locale).
ByteSet class_escape(char letter) {
    ByteSet set{};
    switch (letter | 0x20) {
    case 'd':
        add_range(set, '0', '9');
        break;
    case 'w':
        add_range(set, 'a', 'z');
        add_range(set, 'A', 'Z');
        add_range(set, '0', '9');
        add_byte(set, '_');
        break;
    default: // 's': space, \t \n \v \f \r
        add_range(set, '\t', '\r');
        add_byte(set, ' ');
        break;
    }
    return (letter >= 'A' && letter <= 'Z') ? complement(set) : set;
}

/// Length of the well-formed UTF-8 sequence at the start of `text` (1 when it is not one).
std::size_t utf8_length(std::string_view text) {
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    unsigned char lead = byte(0);
    std::size_t length = lead >= 0xF0 && lead <= 0xF4   ? 4
                         : lead >= 0xE0 && lead <= 0xEF ? 3
                         : lead >= 0xC2 && lead <= 0xDF ? 2
                                                        : 1;
    if (length > text.size()) {
        return 1;
    }
    for (std::size_t i = 1; i < length; ++i) {
        if ((byte(i) & 0xC0) != 0x80) {
            return 1;
        }
    }
    return length;
}

/// A parsed pattern.
struct Node {
    enum class Kind { empty, bytes, assertion, concat, alternation, repeat };
    Kind kind = Kind::empty;
    ByteSet set{};            ///< bytes
    std::uint8_t assertion{}; ///< assertion
    std::uint32_t min = 0;    ///< repeat
    std::uint32_t max = 0;    ///< repeat (kInfinite: no upper bound)
    std::uint32_t states = 0; ///< what it compiles to (see measure())
    std::vector<Node> children;
};

Node bytes_node(const ByteSet& set) {
    Node node;
    node.kind = Node::Kind::bytes;
    node.set = set;
    return node;
}

/// One escape or class item: a set of bytes, and whether it is a single byte.
struct Item {
    ByteSet set{};
    bool single = false;
    unsigned char byte = 0;
};

Item single_item(unsigned char c) {
    return {::ocibake::detail::single(c), true, c};
}

class Parser {
public:
    explicit Parser(std::string_view pattern) : p_(pattern) {}

    Node parse() {
        Node node = disjunction();
        if (pos_ < p_.size()) { // only a ')' stops a disjunction early
            invalid("unmatched ')'", pos_);
        }
        return node;
    }

private:
    std::string_view p_;
    std::size_t pos_ = 0;
    std::size_t depth_ = 0;
    std::set<std::string, std::less<>> names_;

    [[noreturn]] void fail(RegexError::Why why, std::string reason, std::size_t at) const {
        throw RegexError(why, std::move(reason), at);
    }
    [[noreturn]] void invalid(std::string reason, std::size_t at) const {
        fail(RegexError::Why::invalid, std::move(reason), at);
    }
    [[noreturn]] void unsupported(std::string reason, std::size_t at) const {
        fail(RegexError::Why::unsupported, std::move(reason), at);
    }

    bool at_end() const { return pos_ >= p_.size(); }
    char peek(std::size_t ahead = 0) const {
        return pos_ + ahead < p_.size() ? p_[pos_ + ahead] : '\0';
    }
    bool more(std::size_t ahead) const { return pos_ + ahead < p_.size(); }
    std::string quoted(std::size_t from, std::size_t to) const {
        return "'" + std::string(p_.substr(from, to - from)) + "'";
    }

    Node disjunction() {
        Node alt;
        alt.kind = Node::Kind::alternation;
        alt.children.push_back(alternative());
        while (!at_end() && peek() == '|') {
            ++pos_;
            alt.children.push_back(alternative());
        }
        if (alt.children.size() == 1) {
            return std::move(alt.children.front());
        }
        return alt;
    }

    Node alternative() {
        Node concat;
        concat.kind = Node::Kind::concat;
        while (!at_end() && peek() != '|' && peek() != ')') {
            concat.children.push_back(term());
        }
        if (concat.children.size() == 1) {
            return std::move(concat.children.front());
        }
        return concat;
    }

    Node assertion_node(std::uint8_t which) {
        Node node;
        node.kind = Node::Kind::assertion;
        node.assertion = which;
        std::size_t at = pos_;
        if (!at_end() && is_quantifier_start()) {
            invalid("nothing to repeat before " + quoted(at, at + 1) +
                        " (an assertion matches no character)",
                    at);
        }
        return node;
    }

    /// A quantifier starts here: `*`, `+`, `?` or a well-formed `{n}`, `{n,}`, `{n,m}`.
    bool is_quantifier_start() const {
        char c = peek();
        if (c == '*' || c == '+' || c == '?') {
            return true;
        }
        return c == '{' && braced_length() > 0;
    }

    /// Length of a well-formed `{n}`, `{n,}` or `{n,m}` at pos_ (0 if there is none).
    std::size_t braced_length() const {
        std::size_t i = pos_ + 1;
        auto digits = [&] {
            std::size_t start = i;
            while (i < p_.size() && is_digit(p_[i])) {
                ++i;
            }
            return i > start;
        };
        if (!digits()) {
            return 0;
        }
        if (i < p_.size() && p_[i] == ',') {
            ++i;
            digits();
        }
        if (i < p_.size() && p_[i] == '}') {
            return i + 1 - pos_;
        }
        return 0;
    }

    std::uint32_t count(std::size_t& i, std::size_t at) const {
        std::uint64_t value = 0;
        while (i < p_.size() && is_digit(p_[i])) {
            value = std::min<std::uint64_t>(value * 10 + static_cast<unsigned>(p_[i] - '0'),
                                            std::uint64_t{kInfinite});
            ++i;
        }
        if (value > Regex::kMaxRepeat) {
            std::size_t end = pos_ + braced_length();
            fail(RegexError::Why::too_large,
                 "repeat count " + quoted(at, end) + " is over " +
                     std::to_string(Regex::kMaxRepeat),
                 at);
        }
        return static_cast<std::uint32_t>(value);
    }

    Node term() {
        std::size_t at = pos_;
        char c = peek();
        Node atom;
        switch (c) {
        case '^':
            ++pos_;
            return assertion_node(line_begin);
        case '$':
            ++pos_;
            return assertion_node(line_end);
        case '*':
        case '+':
        case '?':
            invalid("nothing to repeat before " + quoted(at, at + 1), at);
        case '{':
            if (braced_length() > 0) {
                invalid("nothing to repeat before " + quoted(at, at + braced_length()), at);
            }
            invalid("'{' is not a repeat count {n}, {n,} or {n,m}: write '\\{' for a brace", at);
        case '(':
            atom = group();
            break;
        case '[':
            atom = bytes_node(bracket());
            break;
        case '.':
            ++pos_;
            atom = bytes_node(complement(single('\n')));
            atom.set[0] &= ~(std::uint64_t{1} << '\r');
            break;
        case '\\': {
            char letter = peek(1);
            if (letter == 'b' || letter == 'B') {
                pos_ += 2;
                return assertion_node(letter == 'b' ? word_boundary : not_word_boundary);
            }
            if (static_cast<unsigned char>(letter) >= 0x80) { // '\' before a character
                ++pos_;
                atom = literal();
                break;
            }
            atom = bytes_node(escape(false).set);
            break;
        }
        default:
            atom = literal();
            break;
        }
        return quantified(std::move(atom));
    }

    /// The character at pos_ as itself: one byte, or the bytes of one UTF-8 character (so
    /// that a quantifier after it repeats them all).
    Node literal() {
        std::size_t length = utf8_length(p_.substr(pos_));
        Node atom = bytes_node(single(static_cast<unsigned char>(p_[pos_])));
        if (length > 1) {
            atom.kind = Node::Kind::concat;
            for (std::size_t i = 0; i < length; ++i) {
                atom.children.push_back(
                    bytes_node(single(static_cast<unsigned char>(p_[pos_ + i]))));
            }
        }
        pos_ += length;
        return atom;
    }

    Node quantified(Node atom) {
        if (at_end() || !is_quantifier_start()) {
            return atom;
        }
        std::size_t at = pos_;
        Node node;
        node.kind = Node::Kind::repeat;
        char c = peek();
        if (c == '*') {
            node.min = 0;
            node.max = kInfinite;
            ++pos_;
        } else if (c == '+') {
            node.min = 1;
            node.max = kInfinite;
            ++pos_;
        } else if (c == '?') {
            node.min = 0;
            node.max = 1;
            ++pos_;
        } else {
            std::size_t end = pos_ + braced_length();
            std::size_t i = pos_ + 1;
            node.min = count(i, at);
            node.max = node.min;
            if (p_[i] == ',') {
                ++i;
                node.max = is_digit(p_[i]) ? count(i, at) : kInfinite;
            }
            if (node.max < node.min) {
                invalid("numbers out of order in " + quoted(at, end), at);
            }
            pos_ = end;
        }
        if (!at_end() && peek() == '?') {
            ++pos_; // lazy: the same for "does it match"
        }
        if (!at_end() && is_quantifier_start()) {
            invalid("nothing to repeat before " + quoted(pos_, pos_ + 1) + " (after " +
                        quoted(at, pos_) + ")",
                    pos_);
        }
        node.children.push_back(std::move(atom));
        return node;
    }

    Node group() {
        std::size_t at = pos_;
        ++pos_;
        if (peek() == '?') {
            char kind = peek(1);
            if (kind == ':') {
                pos_ += 2;
            } else if (kind == '=' || kind == '!') {
                unsupported("lookahead " + quoted(at, at + 3) + kBacktracking, at);
            } else if (kind == '<' && (peek(2) == '=' || peek(2) == '!')) {
                unsupported("lookbehind " + quoted(at, at + 4) + kBacktracking, at);
            } else if (kind == '<') {
                pos_ += 2;
                std::size_t name = pos_;
                while (!at_end() &&
                       (is_word(static_cast<unsigned char>(peek())) || peek() == '$')) {
                    ++pos_;
                }
                if (at_end() || peek() != '>' || pos_ == name || is_digit(p_[name])) {
                    invalid("a group name " + quoted(at, std::min(pos_ + 1, p_.size())) +
                                " must be letters, digits, '_' or '$' closed by '>'",
                            at);
                }
                if (!names_.emplace(p_.substr(name, pos_ - name)).second) {
                    invalid("group name " + quoted(name, pos_) + " is used twice", at);
                }
                ++pos_;
            } else {
                invalid("unknown group " + quoted(at, std::min(at + 3, p_.size())), at);
            }
        }
        if (++depth_ > Regex::kMaxDepth) {
            fail(RegexError::Why::too_large,
                 "groups are nested more than " + std::to_string(Regex::kMaxDepth) + " deep", at);
        }
        Node inner = disjunction();
        --depth_;
        if (at_end()) {
            invalid("unclosed group '(': a ')' is missing", at);
        }
        ++pos_; // ')'
        return inner;
    }

    /// An escape at pos_ ('\\'); `in_class` for the rules inside [...].
    Item escape(bool in_class) {
        std::size_t at = pos_;
        if (!more(1)) {
            invalid("'\\' at the end of the pattern escapes nothing", at);
        }
        char c = p_[pos_ + 1];
        pos_ += 2;
        switch (c) {
        case 'd':
        case 'D':
        case 'w':
        case 'W':
        case 's':
        case 'S':
            return {class_escape(c), false, 0};
        case 't':
            return single_item('\t');
        case 'n':
            return single_item('\n');
        case 'r':
            return single_item('\r');
        case 'f':
            return single_item('\f');
        case 'v':
            return single_item('\v');
        case 'b': // only reached inside a class: backspace
            return single_item('\b');
        case 'B':
            invalid("'\\B' inside a class", at);
        case '0':
            if (is_digit(peek())) {
                unsupported("octal escape " + quoted(at, pos_ + 1) + " (write '\\xHH')", at);
            }
            return single_item('\0');
        case 'c':
            if ((peek() >= 'a' && peek() <= 'z') || (peek() >= 'A' && peek() <= 'Z')) {
                ++pos_;
                return single_item(static_cast<unsigned char>(p_[pos_ - 1] & 31));
            }
            invalid("'\\c' needs a letter after it", at);
        case 'x':
            if (is_hex(peek()) && is_hex(peek(1))) {
                pos_ += 2;
                return single_item(static_cast<unsigned char>(hex_value(p_[pos_ - 2]) * 16 +
                                                              hex_value(p_[pos_ - 1])));
            }
            invalid("'\\x' needs two hex digits", at);
        case 'u': {
            if (peek() == '{') {
                unsupported("'\\u{...}' (write the character itself)", at);
            }
            unsigned value = 0;
            for (std::size_t i = 0; i < 4; ++i) {
                if (!is_hex(peek(i))) {
                    invalid("'\\u' needs four hex digits", at);
                }
                value = value * 16 + hex_value(peek(i));
            }
            pos_ += 4;
            if (value > 0x7F) {
                unsupported(quoted(at, pos_) +
                                " (not ASCII: patterns match UTF-8 bytes, so write the "
                                "character itself)",
                            at);
            }
            return single_item(static_cast<unsigned char>(value));
        }
        case 'k':
            if (peek() == '<') {
                std::size_t end = p_.find('>', pos_);
                end = end == std::string_view::npos ? p_.size() : end + 1;
                unsupported("backreference " + quoted(at, end) + kBacktracking, at);
            }
            break;
        case 'p':
        case 'P':
            unsupported("Unicode property escape " + quoted(at, pos_), at);
        default:
            break;
        }
        if (c >= '1' && c <= '9') {
            while (is_digit(peek())) {
                ++pos_;
            }
            if (in_class) {
                unsupported("octal escape " + quoted(at, pos_) + " (write '\\xHH')", at);
            }
            unsupported("backreference " + quoted(at, pos_) + kBacktracking, at);
        }
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c)) {
            invalid("unknown escape " + quoted(at, pos_) +
                        " (write a letter or digit without '\\')",
                    at);
        }
        if (static_cast<unsigned char>(c) >= 0x80) { // only inside a class: see term()
            std::size_t length = utf8_length(p_.substr(pos_ - 1));
            unsupported("non-ASCII character " + quoted(pos_ - 1, pos_ - 1 + length) +
                            " in a class (a class matches single bytes: write (?:...|...) instead)",
                        pos_ - 1);
        }
        return single_item(static_cast<unsigned char>(c)); // '\' before punctuation or a space
    }

    /// A class `[...]` at pos_; returns the bytes it matches.
    ByteSet bracket() {
        std::size_t at = pos_;
        ++pos_;
        bool negate = false;
        if (peek() == '^' && more(0)) {
            negate = true;
            ++pos_;
        }
        ByteSet set{};
        for (;;) {
            if (at_end()) {
                invalid("unclosed class '[': a ']' is missing", at);
            }
            if (peek() == ']') {
                ++pos_;
                break;
            }
            std::size_t item_at = pos_;
            Item low = class_item();
            if (peek() == '-' && more(1) && p_[pos_ + 1] != ']') {
                ++pos_;
                Item high = class_item();
                if (!low.single || !high.single) {
                    invalid("a class escape cannot bound a range: " + quoted(item_at, pos_) +
                                " (write '\\-' for a '-')",
                            item_at);
                }
                if (low.byte > high.byte) {
                    invalid("range out of order in class: " + quoted(item_at, pos_), item_at);
                }
                add_range(set, low.byte, high.byte);
            } else {
                add_set(set, low.set);
            }
        }
        return negate ? complement(set) : set;
    }

    Item class_item() {
        std::size_t at = pos_;
        char c = peek();
        if (c == '\\') {
            return escape(true);
        }
        if (c == '[' && (peek(1) == ':' || peek(1) == '=' || peek(1) == '.')) {
            unsupported(quoted(at, at + 2) +
                            " in a class (POSIX classes are not ECMAScript: write the "
                            "characters, e.g. [A-Za-z], or '\\[' for a '[')",
                        at);
        }
        std::size_t length = utf8_length(p_.substr(pos_));
        if (static_cast<unsigned char>(c) >= 0x80) {
            unsupported("non-ASCII character " + quoted(at, at + length) +
                            " in a class (a class matches single bytes: write (?:...|...) instead)",
                        at);
        }
        ++pos_;
        return single_item(static_cast<unsigned char>(c));
    }
};

} // namespace

RegexError::RegexError(Why why, std::string reason, std::size_t offset)
    : Error(ErrorKind::recipe, reason + " at offset " + std::to_string(offset)), why_(why),
      reason_(std::move(reason)), offset_(offset) {}

/// Turns a parsed pattern into a program.
class RegexCompiler {
public:
    explicit RegexCompiler(Regex& re) : re_(re) {}

    void emit(const Node& node) {
        switch (node.kind) {
        case Node::Kind::empty:
            break;
        case Node::Kind::bytes:
            add({Inst::Op::byte, 0, class_index(node.set), 0});
            break;
        case Node::Kind::assertion:
            add({Inst::Op::assert, node.assertion, 0, 0});
            break;
        case Node::Kind::concat:
            for (const Node& child : node.children) {
                emit(child);
            }
            break;
        case Node::Kind::alternation: {
            std::vector<std::uint32_t> jumps;
            for (std::size_t i = 0; i + 1 < node.children.size(); ++i) {
                std::uint32_t split = add({Inst::Op::split, 0, here() + 1, 0});
                emit(node.children[i]);
                jumps.push_back(add({Inst::Op::jump, 0, 0, 0}));
                re_.program_[split].y = here();
            }
            emit(node.children.back());
            for (std::uint32_t jump : jumps) {
                re_.program_[jump].x = here();
            }
            break;
        }
        case Node::Kind::repeat:
            repeat(node);
            break;
        }
    }

    void finish() { add({Inst::Op::match, 0, 0, 0}); }

private:
    Regex& re_;
    std::map<Regex::ByteSet, std::uint32_t> class_of_;

    std::uint32_t here() const { return static_cast<std::uint32_t>(re_.program_.size()); }

    std::uint32_t add(Inst inst) {
        if (inst.op != Inst::Op::match && re_.program_.size() >= Regex::kMaxStates) {
            throw Error(ErrorKind::internal, "regex: measure() undercounted");
        }
        re_.program_.push_back(inst);
        return here() - 1;
    }

    std::uint32_t class_index(const Regex::ByteSet& set) {
        auto [it, added] = class_of_.emplace(set, static_cast<std::uint32_t>(re_.classes_.size()));
        if (added) {
            re_.classes_.push_back(set);
        }
        return it->second;
    }

    void repeat(const Node& node) {
        const Node& child = node.children.front();
        if (child.states == 0) {
            return; // repeating what matches only "" matches only ""
        }
        std::uint32_t copies = node.max == kInfinite && node.min > 0 ? node.min - 1 : node.min;
        for (std::uint32_t i = 0; i < copies; ++i) {
            emit(child);
        }
        if (node.max == kInfinite) {
            if (node.min == 0) { // L: split body, out; body; jump L
                std::uint32_t split = add({Inst::Op::split, 0, here() + 1, 0});
                emit(child);
                add({Inst::Op::jump, 0, split, 0});
                re_.program_[split].y = here();
            } else { // L: body; split L, out
                std::uint32_t start = here();
                emit(child);
                add({Inst::Op::split, 0, start, here() + 1});
            }
            return;
        }
        std::vector<std::uint32_t> skips;
        for (std::uint32_t i = node.min; i < node.max; ++i) {
            skips.push_back(add({Inst::Op::split, 0, here() + 1, 0}));
            emit(child);
        }
        for (std::uint32_t skip : skips) {
            re_.program_[skip].y = here();
        }
    }
};

namespace {

[[noreturn]] void too_many_states() {
    throw RegexError(RegexError::Why::too_large,
                     "the pattern compiles to more than " + std::to_string(Regex::kMaxStates) +
                         " states (a repeat count copies what it repeats): use smaller counts "
                         "or a shorter pattern",
                     0);
}

/// Sets node.states (and its children's) to the number of states RegexCompiler::emit
/// adds for it, capped just over the bound: the compiler refuses a pattern before it
/// starts copying, and never loops over an operand that adds nothing.
std::uint64_t measure(Node& node) {
    constexpr std::uint64_t cap = Regex::kMaxStates + 1;
    std::uint64_t n = 0;
    switch (node.kind) {
    case Node::Kind::empty:
        break;
    case Node::Kind::bytes:
    case Node::Kind::assertion:
        n = 1;
        break;
    case Node::Kind::concat:
    case Node::Kind::alternation:
        for (Node& child : node.children) {
            n += measure(child);
        }
        if (node.kind == Node::Kind::alternation) {
            n += 2 * (node.children.size() - 1); // a split and a jump per branch but the last
        }
        break;
    case Node::Kind::repeat: {
        std::uint64_t child = measure(node.children.front());
        if (child == 0) {
            break;
        }
        if (node.max == kInfinite) { // min - 1 copies and a loop (+ a split, a jump if min 0)
            n = (node.min == 0 ? 0 : (node.min - 1) * child) + child + (node.min == 0 ? 2 : 1);
        } else { // min copies, then max - min optional ones behind a split each
            n = node.min * child + (std::uint64_t{node.max} - node.min) * (child + 1);
        }
        break;
    }
    }
    node.states = static_cast<std::uint32_t>(std::min(n, cap));
    return node.states;
}

} // namespace

Regex Regex::compile(std::string_view pattern) {
    if (pattern.size() > kMaxPatternSize) {
        throw RegexError(RegexError::Why::too_large,
                         "the pattern is " + std::to_string(pattern.size()) + " bytes long, over " +
                             std::to_string(kMaxPatternSize),
                         kMaxPatternSize);
    }
    Node tree = Parser(pattern).parse();
    if (measure(tree) > kMaxStates) {
        too_many_states();
    }
    Regex re;
    RegexCompiler compiler(re);
    compiler.emit(tree);
    if (re.program_.size() != tree.states) {
        throw Error(ErrorKind::internal, "regex: measure() and the compiler disagree");
    }
    compiler.finish();
    return re;
}

namespace {

/// A set of states with O(1) insert, lookup and clear (Briggs and Torczon, 1993), over
/// arrays the caller owns: dense holds the members in order, sparse[s] where s is.
struct StateSet {
    std::uint32_t* dense;
    std::uint32_t* sparse;
    std::uint32_t size = 0;

    bool contains(std::uint32_t state) const {
        std::uint32_t slot = sparse[state];
        return slot < size && dense[slot] == state;
    }
    void insert(std::uint32_t state) {
        sparse[state] = size;
        dense[size++] = state;
    }
};

/// What the assertions see at a position: the bytes before and after it (-1: none).
struct Context {
    int before = -1;
    int after = -1;
};

bool holds(std::uint8_t assertion, Context at) {
    switch (assertion) {
    case line_begin:
        return at.before < 0 || is_line_end(at.before);
    case line_end:
        return at.after < 0 || is_line_end(at.after);
    case word_boundary:
        return is_word(at.before) != is_word(at.after);
    default:
        return is_word(at.before) == is_word(at.after);
    }
}

/// Adds `state` to `set` with every state reachable from it without reading a byte; true
/// when that reaches the match state. An explicit stack (2 x states + 1 entries are
/// enough: a state is entered once, and pushes at most two): no recursion.
bool follow(const Inst* program, StateSet& set, std::uint32_t* stack, std::uint32_t state,
            Context at) {
    std::uint32_t top = 0;
    stack[top++] = state;
    while (top > 0) {
        std::uint32_t s = stack[--top];
        if (set.contains(s)) {
            continue;
        }
        set.insert(s);
        const Inst& inst = program[s];
        switch (inst.op) {
        case Inst::Op::match:
            return true;
        case Inst::Op::byte:
            break;
        case Inst::Op::jump:
            stack[top++] = inst.x;
            break;
        case Inst::Op::split:
            stack[top++] = inst.y;
            stack[top++] = inst.x;
            break;
        case Inst::Op::assert:
            if (holds(inst.arg, at)) {
                stack[top++] = s + 1;
            }
            break;
        }
    }
    return false;
}

} // namespace

bool Regex::search(std::string_view text) const {
    const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    const Inst* program = program_.data();
    const auto states = static_cast<std::uint32_t>(program_.size());
    // Two state sets (dense and sparse arrays each) and the stack: O(states) memory.
    std::vector<std::uint32_t> memory(6 * std::size_t{states} + 1);
    StateSet current{memory.data(), memory.data() + states};
    StateSet next{memory.data() + 2 * states, memory.data() + 3 * states};
    std::uint32_t* stack = memory.data() + 4 * states;
    Context at{-1, n > 0 ? bytes[0] : -1};
    for (std::size_t i = 0;; ++i) {
        if (follow(program, current, stack, 0, at)) { // a match may start here (search)
            return true;
        }
        if (i == n) {
            return false;
        }
        const unsigned char c = bytes[i];
        const Context after{c, i + 1 < n ? bytes[i + 1] : -1};
        next.size = 0;
        for (std::uint32_t k = 0; k < current.size; ++k) {
            const std::uint32_t s = current.dense[k];
            const Inst& inst = program[s];
            if (inst.op == Inst::Op::byte && has_byte(classes_[inst.x], c) &&
                follow(program, next, stack, s + 1, after)) {
                return true;
            }
        }
        std::swap(current, next);
        at = after;
    }
}

} // namespace ocibake::detail
