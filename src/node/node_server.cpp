// SPDX-License-Identifier: Apache-2.0
// The node's network side.
#include "node_server.hpp"

#include "hsmsh/frame_io.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/tls.hpp"

namespace hsm {
namespace {

std::string remote_name(const tcp::socket& socket) {
    boost::system::error_code ec;
    auto ep = socket.remote_endpoint(ec);
    return ec ? std::string("?") : fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

bool is_transport_end(const boost::system::system_error& e) {
    auto ec = e.code();
    return ec == asio::error::eof || ec == asio::error::operation_aborted ||
           ec == asio::error::connection_reset || ec == ssl::error::stream_truncated;
}

} // namespace

node_server::node_server(asio::io_context& io, ssl::context& tls, node_service& service,
                         server_limits limits)
    : io_(io), tls_(tls), service_(service), limits_(limits), acceptor_(io) {}

tcp::endpoint node_server::listen(const tcp::endpoint& endpoint) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
    return acceptor_.local_endpoint();
}

void node_server::start() {
    asio::co_spawn(io_, accept_loop(), asio::detached);
}

void node_server::stop() {
    stopping_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (auto& c : connections_)
        if (!c.busy) c.stream->next_layer().cancel(ignored);
}

awaitable<void> node_server::accept_loop() {
    while (!stopping_) {
        tcp::socket socket(io_);
        auto [ec] = co_await acceptor_.async_accept(socket, asio::as_tuple(use_awaitable));
        if (ec == asio::error::operation_aborted || stopping_) break;
        if (ec) continue;
        if (connections_.size() >= limits_.max_connections) {
            log_event("refused {}: {} connections already", remote_name(socket),
                      limits_.max_connections);
            socket.close(ec);
            continue;
        }
        asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
    }
}

awaitable<void> node_server::serve(tcp::socket socket) {
    std::string remote = remote_name(socket);
    tls_stream stream(std::move(socket), tls_);
    auto conn = connections_.insert(connections_.end(), connection{&stream, false});
    session s;
    try {
        co_await with_deadline(stream.async_handshake(ssl::stream_base::server, use_awaitable),
                               limits_.handshake_timeout);
        s.peer = peer_fingerprint(stream.native_handle());
        co_await converse(stream, *conn, s);
        co_await with_deadline(stream.async_shutdown(use_awaitable), std::chrono::seconds(2));
    } catch (const frame_error& e) {
        log_event("{}: {}, disconnected", remote, e.what());
        service_.audit_violation(s.peer, e.what());
    } catch (const deadline_exceeded&) {
        log_event("{}: deadline exceeded, disconnected", remote);
        // Audited once the peer has proven who it is; an anonymous handshake
        // flood must not be able to fill the audit trail.
        if (!s.peer.empty()) service_.audit_violation(s.peer, "deadline exceeded");
    } catch (const boost::system::system_error& e) {
        if (!is_transport_end(e))
            log_event("{}: {}, disconnected", remote, escape_control(e.code().message()));
    } catch (const std::exception& e) {
        log_event("{}: {}, disconnected", remote, escape_control(e.what()));
    }
    service_.end_session(s);
    connections_.erase(conn);
}

awaitable<void> node_server::converse(tls_stream& stream, connection& conn, session& s) {
    while (!stopping_) {
        std::string body;
        try {
            body = co_await read_frame(stream, limits_.idle_timeout, limits_.frame_timeout);
        } catch (const boost::system::system_error& e) {
            if (e.code() == asio::error::operation_aborted && stopping_) co_return;
            throw;
        }
        conn.busy = true;
        auto decoded = decode_request(body);
        wipe(body);
        if (auto* e = std::get_if<decode_error>(&decoded))
            throw frame_error(std::string(decode_error_name(*e)));
        auto answer = co_await service_.handle(s, std::get<request>(decoded));
        std::string encoded = encode(answer);
        // The reply's tree (1,024 users: about a megabyte) is not needed while
        // the write waits on a slow reader; with 32 such readers it was most
        // of the node's memory.
        answer.fields = json();
        co_await write_frame(stream, encoded, limits_.frame_timeout);
        conn.busy = false;
    }
}

} // namespace hsm
