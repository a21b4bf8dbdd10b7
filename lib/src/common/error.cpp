#include "ocibake/error.hpp"

#include "common/fs.hpp"
#include "common/names.hpp"
#include "common/text.hpp"

#include <cerrno>
#include <string>
#include <string_view>
#include <unistd.h>

namespace ocibake {

namespace {

/// Each kind's name (in messages and --json) and the exit code it ends the CLI with.
struct KindRow {
    ErrorKind value;
    const char* name;
    int exit_code;
};

constexpr KindRow error_kinds[] = {
    {ErrorKind::usage, "usage", 2},         {ErrorKind::recipe, "recipe", 3},
    {ErrorKind::input, "input", 4},         {ErrorKind::io, "io", 5},
    {ErrorKind::integrity, "integrity", 6}, {ErrorKind::runtime, "runtime", 8},
    {ErrorKind::internal, "internal", 1},   {ErrorKind::interrupted, "interrupted", 130},
};

} // namespace

int exit_code_for(ErrorKind kind) noexcept {
    const KindRow* row = detail::row_of(error_kinds, kind);
    return row ? row->exit_code : 1;
}

const char* to_string(ErrorKind kind) noexcept {
    const KindRow* row = detail::row_of(error_kinds, kind);
    return row ? row->name : "internal";
}

std::string SourceLocation::str() const {
    if (line == 0) {
        return file;
    }
    return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

namespace {

/// Line `number` (1-based) of `file`, tabs kept, '\r' dropped: at most `keep` bytes of it
/// (`cut` set when the line is longer). Empty when unavailable: a file that is gone or not
/// a regular file (a FIFO is never opened for reading in a way that could block).
std::string source_line(const std::string& file, std::uint32_t number, std::size_t keep,
                        bool& cut) {
    cut = false;
    std::string why;
    detail::UniqueFd fd = detail::open_regular(file, why);
    if (!fd) {
        return {};
    }
    std::string text;
    std::uint32_t line = 1;
    char buffer[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break; // end of file, or an error: what was read is kept
        }
        for (std::string_view rest(buffer, static_cast<std::size_t>(n)); !rest.empty();) {
            std::size_t newline = rest.find('\n');
            std::string_view part = rest.substr(0, newline);
            if (line == number) {
                std::size_t room = keep > text.size() ? keep - text.size() : 0;
                if (part.size() > room) {
                    cut = true;
                }
                text.append(part.substr(0, room));
                if (newline != std::string_view::npos || cut) {
                    if (!cut && !text.empty() && text.back() == '\r') {
                        text.pop_back();
                    }
                    return text;
                }
            }
            if (newline == std::string_view::npos) {
                break;
            }
            ++line;
            rest.remove_prefix(newline + 1);
        }
    }
    if (line != number) {
        return {};
    }
    if (!text.empty() && text.back() == '\r') {
        text.pop_back();
    }
    return text;
}

/// How many code points of a long source line a diagnostic quotes, around the column.
constexpr std::size_t excerpt_width = 120;

std::string format_diagnostic(const SourceLocation& where, const std::string& summary,
                              const std::string& hint) {
    std::string out;
    if (where.known()) {
        out += detail::printable(where.str(), 4096) + ": ";
    }
    out += "error: " + detail::printable_message(summary);
    if (where.known() && where.line > 0) {
        // A code point takes at most 4 bytes: enough of the line for the window.
        std::size_t keep = 4 * (static_cast<std::size_t>(where.column) + excerpt_width) + 64;
        bool cut = false;
        std::string text = source_line(where.file, where.line, keep, cut);
        if (!text.empty()) {
            detail::Excerpt shown = detail::excerpt(text, where.column, cut, excerpt_width);
            std::string number = std::to_string(where.line);
            out += "\n " + number + " | " + shown.text + "\n " + std::string(number.size(), ' ') +
                   " | " + shown.caret;
        }
    }
    if (!hint.empty()) {
        out += "\nhint: " + detail::printable_message(hint);
    }
    return out;
}

} // namespace

RecipeError::RecipeError(ErrorKind kind, SourceLocation where, std::string summary,
                         std::string hint)
    : Error(kind, format_diagnostic(where, summary, hint)), where_(std::move(where)),
      summary_(std::move(summary)), hint_(std::move(hint)) {}

} // namespace ocibake

#include "ocibake/version.hpp"

namespace ocibake {

const char* version() noexcept {
    return OCIBAKE_VERSION;
}

} // namespace ocibake
