// SPDX-License-Identifier: Apache-2.0
// The node's users in its store: their credentials, login counters, quorum keys and quotas.
#pragma once

#include "hsmsh/kdf.hpp"
#include "hsmsh/protocol/payloads.hpp"
#include "hsmsh/protocol/user_rules.hpp"
#include "hsmsh/sealing.hpp"
#include "store/node_meta.hpp"
#include "store/sqlite_db.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hsm {

struct user_record {
    std::int64_t id = 0;
    std::string name;
    user_type type = user_type::cu;
    password_hash hash;
    int failures = 0;
    std::int64_t version = 0;
    bool two_fa = false;
    std::int64_t generation = 1; // this node's count of credential and type changes
    bytes quorum_key;            // SubjectPublicKeyInfo DER; empty: none registered
    // Keys this crypto user may own, as an officer set it (none: the
    // node's --key-quota).
    std::optional<std::int64_t> key_quota;

    /// CMU's MofnPubKey: the officer can approve quorum tokens.
    bool mofn() const noexcept { return !quorum_key.empty(); }
    bool locked() const noexcept { return failures >= max_login_failures; }
};

/// The users table of a node_store; new ids come from the node's metadata
/// (never reused). Writes belong inside node_store::transact. Throws store_error.
class user_table {
public:
    user_table(sqlite_db& db, node_meta& meta) noexcept : db_(db), meta_(meta) {}

    std::optional<user_record> find(std::string_view canonical_name) const;
    std::optional<user_record> find_id(std::int64_t id) const;
    std::vector<user_record> list() const;
    std::size_t count() const;
    /// Prepared changes that would add a user (their name does not exist yet).
    std::size_t count_reserved_new() const;
    std::size_t count_officers() const;
    /// The highest iteration count of any stored password hash (0: no user).
    std::uint32_t max_iterations() const;

    /// A new user with an id never given before; returns it.
    std::int64_t insert(std::string_view name, user_type type, const password_hash& hash);
    void remove(std::int64_t id);
    /// Writes a whole record as synced from another node (insert or replace;
    /// a new user gets a new id, an existing one a new generation).
    void put(std::string_view name, user_type type, const password_hash& hash, std::int64_t version,
             int failures, const bytes& quorum_key, bool two_fa,
             std::optional<std::int64_t> key_quota);
    /// New credentials and type; unlocks and bumps the version and generation.
    void set_password(std::int64_t id, user_type type, const password_hash& hash);
    void record_login_failure(std::int64_t id);
    void record_login_success(std::int64_t id);

    /// The user whose quorum key `der` is, if any.
    std::optional<std::int64_t> quorum_key_holder(const bytes& der) const;
    /// Registers (or, empty, removes) the user's quorum key; bumps the version.
    void set_quorum_key(std::int64_t id, const bytes& quorum_key);
    /// The keys the user may own (none: the node's default); bumps the
    /// version, not the generation (its sessions go on).
    void set_key_quota(std::int64_t id, std::optional<std::int64_t> quota);
    /// Turns two-factor login on with `quorum_key` (the key it answers with,
    /// which also approves quorum tokens) or off (and the key with it).
    /// Leaves the version: it rides on a password change or a creation.
    void set_second_factor(std::int64_t id, bool on, const bytes& quorum_key);

private:
    std::int64_t next_user_id();
    sqlite_db& db_;
    node_meta& meta_;
};

} // namespace hsm
