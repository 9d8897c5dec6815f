// SPDX-License-Identifier: Apache-2.0
// The commands that look at the cluster and its connections: listUsers, getHSMInfo, info server,
// listClusters, useCluster, enable_e2e, getCert. Handlers of the command table (command_table.cpp).
#pragma once

namespace hsm {

struct shell_context;
struct parsed_command;
enum class line_result;

/// listUsers and getHSMInfo: every server's answer, and where they differ.
line_result run_query(shell_context& ctx, parsed_command& cmd);
/// info server N: a server's connection and login.
line_result run_info(shell_context& ctx, parsed_command& cmd);
/// listClusters: the clusters of the configuration.
line_result run_list_clusters(shell_context& ctx, parsed_command& cmd);
/// useCluster <id>: opens another cluster of the configuration.
line_result run_use_cluster(shell_context& ctx, parsed_command& cmd);
/// enable_e2e: CMU's, a no-op here (every connection is end-to-end).
line_result run_enable_e2e(shell_context& ctx, parsed_command& cmd);
/// getCert: the servers' certificates, or CMU's form writing one to a file.
line_result run_get_cert(shell_context& ctx, parsed_command& cmd);

} // namespace hsm
