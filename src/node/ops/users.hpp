// SPDX-License-Identifier: Apache-2.0
// Users: changes planned for the session's user, checked against the rules,
// then applied at once or prepared for a cluster-wide commit that checks the
// rules again (docs/design.md, "Two-phase changes"); a user's sealed record.
#pragma once

#include "changes/planned_change.hpp"
#include "hsmsh/secret.hpp"
#include "node_context.hpp"

#include <string>
#include <string_view>
#include <utility>

namespace hsm {

/// Every rule a change depends on, against the state as it is now: run when
/// the change is planned and again when a prepared change commits.
status rules_hold(const node_context& n, const planned_change& c);
/// Whether c's quorum key is no other user's than `user_id`'s.
status quorum_key_free(const node_context& n, const planned_change& c, std::int64_t user_id);
status record_rules(const node_context& n, const planned_change& c, const user_record* existing);
/// A user change planned for the session's user and checked against the
/// rules; applied at once (direct) or recorded for a later commit
/// (prepare), where the rules are checked again.
awaitable<std::pair<status, planned_change>> plan(node_context& n, session& s,
                                                  const user_change_request& r);
std::string record_context(const node_context& n, std::string_view name, std::int64_t version);
std::pair<status, planned_change> plan_sync(node_context& n, session& s,
                                            const user_sync_request& r);
void apply_user_change(node_context& n, const planned_change& c);
/// A user change applied at once (createUser, deleteUser, changePswd,
/// registerQuorumPubKey, setKeyQuota on one node).
awaitable<status> change_user(node_context& n, session& s, user_change_request r, json& out);
status get_user(node_context& n, session& s, const user_named& r, json& out);
std::string digest_of(const node_context& n, const user_record& u);
status list_users(node_context& n, session& s, const no_fields& r, json& out);

} // namespace hsm
