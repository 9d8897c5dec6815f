// SPDX-License-Identifier: Apache-2.0
// Quorum: m values, a session's tokens and their approval by registered
// officer keys, and the check every protected change passes.
#pragma once

#include "hsmsh/quorum.hpp"
#include "m_change.hpp"
#include "node_context.hpp"
#include "planned_change.hpp"

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
status get_m_value(node_context& n, const json& f, json& out);
std::pair<status, m_change> plan_m_change(node_context& n, session& s, const json& f);
status m_rules_hold(const node_context& n, const m_change& c);
status direct_m_change(node_context& n, session& s, const json& f);
status get_token(node_context& n, session& s, const json& f, json& out);
status approve_token(node_context& n, session& s, const json& f, json& out);
status list_tokens(node_context& n, session& s, json& out);
status delete_token(node_context& n, session& s, const json& f, json& out);

} // namespace hsm
