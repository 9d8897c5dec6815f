// SPDX-License-Identifier: Apache-2.0
// Prepared changes in the node's store, waiting for commit or abort, and the outcomes of finished
// ones.
#pragma once

#include "store/sqlite_db.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hsm {

/// A prepared change: one per subject at most (the reservation).
struct prepared_row {
    std::string txid;
    std::string user_name;        // the subject: a user name, "key 7", "mvalue 3"
    std::string change;           // planned_change as JSON
    std::int64_t deadline_ms = 0; // system clock, ms since the epoch
};

/// The prepared and outcomes tables of a node_store. Writes belong inside
/// node_store::transact. Throws store_error.
class prepared_changes {
public:
    explicit prepared_changes(sqlite_db& db) noexcept : db_(db) {}

    void insert(const prepared_row& row);
    std::optional<prepared_row> find(std::string_view txid) const;
    /// Whether a prepared change holds subject `user_name`.
    bool reserved(std::string_view user_name) const;
    /// Rows whose deadline is at or before `now_ms`, the oldest first.
    std::vector<prepared_row> past(std::int64_t now_ms) const;
    std::vector<prepared_row> list() const;
    void remove(std::string_view txid);

    /// `identity`: what names a committed key change across nodes (transactions.cpp).
    void record_outcome(std::string_view txid, std::string_view outcome,
                        std::string_view identity = {});
    std::optional<std::string> outcome(std::string_view txid) const;
    /// The identity recorded with a committed change, if any was.
    std::optional<std::string> committed_identity(std::string_view txid) const;
    std::size_t count_outcomes() const;
    /// Outcomes kept: older ones are pruned as new ones are recorded.
    static constexpr std::size_t max_outcomes = 4096;

private:
    sqlite_db& db_;
};

} // namespace hsm
