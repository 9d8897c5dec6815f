// SPDX-License-Identifier: Apache-2.0
// The node's request handling: every rule of docs/design.md ("What a node
// enforces") applied to one request, and the sessions bound to user records.
#pragma once

#include "cluster_keys.hpp"
#include "derivation_budget.hpp"
#include "hsmsh/asio.hpp"
#include "hsmsh/keys.hpp"
#include "hsmsh/pki.hpp"
#include "hsmsh/secret.hpp"
#include "hsmsh/wire.hpp"
#include "key_change.hpp"
#include "key_crypto.hpp"
#include "m_change.hpp"
#include "operation_table.hpp"
#include "peer_list.hpp"
#include "planned_change.hpp"
#include "quorum_tokens.hpp"
#include "two_factor.hpp"
#include "user_store.hpp"

#include <array>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace hsm {

/// Who this node is.
struct node_identity {
    std::string cluster_id;
    std::string hsm_id;
    std::string certificate_fingerprint;
    json peers; // given with --peer (address strings) or remembered (peer_list::to_json)
    // The cluster's trust anchor (PEM): it issues node certificates, each
    // naming one HSM. Empty: none is recognised.
    std::string trust_anchor;
    // This node has its own certificate (node.crt): its peers have theirs
    // too, and the shared cluster certificate gives no peer rights (a
    // retired node keeps a copy of it; its node certificate is revoked).
    bool node_certificates_only = false;
};

/// One client connection's login state. A logged-in session acts for one
/// user record: its id (never reused) and its generation (bumped by every
/// change of credentials or type). The node re-checks both on every request
/// and ends or rebinds the session the moment that record changes. Only the
/// session object the node logged in counts: a copy of it acts for nobody.
struct session {
    std::string peer;        // client certificate fingerprint
    bool peer_node = false;  // it presented the cluster certificate or a node certificate
    std::string node_hsm_id; // the HSM a node certificate names: that node's own word
    bytes channel;           // the TLS channel binding, which 2FA messages name
    std::optional<std::int64_t> user_id;
    std::string user_name;
    user_type type = user_type::cu;
    std::int64_t generation = 0;
    // The 2FA challenge this session was given last (a login's second step,
    // or an enrollment); taken by the first answer, right or wrong.
    std::optional<two_factor_challenge> challenge;

    std::optional<user_type> actor() const { return user_id ? std::optional(type) : std::nullopt; }
};

/// Applies requests to the store. Runs on one executor (the store and the
/// session registry are not shared across threads); password derivations
/// run on `kdf_executor` so that one slow login never stalls other clients.
class node_service {
public:
    node_service(user_store& store, node_identity identity, cluster_keys keys,
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
                     std::optional<std::int64_t> holders = std::nullopt);

    /// A client's commit or abort. For a key insertion this node asks its
    /// peers whether they hold the change (never what the client says) and
    /// commits only when enough do.
    awaitable<status> commit_from_client(session& s, const std::string& txid, bool commit);

    /// How the node asks its peers whether they hold a key change (its
    /// change_identity) prepared or committed (only committed, with
    /// `committed_only`): the count of peers that do, asking until `enough` say so.
    struct change_probe {
        std::string txid;
        std::string identity;              // change_identity
        std::vector<std::int64_t> handles; // a committed change is known by its keys
    };
    using peer_holders = std::function<awaitable<std::size_t>(
        change_probe probe, std::size_t enough, bool committed_only)>;
    void on_count_peer_holders(peer_holders ask) { count_peer_holders_ = std::move(ask); }

    /// "committed", "aborted", "prepared" or "unknown".
    std::string tx_outcome(const std::string& txid) const;

    /// How long a prepared change waits for its commit before the node
    /// resolves it with its peers.
    void set_prepare_timeout(std::chrono::milliseconds t) noexcept { prepare_timeout_ = t; }
    /// How long a quorum token lives after getToken.
    void set_token_lifetime(std::chrono::milliseconds t) noexcept { tokens_.set_lifetime(t); }
    /// The most keys (objects) one crypto user may own on this node.
    void set_key_quota(std::size_t n) noexcept { key_quota_ = n; }
    /// The keys `u` may own here: its officer-set quota, else the node's.
    std::size_t key_quota_of(const user_record& u) const noexcept {
        return u.key_quota ? static_cast<std::size_t>(*u.key_quota) : key_quota_;
    }
    /// Sizes the budgets of key work for a KDF pool of `threads` threads:
    /// one generation at a time, and key uses on all threads but one
    /// user's share of them at most threads - 1, so that one user's load
    /// always leaves a thread to the others' signatures and to logins.
    void set_key_work_threads(std::size_t threads);

    /// Where the other nodes this node knows listen.
    std::vector<std::string> peers() const { return peers_.addresses(); }
    /// What this node announces to them: itself and the others.
    json peer_announcement() const { return peers_.announcement(); }
    /// Where the others reach this node (once the listener is bound), from now.
    void advertise(const std::string& self);
    /// Learns from an announcement or a peer's reply to ours; a change is
    /// remembered in the store and reported to the watcher. `speaker` is
    /// the HSM a node certificate proved the sender to be ("" when none did):
    /// only its own entry is its own word.
    void learn_peers(const json& announcement, const std::string& speaker);
    /// Called after the peer list changed (the announcer spreads the news).
    void on_peers_changed(std::function<void()> watcher) { peers_changed_ = std::move(watcher); }

    /// The sessions currently logged in as user `id` (tests, invariants).
    std::size_t sessions_of(std::int64_t id) const noexcept { return sessions_.count(id); }

private:
    awaitable<status> login(session& s, const json& f, secret password, json& out);
    status login_2fa(session& s, const json& f);
    void logged_in(session& s, const user_record& u, std::string_view what);
    status get_2fa_challenge(session& s, json& out);
    status logout(session& s);
    json list_users() const;
    bool current(session& s);
    void bind(session& s, const user_record& u);
    void settle_sessions(std::int64_t user_id, session* actor);
    std::uint32_t login_cost() const;

    // User changes (node_changes.cpp): planned for the session's user, checked
    // against the rules, then applied at once (direct) or recorded for a later
    // commit (prepare), where the rules are checked again.
    awaitable<std::pair<status, planned_change>> plan(session& s, operation op, const json& f,
                                                      const secret& password);
    std::pair<status, planned_change> plan_sync(session& s, const json& f);
    status rules_hold(const planned_change& c) const;
    status record_rules(const planned_change& c, const user_record* existing) const;
    /// Whether c's quorum key is no other user's than `user_id`'s.
    status quorum_key_free(const planned_change& c, std::int64_t user_id) const;
    void apply(const planned_change& c);
    awaitable<status> direct(session& s, operation op, const json& f, secret password);
    awaitable<status> prepare(session& s, const json& f, secret password);
    /// A prepared row's change, user or key; nullopt when it does not read.
    using stored_change = std::variant<planned_change, key_change, m_change>;
    static std::optional<stored_change> read_change(std::string_view text);
    status may_finish(session& s, operation op, const std::optional<stored_change>& c);
    status change_rules_hold(const stored_change& c) const;
    status available_enough(const stored_change& c, std::optional<std::int64_t> holders) const;
    std::size_t holders_needed() const;
    std::string change_identity(const key_change& c) const;
    /// A committed insertion's identity, from the keys it left (`handles`).
    std::optional<std::string> committed_identity(const json& handles) const;
    void apply_change(const stored_change& c, session& s);

    // Quorum (node_quorum.cpp).
    /// The quorum service that guards a user change, if one does.
    static std::optional<quorum::service> guarding(const planned_change& c);
    bool still_approves(std::int64_t officer, const bytes& key) const;
    int valid_approvals(const quorum_token& t) const;
    int valid_approvals(const approver_keys& a) const;
    const quorum_token* best_token(const session& s, quorum::service svc) const;
    approver_keys approvals_for(const session& s, quorum::service svc) const;
    status quorum_holds(quorum::service svc, const approver_keys& approvals) const;
    void spend_token(const session& s, quorum::service svc);
    status officer_may_leave() const;
    status get_m_value(const json& f, json& out);
    std::pair<status, m_change> plan_m_change(session& s, const json& f);
    status m_rules_hold(const m_change& c) const;
    status direct_m_change(session& s, const json& f);
    status prepare_m_change(session& s, const json& f, const std::string& txid);
    status record_prepared(session& s, const std::string& txid, const std::string& subject,
                           const json& change, std::string_view what, std::string_view target,
                           status verdict, const std::function<void()>& also = {});
    status get_token(session& s, const json& f, json& out);
    status approve_token(session& s, const json& f, json& out);
    status list_tokens(session& s, json& out);
    status delete_token(session& s, const json& f, json& out);

    // Keys (node_keys.cpp, node_key_changes.cpp).
    key_actor key_actor_for(const session& s, const key_record& k) const;
    std::string key_digest(const key_record& k) const;
    bool same_description(const key_record& held, const key_contents& copy) const;
    std::int64_t next_key_handle(std::int64_t besides) const;
    std::optional<loaded_key> loaded(const key_record& k);
    awaitable<status> generate_key(session& s, const json& f, json& out);
    status find_keys(const json& f, json& out);
    status get_key(session& s, const json& f, json& out);
    status list_keys(session& s, const json& f, json& out);
    key_summary summary_of(const key_record& k) const;
    static constexpr std::size_t keys_per_page = 32;
    awaitable<status> use_key(session& s, operation op, const json& f, json& out);
    status random(const json& f, json& out);
    std::pair<status, key_change> plan_key_change(session& s, key_change::kind kind, const json& f);
    status key_rules_hold(const key_change& c) const;
    status insert_rules(const key_change& c, const user_record& actor) const;
    status sync_rules(const key_change& c, const user_record& actor) const;
    std::pair<status, key_record> changed_attributes(const key_record& k, std::uint32_t id,
                                                     const std::string& value) const;
    std::string material_digest(const key_material& m) const;
    status get_sealed_key(session& s, const json& f, json& out);
    void apply(const key_change& c);
    status prepare_key_change(session& s, key_change::kind kind, const json& f,
                              const std::string& txid);
    status get_user(const json& f, json& out);
    status list_prepared(json& out);
    std::string digest_of(const user_record& u) const;
    std::string record_context(std::string_view name, std::int64_t version) const;
    json hello() const;
    json hsm_info() const;
    json describe_cluster() const;
    status tx_status(session& s, const json& f, json& out);
    status announce_peers(session& s, const json& f, json& out);
    awaitable<status> finish_from(session& s, const json& f, bool commit);
    awaitable<reply> dispatch(session& s, request& r);

    // The operation table (operation_table.cpp): one row per operation, in
    // the order of the enum; dispatch admits, runs and audits by its row.
    static const std::array<operation_entry, operation_count> operations_;
    /// Throws std::logic_error unless the table has its rows in order.
    static void check_operations();
    status admit(const operation_entry& e, const session& s) const;
    void audit_by_rule(const operation_entry& e, const session& s, const json& f, bool let_in,
                       status result);

    template <typename F> awaitable<std::invoke_result_t<F>> off_thread(F f);
    /// The audit row of what `s` did (its user, or "-" before login).
    static audit_entry entry_for(const session& s, std::string_view what, std::string_view target,
                                 status result);
    void audit(const session& s, std::string_view what, std::string_view target, status result);

    user_store& store_;
    node_identity identity_;
    x509_ptr trust_anchor_; // identity_.trust_anchor, parsed; null without one
    cluster_keys keys_;
    std::uint32_t kdf_iterations_;
    asio::any_io_executor kdf_executor_;
    derivation_budget budget_;
    // CPU-heavy key work, with a budget of its own and waiting users served
    // round-robin, keyed by user (docs/design.md, "Keys"): generations, and
    // uses of keys (signatures, decryptions, ...).
    derivation_budget generations_{{.total = 1, .per_peer = 1, .max_waiting = 16}};
    derivation_budget key_uses_{{.total = 2, .per_peer = 1, .max_waiting = 64}};
    std::unordered_multimap<std::int64_t, session*> sessions_;
    std::chrono::milliseconds prepare_timeout_{60'000};
    std::size_t key_quota_ = default_key_quota;
    peer_list peers_;
    std::function<void()> peers_changed_;
    peer_holders count_peer_holders_;
    static constexpr std::size_t max_loaded_keys = 512;
    std::unordered_map<std::int64_t, std::pair<std::string, loaded_key>> loaded_keys_;
    quorum_tokens tokens_; // each bound to the session that asked for it
};

// Runs `f` on the KDF executor and resumes on ours.
template <typename F> awaitable<std::invoke_result_t<F>> node_service::off_thread(F f) {
    co_return co_await asio::co_spawn(
        kdf_executor_,
        [f = std::move(f)]() mutable -> awaitable<std::invoke_result_t<F>> { co_return f(); },
        use_awaitable);
}

} // namespace hsm
