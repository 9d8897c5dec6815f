// SPDX-License-Identifier: Apache-2.0
// Prepared changes in the node's store, waiting for commit or abort, and the outcomes of finished
// ones.
#include "store/prepared_changes.hpp"

#include <fmt/format.h>

namespace hsm {
namespace {

constexpr const char* prepared_columns = "SELECT txid, user_name, change, deadline FROM prepared";

prepared_row read_prepared(const statement& s) {
    return {s.text(0), s.text(1), s.text(2), s.integer(3)};
}

std::vector<prepared_row> read_prepared_rows(statement& s) {
    std::vector<prepared_row> out;
    while (s.step())
        out.push_back(read_prepared(s));
    return out;
}

} // namespace

void prepared_changes::insert(const prepared_row& row) {
    auto s =
        db_.query("INSERT INTO prepared(txid, user_name, change, deadline) VALUES(?, ?, ?, ?)");
    s.bind(1, row.txid).bind(2, row.user_name).bind(3, row.change).bind(4, row.deadline_ms).run();
}

std::optional<prepared_row> prepared_changes::find(std::string_view txid) const {
    auto s = db_.query(fmt::format("{} WHERE txid = ?", prepared_columns));
    s.bind(1, txid);
    if (!s.step()) return std::nullopt;
    return read_prepared(s);
}

bool prepared_changes::reserved(std::string_view user_name) const {
    auto s = db_.query("SELECT 1 FROM prepared WHERE user_name = ?");
    s.bind(1, user_name);
    return s.step();
}

std::vector<prepared_row> prepared_changes::past(std::int64_t now_ms) const {
    auto s = db_.query(fmt::format("{} WHERE deadline <= ? ORDER BY deadline", prepared_columns));
    s.bind(1, now_ms);
    return read_prepared_rows(s);
}

std::vector<prepared_row> prepared_changes::list() const {
    auto s = db_.query(fmt::format("{} ORDER BY deadline", prepared_columns));
    return read_prepared_rows(s);
}

void prepared_changes::remove(std::string_view txid) {
    db_.query("DELETE FROM prepared WHERE txid = ?").bind(1, txid).run();
}

void prepared_changes::record_outcome(std::string_view txid, std::string_view outcome,
                                      std::string_view identity) {
    db_.query("INSERT OR REPLACE INTO outcomes(txid, outcome, time, identity) VALUES(?, ?, ?, ?)")
        .bind(1, txid)
        .bind(2, outcome)
        .bind(3, store_time_now())
        .bind(4, identity)
        .run();
    // Bounded: only the newest outcomes are kept, enough for any commit or
    // abort that can still arrive late (a prepared change lives minutes).
    db_.query("DELETE FROM outcomes WHERE rowid <= (SELECT max(rowid) FROM outcomes) - ?")
        .bind(1, static_cast<std::int64_t>(max_outcomes))
        .run();
}

std::optional<std::string> prepared_changes::outcome(std::string_view txid) const {
    auto s = db_.query("SELECT outcome FROM outcomes WHERE txid = ?");
    s.bind(1, txid);
    if (!s.step()) return std::nullopt;
    return s.text(0);
}

std::optional<std::string> prepared_changes::committed_identity(std::string_view txid) const {
    auto s = db_.query("SELECT identity FROM outcomes WHERE txid = ? AND outcome = 'committed' AND "
                       "identity != ''");
    s.bind(1, txid);
    if (!s.step()) return std::nullopt;
    return s.text(0);
}

std::size_t prepared_changes::count_outcomes() const {
    return static_cast<std::size_t>(db_.scalar("SELECT count(*) FROM outcomes"));
}

} // namespace hsm
