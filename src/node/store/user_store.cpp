// SPDX-License-Identifier: Apache-2.0
// The node's durable state in SQLite.
#include "store/user_store.hpp"

#include "hsmsh/hex.hpp"
#include "hsmsh/sealing.hpp"
#include "hsmsh/secret.hpp"

#include <charconv>
#include <chrono>

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace hsm {
namespace {

constexpr const char* schema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  salt BLOB NOT NULL,
  hash BLOB NOT NULL,
  iterations INTEGER NOT NULL,
  failures INTEGER NOT NULL DEFAULT 0,
  version INTEGER NOT NULL DEFAULT 1,
  mofn INTEGER NOT NULL DEFAULT 0,
  two_fa INTEGER NOT NULL DEFAULT 0,
  generation INTEGER NOT NULL DEFAULT 1,
  quorum_key BLOB NOT NULL DEFAULT x'',
  key_quota INTEGER NOT NULL DEFAULT -1);
CREATE TABLE IF NOT EXISTS prepared(
  txid TEXT PRIMARY KEY,
  user_name TEXT NOT NULL UNIQUE,
  change TEXT NOT NULL,
  deadline INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outcomes(
  txid TEXT PRIMARY KEY,
  outcome TEXT NOT NULL CHECK(outcome IN ('committed', 'aborted')),
  time TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS client_credentials(
  fingerprint TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK(kind IN ('pin', 'anchor')),
  subject TEXT NOT NULL,
  pem TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit(
  seq INTEGER PRIMARY KEY,
  time TEXT NOT NULL,
  node TEXT NOT NULL,
  actor TEXT NOT NULL,
  role TEXT NOT NULL,
  peer TEXT NOT NULL,
  operation TEXT NOT NULL,
  target TEXT NOT NULL,
  result TEXT NOT NULL,
  hash TEXT NOT NULL DEFAULT '');
)sql";

// One audit row's link in the chain: HMAC-SHA256 under the node's audit key
// over the previous link and the row's fields, so that changing, inserting or
// removing a row breaks every link after it, and nobody without the key can
// compute a new chain (a cut tail shows as a head that went backwards).
std::string chain_link(const std::vector<std::uint8_t>& key, std::string_view previous,
                       std::int64_t seq, const std::array<std::string, 8>& fields) {
    std::string text = fmt::format("{}\x1f{}", previous, seq);
    for (const auto& f : fields)
        text += fmt::format("\x1f{}", f);
    return to_hex(hmac_sha256(key, text));
}

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

std::string utc_now() {
    auto now =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", now);
}

} // namespace

user_store::user_store(const std::string& path, std::vector<std::uint8_t> audit_key)
    : audit_key_(std::move(audit_key)) {
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                             nullptr);
    db_.reset(raw);
    if (rc != SQLITE_OK)
        throw store_error(fmt::format("{}: {}", path, raw ? sqlite3_errmsg(raw) : "cannot open"));
    sqlite3_busy_timeout(db_.get(), 5000);
    sqlite3_extended_result_codes(db_.get(), 1);
    if (path != ":memory:") execute(db_.get(), "PRAGMA journal_mode=WAL");
    execute(db_.get(), "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
    execute(db_.get(), schema);
    // Stores made before the audit trail was chained gain the column; their
    // old rows do not verify, which `hsmd audit verify` then says.
    auto columns = query("SELECT 1 FROM pragma_table_info('audit') WHERE name = 'hash'");
    if (!columns.step())
        execute(db_.get(), "ALTER TABLE audit ADD COLUMN hash TEXT NOT NULL DEFAULT ''");
    create_key_tables();
    auto generation = query("SELECT 1 FROM pragma_table_info('users') WHERE name = 'generation'");
    if (!generation.step())
        execute(db_.get(), "ALTER TABLE users ADD COLUMN generation INTEGER NOT NULL DEFAULT 1");
    auto quorum = query("SELECT 1 FROM pragma_table_info('users') WHERE name = 'quorum_key'");
    if (!quorum.step())
        execute(db_.get(), "ALTER TABLE users ADD COLUMN quorum_key BLOB NOT NULL DEFAULT x''");
    auto quota = query("SELECT 1 FROM pragma_table_info('users') WHERE name = 'key_quota'");
    if (!quota.step())
        execute(db_.get(), "ALTER TABLE users ADD COLUMN key_quota INTEGER NOT NULL DEFAULT -1");
}

user_store::~user_store() {
    wipe(audit_key_.data(), audit_key_.size());
}

void user_store::transact(const std::function<void()>& change) {
    execute(db_.get(), "BEGIN IMMEDIATE");
    try {
        change();
        execute(db_.get(), "COMMIT");
    } catch (...) {
        sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

void user_store::check_integrity() {
    auto s = query("PRAGMA quick_check");
    std::string first;
    while (s.step())
        if (first.empty()) first = s.text(0);
    if (first != "ok") throw store_error(fmt::format("the store is damaged: {}", first));
}

std::optional<user_record> user_store::find(std::string_view canonical_name) const {
    auto s = query(fmt::format("{} WHERE name = ?", user_columns));
    s.bind(1, canonical_name);
    if (!s.step()) return std::nullopt;
    return read_user(s);
}

std::optional<user_record> user_store::find_id(std::int64_t id) const {
    auto s = query(fmt::format("{} WHERE id = ?", user_columns));
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_user(s);
}

std::vector<user_record> user_store::list() const {
    auto s = query(fmt::format("{} ORDER BY id", user_columns));
    std::vector<user_record> users;
    while (s.step())
        users.push_back(read_user(s));
    return users;
}

std::int64_t user_store::scalar(std::string_view sql) const {
    auto s = query(sql);
    return s.step() ? s.integer(0) : 0;
}

std::size_t user_store::count_users() const {
    return static_cast<std::size_t>(scalar("SELECT count(*) FROM users"));
}

std::size_t user_store::count_reserved_new_users() const {
    return static_cast<std::size_t>(
        // Rows of other subjects ("key 7", "mvalue 3") have a space, which no user name has.
        scalar("SELECT count(*) FROM prepared WHERE user_name NOT IN (SELECT name FROM users) "
               "AND instr(user_name, ' ') = 0"));
}

std::uint32_t user_store::max_iterations() const {
    return static_cast<std::uint32_t>(scalar("SELECT coalesce(max(iterations), 0) FROM users"));
}

std::size_t user_store::count_officers() const {
    return static_cast<std::size_t>(
        scalar("SELECT count(*) FROM users WHERE type IN ('CO','PCO')"));
}

std::size_t user_store::count_audit() const {
    return static_cast<std::size_t>(scalar("SELECT count(*) FROM audit"));
}

// Ids are never reused: a session, an audit row or a key owner naming an id
// must never come to mean a later user. The highest id ever given is kept in
// meta, since SQLite's INTEGER PRIMARY KEY reuses the highest id once deleted.
std::int64_t user_store::next_user_id() {
    std::int64_t given = std::stoll(meta(meta_key::last_user_id).value_or("0"));
    auto id = std::max(given, scalar("SELECT coalesce(max(id), 0) FROM users")) + 1;
    set_meta(meta_key::last_user_id, std::to_string(id));
    return id;
}

std::int64_t user_store::insert_user(std::string_view name, user_type type,
                                     const password_hash& hash) {
    auto id = next_user_id();
    auto s = query("INSERT INTO users(id, name, type, salt, hash, iterations) "
                   "VALUES(?, ?, ?, ?, ?, ?)");
    s.bind(1, id).bind(2, name).bind(3, user_type_name(type)).bind(4, hash.salt);
    s.bind(5, hash.key).bind(6, static_cast<std::int64_t>(hash.iterations)).run();
    return id;
}

void user_store::delete_user(std::int64_t id) {
    query("DELETE FROM users WHERE id = ?").bind(1, id).run();
}

void user_store::set_password(std::int64_t id, user_type type, const password_hash& hash) {
    auto s = query("UPDATE users SET type = ?, salt = ?, hash = ?, iterations = ?, "
                   "failures = 0, version = version + 1, generation = generation + 1 "
                   "WHERE id = ?");
    s.bind(1, user_type_name(type)).bind(2, hash.salt).bind(3, hash.key);
    s.bind(4, static_cast<std::int64_t>(hash.iterations)).bind(5, id).run();
}

// The login counters are each HSM's own (CMU's LoginFailureCnt): they do not
// change the record's version, which counts changes made by officers.
void user_store::record_login_failure(std::int64_t id) {
    query("UPDATE users SET failures = failures + 1 WHERE id = ?").bind(1, id).run();
}

void user_store::record_login_success(std::int64_t id) {
    query("UPDATE users SET failures = 0 WHERE id = ? AND failures <> 0").bind(1, id).run();
}

void user_store::insert_prepared(const prepared_row& row) {
    auto s = query("INSERT INTO prepared(txid, user_name, change, deadline) VALUES(?, ?, ?, ?)");
    s.bind(1, row.txid).bind(2, row.user_name).bind(3, row.change).bind(4, row.deadline_ms).run();
}

namespace {
constexpr const char* prepared_columns = "SELECT txid, user_name, change, deadline FROM prepared";

user_store::prepared_row read_prepared(const statement& s) {
    return {s.text(0), s.text(1), s.text(2), s.integer(3)};
}
} // namespace

std::optional<user_store::prepared_row> user_store::prepared(std::string_view txid) const {
    auto s = query(fmt::format("{} WHERE txid = ?", prepared_columns));
    s.bind(1, txid);
    if (!s.step()) return std::nullopt;
    return read_prepared(s);
}

bool user_store::reserved(std::string_view user_name) const {
    auto s = query("SELECT 1 FROM prepared WHERE user_name = ?");
    s.bind(1, user_name);
    return s.step();
}

std::vector<user_store::prepared_row> user_store::prepared_past(std::int64_t now_ms) const {
    auto s = query(fmt::format("{} WHERE deadline <= ? ORDER BY deadline", prepared_columns));
    s.bind(1, now_ms);
    std::vector<prepared_row> out;
    while (s.step())
        out.push_back(read_prepared(s));
    return out;
}

void user_store::delete_prepared(std::string_view txid) {
    query("DELETE FROM prepared WHERE txid = ?").bind(1, txid).run();
}

std::vector<user_store::prepared_row> user_store::list_prepared() const {
    auto s = query(fmt::format("{} ORDER BY deadline", prepared_columns));
    std::vector<prepared_row> out;
    while (s.step())
        out.push_back(read_prepared(s));
    return out;
}

void user_store::record_outcome(std::string_view txid, std::string_view outcome) {
    query("INSERT OR REPLACE INTO outcomes(txid, outcome, time) VALUES(?, ?, ?)")
        .bind(1, txid)
        .bind(2, outcome)
        .bind(3, utc_now())
        .run();
    // Bounded: only the newest outcomes are kept, enough for any commit or
    // abort that can still arrive late (a prepared change lives minutes).
    query("DELETE FROM outcomes WHERE rowid <= (SELECT max(rowid) FROM outcomes) - ?")
        .bind(1, static_cast<std::int64_t>(max_outcomes))
        .run();
}

std::size_t user_store::count_outcomes() const {
    return static_cast<std::size_t>(scalar("SELECT count(*) FROM outcomes"));
}

std::optional<std::string> user_store::outcome(std::string_view txid) const {
    auto s = query("SELECT outcome FROM outcomes WHERE txid = ?");
    s.bind(1, txid);
    if (!s.step()) return std::nullopt;
    return s.text(0);
}

void user_store::put_user(std::string_view name, user_type type, const password_hash& hash,
                          std::int64_t version, int failures, const bytes& quorum_key, bool two_fa,
                          std::optional<std::int64_t> key_quota) {
    auto existing = find(name);
    auto id = existing ? existing->id : next_user_id();
    auto s = query("INSERT INTO users(id, name, type, salt, hash, iterations, failures, "
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

std::optional<std::int64_t> user_store::quorum_key_holder(const bytes& der) const {
    if (der.empty()) return std::nullopt;
    auto s = query("SELECT id FROM users WHERE quorum_key = ?");
    s.bind(1, der);
    if (!s.step()) return std::nullopt;
    return s.integer(0);
}

// Not a credential: the user's sessions go on (the generation stays).
void user_store::set_quorum_key(std::int64_t id, const bytes& quorum_key) {
    query("UPDATE users SET quorum_key = ?, version = version + 1 WHERE id = ?")
        .bind(1, quorum_key)
        .bind(2, id)
        .run();
}

// Not a credential either.
void user_store::set_key_quota(std::int64_t id, std::optional<std::int64_t> quota) {
    query("UPDATE users SET key_quota = ?, version = version + 1 WHERE id = ?")
        .bind(1, quota.value_or(-1))
        .bind(2, id)
        .run();
}

void user_store::set_second_factor(std::int64_t id, bool on, const bytes& quorum_key) {
    query("UPDATE users SET two_fa = ?, quorum_key = ? WHERE id = ?")
        .bind(1, std::int64_t{on ? 1 : 0})
        .bind(2, on ? quorum_key : bytes{})
        .bind(3, id)
        .run();
}

namespace {
meta_key m_key(quorum::service s) {
    return s == quorum::service::user_mgmt ? meta_key::m_user_mgmt : meta_key::m_misc_co;
}
} // namespace

int user_store::m_value(quorum::service s) const {
    auto text = meta(m_key(s));
    if (!text) return quorum::min_m;
    int m = 0;
    auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), m);
    bool whole = error == std::errc() && end == text->data() + text->size();
    // Unreadable is the strictest, never "off": a damaged store must not
    // lift a quorum (an operator who can write the store can mend it).
    return whole && m >= quorum::min_m && m <= quorum::max_m ? m : quorum::max_m;
}

void user_store::set_m_value(quorum::service s, int m) {
    set_meta(m_key(s), std::to_string(m));
}

std::string_view meta_key_name(meta_key k) noexcept {
    switch (k) {
    case meta_key::cluster_id:
        return "cluster_id";
    case meta_key::hsm_id:
        return "hsm_id";
    case meta_key::state:
        return "state";
    case meta_key::peers:
        return "peers";
    case meta_key::last_user_id:
        return "last_user_id";
    case meta_key::m_user_mgmt:
        return "m_user_mgmt";
    case meta_key::m_misc_co:
        return "m_misc_co";
    }
    return "unknown";
}

std::optional<std::string> user_store::meta(meta_key k) const {
    auto key = meta_key_name(k);
    auto s = query("SELECT value FROM meta WHERE key = ?");
    s.bind(1, key);
    if (!s.step()) return std::nullopt;
    return s.text(0);
}

cluster_state user_store::state() const {
    auto name = meta(meta_key::state);
    return name ? cluster_state_from_name(*name).value_or(cluster_state::degraded)
                : cluster_state::degraded;
}

void user_store::set_state(cluster_state s) {
    set_meta(meta_key::state, cluster_state_name(s));
}

void user_store::set_meta(meta_key k, std::string_view value) {
    auto key = meta_key_name(k);
    query("INSERT INTO meta(key, value) VALUES(?, ?) "
          "ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        .bind(1, key)
        .bind(2, value)
        .run();
}

void user_store::append_audit(std::string_view node, const audit_entry& e) {
    std::string previous;
    std::int64_t seq = 1;
    {
        auto last = query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
        if (last.step()) {
            seq = last.integer(0) + 1;
            previous = last.text(1);
        }
    }
    std::array<std::string, 8> fields{utc_now(), std::string(node), e.actor,  e.role,
                                      e.peer,    e.operation,       e.target, e.result};
    auto s = query("INSERT INTO audit(seq, time, node, actor, role, peer, operation, "
                   "target, result, hash) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, seq);
    for (int i = 0; i < 8; ++i)
        s.bind(i + 2, fields[static_cast<std::size_t>(i)]);
    s.bind(10, chain_link(audit_key_, previous, seq, fields)).run();
}

std::optional<audit_head> parse_audit_head(std::string_view text) {
    auto colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 18) return std::nullopt;
    auto rows = text.substr(0, colon);
    auto hash = text.substr(colon + 1);
    if (rows.find_first_not_of("0123456789") != std::string_view::npos || hash.size() != 64 ||
        !from_hex(hash))
        return std::nullopt;
    return audit_head{std::stoll(std::string(rows)), std::string(hash)};
}

bool user_store::holds_audit_row(const audit_head& h) const {
    auto s = query("SELECT 1 FROM audit WHERE seq = ? AND hash = ?");
    s.bind(1, h.rows).bind(2, h.hash);
    return s.step();
}

audit_head user_store::head() const {
    auto s = query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
    if (!s.step()) return {};
    return {s.integer(0), s.text(1)};
}

std::optional<std::int64_t> user_store::verify_audit(std::size_t& rows) const {
    auto s = query("SELECT seq, time, node, actor, role, peer, operation, target, "
                   "result, hash FROM audit ORDER BY seq");
    std::string previous;
    rows = 0;
    while (s.step()) {
        std::array<std::string, 8> fields;
        for (int i = 0; i < 8; ++i)
            fields[static_cast<std::size_t>(i)] = s.text(i + 1);
        auto seq = s.integer(0);
        if (seq != static_cast<std::int64_t>(rows) + 1 ||
            chain_link(audit_key_, previous, seq, fields) != s.text(9))
            return seq;
        previous = s.text(9);
        ++rows;
    }
    return std::nullopt;
}

void user_store::add_client_credential(std::string_view fingerprint, std::string_view kind,
                                       std::string_view subject, std::string_view pem) {
    auto s =
        query("INSERT INTO client_credentials(fingerprint, kind, subject, pem) VALUES(?,?,?,?)");
    s.bind(1, fingerprint).bind(2, kind).bind(3, subject).bind(4, pem).run();
}

bool user_store::remove_client_credential(std::string_view fingerprint) {
    query("DELETE FROM client_credentials WHERE fingerprint = ?").bind(1, fingerprint).run();
    return sqlite3_changes(db_.get()) > 0;
}

std::vector<std::array<std::string, 4>> user_store::client_credentials() const {
    auto s = query("SELECT fingerprint, kind, subject, pem FROM client_credentials "
                   "ORDER BY kind, fingerprint");
    std::vector<std::array<std::string, 4>> out;
    while (s.step())
        out.push_back({s.text(0), s.text(1), s.text(2), s.text(3)});
    return out;
}

void user_store::backup_to(const std::string& path) const {
    sqlite3* raw = nullptr;
    int rc =
        sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    sqlite_ptr dest(raw);
    if (rc != SQLITE_OK) throw store_error(fmt::format("{}: cannot create", path));
    sqlite3_backup* backup = sqlite3_backup_init(dest.get(), "main", db_.get(), "main");
    if (!backup) throw store_error(fmt::format("backup: {}", sqlite3_errmsg(dest.get())));
    rc = sqlite3_backup_step(backup, -1);
    sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE) throw store_error(fmt::format("backup: {}", sqlite3_errstr(rc)));
}

} // namespace hsm
