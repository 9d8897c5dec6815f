// SPDX-License-Identifier: Apache-2.0
// One PKCS#11 slot: one configured cluster, its connections, the crypto
// user logged in there, and the keys that user may see.
#pragma once

#include "hsmsh/client/cluster_link.hpp"
#include "hsmsh/client/config.hpp"
#include "hsmsh/client/two_phase.hpp"
#include "hsmsh/protocol/changes.hpp"
#include "hsmsh/protocol/payloads.hpp"
#include "hsmsh/secret.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <variant>
#include <vector>

#include <p11-kit/pkcs11.h>

namespace hsm::p11 {

/// What a call to the cluster came to: the reply's fields, or a status
/// (a node's refusal), or no answer from any node.
struct cluster_answer {
    enum class kind { ok, refused, unreachable };
    kind what = kind::unreachable;
    status code = status::ok;
    json fields = json::object();
};

/// What an application hears of an answer: CKR_DEVICE_ERROR when no node
/// answered, else the CKR_ value of the node's status.
CK_RV ck_rv(const cluster_answer& a) noexcept;

/// Thread-safe. A call to one node takes that node's lock, so calls of
/// several threads go to several nodes at once (one request at a time per
/// connection); what involves every node (login, logout, cluster-wide
/// changes) takes the slot's lock exclusively. Two slots never wait for
/// each other.
class cluster_slot {
public:
    /// Connections are made within `connect_timeout`, requests answered
    /// within `request_timeout` (the configuration's, hsmsh-pkcs11(7)).
    cluster_slot(cluster_config config, duration connect_timeout, duration request_timeout);

    const std::string& cluster_id() const noexcept { return config_.cluster_id; }
    std::size_t servers() const noexcept { return config_.servers.size(); }

    /// Logs the crypto user in on every server in parallel: ok when at
    /// least one accepts; refused (RET_USER_LOGIN_FAILURE) when the others
    /// refused; unreachable when none answered. The password is wiped.
    cluster_answer login(const std::string& user, secret password);
    void logout();
    bool logged_in() const;

    /// The keys the user may use (owned or shared), fetched anew from every
    /// node holding the login and merged (a key on some nodes only is
    /// found); nothing, and why in `failure`, when no node gave them.
    std::optional<std::vector<key_summary>> keys(cluster_answer& failure);

    /// Sends `op` to one node holding the login, failing over to the next
    /// when one does not answer, or does not hold the key (one made while a
    /// node was down); the node that answered in `answered`.
    cluster_answer call(operation op, const json& fields, std::size_t* answered = nullptr);

    /// Sends `op` to node `node` alone (what only it holds: a session key);
    /// unreachable when it is not connected or holds no login.
    cluster_answer call_on(std::size_t node, operation op, const json& fields);

    /// A cluster-wide change, prepared on every server and committed only
    /// if all prepared: an application cannot be asked whether to leave a
    /// server behind, so any refusal, or a server down, aborts it everywhere
    /// (a new key's insertion excepted: it goes on the nodes that answer
    /// when the others are silent). The answer is the first refusal, or
    /// unreachable when a server did not answer.
    cluster_answer change(change_request c);

    /// Makes a key (or key pair) as `request` says on one node (`op`:
    /// generate_key, or import_key), then inserts it on every server by one
    /// change: everywhere or nowhere. When it is in, `made` holds the new
    /// keys (handle and class).
    /// With `on`, that node alone makes it (what it alone holds is used).
    cluster_answer generate(operation op, const json& request, std::vector<sealed_key>& made,
                            std::optional<std::size_t> on = std::nullopt);

private:
    /// A logged-in node not tried yet, with its lock held: a free one if
    /// there is one, else the first in turn (waiting for it).
    std::optional<std::pair<std::size_t, std::unique_lock<std::mutex>>>
    pick(std::size_t start, const std::vector<bool>& tried);
    cluster_answer change_locked(change_request c);
    /// What the application hears of a change's reports: ok when every
    /// server committed, else the first refusal, or unreachable; a server
    /// that did not answer loses its login (and lacks a new key until syncKey).
    cluster_answer settle(const std::vector<phase_report>& reports);
    cluster_answer call_locked(operation op, const json& fields, std::size_t* answered = nullptr);
    cluster_answer ask_locked(std::size_t i, operation op, const json& fields);
    /// `op` to every node holding the login at once: each one's answer.
    std::vector<std::pair<std::size_t, cluster_answer>> ask_all_locked(operation op,
                                                                       const json& fields);
    void open_locked();
    // generate's parts: who may make the key, and whether to ask the next one.
    std::vector<std::size_t> in_turn_locked();
    bool fail_over_locked(const server_report& failed, bool& logged_out);

    cluster_config config_;
    duration connect_timeout_;
    duration request_timeout_;
    // Exclusive: the connections (re)opened, login, logout, cluster-wide
    // changes. Shared: calls to one node, each under that node's lock.
    std::shared_mutex link_mutex_;
    std::unique_ptr<cluster_link> link_;
    std::vector<std::unique_ptr<std::mutex>> node_mutex_;
    std::unique_ptr<std::atomic<bool>[]> logged_in_; // per server
    std::atomic<std::size_t> next_{0};               // where the next call goes first
};

} // namespace hsm::p11
