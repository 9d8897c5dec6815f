// SPDX-License-Identifier: Apache-2.0
// One request to a peer node.
#include "peers/peer_call.hpp"

#include "hsmsh/client/client.hpp"
#include "hsmsh/endpoint.hpp"

namespace hsm {

// g++ 12 warns that the coroutine frame's operator delete mismatches its
// operator new (-Wmismatched-new-delete) for this function; both are Asio's
// awaitable_frame_base pair, so the warning is a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
awaitable<std::optional<reply>> call_peer(ssl::context& tls, const std::string& cluster_id,
                                          const std::string& peer, operation op, json fields,
                                          std::chrono::milliseconds timeout) {
    std::optional<reply> out;
    node_client client(co_await asio::this_coro::executor, tls);
    try {
        auto where = parse_host_port(peer, std::nullopt);
        co_await client.connect(where.host, where.port, cluster_id, timeout);
        out = co_await client.call(op, std::move(fields), timeout);
        co_await client.close(std::chrono::seconds(1));
    } catch (const std::exception&) {
        // Unreachable, refused or not a node of this cluster: no answer.
    }
    co_return out;
}
#pragma GCC diagnostic pop

} // namespace hsm
