// Internal: the text of dpkg's database (/var/lib/dpkg): status stanzas, .list files,
// diversions.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ocibake::apt::detail {

/// The non-empty lines of `text`.
std::vector<std::string> lines_of(const std::string& text);

/// "Name: value\n"; a value whose first line is empty (it starts with '\n') is written
/// "Name:\n continuation".
std::string field_text(const std::string& key, const std::string& value);

/// The dpkg status stanza of an installed package: `Package:`, `Status: install ok
/// installed`, the control file's other fields in order, and `Conffiles:` (each conffile
/// with its md5) before `Description:`.
std::string stanza_text(const std::string& name,
                        const std::vector<std::pair<std::string, std::string>>& fields,
                        const std::map<std::string, std::string>& conffile_md5s);

/// Splits a status file into stanzas keyed like dpkg's database (name, or name:arch for
/// Multi-Arch: same), each ending in "\n".
std::map<std::string, std::string> stanzas_of(const std::string& status);

/// A diversion in the image below (dpkg-divert): `from` is installed as `to`, except by
/// the diverting package.
struct Diversion {
    std::string to, by;
};

/// /var/lib/dpkg/diversions: three lines per diversion (from, to, by), keyed by `from`.
std::map<std::string, Diversion> diversions_of(const std::string& text);

} // namespace ocibake::apt::detail
