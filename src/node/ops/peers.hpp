// SPDX-License-Identifier: Apache-2.0
// The node and its peers: who it is, and where the other nodes listen.
#pragma once

#include "node_context.hpp"

#include <string>

namespace hsm {

json hello(const node_context& n);
json node_info(const node_context& n);
json describe_cluster(const node_context& n);
/// Only another node of the cluster (the operation table's gate) announces.
status announce_peers(node_context& n, session& s, const json& f, json& out);
/// Learns from an announcement; see node_service::learn_peers.
void learn_from(node_context& n, const json& announcement, const std::string& speaker);

} // namespace hsm
