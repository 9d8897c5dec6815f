// SPDX-License-Identifier: Apache-2.0
// listPrepared and abortPrepared: officers see and end the prepared changes
// that wait for a commit (a shell that died between the phases leaves some).
#include "hsmsh/duration.hpp"
#include "hsmsh/log.hpp"
#include "shell.hpp"

#include "cluster_link.hpp"

#include <chrono>

#include <fmt/format.h>
#include <fmt/ostream.h>

namespace hsm {
namespace {

std::int64_t seconds_until(std::int64_t deadline_ms) {
    return (deadline_ms - unix_ms()) / 1000;
}

// A node's numbers are checked like its strings: a hostile one cannot make
// the shell throw.
std::int64_t deadline_of(const json& row) {
    auto it = row.find("deadline_ms");
    return it != row.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

std::string text(const json& row, const char* key) {
    auto it = row.find(key);
    return it != row.end() && it->is_string() ? escape_terminal(it->get_ref<const std::string&>())
                                              : std::string("?");
}

} // namespace

line_result shell::list_prepared(parsed_command& cmd) {
    auto reports = fan_out(targets(), *cmd.spec->op, json::object());
    if (options_.json) {
        print_json(out_, cmd.spec->name, reports, cmd.spec->op);
    } else {
        for (const auto& r : reports) {
            if (!r.outcome.ok()) {
                print_server_lines(out_, cmd.spec->name, {r}, options_.color);
                continue;
            }
            auto rows = r.outcome.fields.value("prepared", json::array());
            fmt::print(out_, "Prepared changes on {}: {}\n", server_label(r.index, r.name),
                       rows.size());
            for (const auto& row : rows)
                fmt::print(out_, "  {}  {:<16} {:<32} by {:<32} resolves in {} s\n",
                           text(row, "txid"), text(row, "change"), text(row, "user"),
                           text(row, "actor"), seconds_until(deadline_of(row)));
        }
    }
    bool all_ok = std::ranges::all_of(reports, [](const auto& r) { return r.outcome.ok(); });
    return all_ok ? line_result::ok : line_result::failed;
}

line_result shell::abort_prepared(parsed_command& cmd) {
    const auto& txid = cmd.args[0];
    if (!valid_txid(txid))
        throw usage_error("a transaction id is 32 lower-case hex digits (see listPrepared)");
    auto where = targets();
    auto answer = confirm(*cmd.spec, where);
    if (answer != line_result::ok) return answer;
    return finish(cmd.spec->name, fan_out(where, *cmd.spec->op, json{{"txid", txid}}));
}

} // namespace hsm
