#include "ocibake/error.hpp"

#include <fstream>
#include <string>

namespace ocibake {

int exit_code_for(ErrorKind kind) noexcept {
    switch (kind) {
    case ErrorKind::usage:
        return 2;
    case ErrorKind::recipe:
        return 3;
    case ErrorKind::input:
        return 4;
    case ErrorKind::io:
        return 5;
    case ErrorKind::integrity:
        return 6;
    case ErrorKind::runtime:
        return 8;
    case ErrorKind::internal:
        return 1;
    }
    return 1;
}

const char* to_string(ErrorKind kind) noexcept {
    switch (kind) {
    case ErrorKind::usage:
        return "usage";
    case ErrorKind::recipe:
        return "recipe";
    case ErrorKind::input:
        return "input";
    case ErrorKind::io:
        return "io";
    case ErrorKind::integrity:
        return "integrity";
    case ErrorKind::runtime:
        return "runtime";
    case ErrorKind::internal:
        return "internal";
    }
    return "internal";
}

std::string SourceLocation::str() const {
    if (line == 0) {
        return file;
    }
    return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

namespace {

// The text of line `number` (1-based) of `file`, tabs kept; "" when unavailable.
std::string source_line(const std::string& file, std::uint32_t number) {
    std::ifstream in(file, std::ios::binary);
    std::string text;
    for (std::uint32_t i = 0; i < number && std::getline(in, text); ++i) {
    }
    if (!in && !in.eof()) {
        return {};
    }
    if (!text.empty() && text.back() == '\r') {
        text.pop_back();
    }
    return text;
}

std::string format_diagnostic(const SourceLocation& where, const std::string& summary,
                              const std::string& hint) {
    std::string out;
    if (where.known()) {
        out += where.str() + ": ";
    }
    out += "error: " + summary;
    if (where.known() && where.line > 0) {
        std::string text = source_line(where.file, where.line);
        if (!text.empty()) {
            std::string number = std::to_string(where.line);
            out += "\n " + number + " | " + text + "\n " + std::string(number.size(), ' ') + " | ";
            // Keep tabs so the caret lines up under the column in a terminal.
            for (std::uint32_t i = 1; i < where.column && i <= text.size(); ++i) {
                out += text[i - 1] == '\t' ? '\t' : ' ';
            }
            out += '^';
        }
    }
    if (!hint.empty()) {
        out += "\nhint: " + hint;
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
