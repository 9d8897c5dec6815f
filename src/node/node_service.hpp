// SPDX-License-Identifier: Apache-2.0
// The node's request handling: every rule of design §6 applied to one request.
#pragma once

#include "hsmsh/asio.hpp"
#include "hsmsh/secret.hpp"
#include "hsmsh/wire.hpp"
#include "planned_change.hpp"
#include "user_store.hpp"

#include <chrono>

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace hsm {

/// Who this node is.
struct node_identity {
    std::string cluster_id;
    std::string hsm_id;
    std::string certificate_fingerprint;
    std::vector<std::string> peers;
};

/// One client connection's login state.
struct session {
    std::string peer; // client certificate fingerprint
    std::optional<std::int64_t> user_id;
    std::string user_name;
    user_type type = user_type::cu;

    std::optional<user_type> actor() const { return user_id ? std::optional(type) : std::nullopt; }
};

/// Applies requests to the store. Runs on one executor (the store and the
/// login registry are not shared across threads); password derivations run
/// on `kdf_executor` so that one slow login never stalls other clients.
class node_service {
public:
    node_service(user_store& store, node_identity identity, std::uint32_t kdf_iterations,
                 asio::any_io_executor kdf_executor);

    /// Handles one request; never throws. Passwords in `r` are wiped.
    awaitable<reply> handle(session& s, request& r);

    /// Forgets the session's login (connection closed).
    void end_session(session& s) noexcept;

    /// Records a peer that broke the protocol.
    void audit_violation(const std::string& peer, std::string_view reason) noexcept;

    std::string state() const;

    /// Commits (or aborts) a prepared change; `s` is who asked (the shell,
    /// or the node's own resolver). Idempotent.
    status finish_tx(session& s, const std::string& txid, bool commit);

    /// "committed", "aborted", "prepared" or "unknown".
    std::string tx_outcome(const std::string& txid) const;

    /// How long a prepared change waits for its commit before the node
    /// resolves it with its peers.
    void set_prepare_timeout(std::chrono::milliseconds t) noexcept { prepare_timeout_ = t; }

private:
    awaitable<status> login(session& s, const json& f, secret password);
    status logout(session& s);
    json list_users() const;
    // User changes (node_changes.cpp): validated into a planned_change, then
    // applied at once (direct) or recorded for a later commit (prepare).
    awaitable<std::pair<status, planned_change>> plan(session& s, operation op, const json& f,
                                                      const secret& password);
    std::pair<status, planned_change> plan_sync(session& s, const json& f);
    void apply(const planned_change& c);
    awaitable<status> direct(session& s, operation op, const json& f, secret password);
    awaitable<status> prepare(session& s, const json& f, secret password);
    status get_user(session& s, const json& f, json& out);
    json hsm_info() const;
    json describe_cluster() const;
    awaitable<reply> dispatch(session& s, request& r);

    template <typename F> awaitable<std::invoke_result_t<F>> off_thread(F f);
    void audit(const session& s, operation op, std::string_view target, status result);
    int sessions_of(std::int64_t user_id) const;

    user_store& store_;
    node_identity identity_;
    std::uint32_t kdf_iterations_;
    asio::any_io_executor kdf_executor_;
    std::unordered_map<std::int64_t, int> logged_in_;
    std::chrono::milliseconds prepare_timeout_{60'000};
};

// Runs `f` on the KDF executor and resumes on ours.
template <typename F> awaitable<std::invoke_result_t<F>> node_service::off_thread(F f) {
    co_return co_await asio::co_spawn(
        kdf_executor_,
        [f = std::move(f)]() mutable -> awaitable<std::invoke_result_t<F>> { co_return f(); },
        use_awaitable);
}

} // namespace hsm
