// SPDX-License-Identifier: Apache-2.0
// listPrepared and abortPrepared: officers see and end the prepared changes
// that wait for a commit (a shell that died between the phases leaves some).
#include "prepared_changes.hpp"

#include "render.hpp"
#include "shell_context.hpp"

#include "hsmsh/client/cluster_link.hpp"

namespace hsm {

line_result run_list_prepared(shell_context& ctx, parsed_command& cmd) {
    auto reports = ctx.cluster.fan_out(ctx.cluster.targets(), *cmd.spec->op, json::object());
    if (ctx.options.json) {
        ctx.output.emit(result_json(cmd.spec->name, reports, cmd.spec->op));
    } else {
        for (const auto& r : reports)
            print_prepared(ctx.output.out(), cmd.spec->name, r, ctx.options.color);
    }
    bool all_ok = std::ranges::all_of(reports, [](const auto& r) { return r.outcome.ok(); });
    return all_ok ? line_result::ok : line_result::failed;
}

line_result run_abort_prepared(shell_context& ctx, parsed_command& cmd) {
    const auto& txid = cmd.args[0];
    if (!valid_txid(txid))
        throw usage_error("a transaction id is 32 lower-case hex digits (see listPrepared)");
    auto where = ctx.cluster.targets();
    auto answer = ctx.changes.confirm(*cmd.spec, where);
    if (answer != line_result::ok) return answer;
    return ctx.output.finish(cmd.spec->name,
                             ctx.cluster.fan_out(where, *cmd.spec->op, json{{"txid", txid}}));
}

} // namespace hsm
