// SPDX-License-Identifier: Apache-2.0
// The quorum commands: registerQuorumPubKey, getMValue, setMValue, getToken, approveToken,
// listTokens, delToken, quorum status. Handlers of the command table (command_table.cpp).
#pragma once

namespace hsm {

struct shell_context;
struct parsed_command;
enum class line_result;

line_result run_register_quorum_key(shell_context& ctx, parsed_command& cmd);
line_result run_get_m_value(shell_context& ctx, parsed_command& cmd);
line_result run_set_m_value(shell_context& ctx, parsed_command& cmd);
line_result run_get_token(shell_context& ctx, parsed_command& cmd);
line_result run_approve_token(shell_context& ctx, parsed_command& cmd);
line_result run_list_tokens(shell_context& ctx, parsed_command& cmd);
line_result run_delete_token(shell_context& ctx, parsed_command& cmd);
line_result run_quorum_status(shell_context& ctx, parsed_command& cmd);

} // namespace hsm
