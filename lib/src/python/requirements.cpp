// requirements.txt as pip reads it, restricted to what a hashed lock holds: pinned
// (`name==version`) or direct-URL (`name @ url`) requirements, each with --hash values.
#include "common/fs.hpp"
#include "common/strings.hpp"
#include "ocibake/python.hpp"

#include <algorithm>
#include <cctype>

namespace ocibake::python {

namespace fs = std::filesystem;

namespace {

constexpr const char* hashed_lock_hint =
    "make a hashed lock with `pip-compile --generate-hashes` or "
    "`uv pip compile --generate-hashes`";

bool space(char c) {
    return c == ' ' || c == '\t';
}

/// One logical line: physical lines joined at a trailing backslash, comments removed.
struct Line {
    std::string text;
    std::uint32_t number = 0; ///< first physical line
    std::string first;        ///< the first physical line, for columns
};

std::vector<Line> logical_lines(std::string_view text) {
    std::vector<Line> out;
    Line current;
    bool continuing = false;
    std::uint32_t number = 0;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        std::string line(text.substr(start, end - start));
        start = end == std::string_view::npos ? text.size() : end + 1;
        ++number;
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        // A comment starts at '#' at the line start or after whitespace (pip's rule).
        for (std::size_t i = 0; i < line.size(); ++i) {
            if (line[i] == '#' && (i == 0 || space(line[i - 1]))) {
                line.erase(i);
                break;
            }
        }
        if (!continuing) {
            current = Line{"", number, line};
        }
        std::string body = line;
        while (!body.empty() && space(body.back())) {
            body.pop_back();
        }
        continuing = !body.empty() && body.back() == '\\';
        if (continuing) {
            body.pop_back();
        }
        current.text += body + " ";
        if (!continuing) {
            if (!detail::trim(current.text, detail::ascii_spaces).empty()) {
                out.push_back(current);
            }
        }
    }
    if (continuing && !detail::trim(current.text, detail::ascii_spaces).empty()) {
        out.push_back(current);
    }
    return out;
}

/// Whitespace-separated words (a marker's quoted strings may hold spaces: they are only
/// read back as part of the requirement text, which is re-joined).
std::vector<std::string> words(std::string_view text) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) {
            ++i;
        }
        std::size_t start = i;
        char quote = 0;
        while (i < text.size() && (quote || !std::isspace(static_cast<unsigned char>(text[i])))) {
            if (quote && text[i] == quote) {
                quote = 0;
            } else if (!quote && (text[i] == '"' || text[i] == '\'')) {
                quote = text[i];
            }
            ++i;
        }
        if (i > start) {
            out.emplace_back(text.substr(start, i - start));
        }
    }
    return out;
}

bool name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

class Parser {
public:
    Parser(const fs::path& file, std::string display, Requirements& out, int depth)
        : file_(file), display_(std::move(display)), out_(out), depth_(depth) {}

    void parse(std::string_view text) {
        for (const Line& line : logical_lines(text)) {
            parse_line(line);
        }
    }

private:
    SourceLocation at(const Line& line, std::string_view needle = {}) const {
        std::size_t col = needle.empty() ? std::string::npos : line.first.find(needle);
        if (col == std::string::npos) {
            col = line.first.find_first_not_of(" \t");
            if (col == std::string::npos) {
                col = 0;
            }
        }
        return {display_, line.number, static_cast<std::uint32_t>(col + 1)};
    }

    [[noreturn]] void fail(const Line& line, std::string_view needle, std::string summary,
                           std::string hint = {}) const {
        throw RecipeError(ErrorKind::recipe, at(line, needle), std::move(summary), std::move(hint));
    }

    /// The value of an option written `--opt value` or `--opt=value`.
    std::string option_value(const Line& line, std::vector<std::string>& w, std::size_t& i) const {
        std::string& word = w[i];
        std::size_t eq = word.find('=');
        if (word.starts_with("--") && eq != std::string::npos) {
            return word.substr(eq + 1);
        }
        if (!word.starts_with("--") && word.size() > 2) {
            return word.substr(2); // -ihttps://...
        }
        if (i + 1 >= w.size()) {
            fail(line, word, "option '" + word + "' needs a value");
        }
        return w[++i];
    }

    void parse_line(const Line& line) {
        std::vector<std::string> w = words(line.text);
        if (w[0].starts_with("-")) {
            parse_options(line, w);
            return;
        }
        // The requirement runs up to the first option.
        std::size_t first_option = w.size();
        for (std::size_t i = 0; i < w.size(); ++i) {
            if (w[i].starts_with("--") || w[i] == "-i") {
                first_option = i;
                break;
            }
        }
        std::string spec;
        for (std::size_t i = 0; i < first_option; ++i) {
            spec += (spec.empty() ? "" : " ") + w[i];
        }
        Requirement r = parse_spec(line, spec);
        for (std::size_t i = first_option; i < w.size(); ++i) {
            std::string name = w[i].substr(0, w[i].find('='));
            if (name == "--hash") {
                std::string value = option_value(line, w, i);
                if (!value.starts_with("sha256:")) {
                    fail(line, value,
                         "'--hash=" + value + "' is not a sha256 hash; ocibake checks sha256",
                         hashed_lock_hint);
                }
                Digest d = Digest::try_parse(value);
                if (!d) {
                    fail(line, value, "'" + value + "' is not a sha256 digest (64 hex digits)");
                }
                r.hashes.push_back(d);
            } else if (name == "--config-settings" || name == "--global-option" ||
                       name == "--install-option") {
                fail(line, w[i],
                     "'" + name + "' is for building from source; ocibake installs wheels");
            } else {
                fail(line, w[i], "unknown option '" + w[i] + "' after a requirement",
                     "only --hash=sha256:<hex> may follow a requirement");
            }
        }
        if (r.url.size() > 0) {
            std::size_t frag = r.url.find("#sha256=");
            if (frag != std::string::npos) {
                Digest d = Digest::try_parse("sha256:" + r.url.substr(frag + 8));
                if (d && std::find(r.hashes.begin(), r.hashes.end(), d) == r.hashes.end()) {
                    r.hashes.push_back(d);
                }
            }
        }
        if (r.hashes.empty()) {
            fail(line, {},
                 "requirement '" + spec +
                     "' has no --hash; ocibake installs only hashed requirements",
                 hashed_lock_hint);
        }
        out_.items.push_back(std::move(r));
    }

    Requirement parse_spec(const Line& line, const std::string& spec) {
        Requirement r;
        r.where = at(line);
        std::string body = spec;
        // Marker: after ';' (for URLs, a ';' preceded by whitespace).
        std::size_t semi = std::string::npos;
        for (std::size_t i = 0; i < body.size(); ++i) {
            if (body[i] == ';' &&
                (body.find('@') == std::string::npos || (i > 0 && space(body[i - 1])))) {
                semi = i;
                break;
            }
        }
        if (semi != std::string::npos) {
            r.marker = detail::trim(body.substr(semi + 1), detail::ascii_spaces);
            body = detail::trim(body.substr(0, semi), detail::ascii_spaces);
            if (r.marker.empty()) {
                fail(line, ";", "empty environment marker after ';'");
            }
        }
        if (body.starts_with("http://") || body.starts_with("https://") ||
            body.starts_with("file:")) {
            fail(line, body, "direct URL '" + body + "' has no name",
                 "write it as 'name @ " + body + "'");
        }
        std::size_t i = 0;
        while (i < body.size() && name_char(body[i])) {
            ++i;
        }
        r.name = body.substr(0, i);
        if (r.name.empty()) {
            fail(line, {}, "'" + spec + "' is not a requirement");
        }
        std::string rest(detail::trim(body.substr(i), detail::ascii_spaces));
        if (rest.starts_with("[")) {
            std::size_t close = rest.find(']');
            if (close == std::string::npos) {
                fail(line, "[", "unclosed '[' of extras in '" + spec + "'");
            }
            rest = detail::trim(rest.substr(close + 1),
                                detail::ascii_spaces); // extras: their packages are in the lock too
        }
        if (rest.starts_with("@")) {
            r.url = detail::trim(rest.substr(1), detail::ascii_spaces);
            if (r.url.empty()) {
                fail(line, "@", "'" + spec + "' has '@' but no URL");
            }
            return r;
        }
        std::string op = rest.starts_with("===") ? "===" : rest.substr(0, 2);
        std::string version(detail::trim(rest.substr(op.size()), detail::ascii_spaces));
        if ((op != "==" && op != "===") || version.empty() ||
            version.find_first_of(",<>!=~*") != std::string::npos) {
            fail(line, {}, "requirement '" + spec + "' is not pinned to one version with '=='",
                 hashed_lock_hint);
        }
        r.version = version;
        return r;
    }

    void parse_options(const Line& line, std::vector<std::string>& w) {
        for (std::size_t i = 0; i < w.size(); ++i) {
            std::string word = w[i];
            std::string name = word.substr(0, word.find('='));
            if (name.starts_with("-i") && !name.starts_with("--")) {
                name = "-i";
            }
            if (name.starts_with("-r") && !name.starts_with("--")) {
                name = "-r";
            }
            if (name == "-i" || name == "--index-url") {
                out_.index_url = option_value(line, w, i);
            } else if (name == "--extra-index-url") {
                out_.extra_index_urls.push_back(option_value(line, w, i));
            } else if (name == "--trusted-host") {
                out_.trusted_hosts.push_back(option_value(line, w, i));
            } else if (name == "-r" || name == "--requirement") {
                std::string other = option_value(line, w, i);
                include(line, other);
            } else if (name == "--require-hashes" || name == "--only-binary" ||
                       name == "--prefer-binary" || name == "--pre" || name == "--no-deps") {
                if (name == "--only-binary") {
                    option_value(line, w, i);
                }
                // Implied: ocibake installs hashed wheels only, exactly as locked.
            } else if (name == "--hash") {
                fail(line, word, "'--hash' must follow a requirement on its line",
                     "end the requirement's line with ' \\' to continue it");
            } else if (name == "-e" || name == "--editable") {
                fail(line, word, "editable requirements cannot be installed into an image",
                     "build a wheel of the project and list it with its hash");
            } else if (name == "-c" || name == "--constraint" || name == "-f" ||
                       name == "--find-links" || name == "--no-index" || name == "--no-binary") {
                fail(line, word, "option '" + name + "' is not supported by ocibake",
                     hashed_lock_hint);
            } else {
                fail(line, word, "unknown option '" + word + "'");
            }
        }
    }

    void include(const Line& line, const std::string& other) {
        if (depth_ > 16) {
            fail(line, other, "-r includes nest too deeply (a cycle?)");
        }
        fs::path path = (file_.parent_path() / other).lexically_normal();
        std::string display =
            (fs::path(display_).parent_path() / other).lexically_normal().string();
        std::string text;
        try {
            text = detail::read_file(path, ErrorKind::input, 64 << 20);
        } catch (const Error& e) {
            throw RecipeError(ErrorKind::input, at(line, other),
                              "cannot read -r " + other + ": " + e.what());
        }
        Parser(path, display, out_, depth_ + 1).parse(text);
    }

    fs::path file_;
    std::string display_;
    Requirements& out_;
    int depth_;
};

} // namespace

Requirements parse_requirements(std::string_view text, const fs::path& file,
                                const std::string& display) {
    Requirements out;
    Parser(file, display, out, 0).parse(text);
    return out;
}

Requirements read_requirements(const fs::path& file, const std::string& display) {
    std::string text;
    try {
        text = detail::read_file(file, ErrorKind::input, 64 << 20);
    } catch (const Error& e) {
        throw RecipeError(ErrorKind::input, SourceLocation{display, 0, 0},
                          std::string("cannot read requirements: ") + e.what());
    }
    return parse_requirements(text, file, display);
}

} // namespace ocibake::python
