// SPDX-License-Identifier: Apache-2.0
// listPrepared and abortPrepared: officers see and end the prepared changes
// that wait for a commit (a shell that died between the phases leaves some).
#include "hsmsh/log.hpp"
#include "shell.hpp"

#include <chrono>

#include <fmt/format.h>
#include <fmt/ostream.h>

namespace hsm {
namespace {

std::int64_t seconds_until(std::int64_t deadline_ms) {
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    return (deadline_ms - now) / 1000;
}

std::string text(const json& row, const char* key) {
    auto it = row.find(key);
    return it != row.end() && it->is_string() ? escape_terminal(it->get_ref<const std::string&>())
                                              : std::string("?");
}

} // namespace

line_result shell::list_prepared() {
    auto reports = fan_out(targets(), operation::list_prepared, json::object());
    if (options_.json) {
        json servers = json::array();
        bool ok = true;
        for (const auto& r : reports) {
            json s{{"index", r.index}, {"name", r.name}};
            s["status"] = r.outcome.ok() ? "success" : "error";
            if (r.outcome.ok())
                s["prepared"] = r.outcome.fields.value("prepared", json::array());
            else
                s["code"] = outcome_code(r.outcome), ok = false;
            servers.push_back(std::move(s));
        }
        fmt::print(out_, "{}\n",
                   json{{"command", "listPrepared"}, {"ok", ok}, {"servers", servers}}.dump(
                       -1, ' ', false, json::error_handler_t::replace));
    } else {
        for (const auto& r : reports) {
            if (!r.outcome.ok()) {
                print_server_lines(out_, "listPrepared", {r}, options_.color);
                continue;
            }
            auto rows = r.outcome.fields.value("prepared", json::array());
            fmt::print(out_, "Prepared changes on {}: {}\n", server_label(r.index, r.name),
                       rows.size());
            for (const auto& row : rows)
                fmt::print(out_, "  {}  {:<16} {:<32} by {:<32} resolves in {} s\n",
                           text(row, "txid"), text(row, "change"), text(row, "user"),
                           text(row, "actor"), seconds_until(row.value("deadline_ms", 0LL)));
        }
    }
    bool all_ok = std::ranges::all_of(reports, [](const auto& r) { return r.outcome.ok(); });
    return all_ok ? line_result::ok : line_result::failed;
}

line_result shell::abort_prepared(const parsed_command& cmd) {
    const auto& txid = cmd.args[0];
    if (txid.size() != 32 || txid.find_first_not_of("0123456789abcdef") != std::string::npos)
        throw usage_error("a transaction id is 32 lower-case hex digits (see listPrepared)");
    auto where = targets();
    auto answer = confirm(cmd.spec->name, where);
    if (answer != line_result::ok) return answer;
    return finish("abortPrepared", fan_out(where, operation::abort, json{{"txid", txid}}));
}

} // namespace hsm
