// SPDX-License-Identifier: Apache-2.0
// Quorum: m values, a session's tokens and their approval by registered
// officer keys, and the check every protected change passes.
#pragma once

#include "changes/m_change.hpp"
#include "changes/planned_change.hpp"
#include "hsmsh/protocol/quorum.hpp"
#include "node_context.hpp"

#include <optional>
#include <utility>

namespace hsm {

/// The quorum service that guards a user change, if one does.
std::optional<quorum::service> guarding(const planned_change& c);
bool still_approves(const node_context& n, std::int64_t officer, const bytes& key);
int valid_approvals(const node_context& n, const quorum_token& t);
int valid_approvals(const node_context& n, const approver_keys& a);
const quorum_token* best_token(const node_context& n, const session& s, quorum::service svc);
approver_keys approvals_for(const node_context& n, const session& s, quorum::service svc);
status quorum_holds(const node_context& n, quorum::service svc, const approver_keys& approvals);
void spend_token(node_context& n, const session& s, quorum::service svc);
status officer_may_leave(const node_context& n);
status get_m_value(node_context& n, session& s, const service_request& r, json& out);
std::pair<status, m_change> plan_m_change(node_context& n, session& s, const m_value_request& r);
status rules_hold(const node_context& n, const m_change& c);
/// set_m_value, applied at once.
status change_m_value(node_context& n, session& s, const m_value_request& r, json& out);
status get_token(node_context& n, session& s, const service_request& r, json& out);
status approve_token(node_context& n, session& s, const approve_token_request& r, json& out);
status list_tokens(node_context& n, session& s, const no_fields& r, json& out);
status delete_token(node_context& n, session& s, const delete_token_request& r, json& out);

} // namespace hsm
