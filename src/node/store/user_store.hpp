// SPDX-License-Identifier: Apache-2.0
// The node's durable state in SQLite: users, keys, node metadata and the audit trail.
#pragma once

#include "hsmsh/kdf.hpp"
#include "hsmsh/protocol/payloads.hpp"
#include "hsmsh/protocol/quorum.hpp"
#include "hsmsh/protocol/user_rules.hpp"
#include "store/key_record.hpp"
#include "store/sqlite.hpp"

#include <array>
#include <functional>
#include <optional>
#include <string>
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

/// One audit row. Never carries a password, hash or key.
struct audit_entry {
    std::string actor; // user name, or "-" before login
    std::string role;  // the actor's type, or "-"
    std::string peer;  // client certificate fingerprint
    std::string operation;
    std::string target;
    std::string result; // a status name
};

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

/// The newest audit row: how many rows and the last link.
struct audit_head {
    std::int64_t rows = 0;
    std::string hash;
};

/// "ROWS:HASH" as verify prints it; nullopt when it is not that.
std::optional<audit_head> parse_audit_head(std::string_view text);

/// Owns the SQLite connection. Every write runs inside `transact`, which
/// commits (synchronous=FULL) before returning: a change is durable once
/// transact returns. Throws store_error.
class user_store {
public:
    /// Opens or creates the store; ":memory:" gives a private in-memory store.
    /// `audit_key` keys the audit chain (the node's secret; wiped at the end).
    explicit user_store(const std::string& path, std::vector<std::uint8_t> audit_key = {});
    user_store(const user_store&) = delete;
    user_store& operator=(const user_store&) = delete;
    ~user_store();

    /// Runs `change` in a BEGIN IMMEDIATE transaction; rolls back if it throws.
    void transact(const std::function<void()>& change);

    /// PRAGMA quick_check; throws store_error naming the damage.
    void check_integrity();

    std::optional<user_record> find(std::string_view canonical_name) const;
    std::optional<user_record> find_id(std::int64_t id) const;
    std::vector<user_record> list() const;
    std::size_t count_users() const;
    /// Prepared changes that would add a user (their name does not exist yet).
    std::size_t count_reserved_new_users() const;
    std::size_t count_officers() const;
    /// The highest iteration count of any stored password hash (0: no user).
    std::uint32_t max_iterations() const;
    /// Keys the user owns, with those a prepared change would give it.
    std::size_t count_owned_keys(std::int64_t user_id) const;
    bool owns_keys(std::int64_t user_id) const { return count_owned_keys(user_id) > 0; }

    /// A new user with an id never given before; returns it.
    std::int64_t insert_user(std::string_view name, user_type type, const password_hash& hash);
    void delete_user(std::int64_t id);
    /// New credentials and type; unlocks and bumps the version and generation.
    void set_password(std::int64_t id, user_type type, const password_hash& hash);
    void record_login_failure(std::int64_t id);
    void record_login_success(std::int64_t id);

    // Keys (key_store.cpp). Handles are the cluster's: a key has the same
    // handle on every node, and a handle is never given twice by one node.
    std::optional<key_record> find_key(std::int64_t handle) const;
    /// Every key, by handle.
    std::vector<key_record> list_keys() const;
    /// Keys owned by or shared with `user_id`, by handle.
    std::vector<key_record> keys_of(std::int64_t user_id) const;
    std::size_t count_keys() const;
    /// Keys prepared changes would add.
    std::size_t count_reserved_keys() const;
    /// Whether `handle` names a key or one a prepared change reserves.
    bool key_handle_taken(std::int64_t handle) const;
    /// Whether a prepared change holds `handle`.
    bool key_handle_reserved(std::int64_t handle) const;
    /// The highest handle this node has seen (kept, stored or reserved).
    void insert_key(const key_record& k);
    void delete_key(std::int64_t handle);
    /// Deletes the key and remembers its handle: a destroyed key is never
    /// inserted or synced again on this node, whoever kept a sealed copy.
    void destroy_key(std::int64_t handle);
    bool key_destroyed(std::int64_t handle) const;
    /// New flags and label (setAttribute); bumps the key's version.
    void update_key(std::int64_t handle, const key_flags& flags, std::string_view label);
    /// The key's shares become exactly `users`; bumps its version (insert_key
    /// sets the shares of a new key first, then its version as given).
    void set_key_shares(std::int64_t handle, const std::vector<std::int64_t>& users);
    /// Reserves handles for prepared change `txid` (dropped with its row);
    /// `owner` is the user new keys would belong to (0: none).
    void reserve_key_handles(std::string_view txid, const std::vector<std::int64_t>& handles,
                             std::int64_t owner);

    std::optional<std::string> meta(meta_key key) const;
    void set_meta(meta_key key, std::string_view value);
    /// The node's life-cycle state; DEGRADED when missing or unreadable.
    cluster_state state() const;
    void set_state(cluster_state s);
    /// A quorum service's m value: 1 (off) when never set, 8 when unreadable.
    int m_value(quorum::service s) const;
    void set_m_value(quorum::service s, int m);

    /// Appends an audit row for node `node`; call inside transact.
    void append_audit(std::string_view node, const audit_entry& entry);
    std::size_t count_audit() const;
    /// The newest row of the audit trail: a monitor that sees it go backwards
    /// knows rows were cut.
    audit_head head() const;
    /// True when row `h.rows` is still there with link `h.hash`.
    bool holds_audit_row(const audit_head& h) const;

    /// Checks the audit trail's hash chain. Returns the sequence number of
    /// the first row that does not match (altered, inserted or out of order),
    /// or nullopt when the whole chain holds; `rows` counts the good rows.
    std::optional<std::int64_t> verify_audit(std::size_t& rows) const;

    /// Prepared changes: one per user at most (the reservation).
    struct prepared_row {
        std::string txid;
        std::string user_name;
        std::string change;           // planned_change as JSON
        std::int64_t deadline_ms = 0; // system clock, ms since the epoch
    };
    void insert_prepared(const prepared_row& row);
    std::optional<prepared_row> prepared(std::string_view txid) const;
    bool reserved(std::string_view user_name) const;
    std::vector<prepared_row> prepared_past(std::int64_t now_ms) const;
    std::vector<prepared_row> list_prepared() const;
    void delete_prepared(std::string_view txid);
    void record_outcome(std::string_view txid, std::string_view outcome);
    std::optional<std::string> outcome(std::string_view txid) const;
    std::size_t count_outcomes() const;
    /// Outcomes kept: older ones are pruned as new ones are recorded.
    static constexpr std::size_t max_outcomes = 4096;
    /// Writes a whole record as synced from another node (insert or replace;
    /// a new user gets a new id, an existing one a new generation).
    void put_user(std::string_view name, user_type type, const password_hash& hash,
                  std::int64_t version, int failures, const bytes& quorum_key, bool two_fa,
                  std::optional<std::int64_t> key_quota);
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

    /// Client credentials: rows of fingerprint, kind, subject, PEM.
    void add_client_credential(std::string_view fingerprint, std::string_view kind,
                               std::string_view subject, std::string_view pem);
    bool remove_client_credential(std::string_view fingerprint);
    std::vector<std::array<std::string, 4>> client_credentials() const;

    /// Copies the whole database to `path` with the online backup API.
    void backup_to(const std::string& path) const;

private:
    void create_key_tables();
    std::vector<std::int64_t> shares_of(std::int64_t handle) const;
    std::vector<key_record> read_keys(statement& s) const;
    void insert_shares(std::int64_t handle, const std::vector<std::int64_t>& users);
    std::int64_t scalar(std::string_view sql) const;
    std::int64_t next_user_id();
    /// The statement for `sql`, prepared once for this connection.
    statement query(std::string_view sql) const { return statements_.get(db_.get(), sql); }
    sqlite_ptr db_;
    mutable statement_cache statements_; // after db_: finalized before it closes
    std::vector<std::uint8_t> audit_key_;
};

} // namespace hsm
