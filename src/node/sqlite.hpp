// SPDX-License-Identifier: Apache-2.0
// Thin RAII wrappers over the SQLite C API.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <sqlite3.h>

namespace hsm {

struct store_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct sqlite_close {
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using sqlite_ptr = std::unique_ptr<sqlite3, sqlite_close>;

/// One prepared statement; bind with 1-based indices, then step.
class statement {
public:
    statement(sqlite3* db, std::string_view sql);
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;
    ~statement() { sqlite3_finalize(stmt_); }

    statement& bind(int index, std::int64_t value);
    statement& bind(int index, std::string_view value);
    statement& bind(int index, const std::vector<std::uint8_t>& value);

    /// Advances; true while a row is available. Throws store_error.
    bool step();
    /// Steps to completion, expecting no row.
    void run();

    std::int64_t integer(int column) const;
    std::string text(int column) const;
    std::vector<std::uint8_t> blob(int column) const;

private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

/// Runs SQL with no results (schema, pragmas). Throws store_error.
void execute(sqlite3* db, const char* sql);

} // namespace hsm
