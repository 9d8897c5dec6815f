// SPDX-License-Identifier: Apache-2.0
// What the node's operations share: its store, identity, keys, budgets,
// sessions, quorum tokens and peers; and the session a connection is.
#pragma once

#include "access/derivation_budget.hpp"
#include "access/two_factor.hpp"
#include "crypto/cluster_keys.hpp"
#include "crypto/key_crypto.hpp"
#include "hsmsh/asio.hpp"
#include "hsmsh/protocol/keys.hpp"
#include "hsmsh/protocol/requests.hpp"
#include "hsmsh/protocol/wire.hpp"
#include "peers/peer_list.hpp"
#include "quorum/quorum_tokens.hpp"
#include "store/node_store.hpp"

#include <chrono>
#include <cstdint>

#include <fmt/format.h>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
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

/// A session key (PKCS#11 CKA_TOKEN false): its description and its parsed
/// material, in this node's memory only (ops/session_keys.hpp).
struct session_key {
    key_record record;
    loaded_key key;
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
    // The login's session keys, by handle: gone when the login ends.
    std::map<std::int64_t, session_key> keys;

    std::optional<user_type> actor() const { return user_id ? std::optional(type) : std::nullopt; }
};

/// How the node asks its peers whether they hold a key change (its
/// change_identity) prepared or committed (only committed, with
/// `committed_only`): the count of peers that do, asking until `enough` say so.
struct change_probe {
    std::string txid;
    std::string identity;              // change_identity
    std::vector<std::int64_t> handles; // a committed change is known by its keys
};
using peer_holders = std::function<awaitable<std::size_t>(change_probe probe, std::size_t enough,
                                                          bool committed_only)>;

/// The node's state, shared by its operations. Runs on one executor (the
/// store and the session registry are not shared across threads).
struct node_context {
    node_context(node_store& store, node_identity identity, cluster_keys keys,
                 std::uint32_t kdf_iterations, asio::any_io_executor kdf_executor,
                 derivation_budget::limits budget);

    /// The keys `u` may own here: its officer-set quota, else the node's.
    std::size_t key_quota_of(const user_record& u) const noexcept {
        return u.key_quota ? static_cast<std::size_t>(*u.key_quota) : key_quota;
    }

    node_store& store;
    node_identity identity;
    cluster_keys keys;
    std::uint32_t kdf_iterations;
    asio::any_io_executor kdf_executor; // password derivations and key work
    derivation_budget budget;           // logins' derivations
    // CPU-heavy key work, with a budget of its own and waiting users served
    // round-robin, keyed by user (docs/design.md, "Keys"): generations, and
    // uses of keys (signatures, decryptions, ...).
    derivation_budget generations{{.total = 1, .per_peer = 1, .max_waiting = 16}};
    derivation_budget key_uses{{.total = 2, .per_peer = 1, .max_waiting = 64}};
    std::unordered_multimap<std::int64_t, session*> sessions; // logged in, by user id
    std::chrono::milliseconds prepare_timeout{60'000};
    std::size_t key_quota = default_key_quota;
    peer_list peers;
    std::function<void()> peers_changed;
    peer_holders count_peer_holders;
    /// Key changes this node told a committing peer it holds prepared: it
    /// aborts none of them while a peer may still commit it (in memory).
    std::set<std::string> vouched;
    static constexpr std::size_t max_loaded_keys = 512;
    std::unordered_map<std::int64_t, std::pair<std::string, loaded_key>> loaded_keys;
    quorum_tokens tokens; // each bound to the session that asked for it
};

inline node_context::node_context(node_store& store, node_identity identity, cluster_keys keys,
                                  std::uint32_t kdf_iterations, asio::any_io_executor kdf_executor,
                                  derivation_budget::limits budget)
    : store(store), identity(std::move(identity)), keys(std::move(keys)),
      kdf_iterations(kdf_iterations), kdf_executor(std::move(kdf_executor)), budget(budget),
      peers(this->identity.hsm_id, this->identity.peers) {}

/// Runs `f` on the KDF executor and resumes on ours.
template <typename F> awaitable<std::invoke_result_t<F>> off_thread(node_context& n, F f) {
    co_return co_await asio::co_spawn(
        n.kdf_executor,
        [f = std::move(f)]() mutable -> awaitable<std::invoke_result_t<F>> { co_return f(); },
        use_awaitable);
}

/// How long a key's use holds a core. `quick` work (tens of microseconds: a
/// P-256 or Ed25519 signature, a MAC or cipher over a few KiB, an RSA public
/// operation) costs less than handing it to another thread and back (two
/// thread switches, about as long again on this kind of machine) and runs on
/// the network thread; `heavy` work (RSA private operations, larger curves,
/// derivations, long data) on the key-work threads.
enum class work_cost { quick, heavy };

/// A crypto user's work with a key (a signature, a wrap, an ECDH). Quick
/// work runs here and now, as any request's own work does; heavy work runs
/// as off_thread does, each user's uses sharing the threads but one, users
/// taking turns (key_uses): nullopt when the user's share is taken
/// (status::busy).
template <typename F>
awaitable<std::optional<std::invoke_result_t<F>>> key_work(node_context& n, std::int64_t user, F f,
                                                           work_cost cost = work_cost::heavy) {
    if (cost == work_cost::quick) co_return f();
    auto ticket = co_await n.key_uses.acquire(fmt::format("user {}", user));
    if (!ticket) co_return std::nullopt;
    auto result = co_await off_thread(n, std::move(f));
    co_return result;
}

} // namespace hsm
