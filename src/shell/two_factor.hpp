// SPDX-License-Identifier: Apache-2.0
// Two-factor login in the shell: the authdata round (the nodes' challenges
// written to the officer's file, a wait while the officer signs them, the
// signatures read back) for loginHSM's second step, and for createUser and
// changePswd turning 2FA on (docs/design.md, "Two-factor login").
#pragma once

#include "authdata.hpp"
#include "command_line.hpp"
#include "hsmsh/outcome.hpp"
#include "hsmsh/second_factor.hpp"

#include <optional>
#include <string>
#include <vector>

namespace hsm {

struct shell_context;
enum class line_result;

/// Writes the digests to sign for `challenges` (replies with hsm_id and
/// challenge) to the command's -2fa file, waits for the officer, and
/// reads the signatures (and with `wants_key` the public key) back. The
/// shell computes every Digest itself (second_factor_digest: `purpose`,
/// the server's HSM id, `user`, its challenge, this connection's
/// binding): a server never chooses what the officer signs. Nullopt,
/// with `failure` set, when it cannot go on; a bad file is a usage error.
std::optional<authdata_answer> authdata_round(shell_context& ctx, const parsed_command& cmd,
                                              const std::vector<server_report>& challenges,
                                              second_factor_purpose purpose,
                                              const std::string& user, line_result& failure);
/// loginHSM's second step on the servers that asked for it.
line_result second_login_step(shell_context& ctx, const parsed_command& cmd,
                              std::vector<server_report>& reports);
/// The "two_fa" fields of createUser/changePswd -2fa: key and signatures.
std::optional<json> enrollment_proof(shell_context& ctx, const parsed_command& cmd,
                                     const std::vector<std::size_t>& where, line_result& failure);
/// Whether any server of `where` lists `name` with two-factor login on.
bool has_second_factor(shell_context& ctx, const std::string& name,
                       const std::vector<std::size_t>& where);

} // namespace hsm
