// SPDX-License-Identifier: Apache-2.0
// The node's network side: TLS acceptor, bounded connections, graceful stop.
#pragma once

#include "hsmsh/deadline.hpp"
#include "node_service.hpp"

#include <chrono>
#include <list>

namespace hsm {

struct server_limits {
    std::size_t max_connections = 32;
    duration handshake_timeout = std::chrono::seconds(10);
    duration frame_timeout = std::chrono::seconds(10);
    duration idle_timeout = std::chrono::minutes(10);
};

/// Accepts TLS connections and serves requests through a node_service.
/// Everything runs on the io_context's single thread.
class node_server {
public:
    node_server(asio::io_context& io, ssl::context& tls, node_service& service,
                server_limits limits);

    /// Binds; returns the bound endpoint (port 0 picks a free one). Throws.
    tcp::endpoint listen(const tcp::endpoint& endpoint);

    /// Starts accepting.
    void start();

    /// Stops accepting and closes idle connections; requests in flight finish.
    void stop();

private:
    struct connection {
        tls_stream* stream = nullptr;
        bool busy = false;
    };

    awaitable<void> accept_loop();
    awaitable<void> serve(tcp::socket socket);
    awaitable<void> converse(tls_stream& stream, connection& conn, session& s);

    asio::io_context& io_;
    ssl::context& tls_;
    node_service& service_;
    server_limits limits_;
    tcp::acceptor acceptor_;
    std::list<connection> connections_;
    bool stopping_ = false;
};

} // namespace hsm
