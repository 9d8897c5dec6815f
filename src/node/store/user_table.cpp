// SPDX-License-Identifier: Apache-2.0
// The node's users in its store: their credentials, login counters, quorum keys and quotas.
#include "store/user_table.hpp"

#include <fmt/format.h>

namespace hsm {
namespace {

constexpr const char* user_columns =
    "SELECT id, name, type, salt, hash, iterations, failures, "
    "version, two_fa, generation, quorum_key, key_quota FROM users";

user_record read_user(const statement& s) {
    user_record u;
    u.id = s.integer(0);
    u.name = s.text(1);
    u.type = user_type_from_name(s.text(2)).value_or(user_type::cu);
    u.hash.salt = s.blob(3);
    u.hash.key = s.blob(4);
    u.hash.iterations = static_cast<std::uint32_t>(s.integer(5));
    u.failures = static_cast<int>(s.integer(6));
    u.version = s.integer(7);
    u.two_fa = s.integer(8) != 0;
    u.generation = s.integer(9);
    u.quorum_key = s.blob(10);
    if (auto quota = s.integer(11); quota >= 0) u.key_quota = quota;
    return u;
}

} // namespace

std::optional<user_record> user_table::find(std::string_view canonical_name) const {
    auto s = db_.query(fmt::format("{} WHERE name = ?", user_columns));
    s.bind(1, canonical_name);
    if (!s.step()) return std::nullopt;
    return read_user(s);
}

std::optional<user_record> user_table::find_id(std::int64_t id) const {
    auto s = db_.query(fmt::format("{} WHERE id = ?", user_columns));
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_user(s);
}

std::vector<user_record> user_table::list() const {
    auto s = db_.query(fmt::format("{} ORDER BY id", user_columns));
    std::vector<user_record> users;
    while (s.step())
        users.push_back(read_user(s));
    return users;
}

std::size_t user_table::count() const {
    return static_cast<std::size_t>(db_.scalar("SELECT count(*) FROM users"));
}

std::size_t user_table::count_reserved_new() const {
    return static_cast<std::size_t>(
        // Rows of other subjects ("key 7", "mvalue 3") have a space, which no user name has.
        db_.scalar("SELECT count(*) FROM prepared WHERE user_name NOT IN (SELECT name FROM users) "
                   "AND instr(user_name, ' ') = 0"));
}

std::uint32_t user_table::max_iterations() const {
    return static_cast<std::uint32_t>(db_.scalar("SELECT coalesce(max(iterations), 0) FROM users"));
}

std::size_t user_table::count_officers() const {
    return static_cast<std::size_t>(
        db_.scalar("SELECT count(*) FROM users WHERE type IN ('CO','PCO')"));
}

// Ids are never reused: a session, an audit row or a key owner naming an id
// must never come to mean a later user. The highest id ever given is kept in
// meta, since SQLite's INTEGER PRIMARY KEY reuses the highest id once deleted.
std::int64_t user_table::next_user_id() {
    std::int64_t given = std::stoll(meta_.get(meta_key::last_user_id).value_or("0"));
    auto id = std::max(given, db_.scalar("SELECT coalesce(max(id), 0) FROM users")) + 1;
    meta_.set(meta_key::last_user_id, std::to_string(id));
    return id;
}

std::int64_t user_table::insert(std::string_view name, user_type type, const password_hash& hash) {
    auto id = next_user_id();
    auto s = db_.query("INSERT INTO users(id, name, type, salt, hash, iterations) "
                       "VALUES(?, ?, ?, ?, ?, ?)");
    s.bind(1, id).bind(2, name).bind(3, user_type_name(type)).bind(4, hash.salt);
    s.bind(5, hash.key).bind(6, static_cast<std::int64_t>(hash.iterations)).run();
    return id;
}

void user_table::remove(std::int64_t id) {
    db_.query("DELETE FROM users WHERE id = ?").bind(1, id).run();
}

void user_table::set_password(std::int64_t id, user_type type, const password_hash& hash) {
    auto s = db_.query("UPDATE users SET type = ?, salt = ?, hash = ?, iterations = ?, "
                       "failures = 0, version = version + 1, generation = generation + 1 "
                       "WHERE id = ?");
    s.bind(1, user_type_name(type)).bind(2, hash.salt).bind(3, hash.key);
    s.bind(4, static_cast<std::int64_t>(hash.iterations)).bind(5, id).run();
}

// The login counters are each HSM's own (CMU's LoginFailureCnt): they do not
// change the record's version, which counts changes made by officers.
void user_table::record_login_failure(std::int64_t id) {
    db_.query("UPDATE users SET failures = failures + 1 WHERE id = ?").bind(1, id).run();
}

void user_table::record_login_success(std::int64_t id) {
    db_.query("UPDATE users SET failures = 0 WHERE id = ? AND failures <> 0").bind(1, id).run();
}

void user_table::put(std::string_view name, user_type type, const password_hash& hash,
                     std::int64_t version, int failures, const bytes& quorum_key, bool two_fa,
                     std::optional<std::int64_t> key_quota) {
    auto existing = find(name);
    auto id = existing ? existing->id : next_user_id();
    auto s = db_.query("INSERT INTO users(id, name, type, salt, hash, iterations, failures, "
                       "version, quorum_key, two_fa, key_quota) "
                       "VALUES(?8, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?9, ?10, ?11) "
                       "ON CONFLICT(id) DO UPDATE SET type = ?2, salt = ?3, hash = ?4, "
                       "iterations = ?5, failures = ?6, version = ?7, quorum_key = ?9, "
                       "two_fa = ?10, key_quota = ?11, generation = generation + 1");
    s.bind(1, name).bind(2, user_type_name(type)).bind(3, hash.salt).bind(4, hash.key);
    s.bind(5, static_cast<std::int64_t>(hash.iterations)).bind(6, failures).bind(7, version);
    s.bind(8, id).bind(9, quorum_key).bind(10, std::int64_t{two_fa ? 1 : 0});
    s.bind(11, key_quota.value_or(-1)).run();
}

std::optional<std::int64_t> user_table::quorum_key_holder(const bytes& der) const {
    if (der.empty()) return std::nullopt;
    auto s = db_.query("SELECT id FROM users WHERE quorum_key = ?");
    s.bind(1, der);
    if (!s.step()) return std::nullopt;
    return s.integer(0);
}

// Not a credential: the user's sessions go on (the generation stays).
void user_table::set_quorum_key(std::int64_t id, const bytes& quorum_key) {
    db_.query("UPDATE users SET quorum_key = ?, version = version + 1 WHERE id = ?")
        .bind(1, quorum_key)
        .bind(2, id)
        .run();
}

// Not a credential either.
void user_table::set_key_quota(std::int64_t id, std::optional<std::int64_t> quota) {
    db_.query("UPDATE users SET key_quota = ?, version = version + 1 WHERE id = ?")
        .bind(1, quota.value_or(-1))
        .bind(2, id)
        .run();
}

void user_table::set_second_factor(std::int64_t id, bool on, const bytes& quorum_key) {
    db_.query("UPDATE users SET two_fa = ?, quorum_key = ? WHERE id = ?")
        .bind(1, std::int64_t{on ? 1 : 0})
        .bind(2, on ? quorum_key : bytes{})
        .bind(3, id)
        .run();
}

} // namespace hsm
