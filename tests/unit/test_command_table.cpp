// SPDX-License-Identifier: Apache-2.0
// The command table is the single source: lookup, completion, help, the man
// page's command list and its confirmation set all agree with it.
#include "command_table.hpp"
#include "shell.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <doctest/doctest.h>

using namespace hsm;

namespace {

std::string man_page() {
    const char* path = std::getenv("HSMSH_MAN");
    REQUIRE_MESSAGE(path, "set HSMSH_MAN to man/hsmsh.1");
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// The section of the man page from ".SH name" to the next ".SH".
std::string section(const std::string& page, const std::string& name) {
    auto start = page.find(".SH " + name);
    REQUIRE(start != std::string::npos);
    auto end = page.find("\n.SH ", start + 1);
    return page.substr(start, end - start);
}

} // namespace

TEST_CASE("every entry is found by its name, completed and complete") {
    auto table = command_table();
    CHECK(std::is_sorted(table.begin(), table.end(),
                         [](const auto& a, const auto& b) { return a.name < b.name; }));
    auto offered = complete_words({}, "", {});
    for (const auto& spec : table) {
        CAPTURE(spec.name);
        CHECK(find_command(spec.name).spec == &spec);
        CHECK(std::count(offered.begin(), offered.end(), std::string(spec.name)) == 1);
        CHECK((spec.handler != nullptr)); // a function pointer: doctest cannot print one
        CHECK(spec.synopsis.starts_with(spec.name));
        CHECK(spec.min_args <= spec.max_args);
        if (spec.password_arg >= 0) {
            CHECK(static_cast<std::size_t>(spec.password_arg) < spec.max_args);
            CHECK(spec.completes[0] == completion::user_types);
        }
        if (!spec.lead.empty()) CHECK(spec.lead.find("{0}") != std::string_view::npos);
    }
    CHECK(offered.size() == table.size());
}

TEST_CASE("the man page lists every command, and confirms exactly the critical ones") {
    auto page = man_page();
    auto commands = section(page, "COMMANDS");
    for (const auto& spec : command_table()) {
        CAPTURE(spec.name);
        std::regex entry("\\n\\.BI? " + std::string(spec.name) + "[ \\n\\\\]");
        CHECK(std::regex_search(commands, entry));
    }
    // CONFIRMATION names the critical commands in its first sentence.
    auto confirmation = section(page, "CONFIRMATION");
    auto first = confirmation.substr(0, confirmation.find("\nprint"));
    std::set<std::string> named, critical;
    for (const auto& spec : command_table()) {
        if (first.find(std::string(spec.name)) != std::string::npos)
            named.insert(std::string(spec.name));
        if (spec.critical) critical.insert(std::string(spec.name));
    }
    CHECK(named == critical);
    // The CMU set is CMU's own (createUser and changePswd ask; deleteUser,
    // syncUser and the rest do not), the man page names it under
    // --cmu-compat, and hsmsh asks wherever CMU does.
    std::set<std::string> cmu;
    for (const auto& spec : command_table()) {
        if (asks_confirmation(spec, confirmation_set::cmu)) cmu.insert(std::string(spec.name));
        CHECK(asks_confirmation(spec, confirmation_set::hsmsh) == spec.critical);
        if (spec.cmu_critical) CHECK(spec.critical);
    }
    CHECK(cmu == std::set<std::string>{"changePswd", "createUser", "registerQuorumPubKey",
                                       "setAttribute", "setMValue", "shareKey"});
    auto options = section(page, "OPTIONS");
    auto flag = options.substr(options.find("cmu\\-compat"));
    flag = flag.substr(0, flag.find(".TP"));
    for (const auto& name : cmu)
        CHECK(flag.find(name) != std::string::npos);
}

TEST_CASE("Tab offers user names as last listed, cluster ids and key handles where they fit") {
    completion_sources known{
        {"alice", "albert", "bob"}, {"cluster-a", "cluster-b"}, {"17", "18", "262"}};
    using v = std::vector<std::string>;
    CHECK(complete_words({"deleteUser", "CU"}, "al", known) == v{"alice", "albert"});
    CHECK(complete_words({"loginHSM", "CO"}, "b", known) == v{"bob"});
    CHECK(complete_words({"syncUser"}, "bo", known) == v{"bob"});
    CHECK(complete_words({"useCluster"}, "cluster-", known) == v{"cluster-a", "cluster-b"});
    // A new user's name is not among the existing ones; nor is a password.
    CHECK(complete_words({"createUser", "CU"}, "a", known).empty());
    CHECK(complete_words({"changePswd", "CU", "alice"}, "", known).empty());
    CHECK(complete_words({"deleteUser"}, "C", known) == v{"CO", "CU"});
    CHECK(complete_words({"getKeyInfo"}, "1", known) == v{"17", "18"});
    CHECK(complete_words({"getKeyInfo", "-k"}, "2", known) == v{"262"});
    CHECK(complete_words({"shareKey"}, "", known) == v{"17", "18", "262"});
    CHECK(complete_words({"findAllKeys"}, "1", known).empty()); // a user id, not a handle
}
