// SPDX-License-Identifier: Apache-2.0
// Sessions and logins: a session bound to one user record, ended when that
// record changes; login, its second factor, logout; the audit row of an act.
#include "ops/sessions.hpp"
#include "hsmsh/hex.hpp"
#include "hsmsh/kdf.hpp"
#include "hsmsh/log.hpp"
#include "request_fields.hpp"

#include <algorithm>

namespace hsm {

audit_entry entry_for(const session& s, std::string_view what, std::string_view target,
                      status result) {
    return {s.user_id ? s.user_name : "-",
            s.user_id ? std::string(user_type_name(s.type)) : "-",
            s.peer,
            std::string(what),
            std::string(target),
            std::string(status_name(result))};
}

void audit(node_context& n, const session& s, std::string_view what, std::string_view target,
           status result) {
    n.store.transact(
        [&] { n.store.audit().append(n.identity.hsm_id, entry_for(s, what, target, result)); });
}

void bind(node_context& n, session& s, const user_record& u) {
    if (!s.user_id) n.sessions.emplace(u.id, &s);
    s.user_id = u.id;
    s.user_name = u.name;
    s.type = u.type;
    s.generation = u.generation;
}

void end_login(node_context& n, session& s) noexcept {
    n.tokens.drop(&s); // a token lives no longer than its session's login
    s.challenge.reset();
    s.keys.clear(); // a session key lives no longer than its login
    if (!s.user_id) return;
    auto [first, last] = n.sessions.equal_range(*s.user_id);
    for (auto it = first; it != last; ++it)
        if (it->second == &s) {
            n.sessions.erase(it);
            break;
        }
    s.user_id.reset();
}

// Whether the session still acts for the record it authenticated; a session
// whose user was deleted, or whose credentials or type changed, is ended.
bool current(node_context& n, session& s) {
    if (!s.user_id) return false;
    auto [first, last] = n.sessions.equal_range(*s.user_id);
    bool registered = std::any_of(first, last, [&](const auto& e) { return e.second == &s; });
    auto u = registered ? n.store.users().find_id(*s.user_id) : std::nullopt;
    if (u && u->generation == s.generation && u->type == s.type) return true;
    end_login(n, s);
    return false;
}

// After user `user_id` changed: the acting session (the user changing its own
// password, or activating the cluster) follows its record; every other
// session of that user whose credentials or type changed (or which was
// deleted) ends, in the same step as the change. A change that leaves them
// (a quorum key) ends none.
void settle_sessions(node_context& n, std::int64_t user_id, session* actor) {
    auto u = n.store.users().find_id(user_id);
    std::vector<session*> of_user;
    auto [first, last] = n.sessions.equal_range(user_id);
    for (auto it = first; it != last; ++it)
        of_user.push_back(it->second);
    for (auto* s : of_user) {
        if (u && s == actor)
            bind(n, *s, *u);
        else if (!u || u->generation != s->generation || u->type != s->type)
            end_login(n, *s);
    }
}

// What every login costs, found or not: the node's own count or the highest
// a stored record asks for, so that timing tells nothing of which user exists.
std::uint32_t login_cost(const node_context& n) {
    return std::clamp(std::max(n.kdf_iterations, n.store.users().max_iterations()),
                      min_kdf_iterations, max_kdf_iterations);
}

namespace {

// A login as `name`, its password checked (`good`) against `user` as it was
// read: accepted only for that very record, unlocked and with no change
// pending; a 2FA user's login waits for its second step.
status verified(node_context& n, session& s, const std::string& name, const user_record& user,
                bool good, json& out) {
    // Accept only the very record that was verified: a change made meanwhile
    // (a reset, a deletion, a sync) wins over a login that read the old one.
    auto now = n.store.users().find_id(user.id);
    bool unchanged = now && now->generation == user.generation;
    if (!unchanged || now->locked() || !good) {
        n.store.transact([&] {
            if (now && !now->locked() && !good) n.store.users().record_login_failure(now->id);
            n.store.audit().append(n.identity.hsm_id,
                                   entry_for(s, "login", name, status::user_login_failure));
        });
        return status::user_login_failure;
    }
    // The password is right, so saying why is safe: a prepared change of
    // this user (a deletion, a reset) is waiting for its commit.
    if (n.store.changes().reserved(name)) {
        audit(n, s, "login", name, status::user_change_pending);
        return status::user_change_pending;
    }
    if (now->two_fa) {
        // The password was right; the login now waits for a signature by
        // the user's registered key over a challenge only this session has.
        s.challenge = two_factor_challenge::issue(
            two_factor_challenge::purpose::login, now->id, now->generation,
            {n.identity.hsm_id, now->name, s.channel}, n.tokens.lifetime());
        out = {{"challenge", to_hex(s.challenge->challenge)}, {"hsm_id", n.identity.hsm_id}};
        audit(n, s, "login", name, status::two_factor_required);
        return status::two_factor_required;
    }
    logged_in(n, s, *now, "login");
    return status::ok;
}

} // namespace

awaitable<status> login(node_context& n, session& s, login_request r, json& out) {
    if (s.user_id) co_return status::already_logged_in;
    const auto& password = r.password;
    auto target = parse_target(r.user, status::user_login_failure);
    if (target.error != status::ok) co_return target.error;
    auto ticket = co_await n.budget.acquire(s.peer);
    if (!ticket) co_return status::busy;
    std::string name = target.name;
    auto user = n.store.users().find(name);
    auto cost = login_cost(n);
    bool plausible = valid_password(password.view());
    if (!user || !same_type(user->type, target.type) || !plausible) {
        if (plausible) co_await off_thread(n, [&] { dummy_derivation(password.view(), cost); });
        audit(n, s, "login", name, status::user_login_failure);
        co_return status::user_login_failure;
    }
    bool good = co_await off_thread(n, [&] {
        bool same = verify_password(password.view(), user->hash);
        if (cost > user->hash.iterations)
            dummy_derivation(password.view(), cost - user->hash.iterations);
        return same;
    });
    co_return verified(n, s, name, *user, good, out);
}

// A login's last step: the failure count reset, the audit row, the session bound.
void logged_in(node_context& n, session& s, const user_record& u, std::string_view what) {
    auto entry = entry_for(s, what, u.name, status::ok);
    entry.actor = u.name;
    entry.role = user_type_name(u.type);
    n.store.transact([&] {
        n.store.users().record_login_success(u.id);
        n.store.audit().append(n.identity.hsm_id, entry);
    });
    bind(n, s, u);
}

// A login's second step. A wrong signature counts as a failed login (the
// password alone must not be enough to try keys for free); the challenge is
// gone after one answer, right or wrong. Without a login challenge (which
// only a right password gives) it costs nothing and writes nothing, as every
// other request before login (docs/design.md, "Clients not logged in").
status login_2fa(node_context& n, session& s, const second_factor_request& r, json&) {
    if (s.user_id) return status::already_logged_in;
    auto challenge = std::exchange(s.challenge, std::nullopt);
    if (!challenge || challenge->what != two_factor_challenge::purpose::login)
        return status::user_login_failure;
    auto user = n.store.users().find_id(challenge->user_id);
    if (!user) return status::user_login_failure;
    auto signature = two_factor_challenge::signature_for(r.signatures, n.identity.hsm_id);
    auto key = user->two_fa ? quorum_key::from_der(user->quorum_key) : std::nullopt;
    bool good = signature && key && !user->locked() &&
                challenge->answered(two_factor_challenge::purpose::login, user->id,
                                    user->generation, *key, *signature);
    if (!good) {
        bool same_record = user->generation == challenge->generation;
        n.store.transact([&] {
            if (same_record && !user->locked()) n.store.users().record_login_failure(user->id);
            n.store.audit().append(n.identity.hsm_id, entry_for(s, "login_2fa", user->name,
                                                                status::user_login_failure));
        });
        return status::user_login_failure;
    }
    if (n.store.changes().reserved(user->name)) {
        audit(n, s, "login_2fa", user->name, status::user_change_pending);
        return status::user_change_pending;
    }
    logged_in(n, s, *user, "login_2fa");
    return status::ok;
}

// A challenge whose signature proves that the officer holds the key it turns
// two-factor login on with (createUser or changePswd with -2fa).
status get_2fa_challenge(node_context& n, session& s, const no_fields&, json& out) {
    s.challenge = two_factor_challenge::issue(
        two_factor_challenge::purpose::enroll, *s.user_id, s.generation,
        {n.identity.hsm_id, s.user_name, s.channel}, n.tokens.lifetime());
    out = {{"challenge", to_hex(s.challenge->challenge)}, {"hsm_id", n.identity.hsm_id}};
    return status::ok;
}

status logout(node_context& n, session& s, const no_fields&, json&) {
    // Ended first: a logout must take effect even when its audit row cannot
    // be written (a full disk answers RET_STORAGE_FAILURE, and the session is gone).
    auto entry = entry_for(s, "logout", s.user_name, status::ok);
    end_login(n, s);
    n.store.transact([&] { n.store.audit().append(n.identity.hsm_id, entry); });
    return status::ok;
}
} // namespace hsm
