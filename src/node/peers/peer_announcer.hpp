// SPDX-License-Identifier: Apache-2.0
// Tells the cluster's other nodes where this node listens, and learns from
// their answers the nodes they know: started with one --peer each, every
// node comes to know every other (docs/design.md, "Peers").
#pragma once

#include "hsmsh/tls.hpp"
#include "node_service.hpp"

#include <chrono>
#include <string>

namespace hsm {

class peer_announcer {
public:
    /// `identity` is the node's own certificate and key, which its peers
    /// recognise as another node's. Throws pki_error.
    peer_announcer(asio::io_context& io, node_service& service, const tls_identity& identity,
                   std::string cluster_id, std::chrono::milliseconds interval);

    void start();
    void stop();
    /// The peer list changed: announce to everyone now, not at the next round.
    void poke();

private:
    awaitable<void> loop();
    awaitable<void> announce_round();

    node_service& service_;
    asio::io_context& io_;
    ssl::context tls_;
    std::string cluster_id_;
    std::chrono::milliseconds interval_;
    asio::steady_timer timer_;
    bool stopped_ = false;
    bool poked_ = false;
};

} // namespace hsm
