// The parsers of credentials-related text, on strings: the WWW-Authenticate challenge,
// a bearer token's grants, and the auth file entry for a registry (fuzzed too).
#include "registry/auth.hpp"

#include <catch2/catch.hpp>
#include <openssl/evp.h>

#include <string>

using namespace ocibake::registry;

namespace {

std::string base64url(const std::string& text) {
    std::string out(4 * ((text.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(text.data()),
                            static_cast<int>(text.size()));
    out.resize(static_cast<std::size_t>(n));
    while (!out.empty() && out.back() == '=') {
        out.pop_back();
    }
    for (char& c : out) {
        c = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    return out;
}

std::string jwt(const std::string& claims) {
    return base64url(R"({"alg":"RS256","typ":"JWT"})") + "." + base64url(claims) + ".c2ln";
}

} // namespace

TEST_CASE("WWW-Authenticate: scheme and parameters, quoted or not") {
    auto c = auth::parse_challenge(
        R"(Bearer realm="https://auth.example/token",service="registry.example",)"
        R"(scope="repository:team/app:pull,push",error="insufficient_scope")");
    CHECK(c.scheme == "bearer");
    CHECK(c.params["realm"] == "https://auth.example/token");
    CHECK(c.params["service"] == "registry.example");
    CHECK(c.params["scope"] == "repository:team/app:pull,push");
    CHECK(c.params["error"] == "insufficient_scope");

    auto basic = auth::parse_challenge("Basic realm=ocibake-test, charset=\"UTF-8\"");
    CHECK(basic.scheme == "basic");
    CHECK(basic.params["realm"] == "ocibake-test");
    CHECK(basic.params["charset"] == "UTF-8");

    CHECK(auth::parse_challenge(R"(Bearer realm="a\"b")").params["realm"] == "a\"b");
    // Anything at all: no throw, what is not a parameter skipped.
    for (const char* text : {"", "Bearer", "Bearer ", "Bearer =", "Bearer realm=\"", "Bearer \\",
                             "Bearer a=\"\\", ",,,", "Bearer realm"}) {
        CHECK_NOTHROW(auth::parse_challenge(text));
    }
}

TEST_CASE("a bearer token's grants, from its claims") {
    std::string both = jwt(R"({"access":[{"type":"repository","name":"team/app",)"
                           R"("actions":["pull","push"]}]})");
    std::string pull = jwt(R"({"access":[{"type":"repository","name":"team/app",)"
                           R"("actions":["pull"]}]})");
    CHECK(auth::token_grants(both, "team/app", "push") == true);
    CHECK(auth::token_grants(pull, "team/app", "push") == false);
    CHECK(auth::token_grants(pull, "team/app", "pull") == true);
    CHECK(auth::token_grants(both, "team/other", "push") == false);
    CHECK(
        auth::token_grants(jwt(R"({"access":[{"type":"repository","name":"x","actions":["*"]}]})"),
                           "x", "push") == true);
    // Tokens that do not say: opaque, not base64, not JSON, no access claim.
    CHECK_FALSE(auth::token_grants("opaque-token", "team/app", "push").has_value());
    CHECK_FALSE(auth::token_grants("a.!!!.b", "team/app", "push").has_value());
    CHECK_FALSE(auth::token_grants(jwt("not json"), "team/app", "push").has_value());
    CHECK_FALSE(auth::token_grants(jwt(R"({"sub":"x"})"), "team/app", "push").has_value());
    CHECK(auth::token_grants(jwt(R"({"access":[1,{"type":2},{"name":"team/app"}]})"), "team/app",
                             "push") == false);
}

TEST_CASE("auth files: credHelpers, auths, credsStore, as docker reads them") {
    auto helper = auth::lookup_auth_file(
        R"({"credHelpers":{"registry.example":"pass"},"auths":{"registry.example":{"auth":"dTpw"}}})",
        "registry.example", "config.json");
    CHECK(helper.helper == "pass");
    CHECK(helper.helper_server == "registry.example");
    CHECK(helper.helper_decides);
    CHECK_FALSE(helper.credentials);

    auto basic =
        auth::lookup_auth_file(R"({"auths":{"https://index.docker.io/v1/":{"auth":"dTpwOnc="}}})",
                               "docker.io", "config.json");
    REQUIRE(basic.credentials);
    CHECK(basic.credentials->username == "u");
    CHECK(basic.credentials->password == "p:w");

    auto token = auth::lookup_auth_file(R"({"auths":{"r.example":{"identitytoken":"t0k"}}})",
                                        "r.example", "f");
    REQUIRE(token.credentials);
    CHECK(token.credentials->identity_token == "t0k");

    auto store = auth::lookup_auth_file(R"({"auths":{},"credsStore":"desktop"})", "docker.io", "f");
    CHECK(store.helper == "desktop");
    CHECK(store.helper_server == "https://index.docker.io/v1/");
    CHECK_FALSE(store.helper_decides);

    // Values of the wrong type are not credentials; nothing found is not an error.
    auto odd = auth::lookup_auth_file(R"({"auths":{"r.example":{"auth":5,"username":[]}}})",
                                      "r.example", "f");
    CHECK_FALSE(odd.credentials);
    CHECK(odd.helper.empty());
    CHECK_FALSE(auth::lookup_auth_file("[]", "r", "f").credentials);

    CHECK_THROWS_WITH(auth::lookup_auth_file("{", "r", "/home/u/.docker/config.json"),
                      "auth file /home/u/.docker/config.json is not valid JSON");
    CHECK_THROWS_WITH(
        auth::lookup_auth_file(R"({"auths":{"r":{"auth":"bm9jb2xvbg=="}}})", "r", "f"),
        "f: the \"auth\" for r is not base64 of user:password");
}
