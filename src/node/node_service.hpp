// SPDX-License-Identifier: Apache-2.0
// The node's request handling: every rule of design §6 applied to one request.
#pragma once

#include "hsmsh/asio.hpp"
#include "hsmsh/secret.hpp"
#include "hsmsh/wire.hpp"
#include "user_store.hpp"

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

private:
    awaitable<status> login(session& s, const json& f, secret password);
    status logout(session& s);
    json list_users() const;
    awaitable<status> create_user(session& s, const json& f, secret password);
    status delete_user(session& s, const json& f);
    awaitable<status> change_password(session& s, const json& f, secret password);
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
};

} // namespace hsm
