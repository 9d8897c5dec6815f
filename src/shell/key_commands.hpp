// SPDX-License-Identifier: Apache-2.0
// The key commands: findAllKeys, getKeyInfo, listAttributes, getAttribute, shareKey, setAttribute,
// generateKey, importPem, destroyKey, syncKey. Handlers of the command table (command_table.cpp).
#pragma once

namespace hsm {

struct shell_context;
struct parsed_command;
enum class line_result;

line_result run_find_keys(shell_context& ctx, parsed_command& cmd);
line_result run_key_info(shell_context& ctx, parsed_command& cmd);
line_result run_list_attributes(shell_context& ctx, parsed_command& cmd);
line_result run_get_attribute(shell_context& ctx, parsed_command& cmd);
line_result run_share_key(shell_context& ctx, parsed_command& cmd);
line_result run_set_attribute(shell_context& ctx, parsed_command& cmd);
line_result run_generate_key(shell_context& ctx, parsed_command& cmd);
line_result run_import_pem(shell_context& ctx, parsed_command& cmd);
line_result run_wrap_key(shell_context& ctx, parsed_command& cmd);
line_result run_unwrap_key(shell_context& ctx, parsed_command& cmd);
line_result run_destroy_key(shell_context& ctx, parsed_command& cmd);
line_result run_sync_key(shell_context& ctx, parsed_command& cmd);

} // namespace hsm
