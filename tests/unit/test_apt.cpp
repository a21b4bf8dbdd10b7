// Tests of the apt module's metadata side: Debian versions (against dpkg itself), deb822,
// Release files, relationship fields, the resolver, and the exact errors users meet.

#include "apt/internal.hpp"
#include "ocibake/apt.hpp"

#include "support/checks.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

using namespace ocibake;
using namespace ocibake::apt;
using namespace ocibake::test;

namespace {

// Versions with every corner of deb-version(7): epochs, revisions, '~', '+', '.', letters,
// leading zeros, hyphens in the upstream part, missing revisions.
const std::vector<std::string> kVersions = {
    "0",
    "0~",
    "0~~",
    "0~a",
    "00",
    "1",
    "1.0",
    "1.0~rc1",
    "1.0~rc1-1",
    "1.0-1",
    "1.0-1~bpo",
    "1.0-1+b1",
    "1.0-1.1",
    "1.0-10",
    "1.0-2",
    "1.0a",
    "1.0+dfsg",
    "1.0.0",
    "1.00",
    "1.001",
    "1:0.9",
    "1:1.0-1",
    "2:0",
    "10",
    "9.2p1-2",
    "1:9.2p1-2+deb12u3",
    "1:9.2p1-2+deb12u10",
    "3.11.2-1+b1",
    "2.36-9+deb12u4",
    "1.2-3-4",
    "1.2-3-4~x",
    "a1",
    "1a",
    "1.0-0",
    "1.0+",
    "1.0.",
    "1.0~~",
    "1.0~~a",
};

std::string packages_text(const std::vector<std::string>& stanzas) {
    std::string out;
    int n = 0;
    for (const std::string& s : stanzas) {
        out += s;
        if (s.find("Filename:") == std::string::npos) {
            out += "Filename: pool/" + std::to_string(++n) + ".deb\n";
        }
        if (s.find("Size:") == std::string::npos) {
            out += "Size: 100\n";
        }
        if (s.find("SHA256:") == std::string::npos) {
            out += "SHA256: " + std::string(64, 'a') + "\n";
        }
        out += "\n";
    }
    return out;
}

Index index_of(const std::vector<std::string>& stanzas,
               std::vector<std::string> archs = {"amd64"}) {
    Index index;
    index.native_arch = "amd64";
    index.architectures = archs;
    index.add_packages(packages_text(stanzas), "test index", "http://mirror", 500, 0, archs);
    return index;
}

std::vector<PackageRequest> requests(const std::vector<std::string>& texts) {
    std::vector<PackageRequest> out;
    for (const auto& t : texts) {
        auto r = parse_request(t);
        REQUIRE(r);
        out.push_back(*r);
    }
    return out;
}

std::vector<std::string> names_of(const std::vector<LockedPackage>& packages) {
    std::vector<std::string> out;
    for (const auto& p : packages) {
        out.push_back(p.name + "=" + p.version + ":" + p.arch);
    }
    return out;
}

std::vector<std::string> resolved(const Index& index, const std::vector<std::string>& asked,
                                  const std::vector<InstalledPackage>& installed = {},
                                  bool recommends = false) {
    ResolveOptions o;
    o.recommends = recommends;
    return names_of(resolve(index, requests(asked), o, installed));
}

std::string resolve_error(const Index& index, const std::vector<std::string>& asked,
                          const std::vector<InstalledPackage>& installed = {}) {
    auto e = error_of([&] { resolve(index, requests(asked), {}, installed); });
    CHECK(e.kind == ErrorKind::input);
    return e.what;
}

} // namespace

TEST_CASE("versions compare exactly as dpkg --compare-versions does") {
    require_program("dpkg", "dpkg");
    // One shell runs dpkg for every pair: "<" "=" or ">" per line.
    std::string script;
    for (std::size_t i = 0; i < kVersions.size(); ++i) {
        for (std::size_t j = i; j < kVersions.size(); ++j) {
            script += "if dpkg --compare-versions '" + kVersions[i] + "' lt '" + kVersions[j] +
                      "' 2>/dev/null; then echo '<'; elif dpkg --compare-versions '" +
                      kVersions[i] + "' eq '" + kVersions[j] +
                      "' 2>/dev/null; then echo '='; else echo '>'; fi\n";
        }
    }
    ocibake::test::ScratchDir dir("versions");
    auto r = ocibake::test::run({"sh", ocibake::test::write_file(dir / "compare.sh", script)});
    REQUIRE(r.exit_code == 0);
    std::size_t pos = 0;
    int checked = 0;
    for (std::size_t i = 0; i < kVersions.size(); ++i) {
        for (std::size_t j = i; j < kVersions.size(); ++j) {
            char want = r.out.at(pos);
            pos += 2;
            int c = compare_versions(kVersions[i], kVersions[j]);
            char got = c < 0 ? '<' : c == 0 ? '=' : '>';
            INFO(kVersions[i] << " vs " << kVersions[j]);
            CHECK(got == want);
            int back = compare_versions(kVersions[j], kVersions[i]);
            CHECK((back < 0    ? '<'
                   : back == 0 ? '='
                               : '>') == (want == '<'   ? '>'
                                          : want == '>' ? '<'
                                                        : '='));
            ++checked;
        }
    }
    CHECK(checked == static_cast<int>(kVersions.size() * (kVersions.size() + 1) / 2));
}

TEST_CASE("versions: the orderings deb-version(7) spells out") {
    CHECK(compare_versions("1.0~rc1", "1.0") < 0); // '~' before the end
    CHECK(compare_versions("1.0~~", "1.0~") < 0);  // and before another '~'
    CHECK(compare_versions("1.0", "1.0+b1") < 0);  // the end before '+'
    CHECK(compare_versions("1.0a", "1.0+") < 0);   // letters before other characters
    CHECK(compare_versions("1:0.1", "9.9") > 0);   // the epoch first
    CHECK(compare_versions("1.0-0", "1.0") == 0);  // "0" and no revision are equal
    CHECK(compare_versions("1.001", "1.1") == 0);  // numbers, not strings
    CHECK(compare_versions("1:9.2p1-2+deb12u10", "1:9.2p1-2+deb12u3") > 0);
    CHECK(version_problem("1:9.2p1-2+deb12u3").empty());
    CHECK(version_problem("") == "the version is empty");
    CHECK(version_problem("a1") == "the version must start with a digit");
    CHECK(version_problem("x:1") == "the epoch (before ':') is not a number");
    CHECK(version_problem("1.0-") == "the revision (after the last '-') is empty");
    CHECK(version_problem("1.0_1") == "the character '_' is not allowed in a version");
}

TEST_CASE("relationship fields: alternatives, operators, architecture qualifiers") {
    auto deps = parse_relations(
        "libc6 (>= 2.34), perl:any | perl-base (<< 5.37~), foo:amd64 (= 1:2-3),,", "x");
    REQUIRE(deps.size() == 3);
    CHECK(deps[0].size() == 1);
    CHECK(deps[0][0].str() == "libc6 (>= 2.34)");
    REQUIRE(deps[1].size() == 2);
    CHECK(deps[1][0].arch == "any");
    CHECK(deps[1][1].op == Op::lt);
    CHECK(deps[1][1].version == "5.37~");
    CHECK(deps[2][0].str() == "foo:amd64 (= 1:2-3)");
    // Obsolete "<" and ">" mean "<=" and ">=".
    CHECK(parse_relations("a (< 1), b (> 2)", "x")[0][0].op == Op::le);
    CHECK(parse_relations("a (< 1), b (> 2)", "x")[1][0].op == Op::ge);
    CHECK(parse_relations("", "x").empty());
    CHECK(error_of([] { parse_relations("a (>= 1", "Packages:12"); }).what ==
          "Packages:12: malformed relation 'a (>= 1': no ')'");
    CHECK(error_of([] { parse_relations("a (~ 1)", "Packages:3"); }).what ==
          "Packages:3: malformed relation 'a (~ 1)': unknown operator ''");
    CHECK(error_of([] { parse_relations("a | , b", "P:1"); }).what ==
          "P:1: malformed relation '': no package name");
}

TEST_CASE("deb822 paragraphs: continuation lines, comments, blank lines, errors") {
    auto ps = parse_paragraphs("Package: a\nDescription: short\n long line\n .\n more\n\n\n"
                               "# a comment\npackage: b\nVersion:  1.0  \n",
                               "f");
    REQUIRE(ps.size() == 2);
    CHECK(ps[0].get("Description") == "short\n long line\n .\n more");
    CHECK(ps[1].get("Package") == "b"); // field names are case-insensitive
    CHECK(ps[1].get("version") == "1.0");
    CHECK(ps[1].line == 9);
    CHECK(!ps[1].find("Depends"));
    CHECK(error_of([] { parse_paragraphs(" continued\n", "status"); }).what ==
          "status:1: a continuation line outside a field");
    CHECK(error_of([] { parse_paragraphs("Package: a\nno colon here\n", "status"); }).what ==
          "status:2: not a 'Field: value' line: 'no colon here'");
}

TEST_CASE("Release files: fields, the SHA256 list, dates") {
    std::string text = "Origin: Debian\nSuite: stable\nCodename: bookworm\n"
                       "Date: Sat, 10 Jun 2023 08:50:22 UTC\n"
                       "Valid-Until: Sat, 17 Jun 2023 08:50:22 +0100\n"
                       "Acquire-By-Hash: yes\nNo-Support-for-Architecture-all: Packages\n"
                       "Architectures: all amd64 arm64\nComponents: main contrib\n"
                       "MD5Sum:\n 0123 12 main/binary-amd64/Packages\nSHA256:\n " +
                       std::string(64, 'b') + "  1234 main/binary-amd64/Packages.xz\n " +
                       std::string(64, 'c') + " 99 main/binary-all/Packages\n";
    Release r = parse_release(text, "InRelease");
    CHECK(r.suite == "stable");
    CHECK(r.codename == "bookworm");
    CHECK(r.date == 1686387022);
    CHECK(r.valid_until == 1686387022 + 7 * 86400 - 3600);
    CHECK(r.by_hash);
    CHECK(r.all_in_arch_indexes);
    CHECK(r.architectures == std::vector<std::string>{"all", "amd64", "arm64"});
    REQUIRE(r.files.size() == 2);
    CHECK(r.files[0].path == "main/binary-amd64/Packages.xz");
    CHECK(r.files[0].size == 1234);
    CHECK(r.files[0].sha256.hex() == std::string(64, 'b'));
    CHECK(parse_date("Thu, 01 Jan 1970 00:00:00 GMT") == 0);
    CHECK(!parse_date("yesterday"));
    CHECK(error_of([] { parse_release("Valid-Until: soon\n", "InRelease"); }).what ==
          "InRelease: Valid-Until 'soon' is not a date");
    CHECK(error_of([] { parse_release("SHA256:\n zz 1 Packages\n", "InRelease"); }).what ==
          "InRelease: malformed SHA256 line 'zz 1 Packages'");
}

TEST_CASE("a component listed with a prefix as Debian's security archive lists them") {
    // bookworm-security's Release: "Components: updates/main updates/contrib ..." while its
    // indexes are main/binary-amd64/Packages.xz, and sources.list says `main`.
    Release r = parse_release("Components: updates/main updates/non-free\n", "InRelease");
    CHECK(has_component(r, "main"));
    CHECK(has_component(r, "non-free"));
    CHECK(has_component(r, "updates/main"));
    CHECK(!has_component(r, "contrib"));
    CHECK(!has_component(r, "free")); // a suffix, not a component
    CHECK(!has_component(r, "in"));
    CHECK(has_component(parse_release("Suite: x\n", "Release"), "anything"));
}

TEST_CASE("an index that decompresses to nothing is an empty index") {
    // xz of no bytes: the 32 bytes of bookworm-updates' non-free/binary-amd64/Packages.xz as
    // its InRelease lists it (sha256
    // 0040f94d11d0039505328a90b2ff48968db873e9e7967307631bf40ef5679275).
    const unsigned char xz[] = {0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04, 0xe6, 0xd6, 0xb4,
                                0x46, 0x00, 0x00, 0x00, 0x00, 0x1c, 0xdf, 0x44, 0x21, 0x1f, 0xb6,
                                0xf3, 0x7d, 0x01, 0x00, 0x00, 0x00, 0x00, 0x04, 0x59, 0x5a};
    // gzip -n of no bytes.
    const unsigned char gz[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,
                                0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    CHECK(apt::detail::decompress(std::string_view(reinterpret_cast<const char*>(xz), sizeof xz),
                                  "Packages.xz") == "");
    CHECK(apt::detail::decompress(std::string_view(reinterpret_cast<const char*>(gz), sizeof gz),
                                  "Packages.gz") == "");
    CHECK(apt::detail::decompress("", "Packages") == "");
    CHECK(apt::detail::decompress("Package: a\n", "Packages") == "Package: a\n");
}

TEST_CASE("security suites: by the suite's name, the Release's Suite, Codename or Label") {
    Release debian =
        parse_release("Origin: Debian\nLabel: Debian-Security\nSuite: stable-security\n"
                      "Codename: bookworm-security\n",
                      "InRelease");
    CHECK(debian.label == "Debian-Security");
    CHECK(security_suite("bookworm-security", debian));
    Release plain = parse_release("Origin: Debian\nLabel: Debian\nSuite: stable\n"
                                  "Codename: bookworm\n",
                                  "InRelease");
    CHECK(!security_suite("bookworm", plain));
    CHECK(!security_suite("bookworm-updates", plain));
    CHECK(!security_suite("stable-updates", plain));
    // The name the recipe writes is enough (a mirror may rewrite the Release's fields).
    CHECK(security_suite("bookworm-security", plain));
    CHECK(security_suite("buster/updates", plain)); // Debian's name before 11
    // Ubuntu says it in Suite and Codename only (Label: Ubuntu).
    Release ubuntu = parse_release("Origin: Ubuntu\nLabel: Ubuntu\nSuite: noble-security\n"
                                   "Codename: noble\n",
                                   "InRelease");
    CHECK(security_suite("noble-security", ubuntu));
    CHECK(security_suite("mirror-name", ubuntu));
    // Only the label says it.
    Release label = parse_release("Label: Debian-Security\nSuite: x\n", "InRelease");
    CHECK(security_suite("x", label));

    // A version that a security suite offers too is a security update, whichever suite
    // was read first.
    Index index;
    index.native_arch = "amd64";
    index.architectures = {"amd64"};
    index.add_packages(packages_text({"Package: libssl3\nVersion: 3.0.15-1\nArchitecture: amd64\n",
                                      "Package: zlib1g\nVersion: 1:1.2.13\nArchitecture: amd64\n"}),
                       "bookworm", "http://mirror", 500, 0, {"amd64"}, false);
    index.add_packages(
        packages_text({"Package: libssl3\nVersion: 3.0.15-1\nArchitecture: amd64\n",
                       "Package: libssl3\nVersion: 3.0.16-1\nArchitecture: amd64\n"}),
        "bookworm-security", "http://mirror", 500, 0, {"amd64"}, true);
    REQUIRE(index.find("libssl3", "3.0.15-1", "amd64") != nullptr);
    CHECK(index.find("libssl3", "3.0.15-1", "amd64")->security);
    CHECK(index.find("libssl3", "3.0.15-1", "amd64")->origin == "bookworm");
    CHECK(index.find("libssl3", "3.0.16-1", "amd64")->security);
    CHECK(!index.find("zlib1g", "1:1.2.13", "amd64")->security);
}

TEST_CASE("clearsigned text and armored keys are read without any crypto of our own") {
    std::string message = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nSuite: x\n"
                          "- -----not a header\nEnd: y\n-----BEGIN PGP SIGNATURE-----\n\nabc\n"
                          "-----END PGP SIGNATURE-----\n";
    CHECK(apt::detail::clearsigned_text(message) == "Suite: x\n-----not a header\nEnd: y\n");
    // "hello" in base64 is aGVsbG8=.
    auto key = apt::detail::dearmor("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\naGVs\nbG8=\n=abcd\n"
                                    "-----END PGP PUBLIC KEY BLOCK-----\n");
    REQUIRE(key);
    CHECK(*key == "hello");
    CHECK(!apt::detail::dearmor("\x99\x01binary"));
}

TEST_CASE("package requests: name, architecture, version") {
    auto r = parse_request("openssh-server:amd64=1:9.2p1-2+deb12u3");
    REQUIRE(r);
    CHECK(r->name == "openssh-server");
    CHECK(r->arch == "amd64");
    CHECK(r->version == "1:9.2p1-2+deb12u3");
    CHECK(r->str() == "openssh-server:amd64=1:9.2p1-2+deb12u3");
    std::string why;
    CHECK(!parse_request("Python3", &why));
    CHECK(why == "'Python3' is not a package name (lowercase letters, digits, '+', '-', '.')");
    CHECK(!parse_request("python3=", &why));
    CHECK(why == "version '': the version is empty");
    CHECK(!parse_request("x", &why));
    CHECK(why == "a package name has at least two characters");
    CHECK(dpkg_architecture("arm", "v7") == "armhf");
    CHECK(dpkg_architecture("386") == "i386");
    CHECK(dpkg_architecture("ppc64le") == "ppc64el");
}

TEST_CASE("the resolver: dependencies, alternatives, versions, best candidates") {
    Index index = index_of({
        "Package: app\nVersion: 1.0\nArchitecture: amd64\nDepends: libx (>= 2), mta | "
        "postfix\nPre-Depends: dpkg\n",
        "Package: app\nVersion: 2.0\nArchitecture: amd64\nDepends: libx (>= 3.0)\n",
        "Package: libx\nVersion: 2.5\nArchitecture: amd64\n",
        "Package: libx\nVersion: 3.0~rc1\nArchitecture: amd64\n",
        "Package: postfix\nVersion: 3\nArchitecture: amd64\nProvides: mail-transport-agent\n",
        "Package: exim\nVersion: 4\nArchitecture: amd64\nProvides: mail-transport-agent\n",
        "Package: dpkg\nVersion: 1.21\nArchitecture: amd64\n",
        "Package: doc\nVersion: 1\nArchitecture: all\nRecommends: app\n",
    });
    // The best version: 2.0 needs libx >= 3.0, which 3.0~rc1 is not.
    CHECK(resolve_error(index, {"app"}) ==
          "cannot install app 2.0: app depends on libx (>= 3.0), but the sources have libx "
          "3.0~rc1, 2.5 only");
    // A pinned version; the first alternative the sources have (mta is unknown: postfix).
    CHECK(resolved(index, {"app=1.0"}) ==
          std::vector<std::string>{"app=1.0:amd64", "dpkg=1.21:amd64", "libx=3.0~rc1:amd64",
                                   "postfix=3:amd64"});
    // What the base has is not installed again, and satisfies dependencies.
    InstalledPackage dpkg{"dpkg", "1.20", "amd64", "", {}};
    CHECK(resolved(index, {"app=1.0"}, {dpkg}) ==
          std::vector<std::string>{"app=1.0:amd64", "libx=3.0~rc1:amd64", "postfix=3:amd64"});
    // Recommends only when asked.
    CHECK(resolved(index, {"doc"}) == std::vector<std::string>{"doc=1:all"});
}

TEST_CASE("the resolver: a source's priority wins over a higher version, a pin picks any source") {
    // As the Ubuntu flagship has it: NVIDIA's repository (600) and Ubuntu's archive (500)
    // both carry libnccl2; NVIDIA's builds for several CUDA releases share the name.
    Index index;
    index.native_arch = "amd64";
    index.architectures = {"amd64"};
    index.add_packages(packages_text({"Package: libnccl2\nVersion: 2.18.3-1\nArchitecture: amd64\n",
                                      "Package: zlib1g\nVersion: 1:1.3\nArchitecture: amd64\n"}),
                       "archive", "http://archive", 500, 0, {"amd64"});
    index.add_packages(
        packages_text({"Package: libnccl2\nVersion: 2.26.2-1+cuda12.8\nArchitecture: amd64\n",
                       "Package: libnccl2\nVersion: 2.28.3-1+cuda13.0\nArchitecture: amd64\n",
                       "Package: zlib1g\nVersion: 1:1.2\nArchitecture: amd64\n"}),
        "nvidia", "http://nvidia", 600, 1, {"amd64"});
    // The higher-priority source wins even with the lower version (zlib1g 1.2 over 1.3),
    // and within it the highest version (the CUDA 13 build: why the recipe pins).
    CHECK(resolved(index, {"libnccl2", "zlib1g"}) ==
          std::vector<std::string>{"libnccl2=2.28.3-1+cuda13.0:amd64", "zlib1g=1:1.2:amd64"});
    // A pinned version comes from whichever source has it, whatever its priority.
    CHECK(resolved(index, {"libnccl2=2.26.2-1+cuda12.8"}) ==
          std::vector<std::string>{"libnccl2=2.26.2-1+cuda12.8:amd64"});
    CHECK(resolved(index, {"libnccl2=2.18.3-1"}) ==
          std::vector<std::string>{"libnccl2=2.18.3-1:amd64"});
    auto locked = resolve(index, requests({"libnccl2=2.18.3-1"}), {}, {});
    REQUIRE(locked.size() == 1);
    CHECK(locked[0].url.rfind("http://archive/", 0) == 0);
}

TEST_CASE("the resolver: recommends on request, and the chain of an unsatisfiable one") {
    Index index = index_of({
        "Package: top\nVersion: 1\nArchitecture: all\nDepends: mid\nRecommends: extra\n",
        "Package: mid\nVersion: 1\nArchitecture: amd64\nDepends: low (>= 2) | other\n",
        "Package: low\nVersion: 1.5\nArchitecture: amd64\n",
        "Package: extra\nVersion: 1\nArchitecture: amd64\nDepends: missing\n",
    });
    CHECK(resolve_error(index, {"top"}) ==
          "cannot install top 1 -> mid 1: mid depends on low (>= 2) | other, but the sources "
          "have low 1.5 only; and no apt source has other");
    Index fixed = index_of({
        "Package: top\nVersion: 1\nArchitecture: all\nDepends: mid\nRecommends: extra | more\n",
        "Package: mid\nVersion: 1\nArchitecture: amd64\n",
        "Package: extra\nVersion: 1\nArchitecture: amd64\nDepends: missing\n",
        "Package: more\nVersion: 1\nArchitecture: amd64\n",
    });
    CHECK(resolved(fixed, {"top"}) == std::vector<std::string>{"mid=1:amd64", "top=1:all"});
    // An alternative whose own dependencies cannot be met (extra needs what nobody has)
    // is passed over for the next one.
    CHECK(resolved(fixed, {"top"}, {}, true) ==
          std::vector<std::string>{"mid=1:amd64", "more=1:amd64", "top=1:all"});
}

TEST_CASE("the resolver: virtual packages and Provides") {
    Index index = index_of({
        "Package: needs-awk\nVersion: 1\nArchitecture: all\nDepends: awk\n",
        "Package: mawk\nVersion: 1.3\nArchitecture: amd64\nPriority: required\nProvides: awk\n",
        "Package: gawk\nVersion: 5\nArchitecture: amd64\nPriority: optional\nProvides: awk\n",
        "Package: needs-v\nVersion: 1\nArchitecture: all\nDepends: libv (>= 2)\n",
        "Package: prov-v\nVersion: 9\nArchitecture: amd64\nProvides: libv (= 2.1)\n",
        "Package: prov-unversioned\nVersion: 9\nArchitecture: amd64\nProvides: libw\n",
        "Package: needs-w\nVersion: 1\nArchitecture: all\nDepends: libw (>= 1)\n",
        "Package: only\nVersion: 1\nArchitecture: amd64\nProvides: lonely\n",
    });
    // Among providers: the higher Priority, then the name.
    CHECK(resolved(index, {"needs-awk"}) ==
          std::vector<std::string>{"mawk=1.3:amd64", "needs-awk=1:all"});
    // A versioned dependency takes a versioned Provides only.
    CHECK(resolved(index, {"needs-v"}) ==
          std::vector<std::string>{"needs-v=1:all", "prov-v=9:amd64"});
    CHECK(resolve_error(index, {"needs-w"}) ==
          "cannot install needs-w 1: needs-w depends on libw (>= 1), but no apt source has libw");
    // Asking for a virtual package: its only provider, or an error naming them all.
    CHECK(resolved(index, {"lonely"}) == std::vector<std::string>{"only=1:amd64"});
    CHECK(resolve_error(index, {"awk"}) ==
          "package 'awk' is virtual: it is provided by gawk, mawk; name the one to install");
    // An installed provider satisfies the dependency.
    InstalledPackage gawk{"gawk", "5", "amd64", "", {Relation{"awk", "", Op::any, ""}}};
    CHECK(resolved(index, {"needs-awk"}, {gawk}) == std::vector<std::string>{"needs-awk=1:all"});
}

TEST_CASE("the resolver: Multi-Arch same, foreign, allowed and Architecture: all") {
    Index index = index_of(
        {
            "Package: tool\nVersion: 1\nArchitecture: i386\nDepends: libc, perl, py:any\n",
            "Package: libc\nVersion: 2\nArchitecture: amd64\nMulti-Arch: same\n",
            "Package: libc\nVersion: 2\nArchitecture: i386\nMulti-Arch: same\n",
            "Package: perl\nVersion: 5\nArchitecture: amd64\nMulti-Arch: foreign\n",
            "Package: py\nVersion: 3\nArchitecture: amd64\nMulti-Arch: allowed\n",
            "Package: plain\nVersion: 1\nArchitecture: i386\nDepends: nonma\n",
            "Package: nonma\nVersion: 1\nArchitecture: amd64\n",
            "Package: data\nVersion: 1\nArchitecture: all\n",
            "Package: uses-data\nVersion: 1\nArchitecture: i386\nDepends: data\n",
        },
        {"amd64", "i386"});
    // libc of the depender's architecture; perl (foreign) and py:any (allowed) of the
    // native one.
    CHECK(resolved(index, {"tool:i386"}) ==
          std::vector<std::string>{"libc=2:i386", "perl=5:amd64", "py=3:amd64", "tool=1:i386"});
    // A package that is not Multi-Arch: foreign cannot serve another architecture.
    CHECK(resolve_error(index, {"plain:i386"}) ==
          "cannot install plain 1: plain depends on nonma, but the sources have nonma 1 (amd64), "
          "which cannot satisfy a dependency of a i386 package");
    // Architecture: all counts as native: it cannot serve an i386 package either.
    CHECK(resolve_error(index, {"uses-data:i386"}) ==
          "cannot install uses-data 1: uses-data depends on data, but the sources have data 1 "
          "(all), which cannot satisfy a dependency of a i386 package");
    CHECK(resolve_error(index, {"tool"}) ==
          "package 'tool' is not available for amd64 (the sources have it for i386)");
}

TEST_CASE("the resolver: conflicts steer alternatives, and are explained when they cannot") {
    Index index = index_of({
        "Package: app\nVersion: 1\nArchitecture: amd64\nDepends: alpha | beta\n",
        "Package: alpha\nVersion: 1\nArchitecture: amd64\nConflicts: base-thing\n",
        "Package: beta\nVersion: 1\nArchitecture: amd64\n",
        "Package: solo\nVersion: 1\nArchitecture: amd64\nDepends: alpha\n",
        "Package: breaker\nVersion: 1\nArchitecture: amd64\nBreaks: beta (<< 2)\n",
    });
    InstalledPackage thing{"base-thing", "1", "amd64", "", {}};
    CHECK(resolved(index, {"app"}) == std::vector<std::string>{"alpha=1:amd64", "app=1:amd64"});
    CHECK(resolved(index, {"app"}, {thing}) ==
          std::vector<std::string>{"app=1:amd64", "beta=1:amd64"});
    CHECK(
        resolve_error(index, {"solo"}, {thing}) ==
        "cannot install solo 1: solo depends on alpha, but alpha 1 conflicts with base-thing, and "
        "base-thing 1 is installed");
    CHECK(resolve_error(index, {"beta", "breaker"}) ==
          "cannot install breaker: breaker 1 breaks beta (<< 2), and beta 1 is being installed");
}

namespace {

std::vector<std::string> resolved_preferring(const Index& index,
                                             const std::vector<std::string>& asked,
                                             const std::vector<std::string>& prefer) {
    ResolveOptions o;
    for (const std::string& p : prefer) {
        LockedPackage pin;
        pin.name = p.substr(0, p.find('='));
        pin.version = p.substr(p.find('=') + 1);
        pin.arch = "amd64";
        o.prefer.push_back(pin);
    }
    return names_of(resolve(index, requests(asked), o, {}));
}

} // namespace

TEST_CASE("the resolver: preferred versions (a lock's pins) are kept where they still fit") {
    Index index = index_of({
        "Package: app\nVersion: 1\nArchitecture: amd64\nDepends: lib\n",
        "Package: app\nVersion: 2\nArchitecture: amd64\nDepends: lib (>= 2)\n",
        "Package: lib\nVersion: 1\nArchitecture: amd64\n",
        "Package: lib\nVersion: 2\nArchitecture: amd64\n",
        "Package: tool\nVersion: 1\nArchitecture: amd64\nDepends: alpha | beta\n",
        "Package: tool\nVersion: 2\nArchitecture: amd64\nDepends: alpha | beta\n",
        "Package: alpha\nVersion: 1\nArchitecture: amd64\n",
        "Package: beta\nVersion: 1\nArchitecture: amd64\n",
    });
    // Without preferences: the best candidates.
    CHECK(resolved(index, {"app", "tool"}) ==
          std::vector<std::string>{"alpha=1:amd64", "app=2:amd64", "lib=2:amd64", "tool=2:amd64"});
    // Every pin preferred: nothing moves, and the alternative the lock chose stays chosen
    // though the first one is possible.
    CHECK(resolved_preferring(index, {"app", "tool"}, {"app=1", "lib=1", "tool=1", "beta=1"}) ==
          std::vector<std::string>{"app=1:amd64", "beta=1:amd64", "lib=1:amd64", "tool=1:amd64"});
    // app may move (not preferred): lib must move with it (app 2 needs lib >= 2); tool stays.
    CHECK(resolved_preferring(index, {"app", "tool"}, {"lib=1", "tool=1", "beta=1"}) ==
          std::vector<std::string>{"app=2:amd64", "beta=1:amd64", "lib=2:amd64", "tool=1:amd64"});
    // The same when lib is asked for too (it is selected before app's dependency is seen):
    // the first resolution fails on the kept lib 1, and lib's preference is dropped.
    CHECK(resolved_preferring(index, {"app", "lib", "tool"}, {"lib=1", "tool=1", "beta=1"}) ==
          std::vector<std::string>{"app=2:amd64", "beta=1:amd64", "lib=2:amd64", "tool=1:amd64"});
    // A kept package needs the old version of one that moves: it moves too, whichever
    // order the resolver meets them in (xx 1 is met first and selects yy 1 for itself).
    Index exact = index_of({
        "Package: xx\nVersion: 1\nArchitecture: amd64\nDepends: yy (= 1)\n",
        "Package: xx\nVersion: 2\nArchitecture: amd64\nDepends: yy (= 2)\n",
        "Package: yy\nVersion: 1\nArchitecture: amd64\n",
        "Package: yy\nVersion: 2\nArchitecture: amd64\n",
        "Package: zapp\nVersion: 1\nArchitecture: amd64\nDepends: yy (>= 2)\n",
    });
    CHECK(resolved_preferring(exact, {"xx", "zapp"}, {"xx=1"}) ==
          std::vector<std::string>{"xx=2:amd64", "yy=2:amd64", "zapp=1:amd64"});
    CHECK(resolved_preferring(exact, {"xx", "yy"}, {"xx=1"}) ==
          std::vector<std::string>{"xx=2:amd64", "yy=2:amd64"});
    CHECK(resolved_preferring(exact, {"xx"}, {"xx=1", "yy=1"}) ==
          std::vector<std::string>{"xx=1:amd64", "yy=1:amd64"});
    // No resolution at all: said as without preferences.
    CHECK(error_of([&] {
              ResolveOptions o;
              o.prefer.push_back({"xx", "1", "amd64", "xx", "", 0, {}, {}});
              resolve(exact, requests({"xx=1", "zapp"}), o, {});
          }).what == resolve_error(exact, {"xx=1", "zapp"}));
    // A pin the sources no longer have is not kept.
    CHECK(resolved_preferring(index, {"tool"}, {"tool=0.9", "beta=1"}) ==
          std::vector<std::string>{"beta=1:amd64", "tool=2:amd64"});
    // Only what fits is kept: a request for a version wins over a preference.
    CHECK(resolved_preferring(index, {"app=2"}, {"app=1", "lib=1"}) ==
          std::vector<std::string>{"app=2:amd64", "lib=2:amd64"});
}

TEST_CASE("the resolver: unknown packages with near names, versions the sources lack") {
    Index index = index_of({
        "Package: python3\nVersion: 3.11.2-1\nArchitecture: amd64\n",
        "Package: python3-pip\nVersion: 23\nArchitecture: all\n",
        "Package: python3.11\nVersion: 3.11.2-6\nArchitecture: amd64\n",
    });
    CHECK(resolve_error(index, {"pyhton3"}) ==
          "unknown package 'pyhton3': no apt source has it (did you mean python3?)");
    CHECK(resolve_error(index, {"python"}) ==
          "unknown package 'python': no apt source has it (did you mean python3, python3.11, "
          "python3-pip?)");
    CHECK(resolve_error(index, {"zzz-nothing"}) == "unknown package 'zzz-nothing': no apt "
                                                   "source has it");
    CHECK(resolve_error(index, {"python3=3.12"}) ==
          "package 'python3': no apt source has version 3.12 (they have 3.11.2-1)");
    // A request at the base's version is already satisfied; another version is installed.
    InstalledPackage py{"python3", "3.11.2-1", "amd64", "", {}};
    CHECK(resolved(index, {"python3"}, {py}).empty());
    CHECK(resolved(index, {"python3=3.11.2-1"}, {py}).empty());
}

TEST_CASE("dpkg status: only installed packages count") {
    auto installed = parse_status("Package: a\nStatus: install ok installed\nVersion: 1\n"
                                  "Architecture: amd64\nMulti-Arch: same\nProvides: x (= 1), y\n\n"
                                  "Package: b\nStatus: deinstall ok config-files\nVersion: 2\n"
                                  "Architecture: all\n",
                                  "status");
    REQUIRE(installed.size() == 1);
    CHECK(installed[0].name == "a");
    CHECK(installed[0].multi_arch == "same");
    REQUIRE(installed[0].provides.size() == 2);
    CHECK(installed[0].provides[0].str() == "x (= 1)");
}

// ---- what maintainer scripts would have done ---------------------------------------------

#include "apt/effects.hpp"

#include <filesystem>

namespace {

LayerEntry entry_at(const std::vector<LayerEntry>& entries, const std::string& path) {
    for (const LayerEntry& e : entries) {
        if (e.path == path) {
            return e;
        }
    }
    FAIL("no entry " << path);
    return {};
}

} // namespace

TEST_CASE("alternatives: what update-alternatives --install commands of postinsts declare") {
    // As mawk's, debianutils' and procps' postinst write them (Debian 12).
    std::string postinst = R"(#!/bin/sh
set -e
if [ "$1" = "configure" ]; then
        update-alternatives --install /usr/bin/awk awk /usr/bin/mawk 5 \
            --slave /usr/share/man/man1/awk.1.gz awk.1.gz /usr/share/man/man1/mawk.1.gz \
            --slave /usr/bin/nawk nawk /usr/bin/mawk
	update-alternatives --quiet --install "/usr/bin/which" which '/usr/bin/which.debianutils' 0
	# update-alternatives --install /usr/bin/commented x /usr/bin/x 1
	update-alternatives --install "$BINPATH"/"$BINNAME" "$BINNAME" \
	    "$BINPATH"/"$BINNAME".procps 50
	update-alternatives --remove rcp /usr/bin/scp
fi
)";
    auto decls = apt::detail::parse_alternatives(postinst);
    REQUIRE(decls.size() == 2);
    CHECK(decls[0].link == "/usr/bin/awk");
    CHECK(decls[0].name == "awk");
    CHECK(decls[0].path == "/usr/bin/mawk");
    CHECK(decls[0].priority == 5);
    REQUIRE(decls[0].slaves.size() == 2);
    CHECK(decls[0].slaves[1].link == "/usr/bin/nawk");
    CHECK(decls[0].slaves[1].name == "nawk");
    CHECK(decls[1].name == "which");
    CHECK(decls[1].path == "/usr/bin/which.debianutils");
    // libopenblas0-pthread's (Debian 12): the BLAS that users of rules_distroless miss.
    decls = apt::detail::parse_alternatives(
        "update-alternatives --install /usr/lib/x86_64-linux-gnu/libblas.so.3 \\\n"
        "                    libblas.so.3-x86_64-linux-gnu \\\n"
        "\t            /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 100\n");
    REQUIRE(decls.size() == 1);
    CHECK(decls[0].name == "libblas.so.3-x86_64-linux-gnu");
    CHECK(decls[0].path == "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3");
    CHECK(decls[0].priority == 100);
}

TEST_CASE("alternatives: the administrative files read and written as update-alternatives does") {
    // Every group this Debian machine has: parsed and written again, byte for byte.
    namespace fs = std::filesystem;
    int checked = 0;
    for (const auto& f : fs::directory_iterator("/var/lib/dpkg/alternatives")) {
        std::string text = ocibake::test::read_file(f.path());
        auto group = apt::detail::parse_alt_admin(text);
        INFO(f.path());
        REQUIRE(group);
        CHECK(apt::detail::alt_admin_text(*group) == text);
        ++checked;
    }
    CHECK(checked > 3);
}

TEST_CASE("alternatives: links, auto mode at the highest priority, a recipe's choice") {
    apt::detail::ImageView view;
    for (const char* p : {"usr", "usr/bin", "usr/lib", "etc"}) {
        view[p].type = apt::detail::ImageNode::Type::directory;
    }
    for (const char* p :
         {"usr/bin/mawk", "usr/bin/gawk", "usr/lib/blas.so", "usr/lib/openblas.so"}) {
        view[p].type = apt::detail::ImageNode::Type::file;
    }
    std::vector<apt::detail::AltDecl> declared = {
        {"/usr/bin/awk", "awk", "/usr/bin/mawk", 5, {{"/usr/bin/nawk", "nawk", "/usr/bin/mawk"}}},
        {"/usr/bin/awk", "awk", "/usr/bin/gawk", 10, {{"/usr/bin/nawk", "nawk", "/usr/bin/gawk"}}},
        {"/usr/bin/awk", "awk", "/usr/bin/missing", 99, {}},
        {"/usr/lib/libblas.so.3", "libblas.so.3", "/usr/lib/blas.so", 10, {}},
        {"/usr/lib/libblas.so.3", "libblas.so.3", "/usr/lib/openblas.so", 100, {}},
    };
    ImageFacts below;
    AlternativeChoice blas;
    blas.name = "libblas.so.3";
    blas.path = "/usr/lib/blas.so";
    std::vector<AlternativeChoice> chosen(1, blas);
    auto out = apt::detail::alternative_entries(below, view, declared, chosen, {});
    CHECK(entry_at(out, "usr/bin/awk").link_target == "/etc/alternatives/awk");
    CHECK(entry_at(out, "etc/alternatives/awk").link_target == "/usr/bin/gawk");
    CHECK(entry_at(out, "etc/alternatives/nawk").link_target == "/usr/bin/gawk");
    CHECK(entry_at(out, "var/lib/dpkg/alternatives/awk").content ==
          "auto\n/usr/bin/awk\nnawk\n/usr/bin/nawk\n\n/usr/bin/gawk\n10\n/usr/bin/gawk\n"
          "/usr/bin/mawk\n5\n/usr/bin/mawk\n\n");
    CHECK(entry_at(out, "etc/alternatives/libblas.so.3").link_target == "/usr/lib/blas.so");
    CHECK(entry_at(out, "var/lib/dpkg/alternatives/libblas.so.3").content.starts_with("manual\n"));
    AlternativeChoice editor;
    editor.where.file = "r.toml";
    editor.where.line = 9;
    editor.where.column = 3;
    editor.name = "editor";
    editor.path = "/usr/bin/mawk";
    chosen.assign(1, editor);
    CHECK(error_of([&] { apt::detail::alternative_entries(below, view, {}, chosen, {}); }).what ==
          "r.toml:9:3: error: no package of this layer or below declares the alternative "
          "'editor'\nhint: give its 'link' (and 'priority') to declare it here");
}

TEST_CASE("accounts: base-passwd's masters, shadow entries, declared users and groups") {
    ImageFacts below;
    apt::detail::ImageView view;
    std::map<std::string, std::string> masters = {
        {"usr/share/base-passwd/passwd.master",
         "root:*:0:0:root:/root:/bin/bash\nnobody:*:65534:65534:nobody:/nonexistent:/usr/sbin/"
         "nologin\n"},
        {"usr/share/base-passwd/group.master", "root:*:0:\nshadow:*:42:\nnogroup:*:65534:\n"},
    };
    Account sshd;
    sshd.name = "sshd";
    sshd.uid = 100;
    sshd.group = "nogroup";
    sshd.home = "/run/sshd";
    Account jovyan;
    jovyan.name = "jovyan";
    jovyan.uid = 1000;
    jovyan.gid = 100;
    jovyan.group = "users";
    jovyan.groups = {"shadow"};
    jovyan.shell = "/bin/bash";
    jovyan.home = "/home/jovyan";
    auto out = apt::detail::account_entries(below, view, masters, {sshd, jovyan}, {});
    CHECK(entry_at(out, "etc/passwd").content ==
          "root:x:0:0:root:/root:/bin/bash\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
          "sshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n"
          "jovyan:x:1000:100::/home/jovyan:/bin/bash\n");
    CHECK(entry_at(out, "etc/group").content ==
          "root:x:0:\nshadow:x:42:jovyan\nnogroup:x:65534:\nusers:x:100:\n");
    LayerEntry shadow = entry_at(out, "etc/shadow");
    CHECK(shadow.content.starts_with("root:*::0:99999:7:::\n"));
    CHECK(shadow.mode == 0640);
    CHECK(shadow.gid == 42);
    CHECK(entry_at(out, "etc/gshadow").content ==
          "root:*::\nshadow:*::jovyan\nnogroup:*::\nusers:*::\n");
    // Nothing to do, nothing written.
    CHECK(apt::detail::account_entries(below, view, {}, {}, {}).empty());
    // Names and ids that are taken.
    below.files["etc/passwd"] = "root:x:0:0:root:/root:/bin/bash\n";
    below.files["etc/group"] = "root:x:0:\n";
    Account clash;
    clash.where = {"r.toml", 4, 1};
    clash.name = "toor";
    clash.uid = 0;
    CHECK(error_of([&] { apt::detail::account_entries(below, view, {}, {clash}, {}); }).what ==
          "r.toml:4:1: error: gid 0 is group 'root' in the image below, so it cannot be 'toor'");
    clash.gid = 5;
    CHECK(error_of([&] { apt::detail::account_entries(below, view, {}, {clash}, {}); }).what ==
          "r.toml:4:1: error: uid 0 is user 'root' in the image below, so it cannot be 'toor'");
    clash.name = "root";
    clash.uid = 7;
    clash.gid.reset();
    clash.group = "root";
    CHECK(error_of([&] { apt::detail::account_entries(below, view, {}, {clash}, {}); }).what ==
          "r.toml:4:1: error: user 'root' is uid 0 in the image below, not 7");
}

// ---- the recipe keys -------------------------------------------------------------------------

#include "ocibake/recipe.hpp"

namespace {

std::string recipe_error(const std::string& text) {
    ocibake::test::ScratchDir dir("apt-recipe");
    auto path = ocibake::test::write_file(dir / "r.toml", text);
    try {
        ocibake::load_recipe(path);
    } catch (const RecipeError& e) {
        std::string what = e.what();
        return what.substr(what.find("r.toml:"));
    }
    FAIL("no error");
    return {};
}

const std::string kSource = "[[apt.source]]\nurl = \"http://deb.debian.org/debian/\"\n"
                            "suites = [\"bookworm\"]\nkeyring = \"k.gpg\"\n";

} // namespace

TEST_CASE("recipe: [[apt.source]], packages, accounts, groups and alternatives") {
    ocibake::test::ScratchDir dir("apt-recipe");
    auto path = ocibake::test::write_file(
        dir / "r.toml",
        kSource +
            "[[apt.source]]\nname = \"cuda\"\nurl = \"https://example.com/repo\"\n"
            "suites = [\"/\"]\ntrusted = true\npriority = 600\n"
            "[[layer]]\nname = \"sys\"\npackages = [\"python3\", \"libc6:i386=2.36-9\"]\n"
            "recommends = true\n"
            "account = [{name = \"sshd\", uid = 100, group = \"nogroup\", home = \"/run/sshd\"}]\n"
            "group = [{name = \"docker\", gid = 999, members = [\"sshd\"]}]\n"
            "alternative = [{name = \"editor\", path = \"/usr/bin/vim.basic\"}]\n");
    Recipe r = ocibake::load_recipe(path);
    REQUIRE(r.apt_sources.size() == 2);
    CHECK(r.apt_sources[0].name == "source-1");
    CHECK(r.apt_sources[0].url == "http://deb.debian.org/debian");
    CHECK(r.apt_sources[0].components == std::vector<std::string>{"main"});
    CHECK(r.apt_sources[0].keyring == dir / "k.gpg");
    CHECK(r.apt_sources[1].components.empty());
    CHECK(r.apt_sources[1].trusted);
    CHECK(r.apt_sources[1].priority == 600);
    const auto& layer = r.layers.at(0);
    REQUIRE(layer.packages.size() == 2);
    CHECK(layer.packages[1].str() == "libc6:i386=2.36-9");
    CHECK(layer.packages[1].where.line == 13);
    CHECK(layer.recommends);
    CHECK(layer.accounts.at(0).home == "/run/sshd");
    CHECK(layer.accounts.at(0).shell == "/usr/sbin/nologin");
    CHECK(layer.groups.at(0).members == std::vector<std::string>{"sshd"});
    CHECK(layer.alternatives.at(0).path == "/usr/bin/vim.basic");
    CHECK(layer.uses_image_below());
}

TEST_CASE("recipe: errors of the apt keys, at their place") {
    CHECK(recipe_error("[[layer]]\npackages = [\"bash\"]\n")
              .starts_with("r.toml:2:12: error: layer 'layer-1' lists packages, but the recipe has "
                           "no [[apt.source]]"));
    CHECK(recipe_error(kSource + "[[layer]]\npackages = [\"Bash\"]\n")
              .starts_with("r.toml:6:13: error: 'packages' entry 'Bash': 'Bash' is not a package "
                           "name (lowercase letters, digits, '+', '-', '.')"));
    CHECK(recipe_error(kSource + "[[layer]]\npackages = [\"bash\", \"bash=5.2\"]\n")
              .starts_with("r.toml:6:21: error: package 'bash' is listed twice\n"));
    CHECK(recipe_error("[[apt.source]]\nurl = \"ftp://x\"\nsuites = [\"a\"]\ntrusted = true\n")
              .starts_with("r.toml:2:7: error: 'url' 'ftp://x' is not an http:// or https:// URL"));
    CHECK(recipe_error("[[apt.source]]\nurl = \"http://x\"\nsuites = [\"a\"]\n")
              .starts_with("r.toml:1:1: error: [[apt.source]] needs 'keyring'"));
    CHECK(recipe_error("[[apt.source]]\nurl = \"http://x\"\nsuites = [\"a\"]\ntrusted = true\n"
                       "keyring = \"k\"\n")
              .starts_with("r.toml:5:11: error: 'keyring' and 'trusted = true' are mutually "
                           "exclusive"));
    CHECK(recipe_error("[[apt.source]]\nurl = \"http://x\"\nsuites = [\"/\"]\ntrusted = true\n"
                       "components = [\"main\"]\n")
              .starts_with("r.toml:5:14: error: 'components' is not used by a flat repository"));
    CHECK(recipe_error("[[apt.source]]\nurl = \"http://x\"\nsuites = [\"a\"]\ntrusted = true\n"
                       "suite = \"b\"\n")
              .starts_with("r.toml:5:1: error: unknown key 'suite' in [[apt.source]]\n"));
    CHECK(recipe_error("[[layer]]\naccount = [{name = \"Bad\", uid = 1}]\n")
              .starts_with("r.toml:2:20: error: 'name' 'Bad' is not a user or group name"));
    CHECK(recipe_error("[[layer]]\naccount = [{name = \"app\"}]\n")
              .starts_with("r.toml:2:12: error: [[layer.account]] needs 'uid'"));
    CHECK(recipe_error("[[layer]]\naccount = [{name = \"app\", uid = 1, home = \"h:x\"}]\n")
              .starts_with("r.toml:2:43: error: 'home' must be an absolute path"));
    CHECK(recipe_error("[[layer]]\nalternative = [{name = \"a/b\", path = \"/x\"}]\n")
              .starts_with("r.toml:2:24: error: 'name' 'a/b' is not an alternative name"));
}

TEST_CASE("recipe: mirrors and snapshot of an [[apt.source]]") {
    ocibake::test::ScratchDir dir("apt-recipe");
    auto path = ocibake::test::write_file(
        dir / "r.toml",
        kSource + "mirrors = [\"http://ftp.de.debian.org/debian/\", \"https://m.example/d\"]\n" +
            "[[apt.source]]\nname = \"b\"\nurl = \"https://repo.example/x\"\nsuites = [\"/\"]\n"
            "trusted = true\nsnapshot = \"https://snap.example/archive/x/\"\n"
            "[[apt.source]]\nname = \"c\"\nurl = \"http://deb.debian.org/debian-security\"\n"
            "suites = [\"bookworm-security\"]\ntrusted = true\nsnapshot = false\n"
            "[[apt.source]]\nname = \"d\"\nurl = \"http://archive.ubuntu.com/ubuntu\"\n"
            "suites = [\"noble\"]\ntrusted = true\nsnapshot = true\n");
    Recipe r = ocibake::load_recipe(path);
    REQUIRE(r.apt_sources.size() == 4);
    CHECK(r.apt_sources[0].mirrors ==
          std::vector<std::string>{"http://ftp.de.debian.org/debian", "https://m.example/d"});
    CHECK(!r.apt_sources[0].snapshot); // derived
    CHECK(r.apt_sources[1].snapshot == "https://snap.example/archive/x");
    CHECK(r.apt_sources[2].snapshot == "");
    CHECK(!r.apt_sources[3].snapshot);

    CHECK(recipe_error(kSource + "snapshot = 1\n")
              .starts_with("r.toml:5:12: error: 'snapshot' must be a URL or false, not an "
                           "integer\n"));
    CHECK(recipe_error(kSource + "snapshot = \"ftp://snap\"\n")
              .starts_with("r.toml:5:12: error: 'snapshot' 'ftp://snap' is not an http:// or "
                           "https:// URL of an archive's root\n"));
    CHECK(recipe_error(kSource + "mirrors = \"http://m\"\n")
              .starts_with("r.toml:5:11: error: 'mirrors' must be an array of strings, not a "
                           "string"));
    CHECK(recipe_error(kSource + "mirrors = [\"http://m\", \"http:///x\"]\n")
              .starts_with("r.toml:5:24: error: 'mirrors' 'http:///x' is not an http:// or "
                           "https:// URL of an archive's root\n"));
    CHECK(recipe_error("[[apt.source]]\nurl = \"https://repo.example.com/debian\"\n"
                       "suites = [\"a\"]\ntrusted = true\nsnapshot = true\n") ==
          "r.toml:5:12: error: no snapshot service is known for "
          "'https://repo.example.com/debian'\n 5 | snapshot = true\n   |            ^\n"
          "hint: write the service's URL (snapshot = \"https://...\"), or leave 'snapshot' out");
}

TEST_CASE("fallbacks: the snapshot service of the well-known archives") {
    using ocibake::apt::snapshot_service_for;
    for (const char* scheme : {"http://", "https://"}) {
        std::string s = scheme;
        CHECK(snapshot_service_for(s + "deb.debian.org/debian") ==
              "https://snapshot.debian.org/archive/debian");
        CHECK(snapshot_service_for(s + "deb.debian.org/debian-security") ==
              "https://snapshot.debian.org/archive/debian-security");
        CHECK(snapshot_service_for(s + "security.debian.org/debian-security") ==
              "https://snapshot.debian.org/archive/debian-security");
        CHECK(snapshot_service_for(s + "deb.debian.org/debian-ports") ==
              "https://snapshot.debian.org/archive/debian-ports");
        CHECK(snapshot_service_for(s + "ftp.de.debian.org/debian") ==
              "https://snapshot.debian.org/archive/debian");
        CHECK(snapshot_service_for(s + "Deb.Debian.org/debian/") ==
              "https://snapshot.debian.org/archive/debian");
        CHECK(snapshot_service_for(s + "archive.ubuntu.com/ubuntu") ==
              "https://snapshot.ubuntu.com/ubuntu");
        CHECK(snapshot_service_for(s + "de.archive.ubuntu.com/ubuntu") ==
              "https://snapshot.ubuntu.com/ubuntu");
        CHECK(snapshot_service_for(s + "security.ubuntu.com/ubuntu") ==
              "https://snapshot.ubuntu.com/ubuntu");
        CHECK(snapshot_service_for(s + "ports.ubuntu.com/ubuntu-ports") ==
              "https://snapshot.ubuntu.com/ubuntu-ports");
    }
    // Anything else has none: another path, a port, another host, a look-alike.
    for (const char* url :
         {"http://deb.debian.org/debian/extra", "http://deb.debian.org:8080/debian",
          "http://127.0.0.1:8000/debian", "http://deb.debian.org.evil/debian",
          "http://a.b.archive.ubuntu.com/ubuntu", "http://archive.ubuntu.com/",
          "https://developer.download.nvidia.com/compute/cuda/repos/x86_64",
          "ftp://deb.debian.org/debian"}) {
        INFO(url);
        CHECK(snapshot_service_for(url).empty());
    }
    CHECK(ocibake::apt::snapshot_time(1736590327) == "20250111T101207Z");
}

TEST_CASE("fallbacks: the places a package is looked for after its url, in order") {
    using ocibake::apt::DebPlace;
    using Kind = DebPlace::Kind;
    SourceSpec s;
    s.url = "http://deb.debian.org/debian-security";
    s.mirrors = {"http://m1.example/ds", "https://m2.example/x/debian-security"};
    LockedPackage p;
    p.name = "libssl3";
    p.version = "3.0.15-1~deb12u1";
    p.arch = "amd64";
    p.url = s.url + "/pool/updates/main/o/openssl/libssl3_3.0.15-1~deb12u1_amd64.deb";
    const std::string below = "/pool/updates/main/o/openssl/libssl3_3.0.15-1~deb12u1_amd64.deb";
    // The latest date recorded for the source's url (another url's does not count).
    std::vector<LockedRelease> releases = {
        {s.url, "bookworm-security", 1736500000, {}},
        {s.url, "bookworm-security-extra", 1736590327, {}},
        {"http://deb.debian.org/debian", "bookworm", 1799999999, {}},
    };
    CHECK(ocibake::apt::fallback_places(s, releases, p) ==
          std::vector<DebPlace>{
              {Kind::file, "http://m1.example/ds" + below},
              {Kind::file, "https://m2.example/x/debian-security" + below},
              {Kind::file,
               "https://snapshot.debian.org/archive/debian-security/20250111T101207Z" + below},
              {Kind::by_hash, "https://snapshot.debian.org"},
          });
    // A lock without dates: by hash only.
    CHECK(ocibake::apt::fallback_places(s, {}, p) ==
          std::vector<DebPlace>{{Kind::file, "http://m1.example/ds" + below},
                                {Kind::file, "https://m2.example/x/debian-security" + below},
                                {Kind::by_hash, "https://snapshot.debian.org"}});
    // snapshot = false: the mirrors only.
    s.snapshot = "";
    CHECK(ocibake::apt::fallback_places(s, releases, p).size() == 2);
    // A service of another scheme: by date only.
    s.mirrors.clear();
    s.snapshot = "https://snapshot.ubuntu.com/ubuntu";
    CHECK(ocibake::apt::fallback_places(s, releases, p) ==
          std::vector<DebPlace>{
              {Kind::file, "https://snapshot.ubuntu.com/ubuntu/20250111T101207Z" + below}});
    // A service named at <root>/archive/<name>: asked by hash at <root>.
    s.snapshot = "http://127.0.0.1:9/archive/debian";
    CHECK(ocibake::apt::fallback_places(s, {}, p) ==
          std::vector<DebPlace>{{Kind::by_hash, "http://127.0.0.1:9"}});
    // A package that is not below the source's url has none.
    p.url = "http://elsewhere.example/pool/x.deb";
    CHECK(ocibake::apt::fallback_places(s, releases, p).empty());
}

TEST_CASE("lock: [[apt.release]] read, checked and written back, times exactly") {
    CHECK(ocibake::lock_time_text(1736590327) == "2025-01-11T10:12:07Z");
    CHECK(ocibake::parse_lock_time("2025-01-11T10:12:07Z") == 1736590327);
    CHECK(ocibake::parse_lock_time("1970-01-01T00:00:00Z") == 0);
    for (const char* bad :
         {"2025-01-11 10:12:07Z", "2025-01-11T10:12:07", "2025-01-11T10:12:07+00:00",
          "2025-01-11T10:12:07.5Z", "2025-02-30T10:12:07Z", "2025-13-01T00:00:00Z",
          "2025-01-11T24:00:00Z", "25-01-11T10:12:07Z", "", "Sat, 11 Jan 2025"}) {
        INFO(bad);
        CHECK(!ocibake::parse_lock_time(bad));
    }
    const std::string hex(64, 'a');
    const std::string head = "version = 1\n\n[[apt]]\nlayer = \"system\"\npackages = [\"bash\"]\n"
                             "recommends = false\nsources = \"sha256:" +
                             hex + "\"\nbelow = \"sha256:" + hex + "\"\n";
    const std::string release = "\n[[apt.release]]\nurl = \"http://deb.debian.org/debian\"\n"
                                "suite = \"bookworm\"\ndate = \"2025-01-11T10:12:07Z\"\n";
    const std::string package = "\n[[apt.package]]\nname = \"bash\"\nversion = \"5.2.15-2+b2\"\n"
                                "arch = \"amd64\"\nsource = \"bash\"\nurl = "
                                "\"http://deb.debian.org/debian/pool/main/b/bash/b.deb\"\n"
                                "size = 1\nsha256 = \"sha256:" +
                                hex + "\"\n";
    ocibake::Lock lock = ocibake::parse_lock(head + release + package, "app.lock");
    REQUIRE(lock.apt.size() == 1);
    REQUIRE(lock.apt[0].releases.size() == 1);
    CHECK(lock.apt[0].releases[0] ==
          LockedRelease{"http://deb.debian.org/debian", "bookworm", 1736590327, {}});
    CHECK(lock.apt[0].releases[0].where.line == 10);
    std::string text = ocibake::to_text(lock, "app.toml");
    CHECK(text.ends_with(head.substr(12) + release + package));
    CHECK(ocibake::parse_lock(text, "app.lock") == lock);
    // Without it (a lock of an earlier ocibake): read, and written back without it.
    ocibake::Lock old = ocibake::parse_lock(head + package, "app.lock");
    CHECK(old.apt[0].releases.empty());
    CHECK(ocibake::to_text(old, "app.toml").ends_with(head.substr(12) + package));

    auto error = [&](const std::string& rel) {
        return error_of([&] { ocibake::parse_lock(head + rel + package, "app.lock"); }).what;
    };
    const std::string remake = "\nhint: run `ocibake lock` to remake the lock";
    CHECK(
        error("\n[[apt.release]]\nurl = \"http://x\"\nsuite = \"b\"\ndate = "
              "\"2025-01-11\"\n")
            .starts_with("app.lock:13:8: error: 'date' '2025-01-11' is not a UTC time of the form "
                         "2025-01-11T10:12:07Z"));
    CHECK(error("\n[[apt.release]]\nurl = \"http://x\"\nsuite = \"b\"\ndate = "
                "2025-01-11T10:12:07Z\n")
              .starts_with("app.lock:13:8: error: 'date' must be a string, not a date or time"));
    CHECK(error("\n[[apt.release]]\nurl = \"http://x\"\nsuite = \"b c\"\ndate = "
                "\"2025-01-11T10:12:07Z\"\n")
              .starts_with("app.lock:12:9: error: 'suite' 'b c' is not a suite"));
    CHECK(error("\n[[apt.release]]\nurl = \"x\"\nsuite = \"b\"\ndate = "
                "\"2025-01-11T10:12:07Z\"\n")
              .starts_with("app.lock:11:7: error: 'url' 'x' is not an http:// or https:// URL"));
    CHECK(error("\n[[apt.release]]\nurl = \"http://x\"\nsuite = \"b\"\n")
              .starts_with("app.lock:10:1: error: [[apt.release]] needs 'date'"));
    CHECK(error("\n[[apt.release]]\nurl = \"http://x\"\nsuite = \"b\"\ndate = "
                "\"2025-01-11T10:12:07Z\"\nsigned = true\n")
              .starts_with("app.lock:14:1: error: unknown key 'signed' in [[apt.release]]"));
    CHECK(error(release + release) ==
          "app.lock:15:1: error: suite bookworm of http://deb.debian.org/debian is recorded "
          "twice for layer 'system' (first at app.lock:10:1)" +
              remake);
}

TEST_CASE("certificates: OpenSSL's subject hashes, as this machine's /etc/ssl/certs has them") {
    namespace fs = std::filesystem;
    int checked = 0;
    for (const auto& f : fs::directory_iterator("/etc/ssl/certs")) {
        std::string name = f.path().filename().string();
        if (name.size() != 10 || name[8] != '.' || !f.is_symlink()) {
            continue;
        }
        auto hash = apt::detail::subject_hash(ocibake::test::read_file(f.path()));
        REQUIRE(hash);
        char expected[16];
        std::snprintf(expected, sizeof expected, "%08lx", *hash);
        CHECK(name.substr(0, 8) == expected);
        ++checked;
    }
    CHECK(checked > 100);
    CHECK(!apt::detail::subject_hash("not a certificate"));
}
