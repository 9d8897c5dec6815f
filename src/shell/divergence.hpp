// SPDX-License-Identifier: Apache-2.0
// Comparing the users of several servers: who is missing where, who differs.
#pragma once

#include "hsmsh/outcome.hpp"

#include <string>
#include <vector>

namespace hsm {

struct user_comparison {
    std::string name;
    std::vector<std::size_t> missing;   // servers without the user
    std::vector<std::size_t> differing; // servers whose record differs from the newest
    std::vector<std::size_t> unknown;   // servers that did not answer: nobody knows
    bool full() const noexcept { return missing.empty() && unknown.empty(); }
    bool consistent() const noexcept { return differing.empty(); }
    /// "partial" (missing somewhere), "unknown" (a server did not answer), or "full".
    std::string_view coverage() const noexcept {
        return !missing.empty() ? "partial" : !unknown.empty() ? "unknown" : "full";
    }
};

/// Compares the listUsers replies of the servers that answered (by each
/// user's record digest; the newest version is the reference); the servers
/// that did not answer make every user's coverage unknown. Sorted by name.
std::vector<user_comparison> compare_users(const std::vector<server_report>& reports);

/// True when every user is known to be on every server with the same record.
bool all_agree(const std::vector<user_comparison>& users);

/// "full  consistent" lines; `only_disagreements` leaves out users in agreement.
void print_comparison(std::ostream& out, const std::vector<user_comparison>& users,
                      const std::vector<server_report>& reports, bool only_disagreements);

nlohmann::json comparison_json(const std::vector<user_comparison>& users);

} // namespace hsm
