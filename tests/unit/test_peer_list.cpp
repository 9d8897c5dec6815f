// SPDX-License-Identifier: Apache-2.0
// What a node learns from announcements, and what it refuses to.
#include "peer_list.hpp"

#include <doctest/doctest.h>

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

} // namespace

TEST_CASE("a --peer address is bound to the node that answers from it") {
    peer_list peers("hsm-me", json{"10.0.0.1:2225"});
    peers.set_self("10.0.0.9:2225", 100);
    CHECK(peers.addresses() == addresses{"10.0.0.1:2225"});
    CHECK(peers.learn(node("hsm-a", "10.0.0.1:2225", 50,
                           json{entry("hsm-b", "10.0.0.2:2225", 60),
                                entry("hsm-me", "10.0.0.7:1", 999),     // never itself
                                entry("hsm-x", "10.0.0.9:2225", 1)}))); // nor its address
    CHECK(peers.addresses() == addresses{"10.0.0.1:2225", "10.0.0.2:2225"});
    CHECK(peers.members().front().hsm_id == "hsm-a");
    CHECK_FALSE(peers.learn(node("hsm-a", "10.0.0.1:2225", 50))); // nothing new
    auto said = peers.announcement();
    CHECK(said["hsm_id"] == "hsm-me");
    CHECK(said["address"] == "10.0.0.9:2225");
    CHECK(said["peers"].size() == 2);
}

TEST_CASE("a node that moved replaces its old address; old news never wins") {
    peer_list peers("hsm-me", json{entry("hsm-a", "127.0.0.1:4001", 10)});
    // A restart on a new port, said by the node itself.
    CHECK(peers.learn(node("hsm-a", "127.0.0.1:5001", 20)));
    CHECK(peers.addresses() == addresses{"127.0.0.1:5001"});
    // Another node that has not heard relays the old address: only the
    // sender itself is new.
    CHECK(peers.learn(
        node("hsm-b", "127.0.0.1:5002", 20, json{entry("hsm-a", "127.0.0.1:4001", 10)})));
    CHECK(peers.addresses() == addresses{"127.0.0.1:5001", "127.0.0.1:5002"});
    // A port another node left is taken by a newer word.
    CHECK(peers.learn(node("hsm-c", "127.0.0.1:5002", 30)));
    CHECK(peers.addresses() == addresses{"127.0.0.1:5001", "127.0.0.1:5002"});
    CHECK(peers.members().back().hsm_id == "hsm-c");
    // What is stored comes back the same.
    peer_list again("hsm-me", peers.to_json());
    CHECK(again.to_json() == peers.to_json());
}

TEST_CASE("garbage is ignored and the list is bounded") {
    peer_list peers("hsm-me", json::array());
    CHECK_FALSE(peers.learn(json::array()));
    CHECK_FALSE(peers.learn(json{{"peers", "x"}}));
    CHECK_FALSE(peers.learn(json{{"peers", json{1, nullptr, json::array(), "no-port", "h:0",
                                                "h:70000", "", std::string(271, 'a') + ":1"}}}));
    CHECK_FALSE(peers.learn(node(std::string(65, 'h'), "10.0.0.1:1", 1)));
    CHECK_FALSE(peers.learn(json{{"hsm_id", "hsm-a"}, {"address", "10.0.0.1:1"}, {"since", "1"}}));
    CHECK(peers.addresses().empty());
    json many = json::array();
    for (int i = 1; i <= 100; ++i)
        many.push_back(
            entry("hsm-" + std::to_string(i), "10.0.1." + std::to_string(i) + ":2225", 1));
    CHECK(peers.learn(json{{"peers", many}}));
    CHECK(peers.addresses().size() == peer_list::max_peers);
}
