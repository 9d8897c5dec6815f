// SPDX-License-Identifier: Apache-2.0
// The rules of a user change, against the node's state as it is now: run
// when the change is planned and again when a prepared change commits
// (docs/design.md, "Two-phase changes").
#include "hsmsh/protocol/policy.hpp"
#include "hsmsh/protocol/quorum.hpp"
#include "ops/quorum.hpp"
#include "ops/sessions.hpp"
#include "ops/users.hpp"
#include "quorum/quorum_key.hpp"
#include "request_fields.hpp"

namespace hsm {
namespace {

// The permission a change needs: a sync writes a whole record, as a create does.
operation permission_of(planned_change::kind k) {
    using enum planned_change::kind;
    if (k == delete_user) return operation::delete_user;
    if (k == change_password) return operation::change_password;
    if (k == register_quorum_key) return operation::register_quorum_key;
    if (k == set_key_quota) return operation::set_key_quota;
    return operation::create_user;
}

bool same_credentials(const password_hash& a, const password_hash& b) {
    return a.salt == b.salt && a.key == b.key && a.iterations == b.iterations;
}

// A new user: of a type one creates, a name nobody has, room on the node.
status new_user_rules(const node_context& n, const planned_change& c,
                      const std::optional<user_record>& user) {
    if (c.type == user_type::preco) return status::invalid_user_type;
    if (user) return status::user_exists;
    if (n.store.users().count() + n.store.users().count_reserved_new() >= max_users_per_node)
        return status::quota_exceeded;
    return status::ok;
}

// The rules of each kind of change, beyond those every change follows.
status kind_rules(const node_context& n, const planned_change& c,
                  const std::optional<user_record>& user, bool self) {
    using enum planned_change::kind;
    switch (c.what) {
    case create_user:
        return new_user_rules(n, c, user);
    case delete_user:
        if (!user) return status::user_not_found;
        if (n.sessions.count(user->id) > 0 && !c.revoke) return status::user_logged_in;
        if (n.store.keys().owns_any(user->id)) return status::user_owns_keys;
        return is_officer(user->type) ? officer_may_leave(n) : status::ok;
    case change_password:
        if (!user) return status::user_not_found;
        // A crypto or appliance user's password rotates while its
        // applications run: their sessions end with the change (their next
        // call is RET_NOT_LOGGED_IN, and they log in with the new one). An
        // officer's logged-in sessions are ended only with -revoke.
        if (!self && is_officer(user->type) && n.sessions.count(user->id) > 0 && !c.revoke)
            return status::user_logged_in;
        return status::ok;
    case register_quorum_key:
        if (!user) return status::user_not_found;
        if (!is_officer(user->type)) return status::invalid_user_type;
        if (!quorum_key::from_der(c.quorum_key)) return status::quorum_key_invalid;
        // A 2FA user's key is its login's: only changePswd -2fa changes it.
        if (user->two_fa) return status::two_factor_invalid;
        return quorum_key_free(n, c, user->id);
    case set_key_quota:
        // Crypto users own keys: a quota on anyone else would mean nothing.
        if (!user) return status::user_not_found;
        if (user->type != user_type::cu) return status::invalid_user_type;
        return status::ok;
    case sync_user:
        return record_rules(n, c, user ? &*user : nullptr);
    case nothing:
        break;
    }
    return status::ok;
}

} // namespace

// Every rule a change depends on, against the state as it is now: run when
// the change is planned and again when a prepared change commits.
status rules_hold(const node_context& n, const planned_change& c) {
    using enum planned_change::kind;
    auto actor = n.store.users().find_id(c.actor_id);
    if (!actor || actor->generation != c.actor_generation || actor->type != c.actor_type)
        return status::not_logged_in; // the user who asked is gone or changed
    auto user = n.store.users().find(c.name);
    bool self = user && user->id == c.actor_id;
    if (auto a = authorize(c.actor_type, permission_of(c.what), self); a != status::ok) return a;
    if (c.what == nothing) return status::ok;
    if (auto svc = guarding(c))
        if (auto q = quorum_holds(n, *svc, c.approvals); q != status::ok) return q;
    if (c.what != change_password && n.store.meta().state() != cluster_state::active)
        return status::cluster_not_active;
    if (c.target_id != 0 &&
        (!user || user->id != c.target_id || user->generation != c.target_generation))
        return status::conflict; // not the record the change was planned for
    if (c.two_fa == planned_change::second_factor::on) {
        // Only officers log in with a second factor; its key is theirs alone.
        if (!is_officer(c.type)) return status::invalid_user_type;
        if (!quorum_key::from_der(c.quorum_key)) return status::quorum_key_invalid;
        if (auto free = quorum_key_free(n, c, c.target_id); free != status::ok) return free;
    }
    return kind_rules(n, c, user, self);
}

// One key, one approver: a key another user holds would let one officer's
// signature count twice. A registration token is any data, so a signed one
// can be replayed by whoever saw it; only this rule stops the replay.
status quorum_key_free(const node_context& n, const planned_change& c, std::int64_t user_id) {
    auto holder = n.store.users().quorum_key_holder(c.quorum_key);
    return holder && *holder != user_id ? status::quorum_key_in_use : status::ok;
}

// A synced record may change a user only as create, delete and reset could.
status record_rules(const node_context& n, const planned_change& c, const user_record* existing) {
    if (!c.hash || !c.well_formed()) return status::bad_request;
    if (c.type == user_type::preco) return status::invalid_user_type;
    if (auto free = quorum_key_free(n, c, existing ? existing->id : 0); free != status::ok)
        return free;
    if (!existing) {
        if (c.target_id != 0) return status::conflict;
        if (n.store.users().count() + n.store.users().count_reserved_new() >= max_users_per_node)
            return status::quota_exceeded;
        return status::ok;
    }
    if (c.target_id == 0) return status::conflict; // created since it was planned
    bool type_changes = existing->type != c.type;
    bool self = existing->id == c.actor_id;
    // As changePswd: a rotated crypto or appliance user's password is synced
    // while it is logged in (its sessions end); an officer's, or a type, not.
    bool rotation = !type_changes && !is_officer(existing->type);
    if ((type_changes || !same_credentials(existing->hash, *c.hash)) && !self && !rotation &&
        n.sessions.count(existing->id) > 0)
        return status::user_logged_in;
    if (type_changes) {
        if (is_officer(existing->type) && !is_officer(c.type))
            if (auto leave = officer_may_leave(n); leave != status::ok) return leave;
        // Keys are owned by and shared with crypto users only: an officer
        // in a key's shares could use it (the property test's invariant).
        if (!n.store.keys().keys_of(existing->id).empty()) return status::user_owns_keys;
    }
    return status::ok;
}

} // namespace hsm
