// Internal: the registry's `WWW-Authenticate` header, parsed (client.cpp uses it; the
// fuzz target reaches it without a network).
#pragma once

#include <map>
#include <string>
#include <utility>

namespace ocibake::registry {

/// `Bearer realm="...",service="...",scope="..."` -> the scheme in lower case and the
/// parameters (quoted values unescaped).
std::pair<std::string, std::map<std::string, std::string>>
parse_challenge(const std::string& header);

} // namespace ocibake::registry
