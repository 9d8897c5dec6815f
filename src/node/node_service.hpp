// SPDX-License-Identifier: Apache-2.0
// The node's request handling: every rule of docs/design.md ("What a node
// enforces") applied to one request by the operation table, over the
// node's state (node_context); the handlers live in ops/, by capability.
#pragma once

#include "access/derivation_budget.hpp"
#include "access/two_factor.hpp"
#include "changes/key_change.hpp"
#include "changes/m_change.hpp"
#include "changes/planned_change.hpp"
#include "crypto/cluster_keys.hpp"
#include "crypto/key_crypto.hpp"
#include "hsmsh/asio.hpp"
#include "hsmsh/pki.hpp"
#include "hsmsh/protocol/keys.hpp"
#include "hsmsh/protocol/wire.hpp"
#include "hsmsh/secret.hpp"
#include "node_context.hpp"
#include "operation_table.hpp"
#include "peers/peer_list.hpp"
#include "quorum/quorum_tokens.hpp"
#include "store/node_store.hpp"

#include <array>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace hsm {

/// Applies requests to the store. Runs on one executor (the store and the
/// session registry are not shared across threads); password derivations
/// run on `kdf_executor` so that one slow login never stalls other clients.
class node_service {
public:
    node_service(node_store& store, node_identity identity, cluster_keys keys,
                 std::uint32_t kdf_iterations, asio::any_io_executor kdf_executor,
                 derivation_budget::limits budget = {});

    /// Records who a new connection is (its verified client certificate):
    /// `node_hsm_id` is what node_named_by found in it. A peer node is a
    /// node certificate, or the cluster certificate while this node has no
    /// certificate of its own (node_certificates_only).
    void authenticate(session& s, std::string fingerprint, std::string node_hsm_id = {}) const;

    /// The HSM id a node certificate of this cluster names (issued by its
    /// trust anchor, CN the cluster id, serialNumber the HSM id, serverAuth
    /// and clientAuth); empty for any other certificate.
    std::string node_named_by(X509* cert) const;

    /// Handles one request; never throws. Passwords in `r` are wiped.
    awaitable<reply> handle(session& s, request& r);

    /// Whether a connection may carry requests of `op` side by side, read
    /// ahead and answered as each is done: the operations the table runs
    /// with use_key (sign, verify, encrypt, decrypt), which change neither
    /// the session nor what the node holds but for a refusal's audit row.
    /// Every other request runs alone, after those before it and before
    /// those after it (node_server.cpp).
    static bool side_by_side(operation op) noexcept;

    /// Forgets the session's login (connection closed, or its record changed).
    void end_session(session& s) noexcept;

    /// Records a peer that broke the protocol.
    void audit_violation(const std::string& peer, std::string_view reason) noexcept;

    cluster_state state() const;

    /// Commits (or aborts) a prepared change; `s` is who asked (the shell,
    /// or the node's own resolver). A commit re-checks every rule first and
    /// aborts the change instead when one no longer holds. Idempotent.
    /// `holders` is how many nodes hold the change prepared or committed,
    /// as this node verified by asking its peers (commit_from_client): a
    /// new key is committed only where it is on enough of them (nullopt: a
    /// peer node resolving, which commits only what another node committed).
    status finish_tx(session& s, const std::string& txid, bool commit,
                     std::optional<std::int64_t> holders = std::nullopt, bool decided = false);

    /// A client's commit or abort. For a key insertion this node asks its
    /// peers whether they hold the change (never what the client says) and
    /// commits only when enough do.
    awaitable<status> commit_from_client(session& s, const std::string& txid, bool commit);

    using change_probe = hsm::change_probe;
    using peer_holders = hsm::peer_holders;
    void on_count_peer_holders(peer_holders ask) { n_.count_peer_holders = std::move(ask); }

    /// "committed", "aborted", "prepared" or "unknown".
    std::string tx_outcome(const std::string& txid) const;
    /// Whether this node told a committing peer it holds `txid` prepared.
    bool vouched(const std::string& txid) const { return n_.vouched.contains(txid); }
    /// What names a prepared key change across nodes; nullopt for any other.
    std::optional<change_probe> probe_of(const std::string& txid) const;

    /// How long a prepared change waits for its commit before the node
    /// resolves it with its peers.
    void set_prepare_timeout(std::chrono::milliseconds t) noexcept { n_.prepare_timeout = t; }
    /// How long a quorum token lives after getToken.
    void set_token_lifetime(std::chrono::milliseconds t) noexcept { n_.tokens.set_lifetime(t); }
    /// The most keys (objects) one crypto user may own on this node.
    void set_key_quota(std::size_t n) noexcept { n_.key_quota = n; }
    /// The keys `u` may own here: its officer-set quota, else the node's.
    std::size_t key_quota_of(const user_record& u) const noexcept { return n_.key_quota_of(u); }
    /// Sizes the budgets of key work for a KDF pool of `threads` threads:
    /// one generation at a time, and key uses on all threads but one
    /// user's share of them at most threads - 1, so that one user's load
    /// always leaves a thread to the others' signatures and to logins.
    void set_key_work_threads(std::size_t threads);

    /// Where the other nodes this node knows listen.
    std::vector<std::string> peers() const { return n_.peers.addresses(); }
    /// What this node announces to them: itself and the others.
    json peer_announcement() const { return n_.peers.announcement(); }
    /// Where the others reach this node (once the listener is bound), from now.
    void advertise(const std::string& self);
    /// Learns from an announcement or a peer's reply to ours; a change is
    /// remembered in the store and reported to the watcher. `speaker` is
    /// the HSM a node certificate proved the sender to be ("" when none did):
    /// only its own entry is its own word.
    void learn_peers(const json& announcement, const std::string& speaker);
    /// Called after the peer list changed (the announcer spreads the news).
    void on_peers_changed(std::function<void()> watcher) { n_.peers_changed = std::move(watcher); }

    /// The sessions currently logged in as user `id` (tests, invariants).
    std::size_t sessions_of(std::int64_t id) const noexcept { return n_.sessions.count(id); }

private:
    awaitable<reply> dispatch(session& s, request& r);

    // The operation table (operation_table.cpp): one row per operation, in
    // the order of the enum; dispatch admits, runs and audits by its row.
    static const std::array<operation_entry, operation_count> operations_;
    /// Throws std::logic_error unless the table has its rows in order.
    static void check_operations();
    status admit(const operation_entry& e, const session& s) const;
    void audit_by_rule(const operation_entry& e, const session& s, const json& f, bool known,
                       bool let_in, status result);

    node_context n_;
    x509_ptr trust_anchor_; // the identity's trust anchor, parsed; null without one
};

} // namespace hsm
