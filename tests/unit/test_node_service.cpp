// SPDX-License-Identifier: Apache-2.0
// The node's rules against an in-memory store, through node_service.
#include "crypto/key_crypto.hpp"
#include "memory_node.hpp"

#include <fmt/format.h>

#include <doctest/doctest.h>

using namespace hsm;

using test::node_fixture;

TEST_CASE("PRECO may only change its own password, which activates the cluster") {
    node_fixture n;
    session s;
    CHECK(n.create(s, "CU", "bob") == status::not_logged_in);
    REQUIRE(n.login(s, "PRECO", "admin", "password") == status::ok);
    CHECK(n.create(s, "CU", "bob") == status::permission_denied);
    CHECK(n.service.state() == cluster_state::initialized);
    CHECK(n.change(s, "PRECO", "admin", "officer-pw1") == status::ok);
    CHECK(n.service.state() == cluster_state::active);
    CHECK(n.store.users().find("admin")->type == user_type::co);
    CHECK(n.create(s, "CU", "bob") == status::ok);
}

TEST_CASE("user creation checks type, name, password, existence and quota") {
    node_fixture n;
    auto s = n.activated();
    auto before = n.store.users().count();
    CHECK(n.create(s, "PRECO", "x1") == status::invalid_user_type);
    CHECK(n.create(s, "XX", "x1") == status::invalid_user_type);
    CHECK(n.create(s, "CU", "bad-name") == status::invalid_user_name);
    CHECK(n.create(s, "CU", "x1", "short") == status::password_policy);
    CHECK(n.store.users().count() == before);
    CHECK(n.create(s, "CU", "Alice") == status::ok);
    CHECK(n.store.users().find("alice"));
    CHECK(n.create(s, "CO", "ALICE") == status::user_exists);
    n.store.transact([&] {
        for (auto i = n.store.users().count(); i < max_users_per_node; ++i)
            n.store.users().insert("u" + std::to_string(i), user_type::cu,
                                   password_hash{{1}, {1}, 1});
    });
    CHECK(n.create(s, "CU", "one_too_many") == status::quota_exceeded);
    CHECK_FALSE(n.store.users().find("one_too_many"));
}

TEST_CASE("deletion refuses logged-in users, key owners and the last CO") {
    node_fixture n;
    auto admin = n.activated();
    CHECK(n.remove(admin, "CO", "admin") == status::user_logged_in);
    REQUIRE(n.create(admin, "CU", "keeper") == status::ok);
    session keeper;
    REQUIRE(n.login(keeper, "CU", "keeper", "password1") == status::ok);
    REQUIRE(n.new_keys(keeper, "aes:128").size() == 1);
    CHECK(n.call(keeper, operation::logout).code == status::ok);
    CHECK(n.remove(admin, "CU", "keeper") == status::user_owns_keys);
    REQUIRE(n.create(admin, "CO", "officer2") == status::ok);
    session other;
    REQUIRE(n.login(other, "CO", "officer2", "password1") == status::ok);
    CHECK(n.remove(admin, "CO", "officer2") == status::user_logged_in);
    CHECK(n.call(other, operation::logout).code == status::ok);
    CHECK(n.remove(admin, "CU", "officer2") == status::invalid_user_type);
    CHECK(n.remove(admin, "CO", "officer2") == status::ok);
    CHECK(n.remove(admin, "CU", "nobody") == status::user_not_found);
    // Only admin is left as an officer: a second session cannot delete it.
    n.service.end_session(admin);
    session again;
    REQUIRE(n.login(again, "CO", "admin", "officer-pw1") == status::ok);
    REQUIRE(n.create(again, "CO", "officer3") == status::ok);
    session third;
    REQUIRE(n.login(third, "CO", "officer3", "password1") == status::ok);
    n.service.end_session(again);
    CHECK(n.remove(third, "CO", "admin") == status::ok);
    n.service.end_session(third);
    session fourth;
    REQUIRE(n.login(fourth, "CO", "officer3", "password1") == status::ok);
    CHECK(n.remove(fourth, "CO", "officer3") == status::user_logged_in);
}

TEST_CASE("five failed logins lock the account; a CO reset unlocks it") {
    node_fixture n;
    auto admin = n.activated();
    REQUIRE(n.create(admin, "CU", "carol", "carol-pw1") == status::ok);
    session guess;
    for (int i = 0; i < 5; ++i)
        CHECK(n.login(guess, "CU", "carol", "wrong-pw1") == status::user_login_failure);
    CHECK(n.store.users().find("carol")->failures == 5);
    CHECK(n.login(guess, "CU", "carol", "carol-pw1") == status::user_login_failure);
    CHECK(n.store.users().find("carol")->failures == 5);
    CHECK(n.login(guess, "CU", "nobody", "carol-pw1") == status::user_login_failure);
    CHECK(n.change(admin, "CU", "carol", "carol-pw2") == status::ok);
    CHECK(n.store.users().find("carol")->failures == 0);
    CHECK(n.login(guess, "CU", "carol", "carol-pw2") == status::ok);
}

TEST_CASE("passwords of others: CO only; a logged-in user's rotates, ending its sessions") {
    node_fixture n;
    auto admin = n.activated();
    REQUIRE(n.create(admin, "CU", "dave", "dave-pw01") == status::ok);
    REQUIRE(n.create(admin, "CU", "erin", "erin-pw01") == status::ok);
    session dave;
    REQUIRE(n.login(dave, "CU", "dave", "dave-pw01") == status::ok);
    CHECK(n.change(dave, "CU", "erin", "erin-pw02") == status::permission_denied);
    CHECK(n.change(dave, "CU", "dave", "dave-pw02") == status::ok);
    CHECK(n.change(admin, "CU", "dave", "dave-pw03") == status::ok);
    CHECK(n.login(dave, "CU", "dave", "dave-pw02") != status::ok); // the old one is gone
    CHECK(n.login(dave, "CU", "dave", "dave-pw03") == status::ok);
    // An officer logged in elsewhere is not reset under its session.
    REQUIRE(n.create(admin, "CO", "olga", "olga-pw01") == status::ok);
    session olga;
    REQUIRE(n.login(olga, "CO", "olga", "olga-pw01") == status::ok);
    CHECK(n.change(admin, "CO", "olga", "olga-pw02") == status::user_logged_in);
    auto version = n.store.users().find("erin")->version;
    CHECK(n.change(admin, "CU", "erin", "erin-pw03") == status::ok);
    CHECK(n.store.users().find("erin")->version == version + 1);
}

TEST_CASE("every change and login attempt is audited, never with a secret") {
    node_fixture n;
    auto before = n.store.audit().count();
    auto admin = n.activated();
    session s;
    n.login(s, "CU", "ghost", "not-the-pw");
    CHECK(n.store.audit().count() == before + 3);
}

TEST_CASE("user ids are never given again, and old sessions act for nobody") {
    node_fixture n;
    auto admin = n.activated();
    REQUIRE(n.create(admin, "CU", "carol") == status::ok);
    auto carol_id = n.store.users().find("carol")->id;
    session carol;
    REQUIRE(n.login(carol, "CU", "carol", "password1") == status::ok);
    REQUIRE(n.call(carol, operation::logout).code == status::ok);
    REQUIRE(n.remove(admin, "CU", "carol") == status::ok);
    REQUIRE(n.create(admin, "CO", "dave") == status::ok);
    CHECK(n.store.users().find("dave")->id > carol_id);
    // A copy of a logged-in session is nobody.
    session copy = admin;
    CHECK(n.create(copy, "CU", "x_copy") == status::not_logged_in);
    CHECK(n.create(admin, "CU", "x_real") == status::ok);
}

TEST_CASE("a prepared change holds its user's logins back, and commit checks again") {
    node_fixture n;
    auto admin = n.activated();
    REQUIRE(n.create(admin, "CU", "cu1") == status::ok);
    std::string tx(32, 'a');
    REQUIRE(n.call(admin, operation::prepare,
                   {{"txid", tx}, {"change", "delete_user"}, {"type", "CU"}, {"name", "cu1"}})
                .code == status::ok);
    session cu;
    CHECK(n.login(cu, "CU", "cu1", "wrong-pw-1") == status::user_login_failure);
    CHECK(n.login(cu, "CU", "cu1", "password1") == status::user_change_pending);
    CHECK_FALSE(cu.user_id);
    // Aborted: she logs in again; a commit of it later is refused.
    REQUIRE(n.call(admin, operation::abort, {{"txid", tx}}).code == status::ok);
    CHECK(n.login(cu, "CU", "cu1", "password1") == status::ok);
    CHECK(n.call(admin, operation::commit, {{"txid", tx}}).code == status::tx_aborted);
}

TEST_CASE("a synced record may not demote the last officer") {
    node_fixture source, destination;
    // On the source, admin was deleted and made again as a crypto user.
    auto a = source.activated();
    REQUIRE(source.create(a, "CO", "chief") == status::ok);
    session chief;
    REQUIRE(source.login(chief, "CO", "chief", "password1") == status::ok);
    source.service.end_session(a);
    REQUIRE(source.remove(chief, "CO", "admin") == status::ok);
    REQUIRE(source.create(chief, "CU", "admin", "new-admin-1") == status::ok);
    auto record = source.call(chief, operation::get_user, {{"name", "admin"}});
    REQUIRE(record.code == status::ok);
    CHECK(record.fields["record"]["type"] == "CU");
    // The destination's only officer is admin: the demotion is refused,
    // forced or not, and admin keeps its rights.
    auto b = destination.activated();
    for (bool force : {false, true}) {
        auto r = destination.call(b, operation::prepare,
                                  {{"txid", std::string(31, 'b') + (force ? "1" : "0")},
                                   {"change", "sync_user"},
                                   {"record", record.fields["record"]},
                                   {"force", force}});
        CHECK(r.code == (force ? status::last_co : status::version_newer));
    }
    CHECK(destination.create(b, "CU", "still_co") == status::ok);
}

TEST_CASE("aborts of unknown changes are remembered within a bound") {
    node_fixture n;
    auto admin = n.activated();
    session anonymous;
    CHECK(n.call(anonymous, operation::abort, {{"txid", std::string(32, 'c')}}).code ==
          status::not_logged_in);
    CHECK(n.store.changes().count_outcomes() == 0);
    for (std::size_t i = 0; i < prepared_changes::max_outcomes + 100; ++i)
        REQUIRE(n.call(admin, operation::abort, {{"txid", fmt::format("{:032x}", i)}}).code ==
                status::ok);
    CHECK(n.store.changes().count_outcomes() == prepared_changes::max_outcomes);
    // The newest are kept: a late commit of one of them is still refused.
    CHECK(n.call(admin, operation::commit,
                 {{"txid", fmt::format("{:032x}", prepared_changes::max_outcomes + 99)}})
              .code == status::tx_aborted);
}

TEST_CASE("the derivation budget serves peers round-robin and refuses a flood") {
    asio::io_context io;
    derivation_budget budget({.total = 2, .per_peer = 1, .max_waiting = 2});
    std::vector<std::string> order;
    std::vector<std::optional<derivation_budget::ticket>> held;
    int refused = 0;
    auto take = [&](std::string peer) -> awaitable<void> {
        auto t = co_await budget.acquire(peer);
        if (!t) {
            ++refused;
            co_return;
        }
        order.push_back(peer);
        held.push_back(std::move(t));
    };
    for (auto peer : {"flood", "flood", "flood", "flood", "officer"})
        asio::co_spawn(io, take(peer), asio::detached);
    io.poll(); // waiters wait on timers that only a release fires
    // One of the flood's runs, the officer's runs; two flood waits, one is refused.
    CHECK(order == std::vector<std::string>{"flood", "officer"});
    CHECK(refused == 1);
    CHECK(budget.running() == 2);
    held.clear(); // both finish: the flood's next two run
    io.restart();
    io.poll();
    CHECK(order.size() == 3);
    held.clear();
    io.restart();
    io.poll();
    CHECK(order.size() == 4);
    held.clear();
    CHECK(budget.running() == 0);
    io.restart();
    io.poll();
}

namespace {

// An officer's quorum key pair, registered with its own proof.
struct officer_key {
    std::string public_hex;
    std::shared_ptr<loaded_key> private_key;
};

officer_key register_key(node_fixture& n, session& s, std::string_view name) {
    auto pair = generate_key_material({key_type::rsa, 2048});
    auto key =
        loaded_key::load(key_class::private_key, key_type::rsa, std::move(pair.at(0).material));
    REQUIRE(key);
    const bytes token{1, 2, 3};
    auto signature = std::get<bytes>(sign_data(mechanism::rsa_pkcs1_sha256, *key, token));
    officer_key out{to_hex(pair.at(0).public_der), std::make_shared<loaded_key>(std::move(*key))};
    REQUIRE(n.call(s, operation::register_quorum_key,
                   {{"type", "CO"},
                    {"name", name},
                    {"quorum_key", out.public_hex},
                    {"token", to_hex(token)},
                    {"signature", to_hex(signature)}})
                .code == status::ok);
    return out;
}

// A token of `s` for `service`, approved by each officer's key.
void approved_token(node_fixture& n, session& s, int service,
                    const std::vector<std::pair<std::string, const officer_key*>>& officers) {
    auto token = n.call(s, operation::get_token, {{"service", service}});
    REQUIRE(token.code == status::ok);
    auto record = token.fields["record"].get<std::string>();
    auto file = from_hex(record).value();
    json approvals = json::array();
    for (const auto& [name, key] : officers)
        approvals.push_back(
            {{"name", name},
             {"signature", to_hex(std::get<bytes>(
                               sign_data(mechanism::rsa_pkcs1_sha256, *key->private_key, file)))}});
    REQUIRE(
        n.call(s, operation::approve_token, {{"tokens", record}, {"approvals", approvals}}).code ==
        status::ok);
}

} // namespace

TEST_CASE("a prepared protected change commits only while its approvers still count") {
    node_fixture n;
    auto admin = n.activated();
    REQUIRE(n.create(admin, "CO", "eve") == status::ok);
    session eve;
    REQUIRE(n.login(eve, "CO", "eve", "password1") == status::ok);
    auto admin_key = register_key(n, admin, "admin");
    auto eve_key = register_key(n, eve, "eve");
    REQUIRE(n.call(admin, operation::set_m_value, {{"service", 4}, {"m", 2}}).code == status::ok);
    approved_token(n, admin, 4, {{"admin", &admin_key}, {"eve", &eve_key}});
    REQUIRE(n.call(admin, operation::set_m_value, {{"service", 3}, {"m", 2}}).code == status::ok);
    auto prepare = [&](std::string_view name, const std::string& tx) {
        approved_token(n, admin, 3, {{"admin", &admin_key}, {"eve", &eve_key}});
        return n
            .call(admin, operation::prepare,
                  {{"txid", tx},
                   {"change", "create_user"},
                   {"type", "CU"},
                   {"name", name},
                   {"password", "password1"}})
            .code;
    };
    // Both approvers still count at commit: it commits.
    std::string first(32, 'a'), second(32, 'b');
    REQUIRE(prepare("cu1", first) == status::ok);
    CHECK(n.call(admin, operation::commit, {{"txid", first}}).code == status::ok);
    CHECK(n.store.users().find("cu1"));
    // An approver registers another key between prepare and commit: her
    // approval no longer counts, and the commit is refused.
    REQUIRE(prepare("cu2", second) == status::ok);
    eve_key = register_key(n, eve, "eve");
    CHECK(n.call(admin, operation::commit, {{"txid", second}}).code == status::mxn_auth_failed);
    CHECK_FALSE(n.store.users().find("cu2"));
    // A key quota is user management too: no approved token, no change.
    json quota{{"type", "CU"}, {"name", "cu1"}, {"key_quota", 3}};
    CHECK(n.call(admin, operation::set_key_quota, quota).code == status::mxn_auth_failed);
    CHECK_FALSE(n.store.users().find("cu1")->key_quota);
    approved_token(n, admin, 3, {{"admin", &admin_key}, {"eve", &eve_key}});
    CHECK(n.call(admin, operation::set_key_quota, quota).code == status::ok);
    CHECK(n.store.users().find("cu1")->key_quota == 3);
}
