// SPDX-License-Identifier: Apache-2.0
// The node replies the shell reads (hsmsh/protocol/replies.hpp): each
// decoder reads what a node sends, and reads any other shape as absent
// fields without throwing.
#include "hsmsh/protocol/replies.hpp"

#include <doctest/doctest.h>

using namespace hsm;

namespace {

json a_token() {
    return {{"id", 4},
            {"service", 3},
            {"user", "officer1"},
            {"validity", 120},
            {"required", 2},
            {"approvals", 1},
            {"approvers", json::array({"officer1", 7})}};
}

// Shapes a hostile or buggy node may send instead of an object.
const json odd_shapes[] = {json(), json(3), json("x"), json::array({1, 2}),
                           json{{"tokens", "no"}, {"token", 5}, {"m", "2"}, {"record", 1}}};

} // namespace

TEST_CASE("a token reads as the node sends it") {
    auto t = token_summary_from(a_token());
    CHECK(t.id == 4);
    CHECK(t.service == 3);
    CHECK(t.user == "officer1");
    CHECK(t.validity == 120);
    CHECK(t.required == 2);
    CHECK(t.approvals == 1);
    REQUIRE(t.approvers.size() == 2);
    CHECK(t.approvers[0] == "officer1");
    CHECK_FALSE(t.approvers[1]); // not a string: kept in place, as nothing
}

TEST_CASE("a token renders as the node sent it, and nothing else") {
    auto sent = a_token();
    sent["approvers"] = json::array({"officer1", "officer2"});
    auto smuggled = sent;
    smuggled["smuggled"] = "x";
    CHECK(to_json(token_summary_from(smuggled)) == sent);
    CHECK(to_json(token_list_from(json{{"tokens", json::array({smuggled})}})) ==
          json::array({sent}));
    auto odd = to_json(token_summary_from(a_token())); // an approver that is not a string
    CHECK(odd["approvers"] == json::array({"officer1", nullptr}));
}

TEST_CASE("replies read their fields") {
    CHECK(m_value_from(json{{"m", 2}}) == 2);
    CHECK(owned_keys_from(json{{"keys", 3}}) == 3);
    auto list = token_list_from(json{{"tokens", json::array({a_token(), a_token()})}});
    CHECK(list.size() == 2);
    auto grant = token_grant_from(json{{"token", a_token()}, {"record", "ab"}});
    CHECK(grant.token.id == 4);
    CHECK(grant.record == "ab");
    auto approved = approve_token_reply_from(json{{"token", a_token()}});
    REQUIRE(approved.token);
    CHECK(approved.token->approvals == 1);
    CHECK_FALSE(approved.approver);
    CHECK(approve_token_reply_from(json{{"approver", "officer2"}}).approver == "officer2");
    CHECK(approve_token_reply_from(json{{"approver", 1}}).approver == ""); // there, not a name
    auto challenge = challenge_from(json{{"hsm_id", "h1"}, {"challenge", "00ff"}});
    CHECK(challenge.hsm_id == "h1");
    CHECK(challenge.challenge == "00ff");
    auto record = user_record_from(
        json{{"record", {{"name", "u"}, {"type", "CU"}, {"version", 2}, {"sealed", "aa"}}},
             {"digest", "d"}});
    REQUIRE(record.record);
    CHECK(record.record->version == 2);
    CHECK(record.digest == "d");
}

TEST_CASE("any other shape reads as absent fields, never an exception") {
    for (const auto& odd : odd_shapes) {
        CAPTURE(odd.dump());
        CHECK_FALSE(m_value_from(odd));
        CHECK_FALSE(owned_keys_from(odd));
        CHECK(token_list_from(odd).empty());
        CHECK(token_summary_from(odd).approvers.empty());
        CHECK(token_grant_from(odd).record.empty());
        CHECK_FALSE(user_record_from(odd).record);
        CHECK(challenge_from(odd).hsm_id.empty());
        CHECK_NOTHROW(approve_token_reply_from(odd));
        CHECK(tx_status_from(odd).outcome.empty());
        CHECK(tx_status_from(odd).change.empty());
    }
}

TEST_CASE("a tx_status reply: the outcome, and a key change's identity when there is one") {
    auto key = tx_status_from(json{{"outcome", "prepared"}, {"change", "ab12"}});
    CHECK(key.outcome == "prepared");
    CHECK(key.change == "ab12");
    auto user = tx_status_from(json{{"outcome", "committed"}});
    CHECK(user.outcome == "committed");
    CHECK(user.change.empty());
    CHECK(tx_status_from(json{{"outcome", 1}, {"change", true}}).outcome.empty());
}
