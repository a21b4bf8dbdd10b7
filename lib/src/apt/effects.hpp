// Internal: what maintainer scripts would have done, done deterministically: accounts
// (passwd, group, shadow, gshadow), update-alternatives links, ld.so.cache.
#pragma once

#include "apt/ldcache.hpp"
#include "ocibake/apt.hpp"
#include "ocibake/layer.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake::apt::detail {

/// An `update-alternatives --install LINK NAME PATH PRIORITY [--slave LINK NAME PATH]...`
/// a package's postinst runs.
struct AltDecl {
    std::string link, name, path;
    int priority = 0;
    struct Slave {
        std::string link, name, path;
    };
    std::vector<Slave> slaves;
};

/// The `update-alternatives --install` commands of a postinst whose arguments are plain
/// words (ones built from shell variables cannot be known without running it).
std::vector<AltDecl> parse_alternatives(std::string_view postinst);

/// An alternatives group as /var/lib/dpkg/alternatives/NAME records it.
struct AltGroup {
    std::string mode = "auto";
    std::string link;
    std::map<std::string, std::string> slaves; ///< slave name -> slave link
    struct Choice {
        int priority = 0;
        std::map<std::string, std::string> slave_paths; ///< slave name -> path
    };
    std::map<std::string, Choice> choices; ///< path -> choice
};

/// Parses an alternatives administrative file; nullopt when malformed.
std::optional<AltGroup> parse_alt_admin(std::string_view text);
/// Its text, as update-alternatives writes it (slaves sorted by name).
std::string alt_admin_text(const AltGroup& group);

/// What the layer holds of a package and what later layers need of it, kept per .deb.
struct DebInfo {
    std::string stanza;                                   ///< its dpkg status stanza
    std::vector<std::pair<std::string, ImageNode>> nodes; ///< paths as dpkg names them
    std::vector<AltDecl> alternatives;                    ///< from its postinst
    /// Its control members besides `control` (md5sums, postinst, ...): dpkg keeps them as
    /// var/lib/dpkg/info/<package>.<member>.
    std::vector<std::string> control;
};

/// The record the store keeps of a package's info; nullopt when a path or a control
/// field is not UTF-8 (dpkg takes any bytes, JSON cannot hold them): such a package is
/// not remembered, and read again when it is needed.
std::optional<std::string> to_json(const DebInfo& info);
std::optional<DebInfo> deb_info_from_json(std::string_view text);

/// The image below as a view (what the facts know of it).
ImageView view_of(const ImageFacts& facts);

/// Writes `path` over the view (replacing what was there, and what was below it when it
/// changes type).
void put_node(ImageView& view, const std::string& path, ImageNode node);

/// Entries for /etc/passwd, group, shadow and gshadow: the image's own (or, where the
/// image has none and base-passwd is installed, base-passwd's master files, as its
/// postinst copies them), plus the groups and accounts declared. Nothing when nothing
/// changes. RecipeError at the declaration for a name or id that is taken.
std::vector<LayerEntry> account_entries(const ImageFacts& below, const ImageView& view,
                                        const std::map<std::string, std::string>& masters,
                                        const std::vector<Account>& accounts,
                                        const std::vector<Group>& groups);

/// Entries for the alternatives the packages declare (and the recipe chooses): the
/// generic links, /etc/alternatives/NAME and /var/lib/dpkg/alternatives/NAME, each group
/// in auto mode at its highest priority, or as the recipe chooses (manual mode).
std::vector<LayerEntry> alternative_entries(const ImageFacts& below, const ImageView& view,
                                            const std::vector<AltDecl>& declared,
                                            const std::vector<AlternativeChoice>& chosen,
                                            const std::map<std::string, std::string>& links);

/// OpenSSL's subject-name hash of a PEM certificate (what `openssl rehash` names links
/// by); nullopt when the text holds no certificate.
std::optional<unsigned long> subject_hash(std::string_view pem);

/// What ca-certificates' postinst does (`update-ca-certificates`): /etc/ca-certificates.conf
/// (the image's, with certificates new to it added, or every certificate the package
/// has), a link /etc/ssl/certs/NAME.pem per trusted certificate, the bundle
/// /etc/ssl/certs/ca-certificates.crt, and OpenSSL's hash links. `view` must hold the
/// certificates' contents.
std::vector<LayerEntry> ca_certificate_entries(const ImageFacts& below, const ImageView& view);

} // namespace ocibake::apt::detail
