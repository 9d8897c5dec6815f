// SPDX-License-Identifier: Apache-2.0
// The node's audit trail in its store: rows chained by an HMAC under the node's audit key.
#pragma once

#include "store/sqlite_db.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hsm {

/// One audit row. Never carries a password, hash or key.
struct audit_entry {
    std::string actor; // user name, or "-" before login
    std::string role;  // the actor's type, or "-"
    std::string peer;  // client certificate fingerprint
    std::string operation;
    std::string target;
    std::string result; // a status name
};

/// The newest audit row: how many rows and the last link.
struct audit_head {
    std::int64_t rows = 0;
    std::string hash;
};

/// "ROWS:HASH" as verify prints it; nullopt when it is not that.
std::optional<audit_head> parse_audit_head(std::string_view text);

/// The audit table of a node_store. Owns the audit key (wiped at the end).
/// Throws store_error.
class audit_trail {
public:
    audit_trail(sqlite_db& db, std::vector<std::uint8_t> audit_key) noexcept
        : db_(db), audit_key_(std::move(audit_key)) {}
    audit_trail(const audit_trail&) = delete;
    audit_trail& operator=(const audit_trail&) = delete;
    ~audit_trail();

    /// Appends an audit row for node `node`; call inside node_store::transact.
    void append(std::string_view node, const audit_entry& entry);
    std::size_t count() const;
    /// The newest row of the audit trail: a monitor that sees it go backwards
    /// knows rows were cut.
    audit_head head() const;
    /// True when row `h.rows` is still there with link `h.hash`.
    bool holds_row(const audit_head& h) const;

    /// Checks the audit trail's hash chain. Returns the sequence number of
    /// the first row that does not match (altered, inserted or out of order),
    /// or nullopt when the whole chain holds; `rows` counts the good rows.
    std::optional<std::int64_t> verify(std::size_t& rows) const;

private:
    sqlite_db& db_;
    std::vector<std::uint8_t> audit_key_;
};

} // namespace hsm
