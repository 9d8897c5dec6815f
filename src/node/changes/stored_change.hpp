// SPDX-License-Identifier: Apache-2.0
// A prepared row's change of any kind, read by the kind its stored form names.
#pragma once

#include "changes/key_change.hpp"
#include "changes/m_change.hpp"
#include "changes/planned_change.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace hsm {

/// The kinds of prepared change. Each has the same shape: `subject()` (the
/// prepared row's reservation), `kind_name()` (the "kind" its stored form
/// carries), `to_json()` (the stored form) and `actor_id`; the node's
/// operations give each a `plan_*`, a `rules_hold` and an `apply_committed`
/// overload (ops/), so that a commit is one std::visit.
using stored_change = std::variant<planned_change, key_change, m_change>;

/// The change a prepared row stores, by the kind its "kind" field names;
/// nullopt for a row that is not a well-formed change of that kind. Reads
/// every row an older node wrote.
std::optional<stored_change> read_stored_change(std::string_view text);

/// The kind's name, as list_prepared shows it.
std::string_view kind_name_of(const stored_change& c);
/// Who prepared it (the user's id on this node).
std::int64_t actor_of(const stored_change& c);

} // namespace hsm
