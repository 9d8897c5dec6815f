// SPDX-License-Identifier: Apache-2.0
// The commands that change users: createUser, deleteUser, changePswd, setKeyQuota, syncUser.
// Handlers of the command table (command_table.cpp).
#pragma once

namespace hsm {

struct shell_context;
struct parsed_command;
enum class line_result;

/// createUser, deleteUser, changePswd.
line_result run_user_change(shell_context& ctx, parsed_command& cmd);
/// setKeyQuota <user> <keys | default>.
line_result run_set_key_quota(shell_context& ctx, parsed_command& cmd);
/// syncUser <user> <server> (server mode) or syncUser <user> --all.
line_result run_sync_user(shell_context& ctx, parsed_command& cmd);

} // namespace hsm
