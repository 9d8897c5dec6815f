// SPDX-License-Identifier: Apache-2.0
// A prepared row read by the kind it names: the same change, or none, as trying each kind in turn.
#include "changes/stored_change.hpp"

#include <doctest/doctest.h>

using namespace hsm;

namespace {

// How rows were read before the kind picked the decoder: each kind in turn.
std::optional<stored_change> read_by_trial(std::string_view text) {
    if (auto c = planned_change::from_stored(text)) return stored_change(std::move(*c));
    if (auto c = key_change::from_stored(text)) return stored_change(std::move(*c));
    if (auto c = m_change::from_stored(text)) return stored_change(*c);
    return std::nullopt;
}

json user_row() {
    planned_change c;
    c.what = planned_change::kind::create_user;
    c.name = "alice";
    c.type = user_type::co;
    c.hash = password_hash{bytes(salt_size, 1), bytes(derived_key_size, 2), min_kdf_iterations};
    c.quorum_key = bytes(294, 3);
    c.two_fa = planned_change::second_factor::on;
    c.key_quota = 5;
    c.revoke = true;
    c.approvals = {{2, bytes(294, 4)}};
    c.actor_id = 2;
    c.actor_generation = 3;
    c.target_id = 7;
    c.target_generation = 8;
    return c.to_json();
}

json key_row() {
    key_change c;
    c.what = key_change::kind::insert_keys;
    c.handles = {11, 12};
    c.sealed = {"ab", "cd"};
    c.actor_id = 4;
    return c.to_json();
}

json m_row() {
    m_change c;
    c.svc = quorum::service::misc_co;
    c.m = 2;
    c.actor_id = 5;
    return c.to_json();
}

// Every row one step from `row`: each field dropped, nulled or given
// another kind's name.
std::vector<json> neighbours(const json& row) {
    std::vector<json> out{row};
    for (const auto& [key, value] : row.items()) {
        auto dropped = row;
        dropped.erase(key);
        out.push_back(dropped);
        auto nulled = row;
        nulled[key] = nullptr;
        out.push_back(nulled);
    }
    for (auto kind : {"create_user", "sync_user", "nothing", "insert_keys", "share_key",
                      "set_m_value", "unknown", ""}) {
        auto renamed = row;
        renamed["kind"] = kind;
        out.push_back(renamed);
    }
    auto numbered = row;
    numbered["kind"] = 3;
    out.push_back(numbered);
    return out;
}

} // namespace

TEST_CASE("a prepared row reads by its kind as it read by trial") {
    std::vector<std::string> texts{"", "not json", "[]", "{}", "null", R"({"kind":"nothing"})"};
    for (const auto& row : {user_row(), key_row(), m_row()})
        for (const auto& j : neighbours(row))
            texts.push_back(j.dump());
    int read = 0;
    for (const auto& text : texts) {
        CAPTURE(text);
        auto tagged = read_stored_change(text);
        auto trial = read_by_trial(text);
        REQUIRE(tagged.has_value() == trial.has_value());
        if (!tagged) continue;
        ++read;
        CHECK(tagged->index() == trial->index());
        auto dump = [](const stored_change& c) {
            return std::visit([](const auto& x) { return x.to_json().dump(); }, c);
        };
        CHECK(dump(*tagged) == dump(*trial));
        CHECK(kind_name_of(*tagged) ==
              std::visit([](const auto& x) { return x.kind_name(); }, *trial));
    }
    CHECK(read >= 3);
}

TEST_CASE("a user change's stored form reads back whole") {
    auto row = user_row();
    auto back = planned_change::from_json(row);
    REQUIRE(back);
    CHECK(back->to_json() == row);
    CHECK(back->subject() == "alice");
    CHECK(back->kind_name() == "create_user");
    auto no_key = row;
    no_key.erase("quorum_key"); // two-factor login on, with no key to answer with
    CHECK_FALSE(planned_change::from_json(no_key));
}
