// ocibake: the one error model of the library.
//
// Every failure the library reports is an ocibake::Error (or a subclass). Its kind
// decides the CLI's exit code and whether a caller may retry; its message already names
// the object at fault (recipe file:line:col, path, digest, URL).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace ocibake {

/// What went wrong, coarsely. Stable: the CLI maps each kind to a documented exit code.
enum class ErrorKind {
    usage,       ///< bad command-line use or API misuse (exit 2)
    recipe,      ///< the recipe or a fragment is malformed or inconsistent (exit 3)
    input,       ///< an input named by the recipe is missing, unreadable or unsafe (exit 4)
    io,          ///< reading or writing the output, the cache or a temp file failed (exit 5)
    integrity,   ///< bytes do not match their digest, or a format is corrupt (exit 6)
    runtime,     ///< no usable OCI runtime, or the host's GPU setup is broken (exit 8)
    internal,    ///< a bug or an unexpected library failure (exit 1)
    interrupted, ///< stopped by SIGINT, SIGTERM or SIGHUP (exit 128 + the signal; 130 if unknown)
};

/// Exit code the CLI uses for an error of this kind (documented in docs/cli.md).
int exit_code_for(ErrorKind kind) noexcept;

/// Name of the kind, as printed in `--json` reports ("recipe", "input", ...).
const char* to_string(ErrorKind kind) noexcept;

/// Base of every exception the library throws on purpose.
class Error : public std::runtime_error {
public:
    Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
    ErrorKind kind() const noexcept { return kind_; }

private:
    ErrorKind kind_;
};

/// A position in a recipe file (1-based line and column; 0 = unknown).
struct SourceLocation {
    std::string file;
    std::uint32_t line = 0;
    std::uint32_t column = 0;

    bool known() const noexcept { return !file.empty(); }
    /// "file:line:col" (or just "file" when the position is unknown).
    std::string str() const;
};

/// An error located in a recipe. what() is the full, printable diagnostic:
///
///     recipe.toml:12:1: error: unknown key 'entrypont' in [config]
///        12 | entrypont = ["/bin/sh"]
///           | ^
///     hint: did you mean 'entrypoint'?
///
/// summary() is the first line without the location, hint() the hint alone.
class RecipeError : public Error {
public:
    RecipeError(ErrorKind kind, SourceLocation where, std::string summary, std::string hint = {});
    const SourceLocation& where() const noexcept { return where_; }
    const std::string& summary() const noexcept { return summary_; }
    const std::string& hint() const noexcept { return hint_; }

private:
    SourceLocation where_;
    std::string summary_;
    std::string hint_;
};

} // namespace ocibake
