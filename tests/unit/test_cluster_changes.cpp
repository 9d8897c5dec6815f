// SPDX-License-Identifier: Apache-2.0
// The pure parts of cluster-wide changes: the resolution rule for a prepared
// change, planned changes on the wire, and the comparison of user lists.
#include "changes/planned_change.hpp"
#include "divergence.hpp"
#include "hsmsh/sealing.hpp"

#include <doctest/doctest.h>

using namespace hsm;

TEST_CASE("a prepared change in doubt resolves by what the peers say") {
    using enum peer_answer;
    auto rule = [](std::initializer_list<peer_answer> answers, bool give_up = false) {
        return resolve_prepared(std::vector<peer_answer>(answers), give_up);
    };
    CHECK(rule({committed}) == resolution::commit);
    CHECK(rule({prepared, committed}) == resolution::commit);
    CHECK(rule({unreachable, committed}) == resolution::commit);
    CHECK(rule({aborted, unknown}) == resolution::abort);
    CHECK(rule({prepared, prepared}) == resolution::abort);
    CHECK(rule({}) == resolution::abort); // a node alone: nobody can have committed
    CHECK(rule({aborted, unreachable}) == resolution::wait);
    CHECK(rule({aborted, unreachable}, true) == resolution::abort);
}

TEST_CASE("planned changes survive JSON and refuse malformed records") {
    planned_change c;
    c.what = planned_change::kind::sync_user;
    c.name = "alice";
    c.type = user_type::cu;
    c.hash =
        password_hash{std::vector<std::uint8_t>(16, 7), std::vector<std::uint8_t>(32, 9), 1000};
    c.version = 4;
    c.failures = 2;
    auto back = planned_change::from_json(c.to_json());
    REQUIRE(back);
    CHECK(back->what == c.what);
    CHECK(back->hash->key == c.hash->key);
    CHECK(back->version == 4);
    auto bad = c.to_json();
    bad["name"] = "not a name";
    CHECK_FALSE(planned_change::from_json(bad));
    bad = c.to_json();
    bad["hash"]["salt"] = "zz";
    CHECK_FALSE(planned_change::from_json(bad));
    bad = c.to_json();
    bad["hash"]["iterations"] = 1;
    CHECK_FALSE(planned_change::from_json(bad));
    // Records from anywhere are validated like user input.
    // Not a structured binding: clang 14 cannot capture one in CAPTURE's lambda.
    for (const auto& change : std::initializer_list<std::pair<const char*, json>>{
             {"name", "ADMIN"}, {"failures", -2147483648LL}, {"failures", 6}, {"version", -1}}) {
        const char* field = change.first;
        CAPTURE(field);
        bad = c.to_json();
        bad[field] = change.second;
        CHECK_FALSE(planned_change::from_json(bad));
    }
    bad = c.to_json();
    bad["hash"]["iterations"] = 2147483648LL;
    CHECK_FALSE(planned_change::from_json(bad));
    bad = c.to_json();
    bad["hash"]["key"] = "00";
    CHECK_FALSE(planned_change::from_json(bad));
    CHECK_FALSE(planned_change::from_json(json::array()));
}

TEST_CASE("record digests change with every stored field and hide the hash") {
    password_hash h{std::vector<std::uint8_t>(16, 1), std::vector<std::uint8_t>(32, 2), 1000};
    const bytes key(32, 5);
    const bytes none;
    const std::optional<std::int64_t> default_quota;
    auto record_digest = [&](auto&&... args) {
        return hsm::record_digest(key, args..., default_quota);
    };
    auto d = record_digest("bob", user_type::cu, 1, false, h, none, false);
    CHECK(d.size() == 16);
    CHECK(d == record_digest("bob", user_type::cu, 1, false, h, none, false));
    CHECK(d != record_digest("bob", user_type::co, 1, false, h, none, false));
    CHECK(d != record_digest("bob", user_type::cu, 2, false, h, none, false));
    CHECK(d != record_digest("bob", user_type::cu, 1, true, h, none, false));
    auto other = h;
    other.salt[0] = 9;
    CHECK(d != record_digest("bob", user_type::cu, 1, false, other, none, false));
    // A registered quorum key, or another one, is another record.
    CHECK(d != record_digest("bob", user_type::cu, 1, false, h, bytes(294, 7), false));
    CHECK(record_digest("bob", user_type::cu, 1, false, h, bytes(294, 7), false) !=
          record_digest("bob", user_type::cu, 1, false, h, bytes(294, 8), false));
    // Two-factor login on is another record too.
    CHECK(record_digest("bob", user_type::co, 1, false, h, bytes(294, 7), true) !=
          record_digest("bob", user_type::co, 1, false, h, bytes(294, 7), false));
    // So is an officer-set key quota, and another one.
    CHECK(d != hsm::record_digest(key, "bob", user_type::cu, 1, false, h, none, false, 256));
    CHECK(hsm::record_digest(key, "bob", user_type::cu, 1, false, h, none, false, 0) !=
          hsm::record_digest(key, "bob", user_type::cu, 1, false, h, none, false, 1));
    CHECK(d.find(to_hex(h.key).substr(0, 8)) == std::string::npos);
    // Keyed: without the cluster's key the digest cannot test a guess.
    CHECK(d != hsm::record_digest(bytes(32, 6), "bob", user_type::cu, 1, false, h, none, false,
                                  default_quota));
}

namespace {
server_report listing(std::size_t index, std::vector<user_summary> users) {
    server_report r{index, "s" + std::to_string(index), {}};
    r.outcome.what = server_outcome::kind::replied;
    r.outcome.users = std::move(users);
    return r;
}
user_summary user(const char* name, int version, const char* digest) {
    return {.type = "CU", .name = name, .version = version, .digest = digest, .key_quota = {}};
}
} // namespace

TEST_CASE("comparing servers finds missing and differing users") {
    std::vector<server_report> reports{
        listing(0, {user("admin", 2, "a"), user("bob", 1, "b1")}),
        listing(1, {user("admin", 2, "a"), user("bob", 3, "b3"), user("carol", 1, "c")}),
        listing(2, {user("admin", 2, "a"), user("bob", 1, "b1")}),
    };
    reports.push_back({3, "down", {}}); // not connected: nobody knows what it holds
    auto users = compare_users(reports);
    REQUIRE(users.size() == 3);
    CHECK(users[0].name == "admin");
    CHECK_FALSE(users[0].full());
    CHECK(users[0].coverage() == "unknown");
    CHECK(users[0].unknown == std::vector<std::size_t>{3});
    CHECK(users[0].consistent());
    CHECK(users[1].name == "bob");
    CHECK(users[1].coverage() == "unknown");
    CHECK(users[1].differing == std::vector<std::size_t>{0, 2}); // the newest is on server 1
    CHECK(users[2].missing == std::vector<std::size_t>{0, 2});
    CHECK(users[2].coverage() == "partial"); // missing where known outweighs unknown
    CHECK_FALSE(all_agree(users));
    reports.pop_back();
    CHECK(compare_users(reports)[0].full());
    CHECK(all_agree(
        compare_users({listing(0, {user("x", 1, "d")}), listing(1, {user("x", 1, "d")})})));
}

TEST_CASE("hex encoding round-trips every byte value") {
    std::vector<std::uint8_t> all(256);
    for (std::size_t i = 0; i < all.size(); ++i)
        all[i] = static_cast<std::uint8_t>(i);
    auto text = to_hex(all);
    CHECK(text.substr(0, 8) == "00010203");
    CHECK(text.substr(text.size() - 4) == "feff");
    CHECK(from_hex(text) == all);
    CHECK(to_hex({}).empty());
}
