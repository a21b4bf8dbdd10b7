// Signature checks with gpgv (as apt does it).
#include "apt/internal.hpp"
#include "common/fs.hpp"

namespace ocibake::apt::detail {

namespace fs = std::filesystem;

std::string clearsigned_text(std::string_view message) {
    constexpr std::string_view begin = "-----BEGIN PGP SIGNED MESSAGE-----";
    constexpr std::string_view sig = "\n-----BEGIN PGP SIGNATURE-----";
    std::size_t start = message.find(begin);
    if (start == std::string_view::npos) {
        return std::string(message); // not clearsigned: the text itself
    }
    // Armor headers ("Hash: SHA512") end at the first empty line.
    std::size_t body = message.find("\n\n", start);
    std::size_t end = message.find(sig, start);
    if (body == std::string_view::npos || end == std::string_view::npos || end < body) {
        return {};
    }
    std::string_view text = message.substr(body + 2, end - body - 2);
    std::string out;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        std::size_t nl = text.find('\n', pos);
        std::string_view line =
            text.substr(pos, nl == std::string_view::npos ? text.size() - pos : nl - pos);
        if (line.starts_with("- ")) {
            line.remove_prefix(2);
        }
        out += line;
        out += '\n';
        if (nl == std::string_view::npos) {
            break;
        }
        pos = nl + 1;
    }
    return out;
}

std::optional<std::string> dearmor(std::string_view text) {
    std::size_t begin = text.find("-----BEGIN PGP PUBLIC KEY BLOCK-----");
    if (begin == std::string_view::npos) {
        return std::nullopt;
    }
    std::size_t body = text.find("\n\n", begin);
    if (body == std::string_view::npos) {
        // Some tools write no blank line when there are no armor headers.
        body = text.find('\n', begin);
        if (body == std::string_view::npos) {
            return std::nullopt;
        }
        body -= 1;
    }
    std::size_t end = text.find("-----END PGP PUBLIC KEY BLOCK-----", body);
    if (end == std::string_view::npos) {
        return std::nullopt;
    }
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') {
            return c - 'A';
        }
        if (c >= 'a' && c <= 'z') {
            return c - 'a' + 26;
        }
        if (c >= '0' && c <= '9') {
            return c - '0' + 52;
        }
        if (c == '+') {
            return 62;
        }
        if (c == '/') {
            return 63;
        }
        return -1;
    };
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    std::string_view b64 = text.substr(body + 2, end - body - 2);
    std::size_t pos = 0;
    while (pos < b64.size()) {
        std::size_t nl = b64.find('\n', pos);
        std::string_view line =
            b64.substr(pos, nl == std::string_view::npos ? b64.size() - pos : nl - pos);
        pos = nl == std::string_view::npos ? b64.size() : nl + 1;
        if (line.starts_with("=")) {
            break; // the CRC24 checksum line (gpgv checks the packets themselves)
        }
        for (char c : line) {
            int v = value(c);
            if (v < 0) {
                continue; // '=' padding, '\r', spaces
            }
            acc = (acc << 6) | static_cast<std::uint32_t>(v);
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                out += static_cast<char>((acc >> bits) & 0xff);
            }
        }
    }
    return out;
}

std::string gpg_verify(const std::string& gpgv, const fs::path& keyring,
                       const fs::path& signed_file, const fs::path& detached, const fs::path& tmp,
                       const std::string& what) {
    fs::path ring = keyring;
    std::string key_text = ocibake::detail::read_file(keyring, ErrorKind::input, 16 << 20);
    if (auto binary = dearmor(key_text)) {
        ring = tmp / "keyring.gpg";
        ocibake::detail::atomic_write_file(ring, *binary, 0600, false);
    }
    fs::path payload = tmp / "verified";
    std::vector<std::string> argv = {gpgv, "--status-fd", "1", "--keyring", ring.string()};
    if (detached.empty()) {
        argv.insert(argv.end(), {"--output", payload.string(), signed_file.string()});
    } else {
        argv.insert(argv.end(), {detached.string(), signed_file.string()});
    }
    ProgramResult r = run_program(argv);
    bool good = false, valid = false;
    std::string reason;
    std::size_t pos = 0;
    while (pos < r.out.size()) {
        std::size_t nl = r.out.find('\n', pos);
        std::string line =
            r.out.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        pos = nl == std::string::npos ? r.out.size() : nl + 1;
        if (!line.starts_with("[GNUPG:] ")) {
            continue;
        }
        std::vector<std::string> w = words(line.substr(9));
        if (w.empty()) {
            continue;
        }
        const std::string& key = w[0];
        std::string rest = line.size() > 9 + key.size() + 1 ? line.substr(9 + key.size() + 1) : "";
        if (key == "GOODSIG") {
            good = true;
        } else if (key == "VALIDSIG") {
            valid = true;
            // VALIDSIG fpr date ts expire version reserved pubkey-algo hash-algo ...
            if (w.size() > 8 && (w[8] == "1" || w[8] == "2" || w[8] == "3") && reason.empty()) {
                reason = std::string("it is signed with a weak digest (") +
                         (w[8] == "1"   ? "MD5"
                          : w[8] == "2" ? "SHA1"
                                        : "RIPEMD160") +
                         "), which apt refuses too";
            }
        } else if (key == "BADSIG") {
            std::string uid = w.size() > 2 ? rest.substr(rest.find(' ') + 1) : "";
            reason = "BAD signature from \"" + uid + "\": the file was changed after it was signed";
        } else if (key == "NO_PUBKEY" && reason.empty()) {
            reason = "it is signed by key " + (w.size() > 1 ? w[1] : std::string("?")) +
                     ", which is not in the keyring";
        } else if (key == "EXPKEYSIG" && reason.empty()) {
            reason = "it is signed by the expired key " + (w.size() > 1 ? w[1] : std::string("?"));
        } else if (key == "REVKEYSIG" && reason.empty()) {
            reason = "it is signed by the revoked key " + (w.size() > 1 ? w[1] : std::string("?"));
        } else if (key == "EXPSIG" && reason.empty()) {
            reason = "the signature has expired";
        } else if (key == "NODATA" && reason.empty()) {
            reason = "it holds no OpenPGP signature";
        } else if (key == "ERRSIG" && reason.empty()) {
            // ERRSIG keyid pkalgo hashalgo class time rc [fpr]: rc 9 is a missing key.
            if (w.size() > 6 && w[6] == "9") {
                reason = "it is signed by key " + w[1] + ", which is not in the keyring";
            } else {
                reason = "the signature cannot be checked (gpgv: ERRSIG " + rest + ")";
            }
        }
    }
    if (r.exit_code != 0 || !good || !valid || !reason.empty()) {
        if (reason.empty()) {
            std::string first = r.err.substr(0, r.err.find('\n'));
            reason = "gpgv failed (exit " + std::to_string(r.exit_code) + ")" +
                     (first.empty() ? "" : ": " + first);
        }
        throw Error(ErrorKind::integrity, what + ": the signature does not verify against " +
                                              keyring.string() + ": " + reason);
    }
    if (detached.empty()) {
        return ocibake::detail::read_file(payload, ErrorKind::io, 256 << 20);
    }
    return ocibake::detail::read_file(signed_file, ErrorKind::io, 256 << 20);
}

} // namespace ocibake::apt::detail
