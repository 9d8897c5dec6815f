// SPDX-License-Identifier: Apache-2.0
// A node over an in-memory store, initialised as initialize-cluster does
// (admin is a PRECO with password "password"), for the unit tests.
#pragma once

#include "node_service.hpp"

namespace hsm::test {

/// The cheapest derivation a node accepts: these tests exercise rules, not PBKDF2.
inline constexpr std::uint32_t cheap_kdf = 1000;
/// The node's own certificate fingerprint: a session presenting it is a peer node.
inline constexpr std::string_view node_fingerprint = "SHA256:node";

struct memory_node {
    asio::io_context io;
    user_store store{":memory:"};
    node_service service{store,
                         {"cluster-t", "hsm-test", std::string(node_fingerprint), json::array()},
                         cluster_keys(bytes(sealing_key_size, 7)),
                         cheap_kdf,
                         io.get_executor()};

    memory_node() {
        store.transact([&] {
            store.set_state(cluster_state::initialized);
            store.insert_user("admin", user_type::preco, hash_password("password", cheap_kdf));
        });
    }
};

} // namespace hsm::test
