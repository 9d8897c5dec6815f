// SPDX-License-Identifier: Apache-2.0
// A node's quorum tokens: bound to one session, bounded, expiring; and
// setMValue's prepared form.
#include "changes/m_change.hpp"
#include "quorum/approvers.hpp"
#include "quorum/quorum_tokens.hpp"

#include <array>
#include <set>

#include <doctest/doctest.h>

using namespace hsm;

namespace {
const int one = 1, other = 2; // two sessions, by address
constexpr std::int64_t t0 = 1'700'000'000'000;
} // namespace

TEST_CASE("a token is its session's: found by its exact record, dropped with the login") {
    quorum_tokens tokens;
    const auto* t = tokens.issue(&one, 7, quorum::service::user_mgmt, "officer1", t0);
    REQUIRE(t);
    auto record = t->record;
    CHECK(record.user == "officer1");
    CHECK(record.svc == quorum::service::user_mgmt);
    CHECK(record.created == t0 / 1000);
    CHECK(tokens.find(&one, record, t0));
    CHECK_FALSE(tokens.find(&other, record, t0)); // another session's
    auto changed = record;
    changed.nonce[3] ^= 1;
    CHECK_FALSE(tokens.find(&one, changed, t0)); // a tampered record
    CHECK_FALSE(tokens.remove(&other, record.id));
    CHECK(tokens.drop(&other) == 0);
    CHECK(tokens.drop(&one) == 1);
    CHECK_FALSE(tokens.find(&one, record, t0));
}

TEST_CASE("tokens expire, and a session or the node holds only so many") {
    quorum_tokens tokens({.per_node = 10, .per_session = 3, .lifetime = std::chrono::seconds(600)});
    for (int i = 0; i < 3; ++i)
        CHECK(tokens.issue(&one, 7, quorum::service::misc_co, "a", t0));
    CHECK_FALSE(tokens.issue(&one, 7, quorum::service::misc_co, "a", t0));
    CHECK(tokens.of(&one, t0).size() == 3);
    CHECK(tokens.of(&one, t0 + 600'000).empty()); // expired at the lifetime
    auto id = tokens.of(&one, t0).front()->record.id;
    CHECK_FALSE(tokens.find(&one, id, t0 + 600'000));
    // Expired tokens make room.
    CHECK(tokens.issue(&one, 7, quorum::service::misc_co, "a", t0 + 600'000));
    // The node's bound holds across sessions.
    std::array<int, 12> sessions{};
    std::size_t issued = 0;
    for (auto& s : sessions)
        issued += tokens.issue(&s, 8, quorum::service::user_mgmt, "b", t0 + 600'000) ? 1 : 0;
    CHECK(tokens.size() == 10);
    CHECK(issued == 9);
    // Ids are unique on the node.
    std::set<std::uint32_t> ids;
    for (const auto& s : sessions)
        for (const auto* t : tokens.of(&s, t0 + 600'000))
            CHECK(ids.insert(t->record.id).second);
}

TEST_CASE("setMValue's prepared change reads back, and nothing else does") {
    m_change c;
    c.svc = quorum::service::misc_co;
    c.m = 3;
    c.approvals = {{5, bytes(294, 1)}, {6, bytes(294, 2)}};
    c.actor_id = 4;
    c.actor_generation = 9;
    c.actor_type = user_type::co;
    CHECK(c.subject() == "mvalue 4");
    auto back = m_change::from_stored(c.to_json().dump());
    REQUIRE(back);
    CHECK(back->svc == c.svc);
    CHECK(back->m == 3);
    CHECK(back->approvals == c.approvals);
    CHECK(back->actor_generation == 9);
    for (
        auto bad :
        {R"({"kind":"set_m_value","service":5,"m":2,"approvers":[],"actor":{"id":1,"generation":1,"type":"CO"}})",
         R"({"kind":"set_m_value","service":3,"m":9,"approvers":[],"actor":{"id":1,"generation":1,"type":"CO"}})",
         R"({"kind":"set_m_value","service":3,"m":2,"approvers":[{"id":1}],"actor":{"id":1,"generation":1,"type":"CO"}})",
         R"({"kind":"set_m_value","service":3,"m":2,"approvers":[{"id":1,"key":"01"},{"id":1,"key":"02"}],"actor":{"id":1,"generation":1,"type":"CO"}})",
         R"({"kind":"create_user","service":3,"m":2})", "not json", "[]"}) {
        CAPTURE(bad);
        CHECK_FALSE(m_change::from_stored(bad));
    }
    // A row an older node prepared (a count, no approvers) reads with none:
    // under a quorum it no longer commits.
    auto old = m_change::from_stored(
        R"({"kind":"set_m_value","service":3,"m":2,"approvals":2,"actor":{"id":1,"generation":1,"type":"CO"}})");
    REQUIRE(old);
    CHECK(old->approvals.empty());
}

TEST_CASE("a prepared change's approvers read back as they were stored, and nothing else") {
    approver_keys approvers{{3, {0xab, 0xcd}}, {7, {0x01}}};
    CHECK(approvers_from_json(approvers_to_json(approvers)) == approvers);
    for (const auto* text : {R"([{"id":3,"key":"ab"},{"id":3,"key":"cd"}])", // one officer twice
                             R"([{"id":"3","key":"ab"}])", R"([{"id":3,"key":"zz"}])",
                             R"([{"id":3,"key":""}])", R"([{"id":3}])", R"([3])", R"({"id":3})"})
        CHECK_FALSE(approvers_from_json(json::parse(text)));
}
