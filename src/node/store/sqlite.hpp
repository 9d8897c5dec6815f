// SPDX-License-Identifier: Apache-2.0
// Thin RAII wrappers over the SQLite C API.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <sqlite3.h>

namespace hsm {

/// A store operation failed; `code` is SQLite's extended result code (0
/// when the failure is not SQLite's), e.g. SQLITE_FULL on a full disk.
struct store_error : std::runtime_error {
    explicit store_error(const std::string& what, int code = 0)
        : std::runtime_error(what), code(code) {}
    int code;
};

struct sqlite_close {
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using sqlite_ptr = std::unique_ptr<sqlite3, sqlite_close>;

/// One prepared statement; bind with 1-based indices, then step. Either
/// owned (finalized at the end) or borrowed from a statement_cache (reset
/// and handed back at the end).
class statement {
public:
    statement(sqlite3* db, std::string_view sql);
    statement(sqlite3* db, sqlite3_stmt* borrowed, bool* in_use) noexcept
        : db_(db), stmt_(borrowed), in_use_(in_use) {}
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;
    ~statement();

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
    bool* in_use_ = nullptr; // borrowed: the cache's flag
};

/// Each SQL text prepared once per connection and reused. A statement still
/// in use (the same SQL nested in itself) gets a fresh one instead.
class statement_cache {
public:
    statement_cache() = default;
    statement_cache(const statement_cache&) = delete;
    statement_cache& operator=(const statement_cache&) = delete;
    ~statement_cache();

    statement get(sqlite3* db, std::string_view sql);

private:
    struct entry {
        sqlite3_stmt* stmt = nullptr;
        bool in_use = false;
    };
    std::unordered_map<std::string, std::unique_ptr<entry>> entries_;
};

/// Runs SQL with no results (schema, pragmas). Throws store_error.
void execute(sqlite3* db, const char* sql);

} // namespace hsm
