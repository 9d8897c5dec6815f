// SPDX-License-Identifier: Apache-2.0
// One PKCS#11 slot: one configured cluster, its connections, the crypto
// user logged in there, and the keys that user may see.
#pragma once

#include "hsmsh/cluster_link.hpp"
#include "hsmsh/config.hpp"
#include "hsmsh/payloads.hpp"
#include "hsmsh/secret.hpp"

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace hsm::p11 {

/// What a call to the cluster came to: the reply's fields, or a status
/// (a node's refusal), or no answer from any node.
struct cluster_answer {
    enum class kind { ok, refused, unreachable };
    kind what = kind::unreachable;
    status code = status::ok;
    json fields = json::object();
};

/// Thread-safe: one mutex per slot serialises its network calls, so that
/// two slots never wait for each other.
class cluster_slot {
public:
    explicit cluster_slot(cluster_config config);

    const std::string& cluster_id() const noexcept { return config_.cluster_id; }
    std::size_t servers() const noexcept { return config_.servers.size(); }

    /// Logs the crypto user in on every server in parallel: ok when at
    /// least one accepts; refused (RET_USER_LOGIN_FAILURE) when the others
    /// refused; unreachable when none answered. The password is wiped.
    cluster_answer login(const std::string& user, secret password);
    void logout();
    bool logged_in() const;

    /// The keys the user may use (owned or shared), fetched anew; nothing,
    /// and why in `failure`, when no node gave them.
    std::optional<std::vector<key_summary>> keys(cluster_answer& failure);

    /// Sends `op` to one node holding the login, failing over to the next
    /// when one does not answer.
    cluster_answer call(operation op, const json& fields);

    /// A cluster-wide change (`fields` with its "change"), prepared on every
    /// server and committed only if all prepared: an application cannot be
    /// asked whether to leave a server behind, so any refusal, or a server
    /// down, aborts it everywhere. The answer is the first refusal, or
    /// unreachable when a server did not answer.
    cluster_answer change(json fields);

    /// Makes a key (or key pair) as `request` says on one node, then
    /// inserts it on every server by one change: everywhere or nowhere.
    /// The answer's fields are {"keys": [{"handle", "class"}, ...]}.
    cluster_answer generate(const json& request);

private:
    cluster_answer change_locked(json fields);
    cluster_answer call_locked(operation op, const json& fields);
    void open_locked();

    cluster_config config_;
    mutable std::mutex mutex_;
    std::unique_ptr<cluster_link> link_;
    std::vector<bool> logged_in_; // per server
    std::size_t next_ = 0;        // where the next call goes first (spread across nodes)
};

} // namespace hsm::p11
