// SPDX-License-Identifier: Apache-2.0
// One request from this node to another node of its cluster.
#pragma once

#include "hsmsh/asio.hpp"
#include "hsmsh/protocol/wire.hpp"
#include "hsmsh/tls.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace hsm {

/// Connects to `peer` (HOST:PORT) presenting this node's certificate (held by
/// `tls`), requires it to be a node of `cluster_id`, sends one request and
/// closes; each step within `timeout`. Nullopt when the peer cannot be
/// reached, is not of the cluster, or does not answer: the callers treat all
/// of these alike.
awaitable<std::optional<reply>> call_peer(ssl::context& tls, const std::string& cluster_id,
                                          const std::string& peer, operation op, json fields,
                                          std::chrono::milliseconds timeout);

} // namespace hsm
