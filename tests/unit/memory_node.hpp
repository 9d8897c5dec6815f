// SPDX-License-Identifier: Apache-2.0
// A node over an in-memory store, initialised as initialize-cluster does
// (admin is a PRECO with password "password"), for the unit tests.
#pragma once

#include "hsmsh/hex.hpp"
#include "hsmsh/protocol/payloads.hpp"
#include "node_service.hpp"

#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace hsm::test {

/// The cheapest derivation a node accepts: these tests exercise rules, not PBKDF2.
inline constexpr std::uint32_t cheap_kdf = 1000;
/// The node's own certificate fingerprint: a session presenting it is a peer node.
inline constexpr std::string_view node_fingerprint = "SHA256:node";

struct memory_node {
    asio::io_context io;
    node_store store{":memory:"};
    node_service service{
        store,
        {"cluster-t", "hsm-test", std::string(node_fingerprint), json::array(), {}, false},
        cluster_keys(bytes(sealing_key_size, 7)),
        cheap_kdf,
        io.get_executor()};

    memory_node() {
        store.transact([&] {
            store.meta().set_state(cluster_state::initialized);
            store.users().insert("admin", user_type::preco, hash_password("password", cheap_kdf));
        });
    }
};

/// A memory node with helpers that send requests the way a client does.
struct node_fixture : memory_node {

    reply call(session& s, operation op, json fields = json::object()) {
        request r;
        r.op = op;
        r.fields = std::move(fields);
        auto f = asio::co_spawn(io, service.handle(s, r), asio::use_future);
        io.restart();
        io.run();
        return f.get();
    }
    status login(session& s, std::string_view type, std::string_view name,
                 std::string_view password) {
        return call(s, operation::login, {{"type", type}, {"name", name}, {"password", password}})
            .code;
    }
    status create(session& s, std::string_view type, std::string_view name,
                  std::string_view password = "password1") {
        return call(s, operation::create_user,
                    {{"type", type}, {"name", name}, {"password", password}})
            .code;
    }
    status change(session& s, std::string_view type, std::string_view name,
                  std::string_view password) {
        return call(s, operation::change_password,
                    {{"type", type}, {"name", name}, {"password", password}})
            .code;
    }
    status remove(session& s, std::string_view type, std::string_view name) {
        return call(s, operation::delete_user, {{"type", type}, {"name", name}}).code;
    }
    // Prepares and commits a change on this node alone, as the shell would on each.
    status prepared(session& s, json fields) {
        auto txid = random_hex(16);
        fields["txid"] = txid;
        auto p = call(s, operation::prepare, fields).code;
        if (p != status::ok) return p;
        return call(s, operation::commit, {{"txid", txid}}).code;
    }
    // Generates keys as `s` (a crypto user) and inserts them; their handles.
    std::vector<std::int64_t> new_keys(session& s, std::string_view spec,
                                       json more = json::object()) {
        more["spec"] = spec;
        auto g = call(s, operation::generate_key, more);
        REQUIRE(g.code == status::ok);
        std::vector<std::int64_t> handles;
        for (const auto& k : g.fields.at("keys"))
            handles.push_back(k.at("handle").get<std::int64_t>());
        auto keys = g.fields.at("keys");
        if (prepared(s, {{"change", "insert_keys"}, {"keys", keys}}) != status::ok) return {};
        return handles;
    }
    // A key as `get_key` describes it to `s`.
    key_summary described(session& s, std::int64_t handle) {
        auto r = call(s, operation::get_key, {{"handle", handle}});
        REQUIRE(r.code == status::ok);
        auto k = key_summary_from(r.fields);
        REQUIRE(k);
        return *k;
    }
    // Logs in as admin and activates the cluster.
    session activated() {
        session s;
        REQUIRE(login(s, "PRECO", "admin", "password") == status::ok);
        REQUIRE(change(s, "PRECO", "admin", "officer-pw1") == status::ok);
        return s;
    }
};

} // namespace hsm::test
