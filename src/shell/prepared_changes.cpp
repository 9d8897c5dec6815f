// SPDX-License-Identifier: Apache-2.0
// listPrepared and abortPrepared: officers see and end the prepared changes
// that wait for a commit (a shell that died between the phases leaves some).
#include "shell.hpp"

#include "hsmsh/cluster_link.hpp"

namespace hsm {

line_result shell::list_prepared(parsed_command& cmd) {
    auto reports = fan_out(targets(), *cmd.spec->op, json::object());
    if (options_.json) {
        emit(result_json(cmd.spec->name, reports, cmd.spec->op));
    } else {
        for (const auto& r : reports)
            print_prepared(out_, cmd.spec->name, r, options_.color);
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
