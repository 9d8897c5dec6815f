// SPDX-License-Identifier: Apache-2.0
// Who may run which operation (CMU's permission matrix, docs/design.md, "What a node enforces").
#pragma once

#include "hsmsh/protocol/status.hpp"
#include "hsmsh/protocol/user_rules.hpp"
#include "hsmsh/protocol/wire.hpp"

#include <optional>

namespace hsm {

/// Whether `actor` (nullopt: not logged in) may run `op`; `on_self` says the
/// target is the actor. Returns ok, not_logged_in or permission_denied.
status authorize(std::optional<user_type> actor, operation op, bool on_self) noexcept;

} // namespace hsm
