// SPDX-License-Identifier: Apache-2.0
// The node and its peers: who it is, and where the other nodes listen.
#pragma once

#include "node_context.hpp"

#include <string>

namespace hsm {

status hello(node_context& n, session& s, const no_fields& r, json& out);
status node_info(node_context& n, session& s, const no_fields& r, json& out);
status describe_cluster(node_context& n, session& s, const no_fields& r, json& out);
/// Only another node of the cluster (the operation table's gate) announces.
status announce_peers(node_context& n, session& s, const peer_announcement_request& r, json& out);
/// Learns from an announcement; see node_service::learn_peers.
void learn_from(node_context& n, const json& announcement, const std::string& speaker);

} // namespace hsm
