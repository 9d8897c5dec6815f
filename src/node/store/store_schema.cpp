// SPDX-License-Identifier: Apache-2.0
// The node store's tables, and the steps that bring an older store's tables up to date.
#include "store/store_schema.hpp"

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
  time TEXT NOT NULL,
  identity TEXT NOT NULL DEFAULT '');
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
CREATE INDEX IF NOT EXISTS keys_by_public ON keys(class, public);
CREATE TABLE IF NOT EXISTS key_reservations(
  handle INTEGER PRIMARY KEY,
  txid TEXT NOT NULL REFERENCES prepared(txid) ON DELETE CASCADE,
  owner INTEGER NOT NULL);
)sql";

bool has_column(sqlite_db& db, const char* table, const char* column) {
    auto s = db.query(std::string("SELECT 1 FROM pragma_table_info('") + table +
                      "') WHERE name = '" + column + "'");
    return s.step();
}

// Stores from before keys had material kept a placeholder table that never
// held a key a client could use: it gives way to the real one.
void create_key_tables(sqlite_db& db) {
    if (has_column(db, "keys", "owner") && !has_column(db, "keys", "sealed"))
        db.execute("DROP TABLE keys");
    db.execute(key_schema);
    if (!has_column(db, "keys", "version"))
        db.execute("ALTER TABLE keys ADD COLUMN version INTEGER NOT NULL DEFAULT 1");
}

} // namespace

void create_store_schema(sqlite_db& db) {
    db.execute(schema);
    // Stores made before the audit trail was chained gain the column; their
    // old rows do not verify, which `hsmd audit verify` then says.
    if (!has_column(db, "audit", "hash"))
        db.execute("ALTER TABLE audit ADD COLUMN hash TEXT NOT NULL DEFAULT ''");
    create_key_tables(db);
    if (!has_column(db, "outcomes", "identity"))
        db.execute("ALTER TABLE outcomes ADD COLUMN identity TEXT NOT NULL DEFAULT ''");
    if (!has_column(db, "users", "generation"))
        db.execute("ALTER TABLE users ADD COLUMN generation INTEGER NOT NULL DEFAULT 1");
    if (!has_column(db, "users", "quorum_key"))
        db.execute("ALTER TABLE users ADD COLUMN quorum_key BLOB NOT NULL DEFAULT x''");
    if (!has_column(db, "users", "key_quota"))
        db.execute("ALTER TABLE users ADD COLUMN key_quota INTEGER NOT NULL DEFAULT -1");
}

} // namespace hsm
