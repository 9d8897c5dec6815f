// SPDX-License-Identifier: Apache-2.0
// Two-phase changes: a change of any kind prepared (its rules checked, its
// row recorded), committed with its rules checked again, or aborted; asked
// about by peers resolving it (docs/design.md, "Two-phase changes").
#pragma once

#include "changes/stored_change.hpp"
#include "hsmsh/secret.hpp"
#include "node_context.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace hsm {

/// Commits (or aborts) a prepared change; see node_service::finish_tx.
/// `decided`: a peer committed this very change, so its actor's own change
/// since (a new password) does not undo it here.
status finish_change(node_context& n, session& s, const std::string& txid, bool commit,
                     std::optional<std::int64_t> holders = std::nullopt, bool decided = false);
/// A client's commit or abort; see node_service::commit_from_client.
awaitable<status> commit_asked(node_context& n, session& s, const std::string& txid, bool commit);
/// "committed", "aborted", "prepared" or "unknown".
std::string outcome_of(const node_context& n, const std::string& txid);

awaitable<status> prepare(node_context& n, session& s, prepare_request r, json& out);
status record_prepared(node_context& n, session& s, const std::string& txid,
                       const std::string& subject, const json& change, std::string_view what,
                       std::string_view target, status verdict,
                       const std::function<void()>& also = {});
status may_finish(node_context& n, session& s, operation op, const std::optional<stored_change>& c);
/// commit or abort (by r.op).
awaitable<status> finish_from(node_context& n, session& s, transaction_request r, json& out);
status tx_status(node_context& n, session& s, const transaction_request& r, json& out);
status change_rules_hold(const node_context& n, const stored_change& c, bool decided = false);
void apply_change(node_context& n, const stored_change& c, session& s);
/// Each kind's commit, once its rules held (`s` asked for it).
void apply_committed(node_context& n, const planned_change& c, session& s);
void apply_committed(node_context& n, const key_change& c, session& s);
void apply_committed(node_context& n, const m_change& c, session& s);
status prepare_m_change(node_context& n, session& s, const m_value_request& r,
                        const std::string& txid);
status prepare_key_change(node_context& n, session& s, key_change::kind kind,
                          const key_change_request& r, const std::string& txid);
bool counted_across_nodes(const key_change& c) noexcept;
std::size_t holders_needed(const node_context& n, const key_change& c);
std::string change_identity(const node_context& n, const key_change& c);
/// A committed insertion's identity, from the keys it left (`handles`).
std::optional<std::string> committed_identity(const node_context& n,
                                              const std::vector<std::int64_t>& handles);
status available_enough(const node_context& n, const stored_change& c,
                        std::optional<std::int64_t> holders);
status list_prepared(node_context& n, session& s, const no_fields& r, json& out);

} // namespace hsm
