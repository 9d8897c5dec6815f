// SPDX-License-Identifier: Apache-2.0
// The node's own settings in its store: metadata, life-cycle state, m values and client
// credentials.
#pragma once

#include "hsmsh/protocol/payloads.hpp"
#include "hsmsh/protocol/quorum.hpp"
#include "store/sqlite_db.hpp"

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hsm {

/// The node's metadata, each key spelled once (meta_key_name).
enum class meta_key {
    cluster_id,
    hsm_id,
    state,
    peers,
    last_user_id,
    m_user_mgmt, // quorum service 3's m value (missing: 1)
    m_misc_co,   // quorum service 4's m value (missing: 1)
};
std::string_view meta_key_name(meta_key k) noexcept;

/// The meta and client_credentials tables of a node_store. Writes belong
/// inside node_store::transact. Throws store_error.
class node_meta {
public:
    explicit node_meta(sqlite_db& db) noexcept : db_(db) {}

    std::optional<std::string> get(meta_key key) const;
    void set(meta_key key, std::string_view value);
    /// The node's life-cycle state; DEGRADED when missing or unreadable.
    cluster_state state() const;
    void set_state(cluster_state s);
    /// A quorum service's m value: 1 (off) when never set, 8 when unreadable.
    int m_value(quorum::service s) const;
    void set_m_value(quorum::service s, int m);

    /// Client credentials: rows of fingerprint, kind, subject, PEM.
    void add_client_credential(std::string_view fingerprint, std::string_view kind,
                               std::string_view subject, std::string_view pem);
    bool remove_client_credential(std::string_view fingerprint);
    std::vector<std::array<std::string, 4>> client_credentials() const;

private:
    sqlite_db& db_;
};

} // namespace hsm
