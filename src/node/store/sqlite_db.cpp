// SPDX-License-Identifier: Apache-2.0
// One open SQLite database with its statement cache, shared by the store's tables.
#include "store/sqlite_db.hpp"

#include <chrono>

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace hsm {

sqlite_db::sqlite_db(const std::string& path) {
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                             nullptr);
    db_.reset(raw);
    if (rc != SQLITE_OK)
        throw store_error(fmt::format("{}: {}", path, raw ? sqlite3_errmsg(raw) : "cannot open"));
    sqlite3_busy_timeout(db_.get(), 5000);
    sqlite3_extended_result_codes(db_.get(), 1);
}

std::int64_t sqlite_db::scalar(std::string_view sql) const {
    auto s = query(sql);
    return s.step() ? s.integer(0) : 0;
}

std::string store_time_now() {
    auto now =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", now);
}

} // namespace hsm
