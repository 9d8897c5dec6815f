// SPDX-License-Identifier: Apache-2.0
// syncUser: repairing divergence by copying a user's stored record (its
// salted hash, never a password) through prepare/commit.
#include "user_commands.hpp"

#include "render.hpp"
#include "shell_context.hpp"

#include "divergence.hpp"
#include "hsmsh/client/cluster_link.hpp"
#include "hsmsh/protocol/changes.hpp"
#include "hsmsh/protocol/replies.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

namespace hsm {
namespace {

// The sealed record a server sent, when it answered with one that reads.
std::optional<sealed_user> record_of(const server_report& r) {
    if (!r.outcome.ok()) return std::nullopt;
    return user_record_from(r.outcome.fields).record;
}

// The server with the newest readable record, and that record.
std::pair<const server_report*, std::optional<sealed_user>>
newest_of(const std::vector<server_report>& records) {
    const server_report* newest = nullptr;
    std::optional<sealed_user> newest_record;
    for (const auto& r : records) {
        auto record = record_of(r);
        if (record && (!newest_record || record->version > newest_record->version)) {
            newest = &r;
            newest_record = std::move(record);
        }
    }
    return {newest, std::move(newest_record)};
}

// The servers whose record differs from `newest`'s, or that lack the user.
std::vector<std::size_t> behind_of(const std::vector<server_report>& records,
                                   const server_report& newest) {
    std::vector<std::size_t> behind;
    for (const auto& r : records) {
        bool same = r.outcome.ok() && user_record_from(r.outcome.fields).digest ==
                                          user_record_from(newest.outcome.fields).digest;
        bool missing = r.outcome.what == server_outcome::kind::replied &&
                       r.outcome.code == status::user_not_found;
        if (!same && (r.outcome.ok() || missing)) behind.push_back(r.index);
    }
    return behind;
}

line_result partial_sync(shell_context& ctx, const command_spec& spec, const std::string& name,
                         const std::vector<server_report>& records,
                         const std::vector<server_report>& blind) {
    if (ctx.options.json && !records.empty()) ctx.output.emit(result_json(spec.name, records));
    fmt::print(ctx.output.info(),
               "{}: partial: could not look at {} on {}. Once it answers (loginHSM there if "
               "its login was lost), {} {} --all looks again.\n",
               spec.name, name, describe_unasked(blind), spec.name, name);
    return line_result::failed;
}

line_result sync_to(shell_context& ctx, const command_spec& spec, const std::string& user,
                    std::size_t destination, bool force) {
    auto source = *ctx.session.server_mode;
    std::string name = user;
    if (user.find_first_not_of("0123456789") == std::string::npos) {
        // CMU names the user by its id on the current server.
        auto listed = ctx.cluster.fan_out({source}, operation::list_users, json::object());
        name.clear();
        for (const auto& u : listed[0].outcome.users)
            if (std::to_string(u.id) == user) name = u.name;
        if (name.empty()) {
            fmt::print(ctx.output.err(), "{}: no user with id {} on {}\n", spec.name, user,
                       server_label(source, ctx.cluster.link().server(source).name));
            return line_result::failed;
        }
    } else if (!valid_user_name(user)) {
        throw usage_error(std::string(status_description(status::invalid_user_name)));
    }
    auto got = ctx.cluster.fan_out({source}, *spec.op, json{{"name", name}});
    auto record = record_of(got[0]);
    if (!record && got[0].outcome.ok()) {
        fmt::print(ctx.output.err(), "{}: {} sent no readable record of {}\n", spec.name,
                   server_label(source, ctx.cluster.link().server(source).name), name);
        return line_result::failed;
    }
    if (!record) return ctx.output.finish(spec.name, got);
    if (!ctx.cluster.link().connected(destination)) ctx.cluster.targets(); // reconnect a lost one
    auto answer = ctx.changes.confirm(spec, {destination});
    if (answer != line_result::ok) return answer;
    return ctx.changes.run_prepared(spec.name, {destination}, to_fields(user_sync{*record, force}));
}

line_result sync_all(shell_context& ctx, const command_spec& spec, const std::string& name,
                     bool force) {
    auto where = ctx.cluster.targets();
    auto records = ctx.cluster.fan_out(where, *spec.op, json{{"name", name}});
    auto [newest, newest_record] = newest_of(records);
    if (!newest) {
        fmt::print(ctx.output.err(), "{}: no server holds user {} (or you may not read it)\n",
                   spec.name, name);
        return ctx.output.finish(spec.name, records);
    }
    auto behind = behind_of(records, *newest);
    // A server that could not be asked (no answer, a lost login) may lack
    // the user or hold an older record: the result is partial, never "the same".
    auto blind = unasked(records, status::user_not_found);
    if (behind.empty()) {
        if (blind.empty()) {
            fmt::print(ctx.output.out(), "{}: {} is the same on every server; nothing to do\n",
                       spec.name, name);
            return line_result::ok;
        }
        fmt::print(ctx.output.info(),
                   "{}: {} is the same on the {} servers that answered; nothing was "
                   "changed.\n",
                   spec.name, name, records.size() - blind.size());
        return partial_sync(ctx, spec, name, records, blind);
    }
    if (ctx.changes.refused_by_quorum(spec, name, behind)) return ctx.changes.refused(spec);
    fmt::print(ctx.output.info(), "The newest record of {} is on {}.\n", name,
               server_label(newest->index, newest->name));
    auto answer = ctx.changes.confirm(spec, behind);
    if (answer != line_result::ok) return answer;
    auto result =
        ctx.changes.run_prepared(spec.name, behind, to_fields(user_sync{*newest_record, force}));
    return blind.empty() ? result : partial_sync(ctx, spec, name, {}, blind);
}

} // namespace

line_result run_sync_user(shell_context& ctx, parsed_command& cmd) {
    bool force = cmd.args.size() == 3;
    if (force && cmd.args[2] != "--force")
        throw usage_error(fmt::format("usage: {}", cmd.spec->synopsis));
    if (cmd.args[1] == "--all") {
        if (ctx.session.server_mode)
            throw usage_error(
                fmt::format("{} ... --all works in global mode: exit first", cmd.spec->name));
        if (!valid_user_name(cmd.args[0])) throw usage_error("--all takes a user name");
        return sync_all(ctx, *cmd.spec, canonical_user_name(cmd.args[0]), force);
    }
    if (!ctx.session.server_mode)
        throw usage_error(fmt::format("{0} <user> <server> works in server mode (server N), as in "
                                      "CMU; {0} <user-name> --all works here",
                                      cmd.spec->name));
    auto destination = parse_server_number(cmd.args[1], ctx.cluster.link().size());
    if (!destination || *destination == *ctx.session.server_mode)
        throw usage_error(fmt::format("no other server {}", cmd.args[1]));
    return sync_to(ctx, *cmd.spec, cmd.args[0], *destination, force);
}

} // namespace hsm
