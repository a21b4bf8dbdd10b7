// The WWW-Authenticate challenge and what a bearer token grants (see auth.hpp).
#include "registry/auth.hpp"
#include "common/libcrypto.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <cctype>

namespace ocibake::registry::auth {

Challenge parse_challenge(std::string_view header) {
    Challenge out;
    auto sp = header.find(' ');
    out.scheme = std::string(header.substr(0, sp));
    for (char& c : out.scheme) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    std::size_t i = sp == std::string_view::npos ? header.size() : sp + 1;
    while (i < header.size()) {
        while (i < header.size() && (header[i] == ' ' || header[i] == ',')) {
            ++i;
        }
        auto eq = header.find('=', i);
        if (eq == std::string_view::npos) {
            break;
        }
        std::string key(header.substr(i, eq - i));
        std::string value;
        i = eq + 1;
        if (i < header.size() && header[i] == '"') {
            ++i;
            while (i < header.size() && header[i] != '"') {
                if (header[i] == '\\' && i + 1 < header.size()) {
                    ++i;
                }
                value += header[i++];
            }
            ++i;
        } else {
            auto end = header.find(',', i);
            value = std::string(
                header.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i));
            i = end == std::string_view::npos ? header.size() : end;
        }
        out.params[key] = value;
    }
    return out;
}

namespace {

// base64url without padding (a JWT's parts) -> bytes; nullopt when it is not that.
std::optional<std::string> base64url_decode(std::string_view text) {
    std::string b64(text);
    for (char& c : b64) {
        if (c == '-') {
            c = '+';
        } else if (c == '_') {
            c = '/';
        } else if (!std::isalnum(static_cast<unsigned char>(c))) {
            return std::nullopt;
        }
    }
    std::size_t pad = (4 - b64.size() % 4) % 4;
    if (pad == 3) {
        return std::nullopt;
    }
    b64.append(pad, '=');
    std::string out(b64.size() / 4 * 3 + 3, '\0');
    int n = libcrypto().EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                        reinterpret_cast<const unsigned char*>(b64.data()),
                                        static_cast<int>(b64.size()));
    if (n < 0 || static_cast<std::size_t>(n) < pad) {
        return std::nullopt;
    }
    out.resize(static_cast<std::size_t>(n) - pad);
    return out;
}

} // namespace

std::optional<bool> token_grants(std::string_view token, std::string_view repository,
                                 std::string_view action) {
    auto first = token.find('.');
    auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
    if (second == std::string_view::npos || token.size() > (64u << 10)) {
        return std::nullopt; // not a JWT
    }
    auto claims_text = base64url_decode(token.substr(first + 1, second - first - 1));
    if (!claims_text) {
        return std::nullopt;
    }
    nlohmann::json claims = nlohmann::json::parse(*claims_text, nullptr, false);
    if (!claims.is_object()) {
        return std::nullopt;
    }
    auto access = claims.find("access");
    if (access == claims.end() || !access->is_array()) {
        return std::nullopt;
    }
    for (const auto& entry : *access) {
        if (!entry.is_object()) {
            continue;
        }
        auto type = entry.find("type");
        auto name = entry.find("name");
        auto actions = entry.find("actions");
        if (type == entry.end() || *type != "repository" || name == entry.end() ||
            !name->is_string() || name->get<std::string>() != repository ||
            actions == entry.end() || !actions->is_array()) {
            continue;
        }
        for (const auto& a : *actions) {
            if (a.is_string() && (a.get<std::string>() == action || a.get<std::string>() == "*")) {
                return true;
            }
        }
    }
    return false;
}

} // namespace ocibake::registry::auth
