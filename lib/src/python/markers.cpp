// PEP 508 environment markers: a small recursive-descent evaluator.
//
//     marker   := or_expr
//     or_expr  := and_expr ('or' and_expr)*
//     and_expr := atom ('and' atom)*
//     atom     := '(' marker ')' | value op value
//     value    := variable | quoted string
//     op       := '<=' | '<' | '!=' | '==' | '>=' | '>' | '~=' | '===' | 'in' | 'not in'
//
// Comparisons use PEP 440 versions when both sides parse as versions (and the operator
// is a version operator), else plain string comparison, as packaging.markers does.
#include "ocibake/python.hpp"

#include <cctype>

namespace ocibake::python {

namespace {

class MarkerParser {
public:
    MarkerParser(std::string_view text, const std::map<std::string, std::string>& env,
                 std::string_view where)
        : text_(text), env_(env), where_(where) {}

    bool parse() {
        bool v = or_expr();
        skip_space();
        if (pos_ != text_.size()) {
            fail("unexpected '" + std::string(text_.substr(pos_)) + "'");
        }
        return v;
    }

private:
    [[noreturn]] void fail(const std::string& why) const {
        std::string where = where_.empty() ? std::string() : std::string(where_) + ": ";
        throw Error(ErrorKind::input,
                    where + "marker '" + std::string(text_) + "' does not parse: " + why);
    }

    void skip_space() {
        while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) {
            ++pos_;
        }
    }

    bool word(std::string_view w) {
        skip_space();
        if (text_.substr(pos_, w.size()) != w) {
            return false;
        }
        std::size_t end = pos_ + w.size();
        if (end < text_.size() &&
            (std::isalnum(static_cast<unsigned char>(text_[end])) || text_[end] == '_')) {
            return false;
        }
        pos_ = end;
        return true;
    }

    bool or_expr() {
        bool v = and_expr();
        while (word("or")) {
            bool rhs = and_expr();
            v = v || rhs;
        }
        return v;
    }

    bool and_expr() {
        bool v = atom();
        while (word("and")) {
            bool rhs = atom();
            v = v && rhs;
        }
        return v;
    }

    bool atom() {
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == '(') {
            ++pos_;
            bool v = or_expr();
            skip_space();
            if (pos_ >= text_.size() || text_[pos_] != ')') {
                fail("')' expected");
            }
            ++pos_;
            return v;
        }
        auto [lhs, lhs_var] = value();
        std::string op = oper();
        auto [rhs, rhs_var] = value();
        std::string var = lhs_var.empty() ? rhs_var : lhs_var;
        return compare(lhs, op, rhs, var);
    }

    std::pair<std::string, std::string> value() {
        skip_space();
        if (pos_ >= text_.size()) {
            fail("a value is missing at the end");
        }
        char q = text_[pos_];
        if (q == '"' || q == '\'') {
            std::size_t end = text_.find(q, pos_ + 1);
            if (end == std::string_view::npos) {
                fail("unterminated string");
            }
            std::string s(text_.substr(pos_ + 1, end - pos_ - 1));
            pos_ = end + 1;
            return {s, ""};
        }
        std::size_t start = pos_;
        while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) ||
                                       text_[pos_] == '_' || text_[pos_] == '.')) {
            ++pos_;
        }
        std::string name(text_.substr(start, pos_ - start));
        if (name.empty()) {
            fail("a variable or a quoted string expected at '" + std::string(text_.substr(start)) +
                 "'");
        }
        if (name == "os.name") {
            name = "os_name";
        } else if (name == "sys.platform") {
            name = "sys_platform";
        } else if (name == "platform.version") {
            name = "platform_version";
        } else if (name == "platform.machine") {
            name = "platform_machine";
        } else if (name == "platform.python_implementation" || name == "python_implementation") {
            name = "platform_python_implementation";
        }
        auto it = env_.find(name);
        if (it == env_.end()) {
            fail("unknown variable '" + name + "'");
        }
        return {it->second, name};
    }

    std::string oper() {
        skip_space();
        for (std::string_view op : {"===", "<=", ">=", "==", "!=", "~=", "<", ">"}) {
            if (text_.substr(pos_, op.size()) == op) {
                pos_ += op.size();
                return std::string(op);
            }
        }
        if (word("in")) {
            return "in";
        }
        if (word("not")) {
            if (!word("in")) {
                fail("'in' expected after 'not'");
            }
            return "not in";
        }
        fail("an operator expected at '" + std::string(text_.substr(pos_)) + "'");
    }

    static bool compare(const std::string& lhs, const std::string& op, const std::string& rhs,
                        const std::string& var) {
        if (op == "in") {
            return rhs.find(lhs) != std::string::npos;
        }
        if (op == "not in") {
            return rhs.find(lhs) == std::string::npos;
        }
        if (op == "===") {
            return lhs == rhs;
        }
        bool versions = var == "python_version" || var == "python_full_version" ||
                        var == "implementation_version" || var == "platform_release";
        if (versions) {
            try {
                if (op == "==" || op == "!=") {
                    bool eq;
                    if (rhs.ends_with(".*")) {
                        std::string prefix = rhs.substr(0, rhs.size() - 2);
                        eq = lhs == prefix || lhs.starts_with(prefix + ".");
                    } else {
                        eq = compare_versions(lhs, rhs) == 0;
                    }
                    return op == "==" ? eq : !eq;
                }
                if (op == "~=") {
                    // ~= X.Y.Z means >= X.Y.Z and == X.Y.*
                    std::size_t dot = rhs.rfind('.');
                    if (dot == std::string::npos) {
                        return false;
                    }
                    std::string prefix = rhs.substr(0, dot);
                    return compare_versions(lhs, rhs) >= 0 &&
                           (lhs == prefix || lhs.starts_with(prefix + "."));
                }
                int c = compare_versions(lhs, rhs);
                return op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
            } catch (const Error&) {
                // not versions: fall through to strings
            }
        }
        if (op == "==") {
            return lhs == rhs;
        }
        if (op == "!=") {
            return lhs != rhs;
        }
        int c = lhs.compare(rhs);
        return op == "<"    ? c < 0
               : op == "<=" ? c <= 0
               : op == ">"  ? c > 0
               : op == ">=" ? c >= 0
                            : false;
    }

    std::string_view text_;
    const std::map<std::string, std::string>& env_;
    std::string_view where_;
    std::size_t pos_ = 0;
};

} // namespace

std::map<std::string, std::string> marker_environment(const Target& target) {
    std::string full = target.python_version() + ".0";
    return {
        {"os_name", "posix"},
        {"sys_platform", "linux"},
        {"platform_system", "Linux"},
        {"platform_machine", target.machine},
        {"platform_python_implementation", "CPython"},
        {"implementation_name", "cpython"},
        {"implementation_version", full},
        {"python_version", target.python_version()},
        {"python_full_version", full},
        {"platform_release", ""},
        {"platform_version", ""},
        {"extra", ""},
    };
}

bool evaluate_marker(std::string_view marker, const std::map<std::string, std::string>& env,
                     std::string_view where) {
    return MarkerParser(marker, env, where).parse();
}

} // namespace ocibake::python
