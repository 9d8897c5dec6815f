// SPDX-License-Identifier: Apache-2.0
// listPrepared and abortPrepared: officers see and end the prepared changes that wait for a commit.
// Handlers of the command table (command_table.cpp).
#pragma once

namespace hsm {

struct shell_context;
struct parsed_command;
enum class line_result;

line_result run_list_prepared(shell_context& ctx, parsed_command& cmd);
line_result run_abort_prepared(shell_context& ctx, parsed_command& cmd);

} // namespace hsm
