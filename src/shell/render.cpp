// SPDX-License-Identifier: Apache-2.0
// CMU's text shapes and the JSON form of results.
#include "render.hpp"

#include "hsmsh/duration.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/protocol/replies.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <fmt/ranges.h>

namespace hsm {
namespace {

std::string_view yes_no(bool v) {
    return v ? "YES" : "NO";
}

} // namespace

std::string server_label(std::size_t index, const std::string& name) {
    return fmt::format("server {}({})", index, name);
}

std::string outcome_code(const server_outcome& o) {
    using enum server_outcome::kind;
    switch (o.what) {
    case replied:
        return std::string(status_name(o.code));
    case not_connected:
        return "NOT_CONNECTED";
    case cancelled:
        return "CANCELLED";
    case failed:
        break;
    }
    switch (o.failure) {
    case client_failure::timeout:
        return "TIMEOUT";
    case client_failure::untrusted_server:
    case client_failure::wrong_cluster:
    case client_failure::client_refused:
        return "TLS_ERROR";
    case client_failure::protocol:
        return "PROTOCOL_ERROR";
    default:
        return "CONNECTION_LOST";
    }
}

std::string outcome_message(const server_outcome& o) {
    using enum server_outcome::kind;
    switch (o.what) {
    case replied:
        // A refusal that says how many keys stand in the way.
        if (auto keys = owned_keys_from(o.fields); keys && o.code == status::user_owns_keys)
            return fmt::format("{}: {} key(s) (findAllKeys lists them)", status_description(o.code),
                               *keys);
        return std::string(status_description(o.code));
    case not_connected:
        return "not connected";
    case cancelled:
        return "cancelled";
    case failed:
        return o.error;
    }
    return o.error;
}

void print_server_lines(std::ostream& out, std::string_view command,
                        const std::vector<server_report>& reports, bool color) {
    const std::string_view green = color ? "\x1b[32m" : "", red = color ? "\x1b[31m" : "",
                           reset = color ? "\x1b[0m" : "";
    for (const auto& r : reports) {
        auto label = server_label(r.index, r.name);
        if (r.outcome.ok())
            fmt::print(out, "{} {}success{} on {}\n", command, green, reset, label);
        else if (r.outcome.what == server_outcome::kind::replied)
            fmt::print(out, "{} {}failed{} on {}: {}\n", command, red, reset, label,
                       outcome_code(r.outcome));
        else
            fmt::print(out, "{} {}failed{} on {}: {} ({})\n", command, red, reset, label,
                       outcome_code(r.outcome), escape_terminal(outcome_message(r.outcome)));
    }
}

void print_user_table(std::ostream& out, std::string_view command, const server_report& r) {
    auto label = server_label(r.index, r.name);
    if (!r.outcome.ok()) {
        print_server_lines(out, command, {r});
        return;
    }
    const auto& users = r.outcome.users;
    // One buffer for the whole table, written once.
    fmt::memory_buffer table;
    fmt::format_to(fmt::appender(table), "Users on {}:\nNumber of users found:{}\n\n", label,
                   users.size());
    fmt::format_to(fmt::appender(table),
                   "    User Id             User Type       User Name                          "
                   "MofnPubKey    LoginFailureCnt         2FA\n");
    for (const auto& u : users)
        fmt::format_to(fmt::appender(table), "{:>10}{:14}{:<16}{:<35}{:>8}{:>16}{:>17}\n", u.id, "",
                       escape_terminal(u.type), escape_terminal(u.name), yes_no(u.mofn), u.failures,
                       yes_no(u.two_fa));
    out.write(table.data(), static_cast<std::streamsize>(table.size()));
}

void print_hsm_info(std::ostream& out, std::string_view command, const server_report& r) {
    if (!r.outcome.ok()) {
        print_server_lines(out, command, {r});
        return;
    }
    fmt::print(out, "\t\t*** Server {} HSM Info ***\n\n", r.index);
    auto info = hsm_info_from(r.outcome.fields);
    if (!info) {
        fmt::print(out, "\t(the server's description is not readable)\n\n");
        return;
    }
    // A node's strings reach a terminal: escaped, so that no node (or
    // certificate) can move the cursor or retitle the window.
    auto line = [&](std::string_view label, const std::string& value) {
        fmt::print(out, "\t{:<22}:{}\n", label, escape_terminal(value));
    };
    line("Label", info->hsm_id);
    line("Model", info->model);
    line("Serial Number", info->serial_number);
    line("Cluster Id", info->cluster_id);
    line("State", info->state);
    line("Firmware", info->firmware);
    line("Users", fmt::format("{} of {}", info->users, info->max_users));
    line("Password KDF", info->kdf);
    line("Certificate", info->certificate_fingerprint);
    line("Audit head", info->audit_head);
    line("Peers", info->peers.empty() ? std::string("none configured")
                                      : fmt::format("{}", fmt::join(info->peers, ", ")));
    fmt::print(out, "\n");
}

void print_prepared(std::ostream& out, std::string_view command, const server_report& r,
                    bool color) {
    if (!r.outcome.ok()) {
        print_server_lines(out, command, {r}, color);
        return;
    }
    auto entries = prepared_entries_from(r.outcome.fields);
    fmt::print(out, "Prepared changes on {}: {}\n", server_label(r.index, r.name), entries.size());
    // A node's strings reach a terminal: escaped.
    for (const auto& e : entries)
        fmt::print(out, "  {}  {:<16} {:<32} by {:<32} resolves in {} s\n", escape_terminal(e.txid),
                   escape_terminal(e.change), escape_terminal(e.user), escape_terminal(e.actor),
                   (e.deadline_ms - unix_ms()) / 1000);
}

void print_phase_lines(std::ostream& out, std::string_view command,
                       const std::vector<phase_report>& reports, bool color) {
    std::vector<std::string> behind, unchanged;
    std::size_t committed = 0;
    for (const auto& r : reports) {
        auto label = server_label(r.index, r.name);
        auto why = fmt::format("{} ({})", outcome_code(r.outcome), outcome_message(r.outcome));
        if (r.result == phase_result::committed) ++committed;
        if (r.result == phase_result::aborted)
            fmt::print(out, "{} aborted on {}: nothing changed there\n", command, label);
        else
            print_server_lines(out, command, {{r.index, r.name, r.outcome}}, color);
        if (r.result == phase_result::refused)
            unchanged.push_back(fmt::format("{} refused: {}", label, why));
        if (r.result == phase_result::left_behind) {
            behind.push_back(fmt::format("{} was left behind: {}", label, why));
            unchanged.push_back(fmt::format("{} did not {}: {}", label, phase_name(r.phase), why));
        }
    }
    bool cut = interrupted(reports);
    if (committed == 0) {
        // Nothing changed anywhere: nothing diverged, nothing to repair. After
        // Ctrl-C the shell says what was cut off and what may linger.
        if (!unchanged.empty() && !cut)
            fmt::print(out, "No server was changed: {}.\n", fmt::join(unchanged, "; "));
    } else if (!behind.empty()) {
        fmt::print(out,
                   "Changed on {} of {} servers; {}. listUsers shows the difference, "
                   "syncUser repairs it.\n",
                   committed, reports.size(), fmt::join(behind, "; "));
    }
}

json phase_json(std::string_view command, const std::vector<phase_report>& reports) {
    json servers = json::array();
    bool ok = true;
    for (const auto& r : reports) {
        json s{{"index", r.index},
               {"name", r.name},
               {"phase", phase_name(r.phase)},
               {"outcome", phase_result_name(r.result)}};
        bool committed = r.result == phase_result::committed;
        ok = ok && committed;
        s["status"] = committed ? "success" : "error";
        if (!r.outcome.ok()) {
            s["code"] = outcome_code(r.outcome);
            s["message"] = outcome_message(r.outcome);
        } else if (!committed) {
            s["code"] = "ABORTED";
            s["message"] = "prepared, then aborted: nothing changed";
        }
        servers.push_back(std::move(s));
    }
    return json{{"command", command}, {"ok", ok}, {"servers", std::move(servers)}};
}

namespace {

// What a successful reply of `op` adds to its server's entry.
void add_reply(json& s, const server_outcome& o, std::optional<operation> op) {
    if (op == operation::list_users) {
        auto users = to_json(o.users); // one entry per user, in order
        for (std::size_t i = 0; i < o.users.size(); ++i)
            users[i]["locked"] = o.users[i].failures >= max_login_failures;
        s["users"] = std::move(users);
    }
    if (op == operation::hsm_info) {
        auto info = hsm_info_from(o.fields);
        s["info"] = info ? to_json(*info) : json();
    }
    if (op == operation::find_keys)
        if (auto found = found_keys_from(o.fields)) s.update(to_json(*found)); // keys, hash
    if (op == operation::get_key)
        if (auto k = key_summary_from(o.fields)) s["key"] = to_json(*k);
    // Quorum replies carry their node's m value or tokens as they are.
    if (op == operation::get_m_value || op == operation::get_token ||
        op == operation::approve_token || op == operation::list_tokens) {
        auto result = o.fields;
        result.erase("record");
        s["result"] = std::move(result);
    }
    if (op == operation::list_prepared)
        s.update(to_json(prepared_entries_from(o.fields))); // prepared
}

json server_document(const server_report& r, std::optional<operation> op,
                     const server_detail& detail) {
    json s{{"index", r.index}, {"name", r.name}};
    if (!r.outcome.ok()) {
        s["status"] = "error";
        s["code"] = outcome_code(r.outcome);
        s["message"] = outcome_message(r.outcome);
        return s;
    }
    s["status"] = "success";
    add_reply(s, r.outcome, op);
    if (detail) detail(s, r);
    return s;
}

json servers_json(const std::vector<server_report>& reports, std::optional<operation> op,
                  const server_detail& detail) {
    json servers = json::array();
    for (const auto& r : reports)
        servers.push_back(server_document(r, op, detail));
    return servers;
}

bool all_ok(const std::vector<server_report>& reports) {
    return std::ranges::all_of(reports, [](const auto& r) { return r.outcome.ok(); });
}

} // namespace

json result_json(std::string_view command, const std::vector<server_report>& reports,
                 const server_detail& detail) {
    return json{{"command", command},
                {"ok", all_ok(reports)},
                {"servers", servers_json(reports, std::nullopt, detail)}};
}

json result_json(std::string_view command, const std::vector<server_report>& reports,
                 std::optional<operation> op, json summary, json covered) {
    json doc{
        {"command", command}, {"ok", all_ok(reports)}, {"servers", servers_json(reports, op, {})}};
    if (!summary.is_null()) doc["summary"] = std::move(summary);
    if (!covered.is_null()) doc["covered"] = std::move(covered);
    return doc;
}

void print_json_line(std::ostream& out, const json& doc) {
    out << doc.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
}

} // namespace hsm
