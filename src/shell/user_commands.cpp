// SPDX-License-Identifier: Apache-2.0
// The commands that change users (createUser, deleteUser, changePswd,
// setKeyQuota) and the run every user change shares.
#include "user_commands.hpp"

#include "shell_context.hpp"
#include "two_factor.hpp"
#include "user_change.hpp"

#include "hsmsh/client/cluster_link.hpp"
#include "hsmsh/hex.hpp"
#include "hsmsh/kdf.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/protocol/keys.hpp"
#include "hsmsh/protocol/policy.hpp"
#include "terminal_input.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <fmt/ranges.h>

namespace hsm {
namespace {

// CMU's line before a user change's results, from the command's table entry.
std::string lead_line(const command_spec& spec, const named_user& u, std::size_t nodes) {
    return fmt::format(fmt::runtime(spec.lead),
                       fmt::format("{}({})", u.name, user_type_name(u.type)), nodes);
}

// CloudHSM's rule: a new password without -2fa ends a user's second
// factor, and the key it answered with (which also approved tokens). The
// banner says so.
std::string second_factor_note(shell_context& ctx, const parsed_command& cmd,
                               const named_user& user, const std::vector<std::size_t>& where) {
    if (*cmd.spec->op != operation::change_password || cmd.two_factor_file ||
        !is_officer(user.type) || !has_second_factor(ctx, user.name, where))
        return {};
    return fmt::format("{} logs in with two-factor authentication: without -2fa this change\n"
                       "turns it off and removes {}'s quorum key.\n",
                       user.name, user.name);
}

} // namespace

line_result run_user_change(shell_context& ctx, parsed_command& cmd) {
    auto user = user_arguments(cmd);
    if (cmd.two_factor_file && !is_officer(user.type))
        throw usage_error("-2fa: only crypto officers (CO) log in with a second factor");
    line_result failure = line_result::failed;
    std::optional<secret> password;
    if (cmd.spec->password_arg >= 0) {
        password = ctx.changes.obtain_password(cmd, failure);
        if (!password) return failure;
        if (!valid_password(password->view()))
            throw usage_error(std::string(status_description(status::password_policy)));
    }
    json fields = json::object();
    // The node ends the user's sessions with the change, instead of
    // refusing it while the user is logged in (an officer revoking a user).
    if (cmd.revoke) fields["revoke"] = true;
    if (password) {
        fields["password"] = std::string(password->view());
        // One salt for every node: the same credentials everywhere (see record digests).
        fields["salt"] = random_hex(salt_size);
    }
    return change_user(ctx, cmd, user, std::move(fields));
}

// setKeyQuota <user> <keys | default>: how many keys a crypto user may own
// on each node, set on every node or none. User management: under quorum it
// needs an approved service-3 token, as createUser does.
line_result run_set_key_quota(shell_context& ctx, parsed_command& cmd) {
    const auto& name = cmd.args.at(0);
    if (!valid_user_name(name))
        throw usage_error(std::string(status_description(status::invalid_user_name)));
    const auto& text = cmd.args.at(1);
    json quota; // null: the node's default
    if (text != "default") {
        auto n = parse_number(text);
        if (!n || *n > std::int64_t{max_keys_per_node})
            throw usage_error(fmt::format("keys: a number from 0 to {} (a node holds no more), "
                                          "or 'default' (the node's --key-quota), not '{}'",
                                          max_keys_per_node, text));
        quota = *n;
    }
    return change_user(ctx, cmd, {user_type::cu, canonical_user_name(name)},
                       json{{"key_quota", std::move(quota)}});
}

line_result change_user(shell_context& ctx, const parsed_command& cmd, const named_user& user,
                        json fields) {
    auto where = ctx.cluster.targets();
    if (ctx.changes.none_connected(*cmd.spec, where)) return line_result::failed;
    if (ctx.changes.refused_early(*cmd.spec, user.name, where) ||
        ctx.changes.refused_by_quorum(*cmd.spec, user.name, where))
        return ctx.changes.refused(*cmd.spec);
    auto answer =
        ctx.changes.confirm_change(*cmd.spec, where, second_factor_note(ctx, cmd, user, where));
    if (answer != line_result::ok) return answer;
    if (cmd.two_factor_file) {
        line_result failure = line_result::failed;
        auto proof = enrollment_proof(ctx, cmd, where, failure);
        if (!proof) return failure;
        fields["two_fa"] = std::move(*proof);
    }
    if (!ctx.options.json && !cmd.spec->lead.empty())
        fmt::print(ctx.output.out(), "{}\n", lead_line(*cmd.spec, user, ctx.cluster.live(where)));
    fields["type"] = user_type_name(user.type);
    fields["name"] = user.name;
    fields["change"] = operation_name(*cmd.spec->op);
    std::vector<phase_report> reports;
    auto result = ctx.changes.run_prepared(cmd.spec->name, where, std::move(fields), &reports);
    ctx.session.note_committed(*cmd.spec->op, user.type, user.name, reports);
    if (result == line_result::ok) ctx.session.note_activation(cmd, where);
    return result;
}

} // namespace hsm
