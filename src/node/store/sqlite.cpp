// SPDX-License-Identifier: Apache-2.0
// Thin RAII wrappers over the SQLite C API.
#include "store/sqlite.hpp"

#include <fmt/format.h>

namespace hsm {
namespace {

[[noreturn]] void fail(sqlite3* db, std::string_view what) {
    throw store_error(fmt::format("{}: {}", what, sqlite3_errmsg(db)),
                      sqlite3_extended_errcode(db));
}

} // namespace

statement::statement(sqlite3* db, std::string_view sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr) !=
        SQLITE_OK)
        fail(db, "prepare");
}

statement::~statement() {
    if (!in_use_) {
        sqlite3_finalize(stmt_);
        return;
    }
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    *in_use_ = false;
}

statement_cache::~statement_cache() {
    for (auto& [sql, e] : entries_)
        sqlite3_finalize(e->stmt);
}

statement statement_cache::get(sqlite3* db, std::string_view sql) {
    auto it = entries_.find(std::string(sql));
    if (it == entries_.end()) {
        auto e = std::make_unique<entry>();
        if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                               SQLITE_PREPARE_PERSISTENT, &e->stmt, nullptr) != SQLITE_OK)
            fail(db, "prepare");
        it = entries_.emplace(std::string(sql), std::move(e)).first;
    }
    auto& e = *it->second;
    if (e.in_use) return statement(db, sql);
    e.in_use = true;
    return statement(db, e.stmt, &e.in_use);
}

statement& statement::bind(int index, std::int64_t value) {
    if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK) fail(db_, "bind");
    return *this;
}

statement& statement::bind(int index, std::string_view value) {
    if (sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                          SQLITE_TRANSIENT) != SQLITE_OK)
        fail(db_, "bind");
    return *this;
}

statement& statement::bind(int index, const std::vector<std::uint8_t>& value) {
    // An empty vector's data() may be null, which SQLite would store as NULL.
    int rc = value.empty() ? sqlite3_bind_zeroblob(stmt_, index, 0)
                           : sqlite3_bind_blob(stmt_, index, value.data(),
                                               static_cast<int>(value.size()), SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) fail(db_, "bind");
    return *this;
}

bool statement::step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(db_, "step");
}

void statement::run() {
    while (step()) {
    }
}

std::int64_t statement::integer(int column) const {
    return sqlite3_column_int64(stmt_, column);
}

std::string statement::text(int column) const {
    auto* p = sqlite3_column_text(stmt_, column);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)))
             : std::string();
}

std::vector<std::uint8_t> statement::blob(int column) const {
    auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, column));
    auto n = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column));
    return p ? std::vector<std::uint8_t>(p, p + n) : std::vector<std::uint8_t>();
}

void execute(sqlite3* db, const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        std::string text = message ? message : "unknown error";
        sqlite3_free(message);
        throw store_error(text, sqlite3_extended_errcode(db));
    }
}

} // namespace hsm
