// SPDX-License-Identifier: Apache-2.0
// One open SQLite database with its statement cache, shared by the store's tables.
#pragma once

#include "store/sqlite.hpp"

#include <string>
#include <string_view>

namespace hsm {

/// Owns the connection and the statements prepared on it. The tables of
/// node_store each borrow it; none outlives it. Throws store_error.
class sqlite_db {
public:
    /// Opens or creates `path` (":memory:": a private in-memory database)
    /// with a busy timeout and extended result codes.
    explicit sqlite_db(const std::string& path);
    sqlite_db(const sqlite_db&) = delete;
    sqlite_db& operator=(const sqlite_db&) = delete;

    /// The statement for `sql`, prepared once for this connection.
    statement query(std::string_view sql) const { return statements_.get(db_.get(), sql); }
    /// The first column of the first row of `sql` (0: no row).
    std::int64_t scalar(std::string_view sql) const;
    /// Runs SQL with no results (schema, pragmas, transactions).
    void execute(const char* sql) { hsm::execute(db_.get(), sql); }
    /// Rows the last statement changed.
    int changes() const noexcept { return sqlite3_changes(db_.get()); }
    sqlite3* get() const noexcept { return db_.get(); }

private:
    sqlite_ptr db_;
    mutable statement_cache statements_; // after db_: finalized before it closes
};

/// The time the store writes in its rows: UTC to the millisecond.
std::string store_time_now();

} // namespace hsm
