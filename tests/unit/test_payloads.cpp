// SPDX-License-Identifier: Apache-2.0
// Typed reply payloads: each decoder reads what its encoder writes, and
// refuses every other shape with the error the general decoder would give.
#include "hsmsh/protocol/changes.hpp"
#include "hsmsh/protocol/payloads.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace hsm;

namespace {

std::vector<user_summary> two_users() {
    return {{.id = 1,
             .type = "CO",
             .name = "admin",
             .failures = 0,
             .version = 3,
             .digest = std::string(64, 'a'),
             .key_quota = std::nullopt},
            {.id = 7,
             .type = "CU",
             .name = "app\x1b]0;x\x07",
             .mofn = true,
             .failures = 5,
             .two_fa = true,
             .version = 1,
             .digest = "d",
             .key_quota = 256}};
}

std::string listing(const json& fields, std::string_view status = "RET_OK") {
    return json{{"id", 9}, {"status", status}, {"f", fields}}.dump();
}

decode_error error_of(std::string_view body) {
    auto decoded = decode_user_list_reply(body);
    REQUIRE(std::holds_alternative<decode_error>(decoded));
    return std::get<decode_error>(decoded);
}

} // namespace

TEST_CASE("a user listing survives encoding and tree-free decoding") {
    auto users = two_users();
    reply r{42, status::ok, {{"users", to_json(users)}, {"later", {{"nested", {1, 2}}}}}};
    auto decoded = decode_user_list_reply(encode(r));
    REQUIRE(std::holds_alternative<user_list_reply>(decoded));
    auto& l = std::get<user_list_reply>(decoded);
    CHECK(l.id == 42);
    CHECK(l.code == status::ok);
    CHECK(l.users == users);
    // A refusal carries no users, and that is not an error.
    auto refused = decode_user_list_reply(encode(reply{5, status::not_logged_in, json::object()}));
    REQUIRE(std::holds_alternative<user_list_reply>(refused));
    CHECK(std::get<user_list_reply>(refused).code == status::not_logged_in);
    CHECK(std::get<user_list_reply>(refused).users.empty());
}

TEST_CASE("a user listing of another shape is refused, as the general decoder would") {
    CHECK(error_of("") == decode_error::empty);
    CHECK(error_of(std::string(max_frame_size + 1, ' ')) == decode_error::too_large);
    CHECK(error_of("{\"id\":1,") == decode_error::not_json);
    CHECK(error_of("[1]") == decode_error::not_object);
    CHECK(error_of("17") == decode_error::not_object);
    CHECK(error_of(R"({"status":"RET_OK"})") == decode_error::missing_field);
    CHECK(error_of(R"({"id":-1,"status":"RET_OK"})") == decode_error::wrong_type);
    CHECK(error_of(R"({"id":1,"status":"RET_NOPE"})") == decode_error::unknown_status);
    CHECK(error_of(R"({"id":1,"status":"RET_OK","f":[]})") == decode_error::wrong_type);
    CHECK(error_of(listing({{"users", {{"id", 1}}}})) == decode_error::wrong_type);
    CHECK(error_of(listing({{"users", {1}}})) == decode_error::wrong_type);
    CHECK(error_of(listing({{"users", "none"}})) == decode_error::wrong_type);
    // A user without its id, type or name; with a field of the wrong type.
    CHECK(error_of(listing({{"users", {{{"id", 1}, {"type", "CU"}}}}})) ==
          decode_error::missing_field);
    CHECK(error_of(listing({{"users", {{{"id", "1"}, {"type", "CU"}, {"name", "x"}}}}})) ==
          decode_error::wrong_type);
    CHECK(error_of(listing({{"users", {{{"id", 1}, {"type", "CU"}, {"name", {"x"}}}}}})) ==
          decode_error::wrong_type);
    // Nesting is bounded here too, and the bound is the general decoder's.
    std::string deep = R"({"id":1,"status":"RET_OK","f":{"x":)";
    for (std::size_t i = 0; i < max_json_depth; ++i)
        deep += "[";
    CHECK(error_of(deep) == decode_error::too_deep);
    CHECK(std::get<decode_error>(decode_reply(deep)) == decode_error::too_deep);
}

TEST_CASE("an HSM's description and a sealed record read back as written") {
    hsm_info info;
    info.hsm_id = "hsm-1";
    info.state = "ACTIVE";
    info.users = 3;
    info.peers = {"127.0.0.1:2225"};
    auto back = hsm_info_from(to_json(info));
    REQUIRE(back);
    CHECK(back->state == "ACTIVE");
    CHECK(back->peers == info.peers);
    CHECK(back->users == 3);
    auto odd = hsm_info_from(json{{"hsm_id", "h"}, {"state", 3}, {"users", "many"}});
    REQUIRE(odd);
    CHECK(odd->hsm_id == "h");
    CHECK(odd->state.empty());
    CHECK(odd->users == 0);
    CHECK_FALSE(hsm_info_from(json::array()));

    sealed_user record{"bob", user_type::cu, 4, "00ff"};
    auto again = sealed_user_from(to_json(record));
    REQUIRE(again);
    CHECK(again->name == "bob");
    CHECK(again->type == user_type::cu);
    CHECK(again->version == 4);
    CHECK(again->sealed == "00ff");
    CHECK_FALSE(sealed_user_from(json{{"name", "bob"}, {"type", "CU"}, {"version", 4}}));
    CHECK_FALSE(sealed_user_from(json{{"name", "bob"}, {"type", "CU"}, {"version", "4"}}));
}

TEST_CASE("cluster states have one name each") {
    for (auto s : {cluster_state::uninitialized, cluster_state::initialized, cluster_state::active,
                   cluster_state::degraded})
        CHECK(cluster_state_from_name(cluster_state_name(s)) == s);
    CHECK_FALSE(cluster_state_from_name("active"));
}

TEST_CASE("a page of keys reads back as written, keeping only the keys that decode") {
    key_summary k;
    k.handle = 12;
    k.cls = key_class::private_key;
    k.type = key_type::ec;
    k.bits = 256;
    k.label = "signer";
    auto fields = to_json(key_page{{k}, true});
    auto page = key_page_from(fields);
    REQUIRE(page);
    REQUIRE(page->keys.size() == 1);
    CHECK(to_json(page->keys.front()) == to_json(k));
    CHECK(page->more);

    // An entry of another shape is left out; the page still reads.
    fields["keys"].push_back(json{{"handle", 13}});
    page = key_page_from(fields);
    REQUIRE(page);
    CHECK(page->keys.size() == 1);
    // A missing or mistyped "more" ends the listing; no "keys" is no page.
    fields["more"] = "yes";
    CHECK_FALSE(key_page_from(fields)->more);
    fields.erase("more");
    CHECK_FALSE(key_page_from(fields)->more);
    CHECK_FALSE(key_page_from(json{{"keys", "none"}, {"more", false}}));
    CHECK_FALSE(key_page_from(json::object()));
    CHECK_FALSE(key_page_from(json::array()));
}

TEST_CASE("a hello and a data reply read back as written") {
    hello_reply h{3, "c-1", "hsm-a", "active"};
    auto back = hello_reply_from(to_json(h));
    CHECK(back.version == 3);
    CHECK(back.cluster_id == "c-1");
    CHECK(back.hsm_id == "hsm-a");
    CHECK(back.state == "active");
    // What is missing or mistyped reads as empty: the caller's checks refuse it.
    auto empty = hello_reply_from(json{{"version", "3"}, {"hsm_id", 7}});
    CHECK(empty.version == 0);
    CHECK(empty.hsm_id.empty());

    CHECK(reply_data(json{{"data", "00ff"}}) == std::vector<std::uint8_t>{0x00, 0xff});
    CHECK(reply_data(json{{"data", ""}}) == std::vector<std::uint8_t>{});
    CHECK_FALSE(reply_data(json{{"data", "0g"}}));
    CHECK_FALSE(reply_data(json{{"data", 12}}));
    CHECK_FALSE(reply_data(json::object()));
}

TEST_CASE("sealed keys read back as written, and nothing else reads as them") {
    std::vector<sealed_key> pair{{41, key_class::private_key, "a1b2"},
                                 {42, key_class::public_key, "c3d4"}};
    auto fields = to_json(pair);
    CHECK(sealed_keys_from(fields) == pair);
    // A change carries them beside its own fields.
    fields["change"] = "insert_keys";
    CHECK(sealed_keys_from(fields) == pair);

    auto with = [](json keys) { return json{{"keys", std::move(keys)}}; };
    json good = {{"handle", 7}, {"class", "secret"}, {"sealed", "00ff"}};
    CHECK(sealed_keys_from(with(json::array({good}))));
    CHECK_FALSE(sealed_keys_from(json::object()));
    CHECK_FALSE(sealed_keys_from(json::array()));
    CHECK_FALSE(sealed_keys_from(with(json::array())));
    CHECK_FALSE(sealed_keys_from(with(json::array({good, good, good}))));
    CHECK_FALSE(sealed_keys_from(with(good)));
    for (auto [name, value] :
         std::vector<std::pair<std::string, json>>{{"handle", 0},
                                                   {"handle", -3},
                                                   {"handle", "7"},
                                                   {"handle", 1.5},
                                                   {"class", "session"},
                                                   {"class", 1},
                                                   {"sealed", "0g"},
                                                   {"sealed", "abc"},
                                                   {"sealed", json::array()}}) {
        auto bad = good;
        bad[name] = value;
        CAPTURE(bad.dump());
        CHECK_FALSE(sealed_keys_from(with(json::array({bad}))));
        bad.erase(name);
        CHECK_FALSE(sealed_keys_from(with(json::array({bad}))));
    }
}

TEST_CASE("every change a prepare carries reads back as written") {
    std::vector<sealed_key> keys{{9, key_class::secret_key, "beef"}};
    sealed_user record{"henry", user_type::cu, 4, "00aa"};
    std::vector<change_request> all{
        key_insertion{keys},
        key_copy{keys},
        key_destruction{9},
        key_sharing{9, {3, 4}, false},
        key_attribute_change{9, 3, "a label"},
        m_value_change{quorum::service::misc_co, 2},
        user_sync{record, true},
    };
    std::set<std::string> names;
    for (const auto& c : all) {
        auto fields = to_fields(c);
        CAPTURE(fields.dump());
        CHECK(fields["change"] == change_request_name(c));
        names.insert(std::string(change_request_name(c)));
        auto back = change_request_from(fields);
        REQUIRE(back);
        CHECK(back->index() == c.index());
        CHECK(to_fields(*back) == fields);
    }
    CHECK(names.size() == all.size());
}

TEST_CASE("a change of another shape does not read") {
    auto refused = [](json f) {
        CAPTURE(f.dump());
        CHECK_FALSE(change_request_from(f));
    };
    refused(json::array());
    refused({{"change", "frobnicate"}, {"handle", 1}});
    refused({{"change", 3}, {"handle", 1}});
    refused({{"change", "destroy_key"}});
    refused({{"change", "destroy_key"}, {"handle", "1"}});
    refused({{"change", "insert_keys"}, {"keys", json::array()}});
    refused({{"change", "sync_key"}, {"handle", 1}});
    refused({{"change", "share_key"}, {"handle", 1}, {"users", {"bob"}}, {"share", true}});
    refused({{"change", "share_key"}, {"handle", 1}, {"users", {2}}, {"share", 1}});
    refused({{"change", "set_attribute"}, {"handle", 1}, {"attribute", -1}, {"value", "1"}});
    refused({{"change", "set_attribute"}, {"handle", 1}, {"attribute", 3}, {"value", 1}});
    refused({{"change", "set_m_value"}, {"service", 5}, {"m", 2}});
    refused({{"change", "set_m_value"}, {"service", 3}, {"m", std::int64_t{10'000'000'000}}});
    refused({{"change", "sync_user"}, {"record", {{"name", "henry"}}}});
    refused({{"change", "sync_user"},
             {"record", {{"name", "h"}, {"type", "CU"}, {"version", 1}, {"sealed", "00"}}},
             {"force", "yes"}});
}
