// Parsers of what registries and auth files say about credentials, callable on a string
// (the fuzz targets call them so): the WWW-Authenticate challenge, a bearer token's grants,
// and the docker config.json / containers auth.json entry for a registry.
#pragma once

#include "ocibake/registry.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace ocibake::registry::auth {

/// A WWW-Authenticate challenge: `Bearer realm="...",service="...",scope="...",error="..."`.
struct Challenge {
    std::string scheme; ///< lower-cased: "bearer", "basic"
    std::map<std::string, std::string> params;
};

/// Any text: never throws; what is not a parameter is skipped.
Challenge parse_challenge(std::string_view header);

/// Whether a bearer token grants `action` ("push") on repository `repository`, read from
/// its claims when it is a JWT (docker's token services hand those out; the "access" claim
/// lists each resource's actions). nullopt when the token does not say. Never throws.
std::optional<bool> token_grants(std::string_view token, std::string_view repository,
                                 std::string_view action);

/// What an auth file says for one registry.
struct AuthEntry {
    std::optional<Credentials> credentials; ///< from "auths"
    std::string helper;          ///< a credential helper to ask ("credHelpers", "credsStore")
    std::string helper_server;   ///< what to ask the helper for
    bool helper_decides = false; ///< "credHelpers": its answer, even none, is the last word
};

/// Looks `registry` up in the text of a docker config.json / containers auth.json
/// ("credHelpers", then "auths", then "credsStore"), as docker does. Error(input) naming
/// `origin` when the text is not JSON or an "auth" value is not base64 of user:password.
AuthEntry lookup_auth_file(std::string_view text, std::string_view registry,
                           const std::string& origin);

} // namespace ocibake::registry::auth
