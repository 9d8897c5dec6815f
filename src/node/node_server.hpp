// SPDX-License-Identifier: Apache-2.0
// The node's network side: TLS acceptor, bounded connections, graceful stop.
#pragma once

#include "hsmsh/deadline.hpp"
#include "node_service.hpp"
#include "request_pipeline.hpp"

#include <chrono>
#include <list>
#include <memory>

namespace hsm {

struct server_limits {
    std::size_t max_connections = 32; // connections that finished the TLS handshake
    // Connections still in the handshake have a budget of their own, so that
    // sockets that never present a certificate cannot take a certified
    // client's place; when it is spent, the oldest one that has not sent a
    // byte yet makes room.
    std::size_t max_pending = 128;
    std::size_t max_pending_per_address = 32; // a host running many shells connects in bursts
    duration handshake_timeout = std::chrono::seconds(3);
    duration frame_timeout = std::chrono::seconds(10);
    duration idle_timeout = std::chrono::minutes(10);
    // A certified connection that has not logged in holds a place only for
    // a while, and gives way when the places are taken once it has been idle
    // for login_grace: the oldest of the certificate holding the most such.
    // The cluster's own nodes have places of their own.
    duration login_timeout = std::chrono::minutes(2);
    duration login_grace = std::chrono::seconds(2);
    // When the places are taken and none of those gives way, an idle session
    // of a crypto or appliance user holding more than this many does; and
    // so does one of the user holding the most, while crypto and appliance
    // users together hold more than max_connections - officer_reserve.
    std::size_t sessions_per_user = 16;
    std::size_t officer_reserve = 4;
    std::size_t max_peer_connections = 16;
    duration peer_idle_timeout = std::chrono::seconds(10);
};

/// Accepts TLS connections and serves requests through a node_service.
/// Everything runs on the io_context's single thread.
class node_server {
public:
    node_server(asio::io_context& io, std::shared_ptr<ssl::context> tls, node_service& service,
                server_limits limits);

    /// Binds; returns the bound endpoint (port 0 picks a free one). Throws.
    tcp::endpoint listen(const tcp::endpoint& endpoint);

    /// Starts accepting.
    void start();

    /// Stops accepting and closes idle connections; requests in flight finish.
    void stop();

    /// New connections use `tls` (the client credentials registered now);
    /// connections made before are closed, idle ones at once and busy ones
    /// after their reply, so that a removed credential keeps no session.
    /// Clients reconnect and log in again.
    void reload(std::shared_ptr<ssl::context> tls);

private:
    struct connection {
        tls_stream* stream = nullptr;
        const request_pipeline* pipeline = nullptr; // while requests are read
        std::uint64_t generation = 0;               // of the credentials it was accepted under
        const session* s = nullptr;
        bool evicted = false;
        bool failed_login = false; // refused a login, and not logged in since
        std::chrono::steady_clock::time_point last_active; // accepted, or last replied to
        bool logged_in() const { return s->user_id.has_value(); }
        // A request in flight, or its reply not written yet.
        bool busy() const { return pipeline && !pipeline->idle(); }
        // A client's connection that has not logged in (yet).
        bool before_login() const { return !s->peer_node && !logged_in(); }
    };
    struct pending {
        tls_stream* stream = nullptr;
        std::string address;
        bool silent = true; // nothing received yet
        bool evicted = false;
    };

    awaitable<void> accept_loop();
    bool make_room(const std::string& address);
    /// Whether a certified connection for `s` fits, once a connection that
    /// has not logged in has given way if need be.
    bool admit(const session& s);
    bool evict_one_not_logged_in();
    bool evict_one_of_greediest_user();
    bool evict_from_greediest(const std::function<bool(const connection&)>& eligible,
                              const std::function<std::string(const connection&)>& owner,
                              std::size_t beyond, bool even_busy = false);
    bool evict_oldest(const std::function<bool(const connection&)>& which, bool even_busy = false);
    bool stale_login(const connection& c) const;
    bool failing_login(const connection& c) const;
    awaitable<void> serve(tcp::socket socket, std::string address);
    awaitable<void> handshake(tls_stream& stream, pending& p);
    awaitable<void> converse(tls_stream& stream, connection& conn, session& s);
    awaitable<void> read_and_answer(tls_stream& stream, connection& conn, session& s,
                                    request_pipeline& pipeline);
    /// Whether the connection may read on: the node has not stopped, no
    /// reload came after it was accepted, and it was not evicted.
    bool current(const connection& c) const;
    /// Answers `r` (of `size` bytes, started on the pipeline), and writes
    /// the reply through it; the request counts as in flight until then.
    awaitable<status> answer(session& s, request r, request_pipeline& pipeline, std::size_t size);
    void refused(std::string_view why);

    asio::io_context& io_;
    std::shared_ptr<ssl::context> tls_;
    std::uint64_t generation_ = 0; // bumped by every reload
    node_service& service_;
    server_limits limits_;
    tcp::acceptor acceptor_;
    std::list<connection> connections_;
    std::list<pending> pending_;
    bool stopping_ = false;
    std::chrono::steady_clock::time_point last_refusal_log_{};
    std::size_t refusals_unlogged_ = 0;
};

} // namespace hsm
