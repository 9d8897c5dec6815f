// SPDX-License-Identifier: Apache-2.0
// The commands of the session itself: logging in and out, server mode, help, quitting. Handlers of
// the command table (command_table.cpp).
#pragma once

namespace hsm {

struct shell_context;
struct parsed_command;
enum class line_result;

/// loginHSM: logs in on every server addressed (a login still held is kept).
line_result run_login(shell_context& ctx, parsed_command& cmd);
/// logoutHSM.
line_result run_logout(shell_context& ctx, parsed_command& cmd);
/// server N: server mode, commands go to server N alone.
line_result run_server(shell_context& ctx, parsed_command& cmd);
/// exit: leaves server mode.
line_result run_exit(shell_context& ctx, parsed_command& cmd);
/// quit.
line_result run_quit(shell_context& ctx, parsed_command& cmd);
/// help [<command>].
line_result run_help(shell_context& ctx, parsed_command& cmd);

} // namespace hsm
