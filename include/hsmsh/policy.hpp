// SPDX-License-Identifier: Apache-2.0
// Who may run which operation (CMU's permission matrix, docs/design.md, "What a node enforces").
#pragma once

#include "hsmsh/status.hpp"
#include "hsmsh/user_rules.hpp"
#include "hsmsh/wire.hpp"

#include <optional>

namespace hsm {

/// Whether `actor` (nullopt: not logged in) may run `op`; `on_self` says the
/// target is the actor. Returns ok, not_logged_in or permission_denied.
status authorize(std::optional<user_type> actor, operation op, bool on_self) noexcept;

} // namespace hsm
