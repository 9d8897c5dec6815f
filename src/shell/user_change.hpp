// SPDX-License-Identifier: Apache-2.0
// The run every user change shares (createUser ... registerQuorumPubKey).
#pragma once

#include "command_line.hpp"
#include "hsmsh/protocol/wire.hpp"

namespace hsm {

struct shell_context;
enum class line_result;

/// A user change after its arguments: early refusal, the banner and y/n,
/// CMU's lead line and the two-phase run of `fields` (what the change
/// brings: a password, a key). Keeps the session's listing and logins in
/// step with what was committed.
line_result change_user(shell_context& ctx, const parsed_command& cmd, const named_user& user,
                        json fields);

} // namespace hsm
