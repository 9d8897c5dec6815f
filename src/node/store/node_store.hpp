// SPDX-License-Identifier: Apache-2.0
// The node's durable state in SQLite: one database, handed out as its tables by area.
#pragma once

#include "store/audit_trail.hpp"
#include "store/key_table.hpp"
#include "store/node_meta.hpp"
#include "store/prepared_changes.hpp"
#include "store/sqlite_db.hpp"
#include "store/user_table.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace hsm {

/// Owns the SQLite connection and the node's tables over it (users, keys,
/// metadata, the audit trail, prepared changes), which live as long as it.
/// Every write runs inside `transact`, which commits (synchronous=FULL)
/// before returning: a change is durable once transact returns. Throws
/// store_error.
class node_store {
public:
    /// Opens or creates the store; ":memory:" gives a private in-memory store.
    /// `audit_key` keys the audit chain (the node's secret; wiped at the end).
    explicit node_store(const std::string& path, std::vector<std::uint8_t> audit_key = {});
    node_store(const node_store&) = delete;
    node_store& operator=(const node_store&) = delete;

    /// Runs `change` in a BEGIN IMMEDIATE transaction; rolls back if it throws.
    void transact(const std::function<void()>& change);
    /// PRAGMA quick_check; throws store_error naming the damage.
    void check_integrity();
    /// Copies the whole database to `path` with the online backup API.
    void backup_to(const std::string& path) const;

    user_table& users() noexcept { return users_; }
    const user_table& users() const noexcept { return users_; }
    key_table& keys() noexcept { return keys_; }
    const key_table& keys() const noexcept { return keys_; }
    node_meta& meta() noexcept { return meta_; }
    const node_meta& meta() const noexcept { return meta_; }
    audit_trail& audit() noexcept { return audit_; }
    const audit_trail& audit() const noexcept { return audit_; }
    prepared_changes& changes() noexcept { return changes_; }
    const prepared_changes& changes() const noexcept { return changes_; }

private:
    sqlite_db db_; // first: the tables below borrow it
    node_meta meta_{db_};
    user_table users_{db_, meta_};
    key_table keys_{db_};
    audit_trail audit_;
    prepared_changes changes_{db_};
};

} // namespace hsm
