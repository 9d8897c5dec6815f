// SPDX-License-Identifier: Apache-2.0
// Announcing this node to its peers.
#include "peers/peer_announcer.hpp"

#include "hsmsh/log.hpp"
#include "peers/peer_call.hpp"

namespace hsm {
namespace {

constexpr auto peer_timeout = std::chrono::seconds(3);

} // namespace

peer_announcer::peer_announcer(asio::io_context& io, node_service& service,
                               const tls_identity& identity, std::string cluster_id,
                               std::chrono::milliseconds interval)
    : service_(service), io_(io), tls_(make_client_context(identity)),
      cluster_id_(std::move(cluster_id)), interval_(interval), timer_(io) {}

void peer_announcer::start() {
    asio::co_spawn(io_, loop(), asio::detached);
}

void peer_announcer::stop() {
    stopped_ = true;
    timer_.cancel();
}

void peer_announcer::poke() {
    poked_ = true;
    timer_.cancel();
}

awaitable<void> peer_announcer::loop() {
    while (!stopped_) {
        poked_ = false;
        try {
            co_await announce_round();
        } catch (const std::exception& e) {
            log_warning("announcing to peers failed: {}", escape_control(e.what()));
        }
        if (stopped_) break;
        if (poked_) continue; // learnt something during the round: tell the others now
        timer_.expires_after(interval_);
        co_await timer_.async_wait(asio::as_tuple(use_awaitable)); // a poke or stop cuts it short
    }
}

awaitable<void> peer_announcer::announce_round() {
    // Copies: answers may add peers while we wait.
    auto peers = service_.peers();
    auto message = service_.peer_announcement();
    for (const auto& peer : peers) {
        if (stopped_) break;
        auto r = co_await call_peer(tls_, cluster_id_, peer, operation::announce_peers, message,
                                    peer_timeout);
        // A reply comes over the cluster certificate, which names no node:
        // what it says of the replying node is relayed, not its own word.
        if (r && r->code == status::ok) service_.learn_peers(r->fields, "");
    }
}

} // namespace hsm
