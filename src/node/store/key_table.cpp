// SPDX-License-Identifier: Apache-2.0
// The node's keys in its store: one row per key, its shares, and the handles prepared changes
// reserve.
#include "store/key_table.hpp"

#include <fmt/format.h>

namespace hsm {
namespace {

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

std::vector<std::int64_t> key_table::shares_of(std::int64_t handle) const {
    auto s = db_.query("SELECT user FROM key_shares WHERE handle = ? ORDER BY user");
    s.bind(1, handle);
    std::vector<std::int64_t> users;
    while (s.step())
        users.push_back(s.integer(0));
    return users;
}

std::optional<key_record> key_table::find(std::int64_t handle) const {
    auto s = db_.query(fmt::format("{} WHERE handle = ?", key_columns));
    s.bind(1, handle);
    if (!s.step()) return std::nullopt;
    auto k = read_key(s);
    k.shared = shares_of(handle);
    return k;
}

// Every row of `s`, with its shares (read once the rows are: one statement at a time).
std::vector<key_record> key_table::read_keys(statement& s) const {
    std::vector<key_record> keys;
    while (s.step())
        keys.push_back(read_key(s));
    for (auto& k : keys)
        k.shared = shares_of(k.handle);
    return keys;
}

std::vector<key_record> key_table::list() const {
    auto s = db_.query(fmt::format("{} ORDER BY handle", key_columns));
    return read_keys(s);
}

std::vector<key_record> key_table::halves(key_class cls,
                                          std::span<const std::uint8_t> public_der) const {
    auto s =
        db_.query(fmt::format("{} WHERE class = ?1 AND public = ?2 ORDER BY handle", key_columns));
    s.bind(1, key_class_name(cls));
    s.bind(2, bytes(public_der.begin(), public_der.end()));
    return read_keys(s);
}

std::vector<key_record> key_table::keys_of(std::int64_t user_id) const {
    auto s =
        db_.query(fmt::format("{} WHERE owner = ?1 OR handle IN "
                              "(SELECT handle FROM key_shares WHERE user = ?1) ORDER BY handle",
                              key_columns));
    s.bind(1, user_id);
    return read_keys(s);
}

std::vector<key_record> key_table::keys_of(std::int64_t user_id, std::int64_t after,
                                           std::size_t limit) const {
    auto s = db_.query(
        fmt::format("{} WHERE (owner = ?1 OR handle IN (SELECT handle FROM key_shares WHERE "
                    "user = ?1)) AND handle > ?2 ORDER BY handle LIMIT ?3",
                    key_columns));
    s.bind(1, user_id);
    s.bind(2, after);
    s.bind(3, static_cast<std::int64_t>(limit));
    return read_keys(s);
}

std::size_t key_table::count() const {
    return static_cast<std::size_t>(db_.scalar("SELECT count(*) FROM keys"));
}

std::size_t key_table::count_reserved() const {
    return static_cast<std::size_t>(db_.scalar(
        "SELECT count(*) FROM key_reservations WHERE handle NOT IN (SELECT handle FROM keys)"));
}

std::size_t key_table::count_owned(std::int64_t user_id) const {
    auto s = db_.query("SELECT (SELECT count(*) FROM keys WHERE owner = ?1) + "
                       "(SELECT count(*) FROM key_reservations WHERE owner = ?1 AND handle NOT IN "
                       "(SELECT handle FROM keys))");
    s.bind(1, user_id);
    return s.step() ? static_cast<std::size_t>(s.integer(0)) : 0;
}

bool key_table::handle_taken(std::int64_t handle) const {
    auto s = db_.query("SELECT 1 FROM keys WHERE handle = ?1 UNION ALL "
                       "SELECT 1 FROM key_reservations WHERE handle = ?1");
    s.bind(1, handle);
    return s.step();
}

bool key_table::handle_reserved(std::int64_t handle) const {
    auto s = db_.query("SELECT 1 FROM key_reservations WHERE handle = ?");
    s.bind(1, handle);
    return s.step();
}

void key_table::insert(const key_record& k) {
    auto s = db_.query("INSERT INTO keys(handle, owner, class, type, bits, label, key_id, flags, "
                       "public, sealed, material_digest, version) "
                       "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, k.handle).bind(2, k.owner).bind(3, key_class_name(k.cls));
    s.bind(4, key_type_name(k.type)).bind(5, std::int64_t{k.bits}).bind(6, k.label);
    s.bind(7, k.id_hex).bind(8, flags_to_json(k.flags).dump()).bind(9, k.public_der);
    s.bind(10, k.sealed).bind(11, k.material_digest).bind(12, k.version).run();
    insert_shares(k.handle, k.shared);
}

void key_table::remove(std::int64_t handle) {
    db_.query("DELETE FROM keys WHERE handle = ?").bind(1, handle).run();
}

void key_table::destroy(std::int64_t handle) {
    remove(handle);
    db_.query("INSERT OR IGNORE INTO destroyed_keys(handle) VALUES(?)").bind(1, handle).run();
}

bool key_table::destroyed(std::int64_t handle) const {
    auto s = db_.query("SELECT 1 FROM destroyed_keys WHERE handle = ?");
    s.bind(1, handle);
    return s.step();
}

void key_table::update(std::int64_t handle, const key_flags& flags, std::string_view label,
                       std::string_view id_hex) {
    db_.query("UPDATE keys SET flags = ?, label = ?, key_id = ?, version = version + 1 "
              "WHERE handle = ?")
        .bind(1, flags_to_json(flags).dump())
        .bind(2, label)
        .bind(3, id_hex)
        .bind(4, handle)
        .run();
}

void key_table::set_shares(std::int64_t handle, const std::vector<std::int64_t>& users) {
    db_.query("DELETE FROM key_shares WHERE handle = ?").bind(1, handle).run();
    insert_shares(handle, users);
    db_.query("UPDATE keys SET version = version + 1 WHERE handle = ?").bind(1, handle).run();
}

void key_table::insert_shares(std::int64_t handle, const std::vector<std::int64_t>& users) {
    for (auto u : users)
        db_.query("INSERT INTO key_shares(handle, user) VALUES(?, ?)")
            .bind(1, handle)
            .bind(2, u)
            .run();
}

void key_table::reserve_handles(std::string_view txid, const std::vector<std::int64_t>& handles,
                                std::int64_t owner) {
    for (auto h : handles)
        db_.query("INSERT INTO key_reservations(handle, txid, owner) VALUES(?, ?, ?)")
            .bind(1, h)
            .bind(2, txid)
            .bind(3, owner)
            .run();
}

} // namespace hsm
