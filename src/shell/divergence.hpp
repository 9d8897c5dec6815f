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

/// The heading above the users not known to agree: "Servers disagree:"
/// only when servers that answered differ; when the only doubt is a server
/// that did not answer, it says so instead.
std::string_view comparison_heading(const std::vector<user_comparison>& users);

/// "full  consistent" lines; `only_disagreements` leaves out users in agreement.
void print_comparison(std::ostream& out, const std::vector<user_comparison>& users,
                      const std::vector<server_report>& reports, bool only_disagreements);

nlohmann::json comparison_json(const std::vector<user_comparison>& users);

/// The servers a comparison learnt nothing from: those that did not
/// answer, and those that answered with an error other than `absent` (the
/// "no such user" or "no such key" a comparison counts as a finding). A
/// result that leaves one out is partial, never "the same everywhere".
std::vector<server_report> unasked(const std::vector<server_report>& reports, status absent);

/// `server 2(127.0.0.1:2227): RET_NOT_LOGGED_IN (...); server ...`: who
/// could not be asked, and why.
std::string describe_unasked(const std::vector<server_report>& unasked);

} // namespace hsm
