// SPDX-License-Identifier: Apache-2.0
// The node's keys in SQLite: one row per key, its shares, and the handles
// prepared changes reserve.
#include "store/user_store.hpp"

#include <fmt/format.h>

namespace hsm {
namespace {

constexpr const char* key_schema = R"sql(
CREATE TABLE IF NOT EXISTS keys(
  handle INTEGER PRIMARY KEY,
  owner INTEGER NOT NULL REFERENCES users(id),
  class TEXT NOT NULL,
  type TEXT NOT NULL,
  bits INTEGER NOT NULL,
  label TEXT NOT NULL,
  key_id TEXT NOT NULL,
  flags TEXT NOT NULL,
  public BLOB, -- NULL for secret keys
  sealed BLOB NOT NULL,
  material_digest TEXT NOT NULL,
  version INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS key_shares(
  handle INTEGER NOT NULL REFERENCES keys(handle) ON DELETE CASCADE,
  user INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  PRIMARY KEY(handle, user));
CREATE TABLE IF NOT EXISTS destroyed_keys(handle INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS key_reservations(
  handle INTEGER PRIMARY KEY,
  txid TEXT NOT NULL REFERENCES prepared(txid) ON DELETE CASCADE,
  owner INTEGER NOT NULL);
)sql";

constexpr const char* key_columns =
    "SELECT handle, owner, class, type, bits, label, key_id, flags, public, sealed, "
    "material_digest, version FROM keys";

key_record read_key(const statement& s) {
    key_record k;
    k.handle = s.integer(0);
    k.owner = s.integer(1);
    // The store wrote these: a row that does not read is damage, not input.
    auto cls = key_class_from_name(s.text(2));
    auto type = key_type_from_name(s.text(3));
    auto flags = flags_from_json(json::parse(s.text(7), nullptr, false), key_flags{});
    if (!cls || !type || !flags)
        throw store_error(fmt::format("key {} is damaged in the store", k.handle));
    k.cls = *cls;
    k.type = *type;
    k.bits = static_cast<int>(s.integer(4));
    k.label = s.text(5);
    k.id_hex = s.text(6);
    k.flags = *flags;
    k.public_der = s.blob(8);
    k.sealed = s.blob(9);
    k.material_digest = s.text(10);
    k.version = s.integer(11);
    return k;
}

} // namespace

// Stores from before keys had material kept a placeholder table that never
// held a key a client could use: it gives way to the real one.
void user_store::create_key_tables() {
    auto old = query("SELECT 1 FROM pragma_table_info('keys') WHERE name = 'owner'");
    auto current = query("SELECT 1 FROM pragma_table_info('keys') WHERE name = 'sealed'");
    if (old.step() && !current.step()) execute(db_.get(), "DROP TABLE keys");
    execute(db_.get(), key_schema);
    auto versioned = query("SELECT 1 FROM pragma_table_info('keys') WHERE name = 'version'");
    if (!versioned.step())
        execute(db_.get(), "ALTER TABLE keys ADD COLUMN version INTEGER NOT NULL DEFAULT 1");
}

std::vector<std::int64_t> user_store::shares_of(std::int64_t handle) const {
    auto s = query("SELECT user FROM key_shares WHERE handle = ? ORDER BY user");
    s.bind(1, handle);
    std::vector<std::int64_t> users;
    while (s.step())
        users.push_back(s.integer(0));
    return users;
}

std::optional<key_record> user_store::find_key(std::int64_t handle) const {
    auto s = query(fmt::format("{} WHERE handle = ?", key_columns));
    s.bind(1, handle);
    if (!s.step()) return std::nullopt;
    auto k = read_key(s);
    k.shared = shares_of(handle);
    return k;
}

// Every row of `s`, with its shares (read once the rows are: one statement at a time).
std::vector<key_record> user_store::read_keys(statement& s) const {
    std::vector<key_record> keys;
    while (s.step())
        keys.push_back(read_key(s));
    for (auto& k : keys)
        k.shared = shares_of(k.handle);
    return keys;
}

std::vector<key_record> user_store::list_keys() const {
    auto s = query(fmt::format("{} ORDER BY handle", key_columns));
    return read_keys(s);
}

std::vector<key_record> user_store::keys_of(std::int64_t user_id) const {
    auto s = query(fmt::format("{} WHERE owner = ?1 OR handle IN "
                               "(SELECT handle FROM key_shares WHERE user = ?1) ORDER BY handle",
                               key_columns));
    s.bind(1, user_id);
    return read_keys(s);
}

std::size_t user_store::count_keys() const {
    return static_cast<std::size_t>(scalar("SELECT count(*) FROM keys"));
}

std::size_t user_store::count_reserved_keys() const {
    return static_cast<std::size_t>(scalar(
        "SELECT count(*) FROM key_reservations WHERE handle NOT IN (SELECT handle FROM keys)"));
}

std::size_t user_store::count_owned_keys(std::int64_t user_id) const {
    auto s = query("SELECT (SELECT count(*) FROM keys WHERE owner = ?1) + "
                   "(SELECT count(*) FROM key_reservations WHERE owner = ?1 AND handle NOT IN "
                   "(SELECT handle FROM keys))");
    s.bind(1, user_id);
    return s.step() ? static_cast<std::size_t>(s.integer(0)) : 0;
}

bool user_store::key_handle_taken(std::int64_t handle) const {
    auto s = query("SELECT 1 FROM keys WHERE handle = ?1 UNION ALL "
                   "SELECT 1 FROM key_reservations WHERE handle = ?1");
    s.bind(1, handle);
    return s.step();
}

bool user_store::key_handle_reserved(std::int64_t handle) const {
    auto s = query("SELECT 1 FROM key_reservations WHERE handle = ?");
    s.bind(1, handle);
    return s.step();
}

void user_store::insert_key(const key_record& k) {
    auto s = query("INSERT INTO keys(handle, owner, class, type, bits, label, key_id, flags, "
                   "public, sealed, material_digest, version) "
                   "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, k.handle).bind(2, k.owner).bind(3, key_class_name(k.cls));
    s.bind(4, key_type_name(k.type)).bind(5, std::int64_t{k.bits}).bind(6, k.label);
    s.bind(7, k.id_hex).bind(8, flags_to_json(k.flags).dump()).bind(9, k.public_der);
    s.bind(10, k.sealed).bind(11, k.material_digest).bind(12, k.version).run();
    insert_shares(k.handle, k.shared);
}

void user_store::delete_key(std::int64_t handle) {
    query("DELETE FROM keys WHERE handle = ?").bind(1, handle).run();
}

void user_store::destroy_key(std::int64_t handle) {
    delete_key(handle);
    query("INSERT OR IGNORE INTO destroyed_keys(handle) VALUES(?)").bind(1, handle).run();
}

bool user_store::key_destroyed(std::int64_t handle) const {
    auto s = query("SELECT 1 FROM destroyed_keys WHERE handle = ?");
    s.bind(1, handle);
    return s.step();
}

void user_store::update_key(std::int64_t handle, const key_flags& flags, std::string_view label) {
    query("UPDATE keys SET flags = ?, label = ?, version = version + 1 WHERE handle = ?")
        .bind(1, flags_to_json(flags).dump())
        .bind(2, label)
        .bind(3, handle)
        .run();
}

void user_store::set_key_shares(std::int64_t handle, const std::vector<std::int64_t>& users) {
    query("DELETE FROM key_shares WHERE handle = ?").bind(1, handle).run();
    insert_shares(handle, users);
    query("UPDATE keys SET version = version + 1 WHERE handle = ?").bind(1, handle).run();
}

void user_store::insert_shares(std::int64_t handle, const std::vector<std::int64_t>& users) {
    for (auto u : users)
        query("INSERT INTO key_shares(handle, user) VALUES(?, ?)").bind(1, handle).bind(2, u).run();
}

void user_store::reserve_key_handles(std::string_view txid,
                                     const std::vector<std::int64_t>& handles, std::int64_t owner) {
    for (auto h : handles)
        query("INSERT INTO key_reservations(handle, txid, owner) VALUES(?, ?, ?)")
            .bind(1, h)
            .bind(2, txid)
            .bind(3, owner)
            .run();
}

} // namespace hsm
