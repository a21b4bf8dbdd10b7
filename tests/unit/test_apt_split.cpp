// Tests of layers that stay put (docs/apt.md): a recipe layer's packages split into parts,
// and a part's key made from the facts of the image below it uses, planned from package
// records alone (tests/integration/test_apt_parts.cpp builds real images).

#include "apt/image_build.hpp"
#include "apt/part.hpp"

#include "support/checks.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace ocibake;
using namespace ocibake::apt;
using namespace ocibake::apt::detail;
using namespace ocibake::test;

namespace {

LockedPackage package(const std::string& name, const std::string& source, std::uint64_t size,
                      const std::string& version = "1") {
    LockedPackage p;
    p.name = name;
    p.version = version;
    p.arch = "amd64";
    p.source = source;
    p.url = "http://repo/" + name + "_" + version + "_amd64.deb";
    p.size = size;
    p.sha256 = sha256_of(name + " " + version);
    return p;
}

/// Source names whose hash is (or is not) a group boundary for modulus 6.
std::vector<std::string> sources(bool boundary, std::size_t count, const std::string& prefix) {
    std::vector<std::string> out;
    for (int i = 0; out.size() < count; ++i) {
        std::string name = prefix + std::to_string(i);
        if ((source_hash(name) % 6 == 0) == boundary) {
            out.push_back(name);
        }
    }
    return out;
}

/// Part name -> its packages ("name" at version 1, else "name=version").
std::map<std::string, std::vector<std::string>> parts_of(const std::vector<PartPlan>& parts) {
    std::map<std::string, std::vector<std::string>> out;
    for (const PartPlan& p : parts) {
        for (const LockedPackage& pkg : p.packages) {
            out[p.name].push_back(pkg.version == "1" ? pkg.name : pkg.name + "=" + pkg.version);
        }
    }
    return out;
}

/// A package record as a build keeps it: its stanza and its paths.
DebInfo info(const std::string& name, const std::string& version,
             const std::vector<std::pair<std::string, char>>& paths,
             const std::string& extra = "") {
    DebInfo i;
    i.stanza = "Package: " + name + "\nStatus: install ok installed\nVersion: " + version +
               "\nArchitecture: amd64\n" + extra + "Description: test\n";
    for (const auto& [path, type] : paths) {
        ImageNode n;
        n.type = type == 'd' ? ImageNode::Type::directory : ImageNode::Type::file;
        i.nodes.emplace_back(path, n);
    }
    i.control = {"md5sums"};
    return i;
}

/// Plans parts in order on one model: each (layer, packages, records); returns each
/// part's facts digest.
struct Planned {
    std::vector<Digest> digests;
    std::vector<PartOutcome> outcomes;
};
Planned
plan(const std::vector<std::tuple<std::size_t, std::vector<LockedPackage>, std::vector<DebInfo>>>&
         parts,
     const ImageFacts& base = {}) {
    ImageModel model(base);
    Planned out;
    for (const auto& [layer, packages, infos] : parts) {
        model.begin_layer(layer);
        PartFacts facts(&model);
        std::vector<const DebInfo*> ptrs;
        for (const DebInfo& i : infos) {
            ptrs.push_back(&i);
        }
        PartOutcome outcome = plan_from_infos(packages, ptrs, facts);
        model.commit(outcome);
        out.digests.push_back(facts.digest());
        out.outcomes.push_back(std::move(outcome));
    }
    return out;
}

} // namespace

TEST_CASE("parts: a source package is a unit, big units alone, small ones grouped by hash") {
    std::vector<std::string> plain = sources(false, 4, "s");
    std::vector<std::string> edge = sources(true, 1, "t");
    std::vector<LockedPackage> packages = {
        package("big1", "bigsrc", 1'500'000),       package("big2", "bigsrc", 600'000), // 2.1 MB
        package(plain[0] + "-bin", plain[0], 1000), package(plain[0] + "-lib", plain[0], 1000),
        package(plain[1], plain[1], 1000),          package(edge[0], edge[0], 1000),
        package(plain[2], plain[2], 1000),          package("nosource", "", 1000),
    };
    std::sort(packages.begin(), packages.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    auto parts = split_packages("sys", packages, true, {});
    // Sources in name order: bigsrc alone (2.1 MB >= 2 MB); the small ones grouped, a group
    // ending after the boundary source t…; a package without a source is its own unit.
    std::map<std::string, std::vector<std::string>> expected;
    expected["sys/bigsrc"] = {"big1", "big2"};
    std::vector<std::string> small = {plain[0], plain[1], plain[2], edge[0], "nosource"};
    std::sort(small.begin(), small.end());
    std::string first;
    for (const std::string& s : small) {
        first = first.empty() ? s : first;
        for (const auto& p : packages) {
            if ((p.source.empty() ? p.name : p.source) == s) {
                expected["sys/" + first].push_back(p.name);
            }
        }
        if (source_hash(s) % 6 == 0) {
            first.clear(); // the next source starts a group
        }
    }
    for (auto& [name, list] : expected) {
        std::sort(list.begin(), list.end());
    }
    CHECK(parts_of(parts) == expected);
    // Parts come in the order of their first source; each keeps the lock's order.
    for (std::size_t i = 1; i < parts.size(); ++i) {
        CHECK(parts[i - 1].name < parts[i].name);
    }
    // One part: named after the layer; split = false: one part whatever the sizes.
    auto one = split_packages("sys", {package("a", "a", 5'000'000)}, true, {});
    REQUIRE(one.size() == 1);
    CHECK(one[0].name == "sys");
    auto whole = split_packages("sys", packages, false, {});
    REQUIRE(whole.size() == 1);
    CHECK(whole[0].name == "sys");
    CHECK(whole[0].packages.size() == packages.size());
    CHECK(split_packages("sys", {}, true, {}).empty());
}

TEST_CASE("parts: adding, removing or bumping one unit changes one part (two at a boundary)") {
    // 60 small sources: about ten groups.
    std::vector<LockedPackage> packages;
    for (int i = 0; i < 60; ++i) {
        std::string s = "src" + std::to_string(1000 + i);
        packages.push_back(package(s, s, 10'000 + static_cast<std::uint64_t>(i)));
    }
    auto before = parts_of(split_packages("l", packages, true, {}));
    REQUIRE(before.size() > 5);
    // Layers whose digest would change: parts with packages no part had before (what a
    // push uploads; a part's name is only a label).
    auto changed = [&](const std::vector<LockedPackage>& other) {
        std::set<std::vector<std::string>> had;
        for (const auto& [name, list] : before) {
            had.insert(list);
        }
        std::size_t n = 0;
        for (const auto& [name, list] : parts_of(split_packages("l", other, true, {}))) {
            n += had.count(list) ? 0 : 1;
        }
        return n;
    };
    for (int i = 0; i < 60; ++i) {
        std::string s = "src" + std::to_string(1000 + i);
        // Removed: its group changes (a boundary's group and the next become one); nothing
        // changes when it was a part alone.
        std::vector<LockedPackage> removed = packages;
        removed.erase(removed.begin() + i);
        INFO(s << (source_hash(s) % 6 == 0 ? " (a boundary)" : ""));
        CHECK(changed(removed) <= 1);
        // Bumped (another version, another size): its group only.
        std::vector<LockedPackage> bumped = packages;
        bumped[static_cast<std::size_t>(i)] = package(s, s, 20'000, "2");
        CHECK(changed(bumped) == 1);
    }
    // Added: its group; a boundary splits its group in two.
    for (const std::string& s : {std::string("src1000a"), std::string("src1029z")}) {
        std::vector<LockedPackage> added = packages;
        added.push_back(package(s, s, 1000));
        std::sort(added.begin(), added.end(),
                  [](const auto& a, const auto& b) { return a.name < b.name; });
        INFO(s);
        CHECK((source_hash(s) % 6 == 0) == (s == "src1000a")); // one of each kind
        CHECK(changed(added) == (s == "src1000a" ? 2u : 1u));
    }
    // A unit that grows past the threshold leaves its group for a part of its own.
    std::vector<LockedPackage> grown = packages;
    grown[10] = package(grown[10].name, grown[10].source, 3'000'000, "2");
    CHECK(changed(grown) == 2);
}

TEST_CASE("parts: a part's facts are those of its own paths in the image below") {
    LockedPackage lib = package("lib", "lib", 1000);
    LockedPackage other = package("other", "other", 1000);
    LockedPackage docs = package("docs", "docs", 1000);
    LockedPackage app = package("app", "app", 1000);
    DebInfo lib_info =
        info("lib", "1", {{"usr", 'd'}, {"usr/lib", 'd'}, {"usr/lib/libx.so.1", 'f'}});
    DebInfo other_info = info("other", "1", {{"usr", 'd'}, {"usr/bin", 'd'}, {"usr/bin/o", 'f'}});
    DebInfo docs_info = info(
        "docs", "1",
        {{"usr", 'd'}, {"usr/share", 'd'}, {"usr/share/app", 'd'}, {"usr/share/app/README", 'f'}});
    DebInfo app_info = info("app", "1",
                            {{"usr", 'd'},
                             {"usr/lib", 'd'},
                             {"usr/lib/app.so", 'f'},
                             {"usr/share", 'd'},
                             {"usr/share/app", 'd'},
                             {"usr/share/app/x", 'f'}});
    // Layer 0: lib; layer 1: app.
    Planned first = plan({{0, {lib}, {lib_info}}, {1, {app}, {app_info}}});
    // Another package below that has none of app's paths: app's facts are the same.
    Planned unrelated = plan({{0, {lib, other}, {lib_info, other_info}}, {1, {app}, {app_info}}});
    CHECK(unrelated.digests[1] == first.digests[1]);
    CHECK(unrelated.digests[0] != first.digests[0]);
    // A package below that makes a directory app has (usr/share/app): app no longer
    // writes it, and its facts say so.
    Planned related = plan({{0, {docs, lib}, {docs_info, lib_info}}, {1, {app}, {app_info}}});
    CHECK(related.digests[1] != first.digests[1]);
    CHECK(first.outcomes[1].dirs.count("usr/share/app") == 1);
    CHECK(related.outcomes[1].dirs.count("usr/share/app") == 0);
    // The same directory in a lower part of the same recipe layer does not count: each
    // part writes the directories it has.
    Planned same_layer = plan({{1, {docs}, {docs_info}}, {1, {app}, {app_info}}});
    CHECK(same_layer.outcomes[1].dirs.count("usr/share/app") == 1);
}

TEST_CASE("parts: a file a lower part's package ships is refused unless one Replaces the other") {
    LockedPackage a = package("a", "a", 1000);
    LockedPackage b = package("b", "b", 1000);
    DebInfo a_info = info("a", "1", {{"etc", 'd'}, {"etc/conf", 'f'}, {"etc/a", 'f'}});
    DebInfo b_info = info("b", "1", {{"etc", 'd'}, {"etc/conf", 'f'}});
    CHECK(error_of([&] {
              plan({{0, {a}, {a_info}}, {0, {b}, {b_info}}});
          }).what ==
          "package b 1 (amd64) (http://repo/b_1_amd64.deb) ships /etc/conf, which package a 1 "
          "(amd64) ships too; dpkg refuses this unless one declares Replaces on the other");
    // b Replaces a: b's part writes the file and a's list without it.
    DebInfo b_replaces = info("b", "1", {{"etc", 'd'}, {"etc/conf", 'f'}}, "Replaces: a\n");
    Planned taken = plan({{0, {a}, {a_info}}, {0, {b}, {b_replaces}}});
    CHECK(taken.outcomes[1].files.count("etc/conf") == 1);
    CHECK(taken.outcomes[1].lists.at("a") == std::vector<std::string>{"/.", "/etc", "/etc/a"});
    // a Replaces b (the lower one replaces the upper one): b's part does not write it.
    DebInfo a_replaces =
        info("a", "1", {{"etc", 'd'}, {"etc/conf", 'f'}, {"etc/a", 'f'}}, "Replaces: b\n");
    Planned kept = plan({{0, {a}, {a_replaces}}, {0, {b}, {b_info}}});
    CHECK(kept.outcomes[1].files.count("etc/conf") == 0);
    CHECK(kept.outcomes[1].unwritten[0] == std::set<std::string>{"etc/conf"});
    CHECK(kept.outcomes[1].installed[0].list == std::vector<std::string>{"/.", "/etc"});
}

TEST_CASE("parts: facts replayed when writing must have been asked when planning") {
    LockedPackage a = package("a", "a", 1000);
    DebInfo a_info = info("a", "1", {{"etc", 'd'}, {"etc/a", 'f'}});
    ImageModel model(ImageFacts{});
    PartFacts facts(&model);
    plan_from_infos({a}, {&a_info}, facts);
    facts.detach();
    Digest before = facts.digest();
    // The same questions: answered from what was recorded.
    plan_from_infos({a}, {&a_info}, facts);
    CHECK(facts.digest() == before);
    // Another path: not known.
    DebInfo changed = info("a", "1", {{"etc", 'd'}, {"etc/b", 'f'}});
    auto caught = error_of([&] { plan_from_infos({a}, {&changed}, facts); });
    CHECK(caught.kind == ErrorKind::internal);
    CHECK(caught.what.starts_with("a part asked the image below about "));
}
