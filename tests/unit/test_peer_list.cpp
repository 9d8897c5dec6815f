// SPDX-License-Identifier: Apache-2.0
// What a node learns from announcements, and what it refuses to.
#include "peers/peer_list.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>

#include <string>

using namespace hsm;

namespace {

using addresses = std::vector<std::string>;

json node(std::string id, std::string address, std::int64_t since, json peers = json::array()) {
    return {{"hsm_id", id}, {"address", address}, {"since", since}, {"peers", peers}};
}

json entry(std::string id, std::string address, std::int64_t since) {
    return {{"hsm_id", id}, {"address", address}, {"since", since}};
}

// Announcements received at a time after every `since` the tests use, from
// the node they name (its node certificate said so).
bool learn_at(peer_list& peers, const json& announcement) {
    auto named = announcement.is_object() ? announcement.find("hsm_id") : announcement.end();
    auto speaker = named != announcement.end() && named->is_string() ? named->get<std::string>()
                                                                     : std::string();
    return peers.learn(announcement, 1'000'000, speaker);
}

} // namespace

TEST_CASE("a --peer address is bound to the node that answers from it") {
    peer_list peers("hsm-me", json{"10.0.0.1:2225"});
    peers.set_self("10.0.0.9:2225", 100);
    CHECK(peers.addresses() == addresses{"10.0.0.1:2225"});
    CHECK(learn_at(peers, node("hsm-a", "10.0.0.1:2225", 50,
                               json{entry("hsm-b", "10.0.0.2:2225", 60),
                                    entry("hsm-me", "10.0.0.7:1", 999),     // never itself
                                    entry("hsm-x", "10.0.0.9:2225", 1)}))); // nor its address
    CHECK(peers.addresses() == addresses{"10.0.0.1:2225", "10.0.0.2:2225"});
    CHECK(peers.members().front().hsm_id == "hsm-a");
    CHECK_FALSE(learn_at(peers, node("hsm-a", "10.0.0.1:2225", 50))); // nothing new
    auto said = peers.announcement();
    CHECK(said["hsm_id"] == "hsm-me");
    CHECK(said["address"] == "10.0.0.9:2225");
    CHECK(said["peers"].size() == 2);
}

TEST_CASE("a node that moved replaces its old address; old news never wins") {
    peer_list peers("hsm-me", json{entry("hsm-a", "127.0.0.1:4001", 10)});
    // A restart on a new port, said by the node itself.
    CHECK(learn_at(peers, node("hsm-a", "127.0.0.1:5001", 20)));
    CHECK(peers.addresses() == addresses{"127.0.0.1:5001"});
    // Another node that has not heard relays the old address: only the
    // sender itself is new.
    CHECK(learn_at(
        peers, node("hsm-b", "127.0.0.1:5002", 20, json{entry("hsm-a", "127.0.0.1:4001", 10)})));
    CHECK(peers.addresses() == addresses{"127.0.0.1:5001", "127.0.0.1:5002"});
    // A node's word about a port does not erase another node's own word
    // about it (red team S4): both stay until hsm-b says it moved.
    CHECK(learn_at(peers, node("hsm-c", "127.0.0.1:5002", 30)));
    CHECK(peers.addresses() == addresses{"127.0.0.1:5001", "127.0.0.1:5002", "127.0.0.1:5002"});
    CHECK(learn_at(peers, node("hsm-b", "127.0.0.1:5003", 40)));
    CHECK(peers.addresses() == addresses{"127.0.0.1:5001", "127.0.0.1:5003", "127.0.0.1:5002"});
    CHECK(peers.members().back().hsm_id == "hsm-c");
    // What is stored comes back the same.
    peer_list again("hsm-me", peers.to_json());
    CHECK(again.to_json() == peers.to_json());
}

TEST_CASE("garbage is ignored and the list is bounded") {
    peer_list peers("hsm-me", json::array());
    CHECK_FALSE(learn_at(peers, json::array()));
    CHECK_FALSE(learn_at(peers, json{{"peers", "x"}}));
    CHECK_FALSE(
        learn_at(peers, json{{"peers", json{1, nullptr, json::array(), "no-port", "h:0", "h:70000",
                                            "", std::string(271, 'a') + ":1"}}}));
    CHECK_FALSE(learn_at(peers, node(std::string(65, 'h'), "10.0.0.1:1", 1)));
    CHECK_FALSE(
        learn_at(peers, json{{"hsm_id", "hsm-a"}, {"address", "10.0.0.1:1"}, {"since", "1"}}));
    CHECK(peers.addresses().empty());
    json many = json::array();
    for (int i = 1; i <= 100; ++i)
        many.push_back(
            entry("hsm-" + std::to_string(i), "10.0.1." + std::to_string(i) + ":2225", 1));
    CHECK(learn_at(peers, json{{"peers", many}}));
    CHECK(peers.addresses().size() == peer_list::max_peers);
}

TEST_CASE("a rogue node's announcement moves no node, fills no list, prints nothing") {
    peer_list peers("hsm-me", json::array());
    peers.set_self("10.0.0.9:2225", 100);
    REQUIRE(learn_at(peers, node("hsm-a", "10.0.0.1:2225", 50)));
    // Relayed: another node's word about hsm-a never moves it, however new.
    REQUIRE(learn_at(peers, node("hsm-r", "10.0.0.66:2225", 60)));
    CHECK_FALSE(learn_at(
        peers, node("hsm-r", "10.0.0.66:2225", 60, json{entry("hsm-a", "10.0.0.66:1", 900)})));
    CHECK(peers.members().front().address == "10.0.0.1:2225");
    // A word from the future is no word; nor an escape in a host or an id.
    CHECK_FALSE(learn_at(
        peers, node("hsm-a", "10.0.0.5:2225", 1'000'000 + peer_list::max_clock_skew_ms + 1)));
    CHECK_FALSE(learn_at(peers, node("hsm-e", "a\x1b]0;pwned\x07b:1", 10)));
    CHECK_FALSE(learn_at(peers, node("hsm-\x9b", "10.0.0.7:1", 10)));
    // 40 relayed junk entries fill the list; a node heard first-hand still
    // gets in, and the relayed one it replaces was junk.
    json junk = json::array();
    for (int i = 0; i < 40; ++i)
        junk.push_back(entry(fmt::format("junk-{}", i), fmt::format("10.1.0.{}:1", i), 10));
    learn_at(peers, node("hsm-r", "10.0.0.66:2225", 70, junk));
    CHECK(peers.members().size() == peer_list::max_peers);
    CHECK(learn_at(peers, node("hsm-new", "10.0.0.3:2225", 80)));
    CHECK(std::ranges::count(peers.addresses(), std::string("10.0.0.3:2225")) == 1);
    CHECK(std::ranges::count(peers.addresses(), std::string("10.0.0.1:2225")) == 1);
    // Stored and read back, the relayed entries stay relayed.
    peer_list again("hsm-me", peers.to_json());
    CHECK(std::ranges::count_if(again.members(), [](const auto& p) { return !p.first_hand; }) ==
          std::ranges::count_if(peers.members(), [](const auto& p) { return !p.first_hand; }));
}

TEST_CASE("only a node's own certificate makes its entry its own word") {
    peer_list peers("hsm-me", json{entry("hsm-a", "127.0.0.1:4001", 10)});
    // The cluster certificate (any node, or a rogue holding it) proves no
    // HSM: an entry naming hsm-a is relayed, and a relay never moves a node.
    CHECK_FALSE(peers.learn(node("hsm-a", "127.0.0.1:6666", 20), 1'000'000, ""));
    // Nor does another node's certificate.
    CHECK_FALSE(peers.learn(node("hsm-a", "127.0.0.1:6666", 20), 1'000'000, "hsm-r"));
    CHECK(peers.addresses() == addresses{"127.0.0.1:4001"});
    // An unknown node is still learnt, as relayed (it gives way when full).
    CHECK(peers.learn(node("hsm-r", "127.0.0.1:7777", 20), 1'000'000, ""));
    CHECK_FALSE(peers.members().back().first_hand);
    // hsm-a's own certificate moves it.
    CHECK(peers.learn(node("hsm-a", "127.0.0.1:5001", 20), 1'000'000, "hsm-a"));
    CHECK(peers.addresses() == addresses{"127.0.0.1:5001", "127.0.0.1:7777"});
}

namespace {

bool has(const peer_list& peers, std::string_view id, std::string_view address) {
    return std::ranges::any_of(peers.members(), [&](const peer_address& p) {
        return p.hsm_id == id && p.address == address;
    });
}

} // namespace

TEST_CASE("red team: a node's own word never erases another's, and beats any relay") {
    peer_list peers("hsm-me", json::array());
    CHECK(peers.learn(node("hsm-b", "127.0.0.1:4002", 10), 1'000'000, "hsm-b"));
    // S4: hsm-a, under its own certificate, says it is at hsm-b's address:
    // hsm-a's word is about hsm-a; hsm-b keeps its own entry.
    CHECK(peers.learn(node("hsm-a", "127.0.0.1:4002", 20), 1'000'000, "hsm-a"));
    CHECK(has(peers, "hsm-b", "127.0.0.1:4002"));
    // A relay naming hsm-c nobody knew, with a `since` ahead of any word of
    // its own, adds it; hsm-c's own (older) word still moves it.
    CHECK(peers.learn(
        node("hsm-a", "127.0.0.1:4001", 30, json{entry("hsm-c", "127.0.0.1:1", 1'059'000)}),
        1'000'000, "hsm-a"));
    CHECK(has(peers, "hsm-c", "127.0.0.1:1"));
    CHECK(peers.learn(node("hsm-c", "127.0.0.1:4003", 40), 1'000'000, "hsm-c"));
    CHECK(has(peers, "hsm-c", "127.0.0.1:4003"));
    CHECK_FALSE(has(peers, "hsm-c", "127.0.0.1:1"));
}

TEST_CASE("red team: a relay takes no address another node's entry holds") {
    // S5: without node certificates every entry is relayed; a rogue relays
    // an invented node at hsm-b's address: hsm-b stays where it is.
    peer_list peers("hsm-me", json::array());
    CHECK(peers.learn(node("hsm-x", "127.0.0.1:9", 10, json{entry("hsm-b", "127.0.0.1:4002", 10)}),
                      1'000'000, ""));
    peers.learn(node("hsm-r", "127.0.0.1:8", 20, json{entry("fake-1", "127.0.0.1:4002", 30)}),
                1'000'000, "");
    CHECK(has(peers, "hsm-b", "127.0.0.1:4002"));
    CHECK_FALSE(has(peers, "fake-1", "127.0.0.1:4002"));
    // Nor binds a --peer address: only the node answering there does.
    peer_list bare("hsm-me", json{"10.0.0.1:2225"});
    bare.learn(node("hsm-r", "127.0.0.1:8", 20, json{entry("fake-2", "10.0.0.1:2225", 30)}),
               1'000'000, "");
    CHECK_FALSE(has(bare, "fake-2", "10.0.0.1:2225"));
    CHECK(bare.learn(node("hsm-a", "10.0.0.1:2225", 40), 1'000'000, ""));
    CHECK(has(bare, "hsm-a", "10.0.0.1:2225"));
}

TEST_CASE("red team: relayed junk in a full list gives way to a node announcing itself") {
    // S6: a rogue relays 40 invented nodes; a new node without a node
    // certificate announcing itself still gets a place.
    peer_list peers("hsm-me", json::array());
    json junk = json::array();
    for (int i = 0; i < 40; ++i)
        junk.push_back(entry(fmt::format("junk-{}", i), fmt::format("127.0.0.1:{}", 2000 + i), 5));
    peers.learn(node("hsm-r", "127.0.0.1:8", 5, junk), 1'000'000, "");
    CHECK(peers.members().size() == peer_list::max_peers);
    CHECK(peers.learn(node("hsm-new", "127.0.0.1:4444", 30), 1'000'000, ""));
    CHECK(has(peers, "hsm-new", "127.0.0.1:4444"));
}
