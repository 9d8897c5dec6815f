// SPDX-License-Identifier: Apache-2.0
// Who approved the quorum token a protected change used: each officer's
// user id and the key its signature verified with. A prepared change keeps
// them, and its commit counts them again: an approver deleted, no longer an
// officer, or holding another key since, no longer counts.
#pragma once

#include "hsmsh/protocol/wire.hpp"
#include "hsmsh/sealing.hpp"

#include <cstdint>
#include <map>
#include <optional>

namespace hsm {

using approver_keys = std::map<std::int64_t, bytes>;

/// [{"id": n, "key": hex}, ...]
json approvers_to_json(const approver_keys& a);
/// Nullopt unless an array of at most `max_approvers` such objects with
/// distinct ids and keys of at most 1024 bytes.
std::optional<approver_keys> approvers_from_json(const json& j);

inline constexpr std::size_t max_approvers = 64;

} // namespace hsm
