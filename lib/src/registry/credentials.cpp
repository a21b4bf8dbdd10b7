// Where docker, podman and skopeo keep registry credentials, read the way they read them.
#include "common/fs.hpp"
#include "common/libcrypto.hpp"
#include "common/process.hpp"
#include "ocibake/registry.hpp"
#include "registry/auth.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <cstdlib>

namespace ocibake::registry {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// The registry an auths key names: "https://index.docker.io/v1/" -> "docker.io".
std::string normalize_key(std::string key) {
    if (auto scheme = key.find("://"); scheme != std::string::npos) {
        key = key.substr(scheme + 3);
    }
    key = key.substr(0, key.find('/'));
    if (key == "index.docker.io" || key == "registry-1.docker.io") {
        key = "docker.io";
    }
    return key;
}

std::string base64_decode(const std::string& text, const std::string& where) {
    std::string out(text.size() * 3 / 4 + 3, '\0');
    int n = libcrypto().EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                        reinterpret_cast<const unsigned char*>(text.data()),
                                        static_cast<int>(text.size()));
    if (n < 0) {
        throw Error(ErrorKind::input, where + ": an \"auth\" value is not valid base64");
    }
    // EVP_DecodeBlock counts the padding as zero bytes.
    std::size_t pad = 0;
    for (std::size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) {
        ++pad;
    }
    out.resize(static_cast<std::size_t>(n) - pad);
    return out;
}

std::vector<fs::path> auth_files(const Options& options) {
    if (!options.auth_file.empty()) {
        return {options.auth_file};
    }
    std::vector<fs::path> files;
    if (const char* f = std::getenv("REGISTRY_AUTH_FILE"); f && *f) {
        files.emplace_back(f);
    }
    if (const char* d = std::getenv("XDG_RUNTIME_DIR"); d && *d) {
        files.push_back(fs::path(d) / "containers" / "auth.json");
    }
    if (const char* d = std::getenv("DOCKER_CONFIG"); d && *d) {
        files.push_back(fs::path(d) / "config.json");
    }
    if (const char* h = std::getenv("HOME"); h && *h) {
        files.push_back(fs::path(h) / ".docker" / "config.json");
    }
    return files;
}

// Runs `docker-credential-<helper> get` with the server on stdin.
std::optional<Credentials> from_helper(const std::string& helper, const std::string& server) {
    std::string program = "docker-credential-" + helper;
    std::string why;
    std::optional<detail::ProgramResult> run =
        detail::try_run_program({program, "get"}, server, why);
    // 127: a shell's "command not found", from a helper that is a wrapper script.
    if (!run || run->exit_code == 127) {
        throw Error(ErrorKind::input, "credential helper " + program +
                                          " is not installed (named for " + server +
                                          " in the docker config)");
    }
    if (run->exit_code != 0) {
        return std::nullopt; // "credentials not found": anonymous
    }
    const std::string& reply = run->out;
    try {
        json j = json::parse(reply);
        Credentials c;
        c.username = j.value("Username", "");
        std::string secret = j.value("Secret", "");
        if (c.username == "<token>") {
            c.identity_token = secret;
            c.username.clear();
        } else {
            c.password = secret;
        }
        return c;
    } catch (const json::exception&) {
        throw Error(ErrorKind::input,
                    "credential helper " + program + " gave an answer that is not JSON");
    }
}

} // namespace

namespace auth {

AuthEntry lookup_auth_file(std::string_view text, std::string_view registry,
                           const std::string& origin) {
    AuthEntry out;
    std::string want = normalize_key(std::string(registry));
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception&) {
        throw Error(ErrorKind::input, "auth file " + origin + " is not valid JSON");
    }
    if (!j.is_object()) {
        return out;
    }
    if (auto helpers = j.find("credHelpers"); helpers != j.end() && helpers->is_object()) {
        for (const auto& [key, helper] : helpers->items()) {
            if (normalize_key(key) == want && helper.is_string()) {
                out.helper = helper.get<std::string>();
                out.helper_server = key;
                out.helper_decides = true;
                return out;
            }
        }
    }
    if (auto auths = j.find("auths"); auths != j.end() && auths->is_object()) {
        for (const auto& item : auths->items()) {
            // (not a structured binding: clang 14 cannot capture one in a lambda)
            const std::string& key = item.key();
            const nlohmann::json& entry = item.value();
            if (normalize_key(key) != want || !entry.is_object()) {
                continue;
            }
            auto text_of = [&entry](const char* name) {
                auto it = entry.find(name);
                return it != entry.end() && it->is_string() ? it->get<std::string>()
                                                            : std::string();
            };
            Credentials c;
            c.identity_token = text_of("identitytoken");
            std::string auth = text_of("auth");
            if (!auth.empty()) {
                std::string plain = base64_decode(auth, origin);
                auto colon = plain.find(':');
                if (colon == std::string::npos) {
                    throw Error(ErrorKind::input, origin + ": the \"auth\" for " + key +
                                                      " is not base64 of user:password");
                }
                c.username = plain.substr(0, colon);
                c.password = plain.substr(colon + 1);
            } else {
                c.username = text_of("username");
                c.password = text_of("password");
            }
            if (!c.username.empty() || !c.identity_token.empty()) {
                out.credentials = c;
                return out;
            }
        }
    }
    if (auto store = j.find("credsStore"); store != j.end() && store->is_string()) {
        out.helper = store->get<std::string>();
        out.helper_server = want == "docker.io" ? "https://index.docker.io/v1/" : want;
    }
    return out;
}

} // namespace auth

std::optional<Credentials> find_credentials(std::string_view registry, const Options& options) {
    if (options.creds) {
        return options.creds;
    }
    for (const fs::path& file : auth_files(options)) {
        std::error_code ec;
        if (!fs::exists(file, ec)) {
            if (!options.auth_file.empty()) {
                throw Error(ErrorKind::input, "auth file " + file.string() + " does not exist");
            }
            continue;
        }
        auth::AuthEntry entry = auth::lookup_auth_file(
            detail::read_file(file, ErrorKind::input, 4 << 20), registry, file.string());
        if (entry.credentials) {
            return entry.credentials;
        }
        if (!entry.helper.empty()) {
            auto c = from_helper(entry.helper, entry.helper_server);
            if (c || entry.helper_decides) {
                return c;
            }
        }
    }
    return std::nullopt;
}

} // namespace ocibake::registry
