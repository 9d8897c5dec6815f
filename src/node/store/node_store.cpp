// SPDX-License-Identifier: Apache-2.0
// The node's durable state in SQLite: one database, handed out as its tables by area.
#include "store/node_store.hpp"

#include "store/store_schema.hpp"

#include <fmt/format.h>

namespace hsm {

node_store::node_store(const std::string& path, std::vector<std::uint8_t> audit_key)
    : db_(path), audit_(db_, std::move(audit_key)) {
    if (path != ":memory:") db_.execute("PRAGMA journal_mode=WAL");
    db_.execute("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
    create_store_schema(db_);
}

void node_store::transact(const std::function<void()>& change) {
    db_.execute("BEGIN IMMEDIATE");
    try {
        change();
        db_.execute("COMMIT");
    } catch (...) {
        sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

void node_store::check_integrity() {
    auto s = db_.query("PRAGMA quick_check");
    std::string first;
    while (s.step())
        if (first.empty()) first = s.text(0);
    if (first != "ok") throw store_error(fmt::format("the store is damaged: {}", first));
}

void node_store::backup_to(const std::string& path) const {
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
