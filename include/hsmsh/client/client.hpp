// SPDX-License-Identifier: Apache-2.0
// A client connection to one node: mutual TLS, hello, request/response with deadlines.
#pragma once

#include "hsmsh/client/client_result.hpp"
#include "hsmsh/deadline.hpp"
#include "hsmsh/protocol/payloads.hpp"
#include "hsmsh/protocol/wire.hpp"

#include <optional>
#include <stdexcept>
#include <string>

namespace hsm {

/// A request timeout that leaves the bound to the caller, who ends a call
/// that takes too long with node_client::expire.
inline constexpr duration no_deadline = duration::max();

/// One connection to one node. Not thread-safe; one call at a time.
class node_client {
public:
    node_client(asio::any_io_executor executor, ssl::context& context);

    /// Connects, handshakes, checks that the node's certificate names
    /// `cluster_id` (any id when empty: the anchor alone decides), and
    /// exchanges hello, all within `timeout`. Throws client_error.
    awaitable<node_hello> connect(std::string host, std::uint16_t port, std::string cluster_id,
                                  duration timeout);

    /// Sends one request and awaits its reply within `timeout`. Throws
    /// client_error; the connection is closed after any failure.
    awaitable<reply> call(operation op, json fields, duration timeout);

    /// list_users, its reply decoded into typed users without a JSON tree.
    awaitable<user_list_reply> list_users(duration timeout);

    /// Closes with a TLS close_notify, bounded by `timeout`; never throws.
    awaitable<void> close(duration timeout);

    /// Closes the socket at once, failing any operation in flight. Call on
    /// the client's executor.
    void abort() noexcept;

    /// As abort, for a caller's deadline: the call in flight fails as a time-out.
    void expire() noexcept;

    bool connected() const noexcept { return stream_.has_value(); }

    /// From now, a node must present the certificate of this fingerprint
    /// (the cluster's, pinned), or the connection fails as wrong_cluster.
    void pin(std::string fingerprint) { pin_ = std::move(fingerprint); }

    /// The connection's TLS channel binding (second_factor.hpp), which a
    /// two-factor answer names; empty when not connected.
    const std::vector<std::uint8_t>& channel() const noexcept { return channel_; }

private:
    awaitable<void> open(const std::string& host, std::uint16_t port);
    awaitable<void> handshake(const std::string& cluster_id);
    /// A reply's body, and the id of the request it must answer.
    struct sent {
        std::string body;
        std::uint64_t id = 0;
    };
    /// Sends one request within `timeout` and returns its reply's body, undecoded.
    awaitable<sent> send(operation op, json fields, duration timeout);
    /// Sends `req` (its id set) and returns the body of the reply.
    awaitable<std::string> exchange(request req);
    /// Runs a request's exchange within `timeout`; any failure closes the connection.
    awaitable<std::string> bounded(awaitable<std::string> exchanged, duration timeout);
    /// The decoded reply to request `id`, or a protocol failure (the connection closed).
    template <typename Reply>
    Reply checked(std::variant<Reply, decode_error> decoded, std::uint64_t id);
    request next_request(operation op, json fields = json::object());
    /// What a failed operation means for the user, decided by its error code
    /// (the text is kept for protocol failures).
    client_error classify(const boost::system::system_error& e, bool connecting) const;

    asio::any_io_executor executor_;
    ssl::context& context_;
    std::optional<tls_stream> stream_;
    std::uint64_t next_id_ = 1;
    bool handshake_done_ = false;
    std::vector<std::uint8_t> channel_;
    std::string pin_;
    bool expired_ = false;
};

} // namespace hsm
