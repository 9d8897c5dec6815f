// SPDX-License-Identifier: Apache-2.0
// Comparing the users of several servers.
#include "divergence.hpp"

#include "hsmsh/log.hpp"

#include "render.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <fmt/ranges.h>

namespace hsm {
namespace {

struct seen {
    std::string digest;
    std::int64_t version = 0;
};

} // namespace

std::vector<user_comparison> compare_users(const std::vector<server_report>& reports) {
    std::map<std::string, std::map<std::size_t, seen>> by_user;
    std::vector<std::size_t> answered, unanswered;
    for (const auto& r : reports) {
        if (!r.outcome.ok()) {
            unanswered.push_back(r.index);
            continue;
        }
        answered.push_back(r.index);
        for (const auto& u : r.outcome.users)
            by_user[u.name][r.index] = {u.digest, u.version};
    }
    std::vector<user_comparison> out;
    for (const auto& [name, copies] : by_user) {
        user_comparison c{name, {}, {}, unanswered};
        for (auto i : answered)
            if (!copies.contains(i)) c.missing.push_back(i);
        auto newest = std::max_element(copies.begin(), copies.end(), [](auto& a, auto& b) {
            return a.second.version < b.second.version;
        });
        for (const auto& [index, copy] : copies)
            if (copy.digest != newest->second.digest) c.differing.push_back(index);
        out.push_back(std::move(c));
    }
    return out;
}

bool all_agree(const std::vector<user_comparison>& users) {
    return std::ranges::all_of(users, [](const auto& u) { return u.full() && u.consistent(); });
}

std::string_view comparison_heading(const std::vector<user_comparison>& users) {
    bool differ = std::ranges::any_of(
        users, [](const auto& u) { return !u.missing.empty() || !u.consistent(); });
    return differ ? "Servers disagree:"
                  : "Not every server answered; the users' coverage is unknown:";
}

void print_comparison(std::ostream& out, const std::vector<user_comparison>& users,
                      const std::vector<server_report>& reports, bool only_disagreements) {
    auto labels = [&](const std::vector<std::size_t>& servers) {
        std::vector<std::string> names;
        for (auto i : servers)
            for (const auto& r : reports)
                if (r.index == i) names.push_back(server_label(i, r.name));
        return fmt::format("{}", fmt::join(names, ", "));
    };
    for (const auto& u : users) {
        if (only_disagreements && u.full() && u.consistent()) continue;
        fmt::print(out, "  {:<32} {:<8} {}", escape_terminal(u.name), u.coverage(),
                   u.consistent() ? "consistent" : "inconsistent");
        if (!u.missing.empty()) fmt::print(out, "  missing on {}", labels(u.missing));
        if (!u.differing.empty()) fmt::print(out, "  differs on {}", labels(u.differing));
        if (!u.unknown.empty()) fmt::print(out, "  no answer from {}", labels(u.unknown));
        fmt::print(out, "\n");
    }
}

nlohmann::json comparison_json(const std::vector<user_comparison>& users) {
    json out = json::array();
    for (const auto& u : users)
        out.push_back({{"name", u.name},
                       {"coverage", u.coverage()},
                       {"consistency", u.consistent() ? "consistent" : "inconsistent"},
                       {"missing", u.missing},
                       {"differing", u.differing},
                       {"unknown", u.unknown}});
    return out;
}

std::vector<server_report> unasked(const std::vector<server_report>& reports, status absent) {
    std::vector<server_report> out;
    for (const auto& r : reports) {
        bool found_absent =
            r.outcome.what == server_outcome::kind::replied && r.outcome.code == absent;
        if (!r.outcome.ok() && !found_absent) out.push_back(r);
    }
    return out;
}

std::string describe_unasked(const std::vector<server_report>& unasked) {
    std::vector<std::string> parts;
    for (const auto& r : unasked)
        parts.push_back(fmt::format("{}: {} ({})", server_label(r.index, r.name),
                                    outcome_code(r.outcome),
                                    escape_terminal(outcome_message(r.outcome))));
    return fmt::format("{}", fmt::join(parts, "; "));
}

} // namespace hsm
