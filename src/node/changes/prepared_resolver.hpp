// SPDX-License-Identifier: Apache-2.0
// Resolves prepared changes nobody committed or aborted in time (the shell
// died, the network was cut) by asking the cluster's other nodes.
#pragma once

#include "hsmsh/tls.hpp"
#include "node_service.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace hsm {

class prepared_resolver {
public:
    /// `peer_identity` is the node's own certificate and key, trusted by its
    /// peers because the cluster's trust anchor issued it. Throws pki_error.
    prepared_resolver(asio::io_context& io, node_service& service, node_store& store,
                      const tls_identity& peer_identity, std::string cluster_id,
                      std::chrono::milliseconds give_up_after);

    void start();
    void stop();

    /// How many of the peers hold `txid`, the key change `identity`,
    /// prepared or committed (only committed, with `committed_only`),
    /// asking one at a time until `enough` do (a commit's availability check).
    awaitable<std::size_t> peers_holding(node_service::change_probe probe, std::size_t enough,
                                         bool committed_only);

private:
    awaitable<void> loop();
    awaitable<void> resolve_due();
    /// `vouch`: this node is about to commit on the answer (transaction_request).
    awaitable<peer_answer> ask(const std::string& peer, const std::string& txid,
                               const node_service::change_probe* probe = nullptr,
                               std::string* identity = nullptr, bool vouch = false);

    asio::io_context& io_;
    node_service& service_;
    node_store& store_;
    ssl::context tls_;
    std::string cluster_id_;
    std::chrono::milliseconds give_up_after_;
    asio::steady_timer timer_;
    bool stopped_ = false;
};

} // namespace hsm
