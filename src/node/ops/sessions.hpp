// SPDX-License-Identifier: Apache-2.0
// Sessions and logins: a session bound to one user record and ended when
// that record changes; login, its second factor, logout; audit rows.
#pragma once

#include "hsmsh/secret.hpp"
#include "node_context.hpp"

#include <string_view>

namespace hsm {

/// The audit row of what `s` did (its user, or "-" before login).
audit_entry entry_for(const session& s, std::string_view what, std::string_view target,
                      status result);
void audit(node_context& n, const session& s, std::string_view what, std::string_view target,
           status result);
void bind(node_context& n, session& s, const user_record& u);
void end_login(node_context& n, session& s) noexcept;
bool current(node_context& n, session& s);
void settle_sessions(node_context& n, std::int64_t user_id, session* actor);
std::uint32_t login_cost(const node_context& n);
awaitable<status> login(node_context& n, session& s, login_request r, json& out);
void logged_in(node_context& n, session& s, const user_record& u, std::string_view what);
status login_2fa(node_context& n, session& s, const second_factor_request& r, json& out);
status get_2fa_challenge(node_context& n, session& s, const no_fields& r, json& out);
status logout(node_context& n, session& s, const no_fields& r, json& out);

} // namespace hsm
