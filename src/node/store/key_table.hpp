// SPDX-License-Identifier: Apache-2.0
// The node's keys in its store: one row per key, its shares, and the handles prepared changes
// reserve.
#pragma once

#include "store/key_record.hpp"
#include "store/sqlite_db.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace hsm {

/// The keys, key_shares, destroyed_keys and key_reservations tables of a
/// node_store. Handles are the cluster's: a key has the same handle on
/// every node, and a handle is never given twice by one node. Writes belong
/// inside node_store::transact. Throws store_error.
class key_table {
public:
    explicit key_table(sqlite_db& db) noexcept : db_(db) {}

    std::optional<key_record> find(std::int64_t handle) const;
    /// Every key, by handle.
    std::vector<key_record> list() const;
    /// The keys of class `cls` whose public part is `public_der` (the halves
    /// of one pair, and copies of its public key), whoever owns them.
    std::vector<key_record> halves(key_class cls, std::span<const std::uint8_t> public_der) const;
    /// Keys owned by or shared with `user_id`, by handle.
    std::vector<key_record> keys_of(std::int64_t user_id) const;
    /// The first `limit` of those whose handle is above `after` (a page:
    /// the rows beyond it are not read).
    std::vector<key_record> keys_of(std::int64_t user_id, std::int64_t after,
                                    std::size_t limit) const;
    std::size_t count() const;
    /// Keys prepared changes would add.
    std::size_t count_reserved() const;
    /// Keys the user owns, with those a prepared change would give it.
    std::size_t count_owned(std::int64_t user_id) const;
    bool owns_any(std::int64_t user_id) const { return count_owned(user_id) > 0; }
    /// Whether `handle` names a key or one a prepared change reserves.
    bool handle_taken(std::int64_t handle) const;
    /// Whether a prepared change holds `handle`.
    bool handle_reserved(std::int64_t handle) const;

    void insert(const key_record& k);
    void remove(std::int64_t handle);
    /// Deletes the key and remembers its handle: a destroyed key is never
    /// inserted or synced again on this node, whoever kept a sealed copy.
    void destroy(std::int64_t handle);
    bool destroyed(std::int64_t handle) const;
    /// New flags and label (setAttribute); bumps the key's version.
    void update(std::int64_t handle, const key_flags& flags, std::string_view label,
                std::string_view id_hex);
    /// The key's shares become exactly `users`; bumps its version (insert
    /// sets the shares of a new key first, then its version as given).
    void set_shares(std::int64_t handle, const std::vector<std::int64_t>& users);
    /// Reserves handles for prepared change `txid` (dropped with its row);
    /// `owner` is the user new keys would belong to (0: none).
    void reserve_handles(std::string_view txid, const std::vector<std::int64_t>& handles,
                         std::int64_t owner);

private:
    std::vector<std::int64_t> shares_of(std::int64_t handle) const;
    std::vector<key_record> read_keys(statement& s) const;
    void insert_shares(std::int64_t handle, const std::vector<std::int64_t>& users);
    sqlite_db& db_;
};

} // namespace hsm
