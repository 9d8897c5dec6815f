// SPDX-License-Identifier: Apache-2.0
// The commands of the session itself: loginHSM, logoutHSM, server mode,
// help, quit.
#include "session_commands.hpp"

#include "columns.hpp"
#include "hsmsh/client/cluster_link.hpp"
#include "render.hpp"
#include "shell_context.hpp"
#include "terminal_input.hpp"
#include "two_factor.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ostream.h>

namespace hsm {

line_result run_login(shell_context& ctx, parsed_command& cmd) {
    auto user = user_arguments(cmd);
    line_result failure = line_result::failed;
    auto password = ctx.changes.obtain_password(cmd, failure);
    if (!password) return failure;
    // Where this very login is still held (another node restarted and took
    // only its own login along), logging in again is a no-op, not a failure.
    std::vector<std::size_t> held, send;
    for (auto i : ctx.cluster.targets()) {
        const auto& l = ctx.session.logins[i];
        bool same =
            l && ctx.cluster.link().connected(i) && l->name == user.name && l->type == user.type;
        (same ? held : send).push_back(i);
    }
    json fields{{"type", user_type_name(user.type)},
                {"name", user.name},
                {"password", std::string(password->view())}};
    auto reports = ctx.cluster.fan_out(send, operation::login, std::move(fields));
    if (auto step = second_login_step(ctx, cmd, reports); step != line_result::ok) return step;
    std::vector<std::size_t> logged_in;
    for (const auto& r : reports)
        if (r.outcome.ok()) {
            ctx.session.logins[r.index] = login_state{user.name, user.type};
            logged_in.push_back(r.index);
        }
    if (is_officer(user.type)) ctx.changes.note_quorum(logged_in);
    server_outcome still_held;
    still_held.what = server_outcome::kind::replied; // status ok: logged in there
    for (auto i : held)
        reports.push_back({i, ctx.cluster.link().server(i).name, still_held});
    std::ranges::sort(reports, {}, &server_report::index);
    auto result = ctx.output.finish(cmd.spec->name, reports);
    if (!held.empty() && !ctx.options.json && !ctx.options.cmu_mode)
        fmt::print(ctx.output.info(),
                   "{}({}) was still logged in on {} of {} servers: nothing sent there\n",
                   user.name, user_type_name(user.type), held.size(), reports.size());
    return result;
}

line_result run_logout(shell_context& ctx, parsed_command& cmd) {
    auto reports = ctx.cluster.fan_out(ctx.cluster.targets(), operation::logout, json::object());
    for (const auto& r : reports)
        if (r.outcome.ok()) ctx.session.logins[r.index].reset();
    return ctx.output.finish(cmd.spec->name, reports);
}

line_result run_exit(shell_context& ctx, parsed_command&) {
    ctx.session.server_mode.reset();
    return line_result::ok;
}

line_result run_quit(shell_context&, parsed_command&) {
    return line_result::quit;
}

line_result run_server(shell_context& ctx, parsed_command& cmd) {
    auto index = parse_server_number(cmd.args.at(0), ctx.cluster.link().size());
    if (!index)
        throw usage_error(fmt::format("no server {}: servers are 0 to {}", cmd.args.at(0),
                                      ctx.cluster.link().size() - 1));
    ctx.session.server_mode = *index;
    fmt::print(ctx.output.info(), "Server is in 'E2' mode...\n");
    return line_result::ok;
}

line_result run_help(shell_context& ctx, parsed_command& cmd) {
    if (cmd.args.empty()) {
        fmt::print(ctx.output.out(), "Commands (a unique prefix is enough):\n\n");
        // The summaries in one column, beside the longest name, wrapped to the terminal.
        std::size_t indent = 0;
        for (const auto& c : command_table())
            indent = std::max(indent, c.name.size());
        auto width = terminal_width();
        for (const auto& c : command_table())
            ctx.output.out() << term_and_text(fmt::format("  {}", c.name), c.summary, indent + 4,
                                              width);
        fmt::print(ctx.output.out(), "\nhelp <command> shows its syntax.\n");
        return line_result::ok;
    }
    auto found = find_command(cmd.args.front());
    if (!found.spec) throw usage_error(fmt::format("no help for '{}'", cmd.args.front()));
    const auto& c = *found.spec;
    fmt::print(ctx.output.out(), "{}\n\n{}\n\nWho: {}\nConfirmation: {}\n", c.synopsis, c.summary,
               c.who, c.critical ? "yes (y/n, or -y)" : "no");
    if (c.password_arg >= 0)
        fmt::print(ctx.output.out(), "Password: omit it or give -hpswd to be asked without echo\n");
    if (!c.example.empty()) {
        fmt::print(ctx.output.out(), "\nExample:\n");
        std::string_view rest = c.example;
        while (!rest.empty()) {
            auto end = std::min(rest.find('\n'), rest.size());
            fmt::print(ctx.output.out(), "  {}\n", rest.substr(0, end));
            rest.remove_prefix(std::min(end + 1, rest.size()));
        }
    }
    return line_result::ok;
}

} // namespace hsm
