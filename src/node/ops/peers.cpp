// SPDX-License-Identifier: Apache-2.0
// The node and its peers: who it is (hello, hsmInfo, describeCluster), and
// where the other nodes of the cluster listen, learnt from their announcements.
#include "ops/peers.hpp"

#include "hsmsh/duration.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/protocol/payloads.hpp"

#include <fmt/format.h>

namespace hsm {
namespace {

inline constexpr std::string_view firmware_version = "0.2.0";

} // namespace

status hello(node_context& n, session&, const no_fields&, json& out) {
    out = to_json(hello_reply{protocol_version, n.identity.cluster_id, n.identity.hsm_id,
                              std::string(cluster_state_name(n.store.meta().state()))});
    return status::ok;
}

status node_info(node_context& n, session&, const no_fields&, json& out) {
    auto head = n.store.audit().head();
    out = to_json(
        hsm::hsm_info{.hsm_id = n.identity.hsm_id,
                      .cluster_id = n.identity.cluster_id,
                      .state = std::string(cluster_state_name(n.store.meta().state())),
                      .model = "hsmd software HSM",
                      .serial_number = n.identity.hsm_id,
                      .firmware = std::string(firmware_version),
                      .users = static_cast<std::int64_t>(n.store.users().count()),
                      .max_users = static_cast<std::int64_t>(max_users_per_node),
                      .kdf = fmt::format("PBKDF2-HMAC-SHA256, {} iterations", n.kdf_iterations),
                      .certificate_fingerprint = n.identity.certificate_fingerprint,
                      .audit_head = fmt::format("{}:{}", head.rows, head.hash),
                      .peers = n.peers.addresses()});
    return status::ok;
}

status describe_cluster(node_context& n, session&, const no_fields&, json& out) {
    out = {{"cluster_id", n.identity.cluster_id},
           {"hsm_id", n.identity.hsm_id},
           {"state", cluster_state_name(n.store.meta().state())},
           {"certificate_fingerprint", n.identity.certificate_fingerprint},
           {"peers", n.peers.addresses()}};
    return status::ok;
}

// Only another node of the cluster (the table's gate): a user, even an
// officer, cannot point this node's resolver or anyone's discovery elsewhere.
status announce_peers(node_context& n, session& s, const peer_announcement_request& r, json& out) {
    learn_from(n, r.announcement, s.node_hsm_id);
    out = n.peers.announcement();
    return status::ok;
}

void learn_from(node_context& n, const json& announcement, const std::string& speaker) {
    if (!n.peers.learn(announcement, unix_ms(), speaker)) return;
    n.store.transact([&] { n.store.meta().set(meta_key::peers, n.peers.to_json().dump()); });
    log_event("peers now: {}", escape_control(json(n.peers.addresses()).dump()));
    if (n.peers_changed) n.peers_changed();
}

} // namespace hsm
